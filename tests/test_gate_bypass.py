"""Ways past the gate (issue 28): input that turned a finding into exit 0.
Each test reproduces one on the code before its fix - line separators
Python splits at and git does not, changed files git calls binary, GIT
binary patches, replace refs, suppressions a patch adds itself, a hunk
header git calls corrupt, a pure copy - and asserts rule, file and line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from audit_repo import ScratchRepo
from conftest import run_daxlint

# A ->mmap that is clean on v6.3; the tests' commits add lines to it.
FOO_C = "static int foo_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}\n"
WRITE = "\tvma->vm_flags |= VM_DONTEXPAND;\n"
FORMATS = ("text", "json", "sarif", "github", "checkpatch")


def findings(out: str) -> list[tuple[str, str, int]]:
    return [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]]


def add_lines(r: ScratchRepo, rel: str, lines: str, subject: str) -> str:
    """Commit ``lines`` inserted above ``return 0;`` of ``rel``."""
    p = r.path / rel
    p.write_bytes(p.read_bytes().replace(b"\treturn 0;\n", lines.encode("utf-8", "surrogateescape") + b"\treturn 0;\n", 1))
    return r.commit(subject)


def format_patches(r: ScratchRepo, rev_range: str, out: Path) -> list[Path]:
    r.git("format-patch", "-q", "-o", str(out), rev_range)
    return sorted(out.glob("*.patch"))


def export(r: ScratchRepo, rev: str, dest: Path) -> Path:
    dest.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=r.path, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def patch_modes(r: ScratchRepo, base: str, patches: list[Path], tmp_path: Path):
    """(mode, exit status, stdout, stderr) of ``daxlint patch`` on the series
    in every mode: hunks alone, --tree (a plain copy of the base), checkout
    (run in the repository at the base) and --git (the commits)."""
    names = [str(p) for p in patches]
    tree = export(r, base, tmp_path / "tree")
    yield ("hunks", *run_daxlint("patch", "--no-tree", "--kernel-version", "6.3", "--format", "json", *names, cwd=tmp_path))
    yield ("tree", *run_daxlint("patch", "--tree", str(tree), "--format", "json", *names, cwd=tmp_path))
    tip = r.head()
    r.checkout(base)
    try:
        yield ("checkout", *run_daxlint("patch", "--format", "json", *names, cwd=r.path))
    finally:
        r.checkout(tip)
    yield ("git", *run_daxlint("patch", "--git", f"{base}..{tip}", "--format", "json", cwd=r.path))


# -- item 2: lines are split as git splits them -----------------------------------

# What str.splitlines() splits at and git (and the compiler) do not.
SEPARATORS = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r"]


@pytest.mark.parametrize("alone", [True, False], ids=["alone-on-its-line", "in-a-comment"])
@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(c):04X}" for c in SEPARATORS])
def test_a_line_separator_above_a_write_does_not_hide_it(tmp_path, sep, alone):
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    above = f"{sep}\n" if alone else f"\t/* odd {sep} byte */\n"
    add_lines(r, "drivers/dax/foo.c", above + WRITE, "dax: foo: do not let the mapping grow")
    patches = format_patches(r, f"{base}..HEAD", tmp_path / "out")
    for mode, rc, out, err in patch_modes(r, base, patches, tmp_path):
        assert (mode, rc) == (mode, 1), err
        assert (mode, findings(out)) == (mode, [("DAX301", "drivers/dax/foo.c", 5)])
        [f] = json.loads(out)["findings"]
        assert f["snippet"] == "vma->vm_flags |= VM_DONTEXPAND;", mode


def test_a_separator_planted_by_an_earlier_patch_does_not_hide_a_later_write(tmp_path):
    """Patch 1 puts a form feed on a line of its own; patch 2 adds the
    write below it."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    add_lines(r, "drivers/dax/foo.c", "\f\n", "dax: foo: a page break")
    add_lines(r, "drivers/dax/foo.c", WRITE, "dax: foo: do not let the mapping grow")
    patches = format_patches(r, f"{base}..HEAD", tmp_path / "out")
    for mode, rc, out, err in patch_modes(r, base, patches, tmp_path):
        assert (mode, rc) == (mode, 1), err
        assert [(f["patch"], f["rule_id"], f["line"]) for f in json.loads(out)["findings"]] == [(2, "DAX301", 5)], mode


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(c):04X}" for c in SEPARATORS])
def test_check_reports_the_line_git_and_the_snippet_agree_on(tmp_path, sep):
    """``check`` names the line by git's count and shows that line's text."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C.replace("{\n", "{\n\t/* " + sep + " */\n", 1).replace("\treturn 0;\n", WRITE + "\treturn 0;\n"))
    rc, out, err = run_daxlint("check", "--format", "json", "drivers/dax/foo.c", cwd=r.path)
    assert rc == 1, err
    [f] = json.loads(out)["findings"]
    assert (f["rule_id"], f["line"], f["snippet"]) == ("DAX301", 5, "vma->vm_flags |= VM_DONTEXPAND;")
    # --diff: the same line is a changed line
    r.commit("with the separator")
    add_lines(r, "drivers/dax/foo.c", f"{sep}\n" + WRITE.replace("DONTEXPAND", "DONTDUMP"), "another")
    r.git("reset", "-q", "--soft", "HEAD~1")
    rc, out, err = run_daxlint("check", "--diff", "HEAD", "--format", "json", "drivers/dax/foo.c", cwd=r.path)
    assert rc == 1, err
    assert [(f["rule_id"], f["line"], f["snippet"]) for f in json.loads(out)["findings"]] == [
        ("DAX301", 7, "vma->vm_flags |= VM_DONTDUMP;")
    ]


# -- item 1: --diff checks the changed C files git calls binary -------------------

OLD_WRITER = "static int old_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"
BASE_TEXT = FOO_C + "\n" + OLD_WRITER  # an old DAX301 at line 9: not on a changed line


def _encoded(text: str, how: str) -> bytes:
    if how == "utf-16":
        return text.encode("utf-16")  # with a byte order mark
    if how == "nul":
        return text.replace("/* nul */", "/* n\0l */").encode()
    return text.encode()


@pytest.mark.parametrize("how", ["-diff", "binary", "nul", "utf-16"])
def test_diff_checks_changed_files_git_calls_binary(tmp_path, how):
    """A .gitattributes `-diff` or `binary`, a NUL byte or UTF-16: git's
    diff says only "Binary files differ"; daxlint still finds the lines
    that changed (the blob against the work tree, both read as the parser
    reads them) and reports the write on one of them - not the old one."""
    r = ScratchRepo(tmp_path / "linux")
    if how in ("-diff", "binary"):
        r.write(".gitattributes", f"*.c {how}\n")
    base = BASE_TEXT.replace("{\n", "{\n\t/* nul */\n", 1)
    (r.path / "drivers/dax").mkdir(parents=True)
    (r.path / "drivers/dax/foo.c").write_bytes(_encoded(base, how))
    r.commit("base")
    changed = base.replace("\treturn 0;\n", WRITE + "\treturn 0;\n", 1)
    (r.path / "drivers/dax/foo.c").write_bytes(_encoded(changed, how))
    (r.path / "drivers/dax/new.c").write_bytes(_encoded(OLD_WRITER.replace("old_", "new_"), how))  # untracked, all new
    r.git("add", "drivers/dax/new.c")
    diff = r.git("diff", "HEAD", "--", "drivers/dax/foo.c")
    assert "Binary files" in diff, diff
    for fmt in FORMATS:
        rc, out, err = run_daxlint("check", "--diff", "HEAD", "--format", fmt, ".", cwd=r.path)
        assert rc == 1, (fmt, out, err)
    rc, out, err = run_daxlint("check", "--diff", "HEAD", "--format", "json", ".", cwd=r.path)
    assert findings(out) == [("DAX301", "drivers/dax/foo.c", 5), ("DAX301", "drivers/dax/new.c", 3)]
    assert json.loads(out)["diff"]["hidden"] == 1  # old_mmap's write, on a line the change left alone


# -- item 6: a GIT binary patch of a C file ------------------------------------------


def _binary_series(tmp_path: Path) -> tuple[ScratchRepo, str, Path]:
    """A commit that adds drivers/dax/bin.c with a NUL byte (git diffs it as
    binary) and a write at line 3, then one that adds a second write to it
    at line 4 (old_mmap's write at line 9 stays as it was)."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    (r.path / "drivers/dax/bin.c").write_bytes(OLD_WRITER.replace("old_", "bin_").encode() + b"/* \0 */\n" + OLD_WRITER.encode())
    r.commit("dax: add bin")
    add_lines(r, "drivers/dax/bin.c", WRITE, "dax: bin: do not let the mapping grow")
    out = tmp_path / "out"
    r.git("format-patch", "-q", "--binary", "-o", str(out), f"{base}..HEAD")
    return r, base, out


def test_git_binary_patch_is_checked_when_its_blob_is_known(tmp_path):
    """--git reads each commit's files: a C file git diffs as binary is
    analysed, its lines compared with the parent's (so only the lines each
    commit changed count). In the checkout the series came from, the blob
    its index line names is found as git am -3 finds it."""
    r, base, out = _binary_series(tmp_path)
    patches = sorted(out.glob("*.patch"))
    assert all(b"GIT binary patch" in p.read_bytes() for p in patches)
    rc, text, err = run_daxlint("patch", "--git", f"{base}..HEAD", "--format", "json", cwd=r.path)
    assert rc == 1, err
    got = [(f["patch"], f["rule_id"], f["path"], f["line"]) for f in json.loads(text)["findings"]]
    assert got == [(1, "DAX301", "drivers/dax/bin.c", 3), (1, "DAX301", "drivers/dax/bin.c", 9), (2, "DAX301", "drivers/dax/bin.c", 4)]
    tip = r.head()
    r.checkout(base)
    try:
        rc, text, err = run_daxlint("patch", "--strict", "--format", "json", *map(str, patches), cwd=r.path)
    finally:
        r.checkout(tip)
    assert rc == 1, err
    got = [(f["patch"], f["rule_id"], f["path"], f["line"]) for f in json.loads(text)["findings"]]
    assert got == [(1, "DAX301", "drivers/dax/bin.c", 3), (1, "DAX301", "drivers/dax/bin.c", 9), (2, "DAX301", "drivers/dax/bin.c", 4)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_git_binary_patch_without_its_blob_is_a_note_and_strict_fails(tmp_path, fmt):
    """Without the repository the binary data came from, daxlint does not
    know the file: never "no findings" in silence - a skipped-file note in
    every format, and --strict exits 2."""
    _r, _base, out = _binary_series(tmp_path)
    patches = [str(p) for p in sorted(out.glob("*.patch"))]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rc, text, err = run_daxlint("patch", "--kernel-version", "6.3", "--format", fmt, *patches, cwd=elsewhere)
    assert rc == 0, err
    assert "drivers/dax/bin.c" in text and "GIT binary patch" in text, text
    rc, text, err = run_daxlint("patch", "--kernel-version", "6.3", "--strict", "--format", fmt, *patches, cwd=elsewhere)
    assert rc == 2, text + err
    assert "2 files could not be analysed (--strict): drivers/dax/bin.c: GIT binary patch" in err, err


# -- item 22: deep multipart nesting, corrupt hunk headers, pure copies -------------


def _nested_mail(levels: int) -> bytes:
    """A patch mail whose text part sits inside ``levels`` multipart parts."""
    s = "From: a@example.org\nSubject: [PATCH] x\nMIME-Version: 1.0\n"
    for i in range(levels):
        s += f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
    s += "Content-Type: text/plain\n\n---\n--- /dev/null\n+++ b/drivers/dax/x.c\n@@ -0,0 +1,5 @@\n"
    s += "".join("+" + ln for ln in OLD_WRITER.splitlines(keepends=True))
    for i in reversed(range(levels)):
        s += f"\n--b{i}--\n"
    return s.encode()


def test_deeply_nested_multipart_mail_is_one_clear_error(tmp_path):
    (tmp_path / "deep.mbox").write_bytes(_nested_mail(5000))
    rc, out, err = run_daxlint("patch", "--kernel-version", "6.3", "deep.mbox", cwd=tmp_path)
    assert rc == 2, out + err
    assert err.strip().splitlines() == [
        "daxlint: error: deep.mbox:1: mail has more than 64 multipart parts (5000): not read as a patch mail"
    ]
    # The nesting real mail has (a patch inside mixed and alternative parts) is read.
    (tmp_path / "shallow.mbox").write_bytes(_nested_mail(3))
    rc, out, err = run_daxlint("patch", "--kernel-version", "6.3", "--format", "json", "shallow.mbox", cwd=tmp_path)
    assert rc == 1, err
    assert findings(out) == [("DAX301", "drivers/dax/x.c", 3)]


@pytest.mark.parametrize("header", ["@@ -0,0 +1,-3 @@", "@@ -0,0 +a,3 @@", "@@ -0,0 +1,3", "@@ -x +1,3 @@", "@@ -0,0 +1,3 @"])
def test_a_corrupt_hunk_header_is_an_error_as_in_git(tmp_path, header):
    """git apply says "corrupt patch at line N"; daxlint too, never a silent
    "0 files" (exit 0)."""
    mail = (
        "From: a@example.org\nSubject: [PATCH] x\n\n---\ndiff --git a/drivers/dax/x.c b/drivers/dax/x.c\nnew file mode 100644\n"
        f"--- /dev/null\n+++ b/drivers/dax/x.c\n{header}\n" + "".join("+" + ln for ln in OLD_WRITER.splitlines(keepends=True)[:3])
    )
    (tmp_path / "x.patch").write_text(mail)
    git_says = subprocess.run(["git", "apply", "--check", "x.patch"], cwd=tmp_path, capture_output=True, text=True)
    assert "corrupt patch at line 9" in git_says.stderr
    rc, out, err = run_daxlint("patch", "--kernel-version", "6.3", "x.patch", cwd=tmp_path)
    assert rc == 2, out + err
    assert err.strip().splitlines() == [
        f'daxlint: error: x.patch:9: corrupt patch in patch "x": hunk header {header!r} (git apply: corrupt patch)'
    ]


def test_a_pure_copy_of_a_file_with_a_finding_is_checked_in_every_mode(tmp_path):
    """format-patch -C at 100% similarity: no hunk, yet a new file with the
    write appears. With the tree (--tree, checkout, --git) the copy is
    analysed whole; by hunks alone its content is not known: a skipped-file
    note, and --strict exits 2."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    r.write("drivers/dax/old.c", OLD_WRITER)
    base = r.commit("base")
    r.write("drivers/dax/copy.c", OLD_WRITER)
    r.commit("dax: copy old")
    out = tmp_path / "out"
    r.git("format-patch", "-q", "-C", "-C", "-o", str(out), f"{base}..HEAD")
    patches = sorted(out.glob("*.patch"))
    text = patches[0].read_text()
    assert "similarity index 100%" in text and "copy from drivers/dax/old.c" in text and "@@" not in text
    for mode, rc, stdout, err in patch_modes(r, base, patches, tmp_path):
        if mode == "hunks":
            assert rc == 0, err
            doc = json.loads(stdout)
            assert doc["findings"] == [] and [s["path"] for s in doc["skipped"]] == ["drivers/dax/copy.c"], doc
            assert "copy of drivers/dax/old.c" in doc["skipped"][0]["reason"]
            continue
        assert (mode, rc) == (mode, 1), err
        assert (mode, findings(stdout)) == (mode, [("DAX301", "drivers/dax/copy.c", 3)])
    rc, stdout, err = run_daxlint("patch", "--no-tree", "--strict", "--kernel-version", "6.3", *map(str, patches), cwd=tmp_path)
    assert rc == 2 and "could not be analysed (--strict): drivers/dax/copy.c: copy of drivers/dax/old.c" in err, err


# -- item 7: one view of history: objects as stored, replace refs not followed -----


def test_audit_sees_history_as_stored_whatever_git_replace_says(tmp_path):
    """`git replace --graft` makes the tip's parent the base, hiding the
    commit that brought the write in: rev-list follows the graft, pygit2
    does not. daxlint runs git with GIT_NO_REPLACE_OBJECTS=1 - the history
    a clone gets (replace refs are not fetched by default) - so the commit
    that introduced the write is audited as such."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    add_lines(r, "drivers/dax/foo.c", WRITE, "dax: foo: do not let the mapping grow")
    r.write("drivers/dax/other.c", "int other;\n")
    tip = r.commit("dax: other")
    r.git("replace", "--graft", tip, base)
    assert r.git("rev-list", f"{base}..{tip}").split() == [tip]  # git log now skips the write's commit
    rc, out, err = run_daxlint("audit", "--repo", str(r.path), "--no-cache", "-j", "1", "--format", "json", f"{base}..{tip}")
    assert rc == 1, err
    doc = json.loads(out)
    got = [(c["subject"], f["rule_id"], f["path"], f["line"]) for c in doc["commits"] for f in c["introduced"]]
    assert got == [("dax: foo: do not let the mapping grow", "DAX301", "drivers/dax/foo.c", 4)]
    # --git and --diff read the same history
    rc, out, err = run_daxlint("patch", "--git", f"{base}..{tip}", "--format", "json", cwd=r.path)
    assert rc == 1, err
    assert [(f["patch"], f["rule_id"], f["line"]) for f in json.loads(out)["findings"]] == [(1, "DAX301", 4)]
    rc, out, err = run_daxlint("check", "--diff", base, "--format", "json", ".", cwd=r.path)
    assert rc == 1 and findings(out) == [("DAX301", "drivers/dax/foo.c", 4)], err


# -- item 8: suppressions are counted, shown to SARIF, and can be refused -----------

SILENCED = (
    "static int foo_mmap(struct file *file, struct vm_area_struct *vma)\n{\n"
    "\t/* daxlint: ignore[DAX301] */\n\tvma->vm_flags |= VM_DONTEXPAND;\n\treturn 0;\n}\n"
)
SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
SUPPRESSED_TEXT = "1 suppressed by daxlint: ignore comments"


def _suppressed_tree(tmp_path: Path) -> Path:
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", SILENCED)
    r.commit("base")
    return r.path


def test_suppressed_findings_are_counted_in_every_format(tmp_path):
    import jsonschema

    root = _suppressed_tree(tmp_path)
    outs = {}
    for fmt in FORMATS:
        rc, outs[fmt], err = run_daxlint("check", "--format", fmt, ".", cwd=root)
        assert rc == 0, (fmt, err)
    assert outs["text"].splitlines()[-1] == f"No findings in 1 file (kernel 6.3); {SUPPRESSED_TEXT}."
    assert outs["github"].splitlines()[-1] == f"No findings in 1 file (kernel 6.3); {SUPPRESSED_TEXT}."
    assert outs["checkpatch"].splitlines()[-1] == "total: 0 errors, 0 warnings, 0 checks, 1 suppressed"
    doc = json.loads(outs["json"])
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == 1
    [s] = doc["suppressed"]
    assert (s["rule_id"], s["path"], s["line"], s["suppression"]) == (
        "DAX301",
        "drivers/dax/foo.c",
        4,
        {"line": 3, "comment": "daxlint: ignore[DAX301]"},
    )
    sarif = json.loads(outs["sarif"])
    jsonschema.validate(sarif, SARIF_SCHEMA)
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "DAX301" and result["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert result["suppressions"] == [{"kind": "inSource", "justification": "daxlint: ignore[DAX301] at line 3"}]


def test_no_suppressions_reports_what_the_comments_silence(tmp_path):
    """--no-suppressions (ruff's --ignore-noqa, semgrep's --disable-nosem):
    a gate that must see them gets them as findings."""
    root = _suppressed_tree(tmp_path)
    rc, out, err = run_daxlint("check", "--no-suppressions", "--format", "json", ".", cwd=root)
    assert rc == 1, err
    assert findings(out) == [("DAX301", "drivers/dax/foo.c", 4)]
    assert json.loads(out)["summary"]["suppressed"] == 0
    # the cache keeps the two runs apart
    rc, out, err = run_daxlint("check", "--format", "json", ".", cwd=root)
    assert rc == 0 and findings(out) == [], err


def test_a_patch_that_adds_its_own_suppression_says_so(tmp_path):
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    add_lines(r, "drivers/dax/foo.c", "\t/* daxlint: ignore[DAX301] */\n" + WRITE, "dax: foo: do not let the mapping grow")
    patches = format_patches(r, f"{base}..HEAD", tmp_path / "out")
    note = (
        'patch 1 ("dax: foo: do not let the mapping grow") adds a suppression comment at drivers/dax/foo.c:4 '
        "(daxlint: ignore[DAX301]), which silences DAX301 at line 5"
    )
    for mode, rc, out, err in patch_modes(r, base, patches, tmp_path):
        assert (mode, rc) == (mode, 0), err
        doc = json.loads(out)
        assert doc["findings"] == [] and doc["summary"]["suppressed"] == 1, mode
        assert note in doc["notes"], (mode, doc["notes"])
    for fmt in FORMATS:
        rc, out, err = run_daxlint("patch", "--no-tree", "--kernel-version", "6.3", "--format", fmt, *map(str, patches), cwd=tmp_path)
        assert rc == 0 and "adds a suppression comment at drivers/dax/foo.c:4" in out, (fmt, out)
    rc, out, err = run_daxlint("patch", "--git", f"{base}..HEAD", "--no-suppressions", "--format", "json", cwd=r.path)
    assert rc == 1, err
    assert [(f["patch"], f["rule_id"], f["line"]) for f in json.loads(out)["findings"]] == [(1, "DAX301", 5)]


def test_audit_counts_suppressed_findings_and_does_not_call_them_fixed(tmp_path):
    """A commit that silences a finding with a comment did not fix it: the
    audit lists it as suppressed by that commit; --no-suppressions reports
    it as still open."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/dax/foo.c", FOO_C)
    base = r.commit("base")
    add_lines(r, "drivers/dax/foo.c", WRITE, "dax: foo: do not let the mapping grow")
    p = r.path / "drivers/dax/foo.c"
    p.write_text(p.read_text().replace(WRITE, "\t/* daxlint: ignore[DAX301] */\n" + WRITE))
    tip = r.commit("dax: foo: silence it")

    def audit(*extra):
        rc, out, err = run_daxlint("audit", "--repo", str(r.path), "--no-cache", "-j", "1", "--format", "json", *extra, f"{base}..{tip}")
        assert rc in (0, 1), err
        return rc, json.loads(out)

    rc, doc = audit()
    assert rc == 0
    events = [
        (c["subject"], kind, f["rule_id"], f["line"])
        for c in doc["commits"]
        for kind in ("introduced", "fixed", "suppressed")
        for f in c[kind]
    ]
    assert events == [
        ("dax: foo: do not let the mapping grow", "introduced", "DAX301", 4),
        ("dax: foo: silence it", "suppressed", "DAX301", 5),
    ]
    assert doc["summary"]["suppressed"] == 1
    rc, text, err = run_daxlint("audit", "--repo", str(r.path), "--no-cache", "-j", "1", f"{base}..{tip}")
    assert "1 suppressed by daxlint: ignore comments" in text.splitlines()[-1], text
    rc, doc = audit("--no-suppressions")
    assert rc == 1 and doc["summary"]["suppressed"] == 0 and doc["summary"]["still_open"] == 1
