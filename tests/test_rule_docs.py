"""Every rule's doc has the five headings `daxlint explain` users rely on,
and `daxlint explain ID` prints it (as Markdown with --plain, rendered
without). The DAX1xx/DAX2xx docs also give the history: upstream commit
ids from the policy."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_daxlint
from daxlint.core.registry import all_rules
from daxlint.core.rule import DOC_HEADINGS

RULES = list(all_rules())
COMMIT_ID = re.compile(r"\b[0-9a-f]{12}\b")


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_doc_has_the_headings_in_order(rule):
    doc = rule.doc()
    positions = []
    for heading in DOC_HEADINGS:
        m = re.search(rf"^## {re.escape(heading)}\??\s*$", doc, re.M)
        assert m, f"{rule.id}: doc lacks '## {heading}'"
        positions.append(m.start())
    assert positions == sorted(positions), f"{rule.id}: headings out of order"
    sections = re.split(r"^## .*$", doc, flags=re.M)[1:]
    assert all(s.strip() for s in sections), f"{rule.id}: a heading has no text under it"


@pytest.mark.parametrize("rule", [r for r in RULES if r.id.startswith(("DAX1", "DAX2"))], ids=lambda r: r.id)
def test_page_rules_cite_history(rule):
    refs = rule.doc().split("## References", 1)[1]
    assert COMMIT_ID.search(refs), f"{rule.id}: References name no upstream commit"
    assert "569d0365f571" in rule.doc() or "34c0fd540e79" in rule.doc(), f"{rule.id}: the page requirement's history is missing"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_explain_prints_the_doc(rule):
    code, out, err = run_daxlint("explain", rule.id, "--plain")
    assert code == 0, err
    assert out.startswith(f"# {rule.id}: {rule.name}")
    for heading in DOC_HEADINGS:
        assert f"## {heading}" in out
    first = rule.doc().split("## What it does", 1)[1].strip().splitlines()[0]
    assert first in out


def test_explain_renders_markdown():
    code, out, err = run_daxlint("explain", "DAX101")
    assert code == 0, err
    assert "What it does" in out and "## What it does" not in out  # rendered, not raw Markdown
    assert "569d0365f571" in out


def test_explain_accepts_rule_names():
    code, out, _ = run_daxlint("explain", "kconfig-dax-without-zone-device", "--plain")
    assert code == 0
    assert out.startswith("# DAX204: kconfig-dax-without-zone-device")


def test_explain_unknown_rule_is_a_usage_error():
    code, out, err = run_daxlint("explain", "DAX999")
    assert code == 2
    assert "DAX999" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_says_what_fix_does(rule):
    """Every rule says whether --fix fixes its findings and why (or why not);
    explain prints it, JSON metadata carries it."""
    assert rule.fix_safety in ("safe", "unsafe", "none")
    assert len(rule.fix_note) > 40, f"{rule.id}: fix_note says too little"
    code, out, err = run_daxlint("explain", rule.id, "--plain")
    assert code == 0, err
    section = out.split("## Fix", 1)[1]
    assert rule.fix_note.split(":")[0][:30] in section
    assert {"safe": "Fix: safe", "unsafe": "Fix: unsafe", "none": "Fix: none"}[rule.fix_safety] in section


def test_fix_safety_of_the_rules():
    by_id = {r.id: r.fix_safety for r in RULES}
    assert by_id["DAX301"] == "safe" and by_id["DAX001"] == "safe"
    assert by_id["DAX305"] == "unsafe"
    assert all(by_id[i] == "none" for i in by_id if i.startswith(("DAX1", "DAX2")))
    code, out, _ = run_daxlint("rules", "--format", "json")
    assert code == 0
    meta = {r["id"]: r for r in json.loads(out)}
    assert meta["DAX305"]["fix"]["safety"] == "unsafe" and "page-backed" in meta["DAX305"]["fix"]["note"]
