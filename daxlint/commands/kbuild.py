"""``daxlint kbuild``: the checker Kbuild runs for each C file it compiles
(``make C=1 CHECK="daxlint kbuild"``), the way it runs sparse.

This module is imported on every compiled file: the engine and its
dependencies are imported inside the command, after the command line was
read."""

from __future__ import annotations

import os
import sys

import click

from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, InputError, UserError


class _CompilerCommandLine(click.Command):
    """A command whose arguments are a compiler's, read by
    core/kbuild.parse_command_line(): click must not parse them (it would
    read ``-mharden-sls=all`` as the short options -m -h -a ...)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params = {"args": list(args)}
        return []


@click.command(
    "kbuild",
    cls=_CompilerCommandLine,
    add_help_option=False,
    options_metavar="[OPTIONS] [COMPILER FLAGS] FILE.c",
    short_help="The checker for Kbuild's C=1/C=2 (as sparse).",
)
def command(args: list[str]) -> int:
    """Check one C file the way Kbuild runs sparse, with this build's
    kernel version, configuration and macros:

    \b
      make C=1 CHECK="daxlint kbuild"                 # a kernel tree: files being recompiled
      make C=2 CHECK="daxlint kbuild"                 # every file, recompiled or not
      make -C /lib/modules/$(uname -r)/build M=$PWD C=2 CHECK="daxlint kbuild" modules

    Kbuild calls it as $(CHECK) $(CHECKFLAGS) $(c_flags) file.c. The kernel
    version comes from the generated linux/version.h on the -I path (exact,
    with the sublevel), the configuration from the generated autoconf.h
    (kconfig.h's include; a CONFIG_ option it does not set is off), and the
    macros from -D/-U and -include'd files, so every #if/#ifdef is decided
    as this build decides it. Other compiler and sparse options are
    ignored.

    Findings go to standard error as a compiler's warnings
    (file:line:col: warning: [DAX301] message; info findings as notes) and
    the exit status is 0, as sparse's.

    \b
    daxlint's options (put them in CHECK, or in CF= with sparse's):
      -Wsparse-error, --werror   findings of warning severity and above are
                                 errors and fail the build (exit 1)
      --fail-on error|warning|info   the lowest severity that fails the build
      -Wno-sparse-error          back to warnings only
      --select IDS, --ignore IDS     rules, as daxlint check takes them
      --config FILE              config file (default: .daxlint.toml or
                                 pyproject.toml found upward from the file)
      --no-cache                 neither read nor write the result cache
      --color auto|always|never  colour the diagnostics as gcc does (gcc's
                                 -fdiagnostics-color[=WHEN] is read too;
                                 auto: when standard error is a terminal)
    """
    from daxlint.core.kbuild import parse_command_line

    try:
        cmd = parse_command_line(args, os.getcwd())
    except (InputError, ValueError) as e:
        raise UserError(str(e)) from None
    if cmd.want_help:
        click.echo(click.get_current_context().get_help())
        return EXIT_CLEAN
    if not cmd.sources:
        raise UserError("no C file given (Kbuild runs $(CHECK) $(CHECKFLAGS) $(c_flags) file.c)")
    from daxlint.commands._color import use_color
    from daxlint.output.compiler import render

    color = use_color(cmd.color, sys.stderr)
    failed = False
    for source in cmd.sources:
        report = _check(cmd, source)
        sys.stderr.write(render(report, cmd.fail_on, color))
        if cmd.fail_on is not None:
            failed |= bool(report.skipped or report.errors)
            failed |= any(f.severity.rank >= cmd.fail_on.rank for f in report.findings)
    sys.stderr.flush()
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _check(cmd, source: str):
    """The report on one file of the command line."""
    from pathlib import Path

    from daxlint.core.config import load_config
    from daxlint.core.engine import Engine, EngineOptions
    from daxlint.core.kbuild import build_facts
    from daxlint.core.kernel import KernelContext, find_tree_root
    from daxlint.core.registry import RuleSelectionError, resolve_selection
    from daxlint.core.runner import check_file

    abspath = cmd.absolute(source)
    if not os.path.isfile(abspath):
        raise UserError(f"{source}: no such file")
    try:
        cfg = load_config(Path(abspath), Path(cmd.config_path) if cmd.config_path else None)
        rules = resolve_selection([(cfg.name, cfg.select, cfg.ignore), ("command line", cmd.select, cmd.ignore)])
        facts = build_facts(cmd, dict(os.environ), cfg.macros)
    except (InputError, RuleSelectionError, ValueError) as e:
        raise UserError(str(e)) from None
    root = find_tree_root(Path(abspath))
    if facts.version is not None:
        kernel = KernelContext(root, facts.version, "kbuild", build=facts.setup)
    else:
        kernel = KernelContext.for_paths([Path(abspath)], build=facts.setup)
        where = f"{root}/Makefile" if kernel.version is not None else "no kernel Makefile either"
        facts.notes.append(f"no generated linux/version.h on the include path ({where}); checking v{kernel.effective_version}")
    options = EngineOptions(jobs=1, use_cache=not cmd.no_cache, per_file_ignores=cfg.per_file_ignores)
    if cfg.max_file_size:
        options.max_bytes = cfg.max_file_size
    report = check_file(Engine(rules, kernel, options), source, abspath)
    report.notes[:0] = facts.notes
    return report
