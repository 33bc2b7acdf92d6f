"""What daxlint prints on a terminal and in a pipe: the progress display of
``daxlint check`` (standard error, only on a terminal, ``--no-progress``)
and ``--color auto|always|never`` with NO_COLOR and FORCE_COLOR. The
terminal is a real pseudo-terminal (the pty module), not a mock."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from audit_repo import synthetic_history

WRITE = "static int m{i}(struct file *f, struct vm_area_struct *vma)\n{{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}}\n"
SGR = re.compile(rb"\x1b\[[0-9;]*m")  # a colour or style: what --color decides
ESCAPE = re.compile(rb"\x1b\[")


@pytest.fixture
def tree(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i:02}.c").write_text(WRITE.format(i=i))
    return tmp_path


def run(cwd, *args, tty=("stderr",), env=None):
    """daxlint with the streams named in ``tty`` on one pseudo-terminal of
    100 columns, the others on pipes: (exit status, what the terminal
    received, stdout, stderr)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "DAXLINT_DEBUG")}
    environ.update(env or {})
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    streams = {name: slave if name in tty else subprocess.PIPE for name in ("stdout", "stderr")}
    proc = subprocess.Popen([sys.executable, "-m", "daxlint", *args], cwd=cwd, env=environ, stdin=subprocess.DEVNULL, **streams)
    os.close(slave)
    received = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        received.append(chunk)
    out, err = proc.communicate(timeout=600)
    os.close(master)
    return proc.returncode, b"".join(received), out or b"", err or b""


CHECK = ("check", "--no-cache", "--kernel-version", "6.3")


def test_check_shows_progress_on_a_terminal(tree):
    rc, terminal, out, _ = run(tree, *CHECK, ".")
    assert rc == 1 and b"files" in terminal and b"30/30" in terminal
    assert b"f00.c:3:2: error[DAX301]" in out  # the report still goes to the pipe, plain


def test_no_progress_in_a_pipe_or_with_no_progress(tree):
    rc, _, out, err = run(tree, *CHECK, ".", tty=())
    assert rc == 1 and err == b"" and b"f00.c:3:2: error[DAX301]" in out
    rc, terminal, _, _ = run(tree, *CHECK, "--no-progress", ".")
    assert rc == 1 and terminal == b""


def test_color_always_gives_ansi_in_a_pipe(tree):
    rc, _, out, _ = run(tree, *CHECK, "--color", "always", "f00.c", tty=())
    assert rc == 1 and SGR.search(out) and b"DAX301" in out
    _, _, plain, _ = run(tree, *CHECK, "f00.c", tty=())
    assert not ESCAPE.search(plain)


def test_color_never_gives_none_on_a_terminal(tree):
    rc, terminal, _, _ = run(tree, *CHECK, "--color", "auto", ".", tty=("stdout", "stderr"))
    assert rc == 1 and SGR.search(terminal)  # what never takes away
    rc, terminal, _, _ = run(tree, *CHECK, "--color", "never", ".", tty=("stdout", "stderr"))
    assert rc == 1 and b"30/30" in terminal and b"DAX301" in terminal  # progress and report, without colour
    assert not SGR.search(terminal)


@pytest.mark.parametrize(
    "env,color,coloured",
    [
        ({"NO_COLOR": "1"}, "auto", False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, "auto", False),  # NO_COLOR wins
        ({"NO_COLOR": ""}, "auto", True),  # set but empty: not set
        ({"NO_COLOR": "1"}, "always", True),  # the command line wins
    ],
)
def test_no_color_on_a_terminal(tree, env, color, coloured):
    _, terminal, _, _ = run(tree, *CHECK, "--no-progress", "--color", color, "f00.c", tty=("stdout",), env=env)
    assert b"DAX301" in terminal and bool(SGR.search(terminal)) == coloured


@pytest.mark.parametrize("env,color,coloured", [({"FORCE_COLOR": "1"}, "auto", True), ({"FORCE_COLOR": "1"}, "never", False)])
def test_force_color_in_a_pipe(tree, env, color, coloured):
    _, _, out, _ = run(tree, *CHECK, "--color", color, "f00.c", tty=(), env=env)
    assert b"DAX301" in out and bool(SGR.search(out)) == coloured


def test_force_color_never_colours_a_file(tree):
    run(tree, *CHECK, "-o", "report.txt", "f00.c", tty=(), env={"FORCE_COLOR": "1"})
    assert b"f00.c:3:2: error[DAX301]" in (tree / "report.txt").read_bytes()
    assert not ESCAPE.search((tree / "report.txt").read_bytes())
    run(tree, *CHECK, "--color", "always", "-o", "report.txt", "f00.c", tty=())
    assert SGR.search((tree / "report.txt").read_bytes())


@pytest.mark.parametrize(
    "args,stream",
    [
        (("patch", "--no-tree", "--color", "{}", "fix.patch"), "stdout"),
        (("rules", "--color", "{}"), "stdout"),
        (("explain", "DAX301", "--color", "{}"), "stdout"),
        (("kbuild", "--color", "{}", "f00.c"), "stderr"),
        (("kbuild", "-fdiagnostics-color={}", "f00.c"), "stderr"),
    ],
    ids=["patch", "rules", "explain", "kbuild", "kbuild-gcc-flag"],
)
def test_every_command_takes_color(tree, args, stream):
    (tree / "fix.patch").write_text(
        "diff --git a/drv.c b/drv.c\nnew file mode 100644\n--- /dev/null\n+++ b/drv.c\n@@ -0,0 +1,5 @@\n"
        + "".join("+" + line + "\n" for line in WRITE.format(i=0).splitlines())
    )
    seen = {}
    for when in ("always", "never"):
        _, _, out, err = run(tree, *(a.format(when) for a in args), tty=())
        seen[when] = out if stream == "stdout" else err
        assert b"DAX301" in seen[when] or b"Severity" in seen[when], seen[when][:300]
    assert SGR.search(seen["always"]) and not SGR.search(seen["never"])


def test_kbuild_colours_as_gcc_on_a_terminal(tree):
    _, terminal, _, _ = run(tree, "kbuild", "f00.c", tty=("stderr",))
    assert b"\x1b[01m\x1b[Kf00.c:3:2:\x1b[m\x1b[K \x1b[01;35m\x1b[Kwarning:\x1b[m\x1b[K \x1b[01;35m\x1b[K[DAX301]\x1b[m\x1b[K" in terminal
    _, _, _, err = run(tree, "kbuild", "f00.c", tty=())
    assert err.startswith(b"f00.c:3:2: warning: [DAX301] ")


def test_audit_progress_on_a_terminal_and_no_progress(tmp_path):
    base, _tip = synthetic_history(tmp_path / "repo", commits=20)
    args = ("audit", "--no-cache", "--format", "json", f"{base}..main")
    rc, terminal, out, _ = run(tmp_path / "repo", *args)
    assert b"commits" in terminal and b"20/20" in terminal and b'"introduced"' in out
    for off in ("--no-progress", "-q"):
        rc, terminal, out, _ = run(tmp_path / "repo", *args, off)
        assert terminal == b"" and b'"introduced"' in out
