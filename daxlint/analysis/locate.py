"""Finding nodes from the text instead of walking the tree.

A Python walk over every node of a 10,000-line file costs more than parsing
it, and even a tree-sitter query visits every node. The DAX3xx rules need a
handful of places per file - where ``vm_flags`` is written, where the mmap
lock is taken, which functions call which - so they search the bytes (in C,
via ``re``) and ask tree-sitter only for the node at each hit. A hit inside a
comment or a string lands on a comment or string node and is dropped by the
caller's type check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tree_sitter import Node

from daxlint.core.timelimit import checkpoint

IDENT_RE = re.compile(rb"[A-Za-z_]\w*")
# Nodes that can hold function definitions (kernel code defines functions
# under #ifdef, and tree-sitter sometimes wraps them in ERROR nodes).
_DEFINITION_CONTAINERS = frozenset(
    {
        "translation_unit",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "ERROR",
        "linkage_specification",
        "declaration_list",
    }
)


def node_at(root: Node, start: int, end: int) -> Node | None:
    """The smallest node spanning bytes [start, end)."""
    return root.descendant_for_byte_range(start, end)


def is_word_byte(b: int) -> bool:
    """Whether byte ``b`` can be part of a C identifier (ASCII)."""
    return b == 0x5F or 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def word_starts(data: bytes, word: bytes, lo: int = 0, end: int | None = None, whole: bool = True) -> Iterator[int]:
    """Offsets of ``word`` in ``data[lo:end]`` that no identifier byte
    precedes; with ``whole``, that none follows either (without it ``word``
    is a prefix, as ``MEMORY_DEVICE_`` is of the enumerators)."""
    checkpoint()  # one pass over the bytes: a look at the clock per call is enough
    n = len(word)
    end = len(data) if end is None else end
    pos = data.find(word, lo, end)
    while pos >= 0:
        before_ok = pos == 0 or not is_word_byte(data[pos - 1])
        after_ok = not whole or pos + n >= len(data) or not is_word_byte(data[pos + n])
        if before_ok and after_ok:
            yield pos
        pos = data.find(word, pos + 1, end)


def identifier_hits(data: bytes, names: Iterable[bytes], lo: int = 0, hi: int | None = None) -> Iterator[tuple[bytes, int]]:
    """(name, byte offset) of every whole-word occurrence of one of ``names``.
    A few names are searched for directly; many (a file's function names)
    by one pass over all identifiers with a set lookup."""
    checkpoint()  # one pass over the bytes: a look at the clock per call is enough
    names = frozenset(names)
    if not names:
        return
    end = len(data) if hi is None else hi
    if len(names) <= 24:
        # bytes.find() per name beats a regex alternation by far.
        hits = sorted((pos, word) for word in names for pos in word_starts(data, word, lo, end))
        for pos, word in hits:
            yield word, pos
        return
    for m in IDENT_RE.finditer(data, lo, end):
        word = m.group()
        if word in names:
            yield word, m.start()


def identifier_nodes(root: Node, data: bytes, names: Iterable[bytes]) -> Iterator[Node]:
    """Identifier-like nodes (identifier, field_identifier, type_identifier)
    for every occurrence of ``names`` in the code."""
    for word, pos in identifier_hits(data, names):
        node = node_at(root, pos, pos + len(word))
        if node is not None and node.type in ("identifier", "field_identifier", "type_identifier"):
            yield node


def function_definitions(root: Node) -> list[Node]:
    """Every function definition not nested in another, in file order,
    without descending into function bodies."""
    out: list[Node] = []
    stack = [root]
    while stack:
        checkpoint()
        n = stack.pop()
        for child in reversed(n.children):
            if child.type == "function_definition":
                out.append(child)
            elif child.type in _DEFINITION_CONTAINERS:
                stack.append(child)
    out.sort(key=lambda n: n.start_byte)
    return out
