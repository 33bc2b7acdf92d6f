"""``daxlint audit``: per-commit introduced/fixed findings over scratch git
histories, asserted by commit, rule, file and line; the store (resume,
reuse, extension), merges, kernel versions, bad input, and the outputs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tarfile

import pygit2
import pytest

from audit_repo import (
    PROVIDER,
    SIBLING_PAGES,
    XIP_DRIVER,
    XIP_KCONFIG,
    XIP_KCONFIG_LIMITED,
    ScratchRepo,
    makefile,
    mmap_clean,
    mmap_writer,
)
from conftest import run_daxlint
from daxlint.audit.auditor import AuditOptions, Auditor
from daxlint.audit.results import pair_moves
from daxlint.audit.store import AuditStore
from daxlint.core.registry import select_rules
from daxlint.model import Finding, Severity
from daxlint.sources.git import GitRepo, lookup
from daxlint.version import KernelVersion


def events(doc: dict) -> list[tuple]:
    """(subject, change, rule, path, line) for every introduced/fixed finding."""
    out = []
    for c in doc["commits"]:
        for change in ("introduced", "fixed"):
            for f in c[change]:
                out.append((c["subject"], change, f["rule_id"], f["path"], f["line"]))
    return out


def audit_json(repo, *args, db=None):
    db_args = ["--db", str(db)] if db else ["--no-cache"]
    code, out, err = run_daxlint("audit", "--repo", str(repo.path), "--format", "json", "-j", "1", *db_args, *args)
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.fixture
def history(tmp_path):
    """base; add a direct vm_flags write; shift it down; rename the file;
    fix it; add a second writer that stays."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    r.write("drivers/foo/drv.c", mmap_writer("foo_mmap"))
    r.commit("foo: add mmap")
    r.write("drivers/foo/drv.c", "/* Foo driver. */\n\n" + mmap_writer("foo_mmap"))
    r.commit("foo: add a header comment")
    r.move("drivers/foo/drv.c", "drivers/foo/foo.c")
    r.commit("foo: rename drv.c to foo.c")
    r.write("drivers/foo/foo.c", "/* Foo driver. */\n\n" + mmap_clean("foo_mmap"))
    r.commit("foo: use vm_flags_set", author="Bob Fixer <bob@example.org>")
    r.write("drivers/bar/bar.c", mmap_writer("bar_mmap", "VM_DONTEXPAND"))
    r.commit("bar: add mmap")
    return r


def test_introduced_fixed_and_moved_per_commit(history):
    code, doc = audit_json(history, "HEAD~5..HEAD")
    assert [c["subject"] for c in doc["commits"]] == [
        "foo: add mmap",
        "foo: add a header comment",
        "foo: rename drv.c to foo.c",
        "foo: use vm_flags_set",
        "bar: add mmap",
    ]
    assert events(doc) == [
        ("foo: add mmap", "introduced", "DAX301", "drivers/foo/drv.c", 3),
        ("foo: use vm_flags_set", "fixed", "DAX301", "drivers/foo/foo.c", 5),
        ("bar: add mmap", "introduced", "DAX301", "drivers/bar/bar.c", 3),
    ]
    by_subject = {c["subject"]: c for c in doc["commits"]}
    # Code that moved down a file is neither introduced nor fixed; a rename
    # pairs the finding up as moved.
    assert by_subject["foo: add a header comment"]["introduced"] == [] == by_subject["foo: add a header comment"]["fixed"]
    moved = by_subject["foo: rename drv.c to foo.c"]["moved"]
    assert [(m["rule_id"], m["from"]["path"], m["to"]["path"], m["to"]["line"]) for m in moved] == [
        ("DAX301", "drivers/foo/drv.c", "drivers/foo/foo.c", 5)
    ]
    fix = by_subject["foo: use vm_flags_set"]
    assert (fix["author"], fix["email"], fix["date"][:10]) == ("Bob Fixer", "bob@example.org", "2024-01-06")
    first = by_subject["foo: add mmap"]["introduced"][0]
    assert first["still_open"] is False and first["severity"] == "error" and first["fingerprint"]
    assert by_subject["bar: add mmap"]["introduced"][0]["still_open"] is True
    assert [c["open_after"] for c in doc["commits"]] == [{"DAX3": 1}, {"DAX3": 1}, {"DAX3": 1}, {}, {"DAX3": 1}]
    assert doc["rules"]["DAX301"] == {"introduced": 2, "fixed": 1, "moved": 1, "still_open": 1, "open_at_end": 1}
    assert code == 1  # a finding the range brought in is still open


