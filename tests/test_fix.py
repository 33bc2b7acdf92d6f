"""``daxlint check --fix`` beyond the before/after fixtures: what it may fix
(--select, suppressions, --diff, baselines, per-file ignores, safety), how
it writes (atomically, mode kept, never through a link out of the tree,
never over a file that changed), what it prints and exits with, and the
structured fix in JSON and SARIF."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest

from conftest import run_daxlint
from daxlint.core.spans import moved as _moved
from daxlint.core.textdiff import unified_diff
from daxlint.fix.edits import apply_fixes, choose
from daxlint.fix.write import replace_file
from daxlint.model import SAFE, UNSAFE, Edit, Finding, Fix, Severity

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())

DRIVER = """#include <linux/mm.h>

static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
\tvma->vm_flags |= VM_IO;
\tvma->vm_page_prot = vm_get_page_prot(vma->vm_flags);
\tvma->vm_flags &= ~VM_MAYWRITE;
\treturn 0;
}
"""
FIXED = DRIVER.replace("vma->vm_flags |= VM_IO;", "vm_flags_set(vma, VM_IO);").replace(
    "vma->vm_flags &= ~VM_MAYWRITE;", "vm_flags_clear(vma, VM_MAYWRITE);"
)


def check(cwd, *args):
    return run_daxlint("check", "--no-cache", "--kernel-version", "6.3", *args, cwd=cwd)


# -- edits ------------------------------------------------------------------------------


def _finding(line: int, fix: Fix | None) -> Finding:
    return Finding("DAX301", Severity.ERROR, "x.c", line, 1, "m", autofix=fix)


def test_edits_overlap_rules():
    a = Edit(10, 20, "x")
    assert a.overlaps(Edit(15, 25, "y")) and a.overlaps(Edit(12, 12, "ins"))
    assert not a.overlaps(Edit(20, 30, "y")) and not a.overlaps(Edit(20, 20, "at the end"))
    assert not a.overlaps(Edit(10, 20, "x"))  # the same edit is shared, not a conflict
    assert Edit(5, 5, "a").overlaps(Edit(5, 5, "b"))  # two insertions at one place: which first?


def test_overlapping_fix_waits_for_the_next_round_and_shared_edits_apply_once():
    data = b"0123456789"
    shared = Edit(0, 0, "#")
    f1 = Fix("one", SAFE, (Edit(2, 4, "ab"), shared))
    f2 = Fix("two", SAFE, (Edit(3, 6, "cd"),))
    f3 = Fix("three", SAFE, (Edit(8, 9, "Z"), shared))
    res = apply_fixes(data, [(f1, _finding(1, f1)), (f2, _finding(2, f2)), (f3, _finding(3, f3))])
    assert res.data == b"#01ab4567Z9"
    assert [f.line for f in res.fixed] == [1, 3]
    assert [f.line for f in res.deferred] == [2]


def test_a_fold_applies_only_with_the_findings_it_folds():
    both = Fix("fold", SAFE, (Edit(0, 1, "F"),), covers=((2, 1),), alone=Fix("alone", SAFE, (Edit(0, 1, "A"),)))
    mine = Finding("DAX301", Severity.ERROR, "x.c", 1, 1, "m", autofix=both)
    other = Finding("DAX301", Severity.ERROR, "x.c", 2, 1, "m", autofix=both)
    assert [fix.description for fix, _ in choose([mine, other], unsafe=False).fixes] == ["fold", "fold"]
    assert [fix.description for fix, _ in choose([mine], unsafe=False).fixes] == ["alone"]
    risky = Finding("DAX305", Severity.WARNING, "x.c", 3, 1, "m", autofix=Fix("drop", UNSAFE, (Edit(5, 6, ""),)))
    chosen = choose([risky, Finding("DAX101", Severity.ERROR, "x.c", 4, 1, "m", fix="words only")], unsafe=False)
    assert (len(chosen.fixes), len(chosen.unsafe), len(chosen.unfixable)) == (0, 1, 1)
    assert len(choose([risky], unsafe=True).fixes) == 1


def test_changed_lines_follow_the_edits():
    edits = [Edit(0, 0, "abc"), Edit(10, 12, "x"), Edit(30, 40, "0123456789ab")]
    assert _moved(5, 8, edits) == (8, 11)  # after an insertion
    assert _moved(11, 20, edits) == (13, 22)  # an edit inside grows the range to hold it
    assert _moved(30, 40, edits) == (32, 44)


def test_unified_diff_form():
    old = b"int a;\nstatic int f(void)\n{\n\treturn 1;\n}"
    new = b"int a;\nstatic int f(void)\n{\n\treturn 1;\n} /* f */"
    diff = unified_diff(old, new, "dir/x.c")
    assert diff.splitlines()[:4] == ["diff --git a/dir/x.c b/dir/x.c", "--- a/dir/x.c", "+++ b/dir/x.c", "@@ -2,4 +2,4 @@ int a;"]
    assert "-}\n\\ No newline at end of file\n+} /* f */\n\\ No newline at end of file\n" in diff
    assert unified_diff(old, old, "x.c") == ""
    body = b"".join(b"\tline %d\n" % i for i in range(20))
    changed = unified_diff(b"int f(void)\n" + body, b"int f(void)\n" + body.replace(b"line 12", b"LINE"), "y.c")
    assert "@@ -11,7 +11,7 @@ int f(void)\n" in changed  # the function the hunk is in, as git shows it


# -- writing ----------------------------------------------------------------------------


def test_writer_keeps_mode_and_refuses_changed_files(tmp_path):
    f = tmp_path / "a.c"
    f.write_bytes(b"old\n")
    os.chmod(f, 0o640)
    assert replace_file(str(f), b"old\n", b"new\n", [str(tmp_path)]) is None
    assert f.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    why = replace_file(str(f), b"old\n", b"newer\n", [str(tmp_path)])
    assert "changed while daxlint checked it" in why and f.read_bytes() == b"new\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".a.c.")]  # no temporary left behind


def test_writer_follows_links_only_inside_the_tree(tmp_path):
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (tree / "real.c").write_bytes(b"a\n")
    (outside / "elsewhere.c").write_bytes(b"a\n")
    os.symlink("real.c", tree / "link.c")
    os.symlink(outside / "elsewhere.c", tree / "out.c")
    assert replace_file(str(tree / "link.c"), b"a\n", b"b\n", [str(tree)]) is None
    assert os.path.islink(tree / "link.c") and (tree / "real.c").read_bytes() == b"b\n"
    why = replace_file(str(tree / "out.c"), b"a\n", b"b\n", [str(tree)])
    assert "outside" in why and (outside / "elsewhere.c").read_bytes() == b"a\n"


def test_hard_linked_copy_keeps_its_bytes(tmp_path):
    """A cp -al copy of a tree: fixing one name does not write the other."""
    (tmp_path / "orig").mkdir()
    (tmp_path / "copy").mkdir()
    (tmp_path / "orig" / "drv.c").write_text(DRIVER)
    os.link(tmp_path / "orig" / "drv.c", tmp_path / "copy" / "drv.c")
    code, out, err = check(tmp_path / "copy", "--fix", "drv.c")
    assert code == 0, out + err
    assert (tmp_path / "copy" / "drv.c").read_text() == FIXED
    assert (tmp_path / "orig" / "drv.c").read_text() == DRIVER


def test_fix_refuses_a_symlink_out_of_the_tree(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    (tmp_path / "drv.c").write_text(DRIVER)
    os.symlink(tmp_path / "drv.c", tree / "drv.c")
    code, out, err = check(tree, "--fix", ".")
    assert code == 1
    assert "drv.c: not fixed: a symbolic link to" in out and "outside the paths named (.)" in out
    assert (tmp_path / "drv.c").read_text() == DRIVER


# -- the command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("--dry-run",), "--dry-run needs --fix"),
        (("--unsafe-fixes",), "--unsafe-fixes needs --fix"),
        (("--fix", "--write-baseline", "b.json"), "--fix cannot be combined with --write-baseline"),
        (("--fix", "--dry-run", "--format", "json"), "--fix --dry-run prints a diff; it takes no --format"),
        (("--fix", "--fix-style", "macro"), "Invalid value for '--fix-style'"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, *args, "drv.c")
    assert code == 2
    assert message in err
    assert (tmp_path / "drv.c").read_text() == DRIVER


def test_fix_in_place_then_nothing_left(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, "--fix", "drv.c")
    assert code == 0, out + err
    assert (tmp_path / "drv.c").read_text() == FIXED
    assert "note: fixed 2 findings in 1 file" in out
    assert "No findings in 1 file" in out
    code, out, err = check(tmp_path, "--fix", "drv.c")
    assert code == 0 and "fixed 0 findings in 0 files" in out


def test_fix_reports_what_is_left_and_exits_1(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER.replace("\treturn 0;", "\tvma->vm_flags++;\n\treturn 0;"))
    code, out, err = check(tmp_path, "--fix", "--format", "json", "drv.c")
    assert code == 1
    doc = json.loads(out)
    assert [(f["rule_id"], f["line"]) for f in doc["findings"]] == [("DAX301", 8)]
    assert doc["fix"] == {"fixed": 2, "files": [{"path": "drv.c", "fixed": 2}], "unsafe_left": 0}
    assert "1 finding without an automatic fix" in doc["notes"]


TOY_FAULT = """#include <linux/mm.h>

