"""What ``daxlint check --fix`` may fix when the gate narrows the report:
with ``--diff REV`` only findings on changed lines, with ``--baseline``
only findings the baseline does not list - in every round of fixing, while
the fixes already made move the lines. (The fixer in daxlint.fix asks
``keep()`` for each round's findings and tells ``edited()`` what it did.)"""

from __future__ import annotations

import os

from daxlint.core.spans import ChangedLines
from daxlint.gate.baseline import Baseline, Scope, apply_baseline
from daxlint.gate.gitdiff import DiffScope, path_key
from daxlint.model import Edit, Finding


class FixScope:
    def __init__(self, diff: DiffScope | None = None, baseline: Baseline | None = None, rule_ids: set[str] | None = None):
        self.baseline = baseline
        self.rule_ids = rule_ids or set()
        self.lines = ChangedLines(self._changed_lines(diff)) if diff is not None else None

    @staticmethod
    def _changed_lines(diff: DiffScope):
        def lookup(display: str):
            entry = diff.changed.get(path_key(display))
            if entry is None:
                return frozenset()
            return entry.lines  # None: a new file, every line

        return lookup

    def keep(self, display: str, data: bytes, findings: list[Finding]) -> list[Finding]:
        if self.lines is not None:
            findings = self.lines.keep(display, data, findings)
        if self.baseline is not None and findings:
            scope = Scope([os.path.abspath(display)], self.rule_ids)
            findings = apply_baseline(self.baseline, findings, scope).new
        return findings

    def edited(self, display: str, old: bytes, edits: list[Edit]) -> None:
        if self.lines is not None:
            self.lines.edited(display, old, edits)
