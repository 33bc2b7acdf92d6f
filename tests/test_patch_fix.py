"""``daxlint patch --fix``: a contributor's series written again with its
findings fixed, as format-patch files that ``git am`` applies, each patch
keeping its headers and message."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_daxlint

BASE = """#include <linux/mm.h>

static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
\treturn 0;
}
"""
ENV = {
    "GIT_AUTHOR_NAME": "A Developer",
    "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "A Developer",
    "GIT_COMMITTER_EMAIL": "dev@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **ENV, "HOME": str(repo)}
    )
    return proc.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def series(tmp_path):
    """A kernel-ish tree (v6.6) and a two-patch series against it: patch 1
    adds direct writes, patch 2 adds a line next to them."""
    repo = tmp_path / "tree"
    (repo / "drivers" / "toy").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL = 0\n")
    (repo / "drivers" / "toy" / "toy.c").write_text(BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    toy = repo / "drivers" / "toy" / "toy.c"
    edit(toy, "\treturn 0;", "\tvma->vm_flags |= VM_IO;\n\tvma->vm_flags &= ~VM_MAYWRITE;\n\treturn 0;")
    git(repo, "commit", "-qam", "toy: map the registers as IO", "-m", "The device's window is MMIO.")
    edit(toy, "\treturn 0;", "\tvma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);\n\treturn 0;")
    git(repo, "commit", "-qam", "toy: map uncached")
    out = tmp_path / "out"
    git(repo, "format-patch", "-q", "-2", "-o", str(out))
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    return repo, sorted(out.iterdir())


FINAL = BASE.replace(
    "\treturn 0;", "\tvm_flags_mod(vma, VM_IO, VM_MAYWRITE);\n\tvma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);\n\treturn 0;"
)


def test_fix_dir_writes_a_series_git_am_applies(series, tmp_path):
    repo, patches = series
    fixed = tmp_path / "fixed"
    code, out, err = run_daxlint("patch", "--tree", str(repo), "--fix", "--fix-dir", str(fixed), *map(str, patches), cwd=tmp_path)
    assert code == 0, out + err
    assert "wrote 2 patch files to" in out and "fixed 2 findings in 2 patches" in out
    written = sorted(fixed.iterdir())
    assert [p.name for p in written] == [p.name for p in patches]
    first = written[0].read_text()
    original = patches[0].read_text()
    # Headers and message as they were; the hunk, the diffstat and the index line fixed.
    head = original.split("\n---\n", 1)[0]
    assert first.startswith(head + "\n---\n")
    assert "+\tvm_flags_mod(vma, VM_IO, VM_MAYWRITE);\n" in first and "vm_flags |=" not in first
    assert " drivers/toy/toy.c | 1 +\n 1 file changed, 1 insertion(+)\n" in first
    assert first.endswith(original[original.rindex("\n-- \n") :])
    git(repo, "am", "-q", *map(str, written))
    assert (repo / "drivers" / "toy" / "toy.c").read_text() == FINAL
    assert git(repo, "log", "--format=%s", "-2").splitlines() == ["toy: map uncached", "toy: map the registers as IO"]
    # The inputs are untouched, and the fixed series checks clean.
    assert patches[0].read_text() == original
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    code, out, err = run_daxlint("patch", "--tree", str(repo), *map(str, written), cwd=tmp_path)
    assert code == 0, out


def test_git_range_gets_format_patch_names(series, tmp_path):
    repo, patches = series
    git(repo, "am", "-q", *map(str, patches))
    fixed = tmp_path / "fixed"
    code, out, err = run_daxlint("patch", "--git", "HEAD~2..HEAD", "--fix", "--fix-dir", str(fixed), cwd=repo)
    assert code == 0, out + err
    assert [p.name for p in sorted(fixed.iterdir())] == ["0001-toy-map-the-registers-as-IO.patch", "0002-toy-map-uncached.patch"]
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    git(repo, "am", "-q", *map(str, sorted(fixed.iterdir())))
    assert (repo / "drivers" / "toy" / "toy.c").read_text() == FINAL


def test_dry_run_prints_the_series(series, tmp_path):
    repo, patches = series
    code, out, err = run_daxlint("patch", "--tree", str(repo), "--fix", "--dry-run", *map(str, patches), cwd=tmp_path)
    assert code == 1
    assert out.count("\nSubject: [PATCH ") == 2 and "+\tvm_flags_mod(vma, VM_IO, VM_MAYWRITE);\n" in out
    assert "daxlint: would fix 2 findings in 2 patches" in err
    mbox = tmp_path / "series.mbox"
    mbox.write_text(out)
    git(repo, "am", "-q", str(mbox))
    assert (repo / "drivers" / "toy" / "toy.c").read_text() == FINAL


def test_in_place(series, tmp_path):
    repo, patches = series
    code, out, err = run_daxlint("patch", "--tree", str(repo), "--fix", "--in-place", *map(str, patches), cwd=tmp_path)
    assert code == 0, out + err
    assert "vm_flags_mod" in patches[0].read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--fix",), "--fix needs --fix-dir DIR"),
        (("--fix-dir", "x"), "--fix-dir and --in-place need --fix"),
        (("--fix", "--fix-dir", "x", "--in-place"), "not both"),
    ],
)
def test_usage_errors(series, tmp_path, args, message):
    repo, patches = series
    code, out, err = run_daxlint("patch", "--tree", str(repo), *args, *map(str, patches), cwd=tmp_path)
    assert code == 2 and message in err


def test_never_overwrites_the_input_files(series, tmp_path):
    repo, patches = series
    before = patches[0].read_bytes()
    code, out, err = run_daxlint(
        "patch", "--tree", str(repo), "--fix", "--fix-dir", str(patches[0].parent), *map(str, patches), cwd=tmp_path
    )
    assert code == 2 and "is the input file itself (use --in-place" in err
    assert patches[0].read_bytes() == before
    code, out, err = run_daxlint("patch", "--git", "HEAD", "--fix", "--in-place", cwd=repo)
    assert code == 2 and "with --git or standard input use --fix-dir" in err


def test_without_a_tree_only_new_files_are_fixed(tmp_path):
    repo = tmp_path / "tree"
    (repo / "drivers" / "toy").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "drivers" / "toy" / "old.c").write_text(BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "drivers" / "toy" / "new.c").write_text(BASE.replace("\treturn 0;", "\tvma->vm_flags |= VM_IO;\n\treturn 0;"))
    edit(repo / "drivers" / "toy" / "old.c", "\treturn 0;", "\tvma->vm_flags |= VM_IO;\n\treturn 0;")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "toy: two files")
    git(repo, "format-patch", "-q", "-1", "-o", str(tmp_path / "out"))
    (patch,) = (tmp_path / "out").iterdir()
    code, out, err = run_daxlint(
        "patch", "--kernel-version", "6.6", "--fix", "--fix-dir", str(tmp_path / "fixed"), str(patch), cwd=tmp_path
    )
    assert code == 1, out + err
    fixed = (tmp_path / "fixed" / patch.name).read_text()
    assert "+\tvm_flags_set(vma, VM_IO);\n" in fixed  # new.c: the whole file is in the patch
    assert "+\tvma->vm_flags |= VM_IO;\n" in fixed  # old.c: only its hunk is known
    assert "drivers/toy/old.c not fixed: without --tree the file around the hunks is unknown" in out
    assert "drivers/toy/old.c:5:2: error[DAX301]" in out


def test_a_patch_left_empty_is_named(tmp_path):
    """The author converted the write in patch 2 himself: once patch 1 is
    fixed, patch 2 changes nothing."""
    repo = tmp_path / "tree"
    (repo / "drivers" / "toy").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL = 0\n")
    toy = repo / "drivers" / "toy" / "toy.c"
    toy.write_text(BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    edit(toy, "\treturn 0;", "\tvma->vm_flags |= VM_IO;\n\treturn 0;")
    git(repo, "commit", "-qam", "toy: IO")
    edit(toy, "\tvma->vm_flags |= VM_IO;", "\tvm_flags_set(vma, VM_IO);")
    git(repo, "commit", "-qam", "toy: use the wrapper")
    git(repo, "format-patch", "-q", "-2", "-o", str(tmp_path / "out"))
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    patches = sorted((tmp_path / "out").iterdir())
    code, out, err = run_daxlint(
        "patch", "--tree", str(repo), "--fix", "--fix-dir", str(tmp_path / "fixed"), *map(str, patches), cwd=tmp_path
    )
    assert code == 0, out + err
    assert 'patch 2 ("toy: use the wrapper") changes nothing once the series is fixed: drop it' in out
    second = (tmp_path / "fixed" / patches[1].name).read_text()
    assert "diff --git" not in second


def test_hunk_only_findings_carry_no_edits(tmp_path):
    """Without the tree the rules see pieced-together hunks: the JSON fix of
    a finding there is words only, never offsets into no file."""
    repo = tmp_path / "tree"
    (repo / "drivers").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "drivers" / "old.c").write_text(BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    edit(repo / "drivers" / "old.c", "\treturn 0;", "\tvma->vm_flags |= VM_IO;\n\treturn 0;")
    git(repo, "commit", "-qam", "toy: io")
    git(repo, "format-patch", "-q", "-1", "-o", str(tmp_path / "out"))
    (patch,) = (tmp_path / "out").iterdir()
    code, out, err = run_daxlint("patch", "--kernel-version", "6.6", "--format", "json", str(patch), cwd=tmp_path)
    (finding,) = json.loads(out)["findings"]
    assert finding["fix"] == {
        "text": "vm_flags_set(vma, VM_IO)",
        "description": "vm_flags_set(vma, VM_IO)",
        "safety": "display-only",
        "edits": [],
    }


# A driver's ->mmap for Linux 7.3, and what DAX310's conversion makes of it.
PREPARE_DRIVER = FIXTURES / "fix" / "prepare_iomap_7_3.c"


def test_patch_fix_sends_the_conversion(tmp_path):
    """A series adding a driver to a 7.3 tree, written again by ``patch
    --fix --unsafe-fixes``: the patch carries the converted handler, ``git
    am`` applies it, and the result checks clean."""
    repo = tmp_path / "tree"
    (repo / "drivers" / "toy").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "drivers" / "toy" / "toy.c").write_bytes(PREPARE_DRIVER.read_bytes())
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "toy: a register window", "-m", "Userspace maps the device's registers.")
    out_dir = tmp_path / "out"
    git(repo, "format-patch", "-q", "-1", "-o", str(out_dir))
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    [patch] = sorted(out_dir.iterdir())
    fixed = tmp_path / "fixed"
    code, out, err = run_daxlint(
        "patch", "--tree", str(repo), "--select", "DAX310", "--fix", "--unsafe-fixes", "--fix-dir", str(fixed), str(patch), cwd=tmp_path
    )
    assert code == 0, out + err
    [written] = sorted(fixed.iterdir())
    text = written.read_text()
    assert text.startswith(patch.read_text().split("\n---\n", 1)[0])  # headers and message kept
    assert "+static int toy_mmap_prepare(struct vm_area_desc *desc)" in text and "+\t.mmap_prepare\t= toy_mmap_prepare," in text
    git(repo, "am", "-q", str(written))
    assert (repo / "drivers" / "toy" / "toy.c").read_bytes() == PREPARE_DRIVER.with_name("prepare_iomap_7_3.fixed.c").read_bytes()
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX310", "drivers/toy/toy.c", cwd=repo)
    assert code == 0 and "No findings" in out, out + err