vm_fault_t toy_fault(struct vm_fault *vmf)
{
\tstruct vm_area_struct *vma = vmf->vma;

\tif (remap_pfn_range(vma, vma->vm_start, 0, PAGE_SIZE, vma->vm_page_prot))
\t\treturn VM_FAULT_SIGBUS;
\treturn VM_FAULT_NOPAGE;
}
"""
TOY_MAIN = """#include <linux/mm.h>

vm_fault_t toy_fault(struct vm_fault *vmf);

static const struct vm_operations_struct toy_vm_ops;

static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
\tvma->vm_flags |= VM_IO;
\tvma->vm_ops = &toy_vm_ops;
\treturn 0;
}

static const struct vm_operations_struct toy_vm_ops = {
\t.fault = toy_fault,
};
"""


@pytest.mark.parametrize("cache", [["--no-cache"], []], ids=["no-cache", "cache"])
def test_the_report_after_a_fix_has_the_fixed_files_lines(tmp_path, cache):
    """A finding in a file the fix did not touch names a line of one it did
    (the fault handler's registration in the driver's other file): the
    report after the fix names the line it is on now."""
    drv = tmp_path / "drivers" / "misc" / "toy"
    drv.mkdir(parents=True)
    (drv / "Makefile").write_text("obj-m += toy.o\ntoy-y := toy_main.o toy_fault.o\n")
    (drv / "toy_fault.c").write_text(TOY_FAULT)
    (drv / "toy_main.c").write_text(TOY_MAIN)
    args = ["check", *cache, "--kernel-version", "6.1..6.8", "--format", "json", "."]
    code, out, err = run_daxlint(*args, cwd=tmp_path)
    [(rule, path, line, message)] = [
        (f["rule_id"], f["path"], f["line"], f["message"]) for f in json.loads(out)["findings"] if f["rule_id"] == "DAX302"
    ]
    assert (rule, path, line) == ("DAX302", "drivers/misc/toy/toy_fault.c", 7) and "toy_main.c:15" in message
    code, out, err = run_daxlint(*args[:-1], "--fix", ".", cwd=tmp_path)
    assert code == 1, err
    fixed = (drv / "toy_main.c").read_text().splitlines()
    assert fixed.index("\t.fault = toy_fault,") + 1 == 20  # the guarded call took four lines more
    doc = json.loads(out)
    assert [(f["rule_id"], f["path"], f["line"]) for f in doc["findings"]] == [("DAX302", "drivers/misc/toy/toy_fault.c", 7)]
    assert "toy_main.c:20" in doc["findings"][0]["message"]
    assert doc["fix"]["fixed"] == 1 and "1 finding without an automatic fix" in doc["notes"]


def test_dry_run_writes_nothing(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, "--fix", "--dry-run", "drv.c")
    assert code == 1
    assert out.startswith("diff --git a/drv.c b/drv.c\n")
    assert "+\tvm_flags_set(vma, VM_IO);\n" in out
    assert "daxlint: would fix 2 findings in 1 file" in err
    assert (tmp_path / "drv.c").read_text() == DRIVER
    code, out, err = check(tmp_path, "--fix", "--dry-run", "--exit-zero", "drv.c")
    assert code == 0 and out


def test_select_ignore_and_suppressions_limit_the_fix(tmp_path):
    (tmp_path / "drv.c").write_text(
        DRIVER.replace("\tvma->vm_flags &= ~VM_MAYWRITE;", "\tvma->vm_flags &= ~VM_MAYWRITE; /* daxlint: ignore[DAX301] */")
    )
    code, out, err = check(tmp_path, "--fix", "--select", "DAX305", "drv.c")
    assert code == 0 and "vma->vm_flags |= VM_IO;" in (tmp_path / "drv.c").read_text()
    code, out, err = check(tmp_path, "--fix", "--ignore", "DAX301", "drv.c")
    assert "vma->vm_flags |= VM_IO;" in (tmp_path / "drv.c").read_text()
    code, out, err = check(tmp_path, "--fix", "drv.c")
    text = (tmp_path / "drv.c").read_text()
    assert "vm_flags_set(vma, VM_IO);" in text
    assert "vma->vm_flags &= ~VM_MAYWRITE; /* daxlint: ignore[DAX301] */" in text  # suppressed: left alone


def test_per_file_ignores_limit_the_fix(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    (tmp_path / ".daxlint.toml").write_text('[per-file-ignores]\n"drv.c" = ["DAX301"]\n')
    code, out, err = check(tmp_path, "--fix", "drv.c")
    assert code == 0
    assert (tmp_path / "drv.c").read_text() == DRIVER


def _git(repo: Path, *args: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org"
    )
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def test_diff_gate_fixes_only_changed_lines(tmp_path):
    """--diff REV: a write on a changed line is fixed, an old one is not -
    and a fold with the old one is not made."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    old = DRIVER.replace("\tvma->vm_page_prot = vm_get_page_prot(vma->vm_flags);\n", "")
    (repo / "drv.c").write_text(old)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    (repo / "drv.c").write_text(old.replace("\tvma->vm_flags &= ~VM_MAYWRITE;", "\tvma->vm_flags &= ~VM_MAYEXEC;"))
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.3", "--diff", "HEAD", "--fix", "--dry-run", ".", cwd=repo)
    assert code == 1, err
    assert "+\tvm_flags_clear(vma, VM_MAYEXEC);\n" in out
    assert "vm_flags_mod" not in out and "vm_flags_set" not in out
    assert "would fix 1 finding in 1 file" in err


