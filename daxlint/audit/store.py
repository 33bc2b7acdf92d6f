"""The SQLite store behind ``daxlint audit`` (``--db``, default in the user
cache directory).

What it keeps, and why:

- ``negatives``: blobs in which none of the enabled rules' trigger tokens
  occur. Keyed by blob id, file kind and rule set, not by path or kernel
  version, because no rule ever runs on them: a kernel tree is mostly such
  blobs, and a version bump must not make us read them again.
- ``blob_results``: findings of one blob at one path for one kernel version
  and rule set, with the other files the rules read to reach the verdict
  (``deps``, e.g. the directory's Kconfig) so a result is reused only in a
  tree where those files are the same.
- ``commits``: the audit of one commit (introduced, fixed, open counts) for
  one setup; a second run over a range reads these instead of analysing.
- ``tips``: the fingerprints open at a commit, for "is what the range
  introduced still open at its end?".

Writes are buffered and committed by :meth:`AuditStore.commit` in one
transaction. The auditor writes a commit's blob results before its commit
row, so whatever a commit row needs to resume from is never lost with it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from daxlint.core.cache import is_corrupt
from daxlint.core.outfiles import OutputError, database_path, shown

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS negatives (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_results (key TEXT PRIMARY KEY, payload TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (sha TEXT, setup TEXT, payload TEXT, PRIMARY KEY (sha, setup)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tips (sha TEXT, setup TEXT, payload TEXT, PRIMARY KEY (sha, setup)) WITHOUT ROWID;
"""

# SQLite's default limit on host parameters is 999 in old builds.
_BATCH = 900


class StoreError(Exception):
    """The store cannot be opened or read (not a database, unwritable)."""


def _why(e: Exception, path: str) -> str:
    """What went wrong, and for a damaged store how to recover."""
    if isinstance(e, sqlite3.DatabaseError) and is_corrupt(e):
        return (
            f"{e}: the store is damaged; delete {shown(path)} and daxlint starts a new one (analysing the range again), or use another --db"
        )
    return str(e)


class AuditStore:
    def __init__(self, path: Path | str):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(database_path(self.path), timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                with self.db:
                    self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(f"{self.path}: audit store of schema {row[0]}, this daxlint writes {SCHEMA_VERSION} (use another --db)")
        except OutputError as e:
            raise StoreError(f"audit store: {e}") from None
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot use audit store {shown(self.path)}: {_why(e, self.path)}") from None
        self._negatives: set[str] = set()
        self._results: dict[str, str] = {}
        self._commits: dict[tuple[str, str], str] = {}
        self._tips: dict[tuple[str, str], str] = {}

    # -- blobs --------------------------------------------------------------

    def negatives(self, keys: list[str]) -> set[str]:
        """Those of ``keys`` recorded as negative."""
        found = {k for k in keys if k in self._negatives}
        rest = [k for k in keys if k not in found]
        for i in range(0, len(rest), _BATCH):
            part = rest[i : i + _BATCH]
            q = f"SELECT key FROM negatives WHERE key IN ({','.join('?' * len(part))})"
            found.update(k for (k,) in self._query(q, part))
        return found

    def results(self, keys: list[str]) -> dict[str, dict]:
        """Stored blob results (decoded JSON payloads) for those of ``keys`` known."""
        out = {k: json.loads(self._results[k]) for k in keys if k in self._results}
        rest = [k for k in keys if k not in out]
        for i in range(0, len(rest), _BATCH):
            part = rest[i : i + _BATCH]
            q = f"SELECT key, payload FROM blob_results WHERE key IN ({','.join('?' * len(part))})"
            out.update((k, json.loads(p)) for k, p in self._query(q, part))
        return out

    def put_negative(self, key: str) -> None:
        self._negatives.add(key)

    def put_result(self, key: str, payload: dict) -> None:
        self._results[key] = json.dumps(payload, separators=(",", ":"))

    # -- commits ------------------------------------------------------------

    def commits(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        out = {k: json.loads(self._commits[k]) for k in keys if k in self._commits}
        by_setup: dict[str, list[str]] = {}
        for sha, setup in keys:
            if (sha, setup) not in out:
                by_setup.setdefault(setup, []).append(sha)
        for setup, shas in by_setup.items():
            for i in range(0, len(shas), _BATCH):
                part = shas[i : i + _BATCH]
                q = f"SELECT sha, payload FROM commits WHERE setup = ? AND sha IN ({','.join('?' * len(part))})"
                out.update(((s, setup), json.loads(p)) for s, p in self._query(q, [setup, *part]))
        return out

    def put_commit(self, sha: str, setup: str, payload: dict) -> None:
        self._commits[(sha, setup)] = json.dumps(payload, separators=(",", ":"))

    def tip(self, sha: str, setup: str) -> dict | None:
        if (sha, setup) in self._tips:
            return json.loads(self._tips[(sha, setup)])
        rows = self._query("SELECT payload FROM tips WHERE sha = ? AND setup = ?", [sha, setup])
        return json.loads(rows[0][0]) if rows else None

    def put_tip(self, sha: str, setup: str, payload: dict) -> None:
        self._tips[(sha, setup)] = json.dumps(payload, separators=(",", ":"))

    # -- transactions -------------------------------------------------------

    def commit(self) -> None:
        """Write everything buffered in one transaction. Blob rows go first
        so a stored commit row never lacks what resuming after it needs."""
        if not (self._negatives or self._results or self._commits or self._tips):
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR IGNORE INTO negatives VALUES (?)", [(k,) for k in self._negatives])
                self.db.executemany("INSERT OR REPLACE INTO blob_results VALUES (?, ?)", list(self._results.items()))
                self.db.executemany("INSERT OR REPLACE INTO commits VALUES (?, ?, ?)", [(s, u, p) for (s, u), p in self._commits.items()])
                self.db.executemany("INSERT OR REPLACE INTO tips VALUES (?, ?, ?)", [(s, u, p) for (s, u), p in self._tips.items()])
        except sqlite3.Error as e:
            raise StoreError(f"cannot write audit store {shown(self.path)}: {_why(e, self.path)}") from None
        self._negatives.clear()
        self._results.clear()
        self._commits.clear()
        self._tips.clear()

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.db.close()

    def _query(self, sql: str, args: list) -> list[tuple]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read audit store {shown(self.path)}: {_why(e, self.path)}") from None
