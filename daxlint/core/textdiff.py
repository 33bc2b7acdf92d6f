"""Unified diffs, in the form ``git apply`` and ``patch -p1`` read: ``diff
--git a/PATH b/PATH``, three lines of context, the function a hunk sits in
after its ``@@`` (as git writes it), and "\\ No newline at end of file"
where a file ends without one. ``check --fix --dry-run`` prints them;
``patch --fix`` makes a patch's hunks again from fixed files."""

from __future__ import annotations

import difflib
import re

from daxlint.core.files import source_bytes
from daxlint.lines import split_lines

_FUNCNAME = re.compile(r"^[A-Za-z_$]")  # git's default hunk-header pattern


def unified_diff(old: bytes, new: bytes, path: str, context: int = 3) -> str:
    """The diff turning ``old`` into ``new`` for the file ``path`` (relative,
    '/' separated); empty when they are equal."""
    if old == new:
        return ""
    return "".join([f"diff --git a/{path} b/{path}\n", f"--- a/{path}\n", f"+++ b/{path}\n", *hunks_text(old, new, context)])


def hunks_text(old: bytes, new: bytes, context: int = 3) -> list[str]:
    """The hunks (``@@`` lines and their lines) turning ``old`` into ``new``."""
    a = split_lines(old.decode("utf-8", "surrogateescape"), keepends=True)
    b = split_lines(new.decode("utf-8", "surrogateescape"), keepends=True)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        a_start, a_end, b_start, b_end = first[1], last[2], first[3], last[4]
        header = f"@@ -{_range(a_start, a_end - a_start)} +{_range(b_start, b_end - b_start)} @@"
        func = _function_line(a, a_start)
        out.append(f"{header} {func}\n" if func else header + "\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(_lines(" ", a[i1:i2]))
                continue
            if tag in ("replace", "delete"):
                out.extend(_lines("-", a[i1:i2]))
            if tag in ("replace", "insert"):
                out.extend(_lines("+", b[j1:j2]))
    return out


def _range(start: int, length: int) -> str:
    """``start,length`` as unified diffs number lines (1-based; an empty
    range names the line before it)."""
    if length == 1:
        return f"{start + 1}"
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def _lines(prefix: str, lines: list[str]):
    for line in lines:
        if line.endswith("\n"):
            yield prefix + line
        else:
            yield prefix + line + "\n\\ No newline at end of file\n"


def _function_line(lines: list[str], before: int) -> str:
    """The last line above the hunk that starts a definition, cut as git cuts it."""
    for i in range(before - 1, -1, -1):
        if _FUNCNAME.match(lines[i]):
            return lines[i].rstrip("\r\n")[:80].rstrip()
    return ""


def changed_lines(old: bytes, new: bytes) -> frozenset[int] | None:
    """The lines of ``new`` (1-based, as git counts them) that are not in
    ``old``, both read as the parser reads them (UTF-16 transcoded, NUL
    bytes as spaces) - for files git shows only as "Binary files differ".
    None when either cannot be read as text (the analysis says why)."""
    (old_text, old_why), (new_text, new_why) = source_bytes(old), source_bytes(new)
    if old_why or new_why:
        return None
    matcher = difflib.SequenceMatcher(None, old_text.split(b"\n"), new_text.split(b"\n"), autojunk=False)
    return frozenset(n + 1 for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert") for n in range(j1, j2))
