"""What a build of the checked code defines besides the kernel version, and
the file each build sees.

A module's configure step ("conftest") decides macros such as
``HAVE_VM_FLAGS_SET`` at build time; users say what it would decide with
``-D``/``-U`` or a ``[macros]`` table whose values may depend on the
version (``HAVE_VM_FLAGS_SET = ">=6.3"``). Kbuild adds the configuration
(``CONFIG_*``) and the exact sublevel. ``views()`` turns one file into the
variants the checked versions compile - dead branches and compat shims for
APIs the kernel has blanked out - and says which versions each serves;
files without conditions or shims are one view of themselves."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from daxlint.core.catalog import api_history, catalog_for
from daxlint.core.directives import Include, include_guard, scan
from daxlint.core.prefilter import TokenMatcher
from daxlint.core.preprocessor import UNKNOWN, blank, evaluate_file, version_macros
from daxlint.errors import InputError
from daxlint.version import KernelVersion, VersionRange

_NAME = re.compile(r"^[A-Za-z_]\w*$")
_CONSTRAINT = re.compile(r"^\s*(>=|<=|>|<|==)?\s*(\d+\.\d+)\s*$")


@dataclass(frozen=True)
class MacroSpec:
    """A macro the build defines (``value``, "" for a bare -D NAME) or
    leaves undefined (``value`` None), for ``versions`` or every version."""

    value: str | None
    versions: VersionRange | None = None

    def at(self, version: KernelVersion) -> tuple[bool, str | None]:
        if self.value is None or (self.versions is not None and version not in self.versions):
            return False, None
        return True, self.value


def parse_define(text: str) -> tuple[str, MacroSpec]:
    """``NAME`` or ``NAME=VALUE`` as the compiler's -D takes them."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not _NAME.match(name):
        raise InputError(f"-D {text!r}: not a macro name")
    return name, MacroSpec(value if sep else "1")


def parse_undefine(text: str) -> tuple[str, MacroSpec]:
    name = text.strip()
    if not _NAME.match(name):
        raise InputError(f"-U {text!r}: not a macro name")
    return name, MacroSpec(None)


def parse_config_macro(name: str, value, where: str) -> MacroSpec:
    """A ``[macros]`` entry: true/false, a number, a replacement text, or the
    versions it is defined for (">=6.3", "<6.3", "4.14..6.2")."""
    if not _NAME.match(name):
        raise InputError(f"{where}: [macros] key {name!r} is not a macro name")
    if isinstance(value, bool):
        return MacroSpec("1" if value else None)
    if isinstance(value, int):
        return MacroSpec(str(value))
    if not isinstance(value, str):
        raise InputError(f'{where}: [macros] {name} must be true/false, a number, a value or a version constraint such as ">=6.3"')
    m = _CONSTRAINT.match(value)
    if m and m.group(1):
        v = KernelVersion.parse(m.group(2))
        return MacroSpec("1", _constraint_range(m.group(1), v))
    if ".." in value:
        return MacroSpec("1", VersionRange.parse(value))
    return MacroSpec(value)


def _constraint_range(op: str, v: KernelVersion) -> VersionRange:
    from daxlint.version import predecessor, successor

    lowest, highest = KernelVersion(2, 6), KernelVersion(99, 0)
    return {
        ">=": VersionRange(v, highest),
        ">": VersionRange(successor(v), highest),
        "<": VersionRange(lowest, predecessor(v)),
        "<=": VersionRange(lowest, v),
        "==": VersionRange(v, v),
    }[op]


@dataclass
class BuildSetup:
    """Everything a build decides besides the version: macros (-D, -U, the
    config's [macros], Kbuild's autoconf.h), the sublevel when known, and
    whether the configuration is complete (Kbuild: a CONFIG_ symbol not in
    autoconf.h is off)."""

    macros: dict[str, MacroSpec] = field(default_factory=dict)
    sublevel: int | None = None
    config_complete: bool = False

    def thresholds(self) -> set[KernelVersion]:
        """Versions at which some macro starts or stops being defined."""
        out: set[KernelVersion] = set()
        for spec in self.macros.values():
            if spec.versions is not None:
                from daxlint.version import successor

                out.update({spec.versions.first, successor(spec.versions.last)})
        return out

    def lookup(self, version: KernelVersion) -> Callable[[str], tuple[object, object]]:
        """name -> (defined, value) for what the file itself does not define."""
        fixed = version_macros(version, self.sublevel)
        history = api_history()
        macros = self.macros

        def lookup(name: str):
            spec = macros.get(name)
            if spec is not None:
                return spec.at(version)
            if name in fixed:
                return fixed[name]
            if name.startswith("CONFIG_"):
                return (False, None) if self.config_complete else (UNKNOWN, UNKNOWN)
            known = history.macro_defined(name, version)
            if known is not None:
                return (True, UNKNOWN) if known else (False, None)
            return UNKNOWN, UNKNOWN

        return lookup


# -- compat shims -----------------------------------------------------------------

_SHIM_HEAD = r"(?m)^[ \t]*(?:(?:static|inline|__always_inline|extern)\s+)*[A-Za-z_][\w \t\*]*?[\s\*]({names})[ \t]*\("


