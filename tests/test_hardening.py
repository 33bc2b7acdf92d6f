"""Hostile and odd input that must neither crash a run nor slip past it
(issue 15): damaged caches and stores, file names and contents in any
encoding, missing listed files, deep nesting, terminal escapes, mail
without a diff, and the exit status policy (--strict, --fail-on)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
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
    db = tmp_path / "xdg" / "daxlint" / "results-v3.sqlite"
    db.write_bytes(bytes(range(256)) * 40)
    notes = _cache_run(tree)
    assert any("result cache" in n and "was corrupt" in n and "started a new one" in n for n in notes), notes
    assert not any("cache disabled" in n for n in notes)
    # The new cache works: the next run has nothing to say about it and
    # answers the unchanged file from it.
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    assert _cache_run(tree) == []


def test_cache_damaged_inside_a_table_is_rebuilt_on_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    _cache_run(tree)
    db = tmp_path / "xdg" / "daxlint" / "results-v3.sqlite"
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


# -- 4. file names that are not UTF-8, in every format, with and without the cache

RAW_NAME = b"drivers/misc/n\xffme\xe9.c"  # Latin-1 bytes, not UTF-8
SHOWN_NAME = "drivers/misc/n\\xffme\\xe9.c"


def _tree_with_raw_name(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/ok.c": "int ok;\n"})
    with open(os.path.join(os.fsencode(tree), RAW_NAME), "wb") as fh:
        fh.write(DIRECT_WRITE.encode())
    return tree


@pytest.mark.parametrize("cache", ["--no-cache", "cached", "warm"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_non_utf8_file_name_in_every_format(tmp_path, monkeypatch, fmt, cache):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tree = _tree_with_raw_name(tmp_path)
    args = ["check", "--format", fmt, "."] + (["--no-cache"] if cache == "--no-cache" else [])
    if cache == "warm":  # the second run answers from the cache
        assert run_inprocess(*args, cwd=tree)[0] == 1
    rc, out, err = run_inprocess(*args, cwd=tree)
    assert rc == 1, err
    out.decode("utf-8")  # valid UTF-8 whatever the name
    if fmt == "json":
        (f,) = json.loads(out)["findings"]
        assert (f["rule_id"], f["path"], f["line"]) == ("DAX301", SHOWN_NAME, 3)
        assert base64.b64decode(f["path_base64"]) == RAW_NAME
    elif fmt == "sarif":
        (res,) = json.loads(out)["runs"][0]["results"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "drivers/misc/n%FFme%E9.c" and loc["region"]["startLine"] == 3
    elif fmt == "github":
        assert f"::error file={SHOWN_NAME},line=3,col=2,".encode() in out
    elif fmt == "checkpatch":
        assert f"#3: FILE: {SHOWN_NAME}:3:".encode() in out
    else:
        assert f"{SHOWN_NAME}:3:2: error[DAX301]".encode() in out
    if cache == "warm":
        with sqlite3.connect(tmp_path / "xdg" / "daxlint" / "results-v3.sqlite") as con:
            paths = [p for (p,) in con.execute("SELECT path FROM files")]
        assert os.path.join(os.fsencode(tree), RAW_NAME) in paths  # stored as its bytes


def test_non_utf8_file_name_in_baselines_and_the_diff_gate(tmp_path):
    tree = _tree_with_raw_name(tmp_path)
    rc, _, err = run_inprocess("check", "--write-baseline", "base.json", ".", cwd=tree)
    assert rc == 0, err
    json.loads((tree / "base.json").read_text(encoding="utf-8"))  # valid UTF-8 JSON
    rc, out, err = run_inprocess("check", "--format", "json", "--baseline", "base.json", ".", cwd=tree)
    assert rc == 0 and json.loads(out)["findings"] == [], err


def test_non_utf8_file_name_changed_since_a_revision(tmp_path):
    """--diff over a committed file whose name is not UTF-8: git reports it
    raw, and it is checked as the file it is (it was dropped as U+FFFD)."""
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/ok.c": "int ok;\n"})
    raw = os.path.join(os.fsencode(tree), RAW_NAME)
    with open(raw, "wb") as fh:
        fh.write(b"int x;\n")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=tree, env=env, check=True)
    with open(raw, "wb") as fh:
        fh.write(DIRECT_WRITE.encode())
    rc, out, err = run_inprocess("check", "--no-cache", "--format", "json", "--diff", "HEAD", ".", cwd=tree)
    assert rc == 1, err
    (f,) = json.loads(out)["findings"]
    assert (f["rule_id"], f["path"], f["line"]) == ("DAX301", SHOWN_NAME, 3)


def test_non_utf8_file_name_in_patch_mode_and_audit(tmp_path):
    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/misc/ok.c", "int ok;\n")
    r.commit("base")
    with open(os.path.join(os.fsencode(r.path), RAW_NAME), "wb") as fh:
        fh.write(DIRECT_WRITE.encode())
    r.commit("misc: add a driver")
    patch = subprocess.run(["git", "format-patch", "-1", "--stdout"], cwd=r.path, capture_output=True, check=True).stdout
    for fmt in FORMATS:
        rc, out, err = run_inprocess("patch", "--format", fmt, "-", cwd=r.path, stdin=patch)
        assert rc == 1, err
        if fmt == "json":
            assert [f["path"] for f in json.loads(out)["findings"]] == [SHOWN_NAME]
        elif fmt == "sarif":
            (res,) = json.loads(out)["runs"][0]["results"]
            assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "drivers/misc/n%FFme%E9.c"
        else:
            assert SHOWN_NAME.encode() in out
    rc, out, err = run_inprocess("audit", "--repo", str(r.path), "--no-cache", "-q", "--format", "json", "HEAD~1..HEAD")
    assert rc == 1, err
    (f,) = json.loads(out)["commits"][0]["introduced"]
    assert (f["path"], f["line"], base64.b64decode(f["path_base64"])) == (SHOWN_NAME, 3, RAW_NAME)
    for fmt in ("text", "csv"):
        rc, out, err = run_inprocess("audit", "--repo", str(r.path), "--no-cache", "-q", "--format", fmt, "HEAD~1..HEAD")
        assert rc == 1 and SHOWN_NAME.encode() in out, err


# -- 6. any encoding is analysed; only what cannot be C is skipped ----------------

ENCODED = {
    "latin-1 comment": DIRECT_WRITE.replace("{\n", "{\n\t/* caf\xe9, na\xefve */\n", 1).encode("latin-1"),
    "broken utf-8": DIRECT_WRITE.replace("{\n", "{\n\t/* \xff\xfe\x80 */\n", 1).encode("latin-1"),
    "utf-8 with bom": DIRECT_WRITE.encode("utf-8-sig"),
    "utf-16 with bom": DIRECT_WRITE.encode("utf-16"),
    "utf-16-le": DIRECT_WRITE.encode("utf-16-le"),
    "utf-16-be": DIRECT_WRITE.encode("utf-16-be"),
    "utf-32 with bom": DIRECT_WRITE.encode("utf-32"),
    "utf-32-le": DIRECT_WRITE.encode("utf-32-le"),
    "utf-32-be": DIRECT_WRITE.encode("utf-32-be"),
    "stray nul (gcc ignores it)": DIRECT_WRITE.replace("return 0;", "return 0; /* \x00 */").encode(),
}


@pytest.mark.parametrize("name", ENCODED)
def test_every_encoding_is_analysed(tmp_path, name):
    tree = make_tree(tmp_path / "linux", files={})
    (tree / "drivers").mkdir()
    (tree / "drivers" / "drv.c").write_bytes(ENCODED[name])
    for fmt in FORMATS:
        rc, out, err = run_inprocess("check", "--no-cache", "--format", fmt, ".", cwd=tree)
        assert rc == 1, (fmt, err, out)
        out.decode("utf-8")
        if fmt == "json":
            data = json.loads(out)
            expected_line = 4 if "comment" in name or "broken" in name else 3
            assert findings(out) == [("DAX301", "drivers/drv.c", expected_line)] and data["skipped"] == []


def test_latin1_bytes_in_snippets_and_fingerprints_work_in_every_format(tmp_path):
    code = (
        "static int m(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO; /* d\xe9j\xe0 vu \xff */\n\treturn 0;\n}\n"
    )
    tree = make_tree(tmp_path / "linux", files={})
    (tree / "drv.c").write_bytes(code.encode("latin-1"))
    outs = {fmt: run_inprocess("check", "--format", fmt, ".", cwd=tree) for fmt in FORMATS}
    assert all(rc == 1 for rc, _, _ in outs.values())
    (f,) = json.loads(outs["json"][1])["findings"]
    assert f["line"] == 3 and f["fingerprint"] and "\ufffd" in f["snippet"]
    assert "vma->vm_flags |= VM_IO; /* d\ufffdj\ufffd vu \ufffd */" in outs["checkpatch"][1].decode()


def test_binary_file_is_skipped_with_a_note_in_every_format(tmp_path):
    tree = make_tree(tmp_path / "linux", files={})
    (tree / "blob.c").write_bytes(b"vma->vm_flags |= VM_IO;" + bytes(range(0, 32)) * 4)
    expect = {
        "text": b"blob.c: skipped: binary file",
        "json": b'"reason": "binary file',
        "sarif": b"skipped blob.c: binary file",
        "github": b"::warning file=blob.c,title=daxlint skipped::binary file",
        "checkpatch": b"NOTE: skipped blob.c: binary file",
    }
    for fmt in FORMATS:
        rc, out, err = run_inprocess("check", "--no-cache", "--format", fmt, ".", cwd=tree)
        assert rc == 0 and expect[fmt] in out, (fmt, out, err)
        rc, out, err = run_inprocess("check", "--no-cache", "--strict", "--format", fmt, ".", cwd=tree)
        assert rc == 2 and expect[fmt] in out, (fmt, out, err)
        assert err.decode().strip() == "daxlint: error: 1 file could not be analysed (--strict): blob.c: binary file (contains NUL bytes)"


# -- 5. a listed path that does not exist is a note; a named one stays an error ---


def test_deleted_file_on_a_stdin_list_is_a_note_and_the_rest_is_checked(tmp_path):
    # A listed document is not C, even with C in it: not analysed, as in a walk.
    doc = "Drivers must not do this:\n\n" + DIRECT_WRITE
    tree = make_tree(
        tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE, "drivers/misc/ok.c": "int ok;\n", "Documentation/dax.rst": doc}
    )
    listing = b"drivers/misc/gone.c\ndrivers/misc/drv.c\nDocumentation/dax.rst\ndrivers/misc/ok.c\n"
    for fmt in FORMATS:
        rc, out, err = run_inprocess("check", "--format", fmt, "-", cwd=tree, stdin=listing)
        assert rc == 1, (fmt, err)
        assert b"drivers/misc/gone.c" in out and b"does not exist" in out, fmt
    rc, out, _ = run_inprocess("check", "--format", "json", "--strict", "-", cwd=tree, stdin=listing)
    data = json.loads(out)
    assert rc == 1 and findings(out) == [("DAX301", "drivers/misc/drv.c", 3)]
    assert [(s["path"], s.get("missing")) for s in data["skipped"]] == [("drivers/misc/gone.c", True)]
    assert data["summary"]["files_checked"] == 2
    # git diff -z --name-only, and names git quotes.
    rc, out, _ = run_inprocess("check", "--format", "json", "-", cwd=tree, stdin=b"drivers/misc/gone.c\0drivers/misc/drv.c\0")
    assert rc == 1 and findings(out) == [("DAX301", "drivers/misc/drv.c", 3)]
    rc, out, _ = run_inprocess("check", "--format", "json", "-", cwd=tree, stdin=b'"drivers/misc/drv.c"\n')
    assert rc == 1 and findings(out) == [("DAX301", "drivers/misc/drv.c", 3)]


def test_missing_path_on_the_command_line_is_still_an_error(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    rc, out, err = run_inprocess("check", "drivers/misc/gone.c", "drivers/misc/drv.c", cwd=tree)
    assert rc == 2 and out == b"" and err.decode().strip() == "daxlint: error: drivers/misc/gone.c: no such file or directory"


def test_stdin_list_of_only_deleted_files_is_clean(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    rc, out, err = run_inprocess("check", "-", cwd=tree, stdin=b"drivers/misc/gone.c\n")
    assert rc == 0, err
    assert b"drivers/misc/gone.c: skipped: listed on standard input but does not exist" in out


def test_deleted_listed_file_fixes_its_baseline_entries(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE, "drivers/misc/old.c": DIRECT_WRITE})
    assert run_inprocess("check", "--write-baseline", "b.json", ".", cwd=tree)[0] == 0
    (tree / "drivers/misc/old.c").unlink()
    rc, out, err = run_inprocess(
        "check", "--format", "json", "--baseline", "b.json", "--update-baseline", "-", cwd=tree, stdin=b"drivers/misc/old.c\n"
    )
    assert rc == 0, err
    assert [e["path"] for e in json.loads((tree / "b.json").read_text())["entries"]] == ["drivers/misc/drv.c"]


# -- 9. rich markup and terminal escapes from code, names and subjects ------------

HOSTILE_CODE = (
    "static int m(struct file *f, struct vm_area_struct *vma)\n{\n"
    "\tvma->vm_flags |= VM_IO; /* [/bold] [red]x \x1b]0;pwned\x07 \x1b[2J \x9b31m \u202e */\n"
    "\treturn 0;\n}\n"
)


def _no_raw_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]
    assert not bad, bad


def test_escape_sequences_from_code_never_reach_the_terminal_raw(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/m[/bold]\x1b[2J.c": HOSTILE_CODE})
    for fmt in ("text", "checkpatch", "github"):
        rc, out, err = run_inprocess("check", "--format", fmt, ".", cwd=tree)
        assert rc == 1, err
        text = out.decode()
        _no_raw_controls(text)
        if fmt == "checkpatch":  # the one that prints the code
            assert "\\x1b]0;pwned\\x07 \\x1b[2J \\u009b31m \\u202e" in text
        assert "drivers/m[/bold]\\x1b[2J.c" in text


def test_rich_views_print_markup_as_written(tmp_path):
    from rich.console import Console

    from daxlint.model import Finding, Report, Severity, Skipped
    from daxlint.output.rich_text import print_report

    report = Report(
        findings=[
            Finding(
                "DAX301", Severity.ERROR, "drivers/[media]/x.c", 3, 2, "write to [bold]vm_flags[/]", snippet=HOSTILE_CODE.splitlines()[2]
            )
        ],
        skipped=[Skipped("[/red]big.h", "too large [x]")],
        notes=['Revert "[/bold] x"'],
        files_checked=2,
        kernel_version="6.3",
    )
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    print_report(report, console)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())  # rich's own colours
    _no_raw_controls(shown)
    for text in ("drivers/[media]/x.c", "write to [bold]vm_flags[/]", "skipped [/red]big.h: too large [x]", 'note: Revert "[/bold] x"'):
        assert text in shown


SUBJECTS = ['Revert "[/bold] x"', "[media] foo: add a driver", "dax: \x1b]0;pwned\x07 title \x1b[2J"]


def test_audit_in_a_terminal_with_markup_and_escapes_in_subjects(tmp_path):
    from rich.console import Console

    from daxlint.audit.auditor import AuditOptions, Auditor
    from daxlint.audit.store import AuditStore
    from daxlint.core.registry import select_rules
    from daxlint.output.audit.rich_view import print_audit
    from daxlint.output.audit.text import render_text
    from daxlint.sources.git import GitRepo

    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    for i, subject in enumerate(SUBJECTS):
        r.write(f"drivers/d{i}/drv.c", mmap_writer(f"d{i}_mmap"))
        r.commit(subject, author="Ann [b]Author[/b] <ann@example.org>")
    result = Auditor(GitRepo(r.path), select_rules([], []), AuditStore(":memory:"), AuditOptions(jobs=1)).run(["HEAD~3..HEAD"])
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    print_audit(result, console)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())
    _no_raw_controls(shown)
    assert 'Revert "[/bold] x"' in shown and "[media] foo: add a driver" in shown and "Ann [b]Author[/b]" in shown
    assert "dax: \\x1b]0;pwned\\x07 title \\x1b[2J" in shown
    text = render_text(result)
    _no_raw_controls(text)
    assert "[media] foo: add a driver" in text and "dax: \\x1b]0;pwned\\x07 title \\x1b[2J" in text
    # The CSV (standard output by default) and the HTML page too; the
    # page's diff excerpts keep their line breaks.
    from daxlint.output.audit.csv_out import render_csv
    from daxlint.output.audit.html import render_html

    csv_text = render_csv(result)
    _no_raw_controls(csv_text)
    assert "dax: \\x1b]0;pwned\\x07 title \\x1b[2J" in csv_text
    hostile_line = {"lines": [["+", None, 3, "\tvma->vm_flags |= VM_IO; \u202e"]], "target": 0, "note": None}
    page = render_html(result, excerpt=lambda c, f, side: hostile_line)
    _no_raw_controls(page)
    assert "dax: \\x1b]0;pwned\\x07 title \\x1b[2J" in page and "\tvma-&gt;vm_flags |= VM_IO; \\u202e</span>" in page
    assert "<title>" in page and "&lt;title&gt;" not in page  # the chart stays markup


def test_patch_subjects_with_escapes_in_checkpatch_and_text(tmp_path):
    diff = (
        "From: a@example.org\nSubject: [PATCH] media: \x1b[2Jfoo: add\n\n---\n"
        "--- a/drivers/q.c\n+++ b/drivers/q.c\n@@ -0,0 +1,5 @@\n" + "".join("+" + ln + "\n" for ln in HOSTILE_CODE.splitlines())
    )
    for fmt in ("text", "checkpatch"):
        rc, out, err = run_inprocess("patch", "--kernel-version", "6.3", "--format", fmt, "-", cwd=tmp_path, stdin=diff.encode())
        assert rc == 1, err
        _no_raw_controls(out.decode())
        assert "media: \\x1b[2Jfoo: add" in out.decode()


# -- 14. daxlint corpus in an 80-column terminal -----------------------------------


@pytest.mark.parametrize("width", [80, 100])
def test_corpus_fits_a_narrow_terminal_without_losing_columns(width):
    from rich.console import Console

    from daxlint.commands.corpus import render_rich
    from daxlint.corpus.entries import load_corpus, select_entries
    from daxlint.corpus.runner import run_corpus

    results = run_corpus(select_entries(load_corpus(None), []), None)
    console = Console(file=io.StringIO(), width=width, no_color=True, force_terminal=False)
    render_rich(results, console)
    out = console.file.getvalue()
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= width
    table = out.split("\n\n")[0]
    header = next(ln for ln in lines if "entry" in ln)
    for column in ("entry", "state", "expected", "actual", "verdict"):
        assert column in header, header
    for res in results:  # every id whole, every state's verdict and ids readable
        assert res.entry.id in table and res.entry.short_commit in table
        for st in res.states:
            for rid in st.expected:
                assert rid in table
    assert table.count("match") >= sum(st.present and st.status == "match" for r in results for st in r.states)
    # The per-rule table keeps every rule's whole name (folded, not cut).
    rules = out.split("per rule")[1]
    flat = "".join(ln.split("│")[2].strip() for ln in rules.splitlines() if ln.count("│") > 2)
    for cls in __import__("daxlint.core.registry", fromlist=["all_rules"]).all_rules():
        assert re.sub(r"\s", "", cls.name) in flat, cls.name


# -- 7. deep nesting is linear; a skipped file is never silent ------------------------

DEPTH = 30000
MMAP = "static int m(struct file *f, struct vm_area_struct *vma)\n{\n"
DIRECT_ACCESS = (
    "static long m_direct_access(struct dax_device *d, pgoff_t pgoff, long nr, enum dax_access_mode mode, void **kaddr, pfn_t *pfn)\n{\n"
)


def _deep(depth: int) -> dict[str, tuple[str, set]]:
    """Nesting shapes (each around a finding), and what must be found: the
    same as with no nesting at all (depth 1)."""
    n = depth
    return {
        "braces.c": (MMAP + "{" * n + "vma->vm_flags |= VM_IO;" + "}" * n + "\nreturn 0;\n}\n", {("DAX301", 3)}),
        "if_lines.c": (MMAP + "if (a) {\n" * n + "vma->vm_flags |= VM_IO;\n" + "}\n" * n + "return 0;\n}\n", {("DAX301", n + 3)}),
        "if_dax.c": (
            MMAP + "if (IS_DAX(inode)) {" * n + "vma->vm_flags |= VM_MIXEDMAP;" + "}" * n + "\nreturn 0;\n}\n",
            {("DAX301", 3), ("DAX304", 3), ("DAX305", 3)},
        ),
        "preproc.c": (MMAP + "#if 1\n" * n + "vma->vm_flags |= VM_IO;\n" + "#endif\n" * n + "return 0;\n}\n", {("DAX301", n + 3)}),
        "flag_chain.c": (MMAP + "vma->vm_flags |= " + " | ".join(["VM_IO"] * n) + ";\nreturn 0;\n}\n", {("DAX301", 3)}),
        "parens_vma.c": (MMAP + "(" * n + "vma" + ")" * n + "->vm_flags |= VM_IO;\nreturn 0;\n}\n", {("DAX301", 3)}),
        "negations.c": (MMAP + "if (" + "!(" * n + "IS_DAX(inode)" + ")" * n + ")\nvma->vm_flags |= VM_MIXEDMAP;\nreturn 0;\n}\n", None),
        "exiting_guard.c": (
            MMAP + "if (!IS_DAX(inode)) " + "{" * n + "return 0;" + "}" * n + "\nvma->vm_flags |= VM_MIXEDMAP;\nreturn 0;\n}\n",
            {("DAX301", 4), ("DAX304", 4), ("DAX305", 4)},
        ),
        "pfn.c": (DIRECT_ACCESS + "{" * n + "*pfn = phys_to_pfn_t(addr, PFN_DEV);" + "}" * n + "\nreturn nr;\n}\n", {("DAX101", 3)}),
        "pfn_special.c": (
            DIRECT_ACCESS + "{" * n + "*pfn = __pfn_to_pfn_t(x, PFN_DEV | PFN_SPECIAL);" + "}" * n + "\nreturn nr;\n}\n",
            {("DAX102", 3)},
        ),
        "to_page.c": (
            "static void g(struct foo *f)\n{\n" + "{" * n + "struct page *p = pfn_t_to_page(f->pfn);\nget_page(p);" + "}" * n + "\n}\n",
            {("DAX103", 3)},
        ),
    }


def test_deep_nesting_is_analysed_completely_in_check():
    """30,000 levels of each shape: every file is analysed (no skip, no
    internal error) and reports what the flat version reports. Quadratic
    parent walks took minutes here; a recursive helper gave up."""
    from daxlint.core.engine import Engine, EngineOptions
    from daxlint.core.kernel import KernelContext
    from daxlint.core.registry import select_rules
    from daxlint.version import KernelVersion

    eng = Engine(select_rules([], []), KernelContext(None, KernelVersion(6, 3), "flag"), EngineOptions(jobs=1, use_cache=False))
    flat = _deep(1)
    for name, (code, expected) in _deep(DEPTH).items():
        res = eng.analyze(name, code.encode())
        assert res.skipped == [] and res.errors == [], (name, res.skipped, res.errors)
        got = {(f.rule_id, f.line) for f in res.findings}
        if expected is None:  # an even number of negations: the flat file's verdict with the sign flipped twice
            flat_res = eng.analyze(name, flat[name][0].replace("!(", "!(!(", 1).replace(")\n", "))\n", 1).encode())
            expected = {(f.rule_id, f.line) for f in flat_res.findings}
        assert got == expected, name


def test_deep_nesting_through_the_command_line_and_patch_mode(tmp_path):
    code = MMAP + "{\n" * DEPTH + "\tvma->vm_flags |= VM_IO;\n" + "}\n" * DEPTH + "return 0;\n}\n"
    tree = make_tree(tmp_path / "linux", files={"drivers/deep.c": code})
    rc, out, err = run_inprocess("check", "--no-cache", "--strict", "--format", "json", ".", cwd=tree)
    assert rc == 1, err
    assert findings(out) == [("DAX301", "drivers/deep.c", DEPTH + 3)] and json.loads(out)["skipped"] == []
    body = code.splitlines()
    patch = (
        "From: a@example.org\nSubject: [PATCH] deep: add\n\n---\ndiff --git a/drivers/deep.c b/drivers/deep.c\nnew file mode 100644\n"
        f"--- /dev/null\n+++ b/drivers/deep.c\n@@ -0,0 +1,{len(body)} @@\n" + "".join(f"+{ln}\n" for ln in body)
    )
    rc, out, err = run_inprocess(
        "patch", "--strict", "--kernel-version", "6.3", "--format", "json", "-", cwd=tmp_path, stdin=patch.encode()
    )
    assert rc == 1, err
    assert findings(out) == [("DAX301", "drivers/deep.c", DEPTH + 3)] and json.loads(out)["skipped"] == []


def test_parents_come_from_one_descent():
    """parent_of() answers from one recorded descent: the chain of a node
    30,000 deep is asked of tree-sitter once, not once per level."""
    from daxlint.core.source import SourceFile
    from daxlint.core.syntax import ancestors, enclosing_function, parent_index, walk

    code = (MMAP + "{" * 2000 + "vma->vm_flags |= VM_IO;" + "}" * 2000 + "\nreturn 0;\n}\n").encode()
    with parent_index():
        src = SourceFile("x.c", code)
        (asg,) = walk(src.root, {"assignment_expression"})
        chain = list(ancestors(asg))
        assert chain[-1] == src.root and len(chain) > 2000
        assert [n.type for n in chain] == [n.type for n in _slow_ancestors(asg)]
        assert enclosing_function(asg).type == "function_definition"
    assert enclosing_function(asg).type == "function_definition"  # outside the index: Node.parent


def _slow_ancestors(node):
    out = []
    n = node.parent
    while n is not None:
        out.append(n)
        n = n.parent
    return out


class _Timeout:
    """Stands for a file that takes longer than the limit."""

    def __call__(self, *a, **k):
        from daxlint.core.engine import FileTimeout

        raise FileTimeout()


SKIP_LINES = {
    "text": b"drivers/misc/drv.c: skipped: took longer than 60s, skipped",
    "json": b'"reason": "took longer than 60s, skipped',
    "sarif": b"skipped drivers/misc/drv.c: took longer than 60s",
    "github": b"::warning file=drivers/misc/drv.c,title=daxlint skipped::took longer than 60s",
    "checkpatch": b"NOTE: skipped drivers/misc/drv.c: took longer than 60s",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_skipped_for_time_shows_in_every_format_and_strict_fails(tmp_path, monkeypatch, fmt):
    from daxlint.core.engine import Engine

    monkeypatch.setattr(Engine, "_analyze_views", _Timeout())
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    rc, out, err = run_inprocess("check", "--no-cache", "--format", fmt, ".", cwd=tree)
    assert rc == 0 and SKIP_LINES[fmt] in out, (out, err)
    for extra in ([], ["--exit-zero"]):
        rc, out, err = run_inprocess("check", "--no-cache", "--strict", *extra, "--format", fmt, ".", cwd=tree)
        assert rc == 2 and SKIP_LINES[fmt] in out
        assert (
            err.decode().strip()
            == "daxlint: error: 1 file could not be analysed (--strict): drivers/misc/drv.c: took longer than 60s, skipped"
        )
    patch = "From: a@example.org\nSubject: [PATCH] misc: add\n\n---\n--- /dev/null\n+++ b/drivers/misc/drv.c\n@@ -0,0 +1,5 @@\n" + "".join(
        f"+{ln}\n" for ln in DIRECT_WRITE.splitlines()
    )
    rc, out, err = run_inprocess("patch", "--format", fmt, "-", cwd=tmp_path, stdin=patch.encode())
    assert rc == 0 and b"took longer than 60s" in out, (out, err)
    rc, out, err = run_inprocess("patch", "--strict", "--format", fmt, "-", cwd=tmp_path, stdin=patch.encode())
    assert rc == 2 and b"took longer than 60s" in out and b"(--strict)" in err


def test_strict_counts_internal_errors_and_nothing_on_a_clean_run(tmp_path, monkeypatch):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    rc, _, err = run_inprocess("check", "--no-cache", "--strict", ".", cwd=tree)
    assert rc == 1 and err == b""
    from daxlint.core.rule import Rule

    rules = __import__("daxlint.core.registry", fromlist=["all_rules"]).all_rules()
    dax301 = next(c for c in rules if c.id == "DAX301")
    monkeypatch.setattr(dax301, "check", lambda self, ctx: 1 / 0)
    assert issubclass(dax301, Rule)
    rc, out, err = run_inprocess("check", "--no-cache", "--strict", ".", cwd=tree)
    assert rc == 2 and b"internal error in DAX301" in out and b"ZeroDivisionError" in err


def test_audit_strict_fails_on_a_skipped_commit(tmp_path):
    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/foo/drv.c", "int x;\n")
    r.commit("one")
    r.write("drivers/foo/drv.c", "int y;\n")
    r.commit("two")
    r.write("drivers/foo/drv.c", "int z;\n")
    r.commit("three")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{r.path}", str(shallow)], check=True, capture_output=True)
    rc, out, err = run_inprocess("audit", "--repo", str(shallow), "--no-cache", "-q", "HEAD")
    assert rc == 0, err
    rc, out, err = run_inprocess("audit", "--repo", str(shallow), "--no-cache", "-q", "--strict", "HEAD")
    assert rc == 2 and b"could not be analysed (--strict): commit " in err


# -- 10. mail without a diff: a note and exit 0; a malformed diff stays exit 2 -----

COVER = (
    "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
    "From: Dev <dev@example.org>\nDate: Sun, 29 Nov 2026 00:08:24 +0000\nSubject: [PATCH 0/2] dax: a driver\n\n"
    "This series adds a driver.\n\nDev (2):\n  dax: add foo\n  dax: add bar\n\n drivers/dax/foo.c | 4 ++++\n"
    " 1 file changed, 4 insertions(+)\n\n-- \n2.39.5\n\n"
)
REPLY = (
    "From: Reviewer <r@example.org>\nSubject: Re: [PATCH 1/2] dax: add foo\nIn-Reply-To: <x@example.org>\n\n"
    "On Sun, Dev wrote:\n> +\tvma->vm_flags |= VM_IO;\n\nPlease use vm_flags_set().\n"
)
B64_REPLY = (
    "From: Reviewer <r@example.org>\nSubject: Re: [PATCH] dax: add foo\nMIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes(b"Looks good to me.\n\nReviewed-by: R <r@example.org>\n").decode()
)
NO_PATCH_SEEN = {
    "text": b"no patch in this mail",
    "json": b"no patch in this mail",
    "sarif": b"no patch in this mail",
    "github": b"::notice title=daxlint::",
    "checkpatch": b"NOTE: <stdin>:1: no patch in this mail",
}


@pytest.mark.parametrize("mail", ["cover", "reply", "base64 reply", "mbox of cover letters"])
def test_mail_without_a_diff_is_a_note_and_exit_0(tmp_path, mail):
    data = {"cover": COVER, "reply": REPLY, "base64 reply": B64_REPLY, "mbox of cover letters": COVER + COVER}[mail]
    for fmt in FORMATS:
        rc, out, err = run_inprocess("patch", "--format", fmt, "-", cwd=tmp_path, stdin=data.encode())
        assert rc == 0 and err == b"", (fmt, err)
        seen = (
            NO_PATCH_SEEN[fmt] if not (mail == "cover" or mail.startswith("mbox")) or fmt != "checkpatch" else b"NOTE: <stdin>:2: no patch"
        )
        assert seen in out, (fmt, out)
    rc, out, _ = run_inprocess("patch", "--format", "json", "-", cwd=tmp_path, stdin=data.encode())
    notes = [n for n in json.loads(out)["notes"] if "no patch in this mail" in n]
    assert len(notes) == (2 if mail.startswith("mbox") else 1)
    rc, out, _ = run_inprocess("patch", "--format", "checkpatch", "--terse", "-", cwd=tmp_path, stdin=data.encode())
    assert rc == 0 and b"no patch in this mail" in out and b"total:" not in out


def test_cover_letter_file_as_a_hook_gets_it(tmp_path):
    p = tmp_path / "0000-cover-letter.patch"
    p.write_text(COVER)
    rc, out, err = run_inprocess("patch", "--format", "checkpatch", "--terse", str(p), cwd=tmp_path)
    assert rc == 0 and err == b""
    assert out.decode().splitlines() == [f"NOTE: {p}:2: no patch in this mail (a cover letter or a reply?): nothing to check"]


@pytest.mark.parametrize(
    "data,message",
    [
        (b"just some text\n", b"no diff found (not a patch?)"),
        (b"", b"no diff found (not a patch?)"),
        (
            b"From: a@example.org\nSubject: [PATCH] x\n\n---\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n-a\n+b\n",
            b"malformed diff",
        ),
    ],
)
def test_what_is_not_mail_or_is_a_broken_diff_stays_exit_2(tmp_path, data, message):
    rc, out, err = run_inprocess("patch", "-", cwd=tmp_path, stdin=data)
    assert rc == 2 and out == b"" and message in err and len(err.strip().splitlines()) == 1


def _format_patches(tmp_path, files: dict[str, str], cover: bool = True) -> tuple[Path, list[Path]]:
    r = ScratchRepo(tmp_path / "repo")
    r.git("config", "user.name", "Ann Author")
    r.git("config", "user.email", "ann@example.org")
    r.write("drivers/dax/base.c", "int base;\n")
    r.commit("base")
    for i, (path, text) in enumerate(files.items()):
        r.write(path, text)
        r.commit(f"dax: change {i + 1}")
    out = tmp_path / "outgoing"
    args = ["format-patch", "-q", "-o", str(out), f"HEAD~{len(files)}"] + (["--cover-letter"] if cover else [])
    r.git(*args)
    return r.path, sorted(out.glob("*.patch"))


def _sendemail_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp_path / "home"), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def _have_send_email(env) -> bool:
    usage = subprocess.run(["git", "send-email", "-h"], capture_output=True, text=True, env=env)
    ok = "git send-email" in usage.stdout + usage.stderr
    perl = subprocess.run(["perl", "-MMail::Address", "-e1"], capture_output=True, env=env).returncode == 0
    return ok and perl


def test_git_send_email_validate_hook(tmp_path):
    """daxlint as .git/hooks/sendemail-validate: git send-email runs it on
    every file, the cover letter included, one at a time; a finding
    rejects the series, a clean one (cover letter and all) passes."""
    env = _sendemail_env(tmp_path)
    if not _have_send_email(env):
        pytest.skip("git send-email or perl Mail::Address missing (apt-get install git-email libmailtools-perl)")
    clean = "static int ok_mmap(struct file *f, struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}\n"
    repo, patches = _format_patches(
        tmp_path, {"drivers/dax/ok.c": clean, "drivers/dax/foo.c": DIRECT_WRITE, "drivers/dax/bar.c": "int bar;\n"}
    )
    hook = repo / ".git" / "hooks" / "sendemail-validate"
    hook.write_text(f'#!/bin/sh\nexec {sys.executable} -m daxlint patch --format checkpatch --terse --showfile "$1"\n')
    hook.chmod(0o755)

    def send(files):
        cmd = ["git", "send-email", "--dry-run", "--force", "--confirm=never", "--to", "x@example.invalid", *map(str, files)]
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)

    bad = send(patches)
    assert bad.returncode != 0 and "rejected by sendemail-validate hook" in bad.stderr
    assert "drivers/dax/foo.c:3: ERROR:DAX301:" in bad.stderr and "0002-" in bad.stderr
    good = send([p for p in patches if not p.name.startswith("0002-")])
    assert good.returncode == 0, good.stderr
    assert good.stdout.count("Result: OK") == 3  # the cover letter and two clean patches


def test_b4_prep_check(tmp_path):
    """daxlint patch as b4's prep-perpatch-check-cmd (one RFC 822 patch
    mail on standard input per patch): the patch with a finding fails, the
    clean one succeeds."""
    b4 = shutil.which("b4")
    if b4 is None:
        pytest.skip("b4 is not installed (pip install b4)")
    env = _sendemail_env(tmp_path)
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    r = ScratchRepo(tmp_path / "repo")
    r.git("config", "user.name", "Ann Author")
    r.git("config", "user.email", "ann@example.org")
    r.write("drivers/dax/base.c", "int base;\n")
    r.commit("base")

    def b4_run(*args):
        return subprocess.run([b4, *args], cwd=r.path, env=env, capture_output=True, text=True, timeout=300)

    started = b4_run("prep", "-n", "test")
    if started.returncode != 0:
        pytest.skip(f"b4 prep does not start here: {started.stderr.strip()[:200]}")
    for path, text, subject in (("drivers/dax/foo.c", DIRECT_WRITE, "dax: add foo"), ("drivers/dax/bar.c", "int bar;\n", "dax: add bar")):
        r.write(path, text)
        for git_args in (["add", path], ["commit", "-q", "-s", "-m", subject]):
            subprocess.run(["git", *git_args], cwd=r.path, env=env, check=True, capture_output=True)
    r.git(
        "config",
        "b4.prep-perpatch-check-cmd",
        f"{sys.executable} -m daxlint patch --kernel-version 6.3 --format checkpatch --terse --showfile -",
    )
    res = b4_run("prep", "--check", "--no-cache")
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout + res.stderr)
    assert "drivers/dax/foo.c:3: ERROR:DAX301:" in text, text
    assert re.search(r"Success: 1, Warning: \d+, Error: 1", text), text


# -- 11. a finding rests on the line the patch added; checkpatch prints real lines --


def test_finding_on_a_continuation_line_the_patch_added(tmp_path):
    mail = (
        "From: a@example.org\nSubject: [PATCH] x: drop PFN_MAP\n\n---\n"
        "diff --git a/drivers/x.c b/drivers/x.c\n--- a/drivers/x.c\n+++ b/drivers/x.c\n"
        "@@ -1,7 +1,7 @@\n"
        " static long x_direct_access(struct dax_device *d, pgoff_t pgoff, long nr, enum dax_access_mode mode, void **kaddr, pfn_t *pfn)\n"
        " {\n \tstruct x *x = dax_get_private(d);\n"
        " \t*pfn = phys_to_pfn_t(x->phys,\n-\t\t\t     PFN_DEV | PFN_MAP);\n+\t\t\t     PFN_DEV);\n \treturn nr;\n }\n"
    )
    rc, out, err = run_inprocess("patch", "--kernel-version", "6.1", "--format", "json", "-", cwd=tmp_path, stdin=mail.encode())
    assert rc == 1, err
    (f,) = json.loads(out)["findings"]
    assert (f["rule_id"], f["line"], f["column"], f["snippet"], f["patch_line"]) == ("DAX101", 5, 9, "PFN_DEV);", 14)
    assert f["diff_lines"] == [" \t*pfn = phys_to_pfn_t(x->phys,", "+\t\t\t     PFN_DEV);"]
    rc, out, _ = run_inprocess("patch", "--kernel-version", "6.1", "--format", "checkpatch", "-", cwd=tmp_path, stdin=mail.encode())
    assert "#14: FILE: drivers/x.c:5:\n \t*pfn = phys_to_pfn_t(x->phys,\n+\t\t\t     PFN_DEV);\n" in out.decode()
    rc, out, _ = run_inprocess("patch", "--kernel-version", "6.1", "--format", "text", "-", cwd=tmp_path, stdin=mail.encode())
    assert out.startswith(b"drivers/x.c:5:9: warning[DAX101]")


def test_checkpatch_keeps_the_added_line_indentation(tmp_path):
    diff = "--- /dev/null\n+++ b/drivers/q.c\n@@ -0,0 +1,5 @@\n" + "".join(f"+{ln}\n" for ln in DIRECT_WRITE.splitlines())
    rc, out, _ = run_inprocess("patch", "--kernel-version", "6.3", "--format", "checkpatch", "-", cwd=tmp_path, stdin=diff.encode())
    assert rc == 1 and "#6: FILE: drivers/q.c:3:\n+\tvma->vm_flags |= VM_IO;\n" in out.decode()


# -- 12. text and checkpatch show the fix -------------------------------------------

FAULT_WRITE = (
    "static vm_fault_t drv_fault(struct vm_fault *vmf)\n{\n\tvmf->vma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"
    "static const struct vm_operations_struct drv_vm_ops = {\n\t.fault = drv_fault,\n};\n"
)
FIX_302 = "decide the flags once in ->mmap(), or take mmap_write_lock() around the change"
FIX_204 = "add 'depends on ZONE_DEVICE' (or, for page-less memory, 'select FS_DAX_LIMITED')"


def test_text_and_checkpatch_show_the_fix(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/fault.c": FAULT_WRITE, "drivers/misc/drv.c": DIRECT_WRITE})
    rc, out, _ = run_inprocess("check", "--no-cache", ".", cwd=tree)
    lines = out.decode().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("drivers/misc/fault.c:3:2: ") and "[DAX302]" in ln)
    assert lines[i + 1] == f"    fix: {FIX_302}"
    # DAX301's message already names its replacement: not said twice.
    j = next(i for i, ln in enumerate(lines) if ln.startswith("drivers/misc/drv.c:3:2: error[DAX301]"))
    assert "use vm_flags_set(vma, VM_IO)" in lines[j] and not lines[j + 1].startswith("    fix:")
    rc, out, _ = run_inprocess("check", "--no-cache", "--format", "checkpatch", ".", cwd=tree)
    assert f"#3: FILE: drivers/misc/fault.c:3:\n+vmf->vma->vm_flags |= VM_IO;\nfix: {FIX_302}\n" in out.decode()
    rc, out, _ = run_inprocess("check", "--no-cache", "--format", "checkpatch", "--terse", ".", cwd=tree)
    (line,) = [ln for ln in out.decode().splitlines() if ln.startswith("drivers/misc/fault.c:3: ") and ":DAX302: " in ln]
    assert line.endswith(f"(fix: {FIX_302})")


def test_rich_text_shows_the_fix():
    from rich.console import Console

    from daxlint.model import Finding, Report, Severity
    from daxlint.output.rich_text import print_report

    report = Report(findings=[Finding("DAX204", Severity.WARNING, "Kconfig", 1, 1, "no ZONE_DEVICE", fix=FIX_204)], kernel_version="6.3")
    console = Console(file=io.StringIO(), width=200)
    print_report(report, console)
    assert f"fix: {FIX_204}" in console.file.getvalue()


# -- 13. info findings (checkpatch's CHECK) never fail a run unless asked ------------

INFO_ONLY = (
    "static int m(struct file *f, struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO); /* daxlint: ignore */\n\treturn 0;\n}\n"
)


def test_info_findings_fail_only_with_fail_on_info(tmp_path):
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/info.c": INFO_ONLY})
    rc, out, _ = run_inprocess("check", "--format", "json", ".", cwd=tree)
    assert rc == 0 and [(f["rule_id"], f["severity"]) for f in json.loads(out)["findings"]] == [("DAX001", "info")]
    assert run_inprocess("check", "--fail-on", "info", ".", cwd=tree)[0] == 1

    diff = "--- /dev/null\n+++ b/drivers/misc/info.c\n@@ -0,0 +1,5 @@\n" + "".join(f"+{ln}\n" for ln in INFO_ONLY.splitlines())
    rc, out, _ = run_inprocess("patch", "--kernel-version", "6.3", "--format", "checkpatch", "-", cwd=tmp_path, stdin=diff.encode())
    assert rc == 0 and b"CHECK:DAX001:" in out
    rc, _, _ = run_inprocess("patch", "--kernel-version", "6.3", "--fail-on", "info", "-", cwd=tmp_path, stdin=diff.encode())
    assert rc == 1

    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    r.write("drivers/misc/info.c", INFO_ONLY)
    r.commit("misc: add")
    rc, out, _ = run_inprocess("audit", "--repo", str(r.path), "--no-cache", "-q", "--format", "json", "HEAD~1..HEAD")
    assert rc == 0 and [f["rule_id"] for f in json.loads(out)["commits"][0]["introduced"]] == ["DAX001"]
    rc, _, _ = run_inprocess("audit", "--repo", str(r.path), "--no-cache", "-q", "--fail-on", "info", "HEAD~1..HEAD")
    assert rc == 1


def test_error_lines_on_stderr_carry_no_raw_escapes(tmp_path):
    mail = b"From: a@example.org\nSubject: [PATCH] x\x1b]0;pwned\x07\n\n---\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n-a\n+b\n"
    rc, _, err = run_inprocess("patch", "-", cwd=tmp_path, stdin=mail)
    assert rc == 2 and b"\x1b" not in err and b"\\x1b]0;pwned\\x07" in err
    rc, _, err = run_inprocess("check", "gone\x1b[2J.c", cwd=tmp_path)
    assert rc == 2 and b"\x1b" not in err and b"gone\\x1b[2J.c: no such file" in err


def test_sarif_with_skips_and_odd_names_is_valid_sarif(tmp_path):
    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    tree = _tree_with_raw_name(tmp_path)
    (tree / "blob.c").write_bytes(b"vma->vm_flags |= VM_IO;" + bytes(range(32)) * 4)
    rc, out, _ = run_inprocess("check", "--no-cache", "--format", "sarif", ".", cwd=tree)
    assert rc == 1
    doc = json.loads(out)
    jsonschema.validate(doc, schema)
    (note,) = [n for n in doc["runs"][0]["invocations"][0]["toolExecutionNotifications"] if "blob.c" in n["message"]["text"]]
    assert note["level"] == "warning" and note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "blob.c"


def test_a_guarded_fix_prints_one_line_each(tmp_path):
    """Over a range that spans v6.3 the fix is the #if/#else/#endif form: text
    and checkpatch print it as the lines it is, terse checkpatch keeps one line."""
    tree = make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})
    guarded = [
        "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)",
        "\tvm_flags_set(vma, VM_IO);",
        "#else",
        "\tvma->vm_flags |= VM_IO;",
        "#endif",
    ]
    rc, out, _ = run_inprocess("check", "--no-cache", "--kernel-version", "4.14..6.12", ".", cwd=tree)
    lines = out.decode().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("drivers/misc/drv.c:3:2: error[DAX301]"))
    assert lines[i + 1 : i + 6] == ["    fix: " + guarded[0]] + ["         " + g for g in guarded[1:]]
    rc, out, _ = run_inprocess("check", "--no-cache", "--kernel-version", "4.14..6.12", "--format", "checkpatch", ".", cwd=tree)
    assert "\n".join(["fix: " + guarded[0]] + ["     " + g for g in guarded[1:]]) + "\n" in out.decode()
    rc, out, _ = run_inprocess("check", "--no-cache", "--kernel-version", "4.14..6.12", "--format", "checkpatch", "--terse", ".", cwd=tree)
    (line,) = [ln for ln in out.decode().splitlines() if ":DAX301: " in ln]
    assert line.endswith("(fix: " + "\\x0a".join(guarded) + ")")


def test_checkpatch_gives_no_clean_verdict_to_a_patch_it_could_not_check(tmp_path):
    """A new file over the size limit is skipped: the checkpatch layout must
    not call the patch clean (a mail hook reads that line)."""
    body = "".join(f"+int pad{i};\n" for i in range(40)) + "".join("+" + ln + "\n" for ln in DIRECT_WRITE.splitlines())
    n = body.count("\n")
    diff = f"--- /dev/null\n+++ b/drivers/toy/toy.c\n@@ -0,0 +1,{n} @@\n{body}"
    (tmp_path / ".daxlint.toml").write_text("max-file-size = 200\n")
    rc, out, err = run_inprocess("patch", "--format", "checkpatch", "-", cwd=tmp_path, stdin=diff.encode())
    text = out.decode()
    assert "has no obvious DAX policy problems" not in text
    assert "was not checked completely (see the notes): no verdict." in text and "NOTE: skipped drivers/toy/toy.c: too large" in text


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_a_patch_saved_as_utf16_is_read(tmp_path, codec):
    """PowerShell's `git format-patch ... > x.patch` writes UTF-16 with a BOM:
    read as the patch it is (it was "binary data"); real binary still is."""
    diff = "--- /dev/null\n+++ b/drivers/q.c\n@@ -0,0 +1,5 @@\n" + "".join("+" + ln + "\n" for ln in DIRECT_WRITE.splitlines())
    (tmp_path / "x.patch").write_bytes(diff.encode(codec))
    rc, out, err = run_inprocess("patch", "--no-tree", "--kernel-version", "6.12", "--format", "json", "x.patch", cwd=tmp_path)
    assert rc == 1, err
    assert [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]] == [("DAX301", "drivers/q.c", 3)]
    (tmp_path / "bin.patch").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    rc, out, err = run_inprocess("patch", "--no-tree", "bin.patch", cwd=tmp_path)
    assert rc == 2 and err.decode().strip() == "daxlint: error: bin.patch: binary data, not a patch or mail"
