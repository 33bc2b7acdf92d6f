"""Input handling that a root-run test cannot provoke with permissions:
unreadable files and directories are simulated at the OS call."""

from __future__ import annotations

import io
import os

from rich.console import Console

from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import collect, read_source_stat
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import all_rules
from daxlint.core.runner import check_paths
from daxlint.model import Finding, Report, Severity, Skipped
from daxlint.output.rich_text import print_report
from daxlint.version import KernelVersion


def test_unreadable_file_is_skipped(tmp_path, monkeypatch):
    p = tmp_path / "secret.c"
    p.write_text("int vm_flags;\n")
    real_open = os.open

    def deny(path, *a, **kw):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", deny)
    data, why, _st = read_source_stat(str(p))
    assert data is None and why == "unreadable (Permission denied)"


def test_unreadable_directory_is_reported_not_fatal(tmp_path, monkeypatch):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.c").write_text("int a;\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.c").write_text("int b;\n")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    fs = collect([str(tmp_path)])
    assert [os.path.basename(d) for d, _ in fs.files] == ["a.c"]
    [skip] = fs.skipped
    assert skip.path.endswith("locked") and skip.reason == "unreadable directory (Permission denied)"


def test_fifo_is_skipped(tmp_path):
    fifo = tmp_path / "pipe.c"
    os.mkfifo(fifo)
    eng = Engine(list(all_rules()), KernelContext(None, KernelVersion(6, 3), "flag"), EngineOptions(jobs=1, use_cache=False))
    report = check_paths(eng, [str(fifo)])
    assert [(s.reason) for s in report.skipped] == ["not a regular file"]


def test_rich_report_on_a_terminal():
    report = Report(
        findings=[Finding("DAX301", Severity.ERROR, "mm/x.c", 3, 2, "direct write", snippet="vma->vm_flags |= VM_IO;")],
        skipped=[Skipped("big.h", "too large")],
        files_checked=2,
        kernel_version="6.3",
    )
    buf = io.StringIO()
    print_report(report, Console(file=buf, force_terminal=True, width=120))
    text = buf.getvalue()
    assert "\x1b[" in text  # drawn with colour
    plain = Console(file=io.StringIO(), width=120)
    print_report(report, plain)
    out = plain.file.getvalue()
    assert "mm/x.c" in out and "3:2" in out and "DAX301" in out and "vma->vm_flags |= VM_IO;" in out
    assert "skipped big.h: too large" in out
    assert "Found 1 finding (1 error, 0 warning, 0 info) in 2 files (kernel 6.3)." in out
