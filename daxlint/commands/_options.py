"""Options and plumbing shared by the subcommands, so that every command
agrees on formats, exit codes, rule selection and the kernel version."""

from __future__ import annotations

import functools
import io
import os
import sys
from pathlib import Path

import click

from daxlint.analysis.vmfix import FIX_STYLES, GUARD
from daxlint.commands._color import rich_console, use_color
from daxlint.core.build import BuildSetup, parse_define, parse_undefine
from daxlint.core.config import Config, load_config
from daxlint.core.dkms import dkms_range, find_dkms_conf
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext, find_tree_root
from daxlint.core.outfiles import write_file
from daxlint.core.registry import RuleSelectionError, resolve_selection
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, InputError, UserError
from daxlint.model import Report, Severity
from daxlint.output import FORMATS, render
from daxlint.output.escape import printable, utf8_safe
from daxlint.output.text import unanalysed_lines
from daxlint.version import VersionRange


def _split(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def selection_options(f):
    f = click.option(
        "--select", multiple=True, metavar="IDS", help="Only these rules (ids, prefixes like DAX3, or names); comma separated or repeated."
    )(f)
    f = click.option("--ignore", multiple=True, metavar="IDS", help="Skip these rules (ids or prefixes).")(f)
    f = click.option(
        "--kernel-version",
        metavar="X.Y|A.B..C.D",
        help="Kernel version, or range of versions, the code is checked for (default: the tree's top Makefile, "
        "else an out-of-tree module's dkms.conf).",
    )(f)
    f = click.option(
        "--define",
        "-D",
        "defines",
        multiple=True,
        metavar="NAME[=VALUE]",
        help="A macro the build defines, as the compiler's -D (e.g. a conftest's HAVE_VM_FLAGS_SET).",
    )(f)
    f = click.option("--undefine", "-U", "undefines", multiple=True, metavar="NAME", help="A macro the build leaves undefined.")(f)
    f = click.option(
        "--no-suppressions",
        is_flag=True,
        help="Report what 'daxlint: ignore' comments silence as findings (ruff's --ignore-noqa): for gates that must see them.",
    )(f)
    f = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (default: .daxlint.toml or pyproject.toml found upward).",
    )(f)
    return f


def output_options(f):
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Report format.")(f)
    f = click.option(
        "--output", "-o", "output", type=click.Path(dir_okay=False, writable=True), help="Write the report to FILE instead of stdout."
    )(f)
    f = strict_option(f)
    f = click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")(f)
    f = click.option(
        "--fail-on",
        type=click.Choice(["error", "warning", "info"]),
        default="warning",
        show_default=True,
        help="Lowest severity that makes the exit status 1. Info findings (checkpatch's CHECK) never fail a run unless "
        "--fail-on info asks for it.",
    )(f)
    return f


def strict_option(f):
    return click.option(
        "--strict",
        is_flag=True,
        help="Exit 2 when any file could not be analysed (binary, too large, timed out, too deeply nested, unreadable, "
        "an internal error), even with --exit-zero: a skipped file is never a way past the gate.",
    )(f)


def engine_options(f):
    f = click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes (default 0: every core).")(f)
    f = click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")(f)
    return f


