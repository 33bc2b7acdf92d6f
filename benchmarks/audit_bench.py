#!/usr/bin/env python3
"""Benchmarks for ``daxlint audit`` on real kernel trees.

    benchmarks/audit_bench.py [--cases synthetic,kernel] [--commits 3000] [--jobs 2]

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

For each case: a cold audit (fresh store; the base tree is analysed first),
then for the synthetic history an extension by 100 commits and a warm re-run
(everything from the store). The yardstick is ``git log -p`` over the same
range. Results are printed and written to benchmarks/results/audit.json.
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


def timed_audit(repo: Path, revisions: list[str], db: Path, jobs: int) -> dict:
    """One in-process audit, with the time spent on whole trees separated
    from the walk over commits."""
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
    result = Auditor(GitRepo(repo), select_rules(), store, AuditOptions(jobs=jobs), progress=progress).run(revisions)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="synthetic,kernel")
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=str(HERE / "results" / "audit.json"))
    args = ap.parse_args()
    results: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
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
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
