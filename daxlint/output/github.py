"""GitHub Actions workflow commands: annotations on the pull request diff."""

from __future__ import annotations

from daxlint.model import Report, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(report: Report) -> str:
    lines = []
    for f in report.findings:
        props = [f"file={_escape_property(f.path)}", f"line={f.line}", f"col={f.column}"]
        if f.end_line:
            props.append(f"endLine={f.end_line}")
        props.append(f"title={_escape_property(f.rule_id)}")
        lines.append(f"::{_LEVEL[f.severity]} {','.join(props)}::{_escape_data(f.rule_id + ': ' + f.message)}")
    for s in report.skipped:
        lines.append(f"::notice file={_escape_property(s.path)},title=daxlint skipped::{_escape_data(s.reason)}")
    for e in report.errors:
        lines.append(f"::warning file={_escape_property(e.path)},title=daxlint internal error::{_escape_data(e.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
