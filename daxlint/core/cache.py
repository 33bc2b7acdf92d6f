"""Per-file result cache in the user cache directory (SQLite).

Two tables: ``files`` maps a path to the content hash it had last time and
the key of its result; ``results`` maps a key - (content hash, path, rule
set, kernel version) - to the findings and the files they depend on. A
warm run reads and hashes every file (a file's size and mtime say nothing:
``cp -p``, ``touch -r``, ``rsync -t`` and tar keep them for other bytes).
Most files of a kernel tree have no findings and depend on nothing else:
their ``files`` row says so (``empty``), and a warm run answers them without
touching the results table. Writes are committed in batches, so an
interrupted run keeps what it stored.

The file is created and opened by the rules of ``core/outfiles.py`` (never
through a device or a planted link). A cache that SQLite finds corrupt
(overwritten, truncated) is deleted and rebuilt, with a note; other
trouble (locked, read-only) leaves it alone for this run."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from daxlint.core.outfiles import database_path, remove_database, shown
from daxlint.model import FileResult


def is_corrupt(e: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB (any extended code): the file is
    damaged, as opposed to locked, read-only or out of space."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (11, 26)


SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha TEXT, key TEXT, empty INTEGER);
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT);
"""


class ResultCache:
    def __init__(self, path: Path):
        self.path = path
        self.notes: list[str] = []  # what the run should tell the user about the cache
        self._file = database_path(path)
        self._broken = False
        self._files: dict[str, tuple[str, str, int]] | None = None
        self._pending_files: list[tuple] = []
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
        self._pending_results.clear()

    def _load_files(self) -> dict[str, tuple[str, str, int]]:
        if self._files is None:
            try:
                rows = self.db.execute("SELECT path, sha, key, empty FROM files").fetchall()
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

    def known(self, abspath: str) -> tuple[str, str, bool] | None:
        """(content hash, result key, result is empty) recorded for this
        file last time. Its content must be hashed again to use them."""
        hit = self._load_files().get(abspath)
        return (hit[0], hit[1], bool(hit[2])) if hit else None

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

    def put(self, key: str, abspath: str, sha: str, res: FileResult, record_path: bool = True) -> None:
        """Record ``res`` under ``key`` and, with ``record_path``, the file's
        content hash and key under its path. An empty result needs no row
        of its own: the file's row says so."""
        if self._broken:
            return
        if record_path:
            self._pending_files.append((_to_db(abspath), sha, key, int(not res.needs_own_row)))
        if res.needs_own_row or not record_path:
            self._pending_results.append((key, json.dumps(res.to_payload())))
        if len(self._pending_results) + len(self._pending_files) >= 2000:
            self.flush()

    def flush(self) -> None:
        if not (self._pending_files or self._pending_results) or self._broken:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", self._pending_files)
                self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", self._pending_results)
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise
            self._give_up(e)
        self._pending_files.clear()
        self._pending_results.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()
            if self._broken:
                remove_database(self._file)


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
