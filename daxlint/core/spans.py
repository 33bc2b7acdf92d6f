"""Changed lines that follow edits: which findings a round of fixing may
touch when only some lines are in scope (``check --diff``: the lines
changed since a revision; ``patch --fix``: the lines the series added).
The lines become byte ranges of the file as it was; each round of edits
moves and grows them (a range an edit touches holds the edit's text)."""

from __future__ import annotations

from collections.abc import Callable

from daxlint.model import Edit, Finding


class ChangedLines:
    """``lookup(display)`` gives a file's changed line numbers (1-based) in
    the file as first analysed; None means every line."""

    def __init__(self, lookup: Callable[[str], frozenset[int] | set[int] | None]):
        self.lookup = lookup
        self._spans: dict[str, list[tuple[int, int]] | None] = {}

    def keep(self, display: str, data: bytes, findings: list[Finding]) -> list[Finding]:
        spans = self.spans(display, data)
        if spans is None:
            return findings
        starts = line_starts(data)
        return [f for f in findings if touches(f, starts, len(data), spans)]

    def edited(self, display: str, old: bytes, edits: list[Edit]) -> None:
        spans = self.spans(display, old)
        if spans is not None:
            self._spans[display] = [moved(s, e, edits) for s, e in spans]

    def spans(self, display: str, data: bytes) -> list[tuple[int, int]] | None:
        """The changed lines of the file as byte ranges; None: all of it."""
        if display not in self._spans:
            lines = self.lookup(display)
            if lines is None:
                self._spans[display] = None
            else:
                starts = line_starts(data)
                self._spans[display] = [
                    (starts[n - 1], starts[n] if n < len(starts) else len(data)) for n in sorted(lines) if 0 < n <= len(starts)
                ]
        return self._spans[display]


def line_starts(data: bytes) -> list[int]:
    starts = [0]
    pos = data.find(b"\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = data.find(b"\n", pos + 1)
    if starts[-1] == len(data) and len(starts) > 1:
        starts.pop()
    return starts


def touches(f: Finding, starts: list[int], size: int, spans: list[tuple[int, int]]) -> bool:
    first = max(1, f.line)
    last = max(first, f.end_line or first)
    lo = starts[min(first, len(starts)) - 1]
    hi = starts[last] if last < len(starts) else size
    return any(s < hi and lo < e for s, e in spans)


def moved(start: int, end: int, edits: list[Edit]) -> tuple[int, int]:
    """A byte range of the file before ``edits`` in the file after them; a
    range an edit touches grows to hold the edit's new text."""
    return _point(start, edits, False), _point(end, edits, True)


def _point(p: int, edits: list[Edit], end_side: bool) -> int:
    shift = 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        size = len(e.replacement.encode("utf-8", "surrogateescape"))
        grow = size - (e.end - e.start)
        if e.end < p or (e.end == p and (e.start < p or end_side)):
            shift += grow
        elif e.start < p < e.end:
            return e.start + shift + (size if end_side else 0)
        else:
            break
    return p + shift
