"""A C file's preprocessor directives, read from its bytes: the
conditional groups (``#if``/``#ifdef``/``#ifndef``/``#elif``/``#else``/
``#endif``) with the byte spans of their branches, the ``#define``s and
``#undef``s, and the ``#include``s - each with the branch it sits in.
``daxlint.core.preprocessor`` decides the branches for a build."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(rb"#[ \t]*([a-z_]+)\b")

_COMMENTS = re.compile(r"/\*.*?\*/|//.*$", re.S | re.M)
_DEFINE = re.compile(r"^([A-Za-z_]\w*)(\([^)]*\))?(?:\s+(.*))?$", re.S)
_INCLUDE = re.compile(r'^\s*(?:"([^"]+)"|<([^>]+)>)')


@dataclass(eq=False)
class Branch:
    kind: str  # if, ifdef, ifndef, elif, elifdef, elifndef, else
    expr: str  # the condition as written ("" for else), comments removed
    start: int  # first byte of the directive line
    body: int  # first byte after the directive (and its continuation lines)
    end: int = -1  # where the branch ends: the next directive of its group
    group: Group | None = None


@dataclass(eq=False)
class Group:
    """``#if ... #elif ... #else ... #endif``; ``endif`` is the span of the
    #endif line, None when the file ends first."""

    branches: list[Branch] = field(default_factory=list)
    endif: tuple[int, int] | None = None
    parent: Branch | None = None


@dataclass(eq=False)
class Define:
    pos: int
    name: str
    value: str | None  # None: #undef
    function_like: bool
    parent: Branch | None


@dataclass(eq=False)
class Include:
    pos: int
    name: str
    angled: bool
    parent: Branch | None


@dataclass
class Directives:
    """The directives of one file, in order."""

    groups: list[Group] = field(default_factory=list)  # every group, in order of their #if
    defines: list[Define] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)


def directive_matches(pattern: re.Pattern, data: bytes) -> Iterator[tuple[int, re.Match]]:
    """(line start, match) of each match of ``pattern`` - a pattern that
    starts at a directive's ``#`` - that only blanks precede on its line:
    what ``^[ \t]*#`` means with re.M, found from the ``#``, a byte the
    regex engine jumps between, where ``^`` is tried at every byte (register
    headers run to megabytes). A ``#`` elsewhere (a string, a comment) is
    passed over without taking the bytes after it."""
    pos = 0
    while (m := pattern.search(data, pos)) is not None:
        hash_at = m.start()
        line = data.rfind(b"\n", 0, hash_at) + 1
        if data[line:hash_at].strip(b" \t"):
            pos = hash_at + 1
            continue
        yield line, m
        pos = max(m.end(), hash_at + 1)


def _directive_lines(data: bytes):
    """(kind, text after the keyword, line start, end of the directive
    including continuation lines) for every directive of ``data``."""
    for start, m in directive_matches(_DIRECTIVE, data):
        end = data.find(b"\n", m.end())
        while end >= 0 and data[start:end].rstrip(b"\r").endswith(b"\\"):
            end = data.find(b"\n", end + 1)
        end = len(data) if end < 0 else end + 1
        rest = data[m.end() : end].decode("utf-8", "replace").replace("\\\r\n", " ").replace("\\\n", " ")
        yield m.group(1).decode(), _COMMENTS.sub(" ", rest).strip(), start, end


def scan(data: bytes) -> Directives:
    """The conditional groups, defines and includes of ``data``. Unbalanced
    directives (a hunk that shows an #else but not its #if) are ignored."""
    out = Directives()
    if b"#" not in data:
        return out
    stack: list[Group] = []

    def current() -> Branch | None:
        return stack[-1].branches[-1] if stack else None

    for kind, rest, start, end in _directive_lines(data):
        if kind in ("if", "ifdef", "ifndef"):
            group = Group(parent=current())
            group.branches.append(Branch(kind, rest, start, end, group=group))
            out.groups.append(group)
            stack.append(group)
        elif kind in ("elif", "elifdef", "elifndef", "else"):
            if not stack:
                continue
            group = stack[-1]
            group.branches[-1].end = start
            group.branches.append(Branch(kind, "" if kind == "else" else rest, start, end, group=group))
        elif kind == "endif":
            if not stack:
                continue
            group = stack.pop()
            group.branches[-1].end = start
            group.endif = (start, end)
        elif kind in ("define", "undef"):
            m = _DEFINE.match(rest)
            if m:
                value = None if kind == "undef" else (m.group(3) or "").strip()
                out.defines.append(Define(start, m.group(1), value, m.group(2) is not None, current()))
        elif kind == "include":
            m = _INCLUDE.match(rest)
            if m:
                out.includes.append(Include(start, m.group(1) or m.group(2), m.group(2) is not None, current()))
    for group in stack:  # the file ended inside them
        group.branches[-1].end = len(data)
    return out


_NOT_DEFINED = re.compile(r"^!\s*defined\s*(?:\(\s*(\w+)\s*\)|(\w+))$")


def include_guard(directives: Directives) -> str | None:
    """The macro of a header's include guard - ``#ifndef X`` (or ``#if
    !defined(X)``), ``#define X`` first thing inside, and its ``#endif``
    closing the file - else None. On the first inclusion X is not defined,
    whatever the build: the guarded body is the header."""
    if not directives.groups or not directives.defines:
        return None
    group = directives.groups[0]
    branch = group.branches[0]
    if len(group.branches) != 1 or group.endif is None:
        return None
    if branch.kind == "ifndef":
        name = branch.expr.strip()
    else:
        m = _NOT_DEFINED.match(branch.expr.strip()) if branch.kind == "if" else None
        name = (m.group(1) or m.group(2)) if m else ""
    first = min(directives.defines, key=lambda d: d.pos)
    if not name or first.name != name or first.parent is not branch:
        return None
    end = group.endif[0]
    later = [d.pos for d in directives.defines] + [i.pos for i in directives.includes] + [g.branches[0].start for g in directives.groups]
    return name if all(pos < end for pos in later) else None
