"""DAX310's ``.mmap`` -> ``.mmap_prepare`` conversion builds for real.

- tests/fixtures/kbuild/prepdrv, a driver with one device file per shape
  (flags only, a remap, an I/O window, kernel pages, a generic handler, a
  reference taken per mapping, and vmalloc memory that is not converted),
  builds as it is against Debian's 6.1 and 6.12 headers and the prepared
  7.3 tree; converted for 7.3 it builds against 7.3, converted for 6.1..7.3
  against all three.
- Mainline files: 7.3's drivers/char/hpet.c and drivers/misc/open-dice.c
  with the handler put back as 6.12 had it are converted into upstream's
  own 7.3 code and compile in the 7.3 tree; 7.3 files that still use
  ``.mmap`` compile once converted.

Needs ``make`` and ``gcc``, Debian's ``linux-headers-amd64`` and
``linux-headers-6.12-amd64``, and the prepared 7.3 build directory
(``benchmarks/kernel_tree.py --prepare 7.3``, as ``.ci/run`` does); skips,
saying what is missing, without them."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, kernel_tree_module, run_daxlint
from prepare_compare import tokens

pytestmark = pytest.mark.slow

DRIVER = FIXTURES / "kbuild" / "prepdrv"
# The handlers upstream converted whose 7.3 file is the 6.12 one but for
# the conversion (open-dice also renamed two members of its own struct in
# the same series: put back as 7.3 has them).
ROUND_TRIPS = {
    "drivers/char/hpet.c": ("hpet_mmap", {}, "obj-y := hpet.o\nccflags-y := -DCONFIG_HPET_MMAP -DCONFIG_HPET_MMAP_DEFAULT\n"),
    "drivers/misc/open-dice.c": (
        "open_dice_mmap",
        {"drvdata->rmem->base": "drvdata->mem_base", "drvdata->rmem->size": "drvdata->mem_size"},
        "obj-m := open-dice.o\n",
    ),
}
# 7.3 files that still register .mmap and that daxlint converts, with the
# directory they are built in (their own headers are beside them).
MAINLINE = ["drivers/tee/tee_shm.c", "drivers/acpi/pfr_telemetry.c", "drivers/block/ublk_drv.c", "fs/udf/file.c", "sound/core/init.c"]
_DIAGNOSTIC = re.compile(r"^.*: (?:warning|error): .*$", re.M)


def _headers(series: str) -> str | None:
    found = sorted(glob.glob(f"/usr/src/linux-headers-{series}.*-amd64"))
    return found[-1] if found else None


def _need(*what: str) -> dict[str, str]:
    """Where to build for each of ``what`` ("6.1", "6.12", "7.3")."""
    for tool in ("make", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    out = {}
    for series in what:
        if series == "7.3":
            try:
                built = kernel_tree_module.build_tree("7.3")
            except RuntimeError as e:
                pytest.skip(f"the 7.3 build directory could not be prepared: {e}")
            if built is None:
                pytest.skip("linux-source-7.3 or its build tools are missing (benchmarks/kernel_tree.py --fetch 7.3 --prepare 7.3)")
            out[series] = str(built)
        else:
            headers = _headers(series)
            if headers is None:
                pytest.skip(f"no /usr/src/linux-headers-{series}.*-amd64 (apt-get install linux-headers-amd64 linux-headers-6.12-amd64)")
            out[series] = headers
    return out


def _build(build_dir: str, module: Path, *targets: str) -> tuple[bool, list[str]]:
    """Whether Kbuild built ``targets`` of ``module`` against ``build_dir``,
    and the compiler's warnings and errors."""
    subprocess.run(["make", "-s", "-C", build_dir, f"M={module}", "clean"], capture_output=True, text=True)
    proc = subprocess.run(
        ["make", "-s", "-C", build_dir, f"M={module}", "KBUILD_MODPOST_WARN=1", *(targets or ("modules",))],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc.returncode == 0, _DIAGNOSTIC.findall(proc.stderr)


def _convert(module: Path, versions: str, *paths: str) -> str:
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", versions, "--select", "DAX310", "--fix", "--unsafe-fixes", *(paths or (".",)), cwd=module
    )
    assert code in (0, 1), err
    return out


def _copy_driver(tmp_path: Path) -> Path:
    module = tmp_path / "prepdrv"
    shutil.copytree(DRIVER, module)
    return module


def test_unconverted_driver_builds_on_6_1_6_12_and_7_3(tmp_path):
    where = _need("6.1", "6.12", "7.3")
    module = _copy_driver(tmp_path)
    for series, build_dir in where.items():
        built, diagnostics = _build(build_dir, module)
        assert built and not diagnostics, (series, diagnostics)


