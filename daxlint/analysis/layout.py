"""How new lines of C are laid out in a kernel file, for the fixes that
write them: display columns (tabs every 8), a call wrapped at 80 columns
with its arguments aligned on the parenthesis, continuation lines aligned
again after a rename, where a new ``#include`` goes, the file's own line
ends (a CRLF file gets CRLF in what a fix adds), and the whole lines a
statement has to itself, for fixes that move or replace it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tree_sitter import Node

from daxlint.core.directives import scan
from daxlint.model import Edit

MAX_COLUMNS = 80


def wrapped(wrapper: str, args: list[str], lead: str) -> str:
    """``wrapper(args...)`` for a statement indented by ``lead``, broken
    over lines aligned with the parenthesis where it would pass 80 columns:
    between arguments first, between ``|``-terms of an argument that does
    not fit a line of its own."""
    one = f"{wrapper}({', '.join(args)})"
    start = width(lead)
    if start + len(one) + 1 <= MAX_COLUMNS:
        return one
    col = start + len(wrapper) + 1
    lines: list[str] = []
    line, used = f"{wrapper}(", start + len(wrapper) + 1

    def put(piece: str, room: int) -> None:
        nonlocal line, used
        sep = "" if line.endswith("(") or not line.strip() else " "
        if used + len(sep) + len(piece) + room > MAX_COLUMNS and line.strip() and not line.endswith("("):
            lines.append(line)
            line, used, sep = indent(col, lead), col, ""
        line += sep + piece
        used += len(sep) + len(piece)

    for i, a in enumerate(args):
        last = i == len(args) - 1
        whole = a + (")" if last else ",")
        room = 1 if last else 0  # the statement's ";"
        sep = 0 if line.endswith("(") else 1
        if used + sep + len(whole) + room <= MAX_COLUMNS or col + len(whole) + room > MAX_COLUMNS and " | " not in a:
            put(whole, room)
            continue
        if col + len(whole) + room <= MAX_COLUMNS:
            put(whole, room)  # on a line of its own
            continue
        terms = a.split(" | ")
        for j, t in enumerate(terms):
            end = j == len(terms) - 1
            put(t + ((")" if last else ",") if end else " |"), room if end else 0)
    lines.append(line)
    return "\n".join(lines)


_LEADING_COMMENT = re.compile(rb"[ \t\r\n]*(?:/\*.*?\*/|//[^\n]*)", re.S)


def preamble_pos(data: bytes, first_use: int, linux_only: bool) -> tuple[int, bool]:
    """Where new includes and shims go: after the last #include before the
    first fixed write that is not inside a conditional (a header's include
    guard aside); else at the top, after the leading comment (and a
    header's include guard). Returns the offset and whether it is the top."""
    directives = scan(data)
    guard_branch = include_guard(directives, data)
    last = None
    for inc in directives.includes:
        if inc.pos < first_use and (inc.parent is None or inc.parent is guard_branch):
            if not linux_only or (inc.angled and inc.name.startswith("linux/")):
                last = inc
    if last is not None:
        end = data.find(b"\n", last.pos)
        return (len(data) if end < 0 else end + 1), False
    if guard_branch is not None:
        m = re.compile(rb"[ \t\r\n]*#[ \t]*define[^\n]*\n?").match(data, guard_branch.body)
        return (m.end() if m else guard_branch.body), True
    pos = 0
    while (m := _LEADING_COMMENT.match(data, pos)) is not None and m.end() > pos:
        pos = m.end()
    nl = data.find(b"\n", pos)
    if nl >= 0 and not data[pos:nl].strip():
        pos = nl + 1
    return pos, True


def include_guard(directives, data: bytes):
    """The ``#ifndef X`` branch of a header's include guard, if any: the
    file's first directive, only comments before it, ``#define X`` next."""
    if not directives.groups:
        return None
    b = directives.groups[0].branches[0]
    before = re.sub(rb"/\*.*?\*/|//[^\n]*", b"", data[: b.start], flags=re.S)
    if b.kind != "ifndef" or before.strip():
        return None
    name = b.expr.strip().encode()
    follows = re.compile(rb"[ \t\r\n]*#[ \t]*define[ \t]+" + re.escape(name) + rb"\b").match(data, b.body)
    return b if follows else None


def width(text: str) -> int:
    """Display width of a line's text, tabs every 8 columns."""
    col = 0
    for ch in text:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def realign(arg: str, old_col: int, new_col: int) -> str:
    """Continuation lines of ``arg`` that lined up with its start line up
    with its new start (tabs, then spaces, as kernel style has it)."""
    if old_col == new_col:
        return arg
    lines = arg.split("\n")
    for i in range(1, len(lines)):
        m = re.match(r"[ \t]*", lines[i])
        ws = m.group(0) if m else ""
        if ws and width(ws) == old_col:
            lines[i] = indent(new_col, ws) + lines[i][len(ws) :]
    return "\n".join(lines)


def indent(col: int, like: str) -> str:
    """White space reaching ``col``: tabs then spaces, as kernel style has
    it, or spaces only where ``like`` used no tab."""
    return "\t" * (col // 8) + " " * (col % 8) if "\t" in like else " " * col


def uses_crlf(data: bytes) -> bool:
    """Whether the file's lines end in CRLF (most of them)."""
    return data.count(b"\r\n") * 2 > data.count(b"\n")


def with_line_ends(edits: Iterable[Edit], crlf: bool) -> tuple[Edit, ...]:
    """``edits`` with CRLF line ends in what they add, for a CRLF file."""
    if not crlf:
        return tuple(edits)
    return tuple(Edit(e.start, e.end, e.replacement.replace("\r\n", "\n").replace("\n", "\r\n")) for e in edits)


def line_span(data: bytes, start: int, end: int) -> tuple[int, int]:
    """The whole lines holding bytes ``start``..``end``, with the last newline."""
    line_start = data.rfind(b"\n", 0, start) + 1
    nl = data.find(b"\n", end)
    return line_start, (len(data) if nl < 0 else nl + 1)


def alone_on_lines(data: bytes, node: Node) -> bool:
    """Whether nothing but white space shares ``node``'s lines."""
    start, end = line_span(data, node.start_byte, node.end_byte)
    return not data[start : node.start_byte].strip() and not data[node.end_byte : end].strip()


def indent_of(data: bytes, pos: int) -> str:
    """The indentation of the line holding byte ``pos``."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    m = re.match(rb"[ \t]*", data[line_start:pos])
    return m.group(0).decode() if m else ""
