"""The kernel API catalog (rules/catalog/) against the Debian trees it
describes: every fact a rule consults - a struct member and whether it is
const, a function or macro and the release it came or went, a VMA flag's
bit number, how a flag helper locks the vma - is read out of the real
headers of 6.1, 6.12, 7.2 and 7.3, so the catalog cannot drift from the
kernel. Each tree is compared with the catalog daxlint uses for it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from conftest import kernel_tree_module
from daxlint.core.catalog import api_history, catalog_for, catalog_versions
from daxlint.version import KernelVersion

TREES = ["6.1", "6.12", "7.2", "7.3"]
# Where the kernel declares what the catalog describes.
SOURCES = ("include/linux", "include/drm", "mm", "fs/dax.c")
# Struct members whose presence a rule consults: present in the tree exactly
# when the catalog declares them.
CONSULTED_MEMBERS = {
    "vm_area_struct": ("vm_flags", "__vm_flags", "flags"),
    "vm_area_desc": ("vm_flags", "vma_flags", "action", "vm_file", "file", "vm_ops", "private_data", "page_prot"),
    "file_operations": ("mmap", "mmap_prepare"),
    "vm_operations_struct": ("fault", "huge_fault", "open", "close", "mapped"),
    "mmap_action": ("type", "error_override"),
}


@cache
def tree(version: str) -> Path:
    found = kernel_tree_module.kernel_tree(version)
    if found is None:
        pytest.skip(f"linux-source-{version} is not on this machine (.ci/run fetches it)")
    print(kernel_tree_module.describe(version))
    return found


@cache
def sources(version: str) -> str:
    root = tree(version)
    texts = []
    for rel in SOURCES:
        p = root / rel
        files = [p] if p.is_file() else sorted(p.rglob("*.[ch]"))
        texts += [f.read_text(errors="replace") for f in files]
    return "\n".join(texts)


def defines_function(version: str, name: str) -> bool:
    """A declaration, definition or function-like macro of ``name`` at the
    start of a line (kernel style: calls are indented, declarations not)."""
    pattern = rf"(?m)^(?:#\s*define\s+{re.escape(name)}\(|[A-Za-z_][^=;()\n]*\b{re.escape(name)}\s*\()"
    return re.search(pattern, sources(version)) is not None


def struct_members(version: str, struct: str) -> dict[str, str] | None:
    """Members of ``struct`` in the tree: name -> declaration text."""
    m = re.search(rf"(?m)^struct {struct} \{{\n(.*?)^\}}", sources(version), re.S)
    if m is None:
        return None
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", m.group(1), flags=re.S)
    out: dict[str, str] = {}
    for decl in re.split(r";", body):
        decl = " ".join(decl.split())
        fn = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", decl)
        name = fn.group(1) if fn else (re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*(?::\s*\d+)?$", decl) or [None])[0]
        if name:
            out[name] = decl
    return out


def catalog_of(version: str):
    return catalog_for(KernelVersion.parse(version))


@pytest.mark.slow
@pytest.mark.parametrize("version", TREES)
def test_every_catalog_function_is_in_the_tree(version):
    cat = catalog_of(version)
    missing = sorted(n for n in cat.functions if not defines_function(version, n))
    assert not missing, f"the {cat.version} catalog declares what Linux {version} does not have: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("version", TREES)
def test_consulted_members_and_constness(version):
    cat = catalog_of(version)
    for struct, members in CONSULTED_MEMBERS.items():
        real = struct_members(version, struct) or {}
        declared = cat.structs.get(struct, {})
        for member in members:
            assert (member in real) == (member in declared), (struct, member, "tree" if member in real else "catalog")
    real = struct_members(version, "vm_area_struct")
    const_in_tree = re.search(r"\bconst vm_flags_t vm_flags$", real["vm_flags"]) is not None
    assert const_in_tree == cat.field_is_const("vm_area_struct", "vm_flags")


@pytest.mark.slow
@pytest.mark.parametrize("version", TREES)
def test_history_lifetimes_hold(version):
    """Each name history.toml dates exists in the tree exactly when its
    lifetime says."""
    v = KernelVersion.parse(version)
    history = api_history()
    wrong = [n for n, life in history.functions.items() if defines_function(version, n) != life.exists_in(v)]
    assert not wrong, f"functions whose lifetime Linux {version} contradicts: {wrong}"
    macros = sources(version)
    wrong = [n for n, life in history.macros.items() if (re.search(rf"(?m)^#\s*define\s+{n}\b", macros) is not None) != life.exists_in(v)]
    assert not wrong, f"macros whose lifetime Linux {version} contradicts: {wrong}"
    kconfig = "\n".join(p.read_text(errors="replace") for p in (tree(version) / "fs").glob("Kconfig*"))
    for name, life in history.kconfig.items():
        assert (f"config {name}\n" in kconfig) == life.exists_in(v), name


@pytest.mark.slow
@pytest.mark.parametrize("version", ["7.2", "7.3"])
def test_vma_flag_bits(version):
    real = {f"VMA_{n}_BIT": int(b) for n, b in re.findall(r"DECLARE_VMA_BIT\((\w+),\s*(\d+)\)", sources(version))}
    cat = catalog_of(version)
    declared = {k: v for k, v in cat.constants.items() if k.startswith("VMA_")}
    assert declared == real


@pytest.mark.slow
@pytest.mark.parametrize("version", TREES)
def test_how_the_helpers_lock(version):
    """ "takes": the body calls vma_start_write(); "asserts": it asserts the
    vma is write-locked; "none": neither - for each helper defined in
    include/linux/mm.h, and for remap_pfn_range() through the helper it
    sets the flags with."""
    cat = catalog_of(version)
    mm_h = (tree(version) / "include/linux/mm.h").read_text(errors="replace")
    memory = (tree(version) / "mm/memory.c").read_text(errors="replace")
    checked = 0
    for name, lock in cat.vma_locks.items():
        if not name.startswith(("vm_flags_", "__vm_flags_")) and name not in cat.flag_changes:
            continue  # a helper that changes flags through another (io_remap_pfn_range -> remap_pfn_range)
        m = re.search(rf"(?ms)^static inline \w[^\n]*\b{name}\(.*?^\}}", mm_h)
        if m is None:
            continue
        body = m.group(0)
        takes, asserts = "vma_start_write(" in body, "vma_assert_write_locked(" in body
        assert (lock == "takes") == takes and (lock == "asserts") == asserts, (name, lock)
        checked += 1
    assert checked >= (4 if cat.has_function("vm_flags_set") else 0)
    # remap_pfn_range(): through vm_flags_set() from v6.3, vma_set_flags_mask()
    # (no lock) in 7.x, a plain store before v6.3.
    sets_with = {"takes": "vm_flags_set(vma, VM_IO | VM_PFNMAP", "none": "vma_set_flags_mask(vma, VMA_REMAP_FLAGS)"}
    lock = cat.vma_locks["remap_pfn_range"]
    if version == "6.1":
        assert lock == "none" and "vma->vm_flags |= VM_IO | VM_PFNMAP" in memory
    else:
        assert sets_with[lock] in memory, (version, lock)


def test_every_catalog_agrees_with_history():
    """Between the trees (6.19, 7.0, 7.1 are dated from list mail) the
    catalog files and history.toml must tell the same story: a dated
    function is declared in exactly the catalogs of the releases it lives in."""
    history = api_history()
    wrong = [
        (str(v), name)
        for v in catalog_versions()
        for name, life in history.functions.items()
        if (name in catalog_for(v).functions) != life.exists_in(v)
    ]
    assert not wrong, f"catalog files and history.toml disagree: {wrong}"


@pytest.mark.parametrize(
    "version, member, present",
    [
        # 53f1d9364451 "mm: make vm_area_desc utilise vma_flags_t only" (v7.0)
        ("6.19", "vm_area_desc.vm_flags", True),
        ("7.0", "vm_area_desc.vm_flags", False),
        # ac0a3fc9c07d "mm: add ability to take further action in vm_area_desc" (v6.19)
        ("6.17", "vm_area_desc.action", False),
        ("6.19", "vm_area_desc.action", True),
        # 9ea35a25d51b "mm: introduce VMA flags bitmap type" (v6.19)
        ("6.19", "vm_area_desc.vma_flags", True),
        ("6.19", "vm_area_struct.flags", True),
        # c50ca15dd496 "mm: add vm_ops->mapped hook" (v7.1)
        ("7.0", "vm_operations_struct.mapped", False),
        ("7.1", "vm_operations_struct.mapped", True),
        # 4f5b8759262e: error_hook became error_override (v7.2)
        ("7.1", "mmap_action.error_override", False),
        ("7.2", "mmap_action.error_override", True),
    ],
)
def test_members_between_the_trees(version, member, present):
    struct, _, name = member.partition(".")
    assert (catalog_of(version).struct_field(struct, name) is not None) == present


def test_bit_numbers_before_their_helpers():
    """2b6a3f061f11 numbered the flags in v6.19; the helpers that take the
    numbers (bae0ba7c7c0a) came in v7.0."""
    assert catalog_of("6.17").constants.get("VMA_IO_BIT") is None
    assert catalog_of("6.19").constants.get("VMA_IO_BIT") == 14
    assert not catalog_of("6.19").has_function("vma_desc_set_flags")
    assert catalog_of("7.0").has_function("vma_desc_set_flags")