def test_exit_status_follows_what_is_still_open(history):
    code, doc = audit_json(history, "HEAD~5..HEAD~1")
    assert doc["summary"]["introduced"] == 1 and doc["summary"]["still_open"] == 0
    assert code == 0  # introduced and fixed inside the range
    code, _, _ = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "--exit-zero", "HEAD~5..HEAD")
    assert code == 0
    code, _, _ = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "--fail-on", "error", "HEAD~5..HEAD")
    assert code == 1
    code, _, _ = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "--select", "DAX1", "HEAD~5..HEAD")
    assert code == 0


def test_text_and_csv(history):
    code, out, err = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "HEAD~5..HEAD")
    assert code == 1 and err == ""
    sha = history.head("HEAD~4")[:12]
    assert f"{sha} 2024-01-03 Ann Author: foo: add mmap" in out
    assert "  + drivers/foo/drv.c:3:2: error[DAX301]" in out
    assert "  ~ DAX301 moved drivers/foo/drv.c:3 -> drivers/foo/foo.c:5" not in out  # lines are the moved code's
    assert "  ~ DAX301 moved drivers/foo/drv.c:5 -> drivers/foo/foo.c:5" in out
    assert "  - drivers/foo/foo.c:5:2: error[DAX301]" in out
    assert out.splitlines()[-1].startswith("Audited 5 commits of HEAD~5..HEAD")
    code, out, _ = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "--format", "csv", "HEAD~5..HEAD")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["subject"], r["change"], r["rule_id"], r["path"], r["line"]) for r in rows] == [
        ("foo: add mmap", "introduced", "DAX301", "drivers/foo/drv.c", "3"),
        ("foo: rename drv.c to foo.c", "moved", "DAX301", "drivers/foo/foo.c", "5"),
        ("foo: use vm_flags_set", "fixed", "DAX301", "drivers/foo/foo.c", "5"),
        ("bar: add mmap", "introduced", "DAX301", "drivers/bar/bar.c", "3"),
    ]
    assert rows[1]["moved_from"] == "drivers/foo/drv.c:5" and rows[3]["still_open"] == "yes"


def _tree_findings(repo: ScratchRepo, rev: str, tmp_path) -> set[tuple]:
    """What ``daxlint check`` says about the tree of ``rev`` (extracted with git archive)."""
    dest = tmp_path / f"tree-{rev.replace('~', '_')}"
    dest.mkdir()
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=repo.path, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    code, out, err = run_daxlint("check", "--format", "json", "--no-cache", ".", cwd=dest)
    assert code in (0, 1), err
    return {(f["rule_id"], f["path"], f["line"], f["fingerprint"]) for f in json.loads(out)["findings"]}


