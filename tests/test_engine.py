"""The engine in-process: prefilter, parse-once, rule errors, time limits,
parallel runs, fingerprints and robustness against arbitrary input."""

from __future__ import annotations

import ast
import signal
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, REPO
from daxlint.analysis.locate import function_definitions, identifier_hits, word_starts
from daxlint.core import timelimit
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import all_rules, select_rules
from daxlint.core.rule import Rule
from daxlint.core.runner import check_paths
from daxlint.core.source import SourceFile
from daxlint.core.syntax import ancestors, parent_of, walk
from daxlint.core.timelimit import HARD_STOP_FACTOR, TimeLimit
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


class FakeClock:
    """The clock the time limit reads, moved by the test: no test depends
    on how fast this machine is."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ManualAlarm:
    """Stands for SIGALRM and the watchdog thread: records what the engine
    arms, so that a test fires it when it chooses (or never)."""

    def __init__(self):
        self.armed: list[tuple[TimeLimit, float]] = []
        self.disarmed: list[TimeLimit] = []

    def arm(self, limit, after):
        self.armed.append((limit, after))

    def disarm(self, limit):
        self.disarmed.append(limit)


def timed_engine(rules, clock, alarm=None, timeout=60.0) -> Engine:
    return engine(rules, timeout=timeout, clock=clock, alarm=alarm if alarm is not None else ManualAlarm())


def rule_running(check) -> type[Rule]:
    """A rule (DAX996, on every file with vm_flags) whose check is ``check(ctx)``."""
    attrs = {"id": "DAX996", "name": "timed", "severity": Severity.ERROR, "summary": "a timing test's rule", "tokens": (b"vm_flags",)}
    return type("TimedRule", (Rule,), {**attrs, "check": lambda self, ctx: check(ctx)})


# Many statements: more tree nodes, identifiers and lines than the walkers
# go between two looks at the clock.
BIG = b"static int m(struct vm_area_struct *vma)\n{\n" + b"\ta = b + c;\n" * 400 + b"\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"


def _rest_of_the_rule_ran(ctx):
    ctx.report(ctx.source.root, "the rule went on past its file's deadline")


def _walk_all(ctx):
    for _ in walk(ctx.source.root):
        pass


def _nothing(ctx):
    pass


def _deepest(ctx):
    """The number 2,000 parentheses deep in DEEP."""
    (ctx.deepest,) = [n for n in walk(ctx.source.root) if n.type == "number_literal"]


def _descend_to_the_deepest(ctx):
    # The first question about its parent descends from the root.
    parent_of(ctx.deepest)


def _ancestors_of_the_deepest(ctx):
    for _ in ancestors(ctx.deepest):
        pass


def _recorded_deepest(ctx):
    _deepest(ctx)
    _descend_to_the_deepest(ctx)


def _identifier_hits(ctx):
    for _ in identifier_hits(ctx.source.data, [f"name{i}".encode() for i in range(30)] + [b"a"]):
        pass


def _word_starts(ctx):
    for _ in word_starts(ctx.source.data, b"a"):
        pass


def _function_definitions(ctx):
    function_definitions(ctx.source.root)


DEEP = b"int f(void) { x->vm_flags = " + b"(" * 2000 + b"1" + b")" * 2000 + b"; }\n"
IFDEFS = b"".join(b"#ifdef C%d\nint vm_flags%d;\n" % (i, i) for i in range(300)) + b"#endif\n" * 300


@pytest.mark.parametrize(
    "before,walker,data",
    [
        (_nothing, _walk_all, BIG),
        (_deepest, _descend_to_the_deepest, DEEP),
        (_recorded_deepest, _ancestors_of_the_deepest, DEEP),
        (_nothing, _identifier_hits, BIG),
        (_nothing, _word_starts, BIG),
        (_nothing, _function_definitions, IFDEFS),
    ],
    ids=lambda v: getattr(v, "__name__", "data"),
)
def test_a_walker_ends_the_file_at_its_deadline(before, walker, data):
    """Each tree and text walker looks at the clock as it goes: a rule that
    is past the deadline stops inside the walk, and the file is skipped."""
    clock = FakeClock()

    def check(ctx):
        before(ctx)
        clock.now += 61  # the rule took 61 s before its walk
        walker(ctx)
        _rest_of_the_rule_ran(ctx)

    res = timed_engine([rule_running(check)], clock).analyze("slow.c", data)
    assert res.findings == [] and [(s.path, s.reason) for s in res.skipped] == [("slow.c", "took longer than 60s, skipped")]


def test_the_next_rule_does_not_run_after_the_deadline():
    clock = FakeClock()

    def check(ctx):
        clock.now += 61  # and walks nothing

    res = timed_engine([rule_running(check), *select_rules(["DAX301"])], clock).analyze("slow.c", WRITE)
    assert res.findings == [] and [s.reason for s in res.skipped] == ["took longer than 60s, skipped"]


def test_a_file_done_before_its_deadline_keeps_its_findings():
    """Late by the clock after the last checkpoint: the result is whole, so it stands."""
    clock = FakeClock()

    def check(ctx):
        _walk_all(ctx)
        clock.now += 61  # after its walk

    res = timed_engine([*select_rules(["DAX301"]), rule_running(check)], clock).analyze("slow.c", WRITE)
    assert [(f.rule_id, f.line) for f in res.findings] == [("DAX301", 3)] and res.skipped == []


def test_a_rules_except_exception_does_not_swallow_the_timeout():
    clock = FakeClock()

    def check(ctx):
        clock.now += 61
        try:
            _walk_all(ctx)
        except Exception:  # every exception around its walk
            pass
        _rest_of_the_rule_ran(ctx)

    res = timed_engine([rule_running(check), *select_rules(["DAX301"])], clock).analyze("swallow.c", BIG)
    assert res.findings == [] and [s.reason for s in res.skipped] == ["took longer than 60s, skipped"]


def test_the_hard_stop_is_armed_far_past_the_deadline_and_disarmed_after():
    clock, alarm = FakeClock(), ManualAlarm()
    e = timed_engine(list(all_rules()), clock, alarm, timeout=7)
    assert [(f.rule_id, f.line) for f in e.analyze("a.c", WRITE).findings] == [("DAX301", 3)]
    [(limit, after)] = alarm.armed
    assert after == 7 * HARD_STOP_FACTOR and alarm.disarmed == [limit]


def _spin_for_ever(ctx=None):
    """A loop in Python that reaches no checkpoint."""
    while True:
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
    t.join()
    assert "error" not in out, out
    return out["value"]


def _in_the_main_thread(fn):
    return fn()


@pytest.fixture
def unraisable(monkeypatch):
    """Exceptions Python drops as "ignored" (in a callback) during the test."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.mark.parametrize("where", [_in_the_main_thread, _in_a_thread])
