"""The CI gate: ``check --diff``, baselines, --fail-on, the CI output formats
(GitHub workflow commands, SARIF validated against the 2.1.0 schema), the
composite action, the workflows and the pre-commit hook."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, run_daxlint
from daxlint.core.fingerprint import assign_fingerprints
from daxlint.gate.baseline import Baseline, BaselineEntry, Scope, apply_baseline, baseline_fingerprints
from daxlint.gate.gitdiff import ChangedFile, DiffScope
from daxlint.model import Finding, Report, Severity
from daxlint.output import github, sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def mmap_fn(name: str, flag: str = "VM_IO") -> str:
    """A ->mmap that writes vm_flags directly: DAX301 (error) on v6.3+, at
    the line of the write (the third line of this text)."""
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\tvma->vm_flags |= {flag};\n\treturn 0;\n}}\n"


def clean_fn(name: str) -> str:
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}}\n"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(
        ["git", "-c", "user.name=daxlint tests", "-c", "user.email=tests@daxlint.invalid", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return proc.stdout


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


@pytest.fixture
def repo(tmp_path):
    """A v6.3 kernel-like git repository with one committed finding in
    drivers/misc/old.c (line 3) and a clean drivers/misc/ok.c."""
    root = tmp_path / "linux"
    write(root, "Makefile", "VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    write(root, "drivers/misc/old.c", mmap_fn("old_mmap"))
    write(root, "drivers/misc/ok.c", clean_fn("ok_mmap"))
    write(root, ".gitignore", "*.o\nbuild/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    return root


def findings_of(out: str) -> list[tuple[str, str, int]]:
    return [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]]


def only_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- --diff -------------------------------------------------------------------


def test_diff_reports_only_changed_lines(repo):
    # An edit above the old finding moves it to line 4, but that line did not change.
    write(repo, "drivers/misc/old.c", "/* a new comment */\n" + mmap_fn("old_mmap") + "\n" + mmap_fn("added_mmap", "VM_DONTEXPAND"))
    rc, out, err = run_daxlint("check", "--format", "json", "--diff", "HEAD", ".", cwd=repo)
    assert rc == 1, err
    assert findings_of(out) == [("DAX301", "drivers/misc/old.c", 10)]
    data = json.loads(out)
    assert data["diff"]["base"] == "HEAD" and data["diff"]["hidden"] == 1
    # Without --diff both are reported: the same whole-file analysis.
    rc, out, _ = run_daxlint("check", "--format", "json", ".", cwd=repo)
    assert findings_of(out) == [("DAX301", "drivers/misc/old.c", 4), ("DAX301", "drivers/misc/old.c", 10)]


def test_diff_clean_when_nothing_changed_on_flagged_lines(repo):
    write(repo, "drivers/misc/ok.c", clean_fn("ok_mmap") + "/* trailing comment */\n")
    rc, out, err = run_daxlint("check", "--diff", "HEAD", ".", cwd=repo)
    assert rc == 0, out + err
    assert "No findings" in out
    assert "1 finding on unchanged lines not shown" not in out


def test_diff_includes_new_untracked_and_staged_files_not_ignored_ones(repo):
    write(repo, "drivers/dax/untracked.c", mmap_fn("untracked_mmap"))
    write(repo, "drivers/dax/staged.c", "\n" + mmap_fn("staged_mmap"))
    git(repo, "add", "drivers/dax/staged.c")
    write(repo, "build/generated.c", mmap_fn("ignored_mmap"))
    rc, out, err = run_daxlint("check", "--format", "json", "--diff", "HEAD", cwd=repo)
    assert rc == 1, err
    assert findings_of(out) == [("DAX301", "drivers/dax/staged.c", 4), ("DAX301", "drivers/dax/untracked.c", 3)]


def test_diff_against_older_commit_and_merge_base(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic")
    write(repo, "drivers/misc/topic.c", mmap_fn("topic_mmap"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "topic")
    # main moves on after topic forked: its change is not topic's.
    git(repo, "checkout", "-q", "main")
    write(repo, "drivers/misc/main_only.c", mmap_fn("main_mmap"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "main moves")
    git(repo, "checkout", "-q", "topic")
    rc, out, _ = run_daxlint("check", "--format", "json", "--diff", base, cwd=repo)
    assert findings_of(out) == [("DAX301", "drivers/misc/topic.c", 3)]
    rc, out, _ = run_daxlint("check", "--format", "json", "--diff", "main...", cwd=repo)
    assert rc == 1
    assert findings_of(out) == [("DAX301", "drivers/misc/topic.c", 3)]
    assert json.loads(out)["diff"]["commit"] == base


def test_diff_paths_relative_to_cwd_and_limited_to_named_paths(repo):
    write(repo, "drivers/misc/new.c", mmap_fn("new_mmap"))
    write(repo, "fs/dax_new.c", mmap_fn("fs_mmap"))
    sub = repo / "drivers"
    rc, out, err = run_daxlint("check", "--format", "json", "--diff", "HEAD", "misc", cwd=sub)
    assert rc == 1, err
    assert findings_of(out) == [("DAX301", "misc/new.c", 3)]
    rc, out, _ = run_daxlint("check", "--format", "json", "--diff", "HEAD", "../fs", cwd=sub)
    assert findings_of(out) == [("DAX301", "../fs/dax_new.c", 3)]
    rc, out, _ = run_daxlint("check", "--format", "json", "--diff", "HEAD", str(repo), cwd=repo.parent)
    assert sorted(findings_of(out)) == [("DAX301", "linux/drivers/misc/new.c", 3), ("DAX301", "linux/fs/dax_new.c", 3)]


def test_diff_names_git_must_quote(repo):
    for name in ('drivers/misc/we"ird.c', "drivers/misc/spa ce.c", "drivers/misc/ünï.c"):
        write(repo, name, "/* old */\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "odd names")
    for name in ('drivers/misc/we"ird.c', "drivers/misc/spa ce.c", "drivers/misc/ünï.c"):
        write(repo, name, mmap_fn("odd_mmap"))
    (repo / "drivers/misc/link.c").symlink_to("spa ce.c")  # the link adds no lines of its own
    git(repo, "add", "drivers/misc/link.c")
    rc, out, err = run_daxlint("check", "--format", "json", "--diff", "HEAD", "drivers", cwd=repo)
    assert rc == 1, err
    assert findings_of(out) == [
        ("DAX301", "drivers/misc/spa ce.c", 3),
        ("DAX301", 'drivers/misc/we"ird.c', 3),
        ("DAX301", "drivers/misc/ünï.c", 3),
    ]


def test_diff_deleted_and_renamed_files(repo):
    git(repo, "mv", "drivers/misc/old.c", "drivers/misc/moved.c")  # a pure move changes no line
    git(repo, "rm", "-q", "drivers/misc/ok.c")
    rc, out, err = run_daxlint("check", "--diff", "HEAD", ".", cwd=repo)
    assert rc == 0, out + err


def test_diff_bad_revision_and_not_a_repository(repo, tmp_path):
    rc, out, err = run_daxlint("check", "--diff", "no-such-branch", ".", cwd=repo)
    assert rc == 2
    assert "unknown git revision 'no-such-branch'" in only_line(err)
    rc, _, err = run_daxlint("check", "--diff", "--output=x", ".", cwd=repo)
    assert rc == 2 and "not a git revision" in only_line(err)
    plain = tmp_path / "plain"
    write(plain, "a.c", mmap_fn("a_mmap"))
    rc, _, err = run_daxlint("check", "--diff", "HEAD", ".", cwd=plain)
    assert rc == 2
    assert "not inside a git work tree" in only_line(err)


def test_diff_head_before_the_first_commit(tmp_path):
    """--diff HEAD in a repository without commits (the pre-commit hook on
    a first commit): every line is new; another revision is still unknown."""
    root = tmp_path / "linux"
    write(root, "Makefile", "VERSION = 6\nPATCHLEVEL = 3\n")
    write(root, "drivers/misc/staged.c", mmap_fn("staged_mmap"))
    write(root, "drivers/misc/untracked.c", mmap_fn("untracked_mmap"))
    write(root, "drivers/misc/ignored.c", mmap_fn("ignored_mmap"))
    write(root, ".gitignore", "ignored.c\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "Makefile", "drivers/misc/staged.c")
    rc, out, err = run_daxlint("check", "--format", "json", "--diff", "HEAD", ".", cwd=root)
    assert rc == 1, err
    assert findings_of(out) == [("DAX301", "drivers/misc/staged.c", 3), ("DAX301", "drivers/misc/untracked.c", 3)]
    rc, out, err = run_daxlint("check", "--diff", "HEAD", "drivers/misc/staged.c", cwd=root)
    assert rc == 1 and "--diff HEAD (no commit yet: every line is new): 1 changed file" in out
    rc, _, err = run_daxlint("check", "--diff", "main~1", ".", cwd=root)
    assert rc == 2 and "unknown git revision 'main~1'" in only_line(err)


def test_diff_never_touches_the_repository(repo):
    write(repo, "drivers/misc/new.c", mmap_fn("new_mmap"))
    before = (git(repo, "status", "--porcelain"), (repo / ".git" / "index").read_bytes())
    run_daxlint("check", "--diff", "HEAD", ".", cwd=repo)
    assert (git(repo, "status", "--porcelain"), (repo / ".git" / "index").read_bytes()) == before


def test_diff_scope_covers_multiline_findings():
    scope = DiffScope("HEAD", "0" * 40, "/r", {"/r/a.c": ChangedFile("/r/a.c", frozenset({7}))})
    assert scope.covers("/r/a.c", 5, 8)
    assert scope.covers("/r/a.c", 7)
    assert not scope.covers("/r/a.c", 8, 9)
    assert not scope.covers("/r/b.c", 7)


# -- baselines ----------------------------------------------------------------


def test_baseline_survives_moved_lines_and_lets_new_findings_through(repo):
    write(repo, "drivers/misc/two.c", mmap_fn("first_mmap") + "\n" + mmap_fn("second_mmap", "VM_DONTEXPAND"))
    rc, _, err = run_daxlint("check", "--write-baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 0, err
    assert "wrote 3 entries" in err
    data = json.loads((repo / "daxlint-baseline.json").read_text())
    assert data["version"] == 1
    assert {(e["rule_id"], e["path"], e["line"]) for e in data["entries"]} == {
        ("DAX301", "drivers/misc/old.c", 3),
        ("DAX301", "drivers/misc/two.c", 3),
        ("DAX301", "drivers/misc/two.c", 9),
    }
    assert all(set(e) >= {"fingerprint", "rule_id", "path", "message", "line"} for e in data["entries"])

    # Insert and delete lines around the known findings, re-indent one: still known.
    write(repo, "drivers/misc/old.c", "/* one */\n/* two */\n\n" + mmap_fn("old_mmap").replace("\tvma", "        vma"))
    write(
        repo,
        "drivers/misc/two.c",
        "#include <linux/mm.h>\n" + mmap_fn("first_mmap") + mmap_fn("second_mmap", "VM_DONTEXPAND") + "\n" + mmap_fn("third_mmap"),
    )
    rc, out, err = run_daxlint("check", "--format", "json", "--baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 1, err
    # The new function is reported even though its flagged line equals a known one.
    assert findings_of(out) == [("DAX301", "drivers/misc/two.c", 15)]
    assert json.loads(out)["baseline"] == {"file": "daxlint-baseline.json", "suppressed": 3, "fixed": [], "renamed": [], "updated": False}

    write(repo, "drivers/misc/two.c", mmap_fn("first_mmap") + mmap_fn("second_mmap", "VM_DONTEXPAND"))
    rc, out, _ = run_daxlint("check", "--baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 0
    assert "3 known findings not shown" in out


def test_fixed_entries_are_reported_and_dropped_by_update(repo):
    write(repo, "drivers/misc/two.c", mmap_fn("first_mmap") + mmap_fn("second_mmap", "VM_DONTEXPAND"))
    run_daxlint("check", "--write-baseline", "bl.json", ".", cwd=repo)
    write(repo, "drivers/misc/two.c", mmap_fn("first_mmap") + clean_fn("second_mmap"))  # fixes line 8
    write(repo, "drivers/misc/fresh.c", mmap_fn("fresh_mmap"))
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "bl.json", ".", cwd=repo)
    assert rc == 1
    assert findings_of(out) == [("DAX301", "drivers/misc/fresh.c", 3)]
    fixed = json.loads(out)["baseline"]["fixed"]
    assert [(e["rule_id"], e["path"], e["line"]) for e in fixed] == [("DAX301", "drivers/misc/two.c", 8)]
    rc, out, _ = run_daxlint("check", "--baseline", "bl.json", ".", cwd=repo)
    assert "1 baseline entry fixed" in out and "--update-baseline" in out
    assert "fixed: drivers/misc/two.c:8: [DAX301]" in out

    before = (repo / "bl.json").read_text()
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "bl.json", "--update-baseline", ".", cwd=repo)
    assert rc == 1  # the new finding still fails the run: update never adds it
    assert json.loads(out)["baseline"]["updated"] is True
    after = json.loads((repo / "bl.json").read_text())
    assert before != (repo / "bl.json").read_text()
    assert {(e["path"], e["line"]) for e in after["entries"]} == {("drivers/misc/old.c", 3), ("drivers/misc/two.c", 3)}
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "bl.json", ".", cwd=repo)
    assert json.loads(out)["baseline"]["fixed"] == []


def test_baseline_follows_a_renamed_file(repo):
    """git mv of a file with a known finding: the entry whose file is gone
    matches the same rule and message in the new file (a pure rename failed
    the gate), with a note; a new finding of the same text elsewhere, while
    the old file still exists, is still new."""
    rc, _, err = run_daxlint("check", "--write-baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 0, err
    git(repo, "mv", "drivers/misc/old.c", "drivers/misc/old_core.c")
    rc, out, err = run_daxlint("check", "--format", "json", "--baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 0, out + err
    doc = json.loads(out)
    assert doc["findings"] == [] and doc["baseline"]["fixed"] == []
    assert [(e["rule_id"], e["path"]) for e in doc["baseline"]["renamed"]] == [("DAX301", "drivers/misc/old.c")]
    assert any("1 baseline entry matched in renamed files" in n for n in doc["notes"])
    write(repo, "drivers/misc/old.c", mmap_fn("old_mmap"))  # the old file is back: the copy is new
    rc, out, err = run_daxlint("check", "--format", "json", "--baseline", "daxlint-baseline.json", ".", cwd=repo)
    assert rc == 1 and findings_of(out) == [("DAX301", "drivers/misc/old_core.c", 3)], err


def test_baseline_partial_runs_leave_other_entries_alone(repo):
    write(repo, "fs/dax_fs.c", mmap_fn("fs_mmap"))
    run_daxlint("check", "--write-baseline", "bl.json", ".", cwd=repo)
    # Checking drivers/ only: the fs/ entry is not "fixed".
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "bl.json", "drivers", cwd=repo)
    assert rc == 0 and json.loads(out)["baseline"]["fixed"] == []
    # Nor with a rule selection that excludes it.
    rc, out, _ = run_daxlint("check", "--format", "json", "--select", "DAX1", "--baseline", "bl.json", ".", cwd=repo)
    assert json.loads(out)["baseline"]["fixed"] == []
    # Re-recording drivers/ keeps the fs/ entry.
    write(repo, "drivers/misc/old.c", clean_fn("old_mmap"))
    rc, _, err = run_daxlint("check", "--write-baseline", "bl.json", "drivers", cwd=repo)
    assert rc == 0 and "1 kept" in err
    assert [e["path"] for e in json.loads((repo / "bl.json").read_text())["entries"]] == ["fs/dax_fs.c"]


def test_baseline_matches_from_another_directory(repo):
    run_daxlint("check", "--write-baseline", "bl.json", ".", cwd=repo)
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "../bl.json", "misc", cwd=repo / "drivers")
    assert rc == 0, out
    assert json.loads(out)["baseline"]["suppressed"] == 1
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", str(repo / "bl.json"), str(repo), cwd=repo.parent)
    assert rc == 0 and findings_of(out) == []


def test_baseline_with_diff(repo):
    run_daxlint("check", "--write-baseline", "bl.json", ".", cwd=repo)
    # Re-indenting the known line changes it in git's eyes, not in the baseline's.
    write(repo, "drivers/misc/old.c", mmap_fn("old_mmap").replace("\tvma", "    vma") + mmap_fn("more_mmap", "VM_DONTEXPAND"))
    rc, out, _ = run_daxlint("check", "--format", "json", "--diff", "HEAD", "--baseline", "bl.json", ".", cwd=repo)
    assert rc == 1
    assert findings_of(out) == [("DAX301", "drivers/misc/old.c", 8)]
    assert json.loads(out)["baseline"]["suppressed"] == 1


def test_baseline_errors_are_one_line(repo):
    cases = {
        "missing.json": None,
        "garbage.json": "{not json",
        "other.json": json.dumps({"some": "thing"}),
        "future.json": json.dumps({"version": 99, "entries": []}),
        "badentry.json": json.dumps({"version": 1, "entries": [{"rule_id": "DAX301"}]}),
    }
    for name, text in cases.items():
        if text is not None:
            (repo / name).write_text(text)
        rc, _, err = run_daxlint("check", "--baseline", name, ".", cwd=repo)
        assert rc == 2, (name, err)
        assert name in only_line(err)
    # A file that is not a baseline is never overwritten by --write-baseline.
    rc, _, err = run_daxlint("check", "--write-baseline", "other.json", ".", cwd=repo)
    assert rc == 2 and "not a daxlint baseline" in only_line(err)
    assert json.loads((repo / "other.json").read_text()) == {"some": "thing"}
    for args, why in (
        (["--update-baseline"], "needs --baseline"),
        (["--write-baseline", "a.json", "--baseline", "b.json"], "cannot be combined"),
        (["--write-baseline", "a.json", "--diff", "HEAD"], "cannot be combined"),
    ):
        rc, _, err = run_daxlint("check", *args, ".", cwd=repo)
        assert rc == 2 and why in only_line(err)


def test_empty_baseline_file_is_an_empty_baseline(repo):
    (repo / "bl.json").write_text("")
    rc, out, _ = run_daxlint("check", "--format", "json", "--baseline", "bl.json", ".", cwd=repo)
    assert rc == 1 and findings_of(out) == [("DAX301", "drivers/misc/old.c", 3)]


def _finding(path: str, line: int, snippet: str, function: str = "f", rule: str = "DAX301") -> Finding:
    return Finding(rule, Severity.ERROR, path, line, 2, "msg", function=function, snippet=snippet)


def test_identical_lines_are_matched_one_to_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = [_finding("a.c", 3, "x |= 1;"), _finding("a.c", 9, "x |= 1;")]
    base = Baseline(str(tmp_path / "bl.json"))
    base.entries = [BaselineEntry(fp, "DAX301", "a.c") for fp in baseline_fingerprints(old, base.root)]
    scope = Scope(["."], {"DAX301"})
    # One of the two is removed: the remaining one is known, one entry is fixed.
    res = apply_baseline(base, [_finding("a.c", 5, "x |= 1;")], scope)
    assert (len(res.new), len(res.suppressed), len(res.fixed)) == (0, 1, 1)
    # A third copy appears: it is new.
    res = apply_baseline(base, old + [_finding("a.c", 20, "x |= 1;")], scope)
    assert [f.line for f in res.new] == [20] and res.fixed == []


def test_baseline_save_is_atomic_and_sorted(tmp_path):
    file = tmp_path / "bl.json"
    b = Baseline(str(file), [BaselineEntry("2", "DAX301", "b.c", "m", 1), BaselineEntry("1", "DAX101", "a.c", "m", 9)])
    b.save()
    assert [e["path"] for e in json.loads(file.read_text())["entries"]] == ["a.c", "b.c"]
    assert [p.name for p in tmp_path.iterdir()] == ["bl.json"]  # no temporary left behind
    assert Baseline.load(str(file)).entries == b.entries


# -- --fail-on ------------------------------------------------------------------


def test_fail_on_severities(repo):
    # DAX001 (info): an unused suppression, next to a DAX301 error.
    write(repo, "drivers/misc/info.c", clean_fn("info_mmap").replace("VM_IO);", "VM_IO); /* daxlint: ignore[DAX301] */"))
    rc, out, _ = run_daxlint("check", "--format", "json", "drivers/misc/info.c", cwd=repo)
    assert findings_of(out) == [("DAX001", "drivers/misc/info.c", 3)]
    assert json.loads(out)["findings"][0]["severity"] == "info"
    expected = {"info": 1, "warning": 0, "error": 0}
    for level, status in expected.items():
        rc, _, _ = run_daxlint("check", "--fail-on", level, "drivers/misc/info.c", cwd=repo)
        assert rc == status, level
    for level in ("info", "warning", "error"):
        rc, _, _ = run_daxlint("check", "--fail-on", level, "drivers/misc/old.c", cwd=repo)
        assert rc == 1, level
    rc, _, err = run_daxlint("check", "--fail-on", "fatal", ".", cwd=repo)
    assert rc == 2 and "Traceback" not in err


# -- CI formats -----------------------------------------------------------------


def test_every_format_with_diff_and_baseline(repo):
    run_daxlint("check", "--write-baseline", "bl.json", ".", cwd=repo)
    write(repo, "drivers/misc/new.c", mmap_fn("new_mmap"))
    gate = ["--diff", "HEAD", "--baseline", "bl.json", "."]
    rc, out, _ = run_daxlint("check", "--format", "text", *gate, cwd=repo)
    assert rc == 1 and out.startswith("drivers/misc/new.c:3:2: error[DAX301] ")
    rc, out, _ = run_daxlint("check", "--format", "json", *gate, cwd=repo)
    assert rc == 1 and findings_of(out) == [("DAX301", "drivers/misc/new.c", 3)]
    rc, out, _ = run_daxlint("check", "--format", "checkpatch", *gate, cwd=repo)
    assert rc == 1 and "#3: FILE: drivers/misc/new.c:3:" in out.splitlines()
    rc, out, _ = run_daxlint("check", "--format", "github", *gate, cwd=repo)
    assert rc == 1
    assert out.splitlines()[0].startswith("::error file=drivers/misc/new.c,line=3,col=2,")
    rc, out, _ = run_daxlint("check", "--format", "sarif", *gate, cwd=repo)
    assert rc == 1
    doc = json.loads(out)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(doc)
    [res] = doc["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "drivers/misc/new.c"
    rc, out, _ = run_daxlint("check", "--format", "sarif", "-o", "out.sarif", *gate, cwd=repo)
    assert rc == 1 and out == ""
    assert json.loads((repo / "out.sarif").read_text())["runs"][0]["results"][0]["ruleId"] == "DAX301"


def test_github_workflow_commands(repo):
    write(repo, "drivers/misc/a,b:c.c", mmap_fn("odd_mmap"))
    rc, out, _ = run_daxlint("check", "--format", "github", "drivers/misc", cwd=repo)
    assert rc == 1
    lines = out.splitlines()
    pattern = re.compile(r"^::error file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+),.*title=(?P<title>[^,:]+)::(?P<msg>.+)$")
    parsed = [pattern.match(ln).groupdict() for ln in lines if ln.startswith("::error")]
    assert [(p["file"], p["line"], p["col"]) for p in parsed] == [("drivers/misc/a%2Cb%3Ac.c", "3", "2"), ("drivers/misc/old.c", "3", "2")]
    assert all(p["title"] == "DAX301 (direct-vm-flags-write)" and p["msg"].startswith("DAX301: direct write") for p in parsed)
    assert lines[-1].startswith("Found 2 findings")


def test_github_escapes_and_notices():
    rep = Report(
        findings=[Finding("DAX101", Severity.WARNING, "x.c", 4, 1, "50% of\nthis", fix="use PFN_MAP")],
        notes=["baseline bl.json: 1 known finding not shown"],
    )
    rep.skipped = []
    out = github.render(rep)
    assert "::warning file=x.c,line=4,col=1,title=DAX101 (pfn-dev-without-map)::DAX101: 50%25 of%0Athis%0Afix: use PFN_MAP" in out
    assert "::notice title=daxlint::baseline bl.json: 1 known finding not shown" in out


def _many(n: int) -> list[Finding]:
    out = []
    for i in range(n):
        sev = Severity.ERROR if i % 3 == 0 else Severity.INFO
        out.append(
            Finding(
                "DAX301", sev, f"dir with space/f{i % 7}.c", i + 1, 1, f"m{i}", function="f", snippet=f"x{i};", end_line=i + 1, end_column=4
            )
        )
    assign_fingerprints(out)
    return out


def test_sarif_validates_and_carries_fingerprints_and_help():
    rep = Report(findings=_many(12), kernel_version="6.3", notes=["a note"])
    doc = sarif.as_dict(rep)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(doc)
    run = doc["runs"][0]
    assert all(r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in run["results"])
    assert len({r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in run["results"]}) == 12
    rules = run["tool"]["driver"]["rules"]
    assert rules and all(r["help"]["text"] and r["fullDescription"]["text"] for r in rules)
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("dir%20with%20space/")


def test_sarif_caps_results_with_a_warning():
    rep = Report(findings=_many(40))
    doc = sarif.as_dict(rep, limit=10)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    assert len(run["results"]) == 10
    assert all(r["level"] == "error" for r in run["results"])  # the most severe are kept
    [warn] = [n for n in run["invocations"][0]["toolExecutionNotifications"] if n["level"] == "warning"]
    assert "40 results, capped at 10" in warn["message"]["text"]
    assert sarif.GITHUB_RESULT_LIMIT == 25000


def test_sarif_absolute_paths_are_file_uris(tmp_path):
    f = Finding("DAX301", Severity.ERROR, str(tmp_path / "a.c"), 1, 1, "m", fingerprint="0" * 16)
    doc = sarif.as_dict(Report(findings=[f]))
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(doc)
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": (tmp_path / "a.c").as_uri()}


# -- action, workflows, pre-commit --------------------------------------------------

EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def _load_yaml(rel: str) -> dict:
    return yaml.safe_load((REPO / rel).read_text())


def _expressions(node) -> list[str]:
    if isinstance(node, dict):
        return [e for v in node.values() for e in _expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in _expressions(v)]
    return EXPR.findall(node) if isinstance(node, str) else []


def test_action_is_a_composite_action_whose_inputs_exist():
    action = _load_yaml("action.yml")
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {"paths", "base-ref", "baseline", "format", "fail-on"} <= set(inputs)
    for name, spec in inputs.items():
        assert spec.get("description"), name
    used = {m for e in _expressions(action) for m in re.findall(r"inputs\.([\w-]+)", e)}
    assert used <= set(inputs), used - set(inputs)
    assert set(inputs) <= used, set(inputs) - used  # no input is silently ignored
    for step in action["runs"]["steps"]:
        assert ("uses" in step) != ("run" in step)
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "inputs go through env, never into the script"
    install = next(s for s in action["runs"]["steps"] if "pip install" in s.get("run", ""))
    assert "$GITHUB_ACTION_PATH" in install["run"]
    assert action["inputs"]["fail-on"]["default"] == "warning"  # as the CLI: info never fails unless asked
    assert action["inputs"]["format"]["default"] in ("github", "sarif", "json", "text", "checkpatch")


@pytest.fixture
def daxlint_on_path(tmp_path):
    """A ``daxlint`` executable that runs this checkout's package."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "daxlint"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m daxlint "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return bindir


