#!/usr/bin/env python3
"""Benchmarks for ``daxlint audit`` on real kernel trees.

    benchmarks/audit_bench.py [--cases synthetic,kernel,dask] [--commits 3000] [--jobs 2]
                              [--dask-commits 600] [--repeat 1] [--scheduler tcp://host:8786]

Cases:
  kernel     a throw-away bare repository holding Debian's linux-source-6.1
             and then 6.12 as two commits (built on first use under
             ~/.cache/daxlint-bench, never in this checkout); both commits
             need a whole-tree analysis (a root commit, then a version bump).
  synthetic  --commits commits on top of the 6.1 tree, made with git
             fast-import: everyday edits that shift lines in random C files,
             edits of files that carry the rules' trigger tokens, Kconfig
             edits, renames, new and deleted files, and commits that bring
             in or remove a page-less pfn_t (DAX101) - so the audit has
             findings to introduce, fix and move.
  dask       the fork pool (--jobs processes) against a Dask LocalCluster of
             --jobs worker processes on the synthetic history of
             --dask-commits commits: the per-task overhead (empty tasks), a
             cold audit (base tree, then the walk) and the walk alone (base
             tree already in the store), with the CPU the client process and
             the workers spend per commit - from which it estimates how many
             remote worker cores match the local pool (break-even) and where
             the client becomes the limit. --scheduler ADDRESS measures a
             real cluster instead of local scheduler and worker processes
             (its workers must see ~/.cache/daxlint-bench at the same path).
             Needs dask.distributed (pip install '.[dask]' here).

For each case: a cold audit (fresh store; the base tree is analysed first),
then for the synthetic history an extension by 100 commits and a warm re-run
(everything from the store). The yardstick is ``git log -p`` over the same
range. Results are printed and written to benchmarks/results/local/audit.json
(untracked; --record: the recorded benchmarks/results/audit.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from figures import add_output_options, output_path  # noqa: E402
from kernel_tree import kernel_tree  # noqa: E402

BENCH = Path(os.environ.get("DAXLINT_BENCH_DIR", Path.home() / ".cache" / "daxlint-bench"))
KERNEL_REPO = BENCH / "linux-6.1-6.12.git"

# Brought in by "introduce" commits: a fault handler handing a page-less
# pfn_t to vmf_insert_mixed() (DAX101 warning on 6.1).
PAGELESS = """
static vm_fault_t bench_fault_{n}(struct vm_fault *vmf, unsigned long pfn)
{{
\treturn vmf_insert_mixed(vmf->vma, vmf->address, __pfn_to_pfn_t(pfn, PFN_DEV));
}}
"""


def git(repo: Path, *args: str, **kw) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", "--git-dir", str(repo), *args], env=env, check=True, capture_output=True, text=True, **kw).stdout


def build_kernel_repo() -> Path:
    """linux-source-6.1 then 6.12 as two commits; the unpacked trees serve
    as (read-only) work trees for `git add`."""
    if (KERNEL_REPO / "HEAD").exists() and git(KERNEL_REPO, "rev-list", "--count", "HEAD").strip() == "2":
        return KERNEL_REPO
    trees = [kernel_tree("6.1"), kernel_tree("6.12")]
    if None in trees:
        sys.exit("needs linux-source-6.1 and linux-source-6.12 (apt-get install linux-source-6.1 linux-source-6.12)")
    BENCH.mkdir(parents=True, exist_ok=True)
    subprocess.run(["rm", "-rf", str(KERNEL_REPO)], check=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(KERNEL_REPO)], check=True)
    for tree, version in zip(trees, ("6.1", "6.12")):
        print(f"  importing linux-source-{version} ...", flush=True)
        ident = ["-c", "user.name=bench", "-c", "user.email=bench@daxlint.invalid"]
        git(KERNEL_REPO, *ident, f"--work-tree={tree}", "add", "-A", "-f")
        git(KERNEL_REPO, *ident, f"--work-tree={tree}", "commit", "-q", "-m", f"linux-source {version} (Debian)")
    git(KERNEL_REPO, "gc", "-q")
    return KERNEL_REPO


def build_synthetic(commits: int, seed: int) -> tuple[Path, str]:
    """A history of ``commits`` commits on the 6.1 tree (sharing the kernel
    repository's objects). Returns (repository, base commit)."""
    kernel = build_kernel_repo()
    base = git(kernel, "rev-list", "--max-parents=0", "HEAD").strip()
    repo = BENCH / f"synthetic-{commits}-{seed}.git"
    if (repo / "HEAD").exists() and git(repo, "rev-list", "--count", f"{base}..main").strip() == str(commits):
        return repo, base
    import pygit2

    subprocess.run(["rm", "-rf", str(repo)], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(kernel), str(repo)], check=True)
    from daxlint.sources.git import GitRepo

    src = pygit2.Repository(str(kernel))
    tree = src[base].tree
    files = [path for path, _ in GitRepo(kernel).files(tree, lambda name: True)]
    c_files = [f for f in files if f.endswith(".c")]
    kconfigs = [f for f in files if f.rsplit("/", 1)[-1].startswith("Kconfig")]
    tokens = (b"vm_flags", b"PFN_DEV", b"direct_access", b"VM_MIXEDMAP", b"dax")
    rng = random.Random(seed)
    sample = rng.sample(c_files, 4000)
    token_files = [f for f in sample if any(t in src[tree[f].id].data for t in tokens)]
    drivers = [f for f in c_files if f.startswith("drivers/") and "/staging/" not in f]
    content: dict[str, bytes] = {}
    present = set(files)

    def read(path: str) -> bytes:
        if path not in content:
            content[path] = src[tree[path].id].data
        return content[path]

    def shift(path: str) -> None:
        lines = read(path).split(b"\n")
        at = rng.randrange(len(lines))
        while at < len(lines) and lines[at].startswith((b"\t", b" ", b"#")):  # keep statements and macros whole
            at += 1
        lines.insert(at, b"/* bench edit %d */" % rng.randrange(1 << 30))
        content[path] = b"\n".join(lines)

    introduced: list[tuple[str, bytes]] = []
    out = []

    def emit_commit(i: int, message: str, changes: list[tuple[str, bytes | None]]) -> None:
        stamp = 1704110400 + 3600 * i
        out.append(b"commit refs/heads/main\n")
        out.append(b"author Bench Author %d <bench%d@daxlint.invalid> %d +0000\n" % (i % 17, i % 17, stamp))
        out.append(b"committer Bench <bench@daxlint.invalid> %d +0000\n" % stamp)
        msg = message.encode()
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0:
            out.append(b"from %s\n" % base.encode())
        for path, data in changes:
            if data is None:
                out.append(b"D %s\n" % path.encode())
            else:
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    for i in range(commits):
        roll = rng.random()
        changes: list[tuple[str, bytes | None]] = []
        if roll < 0.55:
            kind = "edit"
            for path in rng.sample([f for f in c_files if f in present], rng.randint(1, 3)):
                shift(path)
                changes.append((path, content[path]))
        elif roll < 0.75:
            kind = "edit token file"
            path = rng.choice([f for f in token_files if f in present])
            shift(path)
            changes.append((path, content[path]))
        elif roll < 0.83:
            kind = "introduce"
            path = rng.choice([f for f in drivers if f in present])
            snippet = PAGELESS.format(n=i).encode()
            content[path] = read(path) + snippet
            introduced.append((path, snippet))
            changes.append((path, content[path]))
        elif roll < 0.88 and introduced:
            kind = "fix"
            path, snippet = introduced.pop(rng.randrange(len(introduced)))
            if path in present and snippet in read(path):
                content[path] = read(path).replace(snippet, b"")
                changes.append((path, content[path]))
        elif roll < 0.92:
            kind = "kconfig"
            path = rng.choice(kconfigs)
            content[path] = read(path) + b"\n# bench note %d\n" % i
            changes.append((path, content[path]))
        elif roll < 0.95:
            kind = "rename"
            path = rng.choice([f for f in c_files if f in present])
            new = path[:-2] + f"_r{i}.c"
            data = read(path)
            changes += [(path, None), (new, data)]
            present.discard(path)
            present.add(new)
            content[new] = data
            c_files.append(new)
            introduced = [(new if p == path else p, s) for p, s in introduced]
        elif roll < 0.98:
            kind = "new file"
            d = rng.choice(drivers).rsplit("/", 1)[0]
            new = f"{d}/bench_new_{i}.c"
            content[new] = b"// SPDX-License-Identifier: GPL-2.0\nstatic int bench_%d;\n" % i
            present.add(new)
            c_files.append(new)
            changes.append((new, content[new]))
        else:
            kind = "delete"
            path = rng.choice([f for f in c_files if f in present and f.startswith("drivers/")])
            present.discard(path)
            introduced = [(p, s) for p, s in introduced if p != path]
            changes.append((path, None))
        if not changes:
            kind = "edit"
            path = rng.choice([f for f in c_files if f in present])
            shift(path)
            changes.append((path, content[path]))
        emit_commit(i, f"bench {i}: {kind}", changes)
    subprocess.run(["git", "--git-dir", str(repo), "fast-import", "--quiet", "--force"], input=b"".join(out), check=True)
    git(repo, "gc", "-q")
    return repo, base


