"""``daxlint audit --scheduler``: the blob analyses as tasks of a Dask
cluster (``dask.distributed``: a ``LocalCluster``, or a scheduler started
with ``dask scheduler`` on SSH hosts, Kubernetes or SLURM/PBS through
dask-jobqueue).

The client (the ``daxlint audit`` process) walks the commits, keeps the
SQLite store and writes every result as it arrives; the workers only
analyse, and have no side effects, so a task that Dask runs twice (a
worker died after finishing it) changes nothing. A Dask task is a batch of
the auditor's tasks (about ``BATCH_BLOBS`` blobs, from many commits), so
scheduling costs little next to the analysis; a worker that dies loses its
batch, which the scheduler gives to another worker; a batch that keeps
killing workers is split, and a blob that kills a worker on its own
becomes an error of its commit (not stored, so the next run tries again).

Workers open the repository themselves: at the client's path (shared
storage) or at ``--worker-repo``. The scheduler (which unpickles the task
graph) and every worker need the client's daxlint; a probe checks that
before any work is sent, because a worker that cannot unpickle a task
neither runs nor fails it.

``dask[distributed]`` is optional (the ``dask`` extra: ``pip install
'.[dask]'`` in daxlint's checkout, or DASK_REQUIREMENT on its own):
imported here only, and this module only when ``--scheduler`` asks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from daxlint import __version__
from daxlint.audit.blobs import BlobAnalyzer, analyze_items
from daxlint.core.build import BuildSetup
from daxlint.errors import InputError
from daxlint.model import FileResult, InternalError
from daxlint.sources.git import BlobReader, GitRepo

BATCH_BLOBS = 256  # blobs per Dask task: a task costs a few ms of scheduling
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler, and for it to have a worker
# Seconds the audit waits on a cluster that lost every worker before it
# gives up: a batch system may take a while to start new ones; the nannies
# of a LocalCluster restart theirs within seconds or never.
NO_WORKERS_TIMEOUT = 600.0
LOCAL_NO_WORKERS_TIMEOUT = 30.0


class ClusterError(InputError):
    """The cluster cannot run this audit: dask missing, no scheduler, a
    worker without daxlint or without the repository."""


class WorkerMismatch(Exception):
    """Raised on a worker that cannot produce results the client may store."""


# What the dask extra installs (pyproject.toml; a test keeps them equal).
# Said as itself: daxlint is installed from a checkout, not from PyPI, so
# 'daxlint[dask]' names nothing pip can find.
DASK_REQUIREMENT = "dask[distributed]>=2024.8"


def import_distributed():
    """dask.distributed, or a one-line error saying how to get it."""
    try:
        import distributed
    except ImportError as e:
        raise ClusterError(
            f"--scheduler needs dask.distributed, which is not installed ({e}): pip install '{DASK_REQUIREMENT}' "
            "(or pip install '.[dask]' in daxlint's checkout)"
        ) from None
    return distributed


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to rebuild the client's analyzer and open the
    repository. Rule classes do not pickle (daxlint loads them from files)
    and neither do pygit2 objects: rule ids and a path travel instead."""

    git_dir: str
    rule_ids: tuple[str, ...]
    max_bytes: int
    timeout: float
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...]
    build: BuildSetup
    suppressions: bool
    version: str  # daxlint's, on the client
    signature: str  # registry.ruleset_signature() on the client

    @classmethod
    def for_audit(cls, rules, options, git_dir: str) -> WorkerSetup:
        from daxlint.core.registry import ruleset_signature

        return cls(
            git_dir=os.path.abspath(git_dir),
            rule_ids=tuple(sorted(r.id for r in rules)),
            max_bytes=options.max_bytes,
            timeout=options.timeout,
            per_file_ignores=tuple(sorted((k, tuple(v)) for k, v in options.per_file_ignores.items())),
            build=options.build,
            suppressions=options.suppressions,
            version=__version__,
            signature=ruleset_signature(),
        )


