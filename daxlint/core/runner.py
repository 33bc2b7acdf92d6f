"""Running the engine over many files: the walk, a pool of forked worker
processes, and the per-file result cache. ``check_paths()`` is what
``daxlint check`` (and the corpus) run; ``fork_pool()`` is the one pool
every mode uses."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import multiprocessing.pool
import os
import signal
from pathlib import Path

from daxlint.core.cache import ResultCache
from daxlint.core.engine import Engine
from daxlint.core.files import SCAN_LIMIT_BYTES, FileWalk, read_source_stat
from daxlint.core.registry import rule_matches, ruleset_signature
from daxlint.model import FileResult, Report
from daxlint.paths import cache_dir

_SERIAL_BELOW = 8
# Files per task: large enough that pickling and the pool's bookkeeping are
# noise next to the reading, small enough that the expensive files (a few
# hundred of 55k) do not leave one worker busy while the other waits.
_BATCH = 128


def fork_pool(jobs: int, initializer=None, initargs: tuple = ()) -> multiprocessing.pool.Pool:
    """``jobs`` worker processes forked from this one, so they inherit its
    state (the engine, the rules, the catalog) instead of unpickling it.
    Workers ignore ^C: the parent handles it and ends the pool."""
    return multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(initializer, initargs))


def _init_worker(initializer, initargs) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def key_prefix(engine: Engine) -> bytes:
    """What every cache key of a run shares: rules, their code, version."""
    options = engine.options
    return json.dumps(
        [ruleset_signature(), sorted(engine.enabled_ids), engine.kernel.setup_key(), options.max_bytes, options.suppressions]
    ).encode()


def cache_key(prefix: bytes, sha: str, display: str) -> str:
    return hashlib.sha1(prefix + b"\0" + sha.encode() + b"\0" + os.fsencode(display)).hexdigest()


def analyse_for_run(engine: Engine, display: str, abspath: str):
    """(sha, (size, mtime_ns), result or None) for check_paths(). The
    content hash is taken only when the result is worth a cache row of
    its own; an empty result is remembered by the file's stat alone, and
    re-reading such a file costs no more than hashing it would."""
    data, why, st = read_source_stat(abspath, engine.options.max_bytes, SCAN_LIMIT_BYTES)
    res = engine.analyze_read(display, abspath, data, why)
    stamp = (st.st_size, st.st_mtime_ns) if st is not None else None
    if data is None:
        sha = None  # nothing to key a cache row on
    elif engine.options.use_cache and res.needs_own_row:
        sha = hashlib.sha1(data).hexdigest()
    else:
        sha = ""
    return sha, stamp, (None if res.is_empty else res)


def check_paths(engine: Engine, paths: list[str], progress=None) -> Report:
    """Every wanted file under ``paths``, analysed (or answered by the cache).
    ``progress(done, found)`` hears how many files are done of those the
    walk found so far."""
    walk = FileWalk(paths, engine.file_kinds)
    report = Report()
    report.kernel_version = engine.kernel.version_label
    prefix = key_prefix(engine)
    cache = None
    if engine.options.use_cache:
        try:
            cache = ResultCache(_cache_file(engine.options.cache_path))
            cache.load_stat()  # here: the walk below may run in the pool's feeder thread
        except Exception as e:  # an unwritable cache dir must not stop a check
            report.notes.append(f"cache disabled: {e}")
            cache = None
    results: list[tuple[str, FileResult]] = []  # files with something to report
    deferred: list[tuple[str, str, str]] = []  # unchanged since a run that found something
    checked = 0
    answered = 0  # by the cache from the file's stat alone, in the walk
    done = 0  # analysed, or answered by the cache after the walk

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(answered + done, checked)

    def to_analyse():
        """The walk, minus files the cache answers from their stat alone.
        With several jobs this runs in the pool's feeder thread, so that
        workers start on the first directories while the walk goes on;
        it must not touch SQLite (the connection belongs to this thread)."""
        nonlocal checked, answered
        for display, abspath in walk:
            checked += 1
            if cache is not None and cache.has_stat(abspath):
                try:
                    known = cache.known(abspath, os.stat(abspath))
                except OSError:
                    known = None
                if known is not None:
                    sha, stored_key, empty = known
                    if empty and cache_key(prefix, sha, display) == stored_key:
                        answered += 1
                        continue
                    if sha:
                        deferred.append((display, abspath, sha))
                        continue
            yield display, abspath

    def record(display, abspath, sha, stamp, res):
        if res is not None:
            results.append((display, res))
        if cache is not None and sha is not None and not (res is not None and res.errors):
            cache.put(cache_key(prefix, sha, display), abspath, stamp, sha, res or FileResult())

    try:
        for item in _run(engine, to_analyse(), advance):
            record(*item)
        # Files unchanged since a run that found something: their result
        # stands while the files it depends on are unchanged too.
        sig_memo: dict[str, object] = {}
        stale: list[tuple[str, str]] = []
        for display, abspath, sha in deferred:
            hit = cache.get(cache_key(prefix, sha, display))
            if hit is not None and _context_unchanged(engine, hit.context, sig_memo):
                results.append((display, hit))
                advance(1)
            else:
                stale.append((display, abspath))
        for item in _run(engine, stale, advance):
            record(*item)
    finally:
        if cache is not None:
            cache.close()
            report.notes.extend(cache.notes)
    report.files_checked = checked
    report.skipped.extend(walk.skipped)
    for display, res in results:
        report.files_parsed += int(res.parsed)
        ignored = engine.per_file_ignores(display)
        report.findings.extend(f for f in res.findings if not (ignored and rule_matches(f.rule_id, ignored)))
        report.suppressed.extend(f for f in res.suppressed if not (ignored and rule_matches(f.rule_id, ignored)))
        report.skipped.extend(res.skipped)
        report.errors.extend(res.errors)
    report.sort()
    return report


def _context_unchanged(engine: Engine, context: dict, memo: dict) -> bool:
    for p, sig in context.items():
        if p not in memo:
            cur = engine.kernel.reader.signature(p)
            memo[p] = list(cur) if isinstance(cur, tuple) else cur
        if memo[p] != sig:
            return False
    return True


def _run(engine: Engine, items, advance):
    """(display, abspath, sha, stamp, result or None) for each item, in
    no particular order; ``advance(n)`` as n more files are done. Fewer
    than a handful of files are not worth starting processes for."""
    jobs = engine.options.jobs or os.cpu_count() or 1
    items = iter(items)
    head = list(itertools.islice(items, _SERIAL_BELOW))
    if jobs <= 1 or len(head) < _SERIAL_BELOW:
        for display, abspath in itertools.chain(head, items):
            yield display, abspath, *analyse_for_run(engine, display, abspath)
            advance(1)
        return
    with fork_pool(jobs, _set_worker_engine, (engine,)) as pool:
        for n, out in pool.imap_unordered(_worker, _batches(itertools.chain(head, items), _BATCH)):
            yield from out
            advance(n)


_WORKER_ENGINE: Engine | None = None  # in a worker process: the engine it forked with


def _set_worker_engine(engine: Engine) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = engine


def _batches(items, size: int):
    while batch := list(itertools.islice(items, size)):
        yield batch


def _worker(batch: list[tuple[str, str]]):
    out = []
    for display, abspath in batch:
        sha, stamp, res = analyse_for_run(_WORKER_ENGINE, display, abspath)
        # Nearly every file of a tree has nothing to report: send nothing
        # back for it unless the cache wants its stat row.
        if res is not None or (_WORKER_ENGINE.options.use_cache and sha is not None):
            out.append((display, abspath, sha, stamp, res))
    return len(batch), out


def _cache_file(override: str | None) -> Path:
    return Path(override) if override else cache_dir() / "results-v2.sqlite"


def check_file(engine: Engine, display: str, abspath: str) -> Report:
    """One file, the way a compiler wrapper is asked about it (``daxlint
    kbuild``: one process per compiled file, several at once under make
    -j). The result cache is asked by content hash alone - a tree walk's
    stat table would cost more to load than the file does to hash - and
    holds what the verdict read, so a cached result stands only while
    those files are unchanged."""
    report = Report()
    report.kernel_version = engine.kernel.version_label
    report.files_checked = 1
    data, why, _st = read_source_stat(abspath, engine.options.max_bytes, SCAN_LIMIT_BYTES)
    cache = key = None
    if engine.options.use_cache and data is not None and why is None:
        try:
            cache = ResultCache(_cache_file(engine.options.cache_path))
        except Exception as e:  # an unwritable cache dir must not stop a check
            report.notes.append(f"cache disabled: {e}")
    try:
        res = None
        if cache is not None:
            key = cache_key(key_prefix(engine), hashlib.sha1(data).hexdigest(), display)
            hit = cache.get(key)
            if hit is not None and _context_unchanged(engine, hit.context, {}):
                res = hit
        if res is None:
            res = engine.analyze_read(display, abspath, data, why)
            if cache is not None and not res.errors:
                cache.put(key, abspath, None, "", res)
    finally:
        if cache is not None:
            cache.close()
            report.notes.extend(cache.notes)
    ignored = engine.per_file_ignores(display)
    report.findings = [f for f in res.findings if not (ignored and rule_matches(f.rule_id, ignored))]
    report.skipped = list(res.skipped)
    report.errors = list(res.errors)
    report.files_parsed = int(res.parsed)
    report.sort()
    return report
