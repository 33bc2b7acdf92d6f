"""Kconfig dependencies, enough to answer "can this driver be built without
ZONE_DEVICE?" and "which Kconfig entry builds this C file?".

- ``parse_kconfig_symbols`` reads one Kconfig file keeping the enclosing
  ``if`` / ``menu ... depends on`` conditions of every entry (which
  daxlint.kernel's line scan does not need and does not keep).
- ``KconfigIndex`` finds a symbol's definitions across the tree by
  following ``source`` statements from the top Kconfig, through the kernel
  reader; without a tree it knows only the files it was given.
- ``guarantees(expr, targets)`` decides whether a dependency expression can
  only be true when one of ``targets`` is enabled (``A && B`` if either
  does, ``A || B`` if both do, a symbol if it is a target or its own
  dependencies guarantee it).
- ``makefile_objects`` maps CONFIG_ symbols of a kbuild Makefile to the C
  files they build.
"""

from __future__ import annotations

import os
import re
import weakref
from dataclasses import dataclass, field

_ENTRY = re.compile(r"^\s*(menuconfig|config)\s+(\w+)\s*$")
# First word -> (pattern, block kind, opens): the blocks whose conditions
# apply to the entries inside them.
_BLOCKS = {
    "if": (re.compile(r"^\s*if\s+(.+?)\s*(#.*)?$"), "if", True),
    "endif": (re.compile(r"^\s*endif\b"), "if", False),
    "menu": (re.compile(r'^\s*menu\s+"'), "menu", True),
    "endmenu": (re.compile(r"^\s*endmenu\b"), "menu", False),
    "choice": (re.compile(r"^\s*choice\b"), "choice", True),
    "endchoice": (re.compile(r"^\s*endchoice\b"), "choice", False),
}
_DEPENDS = re.compile(r"^\s*depends\s+on\s+(.+?)\s*(#.*)?$")
_SELECT = re.compile(r"^\s*select\s+(\w+)(?:\s+if\s+(.+?))?\s*(#.*)?$")
_SOURCE = re.compile(r"^\s*(o?r?source)\s+\"([^\"]+)\"")
_SOURCE_WORDS = frozenset({"source", "osource", "rsource", "orsource"})
# Lines that end the entry above them (their first word is all it takes).
_BLOCK_END_WORDS = _SOURCE_WORDS | {"comment", "mainmenu"}
_HELP = re.compile(r"^(\s*)(help|---help---)\s*$")


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


# The first words of the only lines the parser acts on. Most Kconfig lines
# are prompts, defaults and help text; skipping them before any regex runs
# makes the whole-tree index several times cheaper.
_KEYWORDS = frozenset({
    "config", "menuconfig", "if", "endif", "menu", "endmenu", "choice", "endchoice",
    "source", "osource", "rsource", "orsource", "comment", "mainmenu",
    "depends", "select", "help", "---help---",
})


@dataclass
class Symbol:
    name: str
    path: str
    line: int
    depends: list[str] = field(default_factory=list)  # own `depends on` lines
    context: list[str] = field(default_factory=list)  # enclosing `if` / menu conditions
    selects: list[tuple[str, str | None]] = field(default_factory=list)  # (symbol, condition)

    @property
    def all_depends(self) -> list[str]:
        return self.context + self.depends


def _joined_lines(text: str):
    """Lines with backslash continuations folded, keeping the first line number."""
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, buf + line
        buf = ""
    if buf:
        yield start, buf


