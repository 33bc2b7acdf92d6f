"""The ``daxlint`` command line: a thin layer over the library.

Subcommands live in daxlint/commands/, one module each exposing ``command``;
they are discovered, so adding a command touches no list here. Every error a
user can cause ends as one line on stderr and exit status 2."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from daxlint import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UserError(click.ClickException):
    """Bad input: printed as one line, exit 2."""

    exit_code = EXIT_ERROR


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="daxlint")
def cli() -> None:
    """daxlint - enforce the Linux kernel's DAX policy on C code and patches.

    \b
    DAX1xx  page-less pfn_t (PFN_DEV without PFN_MAP, unguarded pfn_t_to_page)
    DAX2xx  DAX devices without ZONE_DEVICE / struct page backing
    DAX3xx  unsafe vm_flags manipulation
    """


def _register_commands() -> None:
    import daxlint.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"daxlint.commands.{info.name}")
        for name in ("command", "commands"):
            obj = getattr(module, name, None)
            for cmd in obj if isinstance(obj, (list, tuple)) else [obj]:
                if isinstance(cmd, click.Command):
                    cli.add_command(cmd)


_register_commands()


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
        msg = e.format_message()
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
        click.echo(f"daxlint: internal error: {type(e).__name__}: {e} (set DAXLINT_DEBUG=1 for details)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)
