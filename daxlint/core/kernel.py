"""What daxlint knows about the kernel tree being checked: where its top is,
which version it is (from the top Makefile, or --kernel-version), what its
Kconfig files say, and the run's memo of what rules computed about it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daxlint.core.build import BuildSetup
from daxlint.core.catalog import catalog_for, newest_catalog_version
from daxlint.kconfig.parser import parse_kconfig_symbols
from daxlint.sources.tree import TreeReader
from daxlint.version import KernelVersion, VersionRange, read_makefile_version


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


# Directory facts an audit keeps (each a few names and the reads behind them).
_DIRECTORY_FACTS_KEPT = 4096


class KernelContext:
    """Per-run facts about the tree: version, catalog, Kconfig of directories.

    Everything is read lazily and cached, and nothing is ever written.
    ``memo`` holds what analyses compute about the tree once per run (a
    directory's DAX facts, the Kconfig symbol index); a mode may seed it
    (audit hands every file the tree's shared Kconfig index).

    ``versions`` is the range the code is checked for (``--kernel-version
    4.14..6.12``); ``version`` is then its newest release, and rules run on
    ``at(v)``, a context for one release of it. ``build`` holds what the
    build defines besides the version (-D/-U, [macros], Kbuild's config)."""

    def __init__(
        self,
        root: Path | None,
        version: KernelVersion | None,
        version_source: str,
        reader: TreeReader | None = None,
        memo: dict | None = None,
        versions: VersionRange | None = None,
        build: BuildSetup | None = None,
        within: VersionRange | None = None,
        fix_style: str = "guard",
        content_memo: dict | None = None,
        directory_memo: dict | None = None,
    ):
        self.root = root
        self.versions = versions if versions is not None and not versions.is_single else None
        self.version = self.versions.last if self.versions is not None else version
        self.version_source = version_source  # "flag", "Makefile", "config", "dkms.conf", "kbuild" or "default"
        self.reader = reader or TreeReader()
        self.build = build or BuildSetup()
        # The range a context for one of its releases belongs to (at()).
        self.within = within
        self._memo: dict = memo if memo is not None else {}
        # Facts that are a function of a file's bytes alone (the helpers a
        # file defines), kept by content: shared where the memo is not - an
        # audit gives each file a fresh memo, so that its reader sees every
        # file the verdict reads, but a fact of bytes needs no reading.
        self._content_memo: dict = content_memo if content_memo is not None else self._memo
        # Facts of a directory's files (the helpers they define), kept by the
        # directory's contents with the reads that made them.
        self._directory_memo = directory_memo
        self._catalog = None
        # How fixes keep code building on kernels before an API it adopts:
        # "guard" (a version test around the new call) or "shim" (one
        # compat definition per file): --fix-style.
        self.fix_style = fix_style

    @classmethod
    def for_paths(
        cls,
        paths: list[Path],
        override: VersionRange | None = None,
        source: str = "flag",
        build: BuildSetup | None = None,
        fix_style: str = "guard",
    ) -> KernelContext:
        root = None
        for p in paths:
            root = find_tree_root(p)
            if root:
                break
        if override is not None:
            return cls(root, override.last, source, versions=override, build=build, fix_style=fix_style)
        if root is not None:
            return cls(root, read_makefile_version(root / "Makefile"), "Makefile", build=build, fix_style=fix_style)
        return cls(None, None, "default", build=build, fix_style=fix_style)

    @property
    def checked(self) -> VersionRange:
        """The versions the code is checked for."""
        return self.versions if self.versions is not None else VersionRange.single(self.effective_version)

    @property
    def whole_range(self) -> VersionRange:
        """Every version the run checks, also from a context for one of them."""
        return self.within or self.checked

    @property
    def version_label(self) -> str:
        """ "6.1", or "4.14..6.12" for a range."""
        return str(self.checked)

    def setup_key(self) -> list:
        """What a cached result depends on about the build: the versions and
        the macros, sublevel and configuration it defines."""
        b = self.build
        macros = sorted((name, spec.value, str(spec.versions) if spec.versions else None) for name, spec in b.macros.items())
        return [self.version_label, macros, b.sublevel, b.config_complete, self.fix_style]

    def at(self, version: KernelVersion) -> KernelContext:
        """This context for one release (itself when that is all it checks)."""
        if self.versions is None and version == self.effective_version:
            return self
        return self.memo(
            ("at", version),
            # One memo for every release: what rules learn about other files
            # (a sibling's DAX facts, the Kconfig index) does not depend on it.
            lambda: KernelContext(
                self.root,
                version,
                self.version_source,
                self.reader,
                self._memo,
                build=self.build,
                within=self.checked,
                fix_style=self.fix_style,
                content_memo=self._content_memo,
                directory_memo=self._directory_memo,
            ),
        )

    def forget(self) -> None:
        """Forget what the run learnt about the tree (``--fix`` changed it;
        the report after the fix is a run of its own)."""
        self._memo.clear()
        self.reader.forget()

    def memo_of_bytes(self, what: str, data: bytes, fact: Callable[[bytes], Any]):
        """``fact(data)`` - a function of the bytes alone, never of what
        else the tree holds - computed once per content and run."""
        # Python's hash of the bytes (kept on the object, so a file the
        # reader hands out again costs nothing) and their length: 64 bits.
        key = ("bytes", what, len(data), hash(data))
        try:
            return self._content_memo[key]
        except KeyError:
            value = self._content_memo[key] = fact(data)
            return value

    def memo_for_directory(self, directory: str, what: str, factory: Callable[[], Any]):
        """``factory()``, a fact of ``directory``'s files, once per contents
        of the directory: where each file has a memo of its own (an audit),
        shared by the verdicts of every commit with the same directory, and
        what the factory read recorded for each verdict that uses it."""
        contents = self.reader.directory_key(directory)
        if self._directory_memo is None or contents is None:
            return self.memo((what, directory), factory)
        key = (what, directory, contents)
        if key in self._directory_memo:
            value, reads = self._directory_memo[key]
            self.reader.replay(reads)
            return value
        while len(self._directory_memo) >= _DIRECTORY_FACTS_KEPT:
            del self._directory_memo[next(iter(self._directory_memo))]  # the oldest
        value, reads = self._directory_memo[key] = self.reader.reads_during(factory)
        return value

    def memo(self, key, factory: Callable[[], Any]):
        """``factory()``, computed once per run for ``key``."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = factory()
            return value

    @property
    def effective_version(self) -> KernelVersion:
        """The version rules should assume: the tree's, or else the newest the
        catalog describes (new code is written against mainline)."""
        if self.version is not None:
            return self.version
        return newest_catalog_version()

    @property
    def catalog(self):
        if self._catalog is None:
            self._catalog = catalog_for(self.effective_version)
        return self._catalog

    def kconfig_entries(self, directory: str) -> list:
        """Config entries (kconfig.parser.Symbol) of the Kconfig file in
        ``directory``, if any."""
        key = os.path.normpath(directory)

        def parse():
            kpath = os.path.join(key, "Kconfig")
            data = self.reader.read(kpath)
            return parse_kconfig_symbols(data.decode("utf-8", "replace"), kpath)[0] if data is not None else []

        return self.memo(("kconfig-entries", key), parse)

    def has_kconfig(self, directory: str) -> bool:
        return self.reader.read(os.path.join(directory, "Kconfig")) is not None

    def read(self, path: str) -> bytes | None:
        return self.reader.read(path)

    def read_if(self, path: str, relevant, why: str) -> bytes | None:
        return self.reader.read_if(path, relevant, why)

    def read_fact(self, path: str, name: str, fact):
        return self.reader.read_fact(path, name, fact)

    def listdir(self, directory: str) -> list[str]:
        return self.reader.listdir(directory)

    def knows(self, path: str) -> bool:
        """Whether read(path) gives the whole file (or its true absence):
        False for a file a patch shows only as hunks, or one no patch shows
        when there is no tree (``daxlint patch`` without --tree)."""
        return self.reader.known(path)

    def knows_directory(self, directory: str) -> bool:
        """Whether listdir(directory) names every file in it."""
        return self.reader.listing_complete(directory)

    def shown(self, path: str) -> str | None:
        """What a patch series has shown of a file known only by its hunks."""
        return self.reader.shown(path)
