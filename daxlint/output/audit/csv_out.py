"""``daxlint audit --format csv``: one row per event."""

from __future__ import annotations

import csv
import io

from daxlint.audit.results import AuditResult
from daxlint.output.escape import printable

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
    "versions",  # of a range: the kernels the finding applies to ("6.3..6.12")
]


class SafeWriter:
    """A csv writer whose cells are printable(): valid UTF-8 (a file name's
    undecodable bytes as \\xNN) and without the terminal controls a commit
    subject may carry (the CSV goes to standard output by default)."""

    def __init__(self, buf: io.StringIO):
        self.writer = csv.writer(buf, lineterminator="\n")

    def writerow(self, row) -> None:
        self.writer.writerow([printable(c) if isinstance(c, str) else c for c in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


def render_csv(result: AuditResult) -> str:
    """One row per event: a finding introduced, fixed, moved or suppressed
    (silenced by a daxlint: ignore comment) by a commit, or a commit that
    could not be audited."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(CSV_COLUMNS)
    w.writerows(event_rows(result))
    return buf.getvalue()


def finding_cells(f, change: str, still_open: str = "") -> list:
    """A finding's cells of a row, from ``change`` to ``versions``."""
    return [change, f.rule_id, f.severity.value, f.path, f.line, f.column, f.message, f.fingerprint, still_open, "", f.versions or ""]


def event_rows(result: AuditResult):
    """The rows of render_csv(), without the header."""
    for c in result.commits:
        base = [c.sha, c.date, c.author, c.subject]
        if c.skipped:
            yield base + ["skipped", "", "", "", "", "", c.skipped, "", "", "", ""]
        for f in c.introduced:
            yield base + finding_cells(f, "introduced", still_open="yes" if f.fingerprint in c.still_open else "no")
        for f in c.fixed:
            yield base + finding_cells(f, "fixed")
        for f in c.suppressed:
            yield base + finding_cells(f, "suppressed")
        for m in c.moved:
            yield base + [
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
                "",
            ]
