from __future__ import annotations

import importlib.util
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


@pytest.fixture
def daxlint():
    return run_daxlint


def kernel_tree_or_skip(version: str) -> Path:
    tree = kernel_tree_module.kernel_tree(version)
    if tree is None:
        pytest.skip(f"linux-source-{version} is not installed (apt-get install linux-source-{version})")
    return tree