class ActionRun:
    """The action's shell steps from the check on, run as GitHub runs them
    (bash -e, inputs and earlier steps' outputs in each step's environment,
    RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files); the install
    and the uses: steps (cache, upload-artifact) are GitHub's."""

    def __init__(self, cwd: Path, tmp: Path, bindir: Path, inputs: dict[str, str]):
        self.cwd, self.inputs = cwd, inputs
        self.temp = tmp / "runner-temp"
        self.temp.mkdir(parents=True)
        self.summary = tmp / "step-summary.md"
        self.outputs: dict[str, dict[str, str]] = {}
        self.env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1", "RUNNER_TEMP": str(self.temp)}
        self.env["GITHUB_STEP_SUMMARY"] = str(self.summary)
        action = _load_yaml("action.yml")
        steps = action["runs"]["steps"]
        first = next(i for i, st in enumerate(steps) if st.get("id") == "check")
        self.steps = [st for st in steps[first:] if "run" in st]
        self.results: list[subprocess.CompletedProcess] = []

    def value(self, expr: str) -> str:
        expr = expr.strip()
        if expr.startswith("inputs."):
            return self.inputs[expr.removeprefix("inputs.")]
        m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        assert m, expr
        return self.outputs.get(m.group(1), {}).get(m.group(2), "")

    def run(self) -> list[subprocess.CompletedProcess]:
        for n, step in enumerate(self.steps):
            out = self.temp / f"output-{n}"
            out.write_text("")
            env = {**self.env, "GITHUB_OUTPUT": str(out)}
            env.update({k: EXPR.sub(lambda m: self.value(m.group(1)), v) for k, v in step.get("env", {}).items()})
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.cwd,
                env=env,
                capture_output=True,
                text=True,
            )
            self.results.append(proc)
            if "id" in step:
                self.outputs[step["id"]] = dict(line.split("=", 1) for line in out.read_text().splitlines())
            if proc.returncode != 0:
                break
        return self.results


