"""Lines of a file's bytes, for edits that move or replace whole statements:
the lines a node spans, whether it has them to itself, their indentation."""

from __future__ import annotations

import re

from tree_sitter import Node


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