def user_errors(fn):
    """Turn library input errors into one-line usage errors (exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnicodeError:  # a bug, not bad input: reported as an internal error
            raise
        except (InputError, RuleSelectionError, ValueError) as e:
            raise UserError(str(e)) from None

    return wrapper


def fix_options(f):
    """--fix and its companions (check and patch)."""
    f = click.option("--fix", "fix", is_flag=True, help="Apply the safe fixes of the reported findings (see 'daxlint explain RULE').")(f)
    f = click.option(
        "--dry-run",
        is_flag=True,
        help="With --fix: print the fixes as a unified diff (for git apply) instead of applying them; exit 1 when there is something to fix.",
    )(f)
    f = click.option("--unsafe-fixes", is_flag=True, help="With --fix: apply unsafe fixes too (they change what the code does).")(f)
    f = click.option(
        "--fix-style",
        type=click.Choice(FIX_STYLES),
        default=GUARD,
        show_default=True,
        help="How a fix keeps building on the kernels of the checked range that lack the API it uses: "
        "a version test around the new code (guard) or compat shims once per file (shim); bits: where the whole "
        "range has the VMA flags bitmap (v7.0+), vma_start_write() and vma_set_flags()/vma_clear_flags() with bit numbers.",
    )(f)
    return f


def check_fix_options(fix: bool, dry_run: bool, unsafe_fixes: bool) -> None:
    if dry_run and not fix:
        raise UserError("--dry-run needs --fix")
    if unsafe_fixes and not fix:
        raise UserError("--unsafe-fixes needs --fix")


def load_settings(
    paths: list[Path], config_path: Path | None, select, ignore, kernel_version, defines=(), undefines=(), fix_style: str = GUARD
) -> tuple[Config, list, KernelContext]:
    """The config, the rules and the kernel context a command runs with.
    The version (or range) comes from --kernel-version, the config, the
    tree's top Makefile or, for an out-of-tree module, its dkms.conf."""
    paths = paths or [Path.cwd()]
    start = paths[0]
    cfg = load_config(start, config_path)
    rules = resolve_selection([(cfg.name, cfg.select, cfg.ignore), ("command line", _split(select), _split(ignore))])
    macros = dict(cfg.macros)
    macros.update(parse_define(d) for d in defines)
    macros.update(parse_undefine(u) for u in undefines)
    build = BuildSetup(macros)
    kv = kernel_version or cfg.kernel_version
    override, source = (VersionRange.parse(kv), "flag") if kv else (None, "flag")
    if override is None and not any(find_tree_root(p) for p in paths):
        conf = find_dkms_conf(start)
        override = dkms_range(conf) if conf is not None else None
        source = f"{conf}" if override is not None else source
    kernel = KernelContext.for_paths(paths, override, source, build, fix_style=fix_style)
    return cfg, rules, kernel


def version_note(kernel: KernelContext) -> str | None:
    """The note every mode prints when the version was not given and the
    tree has no top Makefile (or the range came from dkms.conf)."""
    if kernel.version_source.endswith("dkms.conf"):
        return f"checking v{kernel.version_label}, the kernels BUILD_EXCLUSIVE_KERNEL admits in {kernel.version_source}"
    if kernel.version is None:
        return f"no kernel Makefile found above the checked paths; assuming v{kernel.effective_version} (use --kernel-version)"
    return None


def make_engine(cfg: Config, rules, kernel: KernelContext, jobs: int = 0, no_cache: bool = False, no_suppressions: bool = False) -> Engine:
    opts = EngineOptions(
        jobs=jobs,
        use_cache=not no_cache,
        context_signatures=not no_cache,
        suppressions=not no_suppressions,
        per_file_ignores=cfg.per_file_ignores,
        per_file_ignores_root=os.path.dirname(os.path.abspath(cfg.source)) if cfg.source else None,
    )
    if cfg.max_file_size:
        opts.max_bytes = cfg.max_file_size
    return Engine(rules, kernel, opts)


def exit_status(report: Report, fail_on: str, exit_zero: bool, strict: bool = False) -> int:
    """0, 1 by the findings at or above ``fail_on`` (0 with ``exit_zero``);
    with ``strict`` a file that could not be analysed raises a UserError
    (exit 2) after the report was written."""
    if strict:
        check_strict_report(report)
    if exit_zero:
        return EXIT_CLEAN
    floor = Severity.parse(fail_on).rank
    return EXIT_FINDINGS if any(f.severity.rank >= floor for f in report.findings) else EXIT_CLEAN


def check_strict_report(report: Report) -> None:
    """``--strict``: a UserError (exit 2) when a file of ``report`` could
    not be analysed."""
    holes = [(s.path, s.reason) for s in report.skipped if not s.missing]
    holes += [(e.path, f"internal error in {e.rule_id or 'daxlint'}: {e.message}") for e in report.errors]
    check_strict(holes)


def dry_run_notes(report: Report, notes: list[str], strict: bool) -> None:
    """What ``--fix --dry-run`` says on stderr beside its diff: the files
    that could not be analysed (their fixes are not in it) and ``notes``;
    with ``strict`` such a file then fails the run (exit 2)."""
    for line in unanalysed_lines(report) + [printable(n) for n in notes]:
        click.echo(f"daxlint: {line}", err=True)
    if strict:
        check_strict_report(report)