# -- on the workers ----------------------------------------------------------------

# One (setup, analyzer, repository, blob reader) per worker thread: neither
# the engine nor a `git cat-file` pipe may be shared between threads
# (`dask worker --nthreads 4`), and a long-lived worker serves one audit
# after another.
_THREAD = threading.local()


def _worker_state(setup: WorkerSetup):
    state = getattr(_THREAD, "state", None)
    if state is not None and state[0] == setup:
        return state
    if state is not None:
        _THREAD.state = None
        state[3].close()
    import pygit2

    from daxlint.core.registry import rule_by_id, ruleset_signature

    host = socket.gethostname()
    if setup.version != __version__ or setup.signature != ruleset_signature():
        raise WorkerMismatch(
            f"the Dask worker on {host} runs daxlint {__version__} with other rules than the client's {setup.version}: "
            "install the same daxlint on every worker"
        )
    try:
        repo = pygit2.Repository(setup.git_dir)
    except pygit2.GitError as e:
        raise WorkerMismatch(f"the Dask worker on {host} cannot open the repository {setup.git_dir} ({e}): use --worker-repo") from None
    rules = [rule_by_id(i) for i in setup.rule_ids]
    analyzer = BlobAnalyzer(
        rules, setup.max_bytes, setup.timeout, {k: list(v) for k, v in setup.per_file_ignores}, setup.build, setup.suppressions
    )
    state = (setup, analyzer, repo, BlobReader(repo))
    _THREAD.state = state
    return state


def run_batch(setup: WorkerSetup, tasks: list) -> list:
    """The Dask task: the auditor's tasks (commit, version, version source,
    [(path, blob id)]) in, each one's analyze_items() rows out - a blob no
    rule could match (most of a tree) as None, which costs the client and
    the comms nearly nothing (see _expand)."""
    _, analyzer, repo, blobs = _worker_state(setup)
    out = []
    for task in tasks:
        if task[0] not in repo:
            # Not "missing": the client has the commit, this clone does not.
            raise WorkerMismatch(
                f"commit {task[0][:12]} is not in {setup.git_dir} on the Dask worker on {socket.gethostname()}: fetch it there"
            )
        out.append([(p, o, None if r == _UNMATCHED else r) for p, o, r in analyze_items(analyzer, repo, blobs, task)])
    return out


_UNMATCHED = FileResult(unmatched=True)


def _expand(rows: list) -> list:
    """run_batch()'s rows of one task as analyze_items() gave them."""
    return [(p, o, FileResult(unmatched=True) if r is None else r) for p, o, r in rows]


def _probe_factory(git_dir: str):
    def probe():
        # Nested, so that cloudpickle sends it by value: unpickling it needs
        # no daxlint, and a worker without a usable one can say so.
        try:
            import daxlint
            from daxlint.core.registry import ruleset_signature

            found = ["ok", daxlint.__version__, ruleset_signature()]
        except Exception as e:
            return ["error", f"{type(e).__name__}: {e}", None, None]
        try:
            import pygit2

            pygit2.Repository(git_dir)
            found.append(None)
        except Exception as e:
            found.append(f"{type(e).__name__}: {e}")
        return found

    return probe


