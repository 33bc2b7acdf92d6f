"""DAX310 and its ``.mmap`` -> ``.mmap_prepare`` conversion, beyond the
fixtures (tests/fixtures/rules/DAX310, tests/fixtures/fix/prepare_*):
unsafe like ruff's unsafe fixes, info that never fails a gate, and the
pieces the conversion is made of (the patch series a maintainer sends:
tests/test_patch_fix.py)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURES, run_daxlint
from daxlint.analysis.prepare import resolve_conditionals
from daxlint.analysis.prepare_body import FunctionConverter, Refusal, Spelling, prepare_name
from daxlint.core.build import BuildSetup
from daxlint.core.catalog import catalog_for
from daxlint.core.syntax import parent_index
from daxlint.version import KernelVersion

DRIVER = FIXTURES / "fix" / "prepare_iomap_7_3.c"


def _driver(tmp_path: Path) -> Path:
    work = tmp_path / "drv"
    work.mkdir()
    (work / "toy.c").write_bytes(DRIVER.read_bytes())
    return work


def test_dry_run_without_unsafe_fixes_shows_no_change_and_says_why(tmp_path):
    """As ruff: an unsafe fix is not in the diff without --unsafe-fixes,
    and the note says how to apply it; info findings exit 0."""
    work = _driver(tmp_path)
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX310", "--fix", "--dry-run", "toy.c", cwd=work
    )
    assert (code, out) == (0, ""), err
    assert "1 finding with an unsafe fix left (apply with --unsafe-fixes)" in err
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX310", "--fix", "--dry-run", "--unsafe-fixes", "toy.c", cwd=work
    )
    assert code == 1 and "+static int toy_mmap_prepare(struct vm_area_desc *desc)" in out and "+\t.mmap_prepare\t= toy_mmap_prepare," in out
    assert (work / "toy.c").read_bytes() == DRIVER.read_bytes()  # a dry run writes nothing


def test_finding_is_info_with_an_unsafe_fix(tmp_path):
    work = _driver(tmp_path)
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX310", "--format", "json", "toy.c", cwd=work
    )
    assert code == 0, err
    [f] = json.loads(out)["findings"]
    assert (f["rule_id"], f["severity"], f["line"], f["path"]) == ("DAX310", "info", 17, "toy.c")
    assert f["fix"]["safety"] == "unsafe" and f["fix"]["edits"]
    assert "deprecated since v6.16" in f["message"] and "toy_mmap_prepare()" in f["message"]
    code, out, err = run_daxlint(
        "check", "--no-cache", "--kernel-version", "7.3", "--select", "DAX310", "--fail-on", "info", "toy.c", cwd=work
    )
    assert code == 1, out + err


def test_explain_says_the_fix_is_unsafe():
    code, out, err = run_daxlint("explain", "DAX310")
    assert code == 0, err
    assert "Fix: unsafe, applied only with --fix --unsafe-fixes." in out and "vm_ops->mapped" in out


def test_version_tests_every_kernel_of_the_new_code_decides_alike_are_resolved():
    data = b"""static int f(void)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
\ta();
#else
\tb();
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)
\tc();
#endif
#ifdef CONFIG_TOY
\td();
#endif
}
"""
    versions = [KernelVersion(7, 2), KernelVersion(7, 3)]
    code, lines = resolve_conditionals(data, 0, len(data), versions, BuildSetup())
    text = code.decode()
    assert "\ta();" in text and "b();" not in text and "KERNEL_VERSION(6, 3, 0)" not in text
    assert "#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)\n\tc();" in text  # 7.2 and 7.3 decide it apart
    assert "#ifdef CONFIG_TOY" in text  # unknown: kept
    assert lines[:3] == [0, 1, 3]  # each kept line's line in the function


def _convert(code: str, version: str = "7.3"):
    with parent_index():
        converter = FunctionConverter(
            code.encode(), prepare_name("toy_mmap", True), Spelling.of(catalog_for(KernelVersion.parse(version))), 1, 0, {}, lambda i: i + 1
        )
        return converter.convert()


def test_a_body_that_already_has_a_desc_is_refused():
    try:
        _convert("static int toy_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tint desc = 0;\n\treturn desc;\n}\n")
    except Refusal as e:
        assert "desc" in e.reason and e.line == 1
    else:
        raise AssertionError("converted")


def test_an_unbraced_mapping_return_gets_braces():
    out = _convert(
        "static int toy_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tif (file)\n"
        "\t\treturn vm_iomap_memory(vma, 0, PAGE_SIZE);\n\treturn -ENODEV;\n}\n"
    )
    assert "\tif (file) {\n\t\tmmap_action_simple_ioremap(desc, 0, PAGE_SIZE);\n\t\treturn 0;\n\t}\n" in out.text


def test_names():
    assert prepare_name("mmap_mem", True) == "mmap_mem_prepare"
    assert prepare_name("relay_mmap_buf", False) == "relay_mmap_prepare_buf"
    assert prepare_name("private_mapping_ok", False) == "private_mapping_ok"
