"""``daxlint check --fix`` on the whole Debian 6.1 tree checked as v6.3,
measured against what upstream wrote by 6.12.

The tree is never written: the fixes come as a ``--dry-run`` patch, which
``git apply`` must accept on a scratch copy of the files it touches; after
applying it DAX301 must have nothing left but the writes it has no
automatic fix for. Each fixed site is then compared with the same function
in the Debian 6.12 tree (tests/upstream_compare.py). Nothing here counts
sites or lines of one Debian upload: the sites are the run's own findings
and the judged constructs of tests/data/realtree/dax3-6.1-as-6.3.json, and
the agreement with upstream is asserted over the sites whose function
differs between the trees by the conversion alone (see
``conversion_only``), where a point release moves the figure by one site
at most - far from the floor."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import kernel_tree_module, kernel_tree_or_skip, run_daxlint
from realtree import key_of, load, squash
from upstream_compare import compare, conversion_only

pytestmark = pytest.mark.slow

CHECK = ("check", "--no-cache", "--jobs", "2", "--kernel-version", "6.3", "--select", "DAX301")
# Of the sites whose function changed only by the conversion, 102 of 102
# agreed on Debian 6.1.192 / 6.12.118 (README, "--fix"); one site more or
# less cannot cross this floor, a broken fixer does.
AGREEMENT_AT_LEAST = 0.95
# Judged constructs that upstream converted and changed nothing else around
# (function, the write as written): each must be among the conversion-only
# sites and agree - the rate above is over sites these stand for, never an
# empty or a shrunken comparison.
CONVERSION_ONLY = [
    ("drivers/android/binder.c", "binder_mmap", "vma->vm_flags |= VM_DONTCOPY | VM_MIXEDMAP;"),
    ("drivers/android/binder.c", "binder_mmap", "vma->vm_flags &= ~VM_MAYWRITE;"),
    ("drivers/gpu/drm/tegra/gem.c", "__tegra_gem_mmap", "vma->vm_flags |= VM_MIXEDMAP;"),
    ("drivers/usb/core/devio.c", "usbdev_mmap", "vma->vm_flags |= (VM_DONTEXPAND | VM_DONTDUMP);"),
    ("sound/core/pcm_native.c", "snd_pcm_lib_default_mmap", "area->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;"),
    ("arch/arm/kernel/process.c", "gate_vma_init", "gate_vma.vm_flags = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC;"),
    ("arch/powerpc/platforms/cell/spufs/file.c", "spufs_mem_mmap", "vma->vm_flags |= VM_IO | VM_PFNMAP;"),
]
# The writes DAX301 has no automatic fix for: &vma->vm_flags handed to
# ksm_madvise(), which needs a copy and vm_flags_reset() written by hand.
NO_EDITS = {("arch/powerpc/kvm/book3s_hv_uvmem.c", "kvmppc_memslot_page_merge"), ("arch/s390/mm/gmap.c", "gmap_mark_unmergeable")}
# The one fix that is unsafe: a chained assignment split in two statements.
UNSAFE = ("mm/nommu.c", "region->vm_flags = vma->vm_flags |= VM_MAPPED_COPY;")


@pytest.fixture(scope="module")
def tree_61():
    return kernel_tree_or_skip("6.1")


@pytest.fixture(scope="module")
def findings(tree_61):
    """The DAX301 findings of the tree as v6.3, with their fixes."""
    code, out, err = run_daxlint(*CHECK, "--format", "json", ".", cwd=tree_61)
    assert code == 1, err
    print(kernel_tree_module.describe("6.1"))
    return json.loads(out)["findings"]


@pytest.fixture(scope="module")
def dry_run(tree_61, tmp_path_factory):
    """The --unsafe-fixes dry run, its stderr and the patch file."""
    out = tmp_path_factory.mktemp("fix61") / "fix.patch"
    code, stdout, err = run_daxlint(*CHECK, "--fix", "--dry-run", "--unsafe-fixes", "-o", str(out), ".", cwd=tree_61)
    return code, err, out


def _touched(patch: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb"^diff --git a/(\S+) b/", patch, re.M)]


def _site(f: dict) -> tuple[str, str]:
    return f["path"], f.get("function")


def has_edits(f: dict) -> bool:
    """Whether a finding's fix edits the file: its own edits, or a fold's
    held by the fold's first finding (``part_of``)."""
    return bool(f["fix"]["edits"]) or "part_of" in f["fix"]


