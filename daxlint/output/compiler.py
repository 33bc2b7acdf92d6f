"""Diagnostics as a compiler and sparse print them, for ``daxlint kbuild``:
``file:line:col: warning: [DAX301] message``, which make, editors and CI
log parsers already read as compiler output. Like sparse, every finding is
a warning unless the build asked for errors (``-Wsparse-error``,
``--werror``, ``--fail-on``); info findings are notes."""

from __future__ import annotations

from daxlint.model import Report, Severity
from daxlint.output.escape import printable


def level(severity: Severity, fail_on: Severity | None) -> str:
    """gcc's word for a finding of ``severity``."""
    if fail_on is not None and severity.rank >= fail_on.rank:
        return "error"
    return "note" if severity is Severity.INFO else "warning"


def render(report: Report, fail_on: Severity | None = None) -> str:
    """One line a finding, then a line for each file that could not be
    analysed (an error when the build asked for errors: what was not looked
    at cannot be vouched for) and each note."""
    out = [
        f"{printable(f.path)}:{f.line}:{f.column}: {level(f.severity, fail_on)}: [{f.rule_id}] {printable(f.message)}"
        for f in report.findings
    ]
    problem = "error" if fail_on is not None else "warning"
    out += [f"{printable(s.path)}: {problem}: daxlint: not checked: {printable(s.reason)}" for s in report.skipped]
    out += [
        f"{printable(e.path)}: {problem}: daxlint: internal error in {e.rule_id or 'daxlint'}: {printable(e.message)}"
        for e in report.errors
    ]
    out += [f"daxlint: note: {printable(note)}" for note in report.notes]
    return "".join(line + "\n" for line in out)
