"""FileIndex answers questions about one name from the places the name
occurs; the answers (and their order) must be those of the whole-file index."""

from __future__ import annotations

import pytest

from daxlint.analysis.fileindex import FileIndex
from daxlint.core.source import SourceFile

# Our own C, shaped like the drivers the DAX rules read: two definitions of
# one function under #ifdef, nested and member calls, ops tables filled by
# designated initializers and at run time, the token in a comment, and a
# region tree-sitter cannot parse.
CODE = b"""
#include <linux/dax.h>

#ifdef CONFIG_TOY_FAST
static long toy_map(struct toy *t, long off) { return toy_map(t, off - 1); }
#else
static long toy_map(struct toy *t, long off) { return off; }
#endif

static long toy_direct_access(struct dax_device *dd, pgoff_t pgoff, long nr,
                              void **kaddr, pfn_t *pfn)
{
        struct toy *t = dax_get_private(dd);
        long n = toy_map(t, toy_map(t, pgoff));

        *kaddr = t->virt + n;           /* direct_access hands out t->virt */
        return t->ops->direct_access(dd, pgoff, nr, kaddr, pfn);
}

static const struct dax_operations toy_ops = {
        .direct_access = toy_direct_access,
        .zero_page_range = NULL,
};

static struct dev_pagemap toy_pgmap = { .type = MEMORY_DEVICE_FS_DAX };

static int toy_probe(struct toy *t)
{
        struct dax_operations *ops = &t->dyn_ops;
        int type = MEMORY_DEVICE_GENERIC, other;

        ops->direct_access = toy_direct_access;
        t->pgmap.type = t->fast ? MEMORY_DEVICE_FS_DAX : type;
        t->pgmap.type = other = MEMORY_DEVICE_PRIVATE;
        t->virt = devm_memremap_pages(t->dev, &t->pgmap);
        if (IS_ERR(t->virt))
                t->virt = devm_memremap(t->dev, t->start, t->size, MEMREMAP_WB);
        t->dax = alloc_dax(t, &toy_ops);
        return t->dax ? 0 : -ENOMEM;
}

static void toy_broken(void)
{
        t->pgmap.type = MEMORY_DEVICE_FS_DAX +;
        toy_map(
}
"""


@pytest.fixture
def source():
    return SourceFile("toy.c", CODE)


def _ids(nodes):
    return [n.id for n in nodes]


def test_calls_and_functions_by_name_match_the_whole_index(source):
    whole = FileIndex(source)
    names = sorted(whole.calls) + ["", "not_called"]
    assert "toy_map" in names and "direct_access" in names
    for name in names:
        fresh = FileIndex(source)
        assert _ids(fresh.calls_to(name)) == _ids(whole.calls_to(name)), name
        assert _ids(FileIndex(source).plain_calls_to(name)) == _ids(whole.plain_calls_to(name)), name
    # Nested calls come outer first, as a walk yields them.
    assert len(whole.calls_to("toy_map")) == 3
    for name in sorted(whole.functions) + ["", "missing"]:
        found, expected = FileIndex(source).function(name), whole.functions.get(name)
        assert (found.id if found else None) == (expected.id if expected else None), name
    # The first of the two #ifdef definitions, as functions.get() answers.
    assert FileIndex(source).function("toy_map").start_point[0] == 4


def test_field_writes_by_token_match_the_whole_index(source):
    whole = FileIndex(source)
    _, fields = whole._writes
    for member in sorted(fields) + ["nothing"]:
        got = FileIndex(source).field_writes_containing(member, member.encode())
        assert [w.node.id for w in got] == [w.node.id for w in whole.field_writes(member)], member
        inits = FileIndex(source).member_initializers_of(member)
        assert [(a.id, b.id) for a, b in inits] == [(a.id, b.id) for a, b in whole.member_initializers.get(member, [])]
    # The writes of one value: a subset of the field's writes, in order.
    typed = FileIndex(source).field_writes_containing("type", b"MEMORY_DEVICE_")
    expected = [w for w in whole.field_writes("type") if b"MEMORY_DEVICE_" in w.node.text]
    assert [w.node.id for w in typed] == [w.node.id for w in expected] and len(typed) >= 3
    # Once the whole index exists it answers the same.
    assert [w.node.id for w in whole.field_writes_containing("type", b"MEMORY_DEVICE_")] == [w.node.id for w in typed]
    assert len(FileIndex(source).member_initializers_of("direct_access")) == 2
