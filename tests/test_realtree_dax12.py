"""DAX1xx/DAX2xx on the whole Debian kernel trees, against the findings we
read and judged (tests/data/realtree/dax12-<version>.json), compared by
construct as tests/realtree.py describes (rule + path + function + the
source line; lines are kept in the data for readers only): a finding judged
true or acceptable that disappears or changes severity fails, a finding
judged false-positive that comes back fails, a finding nobody judged is
listed for a verdict; and the policy's negatives must never be flagged."""

from __future__ import annotations

import json

import pytest

from conftest import kernel_tree_or_skip, run_daxlint
from realtree import judge, load, report

VERSIONS = ["6.1", "6.12", "7.3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_judged_data_is_complete(version):
    """Every judged entry says what it is and why (this runs without the trees)."""
    data = load(f"dax12-{version}")
    assert data["kernel_version"] == version
    for f in data["findings"]:
        assert f["rule"].startswith(("DAX1", "DAX2")), f
        assert f["verdict"] in ("true", "acceptable", "false-positive"), f
        assert f["severity"] in ("error", "warning", "info"), f
        assert f["reason"].strip() and f["path"] and f["line"] > 0 and f["snippet"].strip(), f
    assert data["negatives"], "the policy's negatives must be listed"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_whole_tree_matches_judged_findings(version):
    tree = kernel_tree_or_skip(version)
    data = load(f"dax12-{version}")
    code, out, err = run_daxlint(
        "check", "--no-cache", "--jobs", "2", "--select", "DAX1,DAX2", "--format", "json", "fs", "drivers", "mm", cwd=tree
    )
    assert code in (0, 1), err
    result = json.loads(out)
    assert not result.get("errors"), result.get("errors")
    assert result.get("kernel_version", version) == version

    judgement = judge(result["findings"], data["findings"])
    report(f"dax12-{version}", version, judgement)
    assert not judgement.failures, "\n".join(judgement.failures)

    for neg in data["negatives"]:
        prefixes = tuple(neg["rules"].split(","))
        flagged = [f for f in result["findings"] if f["path"] == neg["path"] and f["rule_id"].startswith(prefixes)]
        assert not flagged, f"{neg['path']} must not be flagged by {neg['rules']} ({neg['reason']}): {flagged}"
