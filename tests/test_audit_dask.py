"""``daxlint audit --scheduler``: blob analyses on a Dask cluster give the
fork pool's results, a worker killed mid-batch neither loses nor
duplicates anything, an interrupted audit resumes, the per-file time limit
holds on workers, and a cluster that cannot do the work (no dask, no
daxlint on a worker, a worker's repository without the commits) fails in
one line instead of hanging."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from audit_repo import synthetic_history, without_volatile  # noqa: E402
from conftest import REPO, run_daxlint  # noqa: E402
from daxlint.audit import cluster  # noqa: E402
from daxlint.audit.auditor import AuditOptions, Auditor  # noqa: E402
from daxlint.audit.cluster import ClusterError, DaskWorkers  # noqa: E402
from daxlint.audit.store import AuditStore  # noqa: E402
from daxlint.core.registry import select_rules  # noqa: E402
from daxlint.sources.git import GitRepo  # noqa: E402


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """300 commits on a small kernel-like tree, and a branch 'old' at main~150."""
    path = tmp_path_factory.mktemp("synth") / "linux"
    base, tip = synthetic_history(path, 300)
    subprocess.run(["git", "branch", "old", "main~150"], cwd=path, check=True)
    return path, base


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "linux"
    base, _ = synthetic_history(path, 40, seed=7)
    return path, base


@pytest.fixture
def quiet_dask():
    """The LocalCluster's scheduler and nannies log into this process."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def local_cluster(**config):
    import dask

    with dask.config.set(config):
        return distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, scheduler_port=0, dashboard_address=":0", silence_logs=logging.CRITICAL
        )


def audit_cli(path, *args, env=None):
    code, out, err = run_daxlint("audit", "--repo", str(path), "--format", "json", "--no-cache", *args, env=env)
    assert code in (0, 1), err
    return json.loads(out), err


def test_local_cluster_gives_the_pools_json(synth):
    path, base = synth
    pool, _ = audit_cli(path, "-j", "2", f"{base}..main")
    dask_, err = audit_cli(path, "-j", "2", "--scheduler", "local", f"{base}..main")
    assert without_volatile(dask_) == without_volatile(pool)
    assert pool["summary"]["commits"] == 300 and pool["summary"]["introduced"] > 20 and pool["summary"]["fixed"] > 10
    assert "distributed" not in err and "Traceback" not in err, err
    # Many branches on the cluster: the same fleet report as on the pool.
    fleet_pool, _ = audit_cli(path, "-j", "2", "--since", base, "main", "old")
    fleet_dask, _ = audit_cli(path, "-j", "2", "--scheduler", "local", "--since", base, "main", "old")
    assert without_volatile(fleet_dask) == without_volatile(fleet_pool)
    assert fleet_pool["fleet"]["commits"] == 300 and [len(b["commits"]) for b in fleet_pool["branches"]] == [300, 150]


def test_scheduler_from_the_environment_and_the_dashboard(small):
    path, base = small
    pool, _ = audit_cli(path, "-j", "1", f"{base}..main")
    dask_, err = audit_cli(path, "-j", "2", "--dashboard", f"{base}..main", env={"DASK_SCHEDULER_ADDRESS": "local"})
    assert without_volatile(dask_) == without_volatile(pool)
    [line] = [ln for ln in err.splitlines() if ln.startswith("Dask dashboard: ")]
    assert line.startswith("Dask dashboard: http://127.0.0.1:")
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        assert line.endswith("(it needs bokeh>=3.1 where the scheduler runs: pip install bokeh)")


def store_keys(db: Path) -> tuple[set, set, int]:
    con = sqlite3.connect(db)
    try:
        negatives = {k for (k,) in con.execute("SELECT key FROM negatives")}
        results = {k for (k,) in con.execute("SELECT key FROM blob_results")}
        commits = con.execute("SELECT COUNT(*) FROM commits").fetchone()[0]
    finally:
        con.close()
    return negatives, results, commits