def test_code_that_reaches_no_checkpoint_is_interrupted(where, unraisable):
    """SIGALRM in the main thread, the watchdog thread's asynchronous
    exception elsewhere: the real alarms, at twice a short limit."""
    res = where(lambda: engine([rule_running(_spin_for_ever)], timeout=0.05).analyze("spin.c", WRITE))
    assert [(s.path, s.reason) for s in res.skipped] == [("spin.c", "took longer than 0.05s, skipped")]
    assert unraisable == []


def _spin_in_a_library_callback():
    """Until the alarm has come once and found the thread here: inside a
    weakref callback, called by the standard library's weakref.finalize."""
    limit = timelimit._CURRENT.get()

    def callback():
        while limit.deferred == 0:
            pass

    class Dropped:
        pass

    obj = Dropped()
    weakref.finalize(obj, callback)
    del obj  # the callback runs here


@pytest.mark.parametrize("where", [_in_the_main_thread, _in_a_thread])
def test_the_interruption_never_lands_in_a_callback(where, unraisable):
    """The alarm comes while a weakref callback runs (the callback waits for
    it): it is put off, and lands in the rule's own loop afterwards."""

    def check(ctx):
        _spin_in_a_library_callback()
        _spin_for_ever()

    res = where(lambda: engine([rule_running(check)], timeout=0.05).analyze("spin.c", WRITE))
    assert [s.reason for s in res.skipped] == ["took longer than 0.05s, skipped"]
    assert unraisable == []


