"""The files daxlint writes on request (``-o``, baselines, ``--html``, the
audit store, the result cache): regular files are replaced atomically
through an unpredictable exclusive temporary that never survives a failure;
devices, FIFOs and streams are written through, never replaced; symlinks
are followed only where that is safe; databases are never replaced."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_cli import DIRECT_WRITE, make_tree

from audit_repo import ScratchRepo, mmap_writer
from conftest import run_daxlint, run_inprocess

REPORT_FORMATS = ("text", "json", "sarif", "github", "checkpatch")


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE})


@pytest.fixture
def outdir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def make_char_device(path: Path) -> None:
    """A character device node like /dev/null (1, 3); skips when the
    sandbox does not allow mknod."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")


class FifoReader:
    """Reads a FIFO to its end in a thread (a writer blocks until then)."""

    def __init__(self, path: Path):
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self.thread.start()

    def _read(self, path):
        with open(path, "rb") as fh:
            self.data = fh.read()

    def result(self) -> bytes:
        self.thread.join(30)
        return self.data


# -- 1. anything that is not a regular file is written through ------------------


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_device_node_is_written_through_not_replaced(tree, outdir, fmt):
    dev = outdir / "null"
    make_char_device(dev)
    rc, out, err = run_inprocess("check", "--format", fmt, "-o", str(dev), ".", cwd=tree)
    assert rc == 1, err
    assert out == b""
    assert stat.S_ISCHR(os.lstat(dev).st_mode) and os.lstat(dev).st_rdev == os.makedev(1, 3)
    assert listing(outdir) == ["null"]


def test_device_node_as_subprocess_like_the_issue(tree, outdir):
    dev = outdir / "n"
    make_char_device(dev)
    rc, _, err = run_daxlint("check", ".", "-o", str(dev), cwd=tree)
    assert rc == 1, err
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_fifo_is_written_through(tree, outdir):
    fifo = outdir / "report.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    rc, _, err = run_inprocess("check", "--format", "json", "-o", str(fifo), ".", cwd=tree)
    assert rc == 1, err
    data = json.loads(reader.result())
    assert [(f["rule_id"], f["path"], f["line"]) for f in data["findings"]] == [("DAX301", "drivers/misc/drv.c", 3)]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert listing(outdir) == ["report.fifo"]


def test_symlink_to_a_device_stays_a_symlink_to_the_device(tree, outdir):
    dev = outdir / "dev"
    make_char_device(dev)
    link = outdir / "report.txt"
    link.symlink_to(dev)
    rc, _, err = run_inprocess("check", "-o", str(link), ".", cwd=tree)
    assert rc == 1, err
    assert os.readlink(link) == str(dev) and stat.S_ISCHR(os.lstat(dev).st_mode)
    assert listing(outdir) == ["dev", "report.txt"]


@pytest.mark.parametrize("stream", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_standard_output_names_write_to_standard_output(tree, stream):
    rc, out, err = run_daxlint("check", "--format", "json", "-o", stream, ".", cwd=tree)
    assert rc == 1, err
    assert json.loads(out)["findings"][0]["rule_id"] == "DAX301"


def test_dev_stdout_redirected_to_a_file_appends_and_never_replaces_it(tree, outdir):
    target = outdir / "log.txt"
    target.write_text("earlier line\n")
    with open(target, "a") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "daxlint", "check", "-o", "/dev/stdout", "."], cwd=tree, stdout=fh, stderr=subprocess.PIPE, text=True
        )
    assert proc.returncode == 1, proc.stderr
    text = target.read_text()
    assert text.startswith("earlier line\n") and "drivers/misc/drv.c:3:2: error[DAX301]" in text
    assert listing(outdir) == ["log.txt"]


# -- regular files: atomic, through an unpredictable exclusive temporary --------


def test_new_file_gets_the_usual_mode_and_no_temporary_is_left(tree, outdir):
    out = outdir / "report.json"
    rc, _, err = run_inprocess("check", "--format", "json", "-o", str(out), ".", cwd=tree)
    assert rc == 1, err
    assert json.loads(out.read_text())["findings"][0]["line"] == 3
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert listing(outdir) == ["report.json"]