def timed_audit(repo: Path, revisions: list[str], db: Path, jobs: int, scheduler: str | None = None) -> dict:
    """One in-process audit, with the time spent on whole trees separated
    from the walk over commits (on a Dask cluster with ``scheduler``)."""
    from daxlint.audit.auditor import AuditOptions, Auditor
    from daxlint.audit.store import AuditStore
    from daxlint.core.registry import select_rules
    from daxlint.sources.git import GitRepo

    marks = {"snapshot_done": None}
    started = time.monotonic()

    def progress(kind, done, total, detail=None):
        if kind == "snapshot" and done == total:
            marks["snapshot_done"] = time.monotonic()

    store = AuditStore(db)
    options = AuditOptions(jobs=jobs, scheduler=scheduler)
    result = Auditor(GitRepo(repo), select_rules(), store, options, progress=progress).run(revisions)
    store.close()
    total = time.monotonic() - started
    s = result.summary()
    walk = total - ((marks["snapshot_done"] - started) if marks["snapshot_done"] else 0.0)
    return {
        "seconds": round(total, 2),
        "base_tree_seconds": round(total - walk, 2),
        "walk_seconds": round(walk, 2),
        "commits": s["commits"],
        "analysed_commits": s["analysed"],
        "from_store": s["from_store"],
        "files_analysed": s["files_analysed"],
        "commits_per_second": round(s["analysed"] / total, 2) if s["analysed"] else None,
        "walk_commits_per_second": round(s["analysed"] / walk, 2) if s["analysed"] and walk > 0 else None,
        "introduced": s["introduced"],
        "fixed": s["fixed"],
        "moved": s["moved"],
    }


