"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers."""

from __future__ import annotations

import json

from daxlint import __version__
from daxlint.model import Report, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
GITHUB_RESULT_LIMIT = 25000
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_PRECISION = {"high": "high", "medium": "medium", "low": "low"}


def _rule_descriptor(cls) -> dict:
    doc = cls.doc()
    return {
        "id": cls.id,
        "name": cls.name,
        "shortDescription": {"text": cls.summary},
        "fullDescription": {"text": cls.summary},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": _LEVEL[cls.severity]},
        "properties": {"tags": ["dax", cls.family()], "precision": _PRECISION.get(cls.confidence, "medium")},
    }


def as_dict(report: Report, limit: int = GITHUB_RESULT_LIMIT) -> dict:
    from daxlint.registry import all_rules

    rules = list(all_rules())
    index = {cls.id: i for i, cls in enumerate(rules)}
    results = []
    findings = sorted(report.findings, key=lambda f: (-f.severity.rank, f.path, f.line))
    notifications = []
    if len(findings) > limit:
        notifications.append({
            "level": "warning",
            "message": {"text": f"{len(findings)} results, capped at {limit} (GitHub code scanning limit); errors first"},
        })
        findings = findings[:limit]
    for f in findings:
        region = {"startLine": f.line, "startColumn": f.column}
        if f.end_line:
            region["endLine"] = f.end_line
            if f.end_column:
                region["endColumn"] = f.end_column
        r = {
            "ruleId": f.rule_id,
            "level": _LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"}, "region": region}}],
            "partialFingerprints": {"daxlintFingerprint/v1": f.fingerprint},
        }
        if f.rule_id in index:
            r["ruleIndex"] = index[f.rule_id]
        if f.fix:
            r["properties"] = {"suggestion": f.fix}
        results.append(r)
    for s in report.skipped:
        notifications.append({"level": "note", "message": {"text": f"skipped {s.path}: {s.reason}"}})
    for e in report.errors:
        notifications.append({"level": "error", "message": {"text": f"internal error in {e.rule_id or 'daxlint'} on {e.path}: {e.message}"}})
    run = {
        "tool": {"driver": {"name": "daxlint", "version": __version__, "rules": [_rule_descriptor(c) for c in rules]}},
        "results": results,
        "invocations": [{"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"
