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
