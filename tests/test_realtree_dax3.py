"""DAX3xx on whole Debian kernel trees, against findings read and judged by
hand (tests/data/realtree/dax3-<version>.json).

The test fails when a finding judged true disappears, or when a finding
nobody has judged appears: either is a change in what the rules say about
real code, and someone has to read it. A judged finding is recognised by its
line, or - when a newer Debian upload moves the code - by its function and
source text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import kernel_tree_or_skip, run_daxlint

DATA = Path(__file__).resolve().parent / "data" / "realtree"
VERSIONS = ["6.1", "6.12"]
# The judged runs: each tree as itself, and 6.1 checked as v6.3 (vm_flags
# const: DAX301 reports every direct write).
RUNS = {"6.1": ("6.1", None), "6.12": ("6.12", None), "6.1-as-6.3": ("6.1", "6.3")}


def judged(version: str) -> dict:
    return json.loads((DATA / f"dax3-{version}.json").read_text())


def _matches(entry: dict, finding: dict) -> bool:
    if entry["rule"] != finding["rule_id"] or entry["path"] != finding["relpath"]:
        return False
    if entry["line"] == finding["line"]:
        return True
    return entry["function"] == finding.get("function") and entry["snippet"] == finding.get("snippet")


@pytest.mark.parametrize("version", RUNS)
def test_judged_data_is_complete(version):
    """Every judged entry says what the slow test and the README rely on."""
    data = judged(version)
    assert data["findings"] or data["unknown_context"]
    for entry in data["findings"]:
        assert set(entry) >= {"rule", "path", "line", "function", "severity", "snippet", "verdict", "reason"}, entry
        assert entry["rule"].startswith("DAX3") and entry["verdict"] in ("true", "false"), entry
        assert entry["severity"] in ("error", "warning", "info") and entry["reason"], entry
    for entry in data.get("unknown_context", []):
        assert entry["reason"] and "TODO" not in entry["reason"], entry


@pytest.mark.slow
@pytest.mark.parametrize("version", RUNS)
def test_dax3_on_real_tree(version):
    source, as_version = RUNS[version]
    tree = kernel_tree_or_skip(source)
    data = judged(version)
    pin = ["--kernel-version", as_version] if as_version else []
    code, out, err = run_daxlint("check", "--no-cache", "--jobs", "2", "--select", "DAX3", *pin, "--format", "json", str(tree))
    assert code in (0, 1), err
    report = json.loads(out)
    assert not report["errors"], report["errors"][:5]
    findings = report["findings"]
    for f in findings:
        f["relpath"] = str(Path(f["path"]).resolve().relative_to(tree.resolve()))

    unjudged = [f for f in findings if not any(_matches(e, f) for e in data["findings"])]
    assert not unjudged, "new findings nobody has judged (read them, then add them to the data file):\n" + "\n".join(
        f"{f['rule_id']} {f['relpath']}:{f['line']} {f.get('function')}: {f['message']}" for f in unjudged
    )
    for entry in data["findings"]:
        hits = [f for f in findings if _matches(entry, f)]
        if entry["verdict"] == "true":
            assert hits, f"judged-true finding disappeared: {entry['rule']} {entry['path']}:{entry['line']} ({entry['function']})"
            assert hits[0]["severity"] == entry["severity"], (entry, hits[0]["severity"])


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_byte_prefilter_keeps_every_write(version):
    """may_write_vm_flags() lets the engine skip parsing files that only read
    vm_flags; on a whole tree it must say True for every file where the
    parsed model finds a write, or DAX3xx would lose findings for speed."""
    from daxlint.analysis.vmflags import may_write_vm_flags, model_for
    from daxlint.core.catalog import catalog_for
    from daxlint.core.source import SourceFile
    from daxlint.version import KernelVersion

    tree = kernel_tree_or_skip(version)
    catalog = catalog_for(KernelVersion.parse("6.3"))
    missed, skipped_reads, writers = [], 0, 0
    for path in sorted(tree.rglob("*.[ch]")):
        data = path.read_bytes()
        if b"vm_flags" not in data:
            continue
        # Helper calls (remap_pfn_range() and kin) have their own byte test,
        # proven in test_realtree_prefilters.py with the rules that use it.
        writes = [w for w in model_for(SourceFile(str(path), data), catalog).writes if w.kind != "helper"]
        writers += bool(writes)
        if writes and not may_write_vm_flags(data):
            missed.append(f"{path.relative_to(tree)}:{writes[0].node.start_point[0] + 1}")
        skipped_reads += not writes and not may_write_vm_flags(data)
    assert not missed
    assert writers > 100 and skipped_reads > 100  # the tree has both kinds
