"""What daxlint knows about the kernel tree being checked: where its top is,
which version it is (from the top Makefile, or --kernel-version), and what its
Kconfig files say."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import total_ordering
from pathlib import Path

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.\d+)?\s*$")
_MAKEFILE_FIELD = re.compile(rb"^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$", re.M)


@total_ordering
@dataclass(frozen=True)
class KernelVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "KernelVersion":
        m = _VERSION_RE.match(text or "")
        if not m:
            raise ValueError(f"invalid kernel version {text!r} (expected X.Y, e.g. 6.1)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: "KernelVersion") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def read_makefile_version(makefile: Path) -> KernelVersion | None:
    """VERSION/PATCHLEVEL from a kernel top Makefile, or None if it is not one."""
    try:
        with open(makefile, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    return makefile_version(head)


def makefile_version(data: bytes) -> KernelVersion | None:
    """VERSION/PATCHLEVEL from the bytes of a top Makefile (e.g. a git blob)."""
    fields = dict((k.decode(), int(v)) for k, v in _MAKEFILE_FIELD.findall(data[:4096]))
    if "VERSION" in fields and "PATCHLEVEL" in fields:
        return KernelVersion(fields["VERSION"], fields["PATCHLEVEL"])
    return None


def find_tree_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` whose Makefile names a kernel
    version (the top of a kernel tree)."""
    p = path.resolve() if path.exists() else path.absolute()
    if p.is_file():
        p = p.parent
    for candidate in (p, *p.parents):
        mk = candidate / "Makefile"
        if mk.is_file() and read_makefile_version(mk) is not None:
            return candidate
    return None


class TreeReader:
    """How rules read files other than the one being checked (a directory's
    Kconfig, sibling sources). The default reads the disk; patch and audit
    modes substitute readers over a patched copy or git objects."""

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def listdir(self, directory: str) -> list[str]:
        try:
            return sorted(os.listdir(directory))
        except OSError:
            return []

    def signature(self, path: str):
        """Something that changes when the file changes (for cache keys)."""
        try:
            st = os.stat(path)
            return (st.st_size, st.st_mtime_ns)
        except OSError:
            return None


class KernelContext:
    """Per-run facts about the tree: version, catalog, Kconfig of directories.

    Everything is read lazily and cached, and nothing is ever written."""

    def __init__(self, root: Path | None, version: KernelVersion | None, version_source: str, reader: TreeReader | None = None):
        self.root = root
        self.version = version
        self.version_source = version_source  # "flag", "Makefile", "config" or "default"
        self.reader = reader or TreeReader()
        self._kconfig: dict[str, list] = {}
        self._catalog = None

    @classmethod
    def for_paths(cls, paths: list[Path], override: KernelVersion | None = None) -> "KernelContext":
        root = None
        for p in paths:
            root = find_tree_root(p)
            if root:
                break
        if override is not None:
            return cls(root, override, "flag")
        if root is not None:
            return cls(root, read_makefile_version(root / "Makefile"), "Makefile")
        return cls(None, None, "default")

    @property
    def effective_version(self) -> KernelVersion:
        """The version rules should assume: the tree's, or else the newest the
        catalog describes (new code is written against mainline)."""
        if self.version is not None:
            return self.version
        from daxlint.catalog import newest_catalog_version

        return newest_catalog_version()

    @property
    def catalog(self):
        if self._catalog is None:
            from daxlint.catalog import catalog_for

            self._catalog = catalog_for(self.effective_version)
        return self._catalog

    def kconfig_entries(self, directory: str) -> list:
        """Config entries (kconfig_deps.Symbol) of the Kconfig file in
        ``directory``, if any."""
        from daxlint.analysis.kconfig_deps import parse_kconfig_symbols

        key = os.path.normpath(directory)
        if key not in self._kconfig:
            kpath = os.path.join(key, "Kconfig")
            data = self.reader.read(kpath)
            self._kconfig[key] = parse_kconfig_symbols(data.decode("utf-8", "replace"), kpath)[0] if data is not None else []
        return self._kconfig[key]

    def has_kconfig(self, directory: str) -> bool:
        return self.reader.read(os.path.join(directory, "Kconfig")) is not None

    def read(self, path: str) -> bytes | None:
        return self.reader.read(path)

    def listdir(self, directory: str) -> list[str]:
        return self.reader.listdir(directory)
