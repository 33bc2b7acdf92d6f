"""The git command and git's quoting of file names, without libgit2:
what a check asks of git (``--diff``) costs no import of pygit2, which
takes longer than many checks. Read-only, as everything daxlint does with
git."""

from __future__ import annotations

import codecs
import os
import subprocess

from daxlint.errors import InputError

# One view of history for everything daxlint reads: the objects as they are
# stored, the history a clone gets (replace refs are not fetched by
# default). pygit2 (libgit2) does not follow `git replace` refs; git must
# not either, or rev-list would walk a grafted history whose commits pygit2
# then reads unreplaced - a commit hidden by a graft would never be audited.
GIT_ENV = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_TERMINAL_PROMPT": "0"}


class RepositoryError(InputError):
    """Not a repository, a repository that cannot be opened, a bad range,
    or no git to ask."""


def run_git(
    args: list[str], *, cwd: str | None = None, git_dir: str | None = None, purpose: str = "daxlint"
) -> subprocess.CompletedProcess:
    """``git args`` with output captured as bytes, no prompt and no pager,
    replace refs not followed (``GIT_ENV``); paths are not quoted
    (core.quotepath=false) and diffs get a/ b/ prefixes whatever the
    user's configuration says. ``purpose`` names what needs git, for the
    error when it is not installed."""
    cmd = ["git", "-c", "core.quotepath=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false"]
    if git_dir is not None:
        cmd += ["--git-dir", git_dir]
    try:
        return subprocess.run(
            [*cmd, *args],
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **GIT_ENV},
        )
    except FileNotFoundError:
        raise RepositoryError(f"{purpose} needs git, and git is not installed") from None


def first_line(stderr: bytes) -> str:
    """What git said, in one line."""
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "git failed"


def unquote_path(name: str) -> str:
    """A file name as git writes it: names with quotes, backslashes or
    control characters come as a C string ("a\\"b.c", octal escapes for
    other bytes); anything else as it is."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        raw = codecs.escape_decode(name[1:-1].encode("utf-8", "surrogateescape"))[0]
        return raw.decode("utf-8", "surrogateescape")
    return name
