"""``daxlint patch --git RANGE``: the commits of a repository one by one,
like ``checkpatch.pl --git``, with rules seeing each commit's files."""

from __future__ import annotations

import json
import re

from test_patch import EXPECTED, MAKEFILE, SUBJECTS, GitRepo, found, one_error_line, series  # noqa: F401

from conftest import run_daxlint


def git_json(repo, *args):
    rc, out, err = run_daxlint("patch", "--git", *args, "--format", "json", "--select", "DAX1,DAX3", cwd=repo)
    assert rc in (0, 1), err
    return rc, json.loads(out)


def test_range(series):
    repo = series["repo"]
    rc, data = git_json(repo.path, f"{series['base']}..HEAD")
    assert rc == 1
    assert found(data) == EXPECTED
    assert data["mode"] == "git" and data["kernel_version"] == "6.3"
    shas = repo.git("rev-list", "--reverse", f"{series['base']}..HEAD").split()
    assert [p["commit"] for p in data["patches"]] == shas
    assert [p["name"] for p in data["patches"]] == [f'Commit {s[:12]} ("{SUBJECTS[i]}")' for i, s in enumerate(shas, 1)]
    for f in data["findings"]:
        # #N counts from the top of that commit's own format-patch mail
        mail = repo.git("format-patch", "-M", "--stdout", "-1", shas[f["patch"] - 1]).splitlines()
        added = mail[f["patch_line"] - 1]
        assert added.startswith("+\t") and ("vm_flags" in added or "PFN_DEV" in added), added


def test_range_forms(series):
    repo = series["repo"].path
    _, last_two = git_json(repo, "HEAD-2")
    assert [p["subject"] for p in last_two["patches"]] == [SUBJECTS[3], SUBJECTS[4]]
    assert found(last_two) == {(1, "DAX301", "drivers/dax/new_name.c", 17, 2)}
    _, one = git_json(repo, "HEAD~2")
    assert [p["subject"] for p in one["patches"]] == [SUBJECTS[2]]
    assert found(one) == {(1, "DAX101", "drivers/dax/bus.c", 17, None)}


def test_checkpatch_headers(series):
    repo = series["repo"]
    rc, out, _ = run_daxlint("patch", "--git", f"{series['base']}..HEAD", "--format", "checkpatch", cwd=repo.path)
    shas = repo.git("rev-list", "--reverse", f"{series['base']}..HEAD").split()
    header = f'Commit {shas[0][:12]} ("{SUBJECTS[1]}")'
    assert out.startswith("-" * len(header) + "\n" + header + "\n" + "-" * len(header) + "\n")
    assert re.search(r"^#\d+: FILE: drivers/dax/mmap.c:6:$", out, re.M)
    assert f'Commit {shas[3][:12]} ("{SUBJECTS[4]}") has no obvious DAX policy problems.' in out


def test_tree_option_names_the_repository(series, tmp_path):
    rc, out, err = run_daxlint("patch", "--git", "HEAD~2", "--tree", str(series["repo"].path), "--format", "json", cwd=tmp_path)
    assert rc == 1, err
    assert {f["rule_id"] for f in json.loads(out)["findings"]} == {"DAX101"}


def test_each_commit_has_its_own_version(tmp_path):
    """A range across a version bump: DAX301 applies from 6.3 on."""
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE.replace("PATCHLEVEL = 3", "PATCHLEVEL = 2"))
    base = repo.commit("base")
    write = "static int m(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"
    repo.write("drivers/a.c", write)
    repo.commit("a: add")
    repo.write("Makefile", MAKEFILE)
    repo.commit("Linux 6.3")
    repo.write("drivers/b.c", write)
    repo.commit("b: add")
    rc, data = git_json(repo.path, f"{base}..HEAD")
    assert found(data) == {(3, "DAX301", "drivers/b.c", 3, None)}
    assert [p["kernel_version"] for p in data["patches"]] == ["6.2", "6.3", "6.3"]


def test_merges_are_left_out(tmp_path):
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE)
    base = repo.commit("base")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("drivers/s.c", "int s;\n")
    repo.commit("side: add")
    repo.git("checkout", "-q", "main")
    repo.write("drivers/m.c", "int m;\n")
    repo.commit("main: add")
    repo.git("merge", "-q", "--no-edit", "side")
    _, data = git_json(repo.path, f"{base}..HEAD")
    assert sorted(p["subject"] for p in data["patches"]) == ["main: add", "side: add"]


def test_bad_ranges(series, tmp_path):
    repo = series["repo"].path
    for expr, message in (
        ("no-such-branch..HEAD", "git log failed"),
        ("--output=/tmp/x", "not a git revision"),
        ("HEAD..HEAD", "names no commits"),
    ):
        rc, _, err = run_daxlint("patch", "--git", expr, cwd=repo)
        assert rc == 2 and message in one_error_line(err), (expr, err)
    rc, _, err = run_daxlint("patch", "--git", "HEAD", cwd=tmp_path)
    assert rc == 2 and "not in a git work tree" in one_error_line(err)


def test_a_file_named_like_the_revision_is_no_ambiguity(series):
    """daxlint ends git's revisions with "--": a file named HEAD~2 in the
    work tree does not make git log refuse the range (issue 28, item 4)."""
    repo = series["repo"].path
    (repo / "HEAD~2").write_text("not a revision\n")
    _, one = git_json(repo, "HEAD~2")
    assert found(one) == {(1, "DAX101", "drivers/dax/bus.c", 17, None)}