class SlowBatches(distributed.WorkerPlugin):
    """On every worker, also those a nanny starts after a kill: each of the
    auditor's tasks leaves a start marker (worker pid, commit) and then
    takes ``seconds`` longer, so that a worker can be killed mid-batch."""

    def __init__(self, marks: str, seconds: float):
        self.marks, self.seconds = marks, seconds

    def setup(self, worker):
        del worker
        original = cluster.analyze_items
        marks, seconds = self.marks, self.seconds

        def slow(analyzer, repo, blobs, task):
            Path(marks, f"start-{os.getpid()}-{task[0][:12]}-{time.monotonic_ns()}").touch()
            time.sleep(seconds)
            return original(analyzer, repo, blobs, task)

        cluster.analyze_items = slow


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(small, tmp_path, quiet_dask, monkeypatch):
    path, base = small
    pool_db = tmp_path / "pool.sqlite"
    code, out, err = run_daxlint("audit", "--repo", str(path), "--format", "json", "--db", str(pool_db), "-j", "2", f"{base}..main")
    assert code in (0, 1), err
    expected = json.loads(out)
    monkeypatch.setattr(cluster, "BATCH_BLOBS", 16)  # several batches on this small history
    marks = tmp_path / "marks"
    marks.mkdir()
    killed: list[int] = []
    submitted, received = Counter(), Counter()
    real_submit = DaskWorkers.submit

    def counting_submit(self, task):
        submitted.update((task[0], p, o) for p, o in task[3])
        return real_submit(self, task)

    monkeypatch.setattr(DaskWorkers, "submit", counting_submit)
    with local_cluster() as lc, distributed.Client(lc) as client:
        client.register_plugin(SlowBatches(str(marks), 0.1))
        worker_pids = set(client.run(os.getpid).values())

        def killer():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                started = sorted(marks.iterdir())
                if started:
                    pid = int(started[0].name.split("-")[1])
                    os.kill(pid, signal.SIGKILL)  # it is asleep inside its first task
                    killed.append(pid)
                    return
                time.sleep(0.005)

        thread = threading.Thread(target=killer)
        thread.start()
        db = tmp_path / "dask.sqlite"
        store = AuditStore(db)
        auditor = Auditor(GitRepo(path), select_rules(), store, AuditOptions(jobs=2, scheduler=lc.scheduler_address))
        real_rows = auditor.blobs.remember_rows

        def counting_rows(task, rows):
            received.update((task[0], p, o) for p, o, _ in rows)
            real_rows(task, rows)

        auditor.blobs.remember_rows = counting_rows
        try:
            result = auditor.run([f"{base}..main"])
        finally:
            store.close()
            thread.join()
        assert killed and killed[0] in worker_pids
        after = set(client.run(os.getpid).values())
        assert killed[0] not in after and len(after) == 2  # the nanny started another process
    runs: dict[str, set[int]] = {}
    for m in marks.iterdir():
        runs.setdefault(m.name.split("-")[2], set()).add(int(m.name.split("-")[1]))
    [first] = [m.name.split("-")[2] for m in marks.iterdir() if int(m.name.split("-")[1]) == killed[0]]  # killed in its first task
    assert len(runs[first]) > 1  # the killed batch ran again on another worker
    assert without_volatile(result.to_dict()) == without_volatile(expected)  # nothing lost
    assert received == submitted and max(received.values()) == 1  # every blob came back exactly once
    assert store_keys(db) == store_keys(pool_db)  # and the store holds the same rows


class KillOn(distributed.WorkerPlugin):
    """On every worker: a task holding the blob ``oid`` kills its worker."""

    def __init__(self, oid: str):
        self.oid = oid

    def setup(self, worker):
        del worker
        original = cluster.analyze_items
        oid = self.oid

        def deadly(analyzer, repo, blobs, task):
            if any(o == oid for _, o in task[3]):
                os.kill(os.getpid(), signal.SIGKILL)
            return original(analyzer, repo, blobs, task)

        cluster.analyze_items = deadly