ACTION_INPUTS = {
    "paths": "drivers",
    "base-ref": "",
    "baseline": "",
    "format": "json",
    "output": "",
    "fail-on": "error",
    "kernel-version": "",
    "args": "",
    "working-directory": ".",
    "strict": "true",
    "artifact-name": "daxlint-report",
}


def test_action_script_runs_daxlint_with_the_inputs(repo, daxlint_on_path, tmp_path):
    """The action's run step, executed as GitHub would (bash -e) with the
    inputs in its environment; the step that fails the action as daxlint
    did comes last."""
    write(repo, "drivers/misc/new.c", mmap_fn("new_mmap"))
    run_daxlint("check", "--write-baseline", "bl.json", "drivers/misc/old.c", cwd=repo)
    action = ActionRun(repo, tmp_path, daxlint_on_path, {**ACTION_INPUTS, "baseline": "bl.json", "args": "--select DAX3"})
    *done, failed = action.run()
    assert [p.returncode for p in done] == [0, 0] and failed.returncode == 1, failed.stderr
    assert findings_of(done[0].stdout) == [("DAX301", "drivers/misc/new.c", 3)]
    assert json.loads(done[0].stdout)["baseline"]["suppressed"] == 1
    assert action.outputs["check"]["exit-code"] == "1"
    # With a base ref, only the changed lines; a clean result exits 0.
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "new")
    action = ActionRun(repo, tmp_path / "again", daxlint_on_path, {**ACTION_INPUTS, "base-ref": "HEAD", "format": "github"})
    assert [p.returncode for p in action.run()] == [0, 0, 0]
    assert action.outputs["check"]["exit-code"] == "0"


