"""Hostile input through the whole command line (issue 15): random bytes
and mutated patches - made here from real kernel files, the Debian trees
when they are unpacked, the repository's own C otherwise - fed to ``daxlint
patch``, and random bytes as C files and as file names fed to ``daxlint
check``. Whatever comes in: no traceback and no internal error, an exit
status in {0, 1, 2}, output that is valid UTF-8, and no file written
anywhere but the report (--output), the cache and the store.

The command runs in this process (``daxlint.cli.main``) so that a few
hundred examples stay quick; a few examples also run as a real process.
Examples are derandomized: a failure here reproduces on every run."""

from __future__ import annotations

import difflib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, kernel_tree_module, run_daxlint, run_inprocess

FORMATS = ("text", "json", "sarif", "github", "checkpatch")
# Real files with DAX-relevant code: pfn_t providers, ->mmap and fault paths.
KERNEL_FILES = [
    ("6.1", "drivers/dax/device.c"),
    ("6.1", "drivers/nvdimm/pmem.c"),
    ("6.1", "fs/cramfs/inode.c"),
    ("6.12", "drivers/s390/block/dcssblk.c"),
    ("6.12", "drivers/dax/device.c"),
]
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _sources() -> list[tuple[str, str]]:
    """(path in the tree, text) of the files the patches are made from."""
    out = []
    for version, rel in KERNEL_FILES:
        root = kernel_tree_module.cache_root() / f"linux-source-{version}"
        p = root / rel
        if p.is_file():
            out.append((rel, p.read_text(encoding="utf-8", errors="surrogateescape")))
    if not out:  # no Debian tree unpacked: the repository's own kernel-style C
        for p in sorted((REPO / "examples").rglob("*.c")) + sorted((REPO / "corpus").rglob("*.c"))[:8]:
            out.append((str(p.relative_to(REPO)), p.read_text(encoding="utf-8", errors="surrogateescape")))
    return out


SOURCES = _sources()
INSERTS = [
    "static int fz_mmap(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n",
    "static long fz_direct_access(struct dax_device *d, pgoff_t pgoff, long nr, enum dax_access_mode mode,\n"
    "\t\t\t      void **kaddr, pfn_t *pfn)\n{\n\t*pfn = phys_to_pfn_t(pgoff << PAGE_SHIFT,\n\t\t\t     PFN_DEV);\n\treturn nr;\n}\n",
    "\tvma->vm_flags |= VM_IO | VM_DONTEXPAND;\n",
    "\tvma->vm_flags &= ~VM_MAYWRITE;\n",
    "\t*pfn = phys_to_pfn_t(addr,\n\t\t\t     PFN_DEV);\n",
    "\tpage = pfn_t_to_page(pfn);\n",
    "\t.direct_access = x_direct_access,\n",
    "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)\n",
    "#endif\n",
    "{\n",
    "}\n",
    "\t/* caf\xe9 \udcff\udcfe */\n",
    "\t/* \x1b]0;title\x07 \x1b[2J [/bold] */\n",
]


@st.composite
def patches(draw) -> bytes:
    """A format-patch mail that changes a real file, then damaged."""
    path, text = draw(st.sampled_from(SOURCES))
    lines = text.splitlines(keepends=True)
    new = list(lines)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        at = rnd.randrange(len(new) + 1)
        kind = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if kind == "insert":
            text_in = draw(st.sampled_from(INSERTS))
            if text_in.startswith("static"):  # a whole function: after one that ends here
                ends = [i + 1 for i, ln in enumerate(new) if ln == "}\n"] or [len(new)]
                at = ends[rnd.randrange(len(ends))]
            new[at:at] = text_in.splitlines(keepends=True)
        elif kind == "delete" and new:
            del new[min(at, len(new) - 1)]
        elif new:
            new.insert(at, new[min(at, len(new) - 1)])
    diff = "".join(difflib.unified_diff(lines, new, f"a/{path}", f"b/{path}", n=draw(st.integers(0, 4))))
    subject = draw(st.sampled_from(["dax: fix it", 'Revert "[/bold] x"', "[media] foo: bar", "x\x1b[2J"]))
    mail = f"From: Dev <dev@example.org>\nSubject: [PATCH] {subject}\n\n---\ndiff --git a/{path} b/{path}\n{diff}"
    data = bytearray(mail.encode("utf-8", "surrogateescape"))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 4]))):  # damage the mail itself
        where = rnd.randrange(len(data) + 1)
        op = draw(st.sampled_from(["flip", "cut", "truncate", "garbage", "line"]))
        if op == "flip" and data:
            data[min(where, len(data) - 1)] ^= 1 << rnd.randrange(8)
        elif op == "cut":
            del data[where : where + rnd.randrange(1, 80)]
        elif op == "truncate":
            del data[where:]
        elif op == "garbage":
            data[where:where] = draw(st.binary(min_size=1, max_size=40))
        else:
            data[where:where] = draw(
                st.sampled_from([b"\n@@ -1,3 +1,4 @@\n", b"\n+++ b/../../etc/x.c\n", b"\n--- /dev/null\n", b"\n\\ No newline\n"])
            )
    return bytes(data)


