"""The engine: parses each candidate file once and runs the enabled rules on
its tree. Files that contain none of the enabled rules' trigger tokens are
never parsed. Work is spread over processes; results are cached per file."""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import multiprocessing
import os
import signal
import threading
import traceback
from dataclasses import dataclass, field
from functools import cached_property

from daxlint.cache import ResultCache
from daxlint.files import DEFAULT_MAX_BYTES, SCAN_LIMIT_BYTES, FileWalk, classify_bytes, file_kind, read_source_stat
from daxlint.fingerprint import assign_fingerprints
from daxlint.kernel import KernelContext
from daxlint.model import Finding, InternalError, Report, Skipped
from daxlint.paths import cache_dir
from daxlint.prefilter import TokenMatcher
from daxlint.registry import rule_matches, ruleset_signature
from daxlint.rule import Rule, RuleContext
from daxlint.source import SourceFile
from daxlint.suppress import apply_suppressions, find_suppressions


@dataclass
class EngineOptions:
    jobs: int = 0  # 0: every core
    use_cache: bool = True
    cache_path: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0  # seconds one file may take before it is skipped
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    parsed: bool = False
    # Other files the verdict depends on (a directory's Kconfig, siblings),
    # with their signatures when analysed: a cached result is reused only
    # while they are unchanged.
    context: dict[str, object] = field(default_factory=dict)

    @property
    def needs_own_row(self) -> bool:
        """Whether a cache must store the result itself; an empty one is
        remembered by the file's stat row alone."""
        return bool(self.findings or self.skipped or self.context)

    @property
    def is_empty(self) -> bool:
        """Nothing for the report, not even a parse to count."""
        return not (self.needs_own_row or self.errors or self.parsed)


class FileTimeout(Exception):
    pass


