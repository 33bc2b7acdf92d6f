"""The headers of the checked code: what ``#include "..."`` finds.

One walker for every analysis that reads a driver's own headers - the
macros a build's conditions test (core.build), the compat shims a fix
calls (DAX301), the pfn flag macros (DAX101), the helpers and macros a
fault handler calls (DAX302) - so that each header is found the same way
and read once per run.

``#include "x.h"`` finds x.h beside the including file, then in the
directories the module's Kbuild file adds with ``-I`` (``ccflags-y +=
-I$(src)/include``); ``<...>`` headers are the kernel's, whose macros are
the build's (-D, Kbuild), not read from the tree. Headers the headers
include are followed, three deep."""

from __future__ import annotations

import os
from dataclasses import dataclass

from daxlint.core.directives import Include, scan
from daxlint.kconfig.makefile import kbuild_include_dirs

MAX_DEPTH = 3


@dataclass(frozen=True)
class Header:
    path: str  # where it was found
    name: str  # as the #include names it
    data: bytes
    depth: int  # 1: included by the file itself


def include_dirs(kernel, directory: str) -> list[str]:
    """The directories a module's Kbuild file (or Makefile) adds with -I."""

    def read() -> list[str]:
        for name in ("Kbuild", "Makefile"):
            data = kernel.read(os.path.join(directory, name))
            if data is not None:
                root = str(kernel.root) if kernel.root is not None else None
                return kbuild_include_dirs(data.decode("utf-8", "replace"), directory, root)
        return []

    return kernel.memo(("kbuild-include-dirs", os.path.normpath(directory)), read)


def include_candidates(inc: Include, including: str, dirs: list[str] = ()) -> list[str]:
    """Where ``#include "..."`` finds a header of the checked code: beside
    the including file, then in ``dirs`` (the module's -I directories)."""
    if inc.angled:
        return []
    return [os.path.normpath(os.path.join(d, inc.name)) for d in (os.path.dirname(including), *dirs)]


def local_headers(kernel, abspath: str | None, data: bytes | None = None) -> list[Header]:
    """The module's own headers ``abspath`` includes, and theirs, in the
    order they are included, each once (read through the kernel reader,
    memoised per run). ``data``: the file's bytes when they are not the
    reader's (a patch's version of it)."""
    if abspath is None:
        return []

    def walk() -> list[Header]:
        dirs = include_dirs(kernel, os.path.dirname(abspath))
        out: list[Header] = []
        seen = {os.path.normpath(abspath)}
        todo = [(data if data is not None else kernel.read(abspath), abspath, 0)]
        while todo:
            text, path, depth = todo.pop(0)
            if not text or depth >= MAX_DEPTH or (b"include" not in text):
                continue
            for inc in scan(text).includes:
                for candidate in include_candidates(inc, path, dirs):
                    if candidate in seen:
                        continue
                    header = kernel.read(candidate)
                    if header is None:
                        continue
                    seen.add(candidate)
                    out.append(Header(candidate, inc.name, header, depth + 1))
                    todo.append((header, candidate, depth + 1))
                    break
        return out

    if data is not None:
        return walk()
    return kernel.memo(("local-headers", os.path.normpath(abspath)), walk)


def module_header_files(path: str) -> list[str]:
    """The header files a verdict on ``path`` may read, for the result
    cache: the ``.h`` files beside it and in its module's -I directories
    (read from disk: the cache validates files on disk)."""
    d = os.path.dirname(path)
    dirs = [d]
    for name in ("Kbuild", "Makefile"):
        try:
            with open(os.path.join(d, name), encoding="utf-8", errors="replace") as fh:
                dirs += kbuild_include_dirs(fh.read(), d, None)
            break
        except OSError:
            continue
    out = []
    for directory in dirs:
        try:
            out += [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.endswith(".h")]
        except OSError:
            continue
    return out
