"""Where a benchmark writes its figures.

A plain run writes ``benchmarks/results/local/NAME`` (ignored by git), so
that measuring changes nothing git tracks. ``--record`` writes the tracked
``benchmarks/results/NAME``: the figures the README quotes, replaced only
when someone means to (and commits them with the README). ``--output``
puts them anywhere else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def add_output_options(ap: argparse.ArgumentParser, name: str, flag: str = "--output") -> None:
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        flag, dest="output", metavar="FILE", help=f"write the figures to FILE (default: benchmarks/results/local/{name}, untracked)"
    )
    where.add_argument(
        "--record", action="store_true", help=f"write the recorded figures, benchmarks/results/{name} (tracked: the README quotes them)"
    )


def output_path(args: argparse.Namespace, name: str) -> Path:
    if args.output:
        return Path(args.output)
    return RESULTS / name if args.record else RESULTS / "local" / name
