"""The engine in-process: prefilter, parse-once, rule errors, time limits,
parallel runs, fingerprints and robustness against arbitrary input."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import all_rules, select_rules
from daxlint.core.rule import Rule
from daxlint.core.runner import check_paths
from daxlint.core.source import SourceFile
from daxlint.model import Severity
from daxlint.version import KernelVersion

V63 = KernelContext(None, KernelVersion(6, 3), "flag")
WRITE = b"static int m(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"


def engine(rules=None, **opts) -> Engine:
    return Engine(rules if rules is not None else list(all_rules()), V63, EngineOptions(jobs=1, use_cache=False, **opts))


class ExplodingRule(Rule):
    """## What it does\nRaises.\n## Why is this bad\n-\n## Example\n-\n## Use instead\n-\n## References\n-"""

    id = "DAX990"
    name = "exploding"
    severity = Severity.ERROR
    summary = "test rule that raises"
    tokens = (b"vm_flags",)

    def check(self, ctx):
        raise ZeroDivisionError("boom")


class SlowRule(Rule):
    id = "DAX991"
    name = "slow"
    severity = Severity.ERROR
    summary = "test rule that never finishes in time"
    tokens = (b"vm_flags",)

    def check(self, ctx):
        time.sleep(5)


class CountingRule(Rule):
    id = "DAX992"
    name = "counting"
    severity = Severity.INFO
    summary = "records the tree it was given"
    tokens = (b"vm_flags",)
    trees: list = []

    def check(self, ctx):
        CountingRule.trees.append(id(ctx.source.tree))


def test_prefilter_skips_files_without_tokens():
    e = engine()
    res = e.analyze("a.c", b"int main(void) { return 0; }\n")
    assert not res.parsed and res.findings == []
    assert e.rules_for(b"nothing here") == []
    ids = {r.id for r in e.rules_for(b"x->vm_flags = 1")}
    assert "DAX301" in ids and "DAX101" not in ids and "DAX201" not in ids


def test_tree_is_parsed_once_for_all_rules():
    CountingRule.trees = []

    class CountingRule2(CountingRule):
        id = "DAX993"

    e = engine([CountingRule, CountingRule2])
    e.analyze("a.c", WRITE)
    assert len(CountingRule.trees) == 2 and len(set(CountingRule.trees)) == 1


def test_rule_error_is_reported_and_run_goes_on():
    res = engine([ExplodingRule, *select_rules(["DAX301"])]).analyze("a.c", WRITE)
    [err] = res.errors
    assert err.rule_id == "DAX990" and "ZeroDivisionError: boom" in err.message
    assert [(f.rule_id, f.line) for f in res.findings] == [("DAX301", 3)]


def test_slow_file_is_skipped_with_a_note(tmp_path):
    p = tmp_path / "slow.c"
    p.write_bytes(WRITE)
    res = engine([SlowRule], timeout=0.3).analyze_file("slow.c", str(p))
    [skip] = res.skipped
    assert skip.path == "slow.c" and "took longer than 0.3s" in skip.reason


class SpinningRule(Rule):
    id = "DAX994"
    name = "spinning"
    severity = Severity.ERROR
    summary = "test rule that loops in Python for ever"
    tokens = (b"vm_flags",)

    def check(self, ctx):
        while True:
            pass


class SwallowingRule(Rule):
    id = "DAX995"
    name = "swallowing"
    severity = Severity.ERROR
    summary = "test rule that catches every exception for 1.5 s (the timeout among them)"
    tokens = (b"vm_flags",)

    def check(self, ctx):
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                sum(range(1000))
            except Exception:
                pass


