"""The driver a C file belongs to: the files of its directory that kbuild
links with it or that build under a Kconfig symbol tied to its own, and
the ops registrations those files make for functions it defines.

A directory is not a driver: drivers/pci holds P2PDMA next to the PCI core,
drivers/dax builds dax.o (bus.c, super.c) under DAX and device_dax.o
(device.c) under DEV_DAX, which depends on DAX. The directory's Makefile
says which CONFIG symbol builds which file (composite objects followed), the
Kconfig which symbols depend on which: a file's driver is the files of its
own symbols and of the symbols that depend directly on one of them, or that
one of them depends on. Without a Makefile that names the file, the whole
directory is the driver, as before.

Everything is read through the kernel reader (patch and audit modes see
their own trees) and memoised per run."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from daxlint.analysis.callgraph import CallGraph, could_have_role
from daxlint.analysis.kconfig_facts import display_path, driver_kconfig_dir
from daxlint.analysis.locate import word_starts
from daxlint.analysis.types import TypeResolver
from daxlint.core.source import SourceFile
from daxlint.kconfig.makefile import makefile_objects

_SYMBOL = re.compile(r"\b[A-Z][A-Z0-9_]*\b")


def driver_files(kernel, path: str) -> list[str]:
    """The C files of ``path``'s driver in its directory, ``path`` included."""
    key = os.path.normpath(os.path.abspath(path))
    return kernel.memo(("driver-files", key), lambda: _driver_files(kernel, key))


def _driver_files(kernel, path: str) -> list[str]:
    d = os.path.dirname(path)
    siblings = [os.path.join(d, n) for n in kernel.listdir(d) if n.endswith(".c")]
    if path not in siblings:
        siblings.append(path)
    objects = _objects(kernel, d)
    mine = {sym for sym, files in objects.items() if path in files}
    if not mine:
        return siblings
    deps = _depends(kernel, path)
    related = set(mine)
    for sym in objects:
        if sym in related:
            continue
        if deps.get(sym, set()) & mine or any(sym in deps.get(m, set()) for m in mine):
            related.add(sym)
    files = set().union(*(objects[s] for s in related))
    return [f for f in siblings if os.path.normpath(f) in files]


def _objects(kernel, directory: str) -> dict[str, set[str]]:
    def read():
        data = kernel.read(os.path.join(directory, "Makefile"))
        if data is None:
            data = kernel.read(os.path.join(directory, "Kbuild"))
        return makefile_objects(data.decode("utf-8", "replace"), directory) if data is not None else {}

    return kernel.memo(("makefile-objects", directory), read)


def _depends(kernel, path: str) -> dict[str, set[str]]:
    """Kconfig symbol -> the symbols its dependencies name, for the entries
    of the Kconfig that describes ``path``'s driver."""
    kdir = driver_kconfig_dir(kernel, path)
    if kdir is None:
        return {}
    out: dict[str, set[str]] = {}
    for e in kernel.kconfig_entries(kdir):
        names = out.setdefault(e.name, set())
        for expr in e.all_depends:
            names |= set(_SYMBOL.findall(expr))
    return out


# -- registrations made in sibling files --------------------------------------------

_MEMBER_VALUE = re.compile(rb"(?:\.|->)\s*([A-Za-z_]\w*)\s*=\s*&?\s*([A-Za-z_]\w*)\s*[,;}\n]")


@dataclass(frozen=True)
class SiblingRegistration:
    """``.fault = gru_fault`` in another file of the driver."""

    function: str
    member: str
    struct: str | None
    role: str | None
    where: str  # the registering file, as shown in messages
    line: int


def sibling_registrations(kernel, path: str, names: set[str], shown: str) -> list[SiblingRegistration]:
    """Registrations of ``names`` (functions ``path`` defines and does not
    keep static) in the other files of its driver. A sibling is parsed only
    when its bytes store one of the names into a member that gives a role;
    one that does not is read as such (kernel.read_if), so that editing it
    does not make this verdict stale."""
    if not names:
        return []
    me = os.path.normpath(os.path.abspath(path))
    out: list[SiblingRegistration] = []
    why = _REGISTERS_ANY + " ".join(sorted(names))
    for sib in driver_files(kernel, me):
        if os.path.normpath(sib) == me:
            continue
        data = kernel.read_if(sib, lambda data, sib=sib: registers_any(data, names, lambda: _stores(kernel, sib)), why)
        if data is None:
            continue
        if shown and not os.path.isabs(shown):
            where = os.path.join(os.path.dirname(shown), os.path.basename(sib))  # as the user named the file
        else:
            where = display_path(kernel, sib)
        for reg in _parsed_registrations(kernel, sib):
            if reg[0] in names:
                out.append(SiblingRegistration(reg[0], reg[1], reg[2], reg[3], where, reg[4]))
    return out