def parse_kconfig_symbols(text: str, path: str = "Kconfig") -> tuple[list[Symbol], list[tuple[str, str]]]:
    """(entries, source statements as (kind, path)) of one Kconfig file."""
    symbols: list[Symbol] = []
    sources: list[tuple[str, str]] = []
    stack: list[tuple[str, list[str]]] = []  # ("if"|"menu"|"choice", conditions)
    current: Symbol | None = None
    menu_open = False  # just saw `menu "..."`: its depends lines go on the stack
    help_indent: int | None = None  # inside a help text indented deeper than this
    deeper: tuple[str, str] = ("", "")  # the help line's own indentation and one blank more
    # Without a backslash there is nothing to fold: the plain lines will do.
    lines = enumerate(text.splitlines(), 1) if "\\" not in text else _joined_lines(text)
    for lineno, line in lines:
        if help_indent is not None:
            # Most help lines start with the help line's indentation and a
            # blank more: deeper for certain, no need to expand tabs.
            if line.startswith(deeper) or not line.strip() or _indent(line) > help_indent:
                continue
            help_indent = None
        words = line.split(None, 1)
        if not words or words[0] not in _KEYWORDS:
            continue
        # Each keyword has its one pattern (no other can match a line that
        # starts with it).
        word = words[0]
        if word in ("help", "---help---"):
            if _HELP.match(line):
                help_indent = _indent(line)
                lead = line[: len(line) - len(line.lstrip())]
                deeper = (lead + " ", lead + "\t")
            continue
        if word in ("config", "menuconfig"):
            m = _ENTRY.match(line)
            if m:
                current = Symbol(m.group(2), path, lineno, context=[c for _, conds in stack for c in conds])
                symbols.append(current)
                menu_open = False
            continue
        block = _BLOCKS.get(word)
        if block is not None:
            pattern, kind, opens = block
            b = pattern.match(line)
            if b:
                if opens:
                    condition = b.group(1) if kind == "if" else None
                    stack.append((kind, [condition] if condition else []))
                else:
                    _pop(stack, kind)
                # `menu` and `choice` may carry `depends on` lines of their own.
                current, menu_open = None, opens and kind != "if"
            continue
        if word in _BLOCK_END_WORDS:
            s = _SOURCE.match(line) if word in _SOURCE_WORDS else None
            if s:
                sources.append((s.group(1), s.group(2)))
            current, menu_open = None, False
            continue
        if word == "depends":
            d = _DEPENDS.match(line)
            if d:
                if current is not None:
                    current.depends.append(d.group(1))
                elif menu_open and stack:
                    stack[-1][1].append(d.group(1))
            continue
        sel = _SELECT.match(line)
        if sel and current is not None:
            current.selects.append((sel.group(1), sel.group(2)))
    return symbols, sources


def _pop(stack, kind):
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == kind:
            del stack[i]
            return


# -- dependency expressions ---------------------------------------------------

_TOKEN = re.compile(r"\s*(\|\||&&|!=|<=|>=|[()!=<>]|\"[^\"]*\"|[A-Za-z0-9_]+)")


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            pos += 1
            continue
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_expr(expr: str):
    """A small Kconfig expression tree: ("sym", name) | ("and", a, b) |
    ("or", a, b) | ("not", a) | ("cmp", name, op, value) | ("const",)."""
    toks = _tokens(expr)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def primary():
        t = peek()
        if t is None:
            return ("const",)
        if t == "!":
            take()
            return ("not", primary())
        if t == "(":
            take()
            e = disj()
            if peek() == ")":
                take()
            return e
        take()
        if peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = take()
            value = take() if peek() is not None else ""
            return ("cmp", t, op, value.strip('"'))
        if t.startswith('"') or t in ("y", "m", "n"):
            return ("const",)
        return ("sym", t)

    def conj():
        e = primary()
        while peek() == "&&":
            take()
            e = ("and", e, primary())
        return e

    def disj():
        e = conj()
        while peek() == "||":
            take()
            e = ("or", e, conj())
        return e

    return disj()


# Facts for trees we cannot read (fixtures, patches without the tree): what
# FS_DAX depends on since 569d0365f571 (v4.15).
FS_DAX_DEPENDS_SINCE_4_15 = "MMU && (ZONE_DEVICE || FS_DAX_LIMITED)"


