"""Judging daxlint's findings on whole Debian kernel trees against verdicts
read by hand (tests/data/realtree/*.json), in a way Debian's point releases
cannot break and regressions cannot slip through.

A verdict is keyed to what it judges: the rule, the file (its path in the
tree), the function and the construct (the source line the finding starts
on, white space squashed) - never its line number or a total, which a
stable update moves. Comparing a run with the verdicts:

- a finding judged true (or acceptable) that is no longer reported, or is
  reported at another severity, fails: the rules lost something;
- a construct judged false that is reported again fails: a fixed false
  positive came back;
- a finding no verdict covers (code a point release brought in) does not
  fail: it is printed, and written with the Debian version it came from to
  ``tests/realtree-unjudged/<run>.json`` (``DAXLINT_UNJUDGED_DIR`` moves
  it), ready to be judged and added to the data file.

The same construct twice in one function is counted: two judged, three
found leaves one unjudged; two judged true, one found loses one."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO, kernel_tree_module

DATA = Path(__file__).resolve().parent / "data" / "realtree"
# Verdicts whose finding must stay reported, and those that must not come back.
KEPT = frozenset({"true", "acceptable"})
GONE = frozenset({"false", "false-positive"})


def squash(text: str | None) -> str:
    return " ".join((text or "").split())


def key_of(rule: str, path: str, function: str | None, snippet: str | None) -> tuple[str, str, str, str]:
    return (rule, path, function or "", squash(snippet))


def verdict_key(entry: dict) -> tuple[str, str, str, str]:
    return key_of(entry["rule"], entry["path"], entry.get("function"), entry.get("snippet"))


def finding_key(finding: dict, path: str) -> tuple[str, str, str, str]:
    return key_of(finding["rule_id"], path, finding.get("function"), finding.get("snippet"))


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


@dataclass
class Judgement:
    """What a run says against its verdicts."""

    lost: list[dict] = field(default_factory=list)  # judged kept, not reported
    severity_changed: list[tuple[dict, str]] = field(default_factory=list)  # (verdict, severity now)
    came_back: list[dict] = field(default_factory=list)  # judged false, reported again
    unjudged: list[dict] = field(default_factory=list)  # findings no verdict covers

    @property
    def failures(self) -> list[str]:
        out = [f"judged-{e['verdict']} finding no longer reported: {_describe(e)}" for e in self.lost]
        out += [f"severity changed to {now}: {_describe(e)}" for e, now in self.severity_changed]
        out += [f"judged-false construct reported again: {_describe(e)}" for e in self.came_back]
        return out


def _describe(entry: dict) -> str:
    rule = entry.get("rule") or entry.get("rule_id")
    where = entry.get("relpath") or entry.get("path")
    return f"{rule} {where}:{entry.get('line')} {entry.get('function')}(): {squash(entry.get('snippet'))}"


def judge(findings: list[dict], verdicts: list[dict], relpath=lambda f: f["path"]) -> Judgement:
    """Compare a run's JSON findings with verdicts (``relpath``: a finding's
    path in the tree)."""
    found: dict[tuple, list[dict]] = {}
    for f in findings:
        found.setdefault(finding_key(f, relpath(f)), []).append(f)
    judged_count = Counter(verdict_key(e) for e in verdicts)
    out = Judgement()
    kept_so_far: Counter = Counter()  # judged-kept verdicts of each key seen so far
    for e in verdicts:
        key = verdict_key(e)
        hits = found.get(key, [])
        if e["verdict"] in KEPT:
            nth = kept_so_far[key]
            kept_so_far[key] += 1
            if len(hits) <= nth:
                out.lost.append(e)
            elif hits[nth]["severity"] != e["severity"]:
                out.severity_changed.append((e, hits[nth]["severity"]))
        elif e["verdict"] in GONE and hits:
            out.came_back.append(e)
    for key, hits in found.items():
        for f in hits[judged_count.get(key, 0) :]:
            out.unjudged.append({**f, "relpath": relpath(f)})
    return out


def unjudged_dir() -> Path:
    override = os.environ.get("DAXLINT_UNJUDGED_DIR")
    return Path(override) if override else REPO / "tests" / "realtree-unjudged"


def report(run: str, version: str, judgement: Judgement, extra: dict | None = None) -> str:
    """Print what the run was checked on and its unjudged findings, and write
    them to a file for a later verdict; returns what was printed."""
    tree = kernel_tree_module.describe(version)
    lines = [f"{run}: {tree}"]
    path = unjudged_dir() / f"{run}.json"
    if judgement.unjudged:
        lines.append(f"{len(judgement.unjudged)} finding(s) nobody has judged yet (new code of this upload?), written to {path}:")
        lines += [f"  {f['severity']} {_describe(f)} - {f['message']}" for f in judgement.unjudged]
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            {
                "rule": f["rule_id"],
                "path": f["relpath"],
                "line": f["line"],
                "function": f.get("function"),
                "severity": f["severity"],
                "snippet": f.get("snippet"),
                "message": f["message"],
                "verdict": "",
                "reason": "",
            }
            for f in judgement.unjudged
        ]
        path.write_text(json.dumps({"tree": tree, **(extra or {}), "findings": entries}, indent=1) + "\n")
    elif path.exists():
        path.unlink()  # judged since: nothing left to read
    text = "\n".join(lines)
    print(text)
    return text
