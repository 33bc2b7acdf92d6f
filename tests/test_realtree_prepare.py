"""DAX310 (deprecated ``file_operations.mmap``) and its ``.mmap_prepare``
conversion on whole Debian kernel trees.

- On 7.3, every ``.mmap`` of a file_operations is an info finding, judged
  by construct in tests/data/realtree/dax310-7.3.json (tests/realtree.py):
  a judged finding lost, reported at another severity or with the other
  outcome (converted / left with its reason) fails; one nobody judged is
  printed. The ``--dry-run`` patch applies to a copy of the files it
  touches, and afterwards DAX310 finds nothing left to convert there.
- Against upstream: the handlers 6.12 registered as ``.mmap`` and 7.3 as
  ``.mmap_prepare`` are found by comparing the trees' initializers
  (tests/prepare_compare.py), the 6.12 files are converted for 7.3, and
  each converted function is compared with 7.3's. The sites judged to
  agree must keep agreeing; the share is asserted against floors that one
  site of a point release cannot cross (the figure is in the README)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import kernel_tree_module, kernel_tree_or_skip, run_daxlint
from daxlint.version import KernelVersion
from prepare_compare import EQUIVALENT, IDENTICAL, REFUSED, compare, convert, report, summary, upstream_conversions
from realtree import judge, load
from realtree import report as realtree_report

pytestmark = pytest.mark.slow

CHECK = ("check", "--no-cache", "--jobs", "2", "--select", "DAX310")
# Sites where daxlint's conversion was judged to be upstream's (Debian
# 6.12.118 -> 7.3.4): identical, or equivalent as prepare_compare reads it.
AGREE = {
    ("drivers/char/hpet.c", "hpet_mmap"),
    ("drivers/char/mem.c", "mmap_mem"),
    ("drivers/hwtracing/stm/core.c", "stm_char_mmap"),
    ("fs/9p/vfs_file.c", "v9fs_file_mmap"),
    ("fs/erofs/data.c", "erofs_file_mmap"),
    ("fs/exfat/file.c", "exfat_file_mmap"),
    ("fs/f2fs/file.c", "f2fs_file_mmap"),
    ("fs/nilfs2/file.c", "nilfs_file_mmap"),
    ("fs/orangefs/file.c", "orangefs_file_mmap"),
    ("fs/ramfs/file-nommu.c", "ramfs_nommu_mmap"),
    ("fs/romfs/mmap-nommu.c", "romfs_mmap"),
    ("fs/ubifs/file.c", "ubifs_file_mmap"),
    ("fs/vboxsf/file.c", "vboxsf_file_mmap"),
    ("fs/xfs/xfs_file.c", "xfs_file_mmap"),
    ("fs/zonefs/file.c", "zonefs_file_mmap"),
    ("kernel/relay.c", "relay_file_mmap"),
    ("mm/secretmem.c", "secretmem_mmap"),
    ("mm/shmem.c", "shmem_mmap"),
    ("fs/read_write.c", "generic_file_readonly_mmap"),
    ("fs/fat/file.c", "generic_file_mmap"),
}
# 34 of 52 sites agreed, 34 of the 44 upstream changed by the conversion
# alone (README "Measured against upstream"); a point release moves these
# by a site at most. The judged sites (AGREE) must each be found and agree:
# the rates are never over an empty or a shrunken comparison.
AGREEMENT_AT_LEAST = 0.6
CONVERSION_ALONE_AGREEMENT_AT_LEAST = 0.72


@pytest.fixture(scope="module")
def trees():
    return kernel_tree_or_skip("6.12"), kernel_tree_or_skip("7.3")


def test_judged_data_is_complete():
    data = load("dax310-7.3")
    assert data["findings"]
    for entry in data["findings"]:
        assert set(entry) >= {"rule", "path", "line", "function", "severity", "snippet", "verdict", "outcome", "reason"}, entry
        assert entry["rule"] == "DAX310" and entry["severity"] == "info" and entry["verdict"] == "true", entry
        assert entry["outcome"] in ("converted", "refused") and entry["reason"], entry


def _run(tree: Path, *args: str) -> list[dict]:
    code, out, err = run_daxlint(*CHECK, *args, "--format", "json", ".", cwd=tree)
    assert code == 0, err  # info findings only
    result = json.loads(out)
    assert not result["errors"], result["errors"][:5]
    return result["findings"]


def test_dax310_on_7_3(trees, tmp_path):
    _, tree = trees
    findings = _run(tree)
    assert {f["severity"] for f in findings} == {"info"}
    verdicts = load("dax310-7.3")["findings"]
    judgement = judge(findings, verdicts)
    realtree_report("dax310-7.3", "7.3", judgement)
    assert not judgement.failures, "\n".join(judgement.failures)
    # Each judged construct keeps its outcome.
    outcome = {(f["path"], f["snippet"]): "converted" if f["fix"] and f["fix"]["edits"] else "refused" for f in findings}
    changed = [e for e in verdicts if outcome.get((e["path"], e["snippet"])) not in (None, e["outcome"])]
    assert not changed, changed[:5]
    converted = [f for f in findings if f["fix"] and f["fix"]["edits"]]
    print(f"DAX310 on {kernel_tree_module.describe('7.3')}: {len(findings)} findings, {len(converted)} converted")
    # The conversion patch applies, and leaves nothing to convert.
    patch = tmp_path / "convert.patch"
    code, out, err = run_daxlint(*CHECK, "--fix", "--dry-run", "--unsafe-fixes", "-o", str(patch), ".", cwd=tree)
    assert code == 1, err
    files = sorted({f["path"] for f in converted})
    assert f"would fix {len(converted)} findings in {len(files)} files" in err, err
    scratch = tmp_path / "scratch"
    for rel in files:
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tree / rel, scratch / rel)
    subprocess.run(["git", "init", "-q", "."], cwd=scratch, check=True)
    applied = subprocess.run(["git", "apply", str(patch)], cwd=scratch, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    code, out, err = run_daxlint(*CHECK, "--kernel-version", "7.3", "--format", "json", *files, cwd=scratch)
    left = json.loads(out)["findings"]
    assert not [f for f in left if f["fix"] and f["fix"]["edits"]], left[:3]
    # The tree itself was not written.
    assert not re.search(rb"mmap_prepare", (tree / "drivers/tee/tee_shm.c").read_bytes())


def test_agreement_with_upstream(trees, tmp_path):
    old, new = trees
    sites = upstream_conversions(old, new, KernelVersion(6, 12), KernelVersion(7, 3))
    found = {(s.path, s.old) for s in sites}
    assert AGREE <= found, sorted(AGREE - found)
    converted = convert(sites, old, "7.3", run_daxlint, tmp_path)
    compare(sites, converted, old, new)
    figures = summary(sites)
    print(f"{kernel_tree_module.describe('6.12')} -> {kernel_tree_module.describe('7.3')}")
    print(report(sites))
    print(json.dumps(figures))
    lost = sorted((s.path, s.old, s.verdict, s.why) for s in sites if (s.path, s.old) in AGREE and not s.agrees)
    assert not lost, lost
    assert all(s.why for s in sites if s.verdict == REFUSED) and not [s for s in sites if s.why == "not reported"]
    assert figures["agreeing"] == figures[IDENTICAL] + figures[EQUIVALENT]
    assert figures["agreeing"] >= AGREEMENT_AT_LEAST * figures["sites"]
    assert figures["agreeing_of_conversion_alone"] >= CONVERSION_ALONE_AGREEMENT_AT_LEAST * figures["conversion_alone"]


def test_byte_prefilter_keeps_every_mmap_member(trees):
    """DAX310's look at a file's bytes (could_match) says no only where the
    file registers no .mmap: every 7.3 file it skips is parsed here and
    has no such registration."""
    from daxlint.analysis.callgraph import CallGraph
    from daxlint.analysis.types import TypeResolver
    from daxlint.core.catalog import catalog_for
    from daxlint.core.registry import select_rules
    from daxlint.core.source import SourceFile
    from daxlint.core.syntax import parent_index

    _, tree = trees
    [rule_class] = select_rules(["DAX310"])
    rule = rule_class()
    catalog = catalog_for(KernelVersion(7, 3))
    skipped = 0
    for path in tree.rglob("*.[ch]"):
        data = path.read_bytes()
        if b"mmap" not in data or rule.could_match(data):
            continue
        skipped += 1
        with parent_index():
            src = SourceFile(str(path), data)
            graph = CallGraph(src.root, data, TypeResolver(src, catalog), defined_only=False)
            assert not [r for r in graph.registrations if r.member == "mmap"], path
    assert skipped
