"""Plain text, one finding a line, the way compilers and ruff print them:
``path:line:col: severity[RULE] message``, and below it, indented, the
suggested fix when the message does not already spell it."""

from __future__ import annotations

from daxlint.model import Report
from daxlint.output.escape import printable
from daxlint.version import short_versions


def finding_line(f, checked: str | None = None) -> str:
    """One finding; ``checked`` is the version range the run checked, so a
    finding of only some of its versions says which ("(v6.3+)")."""
    where = f"{printable(f.path)}:{f.line}:{f.column}"
    tail = short_versions(f.versions, checked)
    tail += f" (patch {f.patch}: {printable(f.subject or '')})" if f.patch else ""
    if f.fixed_by:
        tail += f" [removed again by patch {f.fixed_by}]"
    return f"{where}: {f.severity.value}[{f.rule_id}] {printable(f.message)}{tail}"


def fix_hint(f) -> str | None:
    """The fix to show beside the message, unless the message already says it."""
    return f.fix if f.fix and f.fix not in f.message else None


def fix_lines(hint: str, indent: str) -> list[str]:
    """A fix shown as ``fix: ...`` lines under a finding. A guarded fix spans
    lines (``#if``/``#else``/``#endif``): each is printed on its own line,
    indented under the first, rather than squeezed into one with ``\\x0a``."""
    first, *rest = hint.split("\n")
    return [f"{indent}fix: {printable(first)}"] + [f"{indent}     {printable(line)}" for line in rest]


def suppressed_text(count: int) -> str:
    """How many findings ``daxlint: ignore`` comments silenced, for a summary."""
    return f"{count} suppressed by daxlint: ignore comments"


def summary_line(report: Report) -> str:
    c = report.counts()
    n = len(report.findings)
    files = f"{report.files_checked} file{'s' if report.files_checked != 1 else ''}"
    silenced = f"; {suppressed_text(len(report.suppressed))}" if report.suppressed else ""
    if n == 0:
        return f"No findings in {files} (kernel {report.kernel_version}){silenced}."
    return (
        f"Found {n} finding{'s' if n != 1 else ''} ({c['error']} error, {c['warning']} warning, {c['info']} info) "
        f"in {files} (kernel {report.kernel_version}){silenced}."
    )


def render(report: Report) -> str:
    out = []
    for f in report.findings:
        out.append(finding_line(f, report.kernel_version))
        hint = fix_hint(f)
        if hint:
            out.extend(fix_lines(hint, "    "))
    for s in report.skipped:
        out.append(f"{printable(s.path)}: skipped: {printable(s.reason)}")
    for e in report.errors:
        out.append(f"{printable(e.path)}: internal error in {e.rule_id or 'daxlint'}: {printable(e.message)}")
    for note in report.notes:
        out.append(f"note: {printable(note)}")
    out.append(summary_line(report))
    return "\n".join(out) + "\n"
