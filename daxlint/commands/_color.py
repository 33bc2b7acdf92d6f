"""Whether daxlint colours what it prints: ``--color`` on every command
that prints for people, NO_COLOR and FORCE_COLOR, as ruff and git decide
it. Light on imports: ``daxlint kbuild`` reads it on every compiled file."""

from __future__ import annotations

import os

import click

COLOR_CHOICES = ("auto", "always", "never")


def color_option(f):
    """--color, as ruff and git take it."""
    return click.option(
        "--color",
        "color",
        type=click.Choice(COLOR_CHOICES),
        default="auto",
        show_default=True,
        help="Colour: auto (on a terminal, unless NO_COLOR is set; FORCE_COLOR colours a pipe too), always, never.",
    )(f)


def use_color(color: str, stream) -> bool:
    """Whether what goes to ``stream`` is coloured (None: a file -o names,
    or a closed descriptor). ``always`` and ``never`` decide; ``auto``
    colours a terminal, unless NO_COLOR is set (not empty), and a pipe
    too when FORCE_COLOR is (not empty) - NO_COLOR wins - but never a file."""
    if color != "auto":
        return color == "always"
    if stream is None or os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def rich_console(file, color: bool, live: bool = False, **kw):
    """A rich console on ``file`` that writes ANSI colours and styles only
    when ``color`` (use_color() decided: rich's own reading of NO_COLOR,
    FORCE_COLOR and TERM is set aside). ``live``: a display that redraws
    itself on a terminal (a progress bar), which still moves the cursor
    without colour."""
    from rich.console import Console

    if color:
        tty = file is not None and file.isatty()
        return Console(file=file, force_terminal=True, no_color=False, color_system="auto" if tty else "standard", **kw)
    return Console(file=file, force_terminal=live, no_color=True, highlight=False, **kw)
