"""Hunk-only recall of ``daxlint patch`` against ``--tree``, measured on
one-line patches built at test time from the Debian 6.1 tree (every direct
vm_flags write DAX301 finds as v6.3, every PFN_DEV line of a .c file) by
benchmarks/patch_recall.py - and the numbers the README states."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import REPO, kernel_tree_or_skip

_spec = importlib.util.spec_from_file_location("patch_recall", REPO / "benchmarks" / "patch_recall.py")
patch_recall = importlib.util.module_from_spec(_spec)
sys.modules["patch_recall"] = patch_recall  # its dataclasses look their module up
_spec.loader.exec_module(patch_recall)

# (sites, found with the tree, found by hunks alone, hunk-only extras)
EXPECTED = {"vm_flags writes": (202, 202, 202, 0), "PFN_DEV sites": (12, 6, 6, 0)}


@pytest.mark.slow
def test_hunk_only_recall_on_linux_6_1():
    tree = kernel_tree_or_skip("6.1")
    kinds = {k.name: k for k in patch_recall.measure(tree)}
    got = {name: (k.sites, k.tree_found, k.hunk_found, k.hunk_extra) for name, k in kinds.items()}
    assert got == EXPECTED, {name: k.missed for name, k in kinds.items()}


def test_readme_states_the_measured_recall():
    readme = (REPO / "README.md").read_text()
    for name, (sites, tree_found, hunk_found, _extra) in EXPECTED.items():
        pattern = rf"{re.escape(name)}: {sites} one-line patches, {tree_found} found with the tree, {hunk_found} by hunks alone"
        assert re.search(pattern, readme), f"README does not state: {pattern}"
