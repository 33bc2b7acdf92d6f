"""The ``daxlint`` command line: a thin layer over the library.

Subcommands live in daxlint/commands/, one module each; this file adds each
of them to the group. Every error a user can cause ends as one line on
stderr and exit status 2."""

from __future__ import annotations

import os
import sys

import click

from daxlint import __version__
from daxlint.commands import audit, check, corpus, patch, rules
from daxlint.errors import EXIT_ERROR
from daxlint.output.escape import printable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="daxlint")
def cli() -> None:
    """daxlint - enforce the Linux kernel's DAX policy on C code and patches.

    \b
    DAX1xx  page-less pfn_t (PFN_DEV without PFN_MAP, unguarded pfn_t_to_page)
    DAX2xx  DAX devices without ZONE_DEVICE / struct page backing
    DAX3xx  unsafe vm_flags manipulation
    """


for _command in (audit.command, check.command, corpus.command, patch.command, rules.rules_command, rules.explain_command):
    cli.add_command(_command)


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
