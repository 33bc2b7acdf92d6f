"""Unpack Debian's linux-source tarballs into a cache outside the repository.

Tests and benchmarks share this so a tree is unpacked once per machine:
``python benchmarks/kernel_tree.py 6.1`` prints the path of the unpacked tree.
Unpacking goes to a temporary sibling directory that is renamed into place only
when tar succeeded, so an interrupted run never leaves a half tree behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TARBALL_DIR = Path("/usr/src")


def cache_root() -> Path:
    # Not under XDG_CACHE_HOME: tests point that at a temporary directory to
    # isolate daxlint's result cache, and must still find the unpacked trees.
    override = os.environ.get("DAXLINT_KERNELS_DIR")
    return Path(override) if override else Path.home() / ".cache" / "daxlint-kernels"


def tarball(version: str) -> Path:
    return TARBALL_DIR / f"linux-source-{version}.tar.xz"


def kernel_tree(version: str) -> Path | None:
    """Return the unpacked tree for ``version`` (e.g. "6.1"), or None when the
    Debian package linux-source-<version> is not installed."""
    dest = cache_root() / f"linux-source-{version}"
    if (dest / "Makefile").is_file():
        return dest
    src = tarball(version)
    if not src.is_file():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test worker may be unpacking
        if (dest / "Makefile").is_file():
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{version}-", dir=dest.parent))
        try:
            subprocess.run(["tar", "-xJf", str(src), "-C", str(tmp)], check=True)
            inner = tmp / f"linux-source-{version}"
            if dest.exists():
                shutil.rmtree(dest)
            inner.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


if __name__ == "__main__":
    for v in sys.argv[1:] or ["6.1", "6.12"]:
        tree = kernel_tree(v)
        if tree is None:
            print(f"linux-source-{v} is not installed (apt-get install linux-source-{v})", file=sys.stderr)
            sys.exit(2)
        print(tree)