# Line breaks other than "\n" that str.splitlines() (and so the parser) honours.
_ODD_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
# Where a source statement may be (what precedes the keyword is checked
# apart), and the statement on a line.
_SOURCE_CANDIDATE = re.compile(r'source[^\S\n]+"')
_SOURCE_LINE = re.compile(r'(o?r?source)[^\S\n]+"([^"\n]+)"')
# Every name an entry line could define (and some that no line does: help
# text, continuations); a superset is all the lazy index needs. The name is
# not consumed, so "config \\" before a "menuconfig X" line still finds X.
_ENTRY_NAME = re.compile(r"config[\s\\]+(?=(\w+))")


def _plain_sources(text: str) -> list[tuple[str, str]] | None:
    """The source statements of a Kconfig file, found without parsing it:
    None unless every line that may hold one is a line the parser would take
    as it is (unindented, so never inside help text; no continuation before
    or after it; no line breaks but "\\n")."""
    if any(c in text for c in _ODD_BREAKS):
        return None
    out = []
    for m in _SOURCE_CANDIDATE.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        lead = text[start:m.start()]
        keyword = lead.lstrip()
        if keyword not in ("", "o", "r", "or"):
            continue  # not the line's first word
        end = text.find("\n", m.end())
        if keyword != lead or text.endswith("\\", start, len(text) if end < 0 else end) or (start >= 2 and text.startswith("\\\n", start - 2)):
            return None
        s = _SOURCE_LINE.match(text, start)
        if s:
            out.append((s.group(1), s.group(2)))
    return out


class _KconfigFile:
    """One Kconfig file of the tree: its source statements, read when the
    index loads, and its entries, parsed only when a symbol it may define is
    looked up (most of a tree's 1,700 Kconfig files never are)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self._symbols: list[Symbol] | None = None
        self.sources = _plain_sources(text)
        if self.sources is None:
            self._symbols, self.sources = parse_kconfig_symbols(text, path)

    @property
    def symbols(self) -> list[Symbol]:
        if self._symbols is None:
            self._symbols = parse_kconfig_symbols(self.text, self.path)[0]
        return self._symbols

    def names(self) -> set[str]:
        """The names the file may define (exact once it has been parsed)."""
        if self._symbols is not None:
            return {s.name for s in self._symbols}
        return set(_ENTRY_NAME.findall(self.text))


class KconfigIndex:
    """Symbol definitions of a tree, found by following `source` from the
    top Kconfig (read lazily, once per run). Loading reads every Kconfig
    file but parses a file only when a symbol it may define is asked for:
    the answers are those of parsing them all."""

    def __init__(self, reader, root: str | None, extra: dict[str, list[Symbol]] | None = None):
        self.reader = reader
        self.root = root
        self._files: list[_KconfigFile] | None = None
        self._candidates: dict[str, list[int]] = {}  # name -> indexes into _files, in reading order
        self._definitions: dict[str, list[Symbol]] = {}
        self._has_tree: bool | None = None
        self.extra = extra or {}

    def _load(self) -> list[_KconfigFile]:
        if self._files is not None:
            return self._files
        files: list[_KconfigFile] = []
        if self.root:
            arches = [a for a in self.reader.listdir(os.path.join(self.root, "arch"))]
            seen: set[str] = set()
            todo = [os.path.join(self.root, "Kconfig")]
            while todo:
                path = os.path.normpath(todo.pop())
                if path in seen:
                    continue
                seen.add(path)
                data = self.reader.read(path)
                if data is None:
                    continue
                f = _KconfigFile(path, data.decode("utf-8", "replace"))
                for name in f.names():
                    self._candidates.setdefault(name, []).append(len(files))
                files.append(f)
                for kind, src in f.sources:
                    base = os.path.dirname(path) if kind in ("rsource", "orsource") else self.root
                    variants = [src]
                    if "$(SRCARCH)" in src or "$(ARCH)" in src:
                        variants = [src.replace("$(SRCARCH)", a).replace("$(ARCH)", a) for a in arches]
                    for v in variants:
                        if "$" in v or "*" in v:
                            continue
                        todo.append(os.path.join(base, v))
        self._files = files
        return files

    def definitions(self, name: str) -> list[Symbol]:
        found = self._definitions.get(name)
        if found is None:
            files = self._load()
            found = self._definitions[name] = [s for i in self._candidates.get(name, ()) for s in files[i].symbols if s.name == name]
        return found or self.extra.get(name, [])

    def defines(self, name: str) -> bool:
        return bool(self.definitions(name))

    @property
    def has_tree(self) -> bool:
        """Whether the tree's Kconfig defines any symbol at all."""
        if self._has_tree is None:
            files = self._load()
            maybe = sorted({i for ids in self._candidates.values() for i in ids})
            self._has_tree = any(files[i].symbols for i in maybe)
        return self._has_tree


