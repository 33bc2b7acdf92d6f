"""Hunk-only recall of ``daxlint patch`` against ``--tree``, measured on
one-line patches built at test time from the Debian 6.1 tree (every direct
vm_flags write DAX301 finds as v6.3, every PFN_DEV line of a .c file) by
benchmarks/patch_recall.py - and the numbers the README states."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import REPO, kernel_tree_module, kernel_tree_or_skip

_spec = importlib.util.spec_from_file_location("patch_recall", REPO / "benchmarks" / "patch_recall.py")
patch_recall = importlib.util.module_from_spec(_spec)
sys.modules["patch_recall"] = patch_recall  # its dataclasses look their module up
_spec.loader.exec_module(patch_recall)

# What must hold on any Debian upload of 6.1 (the counts move with stable
# updates; the README quotes the ones measured): each kind's sites found
# with the tree are all found by hunks alone, and nothing more.
KINDS = ("vm_flags writes", "PFN_DEV sites")


@pytest.mark.slow
def test_hunk_only_recall_on_linux_6_1():
    tree = kernel_tree_or_skip("6.1")
    kinds = {k.name: k for k in patch_recall.measure(tree)}
    print(kernel_tree_module.describe("6.1"))
    for name in KINDS:
        k = kinds[name]
        print(f"{name}: {k.sites} one-line patches, {k.tree_found} found with the tree, {k.hunk_found} by hunks alone")
        assert k.tree_found > 0 and k.hunk_found == k.tree_found and k.hunk_extra == 0, (name, k.missed)
    # Every direct vm_flags write is a DAX301 finding with the tree as v6.3.
    assert kinds["vm_flags writes"].tree_found == kinds["vm_flags writes"].sites


def test_readme_states_the_measured_recall():
    readme = (REPO / "README.md").read_text()
    for name in KINDS:
        pattern = rf"{re.escape(name)}: (\d+) one-line patches, (\d+) found with the tree, (\d+) by hunks alone"
        m = re.search(pattern, readme)
        assert m, f"README does not state: {pattern}"
        assert m.group(2) == m.group(3), f"README states a hunk-only recall below 100% for {name}"
