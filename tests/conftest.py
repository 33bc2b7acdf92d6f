from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_spec = importlib.util.spec_from_file_location("kernel_tree", REPO / "benchmarks" / "kernel_tree.py")
kernel_tree_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kernel_tree_module)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own result cache, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("DAXLINT_DEBUG", raising=False)


def run_daxlint(*args: str, cwd: str | Path | None = None, stdin: str | None = None, env: dict | None = None):
    """Run the real command line in a subprocess: (exit status, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.pop("DAXLINT_DEBUG", None)
    full_env["NO_COLOR"] = "1"
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "daxlint", *args],
        cwd=str(cwd) if cwd else None,
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


def run_inprocess(*args: str, cwd: str | Path | None = None, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run ``daxlint.cli.main`` in this process, as the real command runs
    it: (exit status, stdout bytes, stderr bytes). Standard output encodes
    strictly (as a UTF-8 terminal or pipe does), so text the report cannot
    print fails here as it would for a user; only a SystemExit leaves main()."""
    from daxlint.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    streams = (
        io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors="surrogateescape"),
        io.TextIOWrapper(out, encoding="utf-8", errors="strict", write_through=True),
        io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True),
    )
    saved = (sys.stdin, sys.stdout, sys.stderr)
    sys.stdin, sys.stdout, sys.stderr = streams
    code: int | str | None = None
    try:
        with contextlib.chdir(cwd) if cwd else contextlib.nullcontext():
            main(list(args))
    except SystemExit as e:
        code = e.code
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    assert isinstance(code, int), f"main() ended without an exit status: {code!r}"
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def daxlint():
    return run_daxlint


def kernel_tree_or_skip(version: str) -> Path:
    tree = kernel_tree_module.kernel_tree(version)
    if tree is None:
        pytest.skip(f"linux-source-{version} is not installed (apt-get install linux-source-{version})")
    return tree
