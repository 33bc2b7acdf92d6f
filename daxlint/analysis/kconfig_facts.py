"""Kconfig questions the C rules ask about the driver a file belongs to."""

from __future__ import annotations

import os
from dataclasses import dataclass

from daxlint.kconfig.index import kconfig_index

FS_DAX_LIMITED = "FS_DAX_LIMITED"


def driver_kconfig_dir(kernel, path: str | None) -> str | None:
    """The directory whose Kconfig describes the driver of ``path``: its own
    directory, or the nearest parent with a Kconfig (never above the tree)."""
    if path is None:
        return None
    d = os.path.dirname(os.path.abspath(path))
    root = os.path.abspath(str(kernel.root)) if kernel.root is not None else None
    for _ in range(3):
        if kernel.has_kconfig(d):
            return d
        parent = os.path.dirname(d)
        if parent == d or (root is not None and not parent.startswith(root)) or (root is not None and parent == root):
            break
        d = parent
    return None


@dataclass(frozen=True)
class LimitedOptIn:
    """A Kconfig entry that selects FS_DAX_LIMITED."""

    symbol: str
    kconfig: str
    line: int
    symbol_exists: bool  # False when the tree no longer defines FS_DAX_LIMITED


def fs_dax_limited_opt_in(kernel, path: str | None) -> LimitedOptIn | None:
    d = driver_kconfig_dir(kernel, path)
    if d is None:
        return None
    for e in kernel.kconfig_entries(d):
        if any(name == FS_DAX_LIMITED for name, _condition in e.selects):
            idx = kconfig_index(kernel)
            exists = idx.defines(FS_DAX_LIMITED) if kernel.root is not None and idx.has_tree else True
            return LimitedOptIn(e.name, e.path, e.line, exists)
    return None


def display_path(kernel, path: str) -> str:
    """``path`` relative to the tree top (or the current directory) for messages."""
    base = str(kernel.root) if kernel.root is not None else os.getcwd()
    rel = os.path.relpath(path, base)
    return path if rel.startswith("..") else rel


def kconfig_context_files(path: str) -> list[str]:
    """The Kconfig files a verdict on ``path`` may depend on (for the cache)."""
    d = os.path.dirname(path)
    return [os.path.join(d, "Kconfig"), os.path.join(os.path.dirname(d), "Kconfig")]