def _tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st_ = os.lstat(p)
            out[os.fsdecode(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


class Sandbox:
    """A working directory, a cache and a temporary directory of its own;
    ``run`` checks the contracts and that nothing else was written."""

    def __init__(self, base: Path):
        self.base = Path(tempfile.mkdtemp(dir=base))
        self.work = self.base / "work"
        self.cache = self.base / "cache"
        self.tmp = self.base / "tmp"
        for d in (self.work, self.cache, self.tmp):
            d.mkdir()
        (self.work / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n")

    def run(self, *args: str, stdin: bytes = b"", output: Path | None = None) -> int:
        before = _tree_snapshot(self.work)
        saved_env, saved_tmp = os.environ.get("XDG_CACHE_HOME"), tempfile.tempdir
        os.environ["XDG_CACHE_HOME"] = str(self.cache)
        tempfile.tempdir = str(self.tmp)
        try:
            rc, out, err = run_inprocess(*args, cwd=self.work, stdin=stdin)
        finally:
            tempfile.tempdir = saved_tmp
            if saved_env is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = saved_env
        text = err.decode("utf-8", "replace")
        assert rc in (0, 1, 2), (rc, text)
        assert "Traceback" not in text and "internal error" not in text, text
        if rc == 2:
            assert len(text.strip().splitlines()) == 1, text  # one clear line
        out.decode("utf-8")  # every format is valid UTF-8
        after = _tree_snapshot(self.work)
        if output is not None:
            after.pop(str(output), None)
            before.pop(str(output), None)
        assert after == before, set(after.items()) ^ set(before.items())
        assert not any(self.tmp.iterdir()), list(self.tmp.iterdir())
        return rc

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, **SETTINGS)
@given(patches(), st.sampled_from(FORMATS), st.booleans(), st.booleans())
def test_mutated_real_patches(fuzz_base, data, fmt, terse, to_file):
    box = Sandbox(fuzz_base)
    try:
        out = box.work / "report.out" if to_file else None
        args = ["patch", "--format", fmt, "-"] + (["--terse"] if terse else []) + (["-o", str(out)] if out else [])
        box.run(*args, stdin=data, output=out)
    finally:
        box.close()


@settings(max_examples=150, **SETTINGS)
@given(st.binary(max_size=3000), st.sampled_from(FORMATS))
def test_random_bytes_as_patches(fuzz_base, data, fmt):
    box = Sandbox(fuzz_base)
    try:
        box.run("patch", "--format", fmt, "-", stdin=data)
        # The same bytes after a mail header and a diff header.
        framed = b"From: a@example.org\nSubject: [PATCH] x\n\n---\n--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,3 @@\n" + data
        box.run("patch", "--format", fmt, "-", stdin=framed)
    finally:
        box.close()


file_names = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
c_like = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.sampled_from([i.encode("utf-8", "surrogateescape") for i in INSERTS] + [b"int x;\n", b"\xff\xfe", b"\0"]), max_size=30).map(
        lambda parts: b"static int m(struct file *f, struct vm_area_struct *vma)\n{\n" + b"".join(parts) + b"\n}\n"
    ),
)


@settings(max_examples=150, **SETTINGS)
@given(st.lists(st.tuples(file_names, c_like), min_size=1, max_size=5), st.sampled_from(FORMATS), st.booleans(), st.booleans())
def test_random_files_and_file_names(fuzz_base, files, fmt, cached, to_file):
    box = Sandbox(fuzz_base)
    try:
        tree = box.work / "tree"
        tree.mkdir()
        for name, content in files:
            with open(os.path.join(os.fsencode(tree), name + b".c"), "wb") as fh:
                fh.write(content)
        out = box.work / "report.out" if to_file else None
        args = ["check", "-j", "1", "--format", fmt, "tree"] + ([] if cached else ["--no-cache"]) + (["-o", str(out)] if out else [])
        box.run(*args, output=out)
        if cached:  # the second run answers from the cache
            box.run(*args, output=out)
        # The same files as a list on standard input, one of them missing.
        listing = b"\n".join(b"tree/" + name + b".c" for name, _ in files) + b"\ntree/gone.c\n"
        box.run("check", "-j", "1", "--no-cache", "--format", fmt, "-", stdin=listing)
    finally:
        box.close()


