"""``daxlint hook NAME``: print a git hook daxlint ships, to be saved where
git looks for hooks."""

from __future__ import annotations

import shlex
import sys
from importlib import resources

import click

HOOKS = ("sendemail-validate",)


@click.command("hook", short_help="Print a git hook daxlint ships (sendemail-validate).")
@click.argument("name", type=click.Choice(HOOKS))
def command(name: str) -> int:
    """Print the git hook NAME, running this daxlint installation:

    \b
      daxlint hook sendemail-validate > "$(git rev-parse --git-path hooks)/sendemail-validate"
      chmod +x "$(git rev-parse --git-path hooks)/sendemail-validate"

    sendemail-validate: git send-email refuses to send a series in which a
    patch adds a DAX policy error (cover letters pass). daxlint prints the
    hook rather than writing it so that an existing hook is never replaced
    and core.hooksPath or a shared hooks directory work alike.
    """
    text = resources.files("daxlint").joinpath("hooks", name).read_text(encoding="utf-8")
    click.echo(text.replace("@DAXLINT@", f"{shlex.quote(sys.executable)} -m daxlint"), nl=False)
    return 0
