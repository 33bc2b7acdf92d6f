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
import re
from dataclasses import dataclass

from daxlint.core.directives import Include
from daxlint.kconfig.makefile import kbuild_include_dirs

MAX_DEPTH = 3

# Only quoted includes name the module's headers. Found from each
# ``include`` in the bytes, matched from the start of its line: a full
# directive scan, or a pattern tried at every line, cost more than the rest
# of the walk, which runs for every file of a tree that mentions a vma.
_QUOTED_INCLUDE = re.compile(rb'[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"')


def _quoted_includes(text: bytes) -> list[Include]:
    out: list[Include] = []
    pos = text.find(b"include")
    last_line = -1
    while pos >= 0:
        line = text.rfind(b"\n", 0, pos) + 1
        if line != last_line:
            last_line = line
            m = _QUOTED_INCLUDE.match(text, line)
            if m is not None:
                out.append(Include(line, m.group(1).decode("utf-8", "replace"), False, None))
        pos = text.find(b"include", pos + 7)
    return out


@dataclass(frozen=True)
class Header:
    path: str  # where it was found
    name: str  # as the #include names it
    data: bytes
    depth: int  # 1: included by the file itself


def include_dirs(kernel, directory: str) -> list[str]:
    """The directories a module's Kbuild file (or Makefile) adds with -I:
    the one beside the file, or - a module whose sources sit in a
    subdirectory, ``nvidia-uvm-y := nvidia-uvm/uvm.o`` - the nearest one
    above that names the subdirectory (two levels up at most)."""

    def read() -> list[str]:
        root = str(kernel.root) if kernel.root is not None else None
        here = os.path.normpath(directory)
        for up in range(3):
            for name in ("Kbuild", "Makefile"):
                data = kernel.read(os.path.join(here, name))
                if data is None:
                    continue
                text = data.decode("utf-8", "replace")
                if up and os.path.relpath(directory, here) + "/" not in text:
                    return []  # another directory's build, not this one's
                return kbuild_include_dirs(text, here, root)
            parent = os.path.dirname(here)
            if parent == here or (root is not None and not parent.startswith(os.path.normpath(root))):
                break
            here = parent
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
            for inc in _quoted_includes(text):
                for candidate in include_candidates(inc, path, dirs):
                    if candidate in seen:
                        continue
                    header = kernel.memo(("header-bytes", candidate), lambda c=candidate: kernel.read(c))
                    if header is None:
                        continue
                    seen.add(candidate)
                    out.append(Header(candidate, inc.name, header, depth + 1))
                    todo.append((header, candidate, depth + 1))
                    break
        return out

    if data is None:
        return kernel.memo(("local-headers", os.path.normpath(abspath)), walk)
    # Given bytes (a patch's version, a rule's view) count only through the
    # headers they include: the rules and the module model that walk them
    # for one file share one walk.
    included = tuple(inc.name for inc in _quoted_includes(data)) if b"include" in data else ()
    return kernel.memo(("local-headers", os.path.normpath(abspath), included), walk)


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