def test_a_blob_that_kills_every_worker_is_an_error_of_its_commit(small, quiet_dask):
    """Its batch is split; alone, it kills workers again and becomes an
    error of its commit (not stored: the next run tries again); the blobs
    that shared its batch, or a worker with it, are analysed. With
    allowed-failures 0 every task on a dying worker fails at once (the
    default, 3, reschedules them): the client must sort the innocent ones out."""
    path, base = small
    git = GitRepo(path)
    expected = Auditor(git, select_rules(), AuditStore(":memory:"), AuditOptions(jobs=1)).run([f"{base}..main"]).to_dict()

    # A blob without findings that one commit brings in and no other has.
    def out(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True).stdout

    brought = Counter()
    where = {}
    for sha in out("rev-list", f"{base}..main").split():
        for line in out("diff-tree", "--no-commit-id", "-r", sha).splitlines():
            oid, name = line.split()[3], line.split("\t")[1]
            brought[oid] += 1
            where[oid] = (sha, name)
    victim, deadly, oid = next(
        (sha, name, oid)
        for oid, (sha, name) in sorted(where.items())
        if brought[oid] == 1
        and name.endswith(".c")
        and b"vm_flags" not in subprocess.run(["git", "cat-file", "blob", oid], cwd=path, capture_output=True).stdout
    )
    with local_cluster(**{"distributed.scheduler.allowed-failures": 0}) as lc, distributed.Client(lc) as client:
        client.register_plugin(KillOn(oid))
        result = Auditor(git, select_rules(), AuditStore(":memory:"), AuditOptions(jobs=2, scheduler=lc.scheduler_address)).run(
            [f"{base}..main"]
        )
    doc = result.to_dict()
    assert [(c["sha"], e["path"], e["message"]) for c in doc["commits"] for e in c["errors"]] == [
        (victim, deadly, "the Dask worker analysing it died")
    ]
    for c in doc["commits"]:
        c["errors"] = []
    assert without_volatile(doc) == without_volatile(expected)  # every other file's findings are there


class SpinOn(distributed.WorkerPlugin):
    """On every worker: the engine never finishes ``path`` (a loop in Python)."""

    def __init__(self, path: str):
        self.path = path

    def setup(self, worker):
        del worker
        spin_on(self.path)


def spin_on(path: str):
    """DAX301 loops for ever on ``path``; returns a function that undoes it."""
    from daxlint.core.registry import rule_by_id

    cls = rule_by_id("DAX301")
    original = cls.check

    def check(self, ctx):
        if ctx.source.path == path:
            while True:
                pass
        return original(self, ctx)

    cls.check = check

    def undo():
        cls.check = original

    return undo


def test_the_time_limit_holds_on_workers(small, quiet_dask):
    path, base = small
    git = GitRepo(path)
    slow = "drivers/d04/d04.c"  # has a direct vm_flags write from the start
    undo = spin_on(slow)
    try:
        expected = Auditor(git, select_rules(), AuditStore(":memory:"), AuditOptions(jobs=1, timeout=0.5)).run([f"{base}..main"])
    finally:
        undo()
    skipped = [(s.path, s.reason) for c in expected.commits for s in c.skipped_files]
    assert skipped and set(skipped) == {(slow, "took longer than 0.5s, skipped")}
    with local_cluster() as lc, distributed.Client(lc) as client:
        client.register_plugin(SpinOn(slow))
        result = Auditor(
            git, select_rules(), AuditStore(":memory:"), AuditOptions(jobs=2, timeout=0.5, scheduler=lc.scheduler_address)
        ).run([f"{base}..main"])
    assert without_volatile(result.to_dict()) == without_volatile(expected.to_dict())


