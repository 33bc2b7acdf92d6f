"""``daxlint check``: files, directories or a whole kernel tree."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from daxlint.commands._common import (
    emit, engine_options, exit_status, load_settings, make_engine, output_options, selection_options, user_errors,
)
from daxlint.cli import UserError


def _read_file_list() -> list[str]:
    return [line.strip() for line in sys.stdin if line.strip()]


@click.command("check")
@click.argument("paths", nargs=-1, type=str)
@selection_options
@output_options
@engine_options
@click.option("--terse", is_flag=True, help="checkpatch format: one line per finding.")
@user_errors
def command(paths, select, ignore, kernel_version, config_path, fmt, output, exit_zero, fail_on, jobs, no_cache, terse):
    """Check C files, directories or a kernel tree (default: current directory).

    PATH '-' reads a list of files from standard input, one per line.
    """
    plist = list(paths) or ["."]
    if "-" in plist:
        plist = [p for p in plist if p != "-"] + _read_file_list()
        if not plist:
            raise UserError("no paths on standard input")
    cfg, rules, kernel = load_settings([Path(p) for p in plist], config_path, select, ignore, kernel_version)
    engine = make_engine(cfg, rules, kernel, jobs, no_cache)
    report = engine.check_paths(plist)
    if kernel.version is None:
        report.notes.append(f"no kernel Makefile found above the checked paths; assuming v{kernel.effective_version} (use --kernel-version)")
    emit(report, fmt, output, terse=terse)
    return exit_status(report, fail_on, exit_zero)
