"""The pre-commit hook (.pre-commit-hooks.yaml) run by the real pre-commit
(PyPI, in the test extra) in a scratch kernel repository: a staged file
that adds a DAX error fails the hook; an old finding elsewhere in a touched
file, an untracked file and an unstaged edit do not.

The fast test runs the manifest's entry, files, types and stages as a
``repo: local`` hook with this interpreter. The slow ones let pre-commit
install this repository's hook the way users get it (``language: python``:
a virtualenv and ``pip install .``) - offline, from the wheel directory
.ci/run builds (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
pytestmark = pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (pip install -e '.[test]' installs it)")
WHEELHOUSE = Path(os.environ.get("DAXLINT_WHEELHOUSE", REPO / ".ci" / "wheelhouse"))


def mmap_fn(name: str, body: str) -> str:
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\t{body}\n\treturn 0;\n}}\n"


OLD_C = "/* drivers/dax/old.c */\n" + mmap_fn("old_mmap", "vma->vm_flags |= VM_IO;")  # DAX301 at line 4, committed


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    e.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_HOME=str(tmp_path / "pre-commit-cache"), NO_COLOR="1")
    return e


def run(cwd: Path, env: dict, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def target(tmp_path, env):
    """A 6.12 kernel-like repository with a committed finding in old.c,
    then staged: an unrelated edit of old.c, a new bad.c and a Kconfig;
    not staged: untracked.c and an edit of bad.c, each with a finding."""
    r = tmp_path / "linux"
    (r / "drivers/dax").mkdir(parents=True)
    git = ("git", "-c", "user.name=Test Dev", "-c", "user.email=dev@example.invalid", "-c", "commit.gpgsign=false")
    run(r, env, "git", "init", "-q", "-b", "master")
    (r / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (r / "drivers/dax/old.c").write_text(OLD_C)
    run(r, env, "git", "add", "-A")
    run(r, env, *git, "commit", "-qm", "base")
    (r / "drivers/dax/old.c").write_text(OLD_C + "\n/* an unrelated edit */\n")
    (r / "drivers/dax/bad.c").write_text(mmap_fn("bad_mmap", "vma->vm_flags |= VM_DONTEXPAND;"))  # DAX301 at line 3
    (r / "drivers/dax/Kconfig").write_text('config DAX_TOY\n\ttristate "toy"\n')
    run(r, env, "git", "add", "drivers/dax/old.c", "drivers/dax/bad.c", "drivers/dax/Kconfig")
    (r / "drivers/dax/untracked.c").write_text(mmap_fn("untracked_mmap", "vma->vm_flags |= VM_IO;"))
    with open(r / "drivers/dax/bad.c", "a") as fh:
        fh.write(mmap_fn("unstaged_mmap", "vma->vm_flags |= VM_PFNMAP;"))
    return r, git


def assert_blocked_by_bad_c_only(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "daxlint (kernel DAX policy)" in out and "Failed" in out and "- exit code: 1" in out, out
    reported = [ln for ln in out.splitlines() if "[DAX" in ln]
    assert [ln.split(" ", 1)[0] for ln in reported] == ["drivers/dax/bad.c:3:2:"], out
    assert "error[DAX301] direct write '|=' to vma->vm_flags" in reported[0]
    assert "1 finding on unchanged lines not shown" in out  # old.c's line 4


def local_hook(r: Path, env: dict, **override) -> None:
    """The manifest's hook (entry, default args, file selection) as a local
    hook run with this interpreter (no pip install), ``override`` applied,
    in ``r``'s staged .pre-commit-config.yaml."""
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    entry = hook["entry"].split()
    assert entry[0] == "daxlint"
    local = {k: hook[k] for k in ("id", "name", "files", "types", "stages", "require_serial", "args") if k in hook}
    local.update(language="system", entry=" ".join([sys.executable, "-m", "daxlint", *entry[1:]]), **override)
    (r / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}))
    run(r, env, "git", "add", ".pre-commit-config.yaml")


def test_hook_definition_on_a_commit(target, env, tmp_path):
    """The manifest's entry and file selection, as a local hook with this
    interpreter (no pip install): fast."""
    r, git = target
    local_hook(r, env)
    proc = run(r, env, PRE_COMMIT, "run", check=False)
    assert_blocked_by_bad_c_only(proc)
    # the unstaged edit is back afterwards
    assert "unstaged_mmap" in (r / "drivers/dax/bad.c").read_text()
    # without bad.c the commit goes through: the old finding is on a line it does not change
    run(r, env, "git", "reset", "-q", "--", "drivers/dax/bad.c")
    proc = run(r, env, PRE_COMMIT, "run", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "daxlint (kernel DAX policy)" in proc.stdout and "Passed" in proc.stdout


def _wheelhouse_or_skip() -> Path:
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        pytest.skip(
            f"no wheel directory at {WHEELHOUSE} for pre-commit's offline pip install of the hook "
            "(.ci/run builds it; or: pip wheel . -w .ci/wheelhouse && pip download 'setuptools>=64' wheel -d .ci/wheelhouse)"
        )
    return WHEELHOUSE


def hook_repo(tmp_path: Path, env: dict) -> Path:
    """This checkout as a repository pre-commit can clone: its tracked and
    untracked (not ignored) files, committed."""
    dest = tmp_path / "daxlint-hook"
    if (REPO / ".git").exists():
        listed = run(REPO, env, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
        files = [f for f in listed if f and (REPO / f).is_file()]
    else:
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts]
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, dest / f)
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false")
    run(dest, env, "git", "init", "-q", "-b", "main")
    run(dest, env, "git", "add", "-A")
    run(dest, env, *git, "commit", "-qm", "daxlint")
    return dest


