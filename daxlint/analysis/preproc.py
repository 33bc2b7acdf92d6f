"""Working around the preprocessor without running it.

tree-sitter parses ``#if``/``#else`` groups as written, so a function whose
body has an ``#else`` that re-opens a statement (drivers/gpu/drm/drm_vm.c in
6.1) ends up inside an ERROR node and loses its header. Keeping only the
first branch of every conditional group, and blanking the directives
themselves (an ``#if`` in the middle of an expression breaks the parse as
well), gives tree-sitter plain, balanced code again. The variant keeps every byte offset and line number of the original
(dropped text becomes spaces), so nodes of either parse point at the same
place in the file."""

from __future__ import annotations

import re

_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b")


def first_branch_only(data: bytes) -> bytes:
    """``data`` with every conditional directive and the #elif/#else
    branches of every conditional group blanked."""
    out = bytearray(data)
    dropping: list[bool] = []  # per open group: are we past its first branch?
    pos = 0
    continued_directive = False
    # bytes.splitlines() on purpose: LF, CRLF and a lone CR, the line ends
    # gcc's preprocessor knows, so a directive after a lone CR is one.
    for line in data.splitlines(keepends=True):
        start, end = pos, pos + len(line)
        pos = end
        body = line.rstrip(b"\r\n")
        if continued_directive:
            continued_directive = body.endswith(b"\\")
            _blank(out, start, end)
            continue
        m = _DIRECTIVE.match(body)
        if m is None:
            if any(dropping):
                _blank(out, start, end)
            continue
        kind = m.group(1)
        if kind in (b"if", b"ifdef", b"ifndef"):
            dropping.append(False)
        elif kind == b"endif":
            if dropping:
                dropping.pop()
        elif dropping:  # #elif / #else: past the first branch
            dropping[-1] = True
        continued_directive = body.endswith(b"\\")
        _blank(out, start, end)
    return bytes(out)


def _blank(buf: bytearray, start: int, end: int) -> None:
    for i in range(start, end):
        if buf[i] not in (0x0A, 0x0D):
            buf[i] = 0x20


# Annotations the kernel puts into declarations (storage sections, alignment,
# attributes). tree-sitter knows none of them: between a declarator and its
# initializer (``struct vm_area_struct gate_vma __ro_after_init = {...}``)
# or before the type they make it lose the declared name or the type.
ATTRIBUTE_MACROS = re.compile(
    rb"\b(?:__ro_after_init|__read_mostly|__initdata|__initconst|__refdata|__meminitdata|__cacheline_aligned(?:_in_smp)?"
    rb"|__page_aligned_(?:data|bss)|__maybe_unused|__always_unused|__used|__visible|__percpu"
    rb"|__aligned\s*\([^()\n]*\)|__section\s*\([^()\n]*\)"
    rb"|__attribute__\s*\(\((?:[^()\n]|\([^()\n]*\))*\)\))"
)


def blank_attributes(data: bytes) -> bytes:
    """``data`` with the declaration annotations above blanked (offsets and
    lines kept)."""
    out = bytearray(data)
    for m in ATTRIBUTE_MACROS.finditer(data):
        _blank(out, m.start(), m.end())
    return bytes(out)
