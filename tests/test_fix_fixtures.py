"""Before/after fixtures for ``daxlint check --fix``, semgrep style: every
``tests/fixtures/fix/<name>.c`` (or ``.h``) is fixed in a scratch copy and
must become ``<name>.fixed.c`` byte for byte; a second run must change
nothing. The first lines say how to check it:
``/* daxlint-fixture: kernel-version=4.14..6.12 fix-style=shim unsafe-fixes */``;
``macro=NAME:>=6.3`` declares a conftest macro in the tree's [macros].

``DAXLINT_UPDATE_FIX_FIXTURES=1 pytest tests/test_fix_fixtures.py`` writes
the .fixed files from the current code - review their diff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_daxlint

FIX_DIR = FIXTURES / "fix"
SOURCES = sorted(p for p in FIX_DIR.iterdir() if p.suffix in (".c", ".h") and ".fixed." not in p.name)
_CONFIG = re.compile(rb"daxlint-fixture:\s*([^*\n]+)")


def fixed_path(src: Path) -> Path:
    return src.with_name(f"{src.stem}.fixed{src.suffix}")


def config(src: Path) -> dict[str, str]:
    m = _CONFIG.search(src.read_bytes()[:400])
    out: dict[str, str] = {}
    for item in m.group(1).decode().split() if m else []:
        k, _, v = item.partition("=")
        out[k] = v or "1"
    return out


def fix_args(src: Path, *extra: str) -> list[str]:
    cfg = config(src)
    args = ["check", "--no-cache", "--kernel-version", cfg.get("kernel-version", "6.3"), "--select", cfg.get("select", "DAX301")]
    if "fix-style" in cfg:
        args += ["--fix-style", cfg["fix-style"]]
    if "unsafe-fixes" in cfg:
        args.append("--unsafe-fixes")
    return args + list(extra)


def copy_in(work: Path, src: Path) -> Path:
    """The fixture in a scratch tree, with the [macros] it declares."""
    work.mkdir()
    target = work / src.name
    shutil.copyfile(src, target)
    if "macro" in config(src):
        name, _, spec = config(src)["macro"].partition(":")
        (work / ".daxlint.toml").write_text(f'[macros]\n{name} = "{spec}"\n')
    return target


def run_fix(work: Path, src: Path, *extra: str):
    return run_daxlint(*fix_args(src, "--fix", *extra, src.name), cwd=work)


@pytest.mark.parametrize("src", SOURCES, ids=[p.name for p in SOURCES])
def test_fix_gives_the_fixed_file(tmp_path: Path, src: Path):
    work = tmp_path / "tree"
    target = copy_in(work, src)
    code, out, err = run_fix(work, src)
    assert code in (0, 1), err
    got = target.read_bytes()
    expected = fixed_path(src)
    if os.environ.get("DAXLINT_UPDATE_FIX_FIXTURES"):
        expected.write_bytes(got)
    assert expected.exists(), f"{expected.name} is missing (DAXLINT_UPDATE_FIX_FIXTURES=1 writes it)"
    assert got == expected.read_bytes()
    # A second run changes nothing, and its dry run has nothing to say.
    code2, out2, err2 = run_fix(work, src)
    assert target.read_bytes() == got
    code3, diff, err3 = run_fix(work, src, "--dry-run")
    assert (code3, diff) == (0, ""), err3


@pytest.mark.parametrize("src", SOURCES, ids=[p.name for p in SOURCES])
def test_dry_run_patch_applies_and_gives_the_same_file(tmp_path: Path, src: Path):
    """The --dry-run diff is what --fix writes: git apply turns the original
    into the fixed file."""
    work = tmp_path / "tree"
    copy_in(work, src)
    # -o: the patch's bytes as written (a pipe in text mode would fold CRLF).
    code, out, err = run_daxlint(*fix_args(src, "--fix", "--dry-run", "-o", "fix.patch", src.name), cwd=work)
    diff = (work / "fix.patch").read_bytes()
    changes = src.read_bytes() != fixed_path(src).read_bytes()
    assert code == (1 if changes else 0), err
    assert bool(diff) == changes
    assert out == ""
    if not changes:
        return
    assert diff.startswith(f"diff --git a/{src.name} b/{src.name}\n".encode())
    assert "would fix" in err
    proc = subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    subprocess.run(["git", "apply", "fix.patch"], cwd=work, check=True)
    assert (work / src.name).read_bytes() == fixed_path(src).read_bytes()


def test_every_fixture_has_its_fixed_file():
    assert SOURCES
    missing = [p.name for p in SOURCES if not fixed_path(p).exists()]
    assert not missing
    orphans = [p.name for p in FIX_DIR.iterdir() if ".fixed." in p.name and p.name.replace(".fixed", "") not in {s.name for s in SOURCES}]
    assert not orphans
