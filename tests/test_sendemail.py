"""The sendemail-validate hook (``daxlint hook sendemail-validate``) run by
the real ``git send-email --dry-run`` (Debian's git-email; Mail::Address
from libmailtools-perl): a series whose patch adds a DAX error is refused
before anything is sent, a clean series with its cover letter passes.
git 2.39 runs the hook once per file, cover letter included, from the work
tree's top; nothing goes over the network with --dry-run."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, run_daxlint


def _send_email_missing() -> str | None:
    try:
        probe = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True)
        if not Path(probe.stdout.strip(), "git-send-email").is_file():
            return "git send-email is not installed (apt-get install git-email)"
    except (OSError, subprocess.SubprocessError):
        return "git is not installed"
    if subprocess.run(["perl", "-MMail::Address", "-e1"], capture_output=True).returncode != 0:
        return "git send-email needs Mail::Address (apt-get install libmailtools-perl)"
    return None


MISSING = _send_email_missing()

# A driver ->mmap with nothing to report; the tests' patches edit it.
FOO_C = (FIXTURES / "mail" / "foo_6_12.c").read_text()


@pytest.fixture
def repo(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_PAGER="cat")
    r = tmp_path / "linux"
    r.mkdir()

    def git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=r, env=env, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL)

    git("init", "-q", "-b", "master")
    git("config", "user.name", "Test Dev")
    git("config", "user.email", "dev@example.invalid")
    (r / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (r / "drivers/dax").mkdir(parents=True)
    (r / "drivers/dax/foo.c").write_text(FOO_C)
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "topic")
    return r, git


def commit_change(r: Path, git, line: str, subject: str) -> None:
    foo = r / "drivers/dax/foo.c"
    foo.write_text(foo.read_text().replace("\treturn 0;\n", f"\t{line}\n\treturn 0;\n", 1))
    git("commit", "-qam", subject)


def install_hook(r: Path) -> Path:
    rc, hook_text, err = run_daxlint("hook", "sendemail-validate")
    assert rc == 0, err
    hook = r / ".git/hooks/sendemail-validate"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(hook_text)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook


def send(git, patches: list[Path]) -> subprocess.CompletedProcess:
    return git("send-email", "--dry-run", "--confirm=never", "--force", "--to", "dax-list@example.invalid", *map(str, patches), check=False)


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_send_email_refuses_a_series_with_a_dax_error(repo, tmp_path):
    r, git = repo
    commit_change(r, git, "vm_flags_set(vma, VM_IO);", "dax: foo: mark the mapping VM_IO")
    commit_change(r, git, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    install_hook(r)
    out = tmp_path / "bad"
    git("format-patch", "-q", "--cover-letter", "-o", str(out), "master..HEAD")
    patches = sorted(out.glob("*.patch"))
    assert [p.name[:4] for p in patches] == ["0000", "0001", "0002"]

    proc = send(git, patches)
    assert proc.returncode != 0
    assert f"{patches[2].name}: rejected by sendemail-validate hook" in proc.stderr, proc.stderr
    assert "drivers/dax/foo.c:6: ERROR:DAX301: direct write '|=' to vma->vm_flags" in proc.stderr
    assert "Result: OK" not in proc.stdout  # nothing was sent, not even the patches that passed


def as_base64_mail(patch: Path) -> None:
    """The format-patch mail with its body sent as base64 - what a mail
    client saves, or what --transfer-encoding=base64 sent before."""
    head, _, body = patch.read_bytes().partition(b"\n\n")
    head = b"\n".join(
        ln for ln in head.split(b"\n") if not ln.lower().startswith((b"content-transfer-encoding:", b"content-type:", b"mime-version:"))
    )
    head += b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64"
    patch.write_bytes(head + b"\n\n" + base64.encodebytes(body))


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_send_email_refuses_a_base64_patch_with_a_dax_error(repo, tmp_path):
    """A patch whose body is base64 (Content-Transfer-Encoding) shows no
    "diff --git" line to grep: the hook must still have daxlint read it."""
    r, git = repo
    commit_change(r, git, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    install_hook(r)
    out = tmp_path / "b64"
    git("format-patch", "-q", "-o", str(out), "master..HEAD")
    [patch] = sorted(out.glob("*.patch"))
    as_base64_mail(patch)
    assert b"diff --git" not in patch.read_bytes()

    proc = send(git, [patch])
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"{patch.name}: rejected by sendemail-validate hook" in proc.stderr, proc.stderr
    assert "drivers/dax/foo.c:5: ERROR:DAX301: direct write '|=' to vma->vm_flags" in proc.stderr


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_send_email_refuses_a_patch_daxlint_cannot_analyse(repo, tmp_path):
    """The hook passes --strict: a patch whose file daxlint skips (here
    over the configured max-file-size) stops the series instead of
    passing unread."""
    r, git = repo
    commit_change(r, git, "vma->vm_flags |= VM_DONTEXPAND;", "dax: foo: do not let the mapping grow")
    (r / ".daxlint.toml").write_text("max-file-size = 64\n")
    install_hook(r)
    out = tmp_path / "big"
    git("format-patch", "-q", "-o", str(out), "master..HEAD")
    patches = sorted(out.glob("*.patch"))
    proc = send(git, patches)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "rejected by sendemail-validate hook" in proc.stderr, proc.stderr
    assert "could not be analysed (--strict): drivers/dax/foo.c: too large" in proc.stderr, proc.stderr


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_send_email_passes_a_clean_series_and_its_cover_letter(repo, tmp_path):
    r, git = repo
    commit_change(r, git, "vm_flags_set(vma, VM_IO);", "dax: foo: mark the mapping VM_IO")
    install_hook(r)
    out = tmp_path / "good"
    git("format-patch", "-q", "--cover-letter", "-o", str(out), "master..HEAD")
    patches = sorted(out.glob("*.patch"))
    assert len(patches) == 2  # the cover letter (no diff) and the patch

    proc = send(git, patches)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Result: OK") == 2
    assert "DAX" not in proc.stderr


def test_hook_is_printed_for_this_installation():
    rc, out, err = run_daxlint("hook", "sendemail-validate")
    assert rc == 0 and err == ""
    assert out.startswith("#!/bin/sh\n")
    assert f'\t{sys.executable} -m daxlint "$@"\n' in out
    rc, _out, err = run_daxlint("hook", "pre-push")
    assert rc == 2 and "invalid value" in err.lower()


BAD_PATCH = (
    "Subject: [PATCH] dax: bar\n\n---\n--- /dev/null\n+++ b/drivers/dax/bar.c\n@@ -0,0 +1,5 @@\n"
    "+static int bar_mmap(struct file *file, struct vm_area_struct *vma)\n+{\n+\tvma->vm_flags |= VM_IO;\n+\treturn 0;\n+}\n"
)


@pytest.mark.parametrize(
    "name,mail,status",
    [
        ("0000.patch", "Subject: [PATCH 0/2] dax: foo\n\nCover letter.\n\n drivers/dax/foo.c | 1 +\n", 0),
        ("0001.patch", BAD_PATCH, 1),
        ("--exit-zero", BAD_PATCH, 1),  # the hook passes the path after "--": a file, not an option
    ],
)
def test_hook_lets_only_mails_without_a_diff_through(tmp_path, name, mail, status):
    """A cover letter passes the hook (daxlint patch notes it has no diff
    and exits 0); a patch with an error does not, whatever its file name."""
    rc, hook_text, _ = run_daxlint("hook", "sendemail-validate")
    hook = tmp_path / "sendemail-validate"
    hook.write_text(hook_text)
    hook.chmod(0o755)
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\n")
    (tmp_path / name).write_text(mail)
    proc = subprocess.run([str(hook), name], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == status, proc.stdout + proc.stderr
    if status:
        assert "drivers/dax/bar.c:3: ERROR:DAX301:" in proc.stdout, proc.stdout + proc.stderr
