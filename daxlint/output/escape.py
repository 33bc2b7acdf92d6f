"""What every renderer does to text that comes from the checked code, file
names, commit subjects and mail before it reaches a terminal, a log or a
file. Linux file names are bytes: daxlint carries an undecodable byte as
Python's surrogate escape (U+DC80..U+DCFF) and shows it as ``\\xNN``.

- ``printable()`` (text, checkpatch, GitHub, rich, audit text and CSV, corpus):
  undecodable bytes as ``\\xNN``; control characters - C0 except the tab,
  DEL, C1 - as ``\\xNN`` (ESC becomes ``\\x1b``, so ``\\e]0;...\\a`` and
  ``\\e[2J`` print as text and do nothing); line and paragraph separators
  and the bidirectional controls of "Trojan source" as ``\\uNNNN``.
  Backslashes are left alone.
- ``printable_lines()`` (the audit's HTML page): the same, but line breaks
  stay; HTML escaping itself is Jinja's.
- ``utf8_safe()`` (JSON, SARIF): only the undecodable bytes, as
  ``\\xNN``, so the output is valid UTF-8 (JSON escapes control
  characters itself).
- Rich never sees such text as markup: the rich views wrap it in
  ``rich.text.Text`` (``plain()``), so ``[/bold]`` or ``[media]`` in a
  subject prints as written.
"""

from __future__ import annotations

import base64
import os
import re

_SURROGATES = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# The same, but line breaks stay: for blocks of lines (a diff excerpt in a page).
_UNPRINTABLE_IN_LINES = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _show(m: re.Match) -> str:
    cp = ord(m.group())
    if 0xDC80 <= cp <= 0xDCFF:  # an undecodable byte of a file name or mail
        return f"\\x{cp - 0xDC00:02x}"
    if cp < 0x80:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}"


def printable(s: str) -> str:
    """``s`` safe for a terminal or a line-oriented log (see the module doc)."""
    return _UNPRINTABLE.sub(_show, s) if _UNPRINTABLE.search(s) else s


def printable_lines(s: str) -> str:
    """``printable()`` for text of several lines: ``\n`` and ``\r`` stay."""
    return _UNPRINTABLE_IN_LINES.sub(_show, s) if _UNPRINTABLE_IN_LINES.search(s) else s


def utf8_safe(s: str) -> str:
    """``s`` encodable as UTF-8: undecodable bytes as ``\\xNN``."""
    return _SURROGATES.sub(_show, s) if _SURROGATES.search(s) else s


def raw_base64(s: str) -> str | None:
    """The bytes ``s`` stands for (a file name), base64-encoded, when they
    are not UTF-8 and ``utf8_safe()`` had to change it; else None."""
    if not _SURROGATES.search(s):
        return None
    try:
        raw = os.fsencode(s)
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        raw = s.encode("utf-8", "surrogatepass")
    return base64.b64encode(raw).decode("ascii")


def json_safe(value, path_keys: frozenset[str] = frozenset({"path"})):
    """A JSON-ready copy of ``value`` with every string ``utf8_safe()``;
    beside each ``path`` that changed, ``path_base64`` holds its raw bytes."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, list | tuple):
        return [json_safe(v, path_keys) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[utf8_safe(k) if isinstance(k, str) else k] = json_safe(v, path_keys)
            if k in path_keys and isinstance(v, str):
                raw = raw_base64(v)
                if raw is not None:
                    out[f"{k}_base64"] = raw
        return out
    return value


def plain(s: str, style: str = ""):
    """A rich Text of ``printable(s)``: never parsed as markup."""
    from rich.text import Text

    return Text(printable(s), style=style)