def test_existing_file_keeps_its_mode(tree, outdir):
    out = outdir / "report.txt"
    out.write_text("old\n")
    out.chmod(0o640)
    rc, _, _ = run_inprocess("check", "-o", str(out), ".", cwd=tree)
    assert rc == 1
    assert "error[DAX301]" in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_planted_symlink_at_the_old_predictable_temporary_name_is_ignored(tree, outdir, monkeypatch):
    victim = outdir / "victim"
    victim.write_text("precious\n")
    out = outdir / "out.json"
    planted = outdir / f"out.json.tmp-{os.getpid()}"
    planted.symlink_to(victim)
    renamed: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append(os.fspath(a)), real_replace(a, b))[1])
    rc, _, err = run_inprocess("check", "--format", "json", "-o", str(out), ".", cwd=tree)
    assert rc == 1, err
    assert victim.read_text() == "precious\n" and os.readlink(planted) == str(victim)
    assert json.loads(out.read_text())["findings"]
    # The temporary was made by mkstemp beside the target: hidden, random,
    # never a name derived from the pid.
    (tmp,) = renamed
    assert os.path.dirname(tmp) == str(outdir) and os.path.basename(tmp).startswith(".out.json.")
    assert str(os.getpid()) not in os.path.basename(tmp).removeprefix(".out.json.")


def test_temporaries_are_exclusive_and_unpredictable(outdir):
    from daxlint.core import outfiles

    seen = set()
    real_mkstemp = outfiles.tempfile.mkstemp

    def spy(**kw):
        fd, name = real_mkstemp(**kw)
        seen.add(name)
        return fd, name

    outfiles.tempfile.mkstemp, saved = spy, real_mkstemp
    try:
        for i in range(5):
            outfiles.write_file(outdir / "r.txt", f"run {i}\n")
    finally:
        outfiles.tempfile.mkstemp = saved
    assert len(seen) == 5
    assert (outdir / "r.txt").read_text() == "run 4\n" and listing(outdir) == ["r.txt"]


def test_symlink_to_a_regular_file_replaces_the_target_and_keeps_the_link(tree, outdir):
    target = outdir / "reports" / "daxlint.txt"
    target.parent.mkdir()
    target.write_text("old report\n")
    target.chmod(0o600)
    link = outdir / "latest.txt"
    link.symlink_to(target)
    rc, _, _ = run_inprocess("check", "-o", str(link), ".", cwd=tree)
    assert rc == 1
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert "error[DAX301]" in target.read_text() and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert listing(target.parent) == ["daxlint.txt"] and listing(outdir) == ["latest.txt", "reports"]


def test_dangling_symlink_is_refused(tree, outdir):
    link = outdir / "out.txt"
    link.symlink_to(outdir / "elsewhere" / "new.txt")
    rc, out, err = run_inprocess("check", "-o", str(link), ".", cwd=tree)
    assert rc == 2 and out == b""
    assert b"symlink to a missing file" in err and len(err.strip().splitlines()) == 1
    assert not (outdir / "elsewhere").exists() and link.is_symlink()


def test_symlink_planted_by_another_user_in_a_sticky_directory_is_not_followed(tree, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the link another owner")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = shared / "report.txt"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)
    rc, _, err = run_inprocess("check", "-o", str(link), ".", cwd=tree)
    assert rc == 2 and b"owned by another user" in err
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_directory_is_refused(tree, outdir):
    rc, _, err = run_inprocess("check", "-o", str(outdir), ".", cwd=tree)
    assert rc == 2 and b"is a directory" in err


# -- 3. a failed write leaves nothing behind -------------------------------------


@pytest.mark.parametrize("broken", ["write", "fsync"])
def test_enospc_removes_the_temporary_and_keeps_the_old_file(tree, outdir, monkeypatch, broken):
    out = outdir / "report.json"
    out.write_text("previous report\n")
    real = getattr(os, broken)

    def full(fd, *a):
        if fd > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *a)

    monkeypatch.setattr(os, broken, full)
    rc, _, err = run_inprocess("check", "--format", "json", "-o", str(out), ".", cwd=tree)
    assert rc == 2
    assert err.decode().strip() == f"daxlint: error: cannot write {out}: No space left on device"
    assert out.read_text() == "previous report\n" and listing(outdir) == ["report.json"]


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))


