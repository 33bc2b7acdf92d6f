"""Exit statuses and the errors a user can cause. Every layer raises
InputError (or a subclass) for bad input; the command line turns it into
one line on stderr and exit status 2."""

from __future__ import annotations

import click

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class InputError(Exception):
    """Bad input from the user: exits 2 with one line."""


class UserError(click.ClickException):
    """Bad input found by a command: printed as one line, exit 2."""

    exit_code = EXIT_ERROR