def test_open_findings_match_check_on_every_commit(tmp_path):
    """Replaying introduced/fixed/moved from the base gives, after every
    commit, exactly what ``daxlint check`` finds in that commit's tree -
    including verdicts that changed because a sibling or a Kconfig did."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("base with one finding")
    r.write("drivers/toy/toy_core.c", PROVIDER)
    r.commit("toy: provider")
    r.write("drivers/toy/toy_pages.c", SIBLING_PAGES)
    r.commit("toy: map pages in a sibling file")
    r.write("drivers/xip/xip.c", XIP_DRIVER)
    r.write("drivers/xip/Kconfig", XIP_KCONFIG)
    r.commit("xip: add")
    r.write("drivers/xip/Kconfig", XIP_KCONFIG_LIMITED)
    r.commit("xip: select FS_DAX_LIMITED")
    r.remove("drivers/toy/toy_pages.c")
    r.commit("toy: drop the pages")
    r.move("drivers/foo/foo.c", "drivers/foo2/foo.c")
    r.commit("foo: move")
    _, doc = audit_json(r, "HEAD~6..HEAD")
    state = {(f[0], f[1], f[2], f[3]) for f in _tree_findings(r, "HEAD~6", tmp_path)}
    for i, c in enumerate(doc["commits"]):
        for f in c["fixed"]:
            state = {s for s in state if s[3] != f["fingerprint"]}
        for m in c["moved"]:
            state = {s for s in state if s[3] != m["from"]["fingerprint"]}
            state.add((m["rule_id"], m["to"]["path"], m["to"]["line"], m["to"]["fingerprint"]))
        state |= {(f["rule_id"], f["path"], f["line"], f["fingerprint"]) for f in c["introduced"]}
        rev = f"HEAD~{5 - i}"
        assert {s[3] for s in state} == {f[3] for f in _tree_findings(r, rev, tmp_path)}, (c["subject"], state)
    assert ("toy: map pages in a sibling file", "fixed", "DAX201", "drivers/toy/toy_core.c", 14) in events(doc)
    assert ("toy: drop the pages", "introduced", "DAX201", "drivers/toy/toy_core.c", 14) in events(doc)
    assert ("xip: select FS_DAX_LIMITED", "fixed", "DAX102", "drivers/xip/xip.c", 7) in events(doc)


def test_merges_first_parent_and_all_parents(tmp_path):
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/misc/a.c", "int a;\n")
    r.commit("base")
    r.git("checkout", "-q", "-b", "topic")
    r.write("drivers/topic/t.c", mmap_writer("t_mmap"))
    r.commit("topic: add a writer")
    r.write("drivers/topic/u.c", mmap_clean("u_mmap"))
    r.commit("topic: a clean file")
    r.checkout("main")
    r.write("drivers/misc/b.c", "int b;\n")
    r.commit("main: unrelated")
    merge = r.merge("topic", "Merge branch 'topic'")
    _, first = audit_json(r, "HEAD~2..HEAD")
    assert [c["subject"] for c in first["commits"]] == ["main: unrelated", "Merge branch 'topic'"]
    assert events(first) == [("Merge branch 'topic'", "introduced", "DAX301", "drivers/topic/t.c", 3)]
    _, every = audit_json(r, "--all-parents", "HEAD~2..HEAD")
    assert sorted(c["subject"] for c in every["commits"]) == sorted(
        ["main: unrelated", "topic: add a writer", "topic: a clean file", "Merge branch 'topic'"]
    )
    assert events(every) == [("topic: add a writer", "introduced", "DAX301", "drivers/topic/t.c", 3)]
    assert every["commits"][-1]["sha"] == merge
    assert every["commits"][-1]["open_after"] == {"DAX3": 1}
    assert every["first_parent"] is False and first["first_parent"] is True


def test_kernel_version_per_commit(tmp_path):
    """vm_flags became const in v6.3: the commit that moves the tree to 6.3
    makes the old direct write a finding; --kernel-version 6.3 blames the
    commit that wrote it."""
    r = ScratchRepo(tmp_path / "linux", version="6.2")
    r.commit("base")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("foo: add mmap")
    r.write("Makefile", makefile("6.3"))
    r.commit("Linux 6.3-rc1")
    _, doc = audit_json(r, "HEAD~2..HEAD")
    assert events(doc) == [("Linux 6.3-rc1", "introduced", "DAX301", "drivers/foo/foo.c", 3)]
    assert [c["kernel_version"] for c in doc["commits"]] == ["6.2", "6.3"]
    assert doc["commits"][1]["compared_whole_tree"] == "kernel version 6.2 -> 6.3"
    _, pinned = audit_json(r, "--kernel-version", "6.3", "HEAD~2..HEAD")
    assert events(pinned) == [("foo: add mmap", "introduced", "DAX301", "drivers/foo/foo.c", 3)]


def test_store_reuse_extension_and_resume(history, tmp_path):
    db = tmp_path / "audit.sqlite"
    _, first = audit_json(history, "HEAD~5..HEAD~2", db=db)
    assert first["summary"]["analysed"] == 3 and first["summary"]["from_store"] == 0
    _, again = audit_json(history, "HEAD~5..HEAD~2", db=db)
    assert again["summary"]["analysed"] == 0 and again["summary"]["from_store"] == 3
    assert all(c["from_store"] for c in again["commits"])
    assert events(again) == events(first)
    _, longer = audit_json(history, "HEAD~5..HEAD", db=db)
    assert longer["summary"]["analysed"] == 2 and longer["summary"]["from_store"] == 3
    _, fresh = audit_json(history, "HEAD~5..HEAD")
    assert events(longer) == events(fresh)
    assert [c["open_after"] for c in longer["commits"]] == [c["open_after"] for c in fresh["commits"]]


def test_interrupted_audit_keeps_what_it_finished(history, tmp_path):
    db = tmp_path / "audit.sqlite"

    def stop_after_two(kind, done, total, detail=None):
        if kind == "commits" and done == 2:
            raise KeyboardInterrupt

    store = AuditStore(db)
    with pytest.raises(KeyboardInterrupt):
        Auditor(GitRepo(history.path), select_rules(), store, AuditOptions(jobs=1), progress=stop_after_two).run(["HEAD~5..HEAD"])
    store.close()
    store = AuditStore(db)
    resumed = Auditor(GitRepo(history.path), select_rules(), store, AuditOptions(jobs=1)).run(["HEAD~5..HEAD"])
    store.close()
    assert resumed.stored_commits == 2 and resumed.analysed_commits == 3
    _, fresh = audit_json(history, "HEAD~5..HEAD")
    assert events(resumed.to_dict()) == events(fresh)


def test_parallel_workers_agree(history):
    _, one = audit_json(history, "HEAD~5..HEAD")
    code, out, err = run_daxlint("audit", "--repo", str(history.path), "--format", "json", "--no-cache", "-j", "2", "HEAD~5..HEAD")
    assert code == 1, err
    assert events(json.loads(out)) == events(one)


def test_work_tree_is_never_read_or_touched(history):
    (history.path / "drivers/bar/bar.c").write_text(mmap_clean("bar_mmap"))  # uncommitted fix
    (history.path / "drivers/new.c").write_text(mmap_writer("new_mmap"))  # untracked
    before = history.git("status", "--porcelain")
    _, doc = audit_json(history, "HEAD~1..HEAD")
    assert events(doc) == [("bar: add mmap", "introduced", "DAX301", "drivers/bar/bar.c", 3)]
    assert history.git("status", "--porcelain") == before
    assert (history.path / "drivers/bar/bar.c").read_text() == mmap_clean("bar_mmap")


def test_bad_input_exits_2_with_one_line(history, tmp_path):
    for args in (["nosuchrev..HEAD"], ["HEAD..nosuch"], ["HEAD~50..HEAD"]):
        code, out, err = run_daxlint("audit", "--repo", str(history.path), "--no-cache", *args)
        assert code == 2 and out == "", err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "bad revision range" in err
    (tmp_path / "plain").mkdir()
    code, _, err = run_daxlint("audit", "--repo", str(tmp_path / "plain"), "HEAD")
    assert code == 2 and "not a git repository" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_daxlint("audit", "--repo", str(tmp_path / "missing"), "HEAD")
    assert code == 2 and len(err.strip().splitlines()) == 1
    bad_db = tmp_path / "not-a-db.sqlite"
    bad_db.write_text("this is not sqlite\n" * 100)
    code, _, err = run_daxlint("audit", "--repo", str(history.path), "--db", str(bad_db), "HEAD~1..HEAD")
    assert code == 2 and "audit store" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "HEAD..HEAD")
    assert code == 0 and "has no commits" in out
    # For an audit the store is the cache: asked for both, it says so instead of dropping --db.
    code, _, err = run_daxlint("audit", "--repo", str(history.path), "--no-cache", "--db", str(tmp_path / "s.sqlite"), "HEAD~1..HEAD")
    assert code == 2 and err.strip().splitlines() == [
        "daxlint: error: --no-cache audits without a store, and --db names one: give one of them"
    ]
    assert not (tmp_path / "s.sqlite").exists()


def test_shallow_clone_skips_the_boundary_commit(history, tmp_path):
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{history.path}", str(clone)], check=True, capture_output=True)
    code, out, err = run_daxlint("audit", "--repo", str(clone), "--no-cache", "--format", "json", "HEAD")
    assert code in (0, 1), err
    doc = json.loads(out)
    boundary, tip = doc["commits"]
    assert boundary["skipped"] and "shallow clone" in boundary["skipped"]
    assert tip["skipped"] is None
    assert events(doc) == [("bar: add mmap", "introduced", "DAX301", "drivers/bar/bar.c", 3)]
    assert any("shallow clone" in n for n in doc["notes"])
    code, _, err = run_daxlint("audit", "--repo", str(clone), "--no-cache", "HEAD~3..HEAD")
    assert code == 2 and "shallow" in err and "Traceback" not in err


def test_a_blob_that_cannot_be_read_skips_the_file_not_the_commits(history, tmp_path):
    """One unreadable blob (too large for one read, gone from a partial
    clone) is a skipped file of the commit that has it, said so; that
    commit and every later one are still audited."""
    broken = tmp_path / "broken"
    shutil.copytree(history.path, broken)
    blob = history.git("rev-parse", "HEAD~4:drivers/foo/drv.c").strip()
    os.remove(broken / ".git" / "objects" / blob[:2] / blob[2:])
    code, out, err = run_daxlint("audit", "--repo", str(broken), "--no-cache", "--format", "json", "HEAD~5..HEAD")
    assert code in (0, 1) and "Traceback" not in err, err
    doc = json.loads(out)
    assert [c["skipped"] for c in doc["commits"]] == [None] * 5
    first = doc["commits"][0]
    assert [(s["path"], blob[:12] in s["reason"]) for s in first["skipped_files"]] == [("drivers/foo/drv.c", True)]
    # The later commits go on: bar's finding is still introduced by its commit.
    assert ("bar: add mmap", "introduced", "DAX301", "drivers/bar/bar.c", 3) in events(doc)


def test_pair_moves_only_across_files():
    def f(path, line, snippet="vma->vm_flags |= VM_IO;", function="m"):
        return Finding("DAX301", Severity.ERROR, path, line, 2, "msg", fingerprint=f"{path}:{line}", function=function, snippet=snippet)

    introduced, fixed = [f("b.c", 9), f("a.c", 4, function="other")], [f("a.c", 3)]
    moved = pair_moves(introduced, fixed)
    assert [(m["from"]["path"], m["to"]["path"]) for m in moved] == [("a.c", "b.c")]
    assert [x.path for x in introduced] == ["a.c"] and fixed == []


def test_store_is_keyed_by_rules_and_version(history, tmp_path):
    db = tmp_path / "audit.sqlite"
    _, all_rules = audit_json(history, "HEAD~5..HEAD", db=db)
    _, dax1 = audit_json(history, "--select", "DAX1", "HEAD~5..HEAD", db=db)
    assert dax1["summary"]["from_store"] == 0 and events(dax1) == []
    _, pinned = audit_json(history, "--kernel-version", "6.1", "HEAD~5..HEAD", db=db)
    assert pinned["summary"]["from_store"] == 0 and events(pinned) == []
    _, again = audit_json(history, "HEAD~5..HEAD", db=db)
    assert again["summary"]["from_store"] == 5 and events(again) == events(all_rules)


def test_library_result_without_store_hits(history):
    result = Auditor(
        GitRepo(history.path), select_rules(["DAX3"]), AuditStore(":memory:"), AuditOptions(jobs=1, kernel_version=KernelVersion(6, 3))
    ).run(["HEAD~1..HEAD"])
    assert [(f.rule_id, f.path, f.line) for c in result.commits for f in c.introduced] == [("DAX301", "drivers/bar/bar.c", 3)]
    assert result.open_at_end == {"DAX301": 1} and result.heads == [history.head()]


def test_identical_files_at_two_paths_are_both_audited(tmp_path):
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/a/same.c", "int same;\n")
    r.write("drivers/b/same.c", "int same;\n")
    r.commit("base: two identical clean files")
    r.write("drivers/a/dup.c", mmap_writer("dup_mmap"))
    r.write("drivers/b/dup.c", mmap_writer("dup_mmap"))
    r.commit("add the same writer twice")
    _, doc = audit_json(r, "HEAD")
    assert events(doc) == [
        ("add the same writer twice", "introduced", "DAX301", "drivers/a/dup.c", 3),
        ("add the same writer twice", "introduced", "DAX301", "drivers/b/dup.c", 3),
    ]


def test_kconfig_symbol_lookups_redo_only_files_whose_symbols_changed(tmp_path):
    """xip.c's verdict looks FS_DAX_LIMITED up in the tree-wide Kconfig
    index: a help-text edit of fs/Kconfig leaves it alone, removing the
    symbol's definition re-analyses it (untouched) and changes the verdict."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("Kconfig", 'mainmenu "Toy"\nsource "fs/Kconfig"\nsource "drivers/xip/Kconfig"\n')
    r.write("fs/Kconfig", 'config FS_DAX\n\tbool "DAX"\n\nconfig FS_DAX_LIMITED\n\tbool\n')
    r.write("drivers/xip/xip.c", XIP_DRIVER)
    r.write("drivers/xip/Kconfig", XIP_KCONFIG_LIMITED)
    r.commit("base")
    r.write("fs/Kconfig", 'config FS_DAX\n\tbool "DAX"\n\thelp\n\t  Direct access.\n\nconfig FS_DAX_LIMITED\n\tbool\n')
    r.commit("fs: help text")
    r.write("fs/Kconfig", 'config FS_DAX\n\tbool "DAX"\n\thelp\n\t  Direct access.\n')
    r.commit("fs: remove FS_DAX_LIMITED")
    _, doc = audit_json(r, "HEAD~2..HEAD")
    assert [c["files_checked"] for c in doc["commits"]] == [1, 2]
    assert ("fs: remove FS_DAX_LIMITED", "introduced", "DAX102", "drivers/xip/xip.c", 7) in events(doc)
    assert ("fs: remove FS_DAX_LIMITED", "fixed", "DAX101", "drivers/xip/xip.c", 7) in events(doc)


