"""What ``daxlint check --fix`` may fix when the gate narrows the report:
with ``--diff REV`` only findings on changed lines, with ``--baseline``
only findings the baseline does not list - in every round of fixing, while
the fixes already made move the lines. (The fixer in daxlint.fix asks
``keep()`` for each round's findings and tells ``edited()`` what it did.)"""

from __future__ import annotations

import os

from daxlint.gate.baseline import Baseline, Scope, apply_baseline
from daxlint.gate.gitdiff import DiffScope, path_key
from daxlint.model import Edit, Finding


class FixScope:
    def __init__(self, diff: DiffScope | None = None, baseline: Baseline | None = None, rule_ids: set[str] | None = None):
        self.diff = diff
        self.baseline = baseline
        self.rule_ids = rule_ids or set()
        # display path -> byte ranges of the changed lines in the file as it now is
        self._spans: dict[str, list[tuple[int, int]] | None] = {}

    def keep(self, display: str, data: bytes, findings: list[Finding]) -> list[Finding]:
        if self.diff is not None:
            spans = self._changed(display, data)
            if spans is not None:
                starts = _line_starts(data)
                findings = [f for f in findings if _touches(f, starts, len(data), spans)]
        if self.baseline is not None and findings:
            scope = Scope([os.path.abspath(display)], self.rule_ids)
            findings = apply_baseline(self.baseline, findings, scope).new
        return findings

    def edited(self, display: str, old: bytes, edits: list[Edit]) -> None:
        if self.diff is None:
            return
        spans = self._changed(display, old)
        if spans is None:
            return
        self._spans[display] = [_moved(s, e, edits) for s, e in spans]

    def _changed(self, display: str, data: bytes) -> list[tuple[int, int]] | None:
        """The changed lines of the file as byte ranges; None: all of it."""
        if display not in self._spans:
            entry = self.diff.changed.get(path_key(display))
            if entry is None:
                self._spans[display] = []
            elif entry.lines is None:
                self._spans[display] = None
            else:
                starts = _line_starts(data)
                spans = []
                for n in sorted(entry.lines):
                    if 0 < n <= len(starts):
                        spans.append((starts[n - 1], starts[n] if n < len(starts) else len(data)))
                self._spans[display] = spans
        return self._spans[display]


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    pos = data.find(b"\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = data.find(b"\n", pos + 1)
    if starts[-1] == len(data) and len(starts) > 1:
        starts.pop()
    return starts


def _touches(f: Finding, starts: list[int], size: int, spans: list[tuple[int, int]]) -> bool:
    first = max(1, f.line)
    last = max(first, f.end_line or first)
    lo = starts[min(first, len(starts)) - 1]
    hi = starts[last] if last < len(starts) else size
    return any(s < hi and lo < e for s, e in spans)


def _moved(start: int, end: int, edits: list[Edit]) -> tuple[int, int]:
    """A byte range of the file before ``edits`` in the file after them; a
    range an edit touches grows to hold the edit's new text."""
    return _point(start, edits, False), _point(end, edits, True)


def _point(p: int, edits: list[Edit], end_side: bool) -> int:
    shift = 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        grow = len(e.replacement.encode("utf-8", "surrogateescape")) - (e.end - e.start)
        if e.end < p or (e.end == p and (e.start < p or end_side)):
            shift += grow
        elif e.start < p < e.end:
            return e.start + shift + (len(e.replacement.encode("utf-8", "surrogateescape")) if end_side else 0)
        else:
            break
    return p + shift
