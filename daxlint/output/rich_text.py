"""The text report drawn with rich for a terminal: findings grouped by file
with the flagged line, then a summary table."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from daxlint.model import Report, Severity
from daxlint.output.escape import plain, printable
from daxlint.output.text import fix_hint, fix_lines, summary_line
from daxlint.version import short_versions

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    for path, group in groupby(report.findings, key=lambda f: f.path):
        console.print(plain(path, "bold underline"))
        for f in group:
            line = Text()
            line.append(f"  {f.line}:{f.column} ", style="dim")
            line.append(f"{f.severity.value:<7} ", style=_STYLE[f.severity])
            line.append(f"{f.rule_id} ", style="bold")
            line.append(printable(f.message))
            line.append(short_versions(f.versions, report.kernel_version), style="cyan")
            if f.patch:
                line.append(f"  (patch {f.patch}: {printable(f.subject or '')})", style="dim")
            console.print(line)
            if f.snippet:
                console.print(plain(f"      {f.snippet}", "dim italic"))
            hint = fix_hint(f)
            if hint:
                for fix_line in fix_lines(hint, "      "):
                    console.print(plain(fix_line, "green"))
        console.print()
    for s in report.skipped:
        console.print(plain(f"skipped {s.path}: {s.reason}", "magenta"))
    for e in report.errors:
        console.print(plain(f"internal error in {e.rule_id or 'daxlint'} on {e.path}: {e.message}", "bold magenta"))
    for n in report.notes:
        console.print(plain(f"note: {n}", "dim"))
    if report.findings:
        t = Table(title=None, show_edge=False)
        t.add_column("rule")
        t.add_column("severity")
        t.add_column("count", justify="right")
        counts: dict[tuple[str, Severity], int] = {}
        for f in report.findings:
            counts[(f.rule_id, f.severity)] = counts.get((f.rule_id, f.severity), 0) + 1
        for (rid, sev), n in sorted(counts.items()):
            t.add_row(rid, Text(sev.value, style=_STYLE[sev]), str(n))
        console.print(t)
    console.print(Text(summary_line(report), style="bold"))


def rule_line(rule, name_width: int) -> Text:
    """A rule in ``daxlint rules``: id, name, severity (coloured as in
    reports) and summary."""
    line = Text(f"{rule.id}  {rule.name:<{name_width}}  ")
    line.append(f"{rule.severity.value:<7}", style=_STYLE[rule.severity])
    line.append(f"  {rule.summary}")
    return line