class Engine:
    def __init__(self, rules: list[type[Rule]], kernel: KernelContext, options: EngineOptions | None = None):
        self.rule_classes = list(rules)
        self.rules = [cls() for cls in self.rule_classes]
        self.kernel = kernel
        self.options = options or EngineOptions()
        self.enabled_ids = {r.id for r in self.rules}
        # One matcher per file kind, over the tokens of the rules that find
        # things on their own: the unused-suppression rule only ever follows
        # them, so its token is looked for in the few files they match.
        self._finders = [r for r in self.rules if not r.reports_unused_suppressions]
        self._followers = [r for r in self.rules if r.reports_unused_suppressions]
        self._matchers = {
            kind: TokenMatcher([t for r in self._finders if kind in r.file_kinds for t in r.tokens]) for kind in ("c", "kconfig")
        }
        self._tokenless = any(not r.tokens for r in self._finders)

    # -- one file -----------------------------------------------------------

    def rules_for(self, data: bytes, kind: str = "c") -> list[Rule]:
        """Rules whose trigger tokens occur in ``data`` and that could match
        it: the prefilter. The unused-suppression rule comes last, and only
        with another rule."""
        present = self._matchers[kind].present(data)
        if not present and not self._tokenless:  # most files of a tree
            return []
        out = [
            r
            for r in self._finders
            if kind in r.file_kinds and (not r.tokens or any(t in present for t in r.tokens)) and r.could_match(data)
        ]
        if out:
            out += [r for r in self._followers if kind in r.file_kinds and (not r.tokens or any(t in data for t in r.tokens))]
        return out

    def needs_analysis(self, data: bytes, kind: str = "c") -> bool:
        """Whether some rule that finds things on its own could match ``data``."""
        return any(not r.reports_unused_suppressions for r in self.rules_for(data, kind))

    @property
    def file_kinds(self) -> tuple[str, ...]:
        # The unused-suppression rule follows the others: it adds no file kind.
        return tuple(sorted({k for r in self.rules if not r.reports_unused_suppressions for k in r.file_kinds} or {"c"}))

    def analyze(self, display: str, data: bytes, abspath: str | None = None) -> FileResult:
        """Run the enabled rules on one file's bytes."""
        res = FileResult()
        kind = file_kind(display)
        applicable = self.rules_for(data, kind)
        if all(r.reports_unused_suppressions for r in applicable):
            return res
        bad = classify_bytes(data)
        if bad:
            res.skipped.append(Skipped(display, bad))
            return res
        with _time_limit(self.options.timeout):
            try:
                return self._analyze_parsed(res, kind, applicable, SourceFile(display, data), abspath)
            except FileTimeout:
                return FileResult(skipped=[Skipped(display, f"took longer than {self.options.timeout:g}s, skipped")])
            except RecursionError:
                return FileResult(skipped=[Skipped(display, "nesting too deep to analyse")])

    def _analyze_parsed(self, res: FileResult, kind: str, applicable: list[Rule], source: SourceFile, abspath: str | None) -> FileResult:
        display = source.path
        if kind == "c":
            _ = source.tree
            res.parsed = True
        raw: list[Finding] = []
        if abspath is not None:
            for rule in applicable:
                for p in rule.context_files(abspath):
                    res.context[p] = self.kernel.reader.signature(p)
                    # The directory too: its mtime moves when a sibling
                    # appears or goes, which the file list alone misses.
                    d = os.path.dirname(p)
                    if d not in res.context:
                        res.context[d] = self.kernel.reader.signature(d)
        for rule in applicable:
            if rule.reports_unused_suppressions:
                continue
            ctx = RuleContext(rule, source, self.kernel, abspath)
            try:
                out = rule.check(ctx)
                if out is not None:
                    for f in out:
                        if f is not None and f not in ctx.findings:
                            ctx.findings.append(f)
            except FileTimeout:
                raise
            except Exception as e:  # a broken rule must not stop the run
                tb = traceback.extract_tb(e.__traceback__)[-1]
                res.errors.append(InternalError(display, rule.id, f"{type(e).__name__}: {e} (at {os.path.basename(tb.filename)}:{tb.lineno})"))
                continue
            raw.extend(ctx.findings)
        sup = apply_suppressions(raw, find_suppressions(source, kind))
        res.findings = sup.kept
        for rule in applicable:
            if rule.reports_unused_suppressions:
                ctx = RuleContext(rule, source, self.kernel, abspath)
                unused = [s for s in sup.unused if s.rules is None or any(any(e.startswith(r) for e in self.enabled_ids) for r in s.rules)]
                rule.report_unused(ctx, unused)
                res.findings.extend(ctx.findings)
        assign_fingerprints(res.findings)
        return res

    def analyze_file(self, display: str, abspath: str) -> tuple[str | None, FileResult]:
        """(content sha, result) for a file on disk; unreadable, odd or huge
        files become skips (analyze() applies the per-file time limit)."""
        data, why, _st = read_source_stat(abspath, self.options.max_bytes, SCAN_LIMIT_BYTES)
        res = self._analyze_read(display, abspath, data, why)
        sha = hashlib.sha1(data).hexdigest() if data is not None and self.options.use_cache else None
        return sha, res

    def _analyze_read(self, display: str, abspath: str, data: bytes | None, why: str | None) -> FileResult:
        if data is None:
            return FileResult(skipped=[Skipped(display, why)])
        if why is not None:  # too large to analyse: only say so if it mattered
            matters = self.needs_analysis(data, file_kind(display))
            return FileResult(skipped=[Skipped(display, why)] if matters else [])
        return self.analyze(display, data, abspath)

    def _analyze_for_run(self, display: str, abspath: str):
        """(sha, (size, mtime_ns), result or None) for check_paths(). The
        content hash is taken only when the result is worth a cache row of
        its own; an empty result is remembered by the file's stat alone, and
        re-reading such a file costs no more than hashing it would."""
        data, why, st = read_source_stat(abspath, self.options.max_bytes, SCAN_LIMIT_BYTES)
        res = self._analyze_read(display, abspath, data, why)
        stamp = (st.st_size, st.st_mtime_ns) if st is not None else None
        if data is None:
            sha = None  # nothing to key a cache row on
        elif self.options.use_cache and res.needs_own_row:
            sha = hashlib.sha1(data).hexdigest()
        else:
            sha = ""
        return sha, stamp, (None if res.is_empty else res)

    # -- many files ---------------------------------------------------------

    @cached_property
    def _key_prefix(self) -> bytes:
        """What every cache key of this run shares: rules, their code, version."""
        return json.dumps(
            [ruleset_signature(), sorted(self.enabled_ids), str(self.kernel.effective_version), self.options.max_bytes]
        ).encode()

    def _cache_key(self, sha: str, display: str) -> str:
        return hashlib.sha1(self._key_prefix + b"\0" + sha.encode() + b"\0" + display.encode()).hexdigest()

    def check_paths(self, paths: list[str]) -> Report:
        walk = FileWalk(paths, self.file_kinds)
        report = Report()
        report.kernel_version = str(self.kernel.effective_version)
        cache = None
        if self.options.use_cache:
            try:
                cache = ResultCache(_cache_file(self.options.cache_path))
                cache.load_stat()  # here: the walk below may run in the pool's feeder thread
            except Exception as e:  # an unwritable cache dir must not stop a check
                report.notes.append(f"cache disabled: {e}")
                cache = None
        results: list[tuple[str, FileResult]] = []  # files with something to report
        deferred: list[tuple[str, str, str]] = []  # unchanged since a run that found something
        checked = 0

        def to_analyse():
            """The walk, minus files the cache answers from their stat alone.
            With several jobs this runs in the pool's feeder thread, so that
            workers start on the first directories while the walk goes on;
            it must not touch SQLite (the connection belongs to this thread)."""
            nonlocal checked
            for display, abspath in walk:
                checked += 1
                if cache is not None and cache.has_stat(abspath):
                    try:
                        known = cache.known(abspath, os.stat(abspath))
                    except OSError:
                        known = None
                    if known is not None:
                        sha, stored_key, empty = known
                        if empty and self._cache_key(sha, display) == stored_key:
                            continue
                        if sha:
                            deferred.append((display, abspath, sha))
                            continue
                yield display, abspath

        def record(display, abspath, sha, stamp, res):
            if res is not None:
                results.append((display, res))
            if cache is not None and sha is not None and not (res is not None and res.errors):
                cache.put(self._cache_key(sha, display), abspath, stamp, sha, res or FileResult())

        try:
            for item in self._run(to_analyse()):
                record(*item)
            # Files unchanged since a run that found something: their result
            # stands while the files it depends on are unchanged too.
            sig_memo: dict[str, object] = {}
            stale: list[tuple[str, str]] = []
            for display, abspath, sha in deferred:
                hit = cache.get(self._cache_key(sha, display))
                if hit is not None and self._context_unchanged(hit.context, sig_memo):
                    results.append((display, hit))
                else:
                    stale.append((display, abspath))
            for item in self._run(stale):
                record(*item)
        finally:
            if cache is not None:
                cache.close()
        report.files_checked = checked
        report.skipped.extend(walk.skipped)
        for display, res in results:
            report.files_parsed += int(res.parsed)
            ignored = self.per_file_ignores(display)
            report.findings.extend(f for f in res.findings if not (ignored and rule_matches(f.rule_id, ignored)))
            report.skipped.extend(res.skipped)
            report.errors.extend(res.errors)
        report.sort()
        return report

    def _context_unchanged(self, context: dict, memo: dict) -> bool:
        for p, sig in context.items():
            if p not in memo:
                cur = self.kernel.reader.signature(p)
                memo[p] = list(cur) if isinstance(cur, tuple) else cur
            if memo[p] != sig:
                return False
        return True

    def per_file_ignores(self, display: str) -> list[str]:
        """Rule selectors the config's per-file-ignores give for ``display``."""
        out: list[str] = []
        for pattern, ids in self.options.per_file_ignores.items():
            if fnmatch.fnmatch(display, pattern) or fnmatch.fnmatch(display, "*/" + pattern):
                out.extend(ids)
        return out

    def _run(self, items):
        """(display, abspath, sha, stamp, result or None) for each item, in
        no particular order. Fewer than a handful of files are not worth
        starting processes for."""
        jobs = self.options.jobs or os.cpu_count() or 1
        items = iter(items)
        head = list(itertools.islice(items, _SERIAL_BELOW))
        if jobs <= 1 or len(head) < _SERIAL_BELOW:
            for display, abspath in itertools.chain(head, items):
                yield display, abspath, *self._analyze_for_run(display, abspath)
            return
        global _WORKER_ENGINE
        _WORKER_ENGINE = self
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            for out in pool.imap_unordered(_worker, _batches(itertools.chain(head, items), _BATCH)):
                yield from out


_SERIAL_BELOW = 8
# Files per task: large enough that pickling and the pool's bookkeeping are
# noise next to the reading, small enough that the expensive files (a few
# hundred of 55k) do not leave one worker busy while the other waits.
_BATCH = 128
_WORKER_ENGINE: Engine | None = None


def _batches(items, size: int):
    while batch := list(itertools.islice(items, size)):
        yield batch


def _worker(batch: list[tuple[str, str]]):
    out = []
    for display, abspath in batch:
        sha, stamp, res = _WORKER_ENGINE._analyze_for_run(display, abspath)
        # Nearly every file of a tree has nothing to report: send nothing
        # back for it unless the cache wants its stat row.
        if res is not None or (_WORKER_ENGINE.options.use_cache and sha is not None):
            out.append((display, abspath, sha, stamp, res))
    return out


def _cache_file(override: str | None):
    from pathlib import Path

    return Path(override) if override else cache_dir() / "results-v2.sqlite"


class _time_limit:
    """SIGALRM-based limit; a no-op off the main thread."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = False

    def __enter__(self):
        if self.seconds and threading.current_thread() is threading.main_thread():
            self.active = True
            self.old = signal.signal(signal.SIGALRM, self._raise)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise FileTimeout()

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False
