"""``daxlint --format json``: the report as one JSON object."""

from __future__ import annotations

import json

from daxlint import __version__
from daxlint.model import Report
from daxlint.output.escape import json_safe


def as_dict(report: Report, extra: dict | None = None) -> dict:
    """The report as JSON data. Text is valid UTF-8: a byte of a file name
    that is not UTF-8 shows as ``\\xNN`` in ``path``, and ``path_base64``
    beside it holds the name's raw bytes."""
    c = report.counts()
    d = {
        "findings": [f.to_dict() for f in report.findings],
        "skipped": [s.to_dict() for s in report.skipped],
        "errors": [e.to_dict() for e in report.errors],
        "suppressed": [f.to_dict() for f in report.suppressed],
        "summary": {
            "files_checked": report.files_checked,
            "files_parsed": report.files_parsed,
            "findings": len(report.findings),
            "by_severity": c,
            "suppressed": len(report.suppressed),
        },
        "kernel_version": report.kernel_version,
        "notes": report.notes,
        "daxlint_version": __version__,
    }
    if extra:
        d.update(extra)
    return json_safe(d)


def render(report: Report, extra: dict | None = None) -> str:
    return json.dumps(as_dict(report, extra), indent=2) + "\n"