def _skip_to(data: bytes, pos: int, stop: bytes) -> int:
    """The position of the first ``stop`` byte at depth 0 from ``pos``,
    skipping comments, strings and nested parentheses; -1 when none."""
    depth, i, n = 0, pos, len(data)
    while i < n:
        c = data[i : i + 1]
        if data.startswith(b"/*", i):
            j = data.find(b"*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if data.startswith(b"//", i):
            j = data.find(b"\n", i)
            i = n if j < 0 else j
            continue
        if c in (b'"', b"'"):
            j = i + 1
            while j < n and data[j : j + 1] != c:
                j += 2 if data[j : j + 1] == b"\\" else 1
            i = j + 1
            continue
        if depth == 0 and c in stop:
            return i
        if c in (b"(", b"{", b"["):
            depth += 1
        elif c in (b")", b"}", b"]"):
            depth -= 1
            if depth < 0:
                return -1
        i += 1
    return -1


def compat_shims(data: bytes, names) -> list[tuple[str, int, int]]:
    """(name, first byte, end) of each function a file defines under one of
    ``names``: the kernel's own API names, defined here for kernels that
    lack them."""
    present = sorted(n.decode() for n in _names_matcher(tuple(names)).present(data))
    if not present:
        return []
    pattern = re.compile(_SHIM_HEAD.format(names="|".join(re.escape(n) for n in present)).encode())
    out = []
    for m in pattern.finditer(data):
        close = _skip_to(data, m.end(), b")")
        if close < 0:
            continue
        brace = _skip_to(data, close + 1, b"{;")
        if brace < 0 or data[brace : brace + 1] != b"{":
            continue  # a declaration, not a definition
        end = _skip_to(data, brace + 1, b"}")
        if end < 0:
            continue
        out.append((m.group(1).decode(), m.start(), end + 1))
    return out


@lru_cache(maxsize=8)
def _names_matcher(names: tuple[str, ...]) -> TokenMatcher:
    """One pass for which of ``names`` a file holds (the catalog's 60 API
    names were 60 passes over every parsed file)."""
    return TokenMatcher([n.encode() for n in names])


# -- the views of a file ---------------------------------------------------------------


@dataclass
class View:
    """The file as some builds see it (``data``), and for each distinct
    analysis the version to run the rules with and the versions it stands
    for."""

    data: bytes
    runs: list[tuple[KernelVersion, list[KernelVersion]]] = field(default_factory=list)


def views(
    data: bytes,
    versions: list[KernelVersion],
    setup: BuildSetup,
    rule_thresholds: set[KernelVersion],
    include_reader: Callable[[Include], bytes | None] | None = None,
) -> list[View]:
    """The distinct views of ``data`` over ``versions``. Versions whose view,
    catalog and rule thresholds agree share one run of the rules."""
    directives = scan(data)
    history = api_history()
    shims = compat_shims(data, history.functions) if data else []
    if not directives.groups and not directives.includes and not shims:
        return _plain_views(data, versions, rule_thresholds)
    by_data: dict[bytes, View] = {}
    run_of: dict[tuple, tuple[KernelVersion, list[KernelVersion]]] = {}
    header_cache: dict = {}
    guard = include_guard(directives)
    for v in versions:
        lookup = setup.lookup(v)
        headers = _header_defines(include_reader, lookup, header_cache, v) if include_reader is not None else None
        ev = evaluate_file(directives, first_inclusion(lookup, guard), headers)
        spans = ev.dead_spans()
        spans += [(start, end) for name, start, end in shims if history.has_function(name, v)]
        view_data = blank(data, spans) if spans else data
        view = by_data.setdefault(view_data, View(view_data))
        key = (view_data, catalog_for(v).path, tuple(v >= t for t in sorted(rule_thresholds)))
        if key not in run_of:
            run_of[key] = (v, [])
            view.runs.append(run_of[key])
        run_of[key][1].append(v)
    return list(by_data.values())


def build_view(data: bytes, version: KernelVersion, setup: BuildSetup) -> bytes:
    """``data`` as one build of ``version`` sees it (headers it includes
    are not read: for files rules consult besides the checked one)."""
    return views(data, [version], setup, set())[0].data


def _plain_views(data: bytes, versions: list[KernelVersion], rule_thresholds: set[KernelVersion]) -> list[View]:
    view = View(data)
    run_of: dict[tuple, tuple[KernelVersion, list[KernelVersion]]] = {}
    for v in versions:
        key = (catalog_for(v).path, tuple(v >= t for t in sorted(rule_thresholds)))
        if key not in run_of:
            run_of[key] = (v, [])
            view.runs.append(run_of[key])
        run_of[key][1].append(v)
    return [view]


_MAX_INCLUDE_DEPTH = 3


def first_inclusion(lookup, guard: str | None):
    """``lookup`` for a file read as its first inclusion: its include guard
    (include_guard()) is not defined yet (else the guard is unknown, as any
    macro the build might define, and every #define under it would be too)."""
    if guard is None:
        return lookup
    return lambda name: (False, None) if name == guard else lookup(name)


def _header_defines(read: Callable[[Include], bytes | None], lookup, cache: dict, version: KernelVersion, depth: int = 0):
    """The callback evaluate_file() asks for an included header's macros:
    the header is read (through the kernel reader) and its own conditions
    evaluated for the same build, once per header and version."""

    def header_defines(inc: Include) -> dict | None:
        if depth >= _MAX_INCLUDE_DEPTH:
            return None
        key = (inc.name, inc.angled, version)
        if key not in cache:
            cache[key] = None  # a header that includes itself stops here
            data = read(inc)
            if data is not None:
                inner = _header_defines(read, lookup, cache, version, depth + 1)
                directives = scan(data)
                guard = include_guard(directives)
                # What the header includes unconditionally (or inside its
                # include guard) it passes on: compat.h -> compat_ver.h.
                passed_on: dict = {}
                for nested in directives.includes:
                    if nested.parent is None or (guard is not None and nested.parent is directives.groups[0].branches[0]):
                        passed_on.update(inner(nested) or {})
                cache[key] = {**passed_on, **evaluate_file(directives, first_inclusion(lookup, guard), inner).defines}
        return cache[key]

    return header_defines
