"""Reading a kernel tree on disk, for rules that look beyond the file they
check (a directory's Kconfig, sibling sources)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import OrderedDict

# What daxlint reads of a file another file points it to (an #include, a
# Kconfig source, a Makefile, a config file): the limit up to which files
# over the analysis limit are still scanned for tokens.
MAX_READ_BYTES = 64 * 1024 * 1024

# The bytes one reader keeps of the files it read last: a module's files are
# read again for each file of the module checked (its helpers, its flag
# changes), and reading them again cost a whole-tree check more than its
# analysis did. Since a module's facts are kept per module and content, a
# disk reader needs less: 16 MiB measured as fast as 64 on a whole 6.1 tree
# (-j 2, three rounds in turn) with a peak of 128-145 MiB against 170-183.
# Git blobs cost more to read again (audit.blobs keeps 64 MiB of them).
RECENT_READS_BYTES = 16 * 1024 * 1024
RECENT_BLOBS_BYTES = 64 * 1024 * 1024


def read_regular(path: str, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file ``path``. Anything else - a device
    (``/dev/zero``), a FIFO, a directory - is never read, and neither is a
    file over ``limit`` bytes: an OSError says which (its strerror reads
    "not a regular file" or "larger than N bytes"). Opened without blocking,
    so that a FIFO does not wait for a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        too_large = OSError(errno.EFBIG, f"larger than {limit} bytes")
        if st.st_size > limit:
            raise too_large
        # One read of what fstat promised and a byte more: exactly that
        # much is the whole file, with no second read to meet the end.
        data = os.read(fd, st.st_size + 1)
        if len(data) == st.st_size:
            return data
        chunks, size = [data], len(data)  # it grew, shrank or came short: read to the end
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew since fstat
            raise too_large
        return b"".join(chunks)
    finally:
        os.close(fd)


def content_hash(data: bytes) -> str:
    """What the result cache knows a file's bytes by (SHA-256: as fast as
    SHA-1 where the CPU has SHA extensions, and without its collisions)."""
    return hashlib.sha256(data).hexdigest()


class RecentBytes:
    """The contents last stored, up to ``budget`` bytes in all (the least
    recently used go first): a mapping for readers that read a module's
    files again for each file of it."""

    def __init__(self, budget: int):
        self.budget = budget
        self._items: OrderedDict[str, bytes | None] = OrderedDict()
        self._size = 0

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __getitem__(self, key: str) -> bytes | None:
        self._items.move_to_end(key)
        return self._items[key]

    def __setitem__(self, key: str, data: bytes | None) -> None:
        if key in self._items:
            self._size -= len(self._items.pop(key) or b"")
        self._items[key] = data
        self._size += len(data or b"")
        while self._size > self.budget and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._size -= len(old or b"")

    def clear(self) -> None:
        self._items.clear()
        self._size = 0


class TreeReader:
    """How rules read files other than the one being checked (a directory's
    Kconfig, sibling sources). The default reads the disk; patch and audit
    modes substitute readers over a patched copy or git objects."""

    def __init__(self):
        self._signatures: dict[str, str | None] = {}  # the disk does not change under one run
        self._recent = RecentBytes(RECENT_READS_BYTES)

    def read(self, path: str) -> bytes | None:
        """The file's bytes; None when it is missing, unreadable, not a
        regular file (``#include "/dev/zero"``) or too large. The files read
        last are kept, up to RECENT_READS_BYTES."""
        if path in self._recent:
            return self._recent[path]
        try:
            data = read_regular(path)
        except OSError:
            data = None
        self._recent[path] = data
        return data

    def read_fact(self, path: str, name: str, fact):
        """``fact(data)`` of the file - a set of names, a function of its
        bytes alone that ``name`` stands for (analysis.weak knows it) - or
        None when it cannot be read. A reader that records what a verdict
        read (GitTreeReader) records the fact, not the bytes: an edit that
        leaves it the same does not make the verdict stale."""
        data = self.read(path)
        return None if data is None else fact(data)

    def directory_key(self, directory: str) -> str | None:
        """What names the contents of ``directory`` (git's tree id), for
        facts shared by the verdicts that read it, in any commit that has
        the same directory (KernelContext.memo_for_directory); None: the
        disk, whose run memo every verdict shares already."""
        return None

    def reads_during(self, compute):
        """``compute()`` and what it read, as replay() takes it."""
        return compute(), {}

    def replay(self, reads) -> None:
        """Record ``reads`` as this verdict's own (a shared fact it used)."""

    def forget(self) -> None:
        """Forget the files read so far (a fix changed the tree)."""
        self._signatures.clear()
        self._recent.clear()

    def read_if(self, path: str, relevant, why: str) -> bytes | None:
        """The file's bytes when ``relevant(data)``, else None (also when it
        cannot be read). ``why`` names the test completely: a reader that
        records what a verdict read (GitTreeReader) records a file found
        irrelevant by it rather than by its contents, so that an edit which
        leaves it irrelevant does not make the verdict stale."""
        data = self.read(path)
        return data if data is not None and relevant(data) else None

    def listdir(self, directory: str) -> list[str]:
        try:
            return sorted(os.listdir(directory))
        except OSError:
            return []

    def known(self, path: str) -> bool:
        """Whether read(path) tells the whole truth about the file: its bytes,
        or that it does not exist. On disk it always does; a patch checked
        without its tree knows only some files (see patch/series.py)."""
        return True

    def listing_complete(self, directory: str) -> bool:
        """Whether listdir(directory) names every file there is."""
        return True

    def shown(self, path: str) -> str | None:
        """For a file known only in part: the lines of it a patch series
        has shown so far (its hunks); None otherwise."""
        return None

    def signature(self, path: str) -> str | None:
        """Something that changes when the file changes (for cache keys):
        the hash of its content, or of a directory's names (a sibling
        appeared or went) - never size and mtime, which ``cp -p``,
        ``touch -r`` and ``rsync -t`` keep for other bytes. None when there
        is nothing there."""
        if path not in self._signatures:
            if os.path.isdir(path):
                names = self.listdir(path)
                self._signatures[path] = content_hash("\0".join(names).encode("utf-8", "surrogateescape"))
            else:
                data = self.read(path)
                self._signatures[path] = None if data is None else content_hash(data)
        return self._signatures[path]
