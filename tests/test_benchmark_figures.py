"""A benchmark run changes nothing git tracks unless it is asked to record
its figures (benchmarks/figures.py, used by benchmarks/run,
benchmarks/audit_bench.py and benchmarks/kbuild_bench.py)."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess

import pytest

from conftest import REPO

_spec = importlib.util.spec_from_file_location("figures", REPO / "benchmarks" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def where(name: str, *argv: str, flag: str = "--output"):
    ap = argparse.ArgumentParser()
    figures.add_output_options(ap, name, flag)
    return figures.output_path(ap.parse_args(list(argv)), name)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


@pytest.mark.parametrize("name,flag", [("latest.json", "--output"), ("audit.json", "--json"), ("kbuild.json", "--output")])
def test_a_plain_run_writes_an_ignored_file_and_record_the_tracked_one(name, flag):
    plain = where(name, flag=flag).relative_to(REPO).as_posix()
    recorded = where(name, "--record", flag=flag).relative_to(REPO).as_posix()
    assert git("check-ignore", "-q", "--no-index", plain).returncode == 0
    assert git("ls-files", "--error-unmatch", plain).returncode != 0
    assert git("ls-files", "--error-unmatch", recorded).returncode == 0
    assert where(name, flag, "/tmp/elsewhere.json", flag=flag).as_posix() == "/tmp/elsewhere.json"


def test_record_and_an_output_file_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        where("latest.json", "--record", "--output", "x.json")
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["run", "audit_bench.py", "kbuild_bench.py"])
def test_every_benchmark_writes_through_figures(script):
    """No benchmark names a tracked results file as its default again."""
    text = (REPO / "benchmarks" / script).read_text()
    assert "add_output_options(ap" in text and "output_path(args" in text
    assert '"results" /' not in text
