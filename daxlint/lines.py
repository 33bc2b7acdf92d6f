"""Lines as git counts them - and tree-sitter's rows, and so every line
number daxlint reports: a line ends at "\\n" and nowhere else.

Python's ``str.splitlines()`` also ends a line at "\\r", "\\v", "\\f",
"\\x1c"-"\\x1e", "\\x85", U+2028 and U+2029, which are text to git; a line
numbered by it is not the line a hunk, a ``--diff`` or a finding names,
and a character planted above a write moved the write out of view. A
"\\r" before the "\\n" stays on its line, as in git's diffs."""

from __future__ import annotations


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """``text``'s lines as git counts them; like ``str.splitlines()``, no
    empty line after a final "\\n" and none for empty text."""
    lines = text.split("\n")
    last = lines.pop()
    if keepends:
        lines = [line + "\n" for line in lines]
    if last:
        lines.append(last)
    return lines
