"""The ``daxlint`` command line: a thin layer over the library.

Subcommands live in daxlint/commands/, one module each; this file names
them. A command's module is imported only when that command runs (or for
``--help``): ``daxlint kbuild`` runs once per compiled file and must not
pay for git, the audit store or the renderers it never uses. Every error a
user can cause ends as one line on stderr and exit status 2."""

from __future__ import annotations

import importlib
import os
import sys

import click

from daxlint import __version__
from daxlint.errors import EXIT_ERROR
from daxlint.output.escape import printable


def _module(name: str):
    return importlib.import_module(f"daxlint.commands.{name}")


# name -> the command object, loaded on first use
_COMMANDS = {
    "audit": lambda: _module("audit").command,
    "check": lambda: _module("check").command,
    "corpus": lambda: _module("corpus").command,
    "explain": lambda: _module("rules").explain_command,
    "hook": lambda: _module("hook").command,
    "kbuild": lambda: _module("kbuild").command,
    "patch": lambda: _module("patch").command,
    "rules": lambda: _module("rules").rules_command,
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = _COMMANDS.get(cmd_name)
        return load() if load is not None else None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="daxlint")
def cli() -> None:
    """daxlint - enforce the Linux kernel's DAX policy on C code and patches.

    \b
    DAX1xx  page-less pfn_t (PFN_DEV without PFN_MAP, unguarded pfn_t_to_page)
    DAX2xx  DAX devices without ZONE_DEVICE / struct page backing
    DAX3xx  unsafe vm_flags manipulation
    """


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="daxlint", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("daxlint: aborted", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as e:
        # Usage errors: one line, not click's three-line usage block.
        # Paths, subjects and mail text reach error messages: never raw
        # control characters on the terminal.
        msg = printable(e.format_message())
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None and ctx.command_path != "daxlint" else "daxlint: "
        click.echo(f"{where}error: {msg}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("daxlint: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_ERROR)
    except Exception as e:  # never a traceback for users; DAXLINT_DEBUG=1 shows it
        if os.environ.get("DAXLINT_DEBUG"):
            raise
        click.echo(f"daxlint: internal error: {type(e).__name__}: {printable(str(e))} (set DAXLINT_DEBUG=1 for details)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)
