"""``daxlint kbuild`` run by the real Kbuild: an out-of-tree module
(tests/fixtures/kbuild/daxmod) built with ``make -C <headers> M=<dir> C=2
CHECK="<python> -m daxlint kbuild" modules`` against Debian's linux-headers
for 6.1 and 6.12 (.ci/run installs them). Kbuild runs the checker after
each successful compile; daxlint must report exactly the lines that build
compiles: the configuration (autoconf.h), the version (version.h, with the
sublevel) and the module's ccflags-y/CFLAGS_ decide."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

pytestmark = pytest.mark.slow

MODULE = FIXTURES / "kbuild" / "daxmod"


def _header_dirs() -> list[str]:
    # Globbed: the ABI number (6.1.0-56) moves with Debian's security updates.
    return sorted(d for d in glob.glob("/usr/src/linux-headers-*-amd64") if os.path.isfile(os.path.join(d, "Makefile")))


def _version_of(headers: str) -> tuple[int, int, int]:
    text = Path(headers, "include/generated/uapi/linux/version.h").read_text()
    fields = dict(re.findall(r"#define LINUX_VERSION_(MAJOR|PATCHLEVEL|SUBLEVEL) (\d+)", text))
    return int(fields["MAJOR"]), int(fields["PATCHLEVEL"]), int(fields["SUBLEVEL"])


def _series(version: tuple[int, int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _headers_or_skip(series: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed (apt-get install make)")
    for d in _header_dirs():
        if _series(_version_of(d)) == series:
            return d
    meta = "linux-headers-amd64" if series == "6.1" else f"linux-headers-{series}-amd64"
    pytest.skip(f"no /usr/src/linux-headers-*-amd64 for {series} (apt-get install --no-install-recommends {meta})")


def _marks() -> dict[str, int]:
    """MARK:name -> line, from the fixture's comments."""
    out = {}
    for n, line in enumerate((MODULE / "daxmod.c").read_text().splitlines(), 1):
        m = re.search(r"MARK:([\w.-]+)", line)
        if m:
            out[m.group(1)] = n
    return out


def _build(headers: str, tmp_path: Path, *check_args: str) -> tuple[subprocess.CompletedProcess, Path]:
    moddir = tmp_path / "daxmod"
    if not moddir.exists():
        shutil.copytree(MODULE, moddir)
    check = " ".join([sys.executable, "-m", "daxlint", "kbuild", *check_args])
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.run(
        ["make", "-s", "-C", headers, f"M={moddir}", "C=2", f"CHECK={check}", "modules"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    return proc, moddir


_DIAG = re.compile(r"^(?P<path>/\S+?):(?P<line>\d+):(?P<col>\d+): (?P<level>warning|error|note): \[(?P<rule>DAX\d+)\] ", re.M)


def _diagnostics(stderr: str, moddir: Path) -> set[tuple[str, int, str, str]]:
    """(file name, line, level, rule) of daxlint's lines on make's stderr."""
    out = set()
    for m in _DIAG.finditer(stderr):
        assert Path(m["path"]).parent == moddir, m.group(0)
        out.add((Path(m["path"]).name, int(m["line"]), m["level"], m["rule"]))
    return out


# What each build compiles, and so what daxlint must report there:
# rule ids per MARK, for a 6.1 and a 6.12 build.
EXPECTED = {
    "6.1": {
        "config-on": {"DAX302"},  # CONFIG_X86_64=y; before 6.3 a direct write is legal in ->mmap, not in ->fault
        "before-6.3": {"DAX302"},
        "level-2": {"DAX302"},
    },
    "6.12": {
        "config-on": {"DAX301", "DAX302"},
        "since-6.3": {"DAX302"},
        "level-2": {"DAX301", "DAX302"},
    },
}


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_module_build_reports_what_this_build_compiles(series, tmp_path):
    headers = _headers_or_skip(series)
    version = _version_of(headers)
    proc, moddir = _build(headers, tmp_path)
    assert proc.returncode == 0, proc.stderr  # sparse's contract: findings never fail the build by default
    assert (moddir / "daxmod.ko").is_file(), proc.stderr

    marks = _marks()
    expected = {m: set(ids) for m, ids in EXPECTED[series].items()}
    if version < (6, 1, 100):  # only an early 6.1 stable release compiles it
        expected["before-6.1.100"] = {"DAX302"}
    want = {("daxmod.c", marks[m], "warning", rule) for m, ids in expected.items() for rule in ids}
    assert _diagnostics(proc.stderr, moddir) == want, proc.stderr
    # The lines this build does not compile are not reported: CONFIG_S390 is
    # off, the -U of CFLAGS_daxmod.o wins over ccflags-y's -D, DAXMOD_LEVEL is
    # defined, and the other side of the version guard is dead.
    reported = {line for _name, line, _level, _rule in _diagnostics(proc.stderr, moddir)}
    for dead in ("config-off", "no-level", "legacy"):
        assert marks[dead] not in reported


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_sparse_error_fails_the_build(series, tmp_path):
    headers = _headers_or_skip(series)
    proc, moddir = _build(headers, tmp_path, "-Wsparse-error")
    assert proc.returncode != 0
    marks = _marks()
    assert ("daxmod.c", marks["level-2"], "error", "DAX302") in _diagnostics(proc.stderr, moddir), proc.stderr
    assert "Error 1" in proc.stderr  # make names the checker's exit status
    assert not (moddir / "daxmod.ko").exists()
