"""Reading one Kconfig file: ``parse_kconfig_symbols`` keeps the enclosing
``if`` / ``menu ... depends on`` conditions of every entry, its selects and
the ``source`` statements; ``parse_expr`` turns a dependency expression
into a small tree for ``daxlint.kconfig.index.guarantees``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daxlint.lines import split_lines

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
_KEYWORDS = frozenset(
    {
        "config",
        "menuconfig",
        "if",
        "endif",
        "menu",
        "endmenu",
        "choice",
        "endchoice",
        "source",
        "osource",
        "rsource",
        "orsource",
        "comment",
        "mainmenu",
        "depends",
        "select",
        "help",
        "---help---",
    }
)


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


def joined_lines(text: str):
    """Lines with backslash continuations folded, keeping the first line number."""
    buf, start = "", 0
    for n, line in enumerate(split_lines(text), 1):
        if not buf:
            start = n
        line = line.removesuffix("\r")  # CRLF: the backslash still ends the line
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
    lines = ((n, line.removesuffix("\r")) for n, line in enumerate(split_lines(text), 1)) if "\\" not in text else joined_lines(text)
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