def test_real_write_failure_in_a_subprocess_leaves_no_temporary(tree, outdir):
    """A real failing write (RLIMIT_FSIZE: EFBIG, as ENOSPC would), not a
    simulated one: the report is larger than the limit."""
    out = outdir / "report.json"
    out.write_text("previous\n")
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "daxlint", "check", "--no-cache", "--format", "sarif", "-o", str(out), "."],
        cwd=tree,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stderr and "File too large" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_text() == "previous\n" and listing(outdir) == ["report.json"]


def test_interrupted_write_removes_the_temporary(outdir, monkeypatch):
    from daxlint.core import outfiles

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outfiles.write_file(outdir / "r.txt", "x")
    assert listing(outdir) == []


# -- the same rules for baselines, --html, the audit store and the cache ---------


def test_baselines_follow_the_same_rules(tree, outdir):
    base = outdir / "baseline.json"
    target = outdir / "real-baseline.json"
    base.symlink_to(target)
    target.write_text("")
    rc, _, err = run_inprocess("check", "--write-baseline", str(base), ".", cwd=tree)
    assert rc == 0, err
    assert base.is_symlink() and json.loads(target.read_text())["entries"][0]["rule_id"] == "DAX301"
    # --update-baseline drops the fixed entry, through the link again.
    (tree / "drivers/misc/drv.c").write_text(DIRECT_WRITE.replace("vma->vm_flags |= VM_IO;", "vm_flags_set(vma, VM_IO);"))
    rc, _, err = run_inprocess("check", "--baseline", str(base), "--update-baseline", ".", cwd=tree)
    assert rc == 0, err
    assert base.is_symlink() and json.loads(target.read_text())["entries"] == []
    assert listing(outdir) == ["baseline.json", "real-baseline.json"]
    dev = outdir / "dev"
    make_char_device(dev)
    rc, _, err = run_inprocess("check", "--write-baseline", str(dev), ".", cwd=tree)
    assert rc == 0, err
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


@pytest.fixture
def history(tmp_path):
    r = ScratchRepo(tmp_path / "repo")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    r.write("drivers/foo/drv.c", mmap_writer("foo_mmap"))
    r.commit("foo: add mmap")
    return r


def test_audit_html_and_output_follow_the_same_rules(history, outdir):
    dev = outdir / "dev"
    make_char_device(dev)
    fifo = outdir / "page.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    rc, _, err = run_inprocess(
        "audit", "--repo", str(history.path), "--no-cache", "-q", "-o", str(dev), "--html", str(fifo), "HEAD~1..HEAD"
    )
    assert rc == 1, err
    assert b"<html" in reader.result()
    assert stat.S_ISCHR(os.lstat(dev).st_mode) and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert listing(outdir) == ["dev", "page.fifo"]


def test_audit_store_on_a_device_is_refused_and_journals_are_not_made(history, outdir):
    dev = outdir / "store"
    make_char_device(dev)
    rc, out, err = run_inprocess("audit", "--repo", str(history.path), "--db", str(dev), "-q", "HEAD~1..HEAD")
    assert rc == 2 and out == b""
    assert b"not a regular file" in err and len(err.strip().splitlines()) == 1
    assert listing(outdir) == ["store"]


def test_audit_store_journal_planted_as_symlink_is_refused(history, outdir):
    victim = outdir / "victim"
    victim.write_text("precious\n")
    (outdir / "a.sqlite-wal").symlink_to(victim)
    rc, _, err = run_inprocess("audit", "--repo", str(history.path), "--db", str(outdir / "a.sqlite"), "-q", "HEAD~1..HEAD")
    assert rc == 2 and b"a.sqlite-wal is not a regular file" in err
    assert victim.read_text() == "precious\n"


def test_new_audit_store_is_created(history, outdir):
    db = outdir / "sub" / "audit.sqlite"
    rc, _, err = run_inprocess("audit", "--repo", str(history.path), "--db", str(db), "-q", "--format", "json", "HEAD~1..HEAD")
    assert rc == 1, err
    assert stat.S_ISREG(os.lstat(db).st_mode)


def test_cache_file_that_is_a_device_is_not_used(tree, tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    (xdg / "daxlint").mkdir(parents=True)
    dev = tmp_path / "dev"
    make_char_device(dev)
    (xdg / "daxlint" / "results-v3.sqlite").symlink_to(dev)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    rc, out, err = run_inprocess("check", "--format", "json", ".", cwd=tree)
    assert rc == 1, err
    notes = json.loads(out)["notes"]
    assert any("cache disabled" in n and "not a regular file" in n for n in notes), notes
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("dev")) == ["dev"]
    assert listing(xdg / "daxlint") == ["results-v3.sqlite"]