def offline(env: dict, wheelhouse: Path) -> dict:
    return dict(env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse), PIP_DISABLE_PIP_VERSION_CHECK="1")


@pytest.mark.slow
def test_try_repo_fails_on_the_staged_bad_file(target, env, tmp_path):
    wheelhouse = _wheelhouse_or_skip()
    r, _git = target
    hooks = hook_repo(tmp_path, env)
    proc = run(r, offline(env, wheelhouse), PRE_COMMIT, "try-repo", str(hooks), "daxlint", check=False)
    assert_blocked_by_bad_c_only(proc)


@pytest.mark.slow
def test_installed_hook_guards_git_commit(target, env, tmp_path):
    """pre-commit install, then git commit: refused while bad.c is staged,
    made once it is not."""
    wheelhouse = _wheelhouse_or_skip()
    r, git = target
    hooks = hook_repo(tmp_path, env)
    rev = run(hooks, env, "git", "rev-parse", "HEAD").stdout.strip()
    config = {"repos": [{"repo": str(hooks), "rev": rev, "hooks": [{"id": "daxlint"}]}]}
    (r / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    run(r, env, "git", "add", ".pre-commit-config.yaml")
    e = offline(env, wheelhouse)
    run(r, e, PRE_COMMIT, "install")
    head = run(r, e, "git", "rev-parse", "HEAD").stdout
    proc = run(r, e, *git, "commit", "-qm", "dax: add bad.c", check=False)
    assert proc.returncode != 0
    assert "drivers/dax/bad.c:3:2: error[DAX301]" in proc.stdout + proc.stderr
    assert run(r, e, "git", "rev-parse", "HEAD").stdout == head  # no commit made
    run(r, e, "git", "reset", "-q", "--", "drivers/dax/bad.c")
    proc = run(r, e, *git, "commit", "-qm", "dax: touch old.c", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run(r, e, "git", "show", "--name-only", "--format=", "HEAD").stdout.split() == [
        ".pre-commit-config.yaml",
        "drivers/dax/Kconfig",
        "drivers/dax/old.c",
    ]


def test_a_staged_file_named_like_an_option_is_checked_as_a_file(target, env):
    """pre-commit appends the staged names after the hook's args: a file
    named ``--config=cfg.c`` (beside a ``cfg.c`` that, read as the config,
    ignores every rule) must be a file - the manifest ends its args with
    "--" - and its finding fails the commit. A user's args without "--"
    fail closed: daxlint refuses the ambiguous name."""
    r, _git = target
    run(r, env, "git", "reset", "-q", "--", "drivers/dax/bad.c")
    (r / "--config=cfg.c").write_text(mmap_fn("sneaky_mmap", "vma->vm_flags |= VM_IO;"))  # DAX301 at line 3
    (r / "cfg.c").write_text('ignore = ["DAX"]\n')
    run(r, env, "git", "add", "--", "--config=cfg.c", "cfg.c")
    local_hook(r, env)
    proc = run(r, env, PRE_COMMIT, "run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Failed" in out, out
    assert [ln.split(" ", 1)[0] for ln in out.splitlines() if "[DAX" in ln] == ["--config=cfg.c:3:2:"], out

    local_hook(r, env, args=["--fail-on", "error"])  # a user's args, without the "--"
    proc = run(r, env, PRE_COMMIT, "run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Failed" in out and "- exit code: 2" in out, out
    assert "'--config=cfg.c' is both an option and a file name: put file names after '--'" in out, out


def test_a_file_daxlint_cannot_analyse_fails_the_hook(target, env):
    """The manifest's entry passes --strict: a staged C file daxlint skips
    (here over the configured max-file-size) fails the commit instead of
    passing it unread."""
    r, _git = target
    run(r, env, "git", "reset", "-q", "--", "drivers/dax/bad.c")
    (r / ".daxlint.toml").write_text("max-file-size = 64\n")
    (r / "drivers/dax/big.c").write_text(mmap_fn("big_mmap", "vma->vm_flags |= VM_IO;"))
    run(r, env, "git", "add", ".daxlint.toml", "drivers/dax/big.c")
    local_hook(r, env)
    proc = run(r, env, PRE_COMMIT, "run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Failed" in out and "- exit code: 2" in out, out
    assert "could not be analysed (--strict): drivers/dax/big.c: too large" in out, out