def _in_a_thread(fn):
    """fn() in a thread that is not the main one (as on a Dask worker)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # the test wants to see anything that escapes
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive(), "the time limit did not stop the analysis"
    assert "error" not in out, out
    return out["value"]


def test_time_limit_holds_off_the_main_thread():
    """SIGALRM reaches only the main thread; a Dask worker analyses on others."""
    started = time.monotonic()
    res = _in_a_thread(lambda: engine([SpinningRule], timeout=0.3).analyze("spin.c", WRITE))
    assert [(s.path, s.reason) for s in res.skipped] == [("spin.c", "took longer than 0.3s, skipped")]
    assert time.monotonic() - started < 10
    # The same file in the main thread gets the same verdict.
    res = engine([SpinningRule], timeout=0.3).analyze("spin.c", WRITE)
    assert [(s.path, s.reason) for s in res.skipped] == [("spin.c", "took longer than 0.3s, skipped")]


def test_a_timeout_a_rule_swallows_still_ends_the_file():
    """The next rule does not run: the deadline is checked before each rule."""
    for run in (_in_a_thread, lambda fn: fn()):
        res = run(lambda: engine([SwallowingRule, *select_rules(["DAX301"])], timeout=0.3).analyze("swallow.c", WRITE))
        assert res.findings == [] and [s.reason for s in res.skipped] == ["took longer than 0.3s, skipped"]


def test_a_file_done_in_time_leaves_no_timeout_behind():
    def many():
        e = engine(timeout=0.05)
        found = [len(e.analyze(f"f{i}.c", WRITE).findings) for i in range(20)]
        time.sleep(0.2)  # a timer that fired late must not land here
        return found

    assert _in_a_thread(many) == [1] * 20


def test_parallel_run_equals_serial(tmp_path):
    for i in range(24):
        body = WRITE if i % 3 == 0 else b"int x;\n"
        (tmp_path / f"f{i:02}.c").write_bytes(body)
    serial = check_paths(Engine(list(all_rules()), V63, EngineOptions(jobs=1, use_cache=False)), [str(tmp_path)])
    parallel = check_paths(Engine(list(all_rules()), V63, EngineOptions(jobs=2, use_cache=False)), [str(tmp_path)])

    def key(r):
        return [(f.rule_id, f.path, f.line, f.fingerprint) for f in r.findings]

    assert key(serial) == key(parallel)
    assert len(serial.findings) == 8


def test_fingerprint_survives_moved_lines():
    before = engine().analyze("drv.c", WRITE).findings
    moved = b"/* a new comment */\n#include <linux/mm.h>\n\n" + WRITE
    after = engine().analyze("drv.c", moved).findings
    assert [f.line for f in before] == [3] and [f.line for f in after] == [6]
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]


def test_identical_lines_get_distinct_fingerprints():
    twice = WRITE.replace(b"\treturn 0;", b"\tvma->vm_flags |= VM_IO;\n\treturn 0;")
    fps = [f.fingerprint for f in engine().analyze("drv.c", twice).findings]
    assert len(fps) == 2 and len(set(fps)) == 2


def test_error_nodes_from_kernel_macros_do_not_hide_findings():
    src = (
        b"static DEFINE_MUTEX(lock);\n"
        b"SYSCALL_DEFINE2(foo, int, a, int, b)\n{\n\treturn 0;\n}\n"
        b"static int __init m(struct file *f, struct vm_area_struct *vma) __must_check\n{\n"
        b"\tlist_for_each_entry(x, &head, list) { }\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"
    )
    source = SourceFile("m.c", src)
    assert source.root.has_error
    assert [(f.rule_id, f.line) for f in engine().analyze("m.c", src).findings] == [("DAX301", 9)]


KERNEL_LIKE = sorted((FIXTURES / "rules").rglob("*.c"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data):
    res = engine().analyze("fuzz.c", b"vm_flags PFN_DEV direct_access " + data)
    assert res.errors == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(KERNEL_LIKE),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.integers(0, 40),
            st.sampled_from(
                [b"", b"{", b"}", b"(", b")", b";", b"/*", b"*/", b'"', b"#if 0\n", b"->", b"vm_flags", b"|=", b"PFN_DEV", b"\\\n"]
            ),
        )
    ),
)
def test_mutated_kernel_like_c_never_crashes(path, edits):
    data = bytearray(Path(path).read_bytes())
    for where, cut, insert in edits:
        i = int(where * len(data))
        data[i : i + cut] = insert
    res = Engine(list(all_rules()), V63, EngineOptions(jobs=1, use_cache=False, timeout=20)).analyze(str(path), bytes(data), str(path))
    assert res.errors == []
    for f in res.findings:
        assert f.line >= 1 and f.column >= 1 and f.fingerprint


def test_deeply_nested_input_does_not_crash():
    data = b"int f(void) { x->vm_flags = " + b"(" * 20000 + b"1" + b")" * 20000 + b"; }\n"
    res = engine().analyze("deep.c", data)
    assert res.errors == []


@given(st.binary(max_size=2048), st.lists(st.sampled_from([b"vm_flags", b"PFN_DEV", b"direct_access", b"\x00\xff", b"a.b*c"]), max_size=4))
@settings(max_examples=100, deadline=None)
def test_prefilter_matches_plain_search_with_and_without_hyperscan(data, inserted):
    import daxlint.core.prefilter as pf

    tokens = [b"vm_flags", b"PFN_DEV", b"direct_access", b"\x00\xff", b"a.b*c"]
    blob = data + b"".join(inserted)
    expected = {t for t in tokens if t in blob}
    assert pf.TokenMatcher(tokens).present(blob) == expected
    saved = pf.hyperscan
    pf.hyperscan = None
    try:
        assert pf.TokenMatcher(tokens).present(blob) == expected
    finally:
        pf.hyperscan = saved


def test_fingerprint_ignores_spacing_around_punctuation():
    a = engine().analyze("drv.c", WRITE).findings
    b = engine().analyze("drv.c", WRITE.replace(b"vma->vm_flags |= VM_IO;", b"vma->vm_flags|=VM_IO ;")).findings
    assert [f.fingerprint for f in a] == [f.fingerprint for f in b]


def _swap_keeping_stat(path: Path, data: bytes) -> None:
    """New content of the same size and mtime (cp -p, touch -r, rsync -t)."""
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_warm_parallel_run_answers_unchanged_content_from_the_cache(tmp_path, monkeypatch):
    tree = tmp_path / "src"
    tree.mkdir()
    for i in range(24):
        (tree / f"f{i:02}.c").write_bytes(WRITE if i % 3 == 0 else b"int x;\n")

    def run():
        opts = EngineOptions(jobs=2, use_cache=True, cache_path=str(tmp_path / "cache.sqlite"))
        return [(f.rule_id, Path(f.path).name, f.line) for f in check_paths(Engine(list(all_rules()), V63, opts), [str(tree)]).findings]

    first = run()
    assert ("DAX301", "f00.c", 3) in first and not any(name == "f01.c" for _, name, _ in first)
    # Same size and mtime, different content: the cache knows files by their
    # content, both one that had findings and one that had none.
    write = b"vma->vm_flags |= VM_IO;"
    _swap_keeping_stat(tree / "f00.c", WRITE.replace(write, b"/*" + b" " * (len(write) - 4) + b"*/"))
    _swap_keeping_stat(tree / "f01.c", b"int y;\n")
    second = run()
    assert not any(name == "f00.c" for _, name, _ in second) and ("DAX301", "f03.c", 3) in second
    # Nothing changed since: no file is analysed again (the workers fork
    # with this patch), findings come from the cache.
    monkeypatch.setattr(Engine, "analyze", lambda *a, **k: pytest.fail("analysed a file whose content the cache knows"))
    assert run() == second


def test_first_cached_run_equals_uncached_run(tmp_path):
    for i in range(24):
        (tmp_path / f"f{i:02}.c").write_bytes(WRITE if i % 4 == 0 else b"int x;\n")
    key = lambda r: [(f.rule_id, f.path, f.line, f.fingerprint) for f in r.findings]  # noqa: E731
    uncached = check_paths(Engine(list(all_rules()), V63, EngineOptions(jobs=2, use_cache=False)), [str(tmp_path)])
    opts = EngineOptions(jobs=2, use_cache=True, cache_path=str(tmp_path / "c.sqlite"))
    cached = [check_paths(Engine(list(all_rules()), V63, opts), [str(tmp_path)]) for _ in range(2)]
    assert key(uncached) == key(cached[0]) == key(cached[1])
    assert uncached.files_checked == cached[0].files_checked == cached[1].files_checked == 24
