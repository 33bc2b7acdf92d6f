"""Hostile and odd input that must neither crash a run nor slip past it
(issue 15): damaged caches and stores, file names and contents in any
encoding, missing listed files, deep nesting, terminal escapes, mail
without a diff, and the exit status policy (--strict, --fail-on)."""

from __future__ import annotations

import json
import sqlite3

from test_cli import DIRECT_WRITE, make_tree

from audit_repo import ScratchRepo, mmap_writer
from conftest import run_inprocess

FORMATS = ("text", "json", "sarif", "github", "checkpatch")


def findings(out: bytes) -> list[tuple[str, str, int]]:
    return [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]]


# -- 8. a damaged result cache is rebuilt; a damaged audit store says how to recover


def _cache_run(tree):
    rc, out, err = run_inprocess("check", "--format", "json", ".", cwd=tree)
    assert rc == 1, err
    data = json.loads(out)
    assert findings(out) == [("DAX301", "drivers/misc/drv.c", 3)]
    return data["notes"]


def test_cache_overwritten_with_garbage_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    assert _cache_run(tree) == []
    db = tmp_path / "xdg" / "daxlint" / "results-v2.sqlite"
    db.write_bytes(bytes(range(256)) * 40)
    notes = _cache_run(tree)
    assert any("result cache" in n and "was corrupt" in n and "started a new one" in n for n in notes), notes
    assert not any("cache disabled" in n for n in notes)
    # The new cache works: the next run has nothing to say about it and
    # answers the unchanged file from it.
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM stat").fetchone()[0] == 1
    assert _cache_run(tree) == []


def test_cache_damaged_inside_a_table_is_rebuilt_on_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    _cache_run(tree)
    db = tmp_path / "xdg" / "daxlint" / "results-v2.sqlite"
    with sqlite3.connect(db) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        roots = [r for (r,) in con.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'results'")]
    with open(db, "r+b") as fh:  # the results table and its index: the stat table still reads
        for page in roots:
            fh.seek((page - 1) * page_size)
            fh.write(b"\x55" * page_size)
    notes = _cache_run(tree)
    assert any("is corrupt" in n and "rebuilt on the next run" in n for n in notes), notes
    assert _cache_run(tree) == []
    assert _cache_run(tree) == []


def test_damaged_audit_store_names_the_path_and_the_way_out(tmp_path):
    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/foo/drv.c", mmap_writer("foo_mmap"))
    r.commit("foo: add mmap")
    r.write("drivers/foo/other.c", "int x;\n")
    r.commit("foo: more")
    db = tmp_path / "audit.sqlite"
    rc, _, err = run_inprocess("audit", "--repo", str(r.path), "--db", str(db), "-q", "HEAD~1..HEAD")
    assert rc in (0, 1), err
    db.write_bytes(b"garbage " * 1000)
    rc, out, err = run_inprocess("audit", "--repo", str(r.path), "--db", str(db), "-q", "HEAD~1..HEAD")
    assert rc == 2 and out == b""
    (line,) = err.decode().strip().splitlines()
    assert str(db) in line and "damaged" in line and f"delete {db}" in line
