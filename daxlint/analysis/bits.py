"""VMA flags as masks and as bit numbers (v7.x).

Since the VMA flags bitmap (``vma_flags_t``), a flag has two spellings:
``VM_IO`` is a mask (``1 << 14``, an ``unsigned long`` the legacy API and
``vm_flags`` take), ``VMA_IO_BIT`` is the bit number 14 (a sparse
``__bitwise`` ``vma_flag_t``) the bitmap helpers take. gcc accepts either
where the other belongs - ``vma_desc_set_flags(desc, VM_IO)`` sets bit
16384 of a 64-bit bitmap - so the rules tell them apart by name, and the
catalog's ``VMA_*_BIT`` enumerators (checked against the kernel's headers)
say which bit each is."""

from __future__ import annotations

import re

from tree_sitter import Node

from daxlint.core.syntax import text

MASK_RE = re.compile(r"\bVM_([A-Z0-9_]+)\b")
BIT_RE = re.compile(r"\bVMA_([A-Z0-9_]+)_BIT\b")
# VM_* names that are composite masks or not flags at all: never a bit's mask.
_NOT_ONE_BIT = frozenset({"VM_NONE", "VM_FAULT", "VM_LOCKED_MASK", "VM_SPECIAL", "VM_STACK_DEFAULT_FLAGS", "VM_ACCESS_FLAGS"})


def bit_of(catalog, mask: str) -> int | None:
    """The bit number of a one-bit ``VM_X`` mask, by the catalog's ``VMA_X_BIT``."""
    m = MASK_RE.fullmatch(mask)
    if m is None or mask in _NOT_ONE_BIT:
        return None
    return catalog.constants.get(f"VMA_{m.group(1)}_BIT")


def masks_of(catalog, value: int) -> list[str]:
    """The ``VM_*`` flags whose bits make up ``value`` read as a mask (what
    a bit number handed to vm_flags_set() sets instead)."""
    names = {v: k for k, v in catalog.constants.items() if BIT_RE.fullmatch(k)}
    return [f"VM_{BIT_RE.fullmatch(names[b]).group(1)}" if b in names else f"bit {b}" for b in range(64) if value >> b & 1]


def or_terms(value: Node) -> list[str] | None:
    """The ``|``-terms of a flags expression (outer parentheses and one
    leading ``~`` dropped), as text; None for anything else."""
    code = re.sub(r"/\*.*?\*/", " ", text(value), flags=re.S).strip()
    while code.startswith("(") and code.endswith(")") and _balanced(code[1:-1]):
        code = code[1:-1].strip()
    if code.startswith("~"):
        code = code[1:].strip()
        while code.startswith("(") and code.endswith(")") and _balanced(code[1:-1]):
            code = code[1:-1].strip()
    terms = [t.strip().strip("()").strip() for t in code.split("|")]
    return terms if all(re.fullmatch(r"\w+", t) for t in terms) else None


def bit_names(catalog, value: Node) -> list[str] | None:
    """``VM_A | VM_B`` (or ``~(VM_A | VM_B)``) as the catalog's bit
    numbers ``["VMA_A_BIT", "VMA_B_BIT"]``; None when some term is not a
    one-bit flag the catalog numbers."""
    terms = or_terms(value)
    if not terms:
        return None
    out = []
    for t in terms:
        if bit_of(catalog, t) is None:
            return None
        out.append(f"VMA_{t[3:]}_BIT")
    return out


def _balanced(code: str) -> bool:
    depth = 0
    for ch in code:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0
