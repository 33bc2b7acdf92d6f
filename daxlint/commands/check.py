"""``daxlint check``: files, directories or a whole kernel tree; as a CI
gate with ``--diff`` (changed lines only) and baselines (new findings only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from daxlint.commands._color import color_option, use_color
from daxlint.commands._options import (
    FileArguments,
    check_fix_options,
    dry_run_notes,
    emit,
    engine_options,
    exit_status,
    fix_options,
    load_settings,
    make_engine,
    output_options,
    progress_printer,
    progress_wanted,
    selection_options,
    user_errors,
    version_note,
    write_text,
)
from daxlint.core.files import display_path, wanted
from daxlint.core.outfiles import refuse_input_as_output
from daxlint.core.runner import check_paths
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, UserError
from daxlint.fix.runner import Fixer, fix_root, summary_notes, write_fixed
from daxlint.gate import baseline as baselines
from daxlint.gate import gitdiff
from daxlint.gate.fixscope import FixScope
from daxlint.model import Skipped
from daxlint.output.escape import printable
from daxlint.output.sarif import GITHUB_RESULT_LIMIT
from daxlint.sources.gitcommand import unquote_path


def _read_file_list() -> list[str]:
    """Paths from standard input: one a line, or NUL-separated (``git diff
    -z --name-only``); names git quotes ("drivers/n\\377.c") are unquoted,
    and bytes that are not UTF-8 are kept (surrogate escapes)."""
    data = sys.stdin.buffer.read()
    if b"\0" in data:
        return [os.fsdecode(p) for p in data.split(b"\0") if p]
    out = []
    for line in data.split(b"\n"):  # a line ends where git's --name-only ends it (a CR before it is stripped)
        name = os.fsdecode(line.strip())
        if name:
            out.append(unquote_path(name) if name.startswith('"') and name.endswith('"') and not os.path.lexists(name) else name)
    return out


def _split_listed(listed: list[str], kinds: tuple[str, ...]) -> tuple[list[str], list[Skipped]]:
    """Paths read from standard input, as a directory walk would take them:
    only files the engine reads (.c/.h, Kconfig with the Kconfig rules) and
    directories; a path that does not exist (a file the diff deleted) is a
    note, not an error."""
    present, missing = [], []
    for p in listed:
        if not os.path.lexists(p):
            missing.append(Skipped(display_path(p), "listed on standard input but does not exist (deleted?)", missing=True))
        elif os.path.isdir(p) or wanted(p, kinds):
            present.append(p)
    return present, missing


def _check_gate_options(diff_base, baseline_file, write_baseline_file, update_baseline, fix=False, dry_run=False, fmt="text") -> None:
    if fix and (write_baseline_file or update_baseline):
        raise UserError("--fix cannot be combined with --write-baseline or --update-baseline (fix first, then record)")
    if dry_run and fmt != "text":
        raise UserError("--fix --dry-run prints a diff; it takes no --format")
    if update_baseline and not baseline_file:
        raise UserError("--update-baseline needs --baseline FILE")
    if write_baseline_file and baseline_file:
        raise UserError("--write-baseline records every finding; it cannot be combined with --baseline")
    if write_baseline_file and diff_base:
        raise UserError("--write-baseline records the whole tree; it cannot be combined with --diff")


@click.command("check", cls=FileArguments)
@click.argument("paths", nargs=-1, type=str)
@selection_options
@output_options
@engine_options
@click.option("--terse", is_flag=True, help="checkpatch format: one line per finding.")
@click.option(
    "--diff",
    "diff_base",
    metavar="REV",
    help="Report only findings on lines changed since git revision REV (staged, unstaged and untracked files); 'REV...' means since the merge base of REV and HEAD.",
)
@click.option(
    "--baseline",
    "baseline_file",
    metavar="FILE",
    help="Do not report findings recorded in baseline FILE; report entries that no longer match as fixed.",
)
@click.option(
    "--write-baseline",
    "write_baseline_file",
    metavar="FILE",
    help="Record the current findings in FILE (entries for paths not checked are kept) and exit 0.",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="With --baseline: rewrite FILE without its fixed entries (new findings are not added; use --write-baseline for that).",
)
@fix_options
@click.option("--no-progress", is_flag=True, help="No progress display (it goes to standard error when that is a terminal).")
@color_option
@user_errors
def command(
    paths,
    select,
    ignore,
    kernel_version,
    defines,
    undefines,
    config_path,
    no_suppressions,
    fmt,
    output,
    exit_zero,
    fail_on,
    strict,
    jobs,
    no_cache,
    terse,
    diff_base,
    baseline_file,
    write_baseline_file,
    update_baseline,
    fix,
    dry_run,
    unsafe_fixes,
    fix_style,
    no_progress,
    color,
):
    """Check C files, directories or a kernel tree (default: current directory).

    PATH '-' reads a list of files from standard input, one per line.
    With --fix the reported findings that have a safe fix are fixed in
    place (--dry-run prints the diff instead).
    """
    check_fix_options(fix, dry_run, unsafe_fixes)
    _check_gate_options(diff_base, baseline_file, write_baseline_file, update_baseline, fix, dry_run, fmt)
    plist = list(paths) or ["."]
    listed: list[str] = []
    if "-" in plist:
        plist = [p for p in plist if p != "-"]
        listed = _read_file_list()
        if not plist and not listed:
            raise UserError("no paths on standard input")
    cfg, rules, kernel = load_settings(
        [Path(p) for p in plist + listed], config_path, select, ignore, kernel_version, defines, undefines, fix_style
    )
    engine = make_engine(cfg, rules, kernel, jobs, no_cache, no_suppressions)
    present, missing = _split_listed(listed, engine.file_kinds)
    plist += present
    for option, target in (("--output", output), ("--write-baseline", write_baseline_file)):
        if target is not None:
            refuse_input_as_output(option, target, plist, lambda path: wanted(path, engine.file_kinds))

    if diff_base and not plist:
        raise UserError("--diff: none of the paths listed on standard input exists")
    base = baselines.Baseline.load(baseline_file) if baseline_file else None

    def gated_report(updating: bool):
        """The check and the gate: (report, --diff scope, extra JSON);
        ``updating``: --update-baseline rewrites the baseline."""
        diff = gitdiff.changed_since(diff_base, plist, engine.file_kinds) if diff_base else None
        targets = diff.files_to_check(engine.file_kinds) if diff else plist
        bar, show = progress_printer(progress_wanted(no_progress), use_color(color, sys.stderr), {"files": "files"})
        if bar is None:
            report = check_paths(engine, targets)
        else:
            with bar:
                report = check_paths(engine, targets, lambda done, found: show("files", done, found))
        report.skipped[:0] = missing
        note = version_note(kernel)
        if note:
            report.notes.append(note)
        # With --diff only the changed (and deleted) files were looked at, so
        # only their baseline entries can be judged fixed.
        # A listed file that does not exist was deleted: its entries are fixed.
        gone = [s.path for s in missing]
        scope = baselines.Scope(
            targets + gone + (diff.deleted if diff else []), engine.enabled_ids, {s.path for s in report.skipped if not s.missing}
        )
        if write_baseline_file:
            written, kept = baselines.write_baseline(write_baseline_file, report.findings, scope)
            tail = f" ({kept} kept for paths or rules not checked)" if kept else ""
            click.echo(f"daxlint: wrote {len(written.entries)} entries to baseline {printable(write_baseline_file)}{tail}", err=True)
            return report, diff, None
        extra: dict = {}
        if base is not None:
            result = baselines.apply_baseline(base, report.findings, scope)
            report.findings = result.new
            if updating and result.fixed:
                base.entries = result.kept
                base.save()
            report.notes.extend(baselines.describe(result, base, updated=updating))
            extra["baseline"] = baselines.as_json(result, base, updated=updating)
        if diff:
            shown = [f for f in report.findings if diff.covers(f.path, f.line, f.end_line)]
            hidden = len(report.findings) - len(shown)
            report.findings = shown
            report.suppressed = [f for f in report.suppressed if diff.covers(f.path, f.line, f.end_line)]
            report.notes.append(diff.describe(hidden))
            extra["diff"] = diff.as_json(hidden)
        return report, diff, extra

    report, diff, extra = gated_report(update_baseline)
    if extra is None:  # --write-baseline
        return exit_status(report, fail_on, True, strict)

    if fix:
        fixer = Fixer(engine, FixScope(diff, base, engine.enabled_ids) if (diff or base) else None, unsafe=unsafe_fixes)
        result = fixer.fix_report(report, plist)
        root = fix_root(kernel.root, plist)
        if dry_run:
            # The version note matters most here: it decides plain or guarded fixes.
            notes = report.notes + result.notes + summary_notes(result, result.left(report), dry_run=True)
            write_text(result.diff(root), output)
            dry_run_notes(report, notes, strict)
            return EXIT_FINDINGS if result.changed and not exit_zero else EXIT_CLEAN
        notes = write_fixed(result, plist)
        left = result.left(report)
        if result.changed:
            # What is left, as the same check of the fixed files says it:
            # their lines, and those of every finding that read one of them
            # (a registration in a sibling file, a Kconfig's driver).
            kernel.forget()
            report, _diff, extra = gated_report(False)
            left = report.findings
        report.errors.extend(e for e in result.errors if e not in report.errors)
        report.notes.extend(result.notes + notes + summary_notes(result, left, dry_run=False))
        extra["fix"] = result.as_json(root)

    if fmt == "sarif" and len(report.findings) > GITHUB_RESULT_LIMIT:
        click.echo(
            f"daxlint: warning: {len(report.findings)} findings; the SARIF report keeps the first {GITHUB_RESULT_LIMIT} "
            "(GitHub code scanning's limit per run), errors first",
            err=True,
        )
    emit(report, fmt, output, color, terse=terse, extra=extra or None)
    return exit_status(report, fail_on, exit_zero, strict)