def test_baseline_findings_are_not_fixed(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, "--write-baseline", "base.json", "drv.c")
    assert code == 0
    (tmp_path / "drv.c").write_text(DRIVER.replace("\treturn 0;", "\tvma->vm_flags |= VM_DONTDUMP;\n\treturn 0;"))
    code, out, err = check(tmp_path, "--baseline", "base.json", "--fix", "drv.c")
    assert code == 0, out
    text = (tmp_path / "drv.c").read_text()
    assert "vm_flags_set(vma, VM_DONTDUMP);" in text
    assert "vma->vm_flags |= VM_IO;" in text and "vma->vm_flags &= ~VM_MAYWRITE;" in text


def test_unsafe_fixes_need_the_flag(tmp_path):
    src = (
        "static int toyfs_mmap(struct file *file, struct vm_area_struct *vma)\n{\n"
        "\tif (IS_DAX(file_inode(file)))\n\t\tvm_flags_set(vma, VM_MIXEDMAP | VM_HUGEPAGE);\n\treturn 0;\n}\n"
    )
    (tmp_path / "fs.c").write_text(src)
    code, out, err = check(tmp_path, "--select", "DAX305", "--fix", "fs.c")
    assert code == 1 and "1 finding with an unsafe fix left (apply with --unsafe-fixes)" in out
    assert (tmp_path / "fs.c").read_text() == src
    code, out, err = check(tmp_path, "--select", "DAX305", "--fix", "--unsafe-fixes", "fs.c")
    assert code == 0, out
    assert "\t\tvm_flags_set(vma, VM_HUGEPAGE);\n" in (tmp_path / "fs.c").read_text()


