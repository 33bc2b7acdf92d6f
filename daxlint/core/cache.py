"""Per-file result cache in the user cache directory (SQLite).

Three tables: ``files`` maps a checked file's path to the content hash it
had last time, the key of its result and its stamp; ``results`` maps a key
- (content hash, path, rule set, kernel version) - to the findings and the
content hashes of the files they depend on; ``hashes`` holds those files'
hashes with their stamps. Results are keyed on content: size and mtime
decide nothing (``cp -p``, ``touch -r``, ``rsync -t`` and tar keep them for
other bytes). A file is hashed again unless its stamp (``file_stamp()``: device,
inode, size, mtime and ctime - which no user can set, and which every
write, ``touch`` and rename moves) is the one it had when it was hashed,
and that was not within a second of its last change (git's "racy" entries:
a change in the same clock tick would keep the stamp). Most files of a
kernel tree have no findings and depend on nothing else: their ``files``
row says so (``empty``), and a warm run answers them from their stamp.
Writes are committed in batches, so an interrupted run keeps what it
stored.

The file is created and opened by the rules of ``core/outfiles.py`` (never
through a device or a planted link). A cache that SQLite finds corrupt
(overwritten, truncated) is deleted and rebuilt, with a note; other
trouble (locked, read-only) leaves it alone for this run."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from daxlint.core.outfiles import database_path, remove_database, shown
from daxlint.model import FileResult


def is_corrupt(e: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB (any extended code): the file is
    damaged, as opposed to locked, read-only or out of space."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (11, 26)


SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha TEXT, key TEXT, empty INTEGER, stamp TEXT);
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT);
CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, stamp TEXT, sha TEXT);
"""