def test_action_summary_and_artifact_carry_every_finding(repo, daxlint_on_path, tmp_path):
    """More findings than GitHub shows annotations of a step (10 errors):
    the job summary and the report files hold all of them, the report's
    own output file too."""
    for i in range(12):
        write(repo, f"drivers/many/m{i:02}.c", mmap_fn(f"m{i}_mmap"))
    action = ActionRun(repo, tmp_path, daxlint_on_path, {**ACTION_INPUTS, "format": "sarif", "output": "daxlint.sarif"})
    *_, failed = action.run()
    assert failed.returncode == 1
    report = Path(action.outputs["report"]["dir"])
    assert sorted(p.name for p in report.iterdir()) == ["daxlint.json", "daxlint.sarif", "daxlint.txt"]
    assert len(json.loads((report / "daxlint.json").read_text())["findings"]) == 13
    summary = action.summary.read_text()
    assert summary.startswith("## daxlint\nFound 13 findings (13 error, 0 warning, 0 info) in 14 files")
    for i in range(12):
        assert f"drivers/many/m{i:02}.c:3:2: error[DAX301]" in summary
    assert "The artifact **daxlint-report** holds the report as text and JSON and daxlint.sarif." in summary
    # Annotations: the limit is said where they are the report.
    action = ActionRun(repo, tmp_path / "github", daxlint_on_path, {**ACTION_INPUTS, "format": "github"})
    action.run()
    summary = action.summary.read_text()
    assert "at most 10 error and 10 warning annotations of a step" in summary and "drivers/many/m11.c:3:2" in summary