def _handshake(address: str) -> None:
    """Dask's comm handshake with ``address``, within CONNECT_TIMEOUT.
    Client(timeout=...) does not hold against a server that accepts the
    connection and then says nothing (a silent TCP or HTTP service at that
    port): it waits forever. Raises TimeoutError or the connection's
    OSError."""
    from distributed.comm import connect

    async def handshake():
        comm = await asyncio.wait_for(connect(address, timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT)
        await comm.close()

    try:
        asyncio.run(handshake())
    except TimeoutError:
        raise TimeoutError(f"no Dask handshake within {CONNECT_TIMEOUT:g}s (is a Dask scheduler listening there?)") from None


def _scheduler_probe():
    def probe():
        import importlib.util as iu

        try:
            import daxlint
            from daxlint.core.registry import ruleset_signature

            return ["ok", daxlint.__version__, ruleset_signature(), iu.find_spec("bokeh") is not None]
        except Exception as e:
            return ["error", f"{type(e).__name__}: {e}", None, None]

    return probe


# -- on the client -----------------------------------------------------------------


class _Batch:
    __slots__ = ("blobs", "error", "future", "handles", "rows")

    def __init__(self, future, handles, blobs):
        self.future, self.handles, self.blobs = future, handles, blobs
        self.rows = None
        self.error = None


class _Handle:
    __slots__ = ("batch", "index", "owner", "task")

    def __init__(self, owner: DaskWorkers, task):
        self.owner, self.task = owner, task
        self.batch = None
        self.index = 0

    def get(self):
        return self.owner._get(self)


class DaskWorkers:
    """The audit's executor on a Dask cluster, with the interface of
    ``daxlint.audit.blobs.Workers``: ``submit(task)`` gives a handle whose
    ``get()`` is the task's rows, ``on_result(task, rows)`` sees each task's
    rows once (as soon as its batch reaches the client), ``hungry()`` asks
    the auditor to plan further ahead, ``close(failed)``.

    ``address``: "local" (a LocalCluster of ``local_workers`` processes,
    every core by default) or a scheduler address (tcp://host:8786)."""

    def __init__(
        self,
        setup: WorkerSetup,
        address: str,
        repo: GitRepo,
        *,
        local_workers: int = 0,
        batch_blobs: int | None = None,
        progress=None,
        on_result=None,
        dashboard: bool = False,
        notify=None,
    ):
        distributed = import_distributed()
        self.setup = setup
        self.repo = repo
        self.batch_blobs = batch_blobs or BATCH_BLOBS
        self.progress = progress or (lambda *a, **k: None)
        self.on_result = on_result or (lambda task, rows: None)
        self.notify = notify or (lambda text: None)
        self.cluster = None
        self.client = None
        self._by_key: dict[str, _Batch] = {}
        # The LocalCluster's scheduler and nannies live in this process and
        # log at INFO when they stop; silence_logs covers only start-up.
        self._logger = logging.getLogger("distributed")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL)
        try:
            if address == "local":
                self.cluster = distributed.LocalCluster(
                    n_workers=local_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    scheduler_port=0,
                    dashboard_address=":0",  # None would still bind 8787 for /health
                    silence_logs=logging.CRITICAL,
                )
                self.client = distributed.Client(self.cluster)
                # ^C reaches the whole process group: the client handles it.
                self.client.register_plugin(IgnoreSigint(), name="daxlint-ignore-sigint")
            else:
                _handshake(address)
                # Always an explicit address: Client() alone may start a cluster.
                self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
                self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # a bad address, nothing listening, no worker: one line
            self.close(True)
            raise ClusterError(f"cannot use the Dask scheduler {address}: {e}") from None
        try:
            bokeh = self._preflight()
        except ClusterError:
            self.close(True)
            raise
        if dashboard:
            link = self.client.dashboard_link
            if bokeh:
                self.notify(f"Dask dashboard: {link}")
            else:
                self.notify(f"Dask dashboard: {link} (it needs bokeh>=3.1 where the scheduler runs: pip install bokeh)")
        self.jobs = max(1, sum(self.client.nthreads().values()))
        self._workers_seen = len(self.client.nthreads())
        self._killed = distributed.KilledWorker
        self._done = distributed.as_completed(loop=self.client.loop)
        self._pending: list[_Handle] = []
        self._pending_blobs = 0
        self._inflight_blobs = 0
        self._names = itertools.count()
        self._run = uuid.uuid4().hex[:8]
        self.submitted = 0  # Dask tasks
        self.finished = 0

    def _preflight(self) -> bool:
        """daxlint must import, at the client's version and rules, on the
        scheduler and on every worker, and the workers must open the
        repository. Package metadata (client.get_versions()) does not tell a
        daxlint that fails to import, so the probes run code. Returns
        whether the scheduler has bokeh (for the dashboard)."""
        want = [__version__, self.setup.signature]
        try:
            on_scheduler = self.client.run_on_scheduler(_scheduler_probe())
            on_workers = self.client.run(_probe_factory(self.setup.git_dir))
        except Exception as e:
            raise ClusterError(f"the Dask scheduler cannot run daxlint's check ({type(e).__name__}: {e})") from None
        for who, found in [("the scheduler", on_scheduler), *((f"worker {w}", v) for w, v in sorted(on_workers.items()))]:
            if found[0] != "ok":
                raise ClusterError(
                    f"the Dask scheduler and every worker need daxlint {__version__}, as here; {who} has none usable ({found[1]})"
                )
            if found[1:3] != want:
                raise ClusterError(
                    f"the Dask scheduler and every worker need daxlint {__version__} with the same rules as here; "
                    f"{who} has daxlint {found[1]}{' with other rules' if found[1] == __version__ else ''}"
                )
            if who != "the scheduler" and found[3] is not None:
                raise ClusterError(f"{who} cannot open the repository {self.setup.git_dir} ({found[3]}): use --worker-repo PATH")
        return bool(on_scheduler[3])

    # -- submitting -------------------------------------------------------------

    def submit(self, task) -> _Handle:
        handle = _Handle(self, task)
        self._pending.append(handle)
        self._pending_blobs += len(task[3])
        if self._pending_blobs >= self.batch_blobs:
            self.flush()
        self.drain()
        return handle

    def hungry(self) -> bool:
        """Whether fewer blobs are queued than two batches per worker thread."""
        return self._inflight_blobs + self._pending_blobs < 2 * self.jobs * self.batch_blobs

    def flush(self) -> None:
        """Send what is held back as one Dask task."""
        if not self._pending:
            return
        handles, self._pending = self._pending, []
        blobs, self._pending_blobs = self._pending_blobs, 0
        future = self._send([h.task for h in handles], "batch")
        batch = _Batch(future, handles, blobs)
        for i, h in enumerate(handles):
            h.batch, h.index = batch, i
        self._by_key[future.key] = batch
        self._inflight_blobs += blobs
        self._done.add(future)
        self.progress("tasks", self.finished, self.submitted)

    def _send(self, tasks: list, kind: str):
        # A key of our own, never reused: the scheduler must neither merge two
        # batches (pure=True would, for equal arguments) nor hand back an old result.
        self.submitted += 1
        key = f"daxlint-{kind}-{self._run}-{next(self._names)}"
        return self.client.submit(run_batch, self.setup, tasks, key=key, pure=False)

    # -- collecting -------------------------------------------------------------

    def drain(self) -> None:
        """Take in the batches that are done, without waiting."""
        if not self._done.has_ready():
            return
        for future in self._done.next_batch(block=False):
            batch = self._by_key.pop(future.key, None)
            if batch is not None:
                self._fetch(batch)

    def _fetch(self, batch: _Batch) -> None:
        try:
            batch.rows = [_expand(rows) for rows in self._wait(batch.future)]
        except self._killed:
            batch.rows = self._split(batch)
        except WorkerMismatch as e:
            batch.error = ClusterError(str(e))
        except ClusterError as e:
            batch.error = e
        except Exception as e:
            batch.error = ClusterError(f"a Dask task failed: {type(e).__name__}: {e}")
        batch.future = None  # the scheduler may forget the result
        self._inflight_blobs -= batch.blobs
        self.finished += 1
        self.progress("tasks", self.finished, self.submitted)
        if batch.rows is None:
            return
        for h, rows in zip(batch.handles, batch.rows):
            self._check_missing(h.task, rows)
        for h, rows in zip(batch.handles, batch.rows):
            self.on_result(h.task, rows)

    def _check_missing(self, task, rows) -> None:
        """A blob the workers' repository lacks is not one the commit lacks:
        say so instead of skipping the commit."""
        for path, oid, res in rows:
            if res.unreadable and self.repo.blob_exists(oid):
                raise ClusterError(
                    f"the Dask workers' repository {self.setup.git_dir} lacks {oid[:12]} ({path} in {task[0][:12]}), "
                    f"which {self.repo.display} has: fetch it there or give --worker-repo"
                )

    def _split(self, batch: _Batch) -> list:
        """A batch that killed workers ``allowed-failures`` + 1 times: each blob
        alone, so that only the blob that kills workers is lost, as an error
        of its commit."""
        self._recover()
        singles = []
        for h in batch.handles:
            sha, version, source, items = h.task
            singles.append([((sha, version, source, [item]), self._send([(sha, version, source, [item])], "blob")) for item in items])
        out = []
        for row in singles:
            rows = []
            for task, future in row:
                try:
                    rows.extend(_expand(self._wait(future)[0]))
                except self._killed:
                    # Maybe only queued on a worker that another blob killed:
                    # alone, an innocent blob comes back.
                    rows.extend(self._alone(task))
                self.finished += 1
            out.append(rows)
        return out

    def _alone(self, task) -> list:
        """The rows of a one-blob task run with nothing else of ours waiting;
        the blob is an error of its commit if it kills workers again."""
        self._recover()
        try:
            return _expand(self._wait(self._send([task], "suspect"))[0])
        except self._killed:
            path, oid = task[3][0]
            return [(path, oid, FileResult(errors=[InternalError(path, None, "the Dask worker analysing it died")]))]

    def _recover(self) -> None:
        """After workers died: wait until they are back before sending a
        suspect blob. A nanny restarts its worker only if that worker had
        finished starting: a blob that kills a worker still starting leaves
        the cluster without it for good."""
        if len(self.client.nthreads()) >= self._workers_seen:
            return
        try:
            self.client.wait_for_workers(self._workers_seen, timeout=60)
        except TimeoutError:
            return  # fewer workers than before (an elastic cluster): go on with those
        time.sleep(0.5)  # the nanny marks its worker running just after it registers

    def _wait(self, future):
        """The future's result; a cluster left without workers for long is an
        error rather than a wait for ever."""
        limit = LOCAL_NO_WORKERS_TIMEOUT if self.cluster is not None else NO_WORKERS_TIMEOUT
        since = None
        while True:
            try:
                return future.result(timeout=2)
            except TimeoutError:
                if self.client.nthreads():
                    since = None
                elif since is None:
                    since = time.monotonic()
                elif time.monotonic() - since > limit:
                    raise ClusterError(
                        f"the Dask cluster has had no worker for {limit:g}s: start workers (dask worker ADDRESS) and run again"
                    ) from None

    def _get(self, handle: _Handle):
        if handle.batch is None:
            self.flush()  # never wait with work held back
        batch = handle.batch
        if batch.rows is None and batch.error is None:
            self._by_key.pop(batch.future.key, None)
            self._fetch(batch)  # waits
        if batch.error is not None:
            raise batch.error
        return batch.rows[handle.index]

    def close(self, failed: bool) -> None:
        try:
            if self.client is not None:
                if failed and self._by_key:
                    self.client.cancel([b.future for b in self._by_key.values() if b.future is not None])
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            self.client = self.cluster = None
            self._logger.setLevel(self._level)


try:
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # dask is optional: without it nothing here runs
    _WorkerPlugin = object


class IgnoreSigint(_WorkerPlugin):
    """^C on a terminal reaches every process of the group: LocalCluster
    workers (also those a nanny restarts) leave it to the client, as the
    fork pool's workers do."""

    def setup(self, worker):
        del worker  # Dask passes it by that name; nothing of it is needed
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
