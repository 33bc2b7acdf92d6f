"""DAX201-203 decline files on their bytes before anything is parsed. The
byte tests must say yes wherever the parsed file has what the rules look for
(a ->direct_access initializer, a MEMORY_DEVICE_* pagemap type)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daxlint.analysis.dax import DaxFacts, may_assign_direct_access, may_assign_pgmap_type
from daxlint.core.source import SourceFile

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "code",
    [
        b"static const struct dax_operations o = { .direct_access = f };",
        b"ops->direct_access = f;",
        b"ops . direct_access=f;",
        b"ops->\\\n\tdirect_access = f;",
        b"ops-> /* set below */ direct_access = f;",
        b"ops-> // the member\n\tdirect_access = f;",
        b"(ops->direct_access) = f;",
    ],
)
def test_direct_access_members_are_let_through(code):
    assert may_assign_direct_access(code)


@pytest.mark.parametrize(
    "code",
    [
        b"rc = dax_direct_access(dd, pgoff, 1, DAX_ACCESS, &kaddr, &pfn);",
        b"bool direct_access = true;",
        b"if (role.access == direct_access) return;",
        b"ops->direct_access_ok = 1;",
        b"/* there is no direct_access here */",
    ],
)
def test_files_without_a_direct_access_member_are_declined(code):
    assert not may_assign_direct_access(code)


@pytest.mark.parametrize(
    "code",
    [
        b"static struct dev_pagemap pg = { .type = MEMORY_DEVICE_FS_DAX };",
        b"pgmap->type=MEMORY_DEVICE_GENERIC;",
        b"pgmap->type = (MEMORY_DEVICE_PRIVATE);",
        b"pgmap->type = (enum memory_type)MEMORY_DEVICE_COHERENT;",
        b"pgmap->type = /* fsdax */ MEMORY_DEVICE_FS_DAX;",
        b"pgmap->type = // fsdax\n\t\tMEMORY_DEVICE_FS_DAX;",
        b"pgmap->type = __force MEMORY_DEVICE_FS_DAX;",
        b"pgmap->type = \\\n\tMEMORY_DEVICE_FS_DAX;",
    ],
)
def test_pagemap_type_assignments_are_let_through(code):
    assert may_assign_pgmap_type(code)


@pytest.mark.parametrize(
    "code",
    [
        b"if (pgmap->type == MEMORY_DEVICE_PRIVATE) return;",
        b"if (pgmap->type != MEMORY_DEVICE_FS_DAX) return;",
        b"switch (pgmap->type) { case MEMORY_DEVICE_PCI_P2PDMA: break; }",
        b"return is_zone(page, MEMORY_DEVICE_GENERIC);",
        b"t = fast ? MEMORY_DEVICE_FS_DAX : MEMORY_DEVICE_GENERIC;",
        b"#define MY_MEMORY_DEVICE_FS_DAX 4",
    ],
)
def test_files_that_only_read_pagemap_types_are_declined(code):
    assert not may_assign_pgmap_type(code)


def _c_files():
    for base in (REPO / "tests" / "fixtures", REPO / "corpus"):
        yield from sorted(base.rglob("*.c"))
        yield from sorted(base.rglob("*.h"))


def test_byte_tests_never_decline_what_the_parse_finds():
    checked = 0
    for path in _c_files():
        data = path.read_bytes()
        facts = DaxFacts(SourceFile(str(path), data))
        if facts.direct_access_impls:
            assert may_assign_direct_access(data), path
            checked += 1
        if facts.pgmap_types:
            assert may_assign_pgmap_type(data), path
            checked += 1
    assert checked >= 10
