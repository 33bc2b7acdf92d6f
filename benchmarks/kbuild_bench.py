#!/usr/bin/env python3
"""What ``daxlint kbuild`` costs per file under Kbuild, as ratios against
the compile and against sparse, measured in the same run.

    benchmarks/kbuild_bench.py [--headers DIR] [--files 20] [--repeat 5]

A made-up out-of-tree module of ``--files`` C files (each a copy of
tests/fixtures/kbuild/daxmod/daxmod.c, a module of its own) is compiled
against Debian's linux-headers (default: every /usr/src/linux-headers-*-amd64),
then checked with ``make C=2`` while the objects are up to date, so that
make runs only the checker, once per file (-j1):

  compile   make <objects> from clean, no checker: gcc's cost per file
  true      C=2 CHECK=true: make's own cost of running a checker
  cold      C=2 CHECK="python -m daxlint kbuild --no-cache"
  warm      C=2 CHECK="python -m daxlint kbuild", result cache filled by one untimed run
  sparse    C=2 with Kbuild's default CHECK=sparse (apt-get install sparse)

A checker's cost per file is (case - true) / files, in wall time and in
CPU time (of make and everything it ran: steady when other work shares
the machine). Medians of --repeat runs; written with the machine to
benchmarks/results/local/kbuild.json (untracked; --record: the recorded
benchmarks/results/kbuild.json)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from figures import add_output_options, output_path  # noqa: E402

FIXTURE = HERE.parent / "tests" / "fixtures" / "kbuild" / "daxmod"


def make_module(moddir: Path, files: int) -> list[str]:
    """``files`` one-file modules; the object names make builds."""
    source = (FIXTURE / "daxmod.c").read_text()
    names = [f"daxbench{i:02d}" for i in range(files)]
    kbuild = [f"obj-m += {n}.o" for n in names] + ["ccflags-y += -DDAXMOD_LEVEL=2"]
    (moddir / "Kbuild").write_text("\n".join(kbuild) + "\n")
    for n in names:
        (moddir / f"{n}.c").write_text(source)
    return [f"{n}.o" for n in names]


def timed_make(headers: str, moddir: Path, objects: list[str], env: dict, *extra: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of make and everything it ran)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "-s", "-j1", "-C", headers, f"M={moddir}", *extra, *objects],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"make failed: {err[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def bench(headers: str, files: int, repeat: int, want_sparse: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="daxlint-kbuild-bench-") as tmp:
        moddir = Path(tmp) / "mod"
        moddir.mkdir()
        objects = make_module(moddir, files)
        env = dict(os.environ, XDG_CACHE_HOME=str(Path(tmp) / "cache"), LC_ALL="C")
        daxlint = f"{sys.executable} -m daxlint kbuild"
        cases = ["compile", "true", "cold", "warm"] + (["sparse"] if want_sparse else [])
        wall: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, list[float]] = {k: [] for k in cases}

        def record(case: str, measured: tuple[float, float]) -> None:
            wall[case].append(measured[0])
            cpu[case].append(measured[1])

        for _ in range(repeat):
            subprocess.run(["make", "-s", "-C", headers, f"M={moddir}", "clean"], env=env, capture_output=True, check=True)
            record("compile", timed_make(headers, moddir, objects, env))
        timed_make(headers, moddir, objects, env, "C=2", f"CHECK={daxlint}")  # fills the cache for "warm"
        for _ in range(repeat):
            record("true", timed_make(headers, moddir, objects, env, "C=2", "CHECK=true"))
            record("cold", timed_make(headers, moddir, objects, env, "C=2", f"CHECK={daxlint} --no-cache"))
            record("warm", timed_make(headers, moddir, objects, env, "C=2", f"CHECK={daxlint}"))
            if want_sparse:
                record("sparse", timed_make(headers, moddir, objects, env, "C=2"))

    def per_file(samples: dict[str, list[float]]) -> dict[str, float]:
        median = {k: statistics.median(v) for k, v in samples.items()}
        out = {k: round(1000 * (median[k] - median["true"]) / files, 1) for k in median if k not in ("true", "compile")}
        out["compile"] = round(1000 * median["compile"] / files, 1)
        return out

    wall_ms, cpu_ms = per_file(wall), per_file(cpu)
    out = {
        "headers": os.path.basename(headers),
        "files": files,
        "repeat": repeat,
        "median_wall_seconds": {k: round(statistics.median(v), 3) for k, v in wall.items()},
        "median_cpu_seconds": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "per_file_wall_ms": wall_ms,
        "per_file_cpu_ms": cpu_ms,
        "cpu_vs_compile": {k: round(cpu_ms[k] / cpu_ms["compile"], 2) for k in cpu_ms if k != "compile"},
    }
    if want_sparse:
        out["cpu_vs_sparse"] = {k: round(cpu_ms[k] / cpu_ms["sparse"], 2) for k in ("cold", "warm")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--headers", action="append", help="a linux-headers build directory (default: every /usr/src/linux-headers-*-amd64)")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    add_output_options(ap, "kbuild.json")
    args = ap.parse_args()
    headers = args.headers or sorted(glob.glob("/usr/src/linux-headers-*-amd64"))
    if not headers or shutil.which("make") is None:
        raise SystemExit("needs make and Debian's linux-headers (apt-get install make linux-headers-amd64 linux-headers-6.12-amd64)")
    want_sparse = shutil.which("sparse") is not None
    if not want_sparse:
        print("sparse not found (apt-get install sparse): no comparison with it", file=sys.stderr)
    results = []
    for h in headers:
        r = bench(h, args.files, args.repeat, want_sparse)
        results.append(r)
        print(json.dumps(r, indent=2))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "results": results,
    }
    output = output_path(args, "kbuild.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