class ResultCache:
    def __init__(self, path: Path):
        self.path = path
        self.notes: list[str] = []  # what the run should tell the user about the cache
        self._file = database_path(path)
        self._broken = False
        self._files: dict[str, tuple[str, str, int, str | None]] | None = None
        self._hashes: dict[str, tuple[str, str]] | None = None
        self._pending_files: list[tuple] = []
        self._pending_hashes: list[tuple] = []
        self._pending_stamps: list[tuple] = []
        self._pending_results: list[tuple] = []
        try:
            self.db = self._connect()
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise
            self._rebuild(e)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._file, timeout=30)
        try:
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _rebuild(self, e: sqlite3.Error) -> None:
        """Delete a corrupt cache file and start an empty one."""
        remove_database(self._file)
        self._file = database_path(self.path)
        self.db = self._connect()
        self._files = {}
        self.notes.append(f"the result cache {shown(str(self.path))} was corrupt ({e}); deleted it and started a new one")

    def _give_up(self, e: sqlite3.Error) -> None:
        """Corruption found in the middle of a run: stop using the cache; it
        is deleted when the run closes it, so the next run rebuilds it."""
        if not self._broken:
            self._broken = True
            self.notes.append(f"the result cache {shown(str(self.path))} is corrupt ({e}); it will be rebuilt on the next run")
        self._pending_files.clear()
        self._pending_hashes.clear()
        self._pending_stamps.clear()
        self._pending_results.clear()

    def _load_files(self) -> dict[str, tuple[str, str, int, str | None]]:
        if self._files is None:
            try:
                rows = self.db.execute("SELECT path, sha, key, empty, stamp FROM files").fetchall()
            except sqlite3.DatabaseError as e:
                if not is_corrupt(e):
                    raise
                self.db.close()
                self._rebuild(e)
                return self._files
            self._files = {_from_db(r[0]): r[1:] for r in rows}
        return self._files

    def load_files(self) -> None:
        """Read the files table now, in this thread (the connection's)."""
        self._load_files()

    def known(self, abspath: str) -> tuple[str, str, bool, str | None] | None:
        """(content hash, result key, result is empty, stamp) recorded for
        this file last time. The hash holds while the file's stamp() is
        that stamp (None: it must be hashed again)."""
        hit = self._load_files().get(abspath)
        return (hit[0], hit[1], bool(hit[2]), hit[3]) if hit else None

    def content_hash(self, path: str, compute) -> str | None:
        """The content hash of a file a verdict depends on: the one recorded
        while its stamp is unchanged, else ``compute(path)`` (recorded)."""
        if self._hashes is None:
            try:
                self._hashes = {_from_db(r[0]): (r[1], r[2]) for r in self.db.execute("SELECT path, stamp, sha FROM hashes")}
            except sqlite3.DatabaseError as e:
                if not is_corrupt(e):
                    raise
                self._give_up(e)
                self._hashes = {}
        hit = self._hashes.get(path)
        now = time.time_ns()
        current = stamp_of(path)
        if hit is not None and current is not None and hit[0] == current:
            return hit[1]
        sha = compute(path)
        trusted = trusted_stamp(current, now)
        if sha is not None and trusted is not None and not self._broken:
            self._hashes[path] = (trusted, sha)
            self._pending_hashes.append((_to_db(path), trusted, sha))
        return sha

    def get(self, key: str):
        """The cached FileResult for ``key``, or None."""
        if self._broken:
            return None
        try:
            row = self.db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()
            return None if row is None else FileResult.from_payload(json.loads(row[0]))
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise
            self._give_up(e)
            return None
        except (ValueError, KeyError, TypeError):  # a row that is not ours: a miss, replaced by put()
            return None

    def put(self, key: str, abspath: str, sha: str, res: FileResult, record_path: bool = True, stamp: str | None = None) -> None:
        """Record ``res`` under ``key`` and, with ``record_path``, the file's
        content hash, key and trusted stamp under its path. An empty result
        needs no row of its own: the file's row says so."""
        if self._broken:
            return
        if record_path:
            self._pending_files.append((_to_db(abspath), sha, key, int(not res.needs_own_row), stamp))
        if res.needs_own_row or not record_path:
            self._pending_results.append((key, json.dumps(res.to_payload())))
        if len(self._pending_results) + len(self._pending_files) >= 2000:
            self.flush()

    def restamp(self, abspath: str, new_stamp: str) -> None:
        """The file's content is the one recorded; its stamp is new (a
        ``touch``, a checkout that rewrote the same bytes)."""
        if not self._broken:
            self._pending_stamps.append((new_stamp, _to_db(abspath)))

    def flush(self) -> None:
        if not (self._pending_files or self._pending_results or self._pending_hashes or self._pending_stamps) or self._broken:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", self._pending_files)
                self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", self._pending_results)
                self.db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)", self._pending_hashes)
                self.db.executemany("UPDATE files SET stamp = ? WHERE path = ?", self._pending_stamps)
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise
            self._give_up(e)
        self._pending_files.clear()
        self._pending_results.clear()
        self._pending_hashes.clear()
        self._pending_stamps.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()
            if self._broken:
                remove_database(self._file)


# A file changed less than this before it was hashed may change again in the
# same clock tick of its file system without its stamp moving.
RACY_NS = 1_000_000_000


def file_stamp(st: os.stat_result) -> str:
    """What changes whenever a file's bytes may have: device, inode, size,
    mtime and ctime (a rename, a write, ``touch -r``, ``cp -p`` all move
    the ctime or the inode; no user can set a ctime)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def stamp_of(path: str) -> str | None:
    try:
        return file_stamp(os.stat(path))
    except OSError:
        return None


def trusted_stamp(st_stamp: str | None, hashed_at_ns: int) -> str | None:
    """``st_stamp``, taken before a file was hashed at ``hashed_at_ns``, when
    it may stand for the content hashed: not when the file changed within
    RACY_NS of that (None: hash it again next time)."""
    if st_stamp is None:
        return None
    mtime, ctime = (int(x) for x in st_stamp.rsplit(":", 2)[1:])
    return st_stamp if max(mtime, ctime) + RACY_NS <= hashed_at_ns else None


def _to_db(path: str) -> str | bytes:
    """A path as stored: text when it is UTF-8, else its raw bytes (a BLOB),
    so that every file name Linux allows has a row of its own."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value
