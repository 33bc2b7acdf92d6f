"""Every file daxlint writes because a user asked for it: reports
(``--output``), baselines, the HTML audit report, and the SQLite files of
the result cache and the audit store.

The rules, the same for all of them:

- A regular file (new or existing) is written atomically: the bytes go to
  an exclusive temporary with an unpredictable name in the same directory
  (``tempfile.mkstemp``: ``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600), which
  is fsync'ed and renamed over the target. A new file gets the usual mode
  (0666 minus the umask), an existing one keeps its mode (and, as root,
  its owner). Whatever fails (a full disk, a signal), the temporary is
  removed and the target is untouched.
- Anything that is not a regular file - a character or block device such
  as ``/dev/null``, a FIFO, ``/dev/stdout`` or ``/proc/self/fd/N`` - is
  written through, never replaced.
- A symlink is followed, but only where the kernel lets daxlint open its
  target for writing (``fs.protected_symlinks`` refuses links planted by
  another user in a sticky directory such as /tmp): a link to a regular
  file keeps being a link and its target is replaced atomically, a link to
  a device or FIFO is written through, and a link to nothing is refused
  (daxlint does not create a file somewhere it was not named).
- Databases are never replaced: a new one is created exclusively
  (``O_EXCL|O_NOFOLLOW``), an existing one must be a regular file, and the
  journal files SQLite keeps beside it must not be symlinks or devices.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile

from daxlint.errors import InputError

_OWN_FD = re.compile(r"^/(?:dev/fd|proc/self/fd|proc/thread-self/fd)/(\d+)$")
_STD_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_MAX_LINKS = 40
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


class OutputError(InputError):
    """A file daxlint was asked to write cannot be written (one line, exit 2)."""


def write_file(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` following the module's rules; raises
    OutputError naming the path when it cannot."""
    name = os.fspath(path)
    if isinstance(data, str):
        data = _encode(data)
    try:
        fd_number = _stream_fd(name)
        if fd_number is not None:
            _write_to_fd(fd_number, data)
            return
        try:
            lst = os.lstat(name)
        except FileNotFoundError:
            replace_atomically(name, data, None)
            return
        if stat.S_ISLNK(lst.st_mode):
            target = _follow(name)
            st = os.stat(name)
        else:
            target, st = name, lst
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {shown(name)}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            _write_through(name, data)
            return
        replace_atomically(target, data, st)
    except OSError as e:
        raise OutputError(f"cannot write {shown(name)}: {e.strerror or e}") from None


def refuse_input_as_output(option: str, target: str, inputs: list[str], reads) -> None:
    """``option target`` must not name a file this run reads: a path given
    as input, or - where ``reads(path)`` says the run reads such a file (a
    C source, a header) - one below an input directory or beside an input
    file (its headers and siblings). Writing the report there would replace
    the code it is about, as gcc -o refuses to."""
    try:
        st = os.stat(target)
    except OSError:
        return  # not there (or not reachable): nothing of it can be read
    if not stat.S_ISREG(st.st_mode):
        return  # devices and FIFOs are written through, not replaced
    real = os.path.realpath(target)
    for given in inputs:
        try:
            gst = os.stat(given)
        except OSError:
            continue
        if stat.S_ISDIR(gst.st_mode):
            inside = reads(target) and real.startswith(os.path.realpath(given).rstrip(os.sep) + os.sep)
        else:  # a file's headers and siblings beside it are read with it
            inside = reads(target) and os.path.dirname(real) == os.path.dirname(os.path.realpath(given))
        if os.path.samestat(st, gst) or inside:
            raise OutputError(f"{option} {shown(target)}: is a file this run reads as input; write it elsewhere")


def database_path(path: str | os.PathLike) -> str:
    """The path to open a daxlint database (result cache, audit store) at:
    its directory made, the file created exclusively when it is missing,
    and the file and SQLite's journals beside it checked to be regular
    files. A symlink to a regular file is followed (to its target)."""
    name = os.fspath(path)
    if name == ":memory:":
        return name
    try:
        directory = os.path.dirname(os.path.abspath(name))
        os.makedirs(directory, exist_ok=True)
        try:
            lst = os.lstat(name)
        except FileNotFoundError:
            try:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666))
            except FileExistsError:  # made meanwhile by another daxlint: look at it again
                lst = os.lstat(name)
            else:
                lst = None
        real = name
        if lst is not None and stat.S_ISLNK(lst.st_mode):
            real = _follow(name)
            lst = os.stat(name)
        if lst is not None and not stat.S_ISREG(lst.st_mode):
            raise OutputError(f"{shown(name)} is not a regular file; refusing to use it as a database")
        for suffix in SQLITE_SIDECARS:
            side = real + suffix
            try:
                side_st = os.lstat(side)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(side_st.st_mode):
                raise OutputError(f"{shown(side)} is not a regular file; refusing to use the database beside it")
        return real
    except OSError as e:
        raise OutputError(f"cannot use {shown(name)}: {e.strerror or e}") from None