def test_every_judged_write_is_found_and_fixable_or_known_not_to_be(findings):
    judged = [e for e in load("dax3-6.1-as-6.3")["findings"] if e["rule"] == "DAX301" and e["verdict"] == "true"]
    reported = {key_of(f["rule_id"], f["path"], f.get("function"), f.get("snippet")): f for f in findings}
    missing = [e for e in judged if key_of(e["rule"], e["path"], e["function"], e["snippet"]) not in reported]
    assert not missing, missing[:5]
    without_edits = {_site(f) for f in findings if not has_edits(f)}
    assert without_edits == NO_EDITS


def test_dry_run_patch_applies_and_leaves_nothing(tree_61, findings, dry_run, tmp_path):
    code, err, patch_file = dry_run
    assert code == 1, err
    fixable = [f for f in findings if has_edits(f)]
    files = sorted({f["path"] for f in fixable})
    assert f"would fix {len(fixable)} findings in {len(files)} files" in err, err
    assert f"{len(NO_EDITS)} findings without an automatic fix" in err
    patch = patch_file.read_bytes()
    assert sorted(_touched(patch)) == files
    scratch = tmp_path / "scratch"
    for rel in files:
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tree_61 / rel, scratch / rel)
    subprocess.run(["git", "init", "-q", "."], cwd=scratch, check=True)
    check = subprocess.run(["git", "apply", "--check", str(patch_file)], cwd=scratch, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", str(patch_file)], cwd=scratch, check=True)
    code, out, err = run_daxlint(*CHECK, "--format", "json", ".", cwd=scratch)
    left = {_site(f) for f in json.loads(out)["findings"]}
    # Only the writes through ksm_madvise() in files the patch touched stay.
    assert left and left <= NO_EDITS, left
    # The tree itself was not touched.
    assert b"vma->vm_flags |= VM_DONTCOPY | VM_MIXEDMAP;" in (tree_61 / "drivers/android/binder.c").read_bytes()


def test_only_the_chained_assignment_needs_unsafe_fixes(tree_61, findings):
    unsafe = [(f["path"], squash(f["snippet"])) for f in findings if f["fix"]["safety"] == "unsafe"]
    assert unsafe == [UNSAFE]
    safe = [f for f in findings if f["fix"]["safety"] == "safe" and has_edits(f)]
    code, out, err = run_daxlint(*CHECK, "--fix", "--dry-run", ".", cwd=tree_61)
    assert code == 1, err
    assert f"would fix {len(safe)} findings in {len({f['path'] for f in safe})} files" in err
    assert "1 finding with an unsafe fix left (apply with --unsafe-fixes)" in err
    assert UNSAFE[1] not in out  # the nommu.c hunk is not there


def test_agreement_with_upstream(tree_61, findings):
    tree_612 = kernel_tree_or_skip("6.12")
    print(kernel_tree_module.describe("6.12"))
    result = compare([f for f in findings if has_edits(f)], str(tree_61), str(tree_612))
    by_construct = {(s.path, s.function, squash(s.snippet)): s for s in result.sites}
    # Upstream's folds, made the same way: a clear and a set, two sets, an
    # init and the clear after it; the renamed mask.
    for site in [
        ("drivers/android/binder.c", "binder_mmap", "vma->vm_flags |= VM_DONTCOPY | VM_MIXEDMAP;"),
        ("drivers/android/binder.c", "binder_mmap", "vma->vm_flags &= ~VM_MAYWRITE;"),
        ("drivers/gpu/drm/tegra/gem.c", "__tegra_gem_mmap", "vma->vm_flags |= VM_MIXEDMAP;"),
        ("drivers/usb/core/devio.c", "usbdev_mmap", "vma->vm_flags |= (VM_DONTEXPAND | VM_DONTDUMP);"),
        ("mm/mmap.c", "__install_special_mapping", "vma->vm_flags = vm_flags | mm->def_flags | VM_DONTEXPAND | VM_SOFTDIRTY;"),
        ("mm/mmap.c", "__mmap_region", "vma->vm_flags &= VM_LOCKED_CLEAR_MASK;"),
        ("kernel/fork.c", "dup_mmap", "tmp->vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT);"),
    ]:
        assert site in by_construct, site
        assert by_construct[site].agrees, by_construct[site]
    # Upstream changed this one beyond the conversion (two paths joined).
    assert not next(s for s in result.kept if s.function == "vfio_pci_core_mmap").agrees
    conv = conversion_only(result.kept, str(tree_61), str(tree_612))
    agreeing = [s for s in conv if s.agrees]
    rate = len(agreeing) / len(conv)
    print(
        f"agreement with upstream: {len(agreeing)} of {len(conv)} sites whose function changed by the conversion alone ({rate:.1%}); "
        f"over every site with an upstream function, changed or not: {len(result.agreeing)} of {len(result.kept)} ({result.rate:.1%})"
    )
    if os.environ.get("DAXLINT_SHOW_DISAGREEMENT"):
        for s in result.kept:
            if not s.agrees:
                print(s)
    by_conversion = {(s.path, s.function, squash(s.snippet)): s for s in conv}
    missing = [site for site in CONVERSION_ONLY if site not in by_conversion]
    assert not missing, missing
    assert all(by_conversion[site].agrees for site in CONVERSION_ONLY), [by_conversion[site] for site in CONVERSION_ONLY]
    assert rate >= AGREEMENT_AT_LEAST, [s for s in conv if not s.agrees]


def test_upstream_compare_reads_calls():
    """The comparison itself: flags as sets, the lock mask as its flags."""
    from upstream_compare import parse_call

    a = parse_call("vm_flags_mod(vma, VM_IO | (VM_DONTEXPAND), VM_LOCKED_MASK);")
    b = parse_call("vm_flags_mod(vma,VM_DONTEXPAND|VM_IO, VM_LOCKONFAULT | VM_LOCKED)")
    assert a == b
    assert parse_call("vm_flags_set(vma, VM_IO)") != parse_call("vm_flags_set(vma, VM_PFNMAP)")
    assert parse_call("vm_flags_init(&gate_vma, VM_READ)") == parse_call("vm_flags_init(gate_vma, (VM_READ))")


def test_conversion_only_tells_the_conversion_from_other_changes():
    from upstream_compare import same_but_for_the_conversion

    old = "static int f(struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO | VM_DONTEXPAND; /* io */\n\treturn 0;\n}\n"
    assert same_but_for_the_conversion(
        old, "static int f(struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_DONTEXPAND | VM_IO);\n\treturn 0;\n}\n"
    )
    # Other flags, or other code, is more than the conversion.
    assert not same_but_for_the_conversion(
        old, "static int f(struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}\n"
    )
    assert not same_but_for_the_conversion(
        old, "static int f(struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO | VM_DONTEXPAND);\n\treturn 1;\n}\n"
    )


def test_tree_root_paths(tree_61, dry_run):
    """Paths in the patch are relative to the tree's top, also when daxlint
    runs below it."""
    code, out, err = run_daxlint(*CHECK, "--fix", "--dry-run", "drivers/android", cwd=tree_61)
    assert code == 1, err
    assert out.startswith("diff --git a/drivers/android/binder.c b/drivers/android/binder.c\n")
    code, out2, err = run_daxlint(*CHECK, "--fix", "--dry-run", ".", cwd=Path(tree_61) / "drivers" / "android")
    assert out2 == out
