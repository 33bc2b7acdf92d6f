"""Which blobs each commit needs analysed, and their results: from the
store, from a task already analysing the same blob, or from the workers
(the fork pool or a Dask cluster). The auditor plans commits ahead with it
and collects their results when it finishes them, in order."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import pygit2

from daxlint.audit.blobs import BlobAnalyzer, Workers
from daxlint.audit.deps import deps_hold
from daxlint.core.catalog import newest_catalog_version
from daxlint.core.files import file_kind
from daxlint.core.registry import ruleset_signature
from daxlint.model import FileResult, Skipped
from daxlint.sources.git import Change, CommitInfo, GitRepo
from daxlint.version import VersionRange

_SNAPSHOT_CHUNK = 48  # files per task when a whole tree is analysed


@dataclass
class Plan:
    """The work for one commit (or for the tree of a commit whose state
    is needed as a base), submitted ahead of finishing it."""

    sha: str
    tree: object = None
    version: VersionRange | None = None
    version_source: str = "Makefile"
    parents: list[str] = field(default_factory=list)
    whole_tree: str | None = None  # the reason, when every file is compared
    changes: list[Change] = field(default_factory=list)
    items: dict[str, str] = field(default_factory=dict)  # path -> blob id wanted in this tree
    cached: dict[str, FileResult] = field(default_factory=dict)
    handles: list = field(default_factory=list)
    shared: dict = field(default_factory=dict)  # path -> the handle of another plan analysing the same blob
    # path -> (blob id, handle): unchanged files sent ahead because a recent
    # state says they read what this commit changes (see BlobResults.redo).
    ahead: dict[str, tuple[str, object]] = field(default_factory=dict)
    skip: str | None = None
    info: CommitInfo | None = None


class Unreadable(Exception):
    """A blob or tree the audit needs cannot be read: its commit is skipped."""


class BlobResults:
    """The results of the blobs the audit's commits need, by (path, blob,
    kernel version), with the store as memory across runs."""

    def __init__(self, git: GitRepo, rules, store, options, progress, notify):
        self.git = git
        self.rules = rules
        self.store = store
        self.options = options
        self.progress = progress
        self.notify = notify
        self.analyzer = BlobAnalyzer(
            rules, options.max_bytes, options.timeout, options.per_file_ignores, options.build, options.suppressions
        )
        enabled = sorted(r.id for r in rules)
        self._blob_sig = digest(ruleset_signature(), enabled, options.max_bytes, options.suppressions)
        # What the build defines changes verdicts, not which files match.
        self._build_key = digest(sorted((k, s.value, str(s.versions)) for k, s in options.build.macros.items()))
        self.setup = digest(
            self._blob_sig,
            str(options.kernel_version) if options.kernel_version else "",
            sorted((k, sorted(v)) for k, v in options.per_file_ignores.items()),
            self._build_key,
        )
        self.assumed_version = False  # some commit had no top Makefile
        self.files_analysed = 0
        self._last_commit = 0.0
        self._workers = None  # the executor, made on first use (Workers or cluster.DaskWorkers)
        self._inflight: dict[str, object] = {}  # result key -> handle of the task analysing it

    def negative_key(self, path: str, oid: str) -> str:
        return digest(self._blob_sig, file_kind(path), oid)

    def result_key(self, path: str, oid: str, version: VersionRange) -> str:
        return digest(self._blob_sig, str(version), self._build_key, path, oid)

    def executor(self):
        """The executor of this run, started on first use: the fork pool, or
        a Dask cluster with --scheduler."""
        if self._workers is None:
            jobs = self.options.jobs or os.cpu_count() or 1
            if self.options.scheduler:
                from daxlint.audit.cluster import DaskWorkers, WorkerSetup

                setup = WorkerSetup.for_audit(self.rules, self.options, self.options.worker_repo or self.git.path)
                self._workers = DaskWorkers(
                    setup,
                    self.options.scheduler,
                    self.git,
                    local_workers=self.options.jobs,
                    progress=self.progress,
                    on_result=self.remember_rows,
                    dashboard=self.options.dashboard,
                    notify=self.notify,
                )
            else:
                self._workers = Workers(self.analyzer, self.git, jobs, self.remember_rows)
        return self._workers

    def close(self, failed: bool) -> None:
        """Stop the executor of this run, if one was started."""
        workers, self._workers = self._workers, None
        self._inflight.clear()
        if workers is not None:
            workers.close(failed)

    def commit_now_and_then(self) -> None:
        """Write what is buffered about once a second, so that a run that is
        killed keeps nearly everything it analysed."""
        if time.monotonic() - self._last_commit > 1.0:
            self.store.commit()
            self._last_commit = time.monotonic()

    def kernel_version_of(self, tree) -> tuple[VersionRange, str]:
        if self.options.kernel_version is not None:
            return self.options.kernel_version, "flag"
        v = self.git.kernel_version(tree)
        if v is not None:
            return VersionRange.single(v), "Makefile"
        self.assumed_version = True
        return VersionRange.single(newest_catalog_version()), "default"

    def plan_tree(self, sha: str, info: CommitInfo | None = None) -> Plan:
        """Every wanted file of a commit's tree."""
        commit = self.git.commit(sha)
        plan = Plan(sha, info=info)
        try:
            plan.tree = commit.tree
            plan.version, plan.version_source = self.kernel_version_of(plan.tree)
            plan.items = dict(self.git.files(plan.tree, self.analyzer.wanted))
        except (KeyError, pygit2.GitError) as e:
            plan.skip = f"tree of {sha[:12]} cannot be read ({e})"
            return plan
        self.submit(plan)
        return plan

    def plan_commit(self, info: CommitInfo, parents: list[str]) -> Plan:
        """The changed files of a commit against its (first) parent, or its
        whole tree where the kernel version changed or it has no parent."""
        if info.sha in self.git.shallow_boundary:
            return Plan(
                info.sha,
                parents=parents,
                info=info,
                skip="its parents are not in this shallow clone ('git fetch --deepen' or '--unshallow' fetches them)",
            )
        for p in parents:
            if self.git.commit(p) is None:
                why = "shallow clone" if self.git.is_shallow else "missing object"
                return Plan(info.sha, parents=parents, info=info, skip=f"parent {p[:12]} is not in the repository ({why})")
        if not parents:
            plan = self.plan_tree(info.sha, info)
            plan.whole_tree = "root commit"
            return plan
        commit = self.git.commit(info.sha)
        p1 = self.git.commit(parents[0])
        try:
            tree, ptree = commit.tree, p1.tree
            version, source = self.kernel_version_of(tree)
            pversion, _ = self.kernel_version_of(ptree)
        except (KeyError, pygit2.GitError) as e:
            return Plan(info.sha, parents=parents, info=info, skip=f"tree cannot be read ({e})")
        if version != pversion:
            plan = self.plan_tree(info.sha, info)
            plan.parents = parents
            plan.whole_tree = f"kernel version {pversion} -> {version}"
            return plan
        plan = Plan(info.sha, tree=tree, version=version, version_source=source, parents=parents, info=info)
        try:
            plan.changes = self.git.changes(ptree, tree)
        except pygit2.GitError as e:
            plan.skip = f"cannot compare with {parents[0][:12]} ({e})"
            return plan
        plan.items = {c.path: c.new for c in plan.changes if c.new is not None and self.analyzer.wanted(c.path)}
        self.submit(plan)
        return plan

    def submit(self, plan: Plan) -> None:
        """Take what the store knows; send the rest to the workers."""
        # Identical files at different paths share a negative key: keep every path.
        neg_keys = {(p, o): self.negative_key(p, o) for p, o in plan.items.items()}
        negative = self.store.negatives(list(set(neg_keys.values())))
        rest = []
        for (p, o), key in neg_keys.items():
            if key in negative:
                plan.cached[p] = FileResult(unmatched=True)
            else:
                rest.append((p, o))
        keys = {(p, o): self.result_key(p, o, plan.version) for p, o in rest}
        found = self.store.results(list(keys.values()))
        misses = []
        for (p, o), key in keys.items():
            if key in found:
                plan.cached[p] = FileResult.from_payload(found[key])
            elif key in self._inflight:
                # Another plan (another branch's commit, a revert) already
                # sent this blob: one analysis serves both.
                plan.shared[p] = self._inflight[key]
            else:
                misses.append((p, o))
        if not misses:
            return
        workers = self.executor()
        for i in range(0, len(misses), _SNAPSHOT_CHUNK):
            chunk = misses[i : i + _SNAPSHOT_CHUNK]
            handle = workers.submit((plan.sha, plan.version, plan.version_source, chunk))
            plan.handles.append(handle)
            for item in chunk:
                self._inflight[keys[item]] = handle

    # -- finishing ----------------------------------------------------------

    def remember(self, path: str, oid: str, version: VersionRange, res: FileResult) -> None:
        self.files_analysed += 1
        if res.unreadable or res.errors:
            return  # not cached: the next run tries again
        if res.unmatched:
            self.store.put_negative(self.negative_key(path, oid))
        else:
            self.store.put_result(self.result_key(path, oid, version), res.to_payload())

    def remember_rows(self, task, rows) -> None:
        """The executor's hook: a task's rows, once each, as they reach this
        process (from a cluster, possibly long before their commit is
        finished): into the store."""
        version = task[1]
        for path, oid, res in rows:
            self._inflight.pop(self.result_key(path, oid, version), None)
            self.remember(path, oid, version, res)
        self.commit_now_and_then()

    def collect(self, plan: Plan, progress_kind: str | None = None) -> dict[str, FileResult]:
        """The results of a plan's files, waiting for the workers, with cached
        results that read other files checked against this tree."""
        out = dict(plan.cached)
        total, done = len(plan.items), len(plan.cached) + len(plan.shared)
        for handle in plan.handles:
            for path, _oid, res in handle.get():
                out[path] = res
                done += 1
            if progress_kind:
                self.progress(progress_kind, done, total, plan.sha)
        for path, handle in plan.shared.items():
            out[path] = next(res for p, _oid, res in handle.get() if p == path)
        tokens: dict[str, str] = {}
        for path, res in list(out.items()):
            if res.unreadable:
                out[path] = unreadable_file(path, res)
                continue
            # A result from the store or from another plan was reached in
            # another tree: it holds here if what it read is the same.
            reused = path in plan.cached or path in plan.shared
            if reused and res.context and not deps_hold(self.git.repo, plan.tree, res.context, self.analyzer.indexes, tokens):
                out[path] = self.analyze_here(plan, path, plan.items[path])
        return out

    def analyze_here(self, plan: Plan, path: str, oid: str) -> FileResult:
        try:
            obj = self.git.repo[oid]
            data = obj.data if isinstance(obj, pygit2.Blob) else None
        except (KeyError, ValueError, pygit2.GitError):
            data = None
        res = self.analyzer.analyze(self.git.repo, plan.tree, path, oid, data, plan.version, plan.version_source)
        if res.unreadable:
            return unreadable_file(path, res)
        self.remember(path, oid, plan.version, res)
        return res

    def send_ahead(self, plan: Plan, items: list[tuple[str, str]]) -> None:
        """Start analysing unchanged files of the plan's tree that will
        probably need it again, so that redo() finds them done instead of
        stalling the walk on one task while the workers idle."""
        if items:
            handle = self.executor().submit((plan.sha, plan.version, plan.version_source, items))
            plan.ahead.update((path, (oid, handle)) for path, oid in items)

    def redo(self, plan: Plan, items: list[tuple[str, str]]) -> dict[str, FileResult]:
        """Analyse ``items`` of the plan's tree again: from what was sent
        ahead for the same blob, the rest now."""
        now = [(path, oid) for path, oid in items if plan.ahead.get(path, ("",))[0] != oid]
        handles = list({id(h): h for h in (plan.ahead[path][1] for path, oid in items if (path, oid) not in now)}.values())
        if now:
            handles.append(self.executor().submit((plan.sha, plan.version, plan.version_source, now)))
        wanted = dict(items)
        out = {}
        for handle in handles:
            for path, oid, res in handle.get():
                if wanted.get(path) != oid:
                    continue  # sent ahead, but this commit's state did not need it
                out[path] = unreadable_file(path, res) if res.unreadable else res
        for path, oid in items:
            plan.items[path] = oid
        return out


def unreadable_file(path: str, res: FileResult) -> FileResult:
    """A file whose blob could not be read (too large for one read, gone
    from a partial clone): skipped, and said so, for this commit - not the
    commit, nor the commits after it. ``unreadable`` stays set so that the
    auditor keeps the file's previous findings instead of calling them
    fixed."""
    return FileResult(skipped=[Skipped(path, f"could not be read, skipped in this commit: {res.unreadable}")], unreadable=res.unreadable)


def digest(*parts) -> str:
    return hashlib.sha1(
        "\0".join(p if isinstance(p, str) else json.dumps(p, default=str) for p in parts).encode("utf-8", "surrogateescape")
    ).hexdigest()