def test_fixes_of_two_rules_on_one_line_reach_a_fixed_point(tmp_path):
    src = (
        "static int toyfs_mmap(struct file *file, struct vm_area_struct *vma)\n{\n"
        "\tif (IS_DAX(file_inode(file)))\n\t\tvma->vm_flags |= VM_MIXEDMAP | VM_HUGEPAGE;\n\treturn 0;\n}\n"
    )
    (tmp_path / "fs.c").write_text(src)
    code, out, err = check(tmp_path, "--select", "DAX301,DAX305", "--fix", "--unsafe-fixes", "fs.c")
    assert code == 0, out
    assert "\t\tvm_flags_set(vma, VM_HUGEPAGE);\n" in (tmp_path / "fs.c").read_text()
    assert "fixed 2 findings" in out


def test_unused_suppression_fix(tmp_path):
    src = "static int f(struct vm_area_struct *vma)\n{\n\t/* daxlint: ignore[DAX301] */\n\tvm_flags_set(vma, VM_IO);\n\treturn 0; // daxlint: ignore\n}\n"
    (tmp_path / "s.c").write_text(src)
    code, out, err = check(tmp_path, "--fix", "s.c")
    assert code == 0, out
    assert (tmp_path / "s.c").read_text() == "static int f(struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}\n"
    (tmp_path / "s.c").write_text(src)
    code, out, err = check(tmp_path, "--select", "DAX301,DAX001", "--fix", "s.c")
    # the bare one may be meant for a rule this run left out
    assert (tmp_path / "s.c").read_text() == src.replace("\t/* daxlint: ignore[DAX301] */\n", "")
    assert "1 finding with an unsafe fix left" in out


