"""The engine applied to blobs of a commit's tree, in this process or on a
pool of forked workers that each open the repository themselves."""

from __future__ import annotations

from pathlib import Path

import pygit2

from daxlint.audit.deps import TreeIndexes, _IndexView
from daxlint.core.build import BuildSetup
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import DEFAULT_MAX_BYTES, file_kind
from daxlint.core.files import wanted as files_wanted
from daxlint.core.kernel import KernelContext
from daxlint.core.runner import fork_pool
from daxlint.kconfig.index import kconfig_index
from daxlint.model import FileResult, InternalError, Skipped
from daxlint.sources.git import VIRTUAL_ROOT, BlobReader, GitRepo, GitTreeReader
from daxlint.sources.tree import RECENT_BLOBS_BYTES, RecentBytes
from daxlint.version import VersionRange


def remembered(res: FileResult) -> bool:
    """Whether a tree's state must remember a file's result: it has
    findings (suppressed ones too), or its verdict hangs on other files."""
    return bool(res.findings or res.suppressed or res.context)


class BlobAnalyzer:
    """The engine applied to blobs of a tree. One per process."""

    def __init__(
        self,
        rules,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 60.0,
        per_file_ignores: dict | None = None,
        build: BuildSetup | None = None,
        suppressions: bool = True,
    ):
        opts = EngineOptions(
            jobs=1,
            use_cache=False,
            max_bytes=max_bytes,
            timeout=timeout,
            per_file_ignores=per_file_ignores or {},
            suppressions=suppressions,
        )
        self.engine = Engine(rules, KernelContext(None, None, "default"), opts)
        self.build = build or BuildSetup()
        self.kinds = self.engine.file_kinds
        self.max_bytes = max_bytes
        self.indexes = TreeIndexes()
        # What the analyses learn from a file's bytes alone (the helpers it
        # defines), by content: shared by the fresh context of every file.
        self.facts_of_bytes: dict = {}
        # What the analyses learn of a directory's files (the helpers they
        # define), by the directory's tree id, with the reads that learnt it.
        self.facts_of_directories: dict = {}
        # The siblings and headers verdicts read: the same few per directory.
        self.recent_blobs = RecentBytes(RECENT_BLOBS_BYTES)

    def wanted(self, name: str) -> bool:
        """Whether a file of this name is one the enabled rules read."""
        return files_wanted(name, self.kinds)

    def needs_rules(self, data: bytes, path: str) -> bool:
        return self.engine.needs_analysis(data, file_kind(path))

    def analyze(
        self, repo: pygit2.Repository, tree, path: str, oid: str, data: bytes | None, version: VersionRange, version_source: str
    ) -> FileResult:
        if data is None:
            return FileResult(unreadable=f"object {oid[:12]} ({path}) is missing or not a file")
        if len(data) > self.max_bytes:
            return FileResult(skipped=[Skipped(path, f"too large ({len(data)} bytes, limit {self.max_bytes})")])
        if not self.needs_rules(data, path):
            return FileResult(unmatched=True)
        reader = GitTreeReader(repo, tree, self.recent_blobs)
        # Each file gets a fresh context, so that memos kept per context (a
        # directory's Kconfig, its siblings' summaries) cannot hide from the
        # reader which files this file's verdict read. The tree's Kconfig
        # index is shared, through a view that records this file's lookups.
        view = _IndexView(self.indexes, repo, tree, reader.deps)
        kernel = KernelContext(
            Path(VIRTUAL_ROOT),
            version.last,
            version_source,
            reader,
            memo={kconfig_index: view},
            versions=version,
            build=self.build,
            content_memo=self.facts_of_bytes,
            directory_memo=self.facts_of_directories,
        )
        # The engine applies the per-file time limit and turns it into a skip.
        res = self.engine.analyze(path, data, f"{VIRTUAL_ROOT}/{path}", kernel)
        # What the verdict depends on is what the reader saw it read.
        return FileResult(res.findings, res.skipped, res.errors, context=reader.deps, suppressed=res.suppressed)


# Worker processes: each opens the repository itself after the fork.
_WORKER: tuple | None = None


def _init_worker(analyzer: BlobAnalyzer, git_dir: str) -> None:
    global _WORKER
    repo = pygit2.Repository(git_dir)
    _WORKER = (analyzer, repo, BlobReader(repo))


def _run_task(task):
    return analyze_items(*_WORKER, task)


def analyze_items(analyzer: BlobAnalyzer, repo: pygit2.Repository, blobs: BlobReader, task) -> list[tuple[str, str, FileResult]]:
    """Analyse (path, blob id) items of one commit's tree."""
    commit_sha, version, version_source, items = task
    try:
        tree = repo[commit_sha].tree
    except (KeyError, ValueError, pygit2.GitError) as e:
        return [(p, o, FileResult(unreadable=f"tree of {commit_sha[:12]} cannot be read: {e}")) for p, o in items]
    contents = blobs.read([o for _, o in items])
    out = []
    for (path, oid), data in zip(items, contents):
        try:
            res = analyzer.analyze(repo, tree, path, oid, data, version, version_source)
        except Exception as e:  # a crash on one file must not end the audit
            res = FileResult(errors=[InternalError(path, None, f"{type(e).__name__}: {e}")])
        out.append((path, oid, res))
    return out


class _Handle:
    """One submitted task's rows, fetched once: the first ``get()`` hands
    them to the executor's ``on_result`` (the auditor remembers them), every
    later one returns the same rows (a plan that shares the task)."""

    __slots__ = ("_fetch", "_on_result", "_rows", "task")

    def __init__(self, fetch, task, on_result):
        self._fetch = fetch
        self._on_result = on_result
        self._rows = None
        self.task = task

    def get(self):
        if self._rows is None:
            rows = self._fetch()
            self._on_result(self.task, rows)
            self._rows = rows
        return self._rows


class Workers:
    """The audit's executor: tasks (commit, version, version source,
    [(path, blob id)]) analysed in this process (one job) or on a pool of
    forked workers. ``submit()`` returns a handle whose ``get()`` gives the
    task's rows; ``on_result(task, rows)`` sees every task's rows exactly
    once, when they reach this process. The Dask executor
    (``daxlint.audit.cluster``) has the same interface."""

    def __init__(self, analyzer: BlobAnalyzer, repo: GitRepo, jobs: int, on_result=None):
        self.analyzer = analyzer
        self.repo = repo
        self.jobs = jobs
        self.on_result = on_result or (lambda task, rows: None)
        self.pool = None
        self.blobs = None
        if jobs > 1:
            self.pool = fork_pool(jobs, _init_worker, (analyzer, repo.path))
        else:
            self.blobs = BlobReader(repo.repo)

    def submit(self, task) -> _Handle:
        if self.pool is None:
            return _Handle(lambda: analyze_items(self.analyzer, self.repo.repo, self.blobs, task), task, self.on_result)
        return _Handle(self.pool.apply_async(_run_task, (task,)).get, task, self.on_result)

    def hungry(self) -> bool:
        """Whether the auditor should plan beyond its usual window (the pool
        is kept busy by the window alone)."""
        return False

    def close(self, failed: bool) -> None:
        if self.blobs is not None:
            self.blobs.close()
        if self.pool is None:
            return
        if failed:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()
