"""``daxlint audit`` as plain text and as JSON."""

from __future__ import annotations

import json

from daxlint.audit.results import AuditResult
from daxlint.output.audit import changed_commits, summary_line
from daxlint.output.escape import json_safe, printable
from daxlint.output.text import finding_line


def render_text(result: AuditResult) -> str:
    return "\n".join([*commit_lines(result), printable(summary_line(result))]) + "\n"


def commit_lines(result: AuditResult) -> list[str]:
    """The commits that changed something, and the notes."""
    out = []
    for c in changed_commits(result):
        out.append(f"{c.sha[:12]} {c.date[:10]} {printable(c.author)}: {printable(c.subject)}")
        if c.skipped:
            out.append(f"  skipped: {printable(c.skipped)}")
        if c.compared_whole_tree:
            out.append(f"  (whole tree compared: {c.compared_whole_tree})")
        for f in c.introduced:
            out.append(f"  + {finding_line(f, c.kernel_version)}{' [still open]' if f.fingerprint in c.still_open else ''}")
        for f in c.fixed:
            out.append(f"  - {finding_line(f, c.kernel_version)}")
        for f in c.suppressed:
            comment = printable((f.suppression or {}).get("comment", ""))
            out.append(f"  = {finding_line(f, c.kernel_version)} [suppressed: {comment}]")
        for m in c.moved:
            out.append(
                f"  ~ {m['rule_id']} moved {printable(m['from']['path'])}:{m['from']['line']} -> {printable(m['to']['path'])}:{m['to']['line']}"
            )
        for e in c.errors:
            out.append(f"  internal error in {e.rule_id or 'daxlint'} on {printable(e.path)}: {printable(e.message)}")
    for note in result.notes:
        out.append(f"note: {printable(note)}")
    return out


def render_json(result: AuditResult) -> str:
    return json.dumps(json_safe(result.to_dict()), indent=2) + "\n"
