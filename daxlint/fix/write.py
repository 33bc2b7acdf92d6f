"""Writing a fixed source file back, the one place daxlint changes the
user's files (``daxlint check --fix``):

- only a regular file whose bytes are still those that were checked (an
  editor or another tool may have changed it meanwhile: then it is left
  alone and the run says so), and that may be written (a read-only file,
  mode 0444 or not writable by this user, is refused);
- atomically, as every file daxlint writes (``core/outfiles.py``): an
  exclusive temporary beside the file, fsync'ed, with the file's mode (and
  owner, when daxlint may set it), renamed over it; on any failure the
  temporary goes and the file is as it was;
- a symbolic link is followed only to a file below the paths named on the
  command line (or named itself), and stays a link (its target is
  replaced); a link out of them is refused. A hard-linked file gets a new inode: its other names (a
  ``cp -al`` copy of a tree) keep the old bytes.
"""

from __future__ import annotations

import os
import stat

from daxlint.core.files import read_source_stat
from daxlint.core.outfiles import replace_atomically


def inside(path: str, root: str) -> bool:
    """Whether the real path ``path`` is ``root`` or below it."""
    real_root = os.path.realpath(root)
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


class _Changed(Exception):
    pass


def replace_file(path: str, expected: bytes, new: bytes, named: list[str]) -> str | None:
    """Write ``new`` over ``path`` (see the module doc), which must be below
    one of the paths ``named`` (or be one) once links are resolved. Returns
    why it was not written, or None."""
    real = os.path.realpath(path)
    if not any(inside(real, p) for p in named):
        return f"not written: a symbolic link to {real}, outside the paths named ({', '.join(named)})"
    try:
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            return "not written: not a regular file"
    except OSError as e:
        return f"not written: {e.strerror}"
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(real, os.W_OK):
        # A rename over it would succeed (the directory is writable), but
        # the file says it is not to be changed: ruff and black refuse too.
        return f"not written: the file is read-only (mode {stat.S_IMODE(st.st_mode):04o})"

    def unchanged() -> None:
        # Right before the rename: an editor that saved meanwhile keeps its bytes.
        current, _why, _st = read_source_stat(real, len(expected))
        if current != expected:
            raise _Changed()

    try:
        replace_atomically(real, new, st, before_rename=unchanged)
    except _Changed:
        return "not written: the file changed while daxlint checked it (run again)"
    except OSError as e:
        return f"not written: {e.strerror}"
    return None