def git_log_seconds(repo: Path, rng: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["git", "--git-dir", str(repo), "log", "--first-parent", "-p", "--no-color", rng],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return round(time.monotonic() - started, 2)


def _noop(i: int) -> int:
    return i


def task_overhead(client, n: int = 1000) -> dict:
    """What a Dask task costs with nothing to do: the round trip of one
    task at a time, and the time per task when many are in flight."""
    import statistics

    trips = []
    for i in range(60):
        started = time.perf_counter()
        client.submit(_noop, i, key=f"bench-trip-{i}", pure=False).result()
        trips.append(time.perf_counter() - started)
    started = time.perf_counter()
    futures = [client.submit(_noop, i, key=f"bench-many-{i}", pure=False) for i in range(n)]
    client.gather(futures)
    many = time.perf_counter() - started
    return {"round_trip_ms_median": round(statistics.median(trips[10:]) * 1000, 2), "ms_per_task_in_flight": round(many / n * 1000, 3)}


def _walk_cpu(repo: Path, walk: list[str], db: Path, jobs: int, client, address: str) -> tuple[dict, dict]:
    """A walk on the cluster at ``address``, with the CPU this process (the
    client) and the workers spent per commit."""
    workers_before = sum(client.run(time.process_time).values())
    client_before = time.process_time()
    result = timed_audit(repo, walk, db, jobs, address)
    client_cpu = time.process_time() - client_before
    workers_cpu = sum(client.run(time.process_time).values()) - workers_before
    n = result["analysed_commits"]
    return result, {"client_ms": round(client_cpu / n * 1000, 2), "workers_ms": round(workers_cpu / n * 1000, 2)}


def _external_cluster(tmp: Path, jobs: int):
    """`dask scheduler` and `dask worker` as separate processes, as on a
    real cluster (the scheduler then costs the client nothing)."""
    sched_file = tmp / "scheduler.json"
    common = {"cwd": tmp, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0"]
        + ["--scheduler-file", str(sched_file)],
        **common,
    )
    for _ in range(300):
        if sched_file.exists():
            break
        time.sleep(0.1)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            "--scheduler-file",
            str(sched_file),
            "--nworkers",
            str(jobs),
            "--nthreads",
            "1",
        ],
        **common,
    )
    return json.loads(sched_file.read_text())["address"], [worker, scheduler]