def test_suppression_needed_by_part_of_the_range_is_not_unused(tmp_path):
    (tmp_path / "s.c").write_text(
        "static int f(struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO; /* daxlint: ignore[DAX301] */\n\treturn 0;\n}\n"
    )
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.1..6.12", "--select", "DAX301,DAX001", "s.c", cwd=tmp_path)
    assert code == 0, out
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "6.1", "--select", "DAX301,DAX001", "--fail-on", "info", "s.c", cwd=tmp_path
    )
    assert code == 1 and "DAX001" in out


def test_suppression_of_a_rule_the_versions_lack_is_unused(tmp_path):
    """The prefilter of a 6.1 run does not look for the 7.x rules' tokens,
    but a file that names daxlint is scanned for every finder's: its
    suppression of DAX308 (mmap_prepare, v6.17+) silences nothing on 6.1."""
    (tmp_path / "s.c").write_text(
        "static int f(struct vm_area_desc *desc)\n{\n\t/* daxlint: ignore[DAX308] */\n\treturn 0;\n}\n"
        "static const struct file_operations fops = {\n\t.mmap_prepare = f,\n};\n"
    )
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.1", "--fail-on", "info", "s.c", cwd=tmp_path)
    assert code == 1 and "s.c:3:" in out and "DAX001" in out, out


