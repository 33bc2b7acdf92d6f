"""Writing a fixed source file back, the one place daxlint changes the
user's files (``daxlint check --fix``):

- only a regular file whose bytes are still those that were checked (an
  editor or another tool may have changed it meanwhile: then it is left
  alone and the run says so);
- atomically: the new bytes go to an exclusive temporary beside the file
  (``mkstemp``: ``O_EXCL``, no symlink followed), are fsync'ed, get the
  file's mode (and owner, when daxlint may set it) and replace it with
  ``rename()``; on any failure the temporary goes and the file is as it was;
- a symbolic link is followed only to a file inside the tree being fixed,
  and stays a link (its target is replaced); a link out of the tree is
  refused. A hard-linked file gets a new inode: its other names (a
  ``cp -al`` copy of a tree) keep the old bytes.
"""

from __future__ import annotations

import os
import stat
import tempfile


def inside(path: str, root: str) -> bool:
    real_root = os.path.realpath(root)
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def replace_file(path: str, expected: bytes, new: bytes, root: str) -> str | None:
    """Write ``new`` over ``path`` (see the module doc). Returns why it was
    not written, or None."""
    real = os.path.realpath(path)
    if not inside(real, root):
        return f"not written: a symbolic link to {real}, outside {root}"
    try:
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            return "not written: not a regular file"
        with open(real, "rb") as fh:
            current = fh.read()
    except OSError as e:
        return f"not written: {e.strerror}"
    if current != expected:
        return "not written: the file changed while daxlint checked it (run again)"
    directory, name = os.path.split(real)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".daxlint-fix", dir=directory)
    except OSError as e:
        return f"not written: cannot create a temporary file in {directory} ({e.strerror})"
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(new)
            fh.flush()
            os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
                except OSError:
                    pass  # not ours to give away: the new file is the writer's
            os.fsync(fh.fileno())
        os.replace(tmp, real)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return f"not written: {e.strerror}"
    return None


def write_new(path: str, data: bytes) -> str | None:
    """Write a file daxlint was asked to create (``patch --fix``'s
    patches): atomically, an existing regular file replaced and its mode
    kept, anything else refused. Returns why it was not written, or None."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        return f"cannot write {path}: {e.strerror}"
    if st is not None and not stat.S_ISREG(st.st_mode):
        return f"cannot write {path}: not a regular file"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".daxlint", dir=directory)
    except OSError as e:
        return f"cannot write {path}: {e.strerror}"
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fh.fileno(), 0o666 & ~umask)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return f"cannot write {path}: {e.strerror}"
    return None
