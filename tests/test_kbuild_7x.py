"""Kbuild against the Debian 7.3 tree (a build directory prepared once by
benchmarks/kernel_tree.py --prepare, as .ci/run does: the 7.x
linux-headers packages need a newer libc than Debian 12 has):

- a module whose ->mmap_prepare writes desc->vm_flags (the 6.16 - 7.1
  spelling) does not build against 7.3; fixed by daxlint for 7.3 it does;
- the mask-for-a-bit module DAX306 reports builds without a word from gcc -
  which is why the rule exists;
- the 6.1-era driver of tests/test_fix_kbuild.py, fixed for 6.1..7.3,
  builds against 6.1's and 6.12's headers and the 7.3 tree."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_fix_kbuild import HEADERS, _copy

from conftest import FIXTURES, kernel_tree_module, run_daxlint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def build73() -> Path:
    if not all(shutil.which(t) for t in ("make", "gcc", "bison", "flex")):
        pytest.skip("make, gcc, bison and flex are needed to prepare the 7.3 tree (.ci/run installs them)")
    out = kernel_tree_module.build_tree("7.3")
    if out is None:
        pytest.skip("linux-source-7.3 is not on this machine (python3 benchmarks/kernel_tree.py --fetch 7.3)")
    print(kernel_tree_module.describe("7.3"))
    return out


def _build(build: Path, module: Path) -> subprocess.CompletedProcess:
    subprocess.run(["make", "-s", "-C", str(build), f"M={module}", "clean"], capture_output=True, text=True)
    return subprocess.run(
        ["make", "-s", "-C", str(build), f"M={module}", "KBUILD_MODPOST_WARN=1", "modules"], capture_output=True, text=True, timeout=600
    )


def _module(tmp_path: Path, name: str) -> Path:
    module = tmp_path / name
    shutil.copytree(FIXTURES / "kbuild" / name, module)
    return module


def test_desc_vm_flags_module_builds_on_7_3_once_fixed(build73, tmp_path):
    module = _module(tmp_path, "prepare7x")
    failed = _build(build73, module)
    assert failed.returncode != 0 and "vm_flags" in failed.stderr, failed.stderr
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX301", "--fix", ".", cwd=module)
    assert code == 0, out + err
    fixed = (module / "prepare7x.c").read_text()
    assert "vma_desc_set_flags(desc, VMA_DONTEXPAND_BIT, VMA_DONTDUMP_BIT);" in fixed
    assert "vma_desc_clear_flags(desc, VMA_MAYEXEC_BIT);" in fixed
    built = _build(build73, module)
    assert built.returncode == 0, built.stderr
    assert (module / "prepare7x.ko").exists()


def test_mask_for_a_bit_builds_and_daxlint_reports_it(build73, tmp_path):
    module = _module(tmp_path, "maskbit")
    built = _build(build73, module)
    assert built.returncode == 0 and (module / "maskbit.ko").exists(), built.stderr
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "7.3", "--format", "json", ".", cwd=module)
    found = [(f["rule_id"], f["line"], f["severity"]) for f in json.loads(out)["findings"]]
    assert found == [("DAX306", 11, "error")], out + err


def test_fixed_for_6_1_to_7_3_builds_at_both_ends(build73, tmp_path):
    missing = [s for s, p in HEADERS.items() if p is None]
    if missing:
        pytest.skip(f"no /usr/src/linux-headers-{missing[0]}.*-amd64")
    module = _copy(tmp_path)
    code, out, err = run_daxlint("check", "--no-cache", "--kernel-version", "6.1..7.3", "--select", "DAX301", "--fix", ".", cwd=module)
    assert code == 0, out + err
    for series, headers in HEADERS.items():
        subprocess.run(["make", "-s", "-C", headers, f"M={module}", "clean"], capture_output=True)
        built = subprocess.run(["make", "-s", "-C", headers, f"M={module}", "modules"], capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, f"{series}: {built.stderr}"
    built = _build(build73, module)
    assert built.returncode == 0, built.stderr
    assert (module / "toydrv.ko").exists()
