"""Rules decline files on their bytes before anything is parsed
(``Rule.could_match``). On whole Debian trees, every file where a rule's
``check()`` reports something must pass its byte test - run here on every
file holding one of the rule's tokens, with the byte test bypassed - or the
rule would lose findings for speed."""

from __future__ import annotations

import os

import pytest

from conftest import kernel_tree_or_skip
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import select_rules
from daxlint.core.rule import RuleContext
from daxlint.core.source import SourceFile
from daxlint.version import KernelVersion

# The rules whose byte test is more than their tokens.
RULES = ["DAX103", "DAX302", "DAX303", "DAX304", "DAX305", "DAX306", "DAX308", "DAX309"]


@pytest.mark.slow
@pytest.mark.parametrize("version,as_version", [("6.1", "6.1"), ("6.1", "6.3"), ("6.12", "6.12"), ("7.3", "7.3")])
def test_byte_tests_keep_every_finding(version, as_version):
    tree = kernel_tree_or_skip(version)
    kernel = KernelContext(tree, KernelVersion.parse(as_version), "flag")
    rules = [cls() for cls in select_rules(RULES)]
    missed, reported, declined = [], set(), set()
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                data = fh.read()
            for rule in rules:
                if not any(t in data for t in rule.tokens):
                    continue
                ctx = RuleContext(rule, SourceFile(path, data), kernel, path)
                rule.check(ctx)
                passes = rule.could_match(data)
                if not passes:
                    declined.add((rule.id, os.path.relpath(path, tree)))
                if ctx.findings:
                    reported.add(rule.id)
                    if not passes:
                        missed.append(f"{rule.id} {os.path.relpath(path, tree)}:{ctx.findings[0].line}")
    assert not missed
    # The byte tests do decline files: GUP reads a vma's flags and writes none.
    assert {("DAX302", "mm/gup.c"), ("DAX304", "mm/gup.c")} <= declined
    # Findings the trees are known to have: gru_fault until SGI GRU went
    # (7.x), virtiofs's VM_MIXEDMAP on every tree.
    assert reported >= ({"DAX302", "DAX305"} if version != "7.3" else {"DAX305"}), reported


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.1", "6.12", "7.3"])
def test_names_taken_for_the_kernels_are_no_module_helpers(version):
    """The names the module analysis never looks for in a module (C's
    keywords, kernel functions that take a vma and change neither its flags
    nor the mmap lock, other locks' functions) are defined by no file of a
    tree's drivers, filesystems, sound, networking or samples (not the BPF
    ones: user-space programs) - except where the kernel itself defines
    that lock (rtnl in net/core)."""
    from daxlint.analysis.driver import definitions
    from daxlint.analysis.module import _NOT_HELPERS, _OTHER_LOCKS

    tree = kernel_tree_or_skip(version)
    defined = set()
    for top in ("drivers", "fs", "sound", "net", "virt", "samples"):
        for dirpath, _dirs, names in os.walk(os.path.join(tree, top)):
            for name in names:
                if name.endswith((".c", ".h")) and not dirpath.startswith(os.path.join(tree, "samples", "bpf")):
                    with open(os.path.join(dirpath, name), "rb") as fh:
                        data = fh.read()
                    rel = os.path.relpath(os.path.join(dirpath, name), tree)
                    defined |= {(rel, n) for _, n in definitions(data) if n in _NOT_HELPERS or _OTHER_LOCKS.fullmatch(n)}
    assert defined <= {("net/core/rtnetlink.c", "rtnl_lock"), ("net/core/rtnetlink.c", "rtnl_unlock")}
    assert _OTHER_LOCKS.fullmatch("mutex_lock") and not _OTHER_LOCKS.fullmatch("lock_pages")  # a module's name
