"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Every result carries ``partialFingerprints`` (daxlint's fingerprint: rule,
path, function and normalised code, no line number) so an alert keeps its
identity when lines move, every rule carries its doc as help text, and a
finding with a mechanical fix carries it as SARIF ``fixes`` (byte ranges
and replacement text, the safety in its properties).
GitHub code scanning accepts at most 25,000 results per run; past that the
report keeps the most severe ones and says so in a run notification."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from daxlint import __version__
from daxlint.model import Report, Severity
from daxlint.output.escape import json_safe

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
GITHUB_RESULT_LIMIT = 25000
FINGERPRINT_KEY = "daxlintFingerprint/v1"
SRCROOT = "%SRCROOT%"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub shows non-security alerts by properties["problem.severity"].
_PROBLEM_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "recommendation"}
_PRECISION = {"high": "high", "medium": "medium", "low": "low"}
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.M)


def _section(doc: str, heading: str) -> str | None:
    """The text under ``## heading`` in a rule doc, or None."""
    parts = _SECTION.split(doc)
    for title, body in zip(parts[1::2], parts[2::2]):
        if title.strip().lower() == heading.lower():
            return " ".join(body.split()) or None
    return None


def _rule_descriptor(cls) -> dict:
    doc = cls.doc() + "\n\n" + cls.fix_section()
    return {
        "id": cls.id,
        "name": cls.name,
        "shortDescription": {"text": cls.summary},
        "fullDescription": {"text": _section(doc, "What it does") or cls.summary},
        "help": {"text": doc or cls.summary, "markdown": doc or cls.summary},
        "defaultConfiguration": {"level": _LEVEL[cls.severity]},
        "properties": {
            "tags": ["dax", cls.family()],
            "precision": _PRECISION.get(cls.confidence, "medium"),
            "problem.severity": _PROBLEM_SEVERITY[cls.severity],
            "fix": cls.fix_safety,
        },
    }


def artifact_location(path: str) -> dict:
    """A path as a SARIF artifactLocation: relative paths become
    percent-encoded URIs relative to %SRCROOT% (the directory daxlint ran
    in, which in CI is the repository's top), absolute ones file: URIs;
    both percent-encode the name's bytes, so a name that is not UTF-8
    keeps its identity."""
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(os.fsencode(path.replace(os.sep, "/")), safe="/"), "uriBaseId": SRCROOT}


def _result(f, index: dict[str, int]) -> dict:
    """One finding as a SARIF result; one a ``daxlint: ignore`` comment
    silenced carries an inSource suppression (SARIF 2.1.0 3.27.23), which
    code scanning shows as dismissed rather than open."""
    region = {"startLine": max(1, f.line), "startColumn": max(1, f.column)}
    if f.end_line and f.end_line >= f.line:
        region["endLine"] = f.end_line
        if f.end_column:
            region["endColumn"] = f.end_column
    r = {
        "ruleId": f.rule_id,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": artifact_location(f.path), "region": region}}],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
    }
    if f.rule_id in index:
        r["ruleIndex"] = index[f.rule_id]
    if f.suppression:
        where = f" at line {f.suppression['line']}" if f.suppression.get("line") else ""
        r["suppressions"] = [{"kind": "inSource", "justification": f"{f.suppression.get('comment', '')}{where}"}]
    if f.autofix is not None and f.autofix.edits:
        r["fixes"] = [_fix(f.path, f.autofix)]
    props = {}
    if f.fix:
        props["suggestion"] = f.fix
    if f.versions:
        props["versions"] = f.versions
    if f.patch:
        props["patch"] = f.patch
        if f.subject:
            props["subject"] = f.subject
    if props:
        r["properties"] = props
    return r


def _fix(path: str, fix) -> dict:
    """A finding's edits as a SARIF fix: byte ranges of the file and the
    text that replaces each; whether it is safe goes in its properties."""
    return {
        "description": {"text": fix.description},
        "artifactChanges": [
            {
                "artifactLocation": artifact_location(path),
                "replacements": [
                    {"deletedRegion": {"byteOffset": e.start, "byteLength": e.end - e.start}, "insertedContent": {"text": e.replacement}}
                    for e in sorted(fix.edits, key=lambda e: (e.start, e.end))
                ],
            }
        ],
        "properties": {"safety": fix.safety},
    }


def as_dict(report: Report, limit: int = GITHUB_RESULT_LIMIT) -> dict:
    from daxlint.core.registry import all_rules

    rules = list(all_rules())
    index = {cls.id: i for i, cls in enumerate(rules)}
    findings = sorted(report.findings, key=lambda f: (-f.severity.rank, f.path, f.line, f.column, f.rule_id))
    notifications = []
    if len(findings) > limit:
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{len(findings)} results, capped at {limit} (GitHub code scanning's limit per run); the most severe are kept"
                },
            }
        )
        findings = findings[:limit]
    # Suppressed findings after the open ones, within the same cap.
    silenced = sorted(report.suppressed, key=lambda f: (-f.severity.rank, f.path, f.line, f.column, f.rule_id))
    results = [_result(f, index) for f in (findings + silenced)[:limit]]
    for s in report.skipped:
        # A file daxlint could not analyse is a hole in the gate: a warning.
        level = "note" if s.missing else "warning"
        note = {"level": level, "message": {"text": f"skipped {s.path}: {s.reason}"}, "descriptor": {"id": "skipped-file"}}
        note["locations"] = [{"physicalLocation": {"artifactLocation": artifact_location(s.path)}}]
        notifications.append(note)
    for e in report.errors:
        notifications.append(
            {"level": "error", "message": {"text": f"internal error in {e.rule_id or 'daxlint'} on {e.path}: {e.message}"}}
        )
    for n in report.notes:
        notifications.append({"level": "note", "message": {"text": n}})
    run = {
        "tool": {
            "driver": {
                "name": "daxlint",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule_descriptor(c) for c in rules],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
        "results": results,
        "invocations": [{"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}],
    }
    if report.kernel_version:
        run["properties"] = {"kernelVersion": report.kernel_version}
    # Messages name files: a byte that is not UTF-8 shows as \xNN there (the
    # URIs above carry the raw bytes percent-encoded).
    return json_safe({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, frozenset())


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"