def test_new_cache_file_is_a_regular_file(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rc, _, _ = run_inprocess("check", ".", cwd=tree)
    assert rc == 1
    assert stat.S_ISREG(os.lstat(tmp_path / "xdg" / "daxlint" / "results-v3.sqlite").st_mode)


@pytest.mark.parametrize(
    "args, target",
    [
        (["check", "-o", "drivers/misc/drv.c", "."], "drivers/misc/drv.c"),  # a source the walk checks
        (["check", "-o", "drivers/misc/drv.c", "drivers/misc/drv.c"], "drivers/misc/drv.c"),  # the file named
        (["check", "--write-baseline", "drivers/misc/drv.c", "."], "drivers/misc/drv.c"),
        (["patch", "-o", "series.patch", "series.patch"], "series.patch"),
        # A header beside the checked file is read with it (macros, shims).
        (["check", "-o", "drivers/misc/drv_compat.h", "drivers/misc/drv.c"], "drivers/misc/drv_compat.h"),
        # The tree a series is checked against is read too.
        (["patch", "--tree", ".", "-o", "drivers/misc/drv.c", "series.patch"], "drivers/misc/drv.c"),
    ],
)
def test_an_input_is_never_the_output(tree, args, target):
    """Like gcc -o, a report is not written over a file the run reads: the
    checked source (or the patch) is left as it was, exit 2 with one line."""
    (tree / "series.patch").write_text("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-int a;\n+int b;\n")
    (tree / "x.c").write_text("int a;\n")
    (tree / "drivers/misc/drv_compat.h").write_text("#define DRV_COMPAT 1\n")
    before = (tree / target).read_bytes()
    rc, out, err = run_inprocess(*args, cwd=tree)
    option = "--write-baseline" if "--write-baseline" in args else "--output"
    assert rc == 2 and err.decode().strip().splitlines() == [
        f"daxlint: error: {option} {target}: is a file this run reads as input; write it elsewhere"
    ]
    assert (tree / target).read_bytes() == before


def test_a_report_beside_the_sources_is_written(tree):
    """A report file inside the checked tree that is not a source is fine."""
    rc, _, err = run_inprocess("check", "-o", "report.txt", ".", cwd=tree)
    assert rc == 1, err
    assert "DAX301" in (tree / "report.txt").read_text()
    rc, _, err = run_inprocess("check", "-o", "report.txt", ".", cwd=tree)  # and again, over itself
    assert rc == 1, err
    # Beside a patch, and beside a checked file, a report is no source.
    (tree / "series.patch").write_text("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-int a;\n+int b;\n")
    rc, _, err = run_inprocess("patch", "--no-tree", "-o", "patch-report.txt", "series.patch", cwd=tree)
    assert rc == 0 and (tree / "patch-report.txt").exists(), err
    rc, _, err = run_inprocess("check", "-o", "drivers/misc/report.txt", "drivers/misc/drv.c", cwd=tree)
    assert rc == 1 and (tree / "drivers/misc/report.txt").exists(), err


@pytest.mark.parametrize("how", ["full disk", "closed", "closed, -o /dev/stdout"])
def test_standard_output_that_cannot_be_written_is_one_line_and_exit_2(tree, how):
    """A report that cannot reach standard output is an error the user sees,
    not an internal error and not a silent exit with the findings' status."""
    if how == "full disk" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    args = [sys.executable, "-m", "daxlint", "check", "--no-cache", "."] + (["-o", "/dev/stdout"] if "-o" in how else [])
    if how == "full disk":
        with open("/dev/full", "w") as full:
            proc = subprocess.run(args, cwd=tree, stdout=full, stderr=subprocess.PIPE, text=True)
        expected = "daxlint: error: cannot write standard output: No space left on device"
    else:
        proc = subprocess.run(
            args, cwd=tree, stdout=None, stderr=subprocess.PIPE, text=True, pass_fds=(), close_fds=True, preexec_fn=lambda: os.close(1)
        )
        expected = (
            "daxlint: error: cannot write /dev/stdout: Bad file descriptor"
            if "-o" in how
            else "daxlint: error: cannot write standard output: it is closed (use -o FILE)"
        )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [expected]
