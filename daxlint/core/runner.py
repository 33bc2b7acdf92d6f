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
import time
from pathlib import Path

from daxlint.core.cache import ResultCache, file_stamp, stamp_of, trusted_stamp
from daxlint.core.engine import Engine
from daxlint.core.files import SCAN_LIMIT_BYTES, FileWalk, read_source_stat
from daxlint.core.registry import rule_matches, ruleset_signature
from daxlint.model import FileResult, Report
from daxlint.paths import cache_dir
from daxlint.sources.tree import content_hash

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
    return engine.kernel.memo(
        ("cache-key-prefix",),
        lambda: json.dumps(
            [ruleset_signature(), sorted(engine.enabled_ids), engine.kernel.setup_key(), options.max_bytes, options.suppressions]
        ).encode(),
    )


def cache_key(prefix: bytes, sha: str, display: str) -> str:
    return hashlib.sha1(prefix + b"\0" + sha.encode() + b"\0" + os.fsencode(display)).hexdigest()


def analyse_for_run(engine: Engine, display: str, abspath: str, known: tuple | None = None):
    """(sha, result or None, reusable, trusted stamp) for check_paths().
    With the cache, the file's content is hashed: when its key is the one
    recorded last time (``known``: hash, key, empty, stamp) the recorded
    result stands (``reusable``) and the file is not analysed; an empty
    result needs no look at the results table either, and comes back as
    (sha, None, True, stamp). The stamp is the file's as it was read, when
    it may stand for its content next time (cache.trusted_stamp())."""
    hashed_at = time.time_ns()
    data, why, st = read_source_stat(abspath, engine.options.max_bytes, SCAN_LIMIT_BYTES)
    sha = trusted = None  # nothing to key a cache row on
    if data is not None and engine.options.use_cache:
        sha = content_hash(data)
        trusted = trusted_stamp(file_stamp(st), hashed_at)
        if known is not None and known[1] == cache_key(key_prefix(engine), sha, display):
            return sha, None, True, trusted
    res = engine.analyze_read(display, abspath, data, why)
    return sha, (None if res.is_empty else res), False, trusted


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
            cache.load_files()  # here: the walk below may run in the pool's feeder thread
        except Exception as e:  # an unwritable cache dir must not stop a check
            report.notes.append(f"cache disabled: {e}")
            cache = None
    results: list[tuple[str, FileResult]] = []  # files with something to report
    # Unchanged since a run that found something, and whether the progress
    # already counted the file (it was read to learn that).
    deferred: list[tuple[str, str, str, bool]] = []
    checked = 0
    answered = 0  # by the cache from the file's stat alone, in the walk
    done = 0  # analysed, or answered by the cache after the walk

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(answered + done, checked)

    def to_analyse():
        """The walk, minus the files the cache answers from their stamp
        (their content is the one it hashed), with what the cache recorded
        for each. With several jobs this runs in the pool's feeder thread,
        so that workers start on the first directories while the walk goes
        on; it must not touch SQLite (the connection belongs to this
        thread)."""
        nonlocal checked, answered
        for display, abspath in walk:
            checked += 1
            known = cache.known(abspath) if cache is not None else None
            if known is not None and known[3] is not None and stamp_of(abspath) == known[3]:
                sha, stored_key, empty, _stamp = known
                if not empty:
                    deferred.append((display, abspath, sha, False))
                    continue
                if cache_key(prefix, sha, display) == stored_key:
                    answered += 1
                    continue
            yield display, abspath, known

    def record(display, abspath, sha, res, reusable, trusted):
        if reusable:
            if trusted is not None:
                cache.restamp(abspath, trusted)
            if not cache.known(abspath)[2]:
                # Unchanged since a run that found something: its result
                # stands while the files it depends on are unchanged too.
                deferred.append((display, abspath, sha, True))
            return
        if res is not None:
            results.append((display, res))
        if cache is not None and sha is not None and not (res is not None and res.errors):
            cache.put(cache_key(prefix, sha, display), abspath, sha, res or FileResult(), stamp=trusted)

    try:
        for item in _run(engine, to_analyse(), advance):
            record(*item)
        sig_memo: dict[str, object] = {}
        stale: list[tuple[str, str, None]] = []
        for display, abspath, sha, counted in deferred:
            if not counted:
                advance(1)
            hit = cache.get(cache_key(prefix, sha, display))
            if hit is not None and _context_unchanged(engine, hit.context, sig_memo, cache):
                results.append((display, hit))
            else:
                stale.append((display, abspath, None))
        for item in _run(engine, stale, lambda _n: None):  # counted above
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


def _context_unchanged(engine: Engine, context: dict, memo: dict, cache: ResultCache | None = None) -> bool:
    """Whether every file a cached verdict read still has the content it
    had (the cache's recorded hash while a file's stamp holds)."""
    signature = engine.kernel.reader.signature
    for p, sig in context.items():
        if p not in memo:
            cur = cache.content_hash(p, signature) if cache is not None else signature(p)
            memo[p] = list(cur) if isinstance(cur, tuple) else cur
        if memo[p] != sig:
            return False
    return True


def _run(engine: Engine, items, advance):
    """(display, abspath, sha, result or None, reusable, stamp) for each item
    (display, abspath, what the cache recorded), in no particular order;
    ``advance(n)`` as n more files are done. Fewer than a handful of files
    are not worth starting processes for."""
    jobs = engine.options.jobs or os.cpu_count() or 1
    items = iter(items)
    head = list(itertools.islice(items, _SERIAL_BELOW))
    if jobs <= 1 or len(head) < _SERIAL_BELOW:
        for display, abspath, known in itertools.chain(head, items):
            out = _outcome(engine, display, abspath, known)
            if out is not None:
                yield out
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
    """Batches of about ``size`` items that end where a directory does, up
    to four times that: the files of one directory share what a worker
    learns of their module (its helpers, its siblings' facts), which the
    other worker would otherwise learn again."""
    batch: list = []
    for item in items:
        if len(batch) >= size and (len(batch) >= 4 * size or os.path.dirname(item[1]) != os.path.dirname(batch[-1][1])):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _worker(batch: list[tuple[str, str, tuple | None]]):
    return len(batch), [out for item in batch if (out := _outcome(_WORKER_ENGINE, *item)) is not None]


def _outcome(engine: Engine, display: str, abspath: str, known: tuple | None):
    """What the run must hear of one file, or None. Nearly every file of a
    tree has nothing to report: nothing comes back for it unless the cache
    wants its row (a new or changed file, a new stamp) or its stored result
    must be looked up."""
    sha, res, reusable, trusted = analyse_for_run(engine, display, abspath, known)
    if res is not None or (sha is not None and not (reusable and known[2] and trusted in (None, known[3]))):
        return display, abspath, sha, res, reusable, trusted
    return None


def _cache_file(override: str | None) -> Path:
    return Path(override) if override else cache_dir() / "results-v3.sqlite"


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
            key = cache_key(key_prefix(engine), content_hash(data), display)
            hit = cache.get(key)
            if hit is not None and _context_unchanged(engine, hit.context, {}):
                res = hit
        if res is None:
            res = engine.analyze_read(display, abspath, data, why)
            if cache is not None and not res.errors:
                cache.put(key, abspath, "", res, record_path=False)
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