def test_driver_converted_for_7_3_builds(tmp_path):
    where = _need("7.3")
    module = _copy_driver(tmp_path)
    out = _convert(module, "7.3")
    assert "fixed 6 findings in 1 file" in out
    code = (module / "prepdrv.c").read_text()
    assert code.count(".mmap_prepare\t=") == 6 and code.count(".mmap\t=") == 1  # the vmalloc mapping stays
    assert "static int prep_vm_mapped(" in code and ".mapped\t= prep_vm_mapped," in code
    assert "#if LINUX_VERSION_CODE >= KERNEL_VERSION(7" not in code
    built, diagnostics = _build(where["7.3"], module)
    assert built and not diagnostics, diagnostics
    # Converted, checked again: only the handler daxlint leaves alone.
    code_again, out_again, err = run_daxlint("check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX310", ".", cwd=module)
    assert code_again == 0 and "prep_vmalloc_mmap(): it calls remap_vmalloc_range()" in out_again, out_again + err


def test_driver_converted_for_6_1_to_7_3_builds_on_all_three(tmp_path):
    where = _need("6.1", "6.12", "7.3")
    module = _copy_driver(tmp_path)
    out = _convert(module, "6.1..7.3")
    assert "fixed 6 findings in 1 file" in out
    code = (module / "prepdrv.c").read_text()
    assert "#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0)" in code and "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)" in code
    for series, build_dir in where.items():
        built, diagnostics = _build(build_dir, module)
        assert built and not diagnostics, (series, diagnostics)
    assert _convert(module, "6.1..7.3").count("fixed 0 findings") == 1  # nothing more to do


def _definitions(data: bytes, name: str) -> list[tuple[int, int]]:
    from daxlint.analysis.locate import function_definitions
    from daxlint.core.source import SourceFile
    from daxlint.core.syntax import function_name, parent_index

    with parent_index():
        src = SourceFile("x.c", data)
        return [(f.start_byte, f.end_byte) for f in function_definitions(src.root) if function_name(f) == name]


@pytest.mark.parametrize("rel", sorted(ROUND_TRIPS))
def test_mainline_handler_converted_into_upstreams_own_and_compiles(tmp_path, rel):
    """7.3's file with its handler as 6.12 had it becomes, converted by
    daxlint, upstream's 7.3 code again (token for token), which compiles."""
    where = _need("7.3")
    old_tree, new_tree = kernel_tree_module.kernel_tree("6.12"), kernel_tree_module.kernel_tree("7.3")
    if old_tree is None:
        pytest.skip("linux-source-6.12 is not installed")
    handler, renamed, kbuild = ROUND_TRIPS[rel]
    new = (new_tree / rel).read_bytes()
    old = (old_tree / rel).read_bytes()
    undone = new
    pairs = list(zip(_definitions(new, f"{handler}_prepare"), _definitions(old, handler)))
    assert pairs
    for (ns, ne), (os_, oe) in sorted(pairs, reverse=True):
        text = old[os_:oe]
        for a, b in renamed.items():
            text = text.replace(a.encode(), b.encode())
        undone = undone[:ns] + text + undone[ne:]
    undone = re.sub(rb"\.mmap_prepare(\s*)= " + f"{handler}_prepare".encode(), rb".mmap\1= " + handler.encode(), undone)
    module = tmp_path / "mod"
    module.mkdir()
    target = module / Path(rel).name
    target.write_bytes(undone)
    (module / "Kbuild").write_text(kbuild)
    out = _convert(module, "7.3", target.name)
    assert "fixed 1 finding in 1 file" in out, out
    ours = [target.read_bytes()[s:e].decode() for s, e in _definitions(target.read_bytes(), f"{handler}_prepare")]
    theirs = [new[s:e].decode() for s, e in _definitions(new, f"{handler}_prepare")]
    assert [tokens(t) for t in ours] == [tokens(t) for t in theirs]
    if rel.endswith("hpet.c"):
        assert target.read_bytes() == new  # byte for byte
    built, diagnostics = _build(where["7.3"], module, target.with_suffix(".o").name)
    assert built and not diagnostics, diagnostics


def test_converted_mainline_files_compile(tmp_path):
    """7.3 files that still use .mmap, converted, compile in the 7.3 tree
    (each with the headers of its directory)."""
    where = _need("7.3")
    tree = kernel_tree_module.kernel_tree("7.3")
    for rel in MAINLINE:
        src_dir = (tree / rel).parent
        module = tmp_path / rel.replace("/", "_")
        module.mkdir()
        for f in list(src_dir.glob("*.h")) + [tree / rel]:
            shutil.copyfile(f, module / f.name)
        (module / "Kbuild").write_text(f"obj-m := {Path(rel).stem}.o\n")
        out = _convert(module, "7.3", Path(rel).name)
        assert re.search(r"fixed [1-9]\d* findings? in 1 file", out), (rel, out)
        assert ".mmap_prepare" in (module / Path(rel).name).read_text()
        built, diagnostics = _build(where["7.3"], module, f"{Path(rel).stem}.o")
        assert built and not diagnostics, (rel, diagnostics)
    print(kernel_tree_module.describe("7.3"))
