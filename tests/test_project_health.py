"""The habits that keep the code base in shape, checked like any behaviour:
ruff (lint and format), the import-linter contracts in pyproject.toml
(layers, no cycles) and vulture (dead code)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from daxlint.core.registry import all_rules

SOURCES = ["daxlint", "rules", "tests", "benchmarks"]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def test_ruff_lint_is_clean():
    proc = _run(_tool("ruff"), "check", "--no-cache", *SOURCES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    proc = _run(_tool("ruff"), "format", "--check", "--no-cache", *SOURCES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts_hold():
    proc = _run(_tool("lint-imports"), "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_dead_code(tmp_path):
    # Rule classes are found by the registry, not imported by name.
    rules = tmp_path / "rule_classes.py"
    rules.write_text("".join(f"{cls.__name__}\n" for cls in all_rules()))
    proc = _run(_tool("vulture"), "daxlint", "rules", "tests/vulture_whitelist.py", str(rules), "--min-confidence", "60")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_package_travels_in_the_wheel():
    """pyproject.toml lists the packages explicitly (rules/ and corpus/ are
    mapped into the package): a new sub-package must be added there, or an
    installed daxlint (pip, pre-commit) cannot import it."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "daxlint").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