# How sibling_registrations() describes its test of a sibling (see
# kernel.read_if), and weak_test() reads it back.
_REGISTERS_ANY = "registers one of: "


def weak_test(why: str):
    """The test a ``why`` of read_if() describes, for a file of another
    tree: data -> whether the verdict must read it; None for one not made
    here."""
    if why.startswith(_REGISTERS_ANY):
        names = set(why[len(_REGISTERS_ANY) :].split())
        return lambda data: registers_any(data, names)
    return None


# A definition starts a line: ``name(`` after its type, its parameter list
# not ended by a semicolon on that line (or its body opened on it: a
# one-line ``static inline`` helper); or ``#define name(``. The pattern
# starts with the newline before the line (the file gets one in front): a
# literal the regex engine jumps between, where ``^`` is tried at every byte.
_DEFINITION_OR_MACRO = re.compile(rb"(?m)\n(?:#[ \t]*define[ \t]+(\w+)\(|[A-Za-z_][\w \t*]*?\b(\w+)\s*\([^;{]*(?:\{|$))")


@lru_cache(maxsize=8)
def definitions(data: bytes) -> tuple[tuple[int, str], ...]:
    """(offset, name) of each function and function-like macro ``data``
    defines, in order (by its bytes); once for the few files asked again."""
    return tuple((m.start(), (m.group(1) or m.group(2)).decode()) for m in _DEFINITION_OR_MACRO.finditer(b"\n" + data))


def defined_names(data: bytes) -> frozenset[str]:
    """The functions and function-like macros ``data`` defines."""
    return frozenset(name for _, name in definitions(data))


_DEFINITION_LINE = re.compile(_DEFINITION_OR_MACRO.pattern[len(rb"(?m)\n") :], re.M)


def defines(data: bytes, name: str) -> bool:
    """Whether ``data`` defines ``name`` as a function or function-like
    macro: the lines that name it read as definitions() reads a line (a few
    names asked of a file cost less than all its definitions)."""
    for pos in word_starts(data, name.encode()):
        m = _DEFINITION_LINE.match(data, data.rfind(b"\n", 0, pos) + 1)
        if m is not None and pos in (m.start(1), m.start(2)):
            return True
    return False


def registers_any(data: bytes, names, stores=None) -> bool:
    """Whether ``data`` stores one of ``names`` into a member that gives a
    role (``.fault = name``), by its bytes. ``stores``: the file's member
    stores, memoized by the caller (else scanned here)."""
    if not any(n.encode() in data for n in names):
        return False  # names none of them: nothing to look at
    found = stores() if stores is not None else member_stores(data)
    return any(value in names and could_have_role(member) for member, value in found)


def member_stores(data: bytes) -> frozenset[tuple[str, str]]:
    """Each ``.member = value`` / ``->member = &value`` of a file."""
    return frozenset((m.group(1).decode(), m.group(2).decode()) for m in _MEMBER_VALUE.finditer(data))


def _stores(kernel, path: str) -> frozenset[tuple[str, str]]:
    def scan():
        data = kernel.read(path)
        return frozenset() if data is None else member_stores(data)

    return kernel.memo(("member-stores", os.path.normpath(path)), scan)


def _parsed_registrations(kernel, path: str) -> list[tuple[str, str, str | None, str | None, int]]:
    def parse():
        data = kernel.read(path)
        if data is None:
            return []
        src = SourceFile(path, data)
        graph = CallGraph(src.root, data, TypeResolver(src, kernel.catalog), defined_only=False)
        return [(r.function, r.member, r.struct, r.role, r.node.start_point[0] + 1) for r in graph.registrations]

    return kernel.memo(("sibling-registrations", os.path.normpath(path)), parse)