def check_strict(skipped: list[tuple[str, str]], what: tuple[str, str] = ("file", "files")) -> None:
    """``--strict``: one line naming what could not be analysed, exit 2."""
    if not skipped:
        return
    n = len(skipped)
    path, reason = skipped[0]
    first = f"{printable(path)}: {printable(reason)}"
    noun = what[0] if n == 1 else what[1]
    raise UserError(f"{n} {noun} could not be analysed (--strict): {first}" + (f" (and {n - 1} more)" if n > 1 else ""))


def rich_terminal(fmt: str, output: str | None, color: str) -> bool:
    """Whether text is drawn by rich on standard output: coloured text
    (see use_color()). Python sets sys.stdout to None when descriptor 1 was
    closed: then it is not."""
    return fmt == "text" and output is None and sys.stdout is not None and use_color(color, sys.stdout)


def emit(report: Report, fmt: str, output: str | None, color: str = "auto", **render_kw) -> None:
    """Write the report where the user asked; rich draws coloured text (on
    a terminal, or wherever --color always sends it)."""
    if fmt == "text" and use_color(color, sys.stdout if output is None else None):
        from daxlint.output.rich_text import print_report

        if output is None and sys.stdout is not None and sys.stdout.isatty():
            print_report(report, rich_console(sys.stdout, True))
            return
        buf = io.StringIO()
        print_report(report, rich_console(buf, True))
        write_text(buf.getvalue(), output, colored=True)
        return
    write_text(render(report, fmt, **render_kw), output)


def progress_printer(enabled: bool, color: bool, labels: dict[str, str]):
    """(a rich progress display on standard error, update(kind, done,
    total, detail=None)) - (None, None) when not ``enabled`` (standard error
    is not a terminal, or the user said no). ``labels`` name the kinds of
    work; ``detail`` of a "snapshot" names its tree. It redraws when told
    (no thread of its own: the runs it shows fork worker processes)."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=rich_console(sys.stderr, color, live=True),
        transient=True,
        auto_refresh=False,
    )
    tasks: dict[str, int] = {}

    def update(kind: str, done: int, total: int, detail=None):
        if kind not in tasks:
            tasks[kind] = progress.add_task(labels.get(kind, kind), total=total)
        if kind == "snapshot" and detail:
            progress.update(tasks[kind], description=f"tree of {str(detail)[:12]}")
        progress.update(tasks[kind], completed=done, total=total)
        progress.refresh()

    return progress, update


def progress_wanted(no_progress: bool) -> bool:
    """A progress display goes to standard error when it is a terminal."""
    return not no_progress and sys.stderr is not None and sys.stderr.isatty()


def write_text(text: str, output: str | None, colored: bool = False) -> None:
    """Print ``text``, or write it to the file ``output`` (atomically for a
    regular file, through a device or FIFO: see core/outfiles.py). The
    renderers escape what they print; an undecodable byte that reaches
    here anyway is shown as \\xNN rather than failing the run.
    ``colored``: the text holds the colours --color asked for, which
    click would otherwise strip from a pipe."""
    text = utf8_safe(text)
    if output is None:
        if sys.stdout is None:  # descriptor 1 was closed when Python started; click.echo would drop the text
            raise UserError("cannot write standard output: it is closed (use -o FILE)")
        try:
            click.echo(text, nl=False, color=True if colored else None)
        except BrokenPipeError:
            raise  # the reader went away (| head): cli.main ends quietly
        except OSError as e:  # a full disk, an I/O error
            raise UserError(f"cannot write standard output: {e.strerror or e}") from None
        return
    write_file(output, text)


class FileArguments(click.Command):
    """A command whose arguments are file names. ``--`` ends its options,
    as for every Unix tool; an argument before it that reads as an option
    but names an existing file is refused, as git refuses an ambiguous
    argument: a hook that appends staged file names without ``--`` must
    never have a file named ``--config=cfg.c`` configure the run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name for p in self.params if isinstance(p, click.Option) and not p.is_flag and not p.count for name in p.opts + p.secondary_opts
        }
        expect_value = False
        for arg in args:
            if arg == "--" and not expect_value:
                break
            if expect_value:
                expect_value = False
                continue
            if arg.startswith("-") and arg != "-":
                if os.path.lexists(arg):
                    raise click.UsageError(
                        f"{arg!r} is both an option and a file name: put file names after '--' (daxlint {self.name} [OPTIONS] -- FILE...)",
                        ctx=ctx,
                    )
                expect_value = arg in takes_value
        return super().parse_args(ctx, args)
