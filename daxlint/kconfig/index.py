"""Kconfig symbols across a tree, enough to answer "can this driver be
built without ZONE_DEVICE?".

- ``KconfigIndex`` finds a symbol's definitions across the tree by
  following ``source`` statements from the top Kconfig, through the kernel
  reader; without a tree it knows only the files it was given.
- ``guarantees(expr, targets)`` decides whether a dependency expression can
  only be true when one of ``targets`` is enabled (``A && B`` if either
  does, ``A || B`` if both do, a symbol if it is a target or its own
  dependencies guarantee it).
"""

from __future__ import annotations

import os
import re

from daxlint.kconfig.parser import Symbol, parse_expr, parse_kconfig_symbols

# Characters str.splitlines() would end a line at (the parser, like git,
# ends lines at "\n" only): a file holding one is left to the parser.
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
        lead = text[start : m.start()]
        keyword = lead.lstrip()
        if keyword not in ("", "o", "r", "or"):
            continue  # not the line's first word
        end = text.find("\n", m.end())
        if (
            keyword != lead
            or text.endswith("\\", start, len(text) if end < 0 else end)
            or (start >= 2 and text.startswith("\\\n", start - 2))
        ):
            return None
        s = _SOURCE_LINE.match(text, start)
        if s:
            out.append((s.group(1), s.group(2)))
    return out


class _KconfigFile:
    """One Kconfig file of the tree: its source statements, read when the
    index loads, and its entries, parsed only when a symbol it may define is
    looked up (most of a tree's 1,700 Kconfig files never are)."""

    def __init__(self, path: str, text: str, parse=parse_kconfig_symbols):
        self.path = path
        self.text = text
        self._parse = parse
        self._symbols: list[Symbol] | None = None
        self.sources = _plain_sources(text)
        if self.sources is None:
            self._symbols, self.sources = parse(text, path)

    @property
    def symbols(self) -> list[Symbol]:
        if self._symbols is None:
            self._symbols = self._parse(self.text, self.path)[0]
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
    the answers are those of parsing them all. ``parse`` reads one file
    (a caller that indexes many similar trees passes a memoised one)."""

    def __init__(self, reader, root: str | None, extra: dict[str, list[Symbol]] | None = None, parse=parse_kconfig_symbols):
        self.reader = reader
        self.parse = parse
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
                f = _KconfigFile(path, data.decode("utf-8", "replace"), self.parse)
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


def guarantees(
    node, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()
) -> bool:
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


def symbol_guarantees(
    name: str, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()
) -> bool:
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


def entry_guarantees(
    sym: Symbol, targets: frozenset[str], index: KconfigIndex, local: dict[str, list[Symbol]], seen: frozenset[str] = frozenset()
) -> bool:
    """Whether an entry can only be enabled with one of ``targets``: through
    its dependencies, or because it selects a target unconditionally."""
    if any(sel in targets and cond is None for sel, cond in sym.selects):
        return True
    return any(guarantees(parse_expr(d), targets, index, local, seen | {sym.name}) for d in sym.all_depends)


def kconfig_index(kernel) -> KconfigIndex:
    """The per-run index of a kernel context's tree (kept in its memo)."""
    root = str(kernel.root) if kernel.root is not None else None
    return kernel.memo(kconfig_index, lambda: KconfigIndex(kernel.reader, root))