class _Seconds(float):
    """A sleep's argument that runs a weakref callback when dropped."""


def test_off_the_main_thread_the_interruption_waits_out_a_call(unraisable):
    """A thread inside a call that let go of the interpreter lock (a sleep)
    stands in the rule's own frame, but would raise an asynchronous
    exception only after the call, where dropping the call's argument runs
    a callback: the watchdog waits for a loop's back edge instead."""

    def check(ctx):
        limit = timelimit._CURRENT.get()
        while limit.deferred < 3 and not unraisable:
            box = [_Seconds(0.001)]
            weakref.finalize(box[0], sum, range(100))
            time.sleep(box.pop())  # the sleep holds its argument's last reference
        _spin_for_ever()

    res = _in_a_thread(lambda: engine([rule_running(check)], timeout=0.05).analyze("sleep.c", WRITE))
    assert [s.reason for s in res.skipped] == ["took longer than 0.05s, skipped"]
    assert unraisable == []


def test_where_the_interruption_may_land():
    """Inside run(), in the analysis' own code; not before or after it,
    and not under a library's frame (weakref.finalize calling back)."""
    seen = {}

    def analysis():
        seen["own code"] = limit.may_interrupt(sys._getframe())

        def callback():
            seen["under a library callback"] = limit.may_interrupt(sys._getframe())

        class Dropped:
            pass

        obj = Dropped()
        weakref.finalize(obj, callback)
        del obj

    with TimeLimit(60, FakeClock(), ManualAlarm()) as limit:
        seen["before run()"] = limit.may_interrupt(sys._getframe())
        limit.run(analysis)
        seen["after run()"] = limit.may_interrupt(sys._getframe())
    assert seen == {"before run()": False, "own code": True, "under a library callback": False, "after run()": False}


def test_a_timer_that_fires_late_does_not_land_after_the_file_is_done():
    """The watchdog's timer fires after the file is done (a late wake-up on a
    loaded machine): the thread, busy with the next thing, gets nothing."""
    alarm = ManualAlarm()
    done, finish = threading.Event(), threading.Event()

    def analyse_then_go_on():
        e = timed_engine(list(all_rules()), FakeClock(), alarm, timeout=0.05)
        found = [[(f.rule_id, f.line) for f in e.analyze(f"f{i}.c", WRITE).findings] for i in range(20)]
        done.set()
        while not finish.is_set():  # its own code, at a loop's back edge: where an interruption lands at once
            pass
        return found

    out = {}
    t = threading.Thread(target=lambda: out.update(found=analyse_then_go_on()))
    t.start()
    done.wait()
    for limit, _after in alarm.armed:
        timelimit.watchdog().interrupt(limit)
    finish.set()
    t.join()
    assert out.get("found") == [[("DAX301", 3)]] * 20 and len(alarm.disarmed) == 20


def test_sigalrm_after_the_file_is_done_is_the_previous_handler():
    before = signal.getsignal(signal.SIGALRM)
    assert [(f.rule_id, f.line) for f in engine(timeout=5).analyze("a.c", WRITE).findings] == [("DAX301", 3)]
    assert signal.getsignal(signal.SIGALRM) == before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_analysis_defines_no_callback_an_interruption_could_land_in():
    """The interruption lands only in daxlint's, the rules' and the tests'
    own code (core/timelimit.py): none of it may be a finaliser or a
    weakref, atexit or garbage-collector callback."""
    offenders = []
    for path in sorted([*(REPO / "daxlint").rglob("*.py"), *(REPO / "rules").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "__del__":
                offenders.append(f"{path.name}: __del__")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offenders += [f"{path.name}: import {n}" for n in names if n.split(".")[0] in ("weakref", "atexit")]
            elif isinstance(node, ast.Attribute) and node.attr == "callbacks" and getattr(node.value, "id", None) == "gc":
                offenders.append(f"{path.name}: gc.callbacks")
    assert offenders == []


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