def test_interrupted_dask_audit_resumes(small, tmp_path, quiet_dask, monkeypatch):
    path, base = small
    monkeypatch.setattr(cluster, "BATCH_BLOBS", 8)

    def interrupted(db, options) -> list[tuple]:
        seen: list[tuple] = []

        def stop_after_ten(kind, done, total, detail=None):
            seen.append((kind, done, total))
            if kind == "commits" and done == 10:
                raise KeyboardInterrupt

        store = AuditStore(db)
        with pytest.raises(KeyboardInterrupt):
            Auditor(GitRepo(path), select_rules(), store, options, progress=stop_after_ten).run([f"{base}..main"])
        store.close()
        return seen

    serial_db, db = tmp_path / "serial.sqlite", tmp_path / "store.sqlite"
    interrupted(serial_db, AuditOptions(jobs=1))
    seen = interrupted(db, AuditOptions(jobs=2, scheduler="local"))
    assert max(total for kind, _, total in seen if kind == "tasks") > 1  # the bar counts Dask tasks
    negatives, results, commits = store_keys(db)
    serial_negatives, serial_results, serial_commits = store_keys(serial_db)
    assert commits == serial_commits == 10
    # Results reach the store as they arrive, not only with their commit:
    # the cluster ran ahead, and what it finished for later commits is kept.
    assert len(negatives) + len(results) > len(serial_negatives) + len(serial_results)
    store = AuditStore(db)
    seen = []
    resumed = Auditor(
        GitRepo(path), select_rules(), store, AuditOptions(jobs=2, scheduler="local"), progress=lambda *a: seen.append(a[:3])
    ).run([f"{base}..main"])
    store.close()
    assert (resumed.stored_commits, resumed.analysed_commits) == (10, 30)
    done, total = next((d, t) for kind, d, t in reversed(seen) if kind == "tasks")
    assert done == total > 1  # every Dask task of the run came back
    fresh, _ = audit_cli(path, "-j", "1", f"{base}..main")
    mine = without_volatile(resumed.to_dict())
    for c in mine["commits"] + fresh["commits"]:
        c.pop("from_store")
    for d in (mine, fresh):
        for k in ("from_store", "analysed"):
            d["summary"].pop(k)
    assert mine == without_volatile(fresh)


def test_missing_dask_is_one_line(small, tmp_path):
    path, base = small
    blocker = tmp_path / "block" / "distributed"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker.parent), *sys.path])}
    code, out, err = run_daxlint("audit", "--repo", str(path), "--no-cache", "--scheduler", "local", f"{base}..main", env=env)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "pip install 'dask[distributed]>=2024.8' (or pip install '.[dask]' in daxlint's checkout)" in err


def test_the_dask_requirement_named_is_the_extras():
    """The error above names what pyproject.toml's dask extra installs."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["dask"] == [cluster.DASK_REQUIREMENT]


def test_worker_repositories_that_cannot_serve(small, tmp_path):
    path, base = small
    code, out, err = run_daxlint(
        "audit",
        "--repo",
        str(path),
        "--no-cache",
        "-j",
        "2",
        "--scheduler",
        "local",
        "--worker-repo",
        str(tmp_path / "nowhere"),
        f"{base}..main",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot open the repository" in err and "--worker-repo" in err and "Traceback" not in err
    stale = tmp_path / "stale.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(path), str(stale)], check=True)
    subprocess.run(["git", "--git-dir", str(stale), "update-ref", "refs/heads/main", f"{base}"], check=True)
    subprocess.run(["git", "--git-dir", str(stale), "reflog", "expire", "--expire=now", "--all"], check=True)
    subprocess.run(["git", "--git-dir", str(stale), "gc", "-q", "--prune=now"], check=True)
    code, out, err = run_daxlint(
        "audit", "--repo", str(path), "--no-cache", "-j", "2", "--scheduler", "local", "--worker-repo", str(stale), f"{base}..main"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is not in" in err and "fetch it there" in err


def test_a_worker_without_daxlint_fails_fast(small, tmp_path, quiet_dask):
    """A worker that cannot import daxlint would never run nor fail a task:
    the probe finds it before any work is sent."""
    path, base = small
    fake = tmp_path / "fake" / "daxlint"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no daxlint here')\n")
    lc = distributed.LocalCluster(n_workers=0, scheduler_port=0, dashboard_address=":0", silence_logs=logging.CRITICAL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), *sys.path])}
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", lc.scheduler_address, "--nthreads", "1", "--no-dashboard"],
        env=env,
        cwd=tmp_path,  # python -m puts the working directory first: not the checkout's daxlint
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with distributed.Client(lc) as client:
            client.wait_for_workers(1, timeout=60)
        started = time.monotonic()
        with pytest.raises(ClusterError) as e:
            Auditor(GitRepo(path), select_rules(), AuditStore(":memory:"), AuditOptions(scheduler=lc.scheduler_address)).run(
                [f"{base}..main"]
            )
        assert time.monotonic() - started < 30
        assert "has none usable (ImportError: no daxlint here)" in str(e.value) and "need daxlint" in str(e.value)
    finally:
        worker.terminate()
        worker.wait(30)
        lc.close()
