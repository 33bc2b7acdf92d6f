"""DAX3xx on whole Debian kernel trees, against findings read and judged by
hand (tests/data/realtree/dax3-<run>.json), compared by construct as
tests/realtree.py describes: a judged-true finding that disappears or
changes severity fails, a judged-false one that comes back fails, and a
finding nobody judged (new code of a point release) is listed for a verdict
without failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import kernel_tree_or_skip, run_daxlint
from realtree import judge, load, report

# The judged runs: each tree as itself, and 6.1 checked as v6.3 (vm_flags
# const: DAX301 reports every direct write).
RUNS = {"6.1": ("6.1", None), "6.12": ("6.12", None), "6.1-as-6.3": ("6.1", "6.3"), "7.3": ("7.3", None)}


@pytest.mark.parametrize("run", RUNS)
def test_judged_data_is_complete(run):
    """Every judged entry says what the slow test and the README rely on."""
    data = load(f"dax3-{run}")
    assert data["findings"] or data["unknown_context"]
    for entry in data["findings"]:
        assert set(entry) >= {"rule", "path", "line", "function", "severity", "snippet", "verdict", "reason"}, entry
        assert entry["rule"].startswith("DAX3") and entry["verdict"] in ("true", "false"), entry
        assert entry["severity"] in ("error", "warning", "info") and entry["reason"], entry
    for entry in data.get("unknown_context", []):
        assert entry["reason"] and "TODO" not in entry["reason"], entry


def dax3_run(tree: Path, as_version: str | None) -> list[dict]:
    pin = ["--kernel-version", as_version] if as_version else []
    # DAX310 (.mmap deprecated) is judged on its own: dax310-7.3.json.
    code, out, err = run_daxlint(
        "check", "--no-cache", "--jobs", "2", "--select", "DAX3", "--ignore", "DAX310", *pin, "--format", "json", str(tree)
    )
    assert code in (0, 1), err
    result = json.loads(out)
    assert not result["errors"], result["errors"][:5]
    for f in result["findings"]:
        f["relpath"] = str(Path(f["path"]).resolve().relative_to(tree.resolve()))
    return result["findings"]


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_dax3_on_real_tree(run):
    source, as_version = RUNS[run]
    tree = kernel_tree_or_skip(source)
    judgement = judge(dax3_run(tree, as_version), load(f"dax3-{run}")["findings"], relpath=lambda f: f["relpath"])
    report(f"dax3-{run}", source, judgement, {"checked_as": as_version} if as_version else None)
    assert not judgement.failures, "\n".join(judgement.failures)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.1", "6.12", "7.3"])
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
    missed, skipped_reads, writers = [], set(), set()
    for path in sorted(tree.rglob("*.[ch]")):
        data = path.read_bytes()
        if b"vm_flags" not in data:
            continue
        # Helper calls (remap_pfn_range() and kin) have their own byte test,
        # proven in test_realtree_prefilters.py with the rules that use it.
        writes = [w for w in model_for(SourceFile(str(path), data), catalog).writes if w.kind != "helper"]
        rel = str(path.relative_to(tree))
        if writes:
            writers.add(rel)
        if writes and not may_write_vm_flags(data):
            missed.append(f"{rel}:{writes[0].node.start_point[0] + 1}")
        if not writes and not may_write_vm_flags(data):
            skipped_reads.add(rel)
    assert not missed
    # The tree has both kinds: files that write the flags (binder's ->mmap,
    # perf's, the fault path's) are parsed, files that only read them (GUP,
    # THP, the page cache) skipped.
    assert {"drivers/android/binder.c", "kernel/events/core.c", "fs/proc/task_mmu.c", "mm/memory.c"} <= writers
    assert {"mm/gup.c", "mm/huge_memory.c", "mm/filemap.c"} <= skipped_reads


@pytest.mark.slow
def test_a_point_release_lists_new_code_and_still_catches_a_lost_finding(tmp_path, monkeypatch):
    """Debian's next upload, simulated on a copy of two drivers of the 6.12
    tree: code moves down and a new fault handler changes flags. The judged
    findings are still recognised and the new one is listed, not failed;
    then a judged-true construct goes away, and that fails."""
    import shutil

    tree = kernel_tree_or_skip("6.12")
    copy = tmp_path / "linux"
    for rel in ("drivers/misc/sgi-gru", "fs/fuse"):
        shutil.copytree(tree / rel, copy / rel)
    shutil.copyfile(tree / "Makefile", copy / "Makefile")
    verdicts = [e for e in load("dax3-6.12")["findings"] if e["path"].startswith(("drivers/misc/sgi-gru/", "fs/fuse/"))]
    assert {e["function"] for e in verdicts} == {"gru_fault", "fuse_dax_mmap"}
    monkeypatch.setenv("DAXLINT_UNJUDGED_DIR", str(tmp_path / "unjudged"))

    grumain = copy / "drivers/misc/sgi-gru/grumain.c"
    source = grumain.read_text()
    new_code = (
        "\nstatic vm_fault_t gru_stable_fault(struct vm_fault *vmf)\n{\n\tvm_flags_set(vmf->vma, VM_IO);\n\treturn 0;\n}\n"
        "static const struct vm_operations_struct gru_stable_ops = {\n\t.fault = gru_stable_fault,\n};\n"
    )
    grumain.write_text("/*\n * A stable backport's comment.\n */\n" + source + new_code)
    judgement = judge(dax3_run(copy, None), verdicts, relpath=lambda f: f["relpath"])
    printed = report("dax3-simulated", "6.12", judgement)
    assert not judgement.failures, judgement.failures
    assert [(f["rule_id"], f["relpath"], f["function"]) for f in judgement.unjudged] == [
        ("DAX302", "drivers/misc/sgi-gru/grumain.c", "gru_stable_fault")
    ]
    written = json.loads((tmp_path / "unjudged" / "dax3-simulated.json").read_text())
    assert written["tree"].startswith("Debian linux-source-6.12 ") and written["findings"][0]["snippet"] == "vm_flags_set(vmf->vma, VM_IO);"
    assert "gru_stable_fault" in printed

    # The stable update drops the judged remap_pfn_range() from gru_fault().
    grumain.write_text(grumain.read_text().replace("remap_pfn_range(vma, vaddr", "gru_remap(vma, vaddr", 1))
    judgement = judge(dax3_run(copy, None), verdicts, relpath=lambda f: f["relpath"])
    assert [(e["rule"], e["function"]) for e in judgement.lost] == [("DAX302", "gru_fault")], judgement.failures
