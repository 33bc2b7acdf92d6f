"""``daxlint patch`` as b4's per-patch check command, run by the real b4
(PyPI, in the test extra): ``b4 prep --check`` on a prep branch and
``b4 am --check`` on a mailbox, offline, each with a fresh b4 cache (b4
caches check results per commit or Message-Id for 30 days).

b4 feeds each patch as a mail on standard input, from the repository's
top, and classifies each line of the command's standard output: a line
with ``ERROR:`` fails the patch, any other line is a warning, any line on
standard error fails it; a silent command passes it. So daxlint must print
one line per finding, no ``total:`` line and nothing when clean - the
contract checkpatch meets with ``-q --terse --no-summary --mailback
--showfile``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

B4 = shutil.which("b4", path=str(Path(sys.executable).parent)) or shutil.which("b4")
pytestmark = pytest.mark.skipif(B4 is None, reason="b4 is not installed (pip install -e '.[test]' installs it)")

CHECK = f"{sys.executable} -m daxlint patch -q --terse --no-summary --mailback --showfile --strict -"
TOOL = Path(sys.executable).name  # b4 names a check by its argv[0]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FAIL, PASS = "\x1b[31;5m\u25cf", "\x1b[32m\u25cf"

# A driver ->mmap with nothing to report; the tests' patches edit it.
FOO_C = (FIXTURES / "mail" / "foo_6_12.c").read_text()


@pytest.fixture
def b4_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_")) and k != "NO_COLOR"}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(tmp_path / "fresh-cache"),
        XDG_DATA_HOME=str(home / ".local/share"),
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def git(repo: Path, env: dict, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def kernel_repo(tmp_path: Path, env: dict) -> Path:
    """A 6.12 tree (daxlint reads the version from the top Makefile in b4's
    working directory) with a clean driver."""
    repo = tmp_path / "linux"
    repo.mkdir()
    git(repo, env, "init", "-q", "-b", "master")
    git(repo, env, "config", "user.name", "Test Dev")
    git(repo, env, "config", "user.email", "dev@example.invalid")
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (repo / "drivers/dax").mkdir(parents=True)
    (repo / "drivers/dax/foo.c").write_text(FOO_C)
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-qm", "base")
    return repo


def commit_change(repo: Path, env: dict, line: str, subject: str) -> None:
    foo = repo / "drivers/dax/foo.c"
    foo.write_text(foo.read_text().replace("\treturn 0;\n", f"\t{line}\n\treturn 0;\n", 1))
    git(repo, env, "commit", "-qam", subject)


def b4(repo: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([B4, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("where", ["git config", ".b4-config"])
def test_b4_prep_check_shows_daxlint_findings_per_patch(tmp_path, b4_env, where):
    repo = kernel_repo(tmp_path, b4_env)
    proc = b4(repo, b4_env, "prep", "-n", "daxtest")
    assert proc.returncode == 0, proc.stderr
    commit_change(repo, b4_env, "vm_flags_set(vma, VM_IO);", "dax: foo: mark the mapping VM_IO")
    commit_change(repo, b4_env, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    if where == "git config":
        git(repo, b4_env, "config", "b4.prep-perpatch-check-cmd", CHECK)
    else:  # the README's form; b4 reads it from the work tree, tracked or not
        (repo / ".b4-config").write_text(f"[b4]\n    prep-perpatch-check-cmd = {CHECK}\n")

    proc = b4(repo, b4_env, "prep", "--check")
    assert proc.returncode == 0, proc.stderr  # b4 reports, it does not fail
    raw = proc.stdout + proc.stderr
    lines = [ANSI.sub("", ln) for ln in raw.splitlines()]
    # the clean patch passes, the other fails with daxlint's line and nothing else
    assert any(ln.startswith(PASS) and ln.endswith(": dax: foo: mark the mapping VM_IO") for ln in raw.splitlines()), raw
    assert any(ln.startswith(FAIL) and ln.endswith(": dax: foo: do not let the mapping grow") for ln in raw.splitlines()), raw
    checks = [ln.strip() for ln in lines if ln.strip().startswith(f"\u25cf {TOOL}: ")]
    assert checks == [
        f"\u25cf {TOOL}: drivers/dax/foo.c:6: ERROR:DAX301: direct write '|=' to vma->vm_flags: vm_flags is const since v6.3 "
        "(bc292ab00f6c) and only the vm_flags_*() wrappers may change it; use vm_flags_set(vma, VM_DONTEXPAND) "
        "(it write-locks the vma with vma_start_write(), which asserts the mmap write lock)"
    ], raw
    # no total: line counted as a warning
    assert "Success: 1, Warning: 0, Error: 1" in lines, raw


def test_b4_am_check_runs_daxlint_on_each_patch(tmp_path, b4_env):
    repo = kernel_repo(tmp_path, b4_env)
    git(repo, b4_env, "checkout", "-qb", "topic")
    commit_change(repo, b4_env, "vm_flags_set(vma, VM_IO);", "dax: foo: mark the mapping VM_IO")
    commit_change(repo, b4_env, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    out = tmp_path / "patches"
    git(repo, b4_env, "format-patch", "-q", "--cover-letter", "--thread", "-o", str(out), "master..topic")
    mbox = tmp_path / "series.mbx"
    mbox.write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("*.patch"))))
    git(repo, b4_env, "checkout", "-q", "master")
    # am-perpatch-check-cmd is read from git config only (not from .b4-config)
    git(repo, b4_env, "config", "b4.am-perpatch-check-cmd", CHECK)

    proc = b4(repo, b4_env, "--offline-mode", "am", "-m", str(mbox), "--check", "-o", str(tmp_path / "am"))
    assert proc.returncode == 0, proc.stderr
    raw = proc.stdout + proc.stderr
    lines = [ANSI.sub("", ln).strip() for ln in raw.splitlines()]
    good = lines.index("[PATCH 1/2] dax: foo: mark the mapping VM_IO")
    bad = lines.index("[PATCH 2/2] dax: foo: do not let the mapping grow")
    assert lines[good + 1] == f"\u25cf {TOOL}: passed all checks", raw
    assert lines[bad + 1].startswith(f"\u25cf {TOOL}: drivers/dax/foo.c:6: ERROR:DAX301: direct write '|=' to vma->vm_flags"), raw
    assert f"{FAIL}\x1b[0m {TOOL}: drivers/dax/foo.c:6: ERROR:DAX301:" in raw


def test_b4_fails_a_patch_daxlint_cannot_analyse(tmp_path, b4_env):
    """The documented command passes --strict: a patch whose file daxlint
    skips (here over the configured max-file-size) fails in b4 - one line
    on standard error - instead of passing unread."""
    repo = kernel_repo(tmp_path, b4_env)
    proc = b4(repo, b4_env, "prep", "-n", "daxtest")
    assert proc.returncode == 0, proc.stderr
    commit_change(repo, b4_env, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    (repo / ".daxlint.toml").write_text("max-file-size = 64\n")
    git(repo, b4_env, "config", "b4.prep-perpatch-check-cmd", CHECK)
    proc = b4(repo, b4_env, "prep", "--check")
    raw = proc.stdout + proc.stderr
    lines = [ANSI.sub("", ln) for ln in raw.splitlines()]
    assert any(ln.startswith(FAIL) and ln.endswith(": dax: foo: do not let the mapping grow") for ln in raw.splitlines()), raw
    assert any("could not be analysed (--strict): drivers/dax/foo.c: too large" in ln for ln in lines), raw
    assert "Success: 0, Warning: 1, Error: 1" in lines, raw  # the skip's NOTE line warns, the --strict line fails