@pytest.mark.parametrize("jobs", [1, 2])
def test_files_that_read_a_changed_sibling_are_sent_ahead(tmp_path, monkeypatch, jobs):
    """A commit that adds a sibling makes toy_core.c's verdict stale: with
    workers its re-analysis starts when the commit is planned (from the
    newest state: the commits in between fill the planning window), so
    finishing the commit does not wait for a new task; with one job nothing
    is guessed. Either way the events are the same."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("base")
    r.write("drivers/toy/toy_core.c", PROVIDER)
    r.commit("toy: provider")
    for i in range(40):  # more than the planning window of two jobs
        r.write(f"drivers/misc/m{i}.c", mmap_clean(f"m{i}_mmap"))
        r.commit(f"misc: m{i}")
    r.write("drivers/toy/toy_pages.c", SIBLING_PAGES)
    r.commit("toy: map pages in a sibling file")
    redone, result = _audit_noting_redone(
        r,
        monkeypatch,
        tmp_path,
        "HEAD~42..HEAD",
        jobs,
        lambda plan, items: {path: plan.ahead.get(path, ("",))[0] == oid for path, oid in items},
    )
    assert redone == [{"drivers/toy/toy_core.c": jobs > 1}]
    doc = result.to_dict()
    assert ("toy: map pages in a sibling file", "fixed", "DAX201", "drivers/toy/toy_core.c", 14) in events(doc)


TOY_HANDLER = """\
vm_fault_t toy_fault(struct vm_fault *vmf)
{
	vmf->vma->vm_flags |= VM_IO;
	return VM_FAULT_NOPAGE;
}
"""
TOY_FOPS = """\
static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
	return 0;
}