def remove_database(path: str) -> None:
    """Delete a database daxlint made (a corrupt result cache) with its
    journals; a missing file is no error."""
    for p in (path, *(path + s for s in SQLITE_SIDECARS)):
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                os.unlink(p)
        except FileNotFoundError:
            continue


def shown(path: str) -> str:
    """A path for a one-line message: undecodable bytes as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace") if _has_surrogates(path) else path


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _own_fd(name: str) -> int | None:
    """The file descriptor of this process that ``name`` means
    (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1``), else None."""
    norm = os.path.normpath(os.path.abspath(name)) if name else name
    if norm in _STD_STREAMS:
        return _STD_STREAMS[norm]
    m = _OWN_FD.match(norm) or re.match(rf"^/proc/{os.getpid()}/fd/(\d+)$", norm)
    return int(m.group(1)) if m else None


def _stream_fd(name: str) -> int | None:
    """The descriptor of this process that ``name`` or a symlink chain
    from it leads to (``out -> /dev/stdout``), else None."""
    hop = name
    for _ in range(_MAX_LINKS):
        fd = _own_fd(hop)
        if fd is not None or not os.path.islink(hop):
            return fd
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    return None


def _write_to_fd(fd: int, data: bytes) -> None:
    stream = {1: sys.stdout, 2: sys.stderr}.get(fd)
    if stream is not None:  # None: the descriptor was closed when Python started
        stream.flush()
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _follow(name: str) -> str:
    """The file a symlink leads to, when it may be followed: no hop of the
    chain is a link planted by another user in a sticky world-writable
    directory (the kernel's protected_symlinks rule, applied whatever the
    sysctl says), and the kernel lets us open a regular target for writing
    through the link. Raises OutputError or OSError otherwise."""
    hop = name
    for _ in range(_MAX_LINKS):
        try:
            lst = os.lstat(hop)
        except FileNotFoundError:
            break
        if not stat.S_ISLNK(lst.st_mode):
            break
        parent = os.stat(os.path.dirname(os.path.abspath(hop)))
        sticky_shared = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
        if sticky_shared and lst.st_uid not in (os.geteuid(), parent.st_uid):
            raise OutputError(
                f"cannot write {shown(name)}: {shown(hop)} is a symlink owned by another user in a shared sticky directory; not following it"
            )
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise OutputError(f"cannot write {shown(name)}: a symlink to a missing file; daxlint does not create files through links") from None
    real = os.path.realpath(name)
    if stat.S_ISREG(st.st_mode):
        # Open through the link, without creating or truncating anything,
        # so that the kernel applies its own rules for following it.
        fd = os.open(name, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            seen = os.fstat(fd)
        finally:
            os.close(fd)
        now = os.stat(real)
        if (seen.st_dev, seen.st_ino) != (now.st_dev, now.st_ino):
            raise OutputError(f"cannot write {shown(name)}: the link changed while it was followed")
    return real


def _write_through(name: str, data: bytes) -> None:
    """Devices, FIFOs and the like: open what is there (never create or
    replace it) and write."""
    fd = os.open(name, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a file since we looked: do not write into it
            raise OutputError(f"cannot write {shown(name)}: it changed from a device or FIFO to a file while daxlint looked at it")
        _write_all(fd, data)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_atomically(target: str, data: bytes, st: os.stat_result | None, before_rename=None) -> None:
    """Write ``data`` to an exclusive temporary beside ``target`` and rename
    it over ``target`` (``st``: the file there now, whose mode and owner the
    new one keeps; None for a new file). ``before_rename()``, when given,
    runs once the temporary is complete, right before the rename: what it
    raises stops the rename. Raises OSError; the temporary is gone
    whatever happens."""
    directory = os.path.dirname(os.path.abspath(target))
    base = os.path.basename(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{base[:64]}.", suffix=".daxlint-tmp", dir=directory)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
            if st is None:
                os.fchmod(fd, 0o666 & ~_umask())
            else:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                    try:
                        os.fchown(fd, st.st_uid, st.st_gid)
                    except OSError as e:
                        if e.errno not in (errno.EPERM, errno.EINVAL):
                            raise
        finally:
            os.close(fd)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