def test_action_summary_when_daxlint_cannot_run(repo, daxlint_on_path, tmp_path):
    action = ActionRun(repo, tmp_path, daxlint_on_path, {**ACTION_INPUTS, "paths": "no/such/dir"})
    *_, failed = action.run()
    assert failed.returncode == 2 and action.outputs["check"]["exit-code"] == "2"
    assert "daxlint could not check: see the step's log." in action.summary.read_text()
    assert "no/such/dir" in (Path(action.outputs["report"]["dir"]) / "daxlint.stderr").read_text()


def test_action_fails_on_a_file_it_could_not_analyse(repo, daxlint_on_path, tmp_path):
    """The action passes --strict unless told otherwise: a file daxlint
    skips (here over the configured max-file-size) fails the step with
    exit code 2; strict "false" lets it through with the warning."""
    write(repo, ".daxlint.toml", "max-file-size = 64\n")
    write(repo, "drivers/misc/big.c", mmap_fn("big_mmap"))
    defaults = {name: spec.get("default", "") for name, spec in _load_yaml("action.yml")["inputs"].items()}
    for strict, status in (("true", 2), ("false", 0)):
        inputs = dict(defaults, paths="drivers/misc/big.c", format="github", strict=strict)
        action = ActionRun(repo, tmp_path / strict, daxlint_on_path, inputs)
        check, *_, last = action.run()
        assert last.returncode == status and action.outputs["check"]["exit-code"] == str(status), check.stdout + check.stderr
        assert "::warning file=drivers/misc/big.c" in check.stdout and "too large" in check.stdout, check.stdout
        if status:
            assert "1 file could not be analysed (--strict): drivers/misc/big.c: too large" in only_line(check.stderr)


