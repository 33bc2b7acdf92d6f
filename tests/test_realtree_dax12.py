"""DAX1xx/DAX2xx on the whole Debian kernel trees, against the findings we
read and judged (tests/data/realtree/dax12-<version>.json).

A finding is identified by rule + path + function (the snippet for
findings outside a function, such as Kconfig entries); lines are kept in
the data for readers but not compared, so a Debian point release that
moves code does not break the test. The test fails when a finding judged
true or acceptable disappears or changes severity, when a finding appears
that nobody judged, or when one of the policy's negatives is flagged.
Findings judged false-positive may disappear."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import kernel_tree_or_skip, run_daxlint

DATA = Path(__file__).resolve().parent / "data" / "realtree"
VERSIONS = ["6.1", "6.12"]


def finding_key(rule: str, path: str, function: str | None, snippet: str) -> tuple[str, str, str]:
    return (rule, path, function or snippet)


def judged(version: str) -> dict:
    return json.loads((DATA / f"dax12-{version}.json").read_text())


@pytest.mark.parametrize("version", VERSIONS)
def test_judged_data_is_complete(version):
    """Every judged entry says what it is and why (this runs without the trees)."""
    data = judged(version)
    assert data["kernel_version"] == version
    for f in data["findings"]:
        assert f["rule"].startswith(("DAX1", "DAX2")), f
        assert f["verdict"] in ("true", "acceptable", "false-positive"), f
        assert f["severity"] in ("error", "warning", "info"), f
        assert f["reason"].strip() and f["path"] and f["line"] > 0, f
    assert data["negatives"], "the policy's negatives must be listed"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_whole_tree_matches_judged_findings(version):
    tree = kernel_tree_or_skip(version)
    data = judged(version)
    code, out, err = run_daxlint(
        "check", "--no-cache", "--jobs", "2", "--select", "DAX1,DAX2", "--format", "json", "fs", "drivers", "mm", cwd=tree
    )
    assert code in (0, 1), err
    report = json.loads(out)
    assert not report.get("errors"), report.get("errors")
    assert report.get("kernel_version", version) == version

    got = Counter()
    got_severity: dict[tuple, set[str]] = {}
    for f in report["findings"]:
        key = finding_key(f["rule_id"], f["path"], f.get("function"), f["snippet"])
        got[key] += 1
        got_severity.setdefault(key, set()).add(f["severity"])

    expected = Counter()
    allowed = Counter()
    severity: dict[tuple, str] = {}
    for f in data["findings"]:
        key = finding_key(f["rule"], f["path"], f["function"], f["snippet"])
        allowed[key] += 1
        severity[key] = f["severity"]
        if f["verdict"] != "false-positive":
            expected[key] += 1

    lost = expected - got
    assert not lost, f"judged findings no longer reported: {sorted(lost)}"
    unjudged = got - allowed
    assert not unjudged, (
        f"new findings nobody has judged (read them, then add them to {DATA.name}/dax12-{version}.json): {sorted(unjudged)}"
    )
    changed = {k: (severity[k], sorted(got_severity[k])) for k in expected if got_severity.get(k) != {severity[k]}}
    assert not changed, f"severity changed (judged, now): {changed}"

    for neg in data["negatives"]:
        prefixes = tuple(neg["rules"].split(","))
        flagged = [f for f in report["findings"] if f["path"] == neg["path"] and f["rule_id"].startswith(prefixes)]
        assert not flagged, f"{neg['path']} must not be flagged by {neg['rules']} ({neg['reason']}): {flagged}"
