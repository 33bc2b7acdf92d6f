"""Debian's kernel sources, unpacked into a cache outside the repository.

Tests and benchmarks share this so a tree is unpacked once per machine:
``python3 benchmarks/kernel_tree.py 6.1`` prints the path of the unpacked
tree. The sources:

- 6.1 and 6.12: the packages ``linux-source-6.1`` and ``linux-source-6.12`` of
  this Debian 12 system (``apt-get install``; the tarball is in /usr/src);
- 7.2 and 7.3: ``linux-source-7.2`` (sid) and ``linux-source-7.3``
  (trixie-backports), which this system's sources do not carry and must not
  carry (their libc would replace this system's): ``--fetch`` downloads the
  package with ``apt-get download`` and a private sources list and state
  directory under the cache, and takes the tarball out of it. Nothing is
  installed.

Unpacking goes to a temporary sibling directory that is renamed into place
only when tar succeeded, so an interrupted run never leaves a half tree
behind. A tree remembers the tarball it came from: when Debian ships a new
point release (the tarball changes), the next use unpacks it again instead
of judging an old tree.

``--prepare 7.3`` configures a build directory for out-of-tree modules
(``make O=<dir> defconfig modules_prepare``; the 7.x linux-headers packages
need a newer libc than Debian 12 has): ``make -C <dir> M=<module>
KBUILD_MODPOST_WARN=1 modules`` then builds a module against 7.3. The
source tree itself stays as Debian ships it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

TARBALL_DIR = Path("/usr/src")
# Releases this system's apt does not carry: the Debian suite that does.
FOREIGN_SUITES = {"7.2": "sid", "7.3": "trixie-backports"}
DEBIAN_MIRROR = "http://deb.debian.org/debian"
_STAMP = ".daxlint-tarball"


def cache_root() -> Path:
    # Not under XDG_CACHE_HOME: tests point that at a temporary directory to
    # isolate daxlint's result cache, and must still find the unpacked trees.
    override = os.environ.get("DAXLINT_KERNELS_DIR")
    return Path(override) if override else Path.home() / ".cache" / "daxlint-kernels"


def tarball(version: str) -> Path:
    """Where the source tarball of ``version`` is (or would be)."""
    system = TARBALL_DIR / f"linux-source-{version}.tar.xz"
    if system.is_file() or version not in FOREIGN_SUITES:
        return system
    return cache_root() / "sources" / f"linux-source-{version}.tar.xz"


@contextmanager
def _locked(name: str):
    """One process at a time per tree (test workers may race to unpack)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _tarball_identity(src: Path) -> str:
    st = src.stat()
    return f"{st.st_size} {st.st_mtime_ns}\n"


def kernel_tree(version: str) -> Path | None:
    """Return the unpacked tree for ``version`` (e.g. "6.1"), or None when
    its source tarball is not on this machine (see --fetch)."""
    dest = cache_root() / f"linux-source-{version}"
    src = tarball(version)
    if not src.is_file():
        return dest if (dest / "Makefile").is_file() else None
    identity = _tarball_identity(src)
    if _unpacked_from(dest) == identity:
        return dest
    with _locked(version):
        if _unpacked_from(dest) == identity:
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{version}-", dir=dest.parent))
        try:
            subprocess.run(["tar", "-xJf", str(src), "-C", str(tmp)], check=True)
            inner = tmp / f"linux-source-{version}"
            (inner / _STAMP).write_text(identity)
            if dest.exists():
                shutil.rmtree(dest)
            inner.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _unpacked_from(dest: Path) -> str | None:
    """The identity of the tarball ``dest`` was unpacked from: None when
    there is no tree; a tree unpacked before trees remembered their tarball
    counts as stale."""
    if not (dest / "Makefile").is_file():
        return None
    try:
        return (dest / _STAMP).read_text()
    except OSError:
        return ""


_MAKEFILE_FIELDS = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)\s*$", re.M)


