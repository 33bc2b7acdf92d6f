"""Fixed code builds for real: a small out-of-tree driver written for 6.1
(tests/fixtures/kbuild/toydrv, direct vm_flags writes in its ->mmap, a
vm_ops->open, a helper and a header's inline function) is fixed for 6.1..6.12 and compiled with Kbuild
against Debian's linux-headers for 6.1 and for 6.12. Unfixed, it builds on
6.1 and fails on 6.12; fixed - with version tests or with compat shims -
it builds on both.

Needs ``linux-headers-amd64`` (6.1), ``linux-headers-6.12-amd64``, gcc and
make (``.ci/run`` installs them); skips, saying which is missing, without."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_daxlint

DRIVER = FIXTURES / "kbuild" / "toydrv"


def _headers(series: str) -> str | None:
    """The newest /usr/src/linux-headers-<series>.N-...-amd64 (the ABI number
    changes with Debian updates, so it is looked for, not spelled)."""
    found = sorted(glob.glob(f"/usr/src/linux-headers-{series}.*-amd64"))
    return found[-1] if found else None


HEADERS = {series: _headers(series) for series in ("6.1", "6.12")}


def _need_tools() -> None:
    missing = [series for series, path in HEADERS.items() if path is None]
    if missing:
        pytest.skip(f"no /usr/src/linux-headers-{missing[0]}.*-amd64 (apt-get install linux-headers-amd64 linux-headers-6.12-amd64)")
    for tool in ("make", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _build(module: Path, series: str) -> subprocess.CompletedProcess:
    headers = HEADERS[series]
    subprocess.run(["make", "-s", "-C", headers, f"M={module}", "clean"], capture_output=True, text=True)
    return subprocess.run(["make", "-s", "-C", headers, f"M={module}", "modules"], capture_output=True, text=True, timeout=600)


def _copy(tmp_path: Path) -> Path:
    module = tmp_path / "toydrv"
    shutil.copytree(DRIVER, module)
    return module


def test_unfixed_driver_fails_on_6_12(tmp_path):
    _need_tools()
    module = _copy(tmp_path)
    built = _build(module, "6.1")
    assert built.returncode == 0, built.stderr
    assert (module / "toydrv.ko").exists()
    failed = _build(module, "6.12")
    assert failed.returncode != 0
    assert "assignment of read-only" in failed.stderr


@pytest.mark.parametrize("style", ["guard", "shim"])
def test_fixed_driver_builds_on_6_1_and_6_12(tmp_path, style):
    _need_tools()
    module = _copy(tmp_path)
    before = (module / "toydrv.c").read_bytes()
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "6.1..6.12", "--select", "DAX301", "--fix", "--fix-style", style, ".", cwd=module
    )
    assert code == 0, out + err  # every finding fixed
    assert "fixed 7 findings in 2 files" in out
    after = (module / "toydrv.c").read_bytes()
    assert after != before
    if style == "guard":
        assert b"#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)" in after
    else:
        assert b"static inline void vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear)" in after
    assert b"#include <linux/version.h>" in after
    # The header is fixed too; with shims both files have one for
    # vm_flags_set(), and its HAVE_COMPAT_ guard keeps them from clashing.
    assert b"vm_flags_set(vma, VM_IO);" in (module / "toydrv.h").read_bytes()
    for series in ("6.1", "6.12"):
        built = _build(module, series)
        assert built.returncode == 0, f"{series}: {built.stderr}"
        assert (module / "toydrv.ko").exists()
        assert "warning:" not in built.stderr, built.stderr
    # Fixed for the range, checked for it again: nothing left.
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.1..6.12", "--select", "DAX301", "toydrv.c", cwd=module)
    assert code == 0, out
    assert os.path.exists(module / "Kbuild")
