"""``daxlint patch``: the DAX-policy check of a patch series before
``git send-email``, run like checkpatch.pl."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from daxlint.commands._color import color_option
from daxlint.commands._options import (
    FileArguments,
    check_fix_options,
    dry_run_notes,
    emit,
    exit_status,
    fix_options,
    load_settings,
    make_engine,
    output_options,
    selection_options,
    user_errors,
    version_note,
    write_text,
)
from daxlint.core.files import wanted, wide_text_as_utf8
from daxlint.core.outfiles import refuse_input_as_output, write_file
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, UserError
from daxlint.fix.runner import Fixer
from daxlint.patch.checker import SeriesChecker
from daxlint.patch.fixseries import fix_series
from daxlint.patch.mail import MAX_INPUT_BYTES, STDIN_NAME, load_source, parse_series, read_git_range
from daxlint.patch.series import checkout_for, make_series
from daxlint.sources.git import open_repository


def _default(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was left at its default."""
    return ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None)


@click.command("patch", cls=FileArguments)
@click.argument("files", nargs=-1, type=str)
@click.option(
    "--tree",
    "tree_dir",
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False),
    help="Kernel checkout the series applies to: each patch is applied in turn to an in-memory copy "
    "so rules see whole files. DIR itself, its index and HEAD are never changed.",
)
@click.option(
    "--no-tree",
    is_flag=True,
    help="Check each patch's hunks alone, even inside a git checkout the series applies to.",
)
@click.option(
    "--git",
    "git_range",
    metavar="RANGE",
    help="Check the commits of RANGE one by one, like checkpatch.pl --git: A..B, REV-N (N commits up to REV) "
    "or a single commit. The repository is --tree DIR or the current directory.",
)
@selection_options
@output_options
@click.option("--terse", is_flag=True, help="checkpatch format: one line per finding (implies -q).")
@click.option("--quiet", "-q", is_flag=True, help="checkpatch format: no notes and verdicts, no total line for a clean patch.")
@click.option(
    "--summary/--no-summary",
    default=True,
    help="checkpatch format: each patch's 'total:' line (b4 counts it as a warning: use --no-summary there).",
)
@click.option("--mailback", is_flag=True, help="checkpatch format: print nothing for a clean patch.")
@click.option(
    "--showfile", is_flag=True, help="checkpatch format: positions in the patched files (drivers/dax/foo.c:6:), not in the input (-:12:)."
)
@fix_options
@click.option(
    "--fix-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="With --fix: write the fixed series to DIR - each input file under its own name, or one "
    "NNNN-subject.patch per commit with --git. Input files are never overwritten.",
)
@click.option("--in-place", is_flag=True, help="With --fix: rewrite the input patch files themselves.")
@color_option
@user_errors
def command(
    files,
    tree_dir,
    no_tree,
    git_range,
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
    terse,
    quiet,
    summary,
    mailback,
    showfile,
    fix,
    dry_run,
    unsafe_fixes,
    fix_style,
    fix_dir,
    in_place,
    color,
):
    """Check a patch series: FILE is an mbox, a git format-patch file or a
    diff; '-' reads standard input.

    Only lines the series adds or changes are reported, each with the patch
    that introduced it; a finding a later patch removes again is marked as
    fixed by that patch. Run inside a git checkout the series applies to
    (where b4 and git send-email run), the checkout is used as --tree would
    be; elsewhere, or with --no-tree, the rules see each patch's hunks and
    their context only. A mail without a diff (a cover letter, a reply) is
    a note and exits 0, so the command can serve as a mail hook.

    checkpatch.pl's output options (-q, --terse, --no-summary, --mailback,
    --showfile) choose --format checkpatch unless --format is given, so
    daxlint can stand where b4 and scripts run checkpatch:
    daxlint patch -q --terse --no-summary --mailback --showfile -

    With --fix the series is written again with its findings fixed
    (--fix-dir DIR, --in-place, or --dry-run to print it): each patch keeps
    its headers and message, only the hunks of fixed files change.
    """
    check_fix_options(fix, dry_run, unsafe_fixes)
    _check_fix_target(fix, dry_run, fix_dir, in_place, git_range, files)
    style = {"quiet": quiet, "summary": summary, "mailback": mailback, "showfile": showfile}
    if (terse or quiet or not summary or mailback or showfile) and _default(click.get_current_context(), "fmt"):
        fmt = "checkpatch"
    if git_range and files:
        raise UserError("give patch files or --git RANGE, not both")
    if not git_range and not files:
        raise UserError("no patches given: name FILE... ('-' for standard input) or --git RANGE")
    if list(files).count("-") > 1:
        raise UserError("'-' (standard input) given more than once")
    if no_tree and (tree_dir or git_range):
        raise UserError("--no-tree cannot be combined with --tree or --git")
    repo = None
    tree_info = None
    if git_range:
        where = Path(tree_dir) if tree_dir else Path.cwd()
        repo = open_repository(str(where))
        if repo is None or repo.workdir is None:
            raise UserError(f"--git: {where} is not in a git work tree")
        sources = read_git_range(repo.workdir, git_range)
        patches, notes = parse_series(sources, lines_per_mail=True)
        mode = "git"
    else:
        if output is not None:
            refuse_input_as_output("--output", output, [f for f in files if f != "-"], lambda path: False)
        sources = [(STDIN_NAME, sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)) if f == "-" else load_source(f) for f in files]
        patches, notes = parse_series(sources)
        if tree_dir:
            tree_info = {"path": str(Path(tree_dir).resolve()), "from": "--tree"}
        elif not no_tree:
            match = checkout_for(patches, str(Path.cwd()))
            if match.applies:
                tree_dir = match.root
                tree_info = {"path": match.root, "from": "checkout"}
                notes.append(f"checked against the git checkout {match.root}: {match.why} (--no-tree checks the hunks alone)")
            elif match.root is not None:
                notes.append(f"not checked against the git checkout {match.root}: {match.why}")
        mode = "tree" if tree_dir else "hunks"
        where = Path(tree_dir) if tree_dir else Path.cwd()
    cfg, rules, kernel = load_settings([where], config_path, select, ignore, kernel_version, defines, undefines, fix_style)
    engine = make_engine(cfg, rules, kernel, jobs=1, no_cache=True, no_suppressions=no_suppressions)
    options = engine.options
    if output is not None and (tree_dir or repo is not None):
        # The tree the series is checked against is read too: a report
        # written over one of its sources would replace it.
        root = tree_dir or repo.workdir
        refuse_input_as_output("--output", output, [root], lambda path: wanted(path, engine.file_kinds))
    checker = SeriesChecker(rules, kernel, options, version_from_tree=kernel.version_source in ("Makefile", "default"), keep_states=fix)
    result = checker.check(patches, make_series(tree_dir, repo))
    report = result.report
    if not patches:  # a cover letter or a reply on its own (a mail hook): nothing to check
        report.kernel_version = kernel.version_label
    elif mode == "hunks":
        notes.append("no tree: rules saw each patch's hunks and their context, not whole files")
        if kernel.version_source == "Makefile":
            notes.append(f"kernel v{kernel.version} from {kernel.root}/Makefile, the tree around the current directory")
    if kernel.version is None and mode != "git" and patches:
        notes.append(f"no kernel Makefile found; assuming v{report.kernel_version} (use --kernel-version or --tree)")
    elif kernel.version_source.endswith("dkms.conf"):
        notes.append(version_note(kernel))
    report.notes[:0] = notes
    if fix:
        source_bytes = dict(sources)
        skipped = {s.path for s in report.skipped}
        fixed = fix_series(patches, result.outcomes, source_bytes, report.findings, _fix_file(unsafe_fixes), skipped)
        left = [f for f in report.findings if (f.patch, f.path, f.fingerprint) not in fixed.fixed]
        n, k = len(report.findings) - len(left), len(fixed.changed_patches)
        report.findings = left
        summary = f"{'would fix' if dry_run else 'fixed'} {n} finding{'s' if n != 1 else ''} in {k} patch{'es' if k != 1 else ''}"
        if dry_run:
            series = (fixed.sources.get(name, data) for name, data in sources)
            # A UTF-16 series prints as the UTF-8 text git am reads.
            write_text("".join((wide_text_as_utf8(d) or d).decode("utf-8", "surrogateescape") for d in series), output)
            dry_run_notes(report, [*fixed.notes, summary], strict)
            return EXIT_FINDINGS if fixed.sources and not exit_zero else EXIT_CLEAN
        report.notes.extend(fixed.notes)
        report.notes.append(_write_series(fixed, sources, patches, fix_dir, in_place, bool(git_range)))
        report.notes.append(summary)
    patch_info = [o.as_dict() for o in result.outcomes]
    extra = {"mode": mode, "tree": tree_info, "patches": patch_info, "lines_checked": result.lines_checked}
    emit(report, fmt, output, color, terse=terse, extra=extra, patches=patch_info, lines_checked=result.lines_checked, patch_style=style)
    return exit_status(report, fail_on, exit_zero, strict)