def test_json_and_sarif_carry_the_structured_fix(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    data = (tmp_path / "drv.c").read_bytes()
    code, out, err = check(tmp_path, "--format", "json", "drv.c")
    first = json.loads(out)["findings"][0]
    assert first["fix"]["text"] == "vm_flags_set(vma, VM_IO)"
    assert first["fix"]["safety"] == "safe"
    (edit,) = first["fix"]["edits"]
    assert (edit["path"], data[edit["start"] : edit["end"]]) == ("drv.c", b"vma->vm_flags |= VM_IO")
    code, out, err = check(tmp_path, "--format", "sarif", "drv.c")
    doc = json.loads(out)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    result = doc["runs"][0]["results"][0]
    (fix,) = result["fixes"]
    assert fix["properties"]["safety"] == "safe"
    (change,) = fix["artifactChanges"]
    (rep,) = change["replacements"]
    region = rep["deletedRegion"]
    assert data[region["byteOffset"] : region["byteOffset"] + region["byteLength"]] == b"vma->vm_flags |= VM_IO"
    assert rep["insertedContent"]["text"] == "vm_flags_set(vma, VM_IO)"
    words_only = [r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "DAX101"][0]
    assert words_only["properties"]["fix"] == "none"


def test_text_output_keeps_the_fix_words(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, "--format", "checkpatch", "drv.c")
    assert "vm_flags_set(vma, VM_IO)" in out


def test_cached_findings_keep_their_fixes(tmp_path):
    """The result cache stores the structured fix: a warm run fixes the same."""
    (tmp_path / "drv.c").write_text(DRIVER)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    code, cold, _ = run_daxlint("check", "--kernel-version", "6.3", "--format", "json", "drv.c", cwd=tmp_path, env=env)
    code, warm, _ = run_daxlint("check", "--kernel-version", "6.3", "--format", "json", "drv.c", cwd=tmp_path, env=env)
    assert json.loads(cold)["findings"] == json.loads(warm)["findings"]
    code, out, err = run_daxlint("check", "--kernel-version", "6.3", "--fix", "drv.c", cwd=tmp_path, env=env)
    assert code == 0 and (tmp_path / "drv.c").read_text() == FIXED


def test_paths_relative_to_the_git_top(tmp_path):
    repo = tmp_path / "repo"
    (repo / "drivers" / "toy").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "drivers" / "toy" / "drv.c").write_text(DRIVER)
    code, out, err = check(repo / "drivers" / "toy", "--fix", "--dry-run", "drv.c")
    assert out.startswith("diff --git a/drivers/toy/drv.c b/drivers/toy/drv.c\n")
    (repo / "fix.patch").write_text(out)
    subprocess.run(["git", "apply", "fix.patch"], cwd=repo, check=True)
    assert (repo / "drivers" / "toy" / "drv.c").read_text() == FIXED


def test_unsafe_shapes_are_marked_unsafe(tmp_path):
    """A chained assignment and a write to the private field have fixes,
    but only unsafe ones: --fix alone leaves them."""
    src = (
        "static void f(struct vm_area_struct *vma, struct vm_region *region)\n{\n"
        "\tregion->vm_flags = vma->vm_flags |= VM_MAPPED_COPY;\n\tvma->__vm_flags |= VM_IO;\n}\n"
    )
    (tmp_path / "u.c").write_text(src)
    code, out, err = check(tmp_path, "--format", "json", "u.c")
    assert [(f["line"], f["fix"]["safety"]) for f in json.loads(out)["findings"]] == [(3, "unsafe"), (4, "unsafe")]
    code, out, err = check(tmp_path, "--fix", "u.c")
    assert code == 1 and (tmp_path / "u.c").read_text() == src
    assert "2 findings with an unsafe fix left" in out


COMPAT_H = """\
#ifndef _TOY_COMPAT_H
#define _TOY_COMPAT_H
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif
#endif
"""
MAIN_C = """\
#include <linux/mm.h>
#include "compat.h"

static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
	vma->vm_flags |= VM_IO | VM_DONTDUMP;
	return 0;
}

static const struct file_operations toy_fops = {
	.mmap = toy_mmap,
};
"""


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("style", ["guard", "shim"])
def test_a_shim_in_an_included_header_is_called_not_defined_again(tmp_path, style, nested):
    """The driver's compat.h shims vm_flags_set() before v6.3 (itself, or in
    a header it includes): over 6.1..6.12 the fix is the plain call in either
    style (a second shim in the .c file was a redefinition that broke the 6.1
    build), and the headers are left alone."""
    if nested:
        (tmp_path / "compat_mm.h").write_text(COMPAT_H)
        (tmp_path / "compat.h").write_text('#include "compat_mm.h"\n')
    else:
        (tmp_path / "compat.h").write_text(COMPAT_H)
    (tmp_path / "main.c").write_text(MAIN_C)
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.1..6.12", "--fix-style", style, "--fix", ".", cwd=tmp_path)
    assert code == 0, out + err
    assert (tmp_path / "main.c").read_text() == MAIN_C.replace(
        "vma->vm_flags |= VM_IO | VM_DONTDUMP;", "vm_flags_set(vma, VM_IO | VM_DONTDUMP);"
    )
    assert (tmp_path / ("compat_mm.h" if nested else "compat.h")).read_text() == COMPAT_H
