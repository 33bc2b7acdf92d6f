"""GitHub Actions workflow commands: each finding becomes an annotation on
the pull request diff (``::error file=...,line=...,col=...,title=...::``).
Skips, internal errors and notes become notices; a plain summary line
ends the log. GitHub shows a limited number of annotations per step; the
lines themselves stay in the job log."""

from __future__ import annotations

from daxlint.model import Report, Severity
from daxlint.output.escape import printable
from daxlint.output.text import summary_line
from daxlint.version import short_versions

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, props: list[tuple[str, object]], message: str) -> str:
    """One workflow command; ``message`` may hold line breaks of ours, every
    other control character (and an undecodable byte) is shown escaped."""
    message = "\n".join(printable(part) for part in message.split("\n"))
    attrs = ",".join(f"{k}={_escape_property(printable(str(v)))}" for k, v in props)
    return f"::{level} {attrs}::{_escape_data(message)}" if attrs else f"::{level}::{_escape_data(message)}"


def _rule_names() -> dict[str, str]:
    from daxlint.core.registry import all_rules

    return {cls.id: cls.name for cls in all_rules()}


def render(report: Report) -> str:
    names = _rule_names() if report.findings else {}
    lines = []
    for f in report.findings:
        props: list[tuple[str, object]] = [("file", f.path), ("line", f.line), ("col", f.column)]
        if f.end_line and f.end_line >= f.line:
            props.append(("endLine", f.end_line))
            if f.end_line == f.line and f.end_column:
                props.append(("endColumn", f.end_column))
        name = names.get(f.rule_id)
        props.append(("title", f"{f.rule_id} ({name})" if name else f.rule_id))
        message = f"{f.rule_id}: {f.message}{short_versions(f.versions, report.kernel_version)}"
        if f.fix:
            message += f"\nfix: {f.fix}"
        lines.append(_command(_LEVEL[f.severity], props, message))
    for s in report.skipped:
        # A file daxlint could not analyse is a hole in the gate: a warning.
        lines.append(_command("notice" if s.missing else "warning", [("file", s.path), ("title", "daxlint skipped")], s.reason))
    for e in report.errors:
        lines.append(_command("warning", [("file", e.path), ("title", "daxlint internal error")], e.message))
    for n in report.notes:
        lines.append(_command("notice", [("title", "daxlint")], n))
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
