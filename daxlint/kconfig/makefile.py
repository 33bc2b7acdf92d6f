"""kbuild Makefiles: which C files a CONFIG_ symbol builds."""

from __future__ import annotations

import os
import re

from daxlint.kconfig.parser import joined_lines

_OBJ = re.compile(r"^\s*obj-\$\(CONFIG_(\w+)\)\s*[:+]?=\s*(.*)$")
_OBJ_Y = re.compile(r"^\s*obj-y\s*[:+]?=\s*(.*)$")
# An out-of-tree module's own objects (obj-m := foo.o): each is a module of
# its own, named as the symbol "module:foo".
_OBJ_M = re.compile(r"^\s*obj-m\s*[:+]?=\s*(.*)$")
MODULE_PREFIX = "module:"
_COMPOSITE = re.compile(r"^\s*([\w-]+?)-(y|objs|\$\(CONFIG_(\w+)\))\s*[:+]?=\s*(.*)$")


def makefile_objects(text: str, directory: str) -> dict[str, set[str]]:
    """CONFIG symbol -> the C files (paths in ``directory``) it builds,
    following composite objects (``foo-y := a.o b.o``, ``foo-objs``). Files
    built by a composite's conditional part (``foo-$(CONFIG_X) += c.o``)
    belong to the composite's symbol and to X; an ``obj-m`` object (an
    out-of-tree module) is a symbol of its own, ``module:<name>``."""
    lines = [line for _, line in joined_lines(text)]
    composites: dict[str, list[tuple[str | None, str]]] = {}
    top: list[tuple[str | None, str]] = []
    for line in lines:
        line = line.split("#", 1)[0]
        m = _OBJ.match(line)
        if m:
            for obj in m.group(2).split():
                top.append((m.group(1), obj))
            continue
        m = _OBJ_Y.match(line)
        if m:
            for obj in m.group(1).split():
                top.append((None, obj))
            continue
        m = _OBJ_M.match(line)
        if m:
            for obj in m.group(1).split():
                top.append((MODULE_PREFIX + obj.removesuffix(".o"), obj))
            continue
        m = _COMPOSITE.match(line)
        if m and not m.group(1).startswith(
            ("obj", "subdir", "ccflags", "asflags", "ldflags", "always", "extra", "hostprogs", "targets", "clean")
        ):
            for obj in m.group(4).split():
                composites.setdefault(m.group(1), []).append((m.group(3), obj))
    out: dict[str, set[str]] = {}

    def add(sym: str | None, obj: str, depth: int = 0):
        if sym is None or not obj.endswith(".o") or depth > 4:
            return
        stem = obj[:-2]
        if stem in composites:
            for cond, part in composites[stem]:
                add(sym, part, depth + 1)
                if cond:
                    add(cond, part, depth + 1)
            return
        out.setdefault(sym, set()).add(os.path.normpath(os.path.join(directory, stem + ".c")))

    for sym, obj in top:
        add(sym, obj)
    return out


# The directory variables a module's Kbuild file names its own tree with.
_HERE_VARS = re.compile(r"\$[({](?:src|obj|M|PWD|CURDIR|KBUILD_EXTMOD|KBUILD_EXTMOD_DIR)[)}]")
_SRCTREE = re.compile(r"\$[({]srctree[)}]")
_CFLAGS_LINE = re.compile(r"^\s*(?:(?:subdir-)?ccflags-[\w$()]+|EXTRA_CFLAGS|[\w-]+-cflags|CFLAGS_[\w.]+\.o)\s*[:+]?=\s*(.*)$")


def kbuild_include_dirs(text: str, directory: str, root: str | None) -> list[str]:
    """The directories a Kbuild file or Makefile adds to the include path
    with ``-I`` in its compiler flags (``ccflags-y += -I$(src)/include``),
    as paths: ``$(src)``/``$(obj)``/``$(M)``/``$(PWD)`` are ``directory``,
    ``$(srctree)`` the kernel tree's top (when known); relative paths are
    the directory's. Only directories within the checked code are kept."""
    out: list[str] = []
    for _, line in joined_lines(text):
        m = _CFLAGS_LINE.match(line.split("#", 1)[0])
        if m is None:
            continue
        words = m.group(1).split()
        for i, word in enumerate(words):
            if word == "-I":
                path = words[i + 1] if i + 1 < len(words) else None
            else:
                path = word[2:] if word.startswith("-I") else None
            if not path:
                continue
            path = _HERE_VARS.sub(directory.replace("\\", "/"), path)
            if _SRCTREE.search(path):
                if root is None:
                    continue
                path = _SRCTREE.sub(root.replace("\\", "/"), path)
            if "$" in path:
                continue  # a variable we cannot resolve
            full = os.path.normpath(os.path.join(directory, path))
            if full not in out:
                out.append(full)
    return out