def guarantees(node, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()) -> bool:
    """Whether the expression ``node`` can only hold when one of ``targets`` is set."""
    kind = node[0]
    if kind == "and":
        return guarantees(node[1], targets, index, local, seen) or guarantees(node[2], targets, index, local, seen)
    if kind == "or":
        return guarantees(node[1], targets, index, local, seen) and guarantees(node[2], targets, index, local, seen)
    if kind == "cmp":
        name, op, value = node[1], node[2], node[3]
        if op == "=" and value in ("y", "m"):
            return symbol_guarantees(name, targets, index, local, seen)
        if op == "!=" and value == "n":
            return symbol_guarantees(name, targets, index, local, seen)
        return False
    if kind == "sym":
        return symbol_guarantees(node[1], targets, index, local, seen)
    return False


def symbol_guarantees(name: str, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()) -> bool:
    if name in targets:
        return True
    if name in seen or len(seen) > 40:
        return False
    defs = local.get(name) or index.definitions(name)
    if not defs:
        return False
    seen = seen | {name}
    # Every definition must guarantee it (a symbol defined twice is enabled by either).
    return all(entry_guarantees(d, targets, index, local, seen) for d in defs)


def entry_guarantees(sym: Symbol, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()) -> bool:
    """Whether an entry can only be enabled with one of ``targets``: through
    its dependencies, or because it selects a target unconditionally."""
    if any(sel in targets and cond is None for sel, cond in sym.selects):
        return True
    return any(guarantees(parse_expr(d), targets, index, local, seen | {sym.name}) for d in sym.all_depends)


# -- kbuild Makefiles -------------------------------------------------------------

_OBJ = re.compile(r"^\s*obj-\$\(CONFIG_(\w+)\)\s*[:+]?=\s*(.*)$")
_OBJ_Y = re.compile(r"^\s*obj-y\s*[:+]?=\s*(.*)$")
_COMPOSITE = re.compile(r"^\s*([\w-]+?)-(y|objs|\$\(CONFIG_(\w+)\))\s*[:+]?=\s*(.*)$")


def makefile_objects(text: str, directory: str) -> dict[str, set[str]]:
    """CONFIG symbol -> the C files (paths in ``directory``) it builds,
    following composite objects (``foo-y := a.o b.o``). Files built by a
    composite's conditional part (``foo-$(CONFIG_X) += c.o``) belong to the
    composite's symbol and to X."""
    lines = [line for _, line in _joined_lines(text)]
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
        m = _COMPOSITE.match(line)
        if m and not m.group(1).startswith(("obj", "subdir", "ccflags", "asflags", "ldflags", "always", "extra", "hostprogs", "targets", "clean")):
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


_INDEXES: "weakref.WeakKeyDictionary[object, KconfigIndex]" = weakref.WeakKeyDictionary()


def kconfig_index(kernel) -> KconfigIndex:
    """The per-run index of a KernelContext's tree."""
    idx = _INDEXES.get(kernel)
    if idx is None:
        root = str(kernel.root) if kernel.root is not None else None
        idx = _INDEXES[kernel] = KconfigIndex(kernel.reader, root)
    return idx