static const struct file_operations toy_fops = {
	.mmap = toy_mmap,
};
"""
TOY_REGISTERS = TOY_FOPS.replace(
    "static int toy_mmap", "static const struct vm_operations_struct toy_vm_ops = {\n\t.fault = toy_fault,\n};\n\nstatic int toy_mmap"
)


def _only_the_edit_that_matters_redoes(tmp_path, monkeypatch, version: str, main: str, sibling: tuple, subjects: tuple[str, str]):
    """toy_main.c (``main``) beside a sibling (path, base text, an edit that
    should change nothing, the text that makes a DAX302 at toy_main.c:3):
    after the base, the harmless edit, the one that matters (``subjects[0]``)
    and back (``subjects[1]``), only the last two analyse toy_main.c again,
    introducing and fixing the finding."""
    path, base, harmless, finding = sibling
    r = ScratchRepo(tmp_path / "linux", version=version)
    r.write("drivers/toy/toy_main.c", main)
    r.write(path, base)
    r.commit("toy: base")
    for text, subject in ((harmless, "toy: a comment"), (finding, subjects[0]), (base, subjects[1])):
        r.write(path, text)
        r.commit(subject)
    redone, result = _audit_noting_redone(r, monkeypatch, tmp_path, "HEAD~3..HEAD")
    assert redone == [(subject, ["drivers/toy/toy_main.c"]) for subject in subjects]
    assert events(result.to_dict()) == [
        (subjects[0], "introduced", "DAX302", "drivers/toy/toy_main.c", 3),
        (subjects[1], "fixed", "DAX302", "drivers/toy/toy_main.c", 3),
    ]


def _redone_files(plan, items):
    return plan.info.subject, sorted(path for path, _ in items)


def _audit_noting_redone(r: ScratchRepo, monkeypatch, tmp_path, rng: str, jobs: int = 1, note=_redone_files):
    """Audit ``rng`` of ``r``: (``note`` of each analysis again - by default
    the commit's subject and the files; the audit's result)."""
    from daxlint.audit.planning import BlobResults

    redone = []
    real_redo = BlobResults.redo

    def redo(self, plan, items):
        redone.append(note(plan, items))
        return real_redo(self, plan, items)

    monkeypatch.setattr(BlobResults, "redo", redo)
    store = AuditStore(tmp_path / "store.sqlite")
    try:
        return redone, Auditor(GitRepo(r.path), select_rules(), store, AuditOptions(jobs=jobs)).run([rng])
    finally:
        store.close()


def test_a_sibling_edit_that_registers_nothing_leaves_the_verdict(tmp_path, monkeypatch):
    """toy_main.c's verdict read toy_file.c only to learn that it does not
    register toy_fault: an edit of toy_file.c that still does not (even one
    that names toy_fault) re-analyses nothing; the edit that registers it as
    ->fault makes the write a DAX302 in toy_main.c (the SGI GRU shape), and
    dropping the registration fixes it."""
    _only_the_edit_that_matters_redoes(
        tmp_path,
        monkeypatch,
        "6.1",
        TOY_HANDLER,
        ("drivers/toy/toy_file.c", TOY_FOPS, "/* toy_fault() lives in toy_main.c */\n" + TOY_FOPS, TOY_REGISTERS),
        ("toy: register the fault handler", "toy: drop the fault handler"),
    )


def test_a_weak_dependency_holds_only_while_the_test_does(tmp_path):
    """GitTreeReader.read_if records a sibling found irrelevant by the test,
    and deps.holds() applies the same test to the file of another tree."""
    from daxlint.analysis.driver import registers_any
    from daxlint.audit.deps import deps_hold, holds
    from daxlint.sources.git import GitTreeReader

    r = ScratchRepo(tmp_path / "linux", version="6.1")
    r.write("drivers/toy/toy_file.c", TOY_FOPS)
    r.commit("base")
    git = GitRepo(r.path)
    tree = git.repo.revparse_single("HEAD").peel(pygit2.Tree)
    reader = GitTreeReader(git.repo, tree)
    why = "registers one of: toy_fault"
    assert reader.read_if("drivers/toy/toy_file.c", lambda data: registers_any(data, {"toy_fault"}), why) is None
    (token,) = [v for k, v in reader.deps.items() if k == "f:drivers/toy/toy_file.c"]
    blob = f"blob {lookup(tree, 'drivers/toy/toy_file.c').id}"
    assert token.startswith("~") and reader.deps[token].splitlines() == [blob, why]
    deps = dict(reader.deps)

    def tree_with(text):
        if text is None:
            r.remove("drivers/toy/toy_file.c")
        else:
            r.write("drivers/toy/toy_file.c", text)
        r.commit("edit")
        return git.repo.revparse_single("HEAD").peel(pygit2.Tree)

    assert holds(git.repo, tree_with("/* toy_fault */\n" + TOY_FOPS), "f:drivers/toy/toy_file.c", token, deps)
    assert deps_hold(git.repo, tree_with("int x;\n" + TOY_FOPS), deps, memo={})
    assert not holds(git.repo, tree_with(TOY_REGISTERS), "f:drivers/toy/toy_file.c", token, deps)
    assert not holds(git.repo, tree_with(None), "f:drivers/toy/toy_file.c", token, deps)
    # A test this daxlint does not know (a newer one's): read the file again
    # - unless it is the blob the test was made on.
    assert not holds(git.repo, tree, "f:drivers/toy/toy_file.c", token, {token: "some other test"})
    assert holds(git.repo, tree, "f:drivers/toy/toy_file.c", token, {token: f"some other test\n{blob}"})
    assert not holds(git.repo, tree_with("int y;\n" + TOY_FOPS), "f:drivers/toy/toy_file.c", token, {token: f"some other test\n{blob}"})
    # Read in full as well: the blob id is what counts.
    reader.read("drivers/toy/toy_file.c")
    assert not reader.deps["f:drivers/toy/toy_file.c"].startswith("~")


def test_two_tests_of_one_file_both_hold_or_the_verdict_is_redone(tmp_path):
    """A verdict that tested a file twice - found it irrelevant, and read a
    fact of it - records both tests; another tree's file must pass both, and
    a replayed read joins the tests already made rather than replacing them."""
    from daxlint.analysis.driver import registers_any
    from daxlint.analysis.module import flag_helper_definitions
    from daxlint.audit.deps import holds
    from daxlint.sources.git import GitTreeReader

    r = ScratchRepo(tmp_path / "linux", version="6.1")
    r.write("drivers/toy/toy_file.c", TOY_FOPS)
    r.commit("base")
    git = GitRepo(r.path)
    tree = git.repo.revparse_single("HEAD").peel(pygit2.Tree)
    key = "f:drivers/toy/toy_file.c"
    # One verdict's reader tested it for registering a handler; another's
    # read a fact of it, then replays the first one's reads (a memo).
    first = GitTreeReader(git.repo, tree)
    found, replayed = first.reads_during(
        lambda: first.read_if("drivers/toy/toy_file.c", lambda data: registers_any(data, {"toy_fault"}), "registers one of: toy_fault")
    )
    assert found is None
    reader = GitTreeReader(git.repo, tree)
    assert reader.read_fact("drivers/toy/toy_file.c", "flag_helper_definitions", flag_helper_definitions) == frozenset()
    reader.replay(replayed)
    token = reader.deps[key]
    blob = f"blob {lookup(tree, 'drivers/toy/toy_file.c').id}"
    assert reader.deps[token].splitlines() == [blob, "fact flag_helper_definitions = ", "registers one of: toy_fault"]
    deps = dict(reader.deps)

    def tree_with(text):
        r.write("drivers/toy/toy_file.c", text)
        r.commit("edit")
        return git.repo.revparse_single("HEAD").peel(pygit2.Tree)

    assert holds(git.repo, tree_with("int x;\n" + TOY_FOPS), key, token, deps)
    helper = "static void toy_set(struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n}\n"
    assert not holds(git.repo, tree_with(helper + TOY_FOPS), key, token, deps)  # the fact changed
    assert not holds(git.repo, tree_with(TOY_REGISTERS), key, token, deps)  # the file became relevant


def test_scheduler_address_checked_and_an_unused_cluster_said(history, tmp_path):
    """A --scheduler that is no address is a usage error before any work; a
    range wholly in the store never reaches the cluster, and says so (a
    nightly job would otherwise not notice a broken cluster setup)."""
    code, _, err = run_daxlint("audit", "--repo", str(history.path), "--scheduler", "bogus://x", "HEAD~1..HEAD")
    assert code == 2 and err.strip().splitlines() == [
        "daxlint: error: --scheduler bogus://x: not a Dask scheduler address (tcp://host:8786, tls://..., host:port) or 'local'"
    ]
    db = str(tmp_path / "store.sqlite")
    run_daxlint("audit", "--repo", str(history.path), "--db", db, "HEAD~1..HEAD")
    code, out, err = run_daxlint(
        "audit", "--repo", str(history.path), "--db", db, "--scheduler", "tcp://127.0.0.1:1", "--format", "json", "HEAD~1..HEAD"
    )
    assert code in (0, 1), err
    assert "every commit came from the store: the Dask cluster (tcp://127.0.0.1:1) was not used" in json.loads(out)["notes"]


STACKED = """\
static int stackfs_mmap(struct file *file, struct vm_area_struct *vma)
{
	int ret = call_mmap(stackfs_lower(file), vma);

	if (ret)
		return ret;
	vma->vm_flags |= VM_DONTEXPAND;
	return 0;
}

