"""Per-file result cache in the user cache directory (SQLite).

Two tables: ``stat`` maps (path, size, mtime) to the content hash seen last
time, so a warm run need not read unchanged files; ``results`` maps (content
hash, path, rule set, kernel version) to the findings and the context files
they depend on. Most files of a kernel tree have no findings and depend on
nothing else: the stat row says so (``empty``), and a warm run answers them
without touching the results table. Writes are
committed in batches, so an interrupted run keeps what it stored."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from daxlint.model import FileResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha TEXT, key TEXT, empty INTEGER);
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT);
"""


class ResultCache:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.executescript(SCHEMA)
        self._stat: dict[str, tuple[int, int, str, str, int]] | None = None
        self._pending_stat: list[tuple] = []
        self._pending_results: list[tuple] = []

    def _load_stat(self) -> dict[str, tuple[int, int, str, str, int]]:
        if self._stat is None:
            rows = self.db.execute("SELECT path, size, mtime_ns, sha, key, empty FROM stat")
            self._stat = {r[0]: r[1:] for r in rows}
        return self._stat

    def load_stat(self) -> None:
        """Read the stat table now, in this thread (the connection's)."""
        self._load_stat()

    def has_stat(self, abspath: str) -> bool:
        """Whether anything was recorded for this path: when not, there is no
        point in stat'ing it to ask known()."""
        return abspath in self._load_stat()

    def known(self, abspath: str, st: os.stat_result) -> tuple[str, str, bool] | None:
        """(content sha, result key, result is empty) recorded for this file
        when it last had this size and mtime."""
        hit = self._load_stat().get(abspath)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2], hit[3], bool(hit[4])
        return None

    def get(self, key: str):
        """The cached FileResult for ``key``, or None."""
        row = self.db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()
        return None if row is None else FileResult.from_payload(json.loads(row[0]))

    def put(self, key: str, abspath: str, stamp: tuple[int, int] | None, sha: str, res: FileResult) -> None:
        """Record ``res`` under ``key``, and the file's (size, mtime_ns) stamp.
        An empty result needs no row of its own: the stat row says so."""
        if stamp is not None:
            self._pending_stat.append((abspath, stamp[0], stamp[1], sha, key, int(not res.needs_own_row)))
        if res.needs_own_row or stamp is None:
            self._pending_results.append((key, json.dumps(res.to_payload())))
        if len(self._pending_results) + len(self._pending_stat) >= 2000:
            self.flush()

    def flush(self) -> None:
        if not (self._pending_stat or self._pending_results):
            return
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", self._pending_stat)
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", self._pending_results)
        self._pending_stat.clear()
        self._pending_results.clear()

    def close(self) -> None:
        self.flush()
        self.db.close()