def test_a_few_real_processes(tmp_path):
    """Some of the same inputs through a real process: real standard
    streams, real exit status."""
    rnd = random.Random(15)
    work = tmp_path / "work"
    work.mkdir()
    (work / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 3\n")
    path, text = SOURCES[0]
    lines = text.splitlines(keepends=True)
    new = lines[:]
    new.insert(len(new) // 2, INSERTS[0])
    diff = "".join(difflib.unified_diff(lines, new, f"a/{path}", f"b/{path}"))
    mail = f"From: a@example.org\nSubject: [PATCH] [media] x\x1b[2J\n\n---\n{diff}".encode()
    inputs = [mail, mail[: len(mail) // 2], bytes(rnd.randrange(256) for _ in range(2000)), b""]
    (work / "n\udcffme.c".encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")).write_bytes(
        b"\xff\xfe" + INSERTS[0].encode()
    )
    for data in inputs:
        for fmt in ("text", "checkpatch"):
            rc, out, err = _run_bytes(["patch", "--format", fmt, "-"], work, data)
            assert rc in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err
    rc, out, err = run_daxlint("check", "--format", "sarif", ".", cwd=work)
    assert rc in (0, 1) and "Traceback" not in err, err


def _run_bytes(args, cwd, data: bytes):
    import subprocess
    import sys

    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("DAXLINT_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "daxlint", *args], cwd=cwd, input=data, capture_output=True, env=env, timeout=300)
    out = proc.stdout.decode("utf-8")  # valid UTF-8 from a real process too
    return proc.returncode, out, proc.stderr.decode("utf-8", "replace")


# -- #if arithmetic against gcc (issue 28) ------------------------------------------

C_EDGE_LITERALS = [
    "0", "1", "2", "3", "7", "63", "64", "65", "255", "256",
    "0x7fffffffffffffff", "0x8000000000000000", "0xffffffffffffffff", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "0u", "1u", "2U", "63u", "64u", "1l", "1ul", "1LL", "1ULL", "010", "0b11", "0x10",
    "'a'", "'\\0'", "'\\377'", "'\\x80'", "'ab'", "'\\n'",
]  # fmt: skip
C_UNARY = ["-", "~", "!", "+"]
C_BINARY = ["+", "-", "*", "/", "%", "<<", ">>", "<", ">", "<=", ">=", "==", "!=", "&", "^", "|", "&&", "||"]


@st.composite
def c_conditions(draw, depth: int = 3) -> tuple[str, bool]:
    """A fully parenthesised #if condition over C's integer edge cases -
    the signed and unsigned limits, shifts past the width, negative
    counts, character constants, mixed signedness in every operator - and
    whether it divides by zero somewhere, evaluated or not (C then leaves
    the type of a conditional with such an arm open, and daxlint the value)."""
    from daxlint.core.preprocessor import UNKNOWN, Macros, evaluate

    kind = draw(st.sampled_from(["leaf", "leaf", "unary", "binary", "binary", "ternary"] if depth else ["leaf"]))
    if kind == "leaf":
        return draw(st.sampled_from(C_EDGE_LITERALS)), False
    if kind == "unary":
        operand, undefined = draw(c_conditions(depth - 1))
        return f"{draw(st.sampled_from(C_UNARY))}({operand})", undefined
    parts = [draw(c_conditions(depth - 1)) for _ in range(2 if kind == "binary" else 3)]
    undefined = any(u for _, u in parts)
    if kind == "ternary":
        return f"({parts[0][0]} ? {parts[1][0]} : {parts[2][0]})", undefined
    op = draw(st.sampled_from(C_BINARY))
    if op in ("/", "%"):
        divisor = evaluate(parts[1][0], Macros(lambda name: (False, None)))
        undefined = undefined or divisor is UNKNOWN or divisor == 0
    return f"({parts[0][0]} {op} {parts[1][0]})", undefined


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@settings(max_examples=50, **SETTINGS)
@given(st.lists(c_conditions(), min_size=20, max_size=40))
def test_if_arithmetic_is_gccs(conditions):
    """Each generated condition: daxlint's value is gcc's (signed and
    unsigned char), or undecided where gcc refuses it or C leaves it open."""
    import gcc_cpp

    undefined = {expr for expr, open_ in conditions if open_}
    assert gcc_cpp.disagreements([expr for expr, _ in conditions], allowed_unknown=undefined.__contains__) == []


# -- line separators Python splits at and git does not (issue 28) ------------------

LINE_SEPARATORS = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r", "\r\n"]
MMAP_LINES = [
    "static int fz_mmap(struct file *f, struct vm_area_struct *vma)\n",
    "{\n",
    "\tint ret = 0;\n",
    "\t/* set up the mapping */\n",
    "\tvm_flags_set(vma, VM_IO);\n",
    "\treturn ret;\n",
    "}\n",
]


@st.composite
def separated_sources(draw) -> tuple[list[str], int]:
    """A ->mmap with line separators planted in its lines (alone on a line,
    inside a comment, at a line's end) above and below a direct write, and
    the write's line as git counts lines."""
    lines = list(MMAP_LINES)
    write_at = draw(st.integers(2, len(lines) - 2))
    lines.insert(write_at, "\tvma->vm_flags |= VM_DONTEXPAND;\n")
    for _ in range(draw(st.integers(1, 5))):
        sep = draw(st.sampled_from(LINE_SEPARATORS))
        where = draw(st.integers(1, len(lines) - 1))
        shape = draw(st.sampled_from(["alone", "comment", "end"]))
        if shape == "alone":
            lines.insert(where, sep + ("" if sep.endswith("\n") else "\n"))
        elif shape == "comment":
            lines.insert(where, f"\t/* {sep} */\n")
        else:
            lines[where] = lines[where][:-1] + sep + ("" if sep.endswith("\n") else "\n")
    line = next(i for i, text in enumerate(lines, 1) if "vma->vm_flags |=" in text)
    return lines, line


@settings(max_examples=60, **SETTINGS)
@given(separated_sources(), st.sampled_from(["new", "changed"]))
def test_line_separators_never_move_or_hide_a_write(fuzz_base, source, how):
    """Wherever form feeds, vertical tabs, U+2028 and lone CRs sit, ``patch``
    (by hunks, and with the tree) and ``check`` report the write on the line
    git numbers it, with that line's text."""
    lines, line = source
    box = Sandbox(fuzz_base)
    try:
        rel = "drivers/dax/fz.c"
        target = box.work / rel
        target.parent.mkdir(parents=True)
        if how == "new":
            old: list[str] = []
            header = f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n"
        else:
            old = [x for x in lines if "vma->vm_flags |=" not in x]
            header = f"diff --git a/{rel} b/{rel}\n--- a/{rel}\n+++ b/{rel}\n"
            target.write_bytes("".join(old).encode("utf-8"))
        hunk = "".join(difflib.unified_diff(old, lines, n=3))
        diff = header + hunk[hunk.index("@@") :]
        mail = f"From: Dev <dev@example.org>\nSubject: [PATCH] fz\n\n---\n{diff}".encode()
        for mode in (["--no-tree"], ["--tree", "."]):
            rc, out, err = run_inprocess("patch", *mode, "--kernel-version", "6.3", "--format", "json", "-", cwd=box.work, stdin=mail)
            assert rc == 1, err
            got = [(f["rule_id"], f["line"], f["snippet"]) for f in json.loads(out)["findings"]]
            assert got == [("DAX301", line, "vma->vm_flags |= VM_DONTEXPAND;")], (mode, got)
        target.write_bytes("".join(lines).encode("utf-8"))
        rc, out, err = run_inprocess("check", "--no-cache", "--kernel-version", "6.3", "--format", "json", rel, cwd=box.work)
        got = [(f["rule_id"], f["line"]) for f in json.loads(out)["findings"]]
        assert got == [("DAX301", line)], got
    finally:
        box.close()


# -- diffs git writes as binary (issue 28) ------------------------------------------

BINARY_MARKS = ["", "*.c -diff\n", "*.c binary\n", "*.c diff\n", "*.c -text\n", "*.c -diff -merge\n"]
ENCODINGS = ["utf-8", "utf-16", "utf-16-le-nobom", "nul"]


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16":
        return text.encode("utf-16")
    if encoding == "utf-16-le-nobom":
        return text.encode("utf-16-le")
    if encoding == "nul":
        return text.replace("/* set up", "/* \0set up").encode()
    return text.encode()


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(
        ["git", "-c", "user.name=f", "-c", "user.email=f@example.org", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


@settings(max_examples=25, **SETTINGS)
@given(st.sampled_from(BINARY_MARKS), st.sampled_from(ENCODINGS), st.integers(2, len(MMAP_LINES) - 2), st.booleans())
def test_diff_sees_writes_in_files_git_calls_binary(fuzz_base, marks, encoding, at, staged):
    """However .gitattributes marks a C file and whatever its encoding,
    ``check --diff HEAD`` reports a write added to it on its line, and
    not the file's old write."""
    box = Sandbox(fuzz_base)
    try:
        rel = "drivers/dax/fz.c"
        target = box.work / rel
        target.parent.mkdir(parents=True)
        old_write = "static int old(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n"
        base = "".join(MMAP_LINES) + old_write
        (box.work / ".gitattributes").write_text(marks)
        target.write_bytes(_encode(base, encoding))
        _git(box.work, "init", "-q")
        _git(box.work, "add", "-A")
        _git(box.work, "commit", "-qm", "base")
        lines = list(MMAP_LINES)
        lines.insert(at, "\tvma->vm_flags |= VM_DONTEXPAND;\n")
        target.write_bytes(_encode("".join(lines) + old_write, encoding))
        if staged:
            _git(box.work, "add", rel)
        rc, out, err = run_inprocess("check", "--no-cache", "--diff", "HEAD", "--format", "json", ".", cwd=box.work)
        assert rc == 1, err
        assert [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]] == [("DAX301", rel, at + 1)]
    finally:
        box.close()


@st.composite
def binary_marked_series(draw) -> tuple[bytes, set[str], set[str]]:
    """A mail whose files are diffs git writes as binary ("GIT binary
    patch" with literal or delta data, "Binary files ... differ") for C
    files, headers and others, beside a text diff adding a write: the
    mail, the C files it carries as binary, and those of its text diffs."""
    parts, binary_c, text_c = [], set(), set()
    for i in range(draw(st.integers(1, 4))):
        name = f"drivers/dax/f{i}.{draw(st.sampled_from(['c', 'h', 'png', 'o']))}"
        kind = draw(st.sampled_from(["literal", "delta", "differ", "text"]))
        new_file = draw(st.booleans())
        head = f"diff --git a/{name} b/{name}\n" + ("new file mode 100644\n" if new_file else "")
        head += f"index {'0' * 7 if new_file else 'abcdef1'}..1234567 100644\n"
        old_name = "/dev/null" if new_file else f"a/{name}"
        if kind == "text":
            body = f"--- {old_name}\n+++ b/{name}\n@@ -0,0 +1,5 @@\n" + "".join("+" + ln for ln in INSERTS[0].splitlines(keepends=True))
            if new_file and name.endswith((".c", ".h")):
                text_c.add(name)
            else:
                continue  # a text diff of an existing file without its context would not parse as git's
        elif kind == "differ":
            body = f"Binary files {old_name} and b/{name} differ\n"
        else:
            data = draw(
                st.lists(
                    st.sampled_from(["zcmXReNi4}sR>;gNQOMOOE-5NaE>TF!%t=+yO4Ct*", "HcmV?d00001", "Kc${NkU|>)6000"]), min_size=1, max_size=3
                )
            )
            body = f"GIT binary patch\n{kind} {draw(st.integers(0, 500))}\n" + "\n".join(data) + "\n\nliteral 0\nHcmV?d00001\n\n"
        if kind != "text" and name.endswith((".c", ".h")):
            binary_c.add(name)
        parts.append(head + body)
    mail = "From: Dev <dev@example.org>\nSubject: [PATCH] fz: binary\n\n---\n" + "".join(parts)
    return mail.encode(), binary_c, text_c


@settings(max_examples=60, **SETTINGS)
@given(binary_marked_series(), st.sampled_from(FORMATS))
def test_binary_marked_diffs_never_pass_unread(fuzz_base, series, fmt):
    """A C file a patch carries as binary, whose content daxlint cannot
    know here (no repository), is a skipped file in every format and
    fails --strict; the text diffs beside it are still checked."""
    mail, binary_c, text_c = series
    box = Sandbox(fuzz_base)
    try:
        rc, out, err = run_inprocess("patch", "--kernel-version", "6.3", "--format", "json", "-", cwd=box.work, stdin=mail)
        if not binary_c and not text_c:
            assert rc in (0, 2), err  # nothing daxlint reads (or a mail that is no patch at all)
            return
        assert rc == (1 if text_c else 0), err
        doc = json.loads(out)
        assert {s["path"] for s in doc["skipped"]} == binary_c
        assert {f["path"] for f in doc["findings"]} == text_c
        strict_rc = box.run("patch", "--kernel-version", "6.3", "--strict", "--format", fmt, "-", stdin=mail)
        assert strict_rc == (2 if binary_c else 1)
    finally:
        box.close()
