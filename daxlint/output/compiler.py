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


# gcc's colours (GCC_COLORS' defaults): the place bold, each level's word
# and the option it names in its colour. \x1b[K clears to the end of the
# line, as gcc does, so that a coloured line wraps cleanly.
_SGR = {"locus": "01", "error": "01;31", "warning": "01;35", "note": "01;36"}


def render(report: Report, fail_on: Severity | None = None, color: bool = False) -> str:
    """One line a finding, then a line for each file that could not be
    analysed (an error when the build asked for errors: what was not looked
    at cannot be vouched for) and each note; coloured as gcc colours its
    diagnostics when ``color``."""

    def paint(what: str, text: str) -> str:
        return f"\x1b[{_SGR[what]}m\x1b[K{text}\x1b[m\x1b[K" if color else text

    def line(where: str, word: str, text: str, rule: str = "") -> str:
        rule = f"{paint(word, f'[{rule}]')} " if rule else ""
        return f"{paint('locus', where + ':')} {paint(word, word + ':')} {rule}{text}"

    out = [
        line(f"{printable(f.path)}:{f.line}:{f.column}", level(f.severity, fail_on), printable(f.message), f.rule_id)
        for f in report.findings
    ]
    problem = "error" if fail_on is not None else "warning"
    out += [line(printable(s.path), problem, f"daxlint: not checked: {printable(s.reason)}") for s in report.skipped]
    out += [
        line(printable(e.path), problem, f"daxlint: internal error in {e.rule_id or 'daxlint'}: {printable(e.message)}")
        for e in report.errors
    ]
    out += [line("daxlint", "note", printable(note)) for note in report.notes]
    return "".join(line + "\n" for line in out)