def _check_fix_target(fix: bool, dry_run: bool, fix_dir: str | None, in_place: bool, git_range, files) -> None:
    if (fix_dir or in_place) and not fix:
        raise UserError("--fix-dir and --in-place need --fix")
    if not fix or dry_run:
        return
    if not fix_dir and not in_place:
        raise UserError("--fix needs --fix-dir DIR (a new copy of the series), --in-place or --dry-run")
    if fix_dir and in_place:
        raise UserError("give --fix-dir DIR or --in-place, not both")
    if in_place and (git_range or "-" in files):
        raise UserError("--in-place rewrites patch files; with --git or standard input use --fix-dir DIR")


def _fix_file(unsafe: bool):
    """How fix_series fixes one file: daxlint.fix, as check --fix does."""

    def fix_file(engine, display, abspath, data, findings, scope):
        return Fixer(engine, scope, unsafe=unsafe).fix_file(display, abspath, data, findings)

    return fix_file


def _slug(subject: str) -> str:
    """git format-patch's file name for a subject."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", subject).strip("-.")[:52].rstrip("-.") or "patch"


def _write_series(fixed, sources, patches, fix_dir: str | None, in_place: bool, from_git: bool) -> str:
    """Write the series (every input file, fixed or not) where the user
    asked; the note that says where."""
    if in_place:
        targets = [(name, name) for name, _ in sources if name in fixed.sources]
    else:
        os.makedirs(fix_dir, exist_ok=True)
        targets = []
        for i, (name, _) in enumerate(sources):
            if from_git:
                subject = next((p.subject for p in patches if p.source.startswith(name)), "patch")
                out_name = f"{i + 1:04d}-{_slug(subject)}.patch"
            else:
                out_name = "stdin.patch" if name == STDIN_NAME else os.path.basename(name)
            target = os.path.join(fix_dir, out_name)
            if name != STDIN_NAME and not from_git and os.path.exists(target) and os.path.samefile(target, name):
                raise UserError(f"--fix-dir {fix_dir}: {target} is the input file itself (use --in-place to rewrite it)")
            targets.append((name, target))
    data = dict(sources)
    for name, target in targets:
        write_file(target, fixed.sources.get(name, data[name]))
    where = "in place" if in_place else f"to {fix_dir}"
    return f"wrote {len(targets)} patch file{'s' if len(targets) != 1 else ''} {where}"