def describe(version: str) -> str:
    """What a test ran on, for its output: the Debian package version and
    the kernel release of the unpacked tree."""
    package = _package_version(version) or "unknown Debian version"
    release = "?"
    tree = cache_root() / f"linux-source-{version}"
    try:
        fields = dict(_MAKEFILE_FIELDS.findall((tree / "Makefile").read_text(errors="replace")[:4096]))
        release = ".".join(fields[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    except (OSError, KeyError):
        pass
    return f"Debian linux-source-{version} {package} (Linux {release})"


def _package_version(version: str) -> str | None:
    recorded = cache_root() / "sources" / f"linux-source-{version}.version"
    if version in FOREIGN_SUITES and recorded.is_file() and not (TARBALL_DIR / f"linux-source-{version}.tar.xz").is_file():
        return recorded.read_text().strip()
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", f"linux-source-{version}"], capture_output=True, text=True)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


# -- 7.x: the package of another Debian suite, downloaded, never installed ----


def _private_apt(version: str) -> tuple[Path, list[str]]:
    """A sources list and state directory of our own for the suite that
    carries ``version``: apt's options that use them and nothing of the
    system's configuration."""
    base = cache_root() / "apt" / FOREIGN_SUITES[version]
    for d in (base / "lists" / "partial", base / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    sources = base / "sources.list"
    sources.write_text(f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {DEBIAN_MIRROR} {FOREIGN_SUITES[version]} main\n")
    options = [
        f"-o Dir::Etc::sourcelist={sources}",
        "-o Dir::Etc::sourceparts=-",
        f"-o Dir::State::Lists={base / 'lists'}",
        f"-o Dir::Cache={base / 'cache'}",
        "-o APT::Sandbox::User=root",
    ]
    return base, [part for o in options for part in o.split(" ", 1)]


def fetch(version: str) -> Path:
    """Download Debian's linux-source-<version> of the suite that carries it
    and keep its tarball under the cache (a newer upload replaces it)."""
    if version not in FOREIGN_SUITES:
        raise SystemExit(f"linux-source-{version} comes from this system's apt: apt-get install linux-source-{version}")
    with _locked(f"fetch-{version}"):
        base, options = _private_apt(version)
        subprocess.run(["apt-get", *options, "-qq", "update"], check=True)
        package = f"linux-source-{version}"
        candidate = subprocess.run(
            ["apt-cache", *options, "show", "--no-all-versions", package], check=True, capture_output=True, text=True
        ).stdout
        debian_version = re.search(r"^Version:\s*(\S+)", candidate, re.M).group(1)
        sources = cache_root() / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        recorded = sources / f"{package}.version"
        target = sources / f"{package}.tar.xz"
        if target.is_file() and recorded.is_file() and recorded.read_text().strip() == debian_version:
            return target
        with tempfile.TemporaryDirectory(dir=sources) as tmp:
            subprocess.run(["apt-get", *options, "-qq", "download", f"{package}={debian_version}"], check=True, cwd=tmp)
            (deb,) = Path(tmp).glob("*.deb")
            member = f"./usr/src/{package}.tar.xz"
            subprocess.run(f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{tmp}' '{member}'", shell=True, check=True)
            os.replace(Path(tmp) / member, target)
        recorded.write_text(debian_version + "\n")
        return target


def build_tree(version: str) -> Path | None:
    """A build directory of the ``version`` tree configured for out-of-tree
    modules (defconfig, modules_prepare), made once per unpacked tree; None
    when the tree or the tools to build it are missing."""
    tree = kernel_tree(version)
    if tree is None or not all(shutil.which(t) for t in ("make", "gcc", "bison", "flex")):
        return None
    out = cache_root() / f"build-{version}"
    stamp = out / _STAMP
    want = _unpacked_from(tree)
    if stamp.is_file() and stamp.read_text() == want:
        return out
    with _locked(f"build-{version}"):
        if stamp.is_file() and stamp.read_text() == want:
            return out
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        jobs = str(os.cpu_count() or 1)
        for target in (["defconfig"], ["-j", jobs, "modules_prepare"]):
            proc = subprocess.run(["make", "-s", "-C", str(tree), f"O={out}", *target], capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(out, ignore_errors=True)
                raise RuntimeError(f"make {' '.join(target)} for {version} failed:\n{proc.stderr[-2000:]}")
        stamp.write_text(want or "")
    return out


def main(argv: list[str]) -> int:
    fetching = "--fetch" in argv
    preparing = "--prepare" in argv
    versions = [a for a in argv if not a.startswith("--")] or ["6.1", "6.12"]
    for v in versions:
        if fetching and v in FOREIGN_SUITES:
            fetch(v)
        tree = kernel_tree(v)
        if tree is None:
            how = f"python3 {__file__} --fetch {v}" if v in FOREIGN_SUITES else f"apt-get install linux-source-{v}"
            print(f"linux-source-{v} is not on this machine ({how})", file=sys.stderr)
            return 2
        print(build_tree(v) if preparing else tree)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