def _on(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return {k: None for k in on} if isinstance(on, list) else on


def test_ci_workflow_runs_the_tests_on_push_and_pull_requests():
    wf = _load_yaml(".github/workflows/ci.yml")
    assert {"push", "pull_request"} <= set(_on(wf))
    runs = [s.get("run", "") for job in wf["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs
    # The job that exercises the action passes only inputs the action has.
    action_inputs = set(_load_yaml("action.yml")["inputs"])
    for job in wf["jobs"].values():
        for step in job["steps"]:
            if step.get("uses") == "./":
                assert set(step.get("with", {})) <= action_inputs


def test_example_workflow_uploads_sarif_from_the_action():
    wf = _load_yaml(".github/workflows/kernel-fork-example.yml")
    assert {"push", "pull_request"} <= set(_on(wf))
    assert wf["permissions"]["security-events"] == "write"
    [job] = wf["jobs"].values()
    steps = job["steps"]
    action_inputs = set(_load_yaml("action.yml")["inputs"])
    [lint] = [s for s in steps if str(s.get("uses", "")).startswith("./")]
    assert set(lint["with"]) <= action_inputs
    assert lint["with"]["format"] == "sarif"
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif")]
    assert upload["with"]["sarif_file"].endswith(lint["with"]["output"])
    assert "always()" in upload["if"]
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout") and checkout["with"]["fetch-depth"] == 1  # shallow
    assert "format('origin/{0}...', github.base_ref)" in lint["with"]["base-ref"]  # the merge base
    step_ids = {s["id"] for s in steps if "id" in s}
    for expr in _expressions(wf):
        for ref in re.findall(r"steps\.([\w-]+)\.", expr):
            assert ref in step_ids


@pytest.mark.parametrize("checked_out", ["merge", "head"])
def test_example_workflow_deepens_a_shallow_clone_to_the_merge_base(tmp_path, checked_out):
    """A pull request as GitHub checks it out - its merge commit (or, in a
    workflow that asks for it, its head), one commit deep - and the
    example's step that fetches the base branch and deepens both until they
    meet: the clone holds a fraction of the history, and --diff against the
    merge base reports the pull request's finding, not the base branch's
    newer one."""
    up = tmp_path / "fork"
    write(up, "Makefile", "VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    write(up, "drivers/misc/old.c", mmap_fn("old_mmap"))
    git(up, "init", "-q", "-b", "main")

    def commits(prefix: str, n: int) -> None:
        for i in range(n):
            write(up, f"drivers/{prefix}/f{i}.c", f"int {prefix}{i};\n")
            git(up, "add", ".")
            git(up, "commit", "-q", "-m", f"{prefix} {i}")

    commits("base", 100)
    git(up, "checkout", "-q", "-b", "topic", "main~25")
    write(up, "drivers/misc/topic.c", mmap_fn("topic_mmap"))
    commits("topic", 40)
    git(up, "checkout", "-q", "main")
    write(up, "drivers/misc/later.c", mmap_fn("later_mmap"))
    commits("later", 10)
    git(up, "merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    merge = git(up, "rev-parse", "HEAD").strip()
    git(up, "update-ref", "refs/pull/1/merge", merge)
    git(up, "reset", "-q", "--hard", "HEAD~1")
    # actions/checkout of a pull request with fetch-depth 1
    commit = merge if checked_out == "merge" else git(up, "rev-parse", "topic").strip()
    clone = tmp_path / "linux"
    clone.mkdir()
    git(clone, "init", "-q")
    git(clone, "remote", "add", "origin", up.as_uri())
    git(clone, "fetch", "-q", "--no-tags", "--depth=1", "origin", f"+{commit}:refs/remotes/pull/1/{checked_out}")
    git(clone, "checkout", "-q", commit)
    wf = _load_yaml(".github/workflows/kernel-fork-example.yml")
    [step] = [st for st in wf["jobs"]["daxlint"]["steps"] if st.get("name") == "Fetch the base branch down to the merge base"]
    env = {**os.environ, "BASE_REF": "main", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=clone, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    root = git(up, "rev-list", "--max-parents=0", "HEAD").strip()
    assert subprocess.run(["git", "cat-file", "-e", f"{root}^{{commit}}"], cwd=clone, capture_output=True).returncode != 0  # shallow still
    code, out, err = run_daxlint("check", "--no-cache", "--format", "json", "--diff", "origin/main...", ".", cwd=clone)
    assert code == 1, err
    assert findings_of(out) == [("DAX301", "drivers/misc/topic.c", 3)]


def test_pre_commit_hook_definition():
    hooks = _load_yaml(".pre-commit-hooks.yaml")
    [hook] = hooks
    assert hook["id"] == "daxlint" and hook["language"] == "python"
    assert hook["entry"].split() == ["daxlint", "check", "--diff", "HEAD", "--strict"]
    assert hook["args"] == ["--"]  # pre-commit appends the file names after the args
    # C sources, headers and Kconfig files (tests/test_precommit.py runs the real pre-commit)
    files = re.compile(hook["files"])
    assert all(files.search(p) for p in ("drivers/dax/bus.c", "include/linux/dax.h", "drivers/dax/Kconfig", "Kconfig.debug"))
    assert not any(files.search(p) for p in ("arch/x86/entry/entry_64.S", "drivers/dax/Makefile", "Kconfig/x.txt"))
    # pre-commit appends the staged file names to the entry.
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^daxlint = "daxlint\.cli:main"$', pyproject, re.M)


def test_fingerprints_do_not_depend_on_where_daxlint_runs(repo, tmp_path):
    """JSON fingerprints (and SARIF partialFingerprints) name the file by its
    path in the kernel tree: the same from the top, a subdirectory or
    elsewhere with an absolute path."""

    def fingerprints(cwd, path):
        rc, out, err = run_daxlint("check", "--no-cache", "--format", "json", path, cwd=cwd)
        assert rc == 1, err
        return [f["fingerprint"] for f in json.loads(out)["findings"]]

    top = fingerprints(repo, "drivers/misc")
    assert top and fingerprints(repo / "drivers", "misc") == top
    assert fingerprints(tmp_path, str(repo / "drivers" / "misc")) == top
    rc, out, err = run_daxlint("check", "--no-cache", "--format", "sarif", "misc", cwd=repo / "drivers")
    (result,) = json.loads(out)["runs"][0]["results"]
    assert top[0] in json.dumps(result["partialFingerprints"])


def test_a_baseline_for_another_checkout_says_so(repo, tmp_path):
    """A baseline kept outside the tree names the checkout it was written
    for: checking a copy, none of its entries is under the checked paths -
    every finding is new (nothing slips through), and a note says why."""
    (tmp_path / "ci").mkdir()
    baseline = str(tmp_path / "ci" / "bl.json")
    rc, _, err = run_daxlint("check", "--write-baseline", baseline, ".", cwd=repo)
    assert rc == 0, err
    copy = tmp_path / "linux2"
    shutil.copytree(repo, copy)
    rc, out, err = run_daxlint("check", "--baseline", baseline, ".", cwd=copy)
    assert rc == 1, err
    assert "none of the 1 entry of" in out and "was it written for another checkout?" in out
