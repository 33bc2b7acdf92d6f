"""``daxlint audit --format csv``: one row per event."""

from __future__ import annotations

import csv
import io

from daxlint.audit.results import AuditResult
from daxlint.output.escape import utf8_safe

CSV_COLUMNS = [
    "sha",
    "date",
    "author",
    "subject",
    "change",
    "rule_id",
    "severity",
    "path",
    "line",
    "column",
    "message",
    "fingerprint",
    "still_open",
    "moved_from",
]


class _Writer:
    """A csv writer whose cells are valid UTF-8 (a file name's undecodable
    bytes as \\xNN)."""

    def __init__(self, writer):
        self.writer = writer

    def writerow(self, row) -> None:
        self.writer.writerow([utf8_safe(c) if isinstance(c, str) else c for c in row])


def render_csv(result: AuditResult) -> str:
    """One row per event: a finding introduced, fixed or moved by a commit,
    or a commit that could not be audited."""
    buf = io.StringIO()
    w = _Writer(csv.writer(buf, lineterminator="\n"))
    w.writerow(CSV_COLUMNS)
    for c in result.commits:
        base = [c.sha, c.date, c.author, c.subject]
        if c.skipped:
            w.writerow(base + ["skipped", "", "", "", "", "", c.skipped, "", "", ""])
        for f in c.introduced:
            w.writerow(
                base
                + [
                    "introduced",
                    f.rule_id,
                    f.severity.value,
                    f.path,
                    f.line,
                    f.column,
                    f.message,
                    f.fingerprint,
                    "yes" if f.fingerprint in c.still_open else "no",
                    "",
                ]
            )
        for f in c.fixed:
            w.writerow(base + ["fixed", f.rule_id, f.severity.value, f.path, f.line, f.column, f.message, f.fingerprint, "", ""])
        for m in c.moved:
            w.writerow(
                base
                + [
                    "moved",
                    m["rule_id"],
                    "",
                    m["to"]["path"],
                    m["to"]["line"],
                    "",
                    m["message"],
                    m["to"]["fingerprint"],
                    "",
                    f"{m['from']['path']}:{m['from']['line']}",
                ]
            )
    return buf.getvalue()