def _median_run(runs: list[dict]) -> dict:
    """The run of median duration (its own figures, not a mix of runs),
    with every run's seconds beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[len(ordered) // 2], "all_seconds": [r["seconds"] for r in runs]}


def dask_case(commits: int, seed: int, jobs: int, tmp: Path, repeat: int = 1, scheduler: str | None = None) -> dict:
    """The pool against a LocalCluster(jobs), and against a scheduler and
    workers in processes of their own (or the cluster at ``scheduler``,
    whose workers must see the history at the same path), on the same
    history; each measurement ``repeat`` times, interleaved, reporting the
    median run (the machine may be shared)."""
    import logging
    import shutil
    import statistics

    try:
        import distributed
    except ImportError:
        sys.exit("the dask case needs dask.distributed: pip install '.[dask]' in daxlint's checkout")
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    repo, base = build_synthetic(commits, seed)
    walk = [f"{base}..main"]
    primed = tmp / "primed.sqlite"
    timed_audit(repo, [f"{base}..main~{commits - 1}"], primed, jobs)  # the base tree and the first commit

    def fresh(name: str) -> Path:
        db = tmp / f"{name}.sqlite"
        for f in tmp.glob(f"{name}.sqlite*"):
            f.unlink()
        return db

    def primed_copy(name: str) -> Path:
        db = fresh(name)
        shutil.copy(primed, db)
        return db

    runs: dict[str, list] = {k: [] for k in ("pool_cold", "pool_walk", "local_cold", "local_walk", "ext_walk", "local_cpu", "ext_cpu")}
    out: dict = {"commits": commits, "jobs": jobs, "repeat": repeat}
    started = time.monotonic()
    cluster = distributed.LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, scheduler_port=0, dashboard_address=":0", silence_logs=logging.CRITICAL
    )
    local = distributed.Client(cluster)
    out["cluster_start_seconds"] = round(time.monotonic() - started, 2)
    address, procs = (scheduler, []) if scheduler else _external_cluster(tmp, jobs)
    try:
        external = distributed.Client(address, timeout=30)
        external.wait_for_workers(1 if scheduler else jobs, timeout=60)
        out["external_workers"] = {"address": address, "worker_cores": sum(external.nthreads().values())}
        out["task_overhead"] = task_overhead(local)
        for _ in range(repeat):
            runs["pool_cold"].append(timed_audit(repo, walk, fresh("pool-cold"), jobs))
            runs["local_cold"].append(timed_audit(repo, walk, fresh("local-cold"), jobs, cluster.scheduler_address))
            runs["pool_walk"].append(timed_audit(repo, walk, primed_copy("pool-walk"), jobs))
            result, cpu = _walk_cpu(repo, walk, primed_copy("local-walk"), jobs, local, cluster.scheduler_address)
            runs["local_walk"].append(result)
            runs["local_cpu"].append(cpu)
            result, cpu = _walk_cpu(repo, walk, primed_copy("ext-walk"), jobs, external, address)
            runs["ext_walk"].append(result)
            runs["ext_cpu"].append(cpu)
        external.close()
    finally:
        local.close()
        cluster.close()
        for p in procs:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()

    def cpu(key: str) -> dict:
        return {k: round(statistics.median(c[k] for c in runs[key]), 2) for k in ("client_ms", "workers_ms")}

    pool_walk = _median_run(runs["pool_walk"])
    out["pool"] = {"cold": _median_run(runs["pool_cold"]), "walk": pool_walk}
    out["local_cluster"] = {
        "cold": _median_run(runs["local_cold"]),
        "walk": _median_run(runs["local_walk"]),
        "walk_cpu_per_commit": cpu("local_cpu"),
    }
    ext_cpu = cpu("ext_cpu")
    out["external_scheduler"] = {"walk": _median_run(runs["ext_walk"]), "walk_cpu_per_commit": ext_cpu}
    # On remote workers a commit costs ``workers_ms`` of a worker core, and
    # ``client_ms`` of the client's (walking, the store, comms; with a
    # LocalCluster also the scheduler), which is the ceiling when the client
    # has a core of its own.
    pool_rate = pool_walk["commits_per_second"]
    worker_rate = 1000 / ext_cpu["workers_ms"]
    out["model"] = {
        "commits_per_second_per_worker_core": round(worker_rate, 1),
        "break_even_worker_cores": round(pool_rate / worker_rate, 2),
        "client_limit_commits_per_second": round(1000 / ext_cpu["client_ms"], 1),
        "ceiling_vs_local_pool": round(1000 / ext_cpu["client_ms"] / pool_rate, 2),
        "client_limit_with_scheduler_in_client": round(1000 / out["local_cluster"]["walk_cpu_per_commit"]["client_ms"], 1),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="synthetic,kernel")
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dask-commits", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=1, help="dask case: runs of each measurement (the median is reported)")
    ap.add_argument("--scheduler", help="dask case: a real cluster's scheduler instead of local scheduler and worker processes")
    add_output_options(ap, "audit.json", flag="--json")
    args = ap.parse_args()
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # The machine may be shared: what else ran shows here.
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "jobs": args.jobs,
        "cases": {},
    }
    with tempfile.TemporaryDirectory(prefix="daxlint-audit-bench-") as tmp:
        if "kernel" in args.cases:
            repo = build_kernel_repo()
            db = Path(tmp) / "kernel.sqlite"
            cold = timed_audit(repo, ["HEAD"], db, args.jobs)
            warm = timed_audit(repo, ["HEAD"], db, args.jobs)
            results["cases"]["kernel"] = {
                "range": "linux-source 6.1, 6.12 (2 commits)",
                "cold": cold,
                "warm": warm,
                "git_log_p_seconds": git_log_seconds(repo, "HEAD"),
            }
            print(f"kernel 6.1 -> 6.12: cold {cold['seconds']}s ({cold['files_analysed']} blobs), warm {warm['seconds']}s", flush=True)
        if "synthetic" in args.cases:
            print(f"building a synthetic history of {args.commits} commits ...", flush=True)
            repo, base = build_synthetic(args.commits, args.seed)
            db = Path(tmp) / "synthetic.sqlite"
            cold = timed_audit(repo, [f"{base}..main~100"], db, args.jobs)
            extend = timed_audit(repo, [f"{base}..main"], db, args.jobs)
            warm = timed_audit(repo, [f"{base}..main"], db, args.jobs)
            base_log = git_log_seconds(repo, f"{base}..main")
            results["cases"]["synthetic"] = {
                "commits": args.commits,
                "cold": cold,
                "extend_by_100": extend,
                "warm": warm,
                "git_log_p_seconds": base_log,
            }
            print(
                f"synthetic {args.commits - 100} commits on 6.1: cold {cold['seconds']}s (base tree {cold['base_tree_seconds']}s, "
                f"walk {cold['walk_commits_per_second']} commits/s); +100 commits {extend['seconds']}s; warm {warm['seconds']}s; "
                f"git log -p {base_log}s",
                flush=True,
            )
        if "dask" in args.cases:
            print(f"pool against LocalCluster({args.jobs}) on {args.dask_commits} synthetic commits ...", flush=True)
            load = [round(x, 2) for x in os.getloadavg()]
            d = dask_case(args.dask_commits, args.seed, args.jobs, Path(tmp), args.repeat, args.scheduler)
            d["load_average_at_start_and_end"] = [load, [round(x, 2) for x in os.getloadavg()]]
            results["cases"]["dask"] = d
            print(
                f"dask: task round trip {d['task_overhead']['round_trip_ms_median']} ms, "
                f"{d['task_overhead']['ms_per_task_in_flight']} ms/task in flight; walk {d['pool']['walk']['commits_per_second']} "
                f"commits/s on the pool, {d['local_cluster']['walk']['commits_per_second']} on a LocalCluster, "
                f"{d['external_scheduler']['walk']['commits_per_second']} with the scheduler and workers outside; cold "
                f"{d['pool']['cold']['seconds']}s against {d['local_cluster']['cold']['seconds']}s; break-even at "
                f"{d['model']['break_even_worker_cores']} remote worker cores, ceiling {d['model']['ceiling_vs_local_pool']}x the local pool",
                flush=True,
            )
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = output_path(args, "audit.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # keep the cases this run did not measure
        try:
            before = json.loads(out.read_text())
            results["cases"] = {**before.get("cases", {}), **results["cases"]}
        except (ValueError, OSError):
            pass
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