static const struct file_operations stackfs_fops = {
	.mmap = stackfs_mmap,
};
"""


def test_respelling_a_change_keeps_its_finding(tmp_path):
    """A commit that turns the direct write after the lower ->mmap() into
    vm_flags_set() on the same line fixes DAX301 - and leaves the DAX303
    that sat there, which it neither fixes nor introduces."""
    r = ScratchRepo(tmp_path / "linux", version="6.12")
    r.write("fs/stackfs/file.c", "int x;\n")
    r.commit("base")
    r.write("fs/stackfs/file.c", STACKED)
    r.commit("stackfs: mmap")
    r.write("fs/stackfs/file.c", STACKED.replace("vma->vm_flags |= VM_DONTEXPAND;", "vm_flags_set(vma, VM_DONTEXPAND);"))
    r.commit("stackfs: use vm_flags_set")
    code, doc = audit_json(r, "HEAD~2..HEAD")
    assert [e for e in events(doc) if e[2] == "DAX303"] == [("stackfs: mmap", "introduced", "DAX303", "fs/stackfs/file.c", 7)]
    assert ("stackfs: use vm_flags_set", "fixed", "DAX301", "fs/stackfs/file.c", 7) in events(doc)


TOY_CALLER = """\
vm_fault_t toy_fault(struct vm_fault *vmf)
{
	toy_mark(vmf->vma);
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct toy_vm_ops = {
	.fault = toy_fault,
};
"""
TOY_MARKS_NOTHING = """\
void toy_mark(struct vm_area_struct *vma)
{
	pr_debug("toy: %lx\\n", vma->vm_start);
}
"""
TOY_MARKS = TOY_MARKS_NOTHING.replace('\tpr_debug("toy: %lx\\n", vma->vm_start);\n', "\tvm_flags_set(vma, VM_IO);\n")


def test_a_module_helper_that_starts_changing_flags_redoes_its_callers(tmp_path, monkeypatch):
    """toy_main.c's fault handler calls toy_mark() of toy_helpers.c, a file
    it has no token of DAX302's in: its verdict is the module's. An edit of
    the helper's file that leaves it changing no flags re-analyses nothing
    (the verdict read the file's helpers, not its bytes); the edit that
    makes toy_mark() change flags makes the call a DAX302 in toy_main.c, and
    taking it back fixes it - the audit agrees with a check of each tree."""
    _only_the_edit_that_matters_redoes(
        tmp_path,
        monkeypatch,
        "6.3",
        TOY_CALLER,
        (
            "drivers/toy/toy_helpers.c",
            TOY_MARKS_NOTHING,
            "/* toy_mark() is called by the fault handler */\n" + TOY_MARKS_NOTHING,
            TOY_MARKS,
        ),
        ("toy: mark the vma for I/O", "toy: do not"),
    )
