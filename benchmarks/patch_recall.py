#!/usr/bin/env python3
"""Recall of ``daxlint patch`` on hunks alone against the same patches
checked with the tree (``--tree``), on one-line patches made from a real
kernel tree.

    benchmarks/patch_recall.py [--tree 6.1] [--json]

For every site - each direct vm_flags write DAX301 finds in the tree
checked as v6.3, and each line of a .c file that spells PFN_DEV (DAX1) -
the patch is the one that adds that line: its pre-image is the file
without the line, its post-image the file as it is, and git (``diff=cpp``,
as a kernel checkout's .gitattributes say) writes the hunk header. The
patch is checked twice in process, with the rules the site is about: once
with nothing but the hunks, once applied to the tree (the file's other
lines, its siblings and Kconfig in view). A site counts as found in a mode
when that mode reports a finding of the family on the patch's added line.
Recall is hunk-only found / tree found; "extra" are hunk-only findings the
tree does not confirm. tests/test_patch_recall.py asserts the numbers the
README states.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from kernel_tree import kernel_tree  # noqa: E402

from daxlint.core.engine import EngineOptions  # noqa: E402
from daxlint.core.kernel import KernelContext  # noqa: E402
from daxlint.core.registry import select_rules  # noqa: E402
from daxlint.patch.checker import SeriesChecker  # noqa: E402
from daxlint.patch.mail import parse_series  # noqa: E402
from daxlint.patch.series import AppliedSeries, DiskBase, SeriesTree  # noqa: E402
from daxlint.version import KernelVersion  # noqa: E402

_PFN_DEV = re.compile(rb"\bPFN_DEV\b")


@dataclass
class Kind:
    """One kind of site: which rules check it, as which kernel version."""

    name: str
    select: str
    version: str
    sites: int = 0
    tree_found: int = 0
    hunk_found: int = 0  # of the ones the tree found
    hunk_extra: int = 0  # hunk-only findings the tree does not have
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.hunk_found / self.tree_found if self.tree_found else 1.0


class _PreImage(DiskBase):
    """The tree on disk, with one file as it was before the patch."""

    def __init__(self, root: str, rel: str, data: bytes):
        super().__init__(root)
        self.rel, self.data = rel, data

    def read(self, rel: str) -> bytes | None:
        return self.data if rel == self.rel else super().read(rel)


def vm_flags_sites(tree: Path) -> list[tuple[str, int]]:
    """(path, line) of every direct vm_flags write DAX301 reports on the
    tree checked as v6.3."""
    out = subprocess.run(
        [sys.executable, "-m", "daxlint", "check", "--no-cache", "--select", "DAX301", "--kernel-version", "6.3", "--format", "json", "."],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(out.stdout)
    return sorted({(os.path.normpath(f["path"]), f["line"]) for f in report["findings"]})


def pfn_dev_sites(tree: Path) -> list[tuple[str, int]]:
    """(path, line) of every line of a .c file that spells PFN_DEV (not a #define)."""
    out = []
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            if not name.endswith(".c"):
                continue
            path = Path(dirpath) / name
            data = path.read_bytes()
            if b"PFN_DEV" not in data:
                continue
            for n, line in enumerate(data.splitlines(), 1):
                if _PFN_DEV.search(line) and not line.lstrip().startswith(b"#"):
                    out.append((str(path.relative_to(tree)), n))
    return sorted(out)


def one_line_patch(tree: Path, rel: str, line: int, work: Path) -> tuple[str, bytes]:
    """(patch text, pre-image) of the patch that adds line ``line`` of ``rel``."""
    data = (tree / rel).read_bytes()
    lines = data.splitlines(keepends=True)
    pre = b"".join(lines[: line - 1] + lines[line:])
    for side, content in (("pre", pre), ("post", data)):
        p = work / side / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    attrs = work / "attributes"
    attrs.write_text("*.c diff=cpp\n*.h diff=cpp\n")
    proc = subprocess.run(
        ["git", "-c", f"core.attributesFile={attrs}", "diff", "--no-index", "--no-color", f"pre/{rel}", f"post/{rel}"],
        cwd=work,
        capture_output=True,
        check=False,
    )
    text = proc.stdout.decode("utf-8", "surrogateescape")
    text = text.replace(f"a/pre/{rel}", f"a/{rel}").replace(f"b/post/{rel}", f"b/{rel}")
    header = f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] add {rel}:{line}\n\n---\n"
    return header + text, pre


def _added_line_findings(checker: SeriesChecker, patch_text: str, series) -> set[tuple[str, int]]:
    patches, _ = parse_series([("recall.patch", patch_text.encode("utf-8", "surrogateescape"))])
    result = checker.check(patches, series)
    return {(f.rule_id, f.line) for f in result.report.findings}


def measure(tree: Path, kinds: list[Kind] | None = None) -> list[Kind]:
    kinds = kinds or [Kind("vm_flags writes", "DAX301", "6.3"), Kind("PFN_DEV sites", "DAX1", "6.1")]
    finders = {"vm_flags writes": vm_flags_sites, "PFN_DEV sites": pfn_dev_sites}
    options = EngineOptions(jobs=1, use_cache=False)
    with tempfile.TemporaryDirectory(prefix="daxlint-recall-") as tmp:
        for kind in kinds:
            rules = select_rules([kind.select])
            kernel = KernelContext(None, KernelVersion.parse(kind.version), "flag")
            checker = SeriesChecker(rules, kernel, options, version_from_tree=False)
            for n, (rel, line) in enumerate(finders[kind.name](tree)):
                work = Path(tmp) / f"{kind.select}-{n}"
                patch, pre = one_line_patch(tree, rel, line, work)
                hunks = _added_line_findings(checker, patch, AppliedSeries(SeriesTree(None)))
                base = _PreImage(str(tree), rel, pre)
                whole = _added_line_findings(checker, patch, AppliedSeries(SeriesTree(base, root=base.root)))
                kind.sites += 1
                kind.tree_found += bool(whole)
                kind.hunk_found += bool(whole) and bool(hunks)
                kind.hunk_extra += bool(hunks) and not whole
                if whole and not hunks:
                    kind.missed.append(f"{rel}:{line}")
    return kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default="6.1", help="Debian linux-source version (default 6.1)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args()
    tree = kernel_tree(args.tree)
    if tree is None:
        raise SystemExit(f"linux-source-{args.tree} is not installed")
    kinds = measure(tree)
    if args.json:
        print(json.dumps([{**asdict(k), "recall": k.recall} for k in kinds], indent=2))
        return
    for k in kinds:
        print(
            f"{k.name} ({k.select}, as v{k.version}): {k.sites} one-line patches, the tree finds {k.tree_found}, "
            f"hunks alone {k.hunk_found} of them: recall {k.recall:.1%}; {k.hunk_extra} hunk-only findings the tree does not confirm"
        )
        for m in k.missed:
            print(f"  missed without the tree: {m}")


if __name__ == "__main__":
    main()
