"""What a C file does as a DAX provider: which functions implement
``->direct_access`` (and whether they provide memory, forward to another
dax device or only fail), which ops tables go to ``alloc_dax()``, where
struct pages are established (``devm_memremap_pages()``), where memory is
mapped without them (``devm_memremap()``, ``ioremap*()``) and which
``dev_pagemap`` types are set. Spelling-independent: the facts hold for
``pfn_t *pfn`` and for the ``unsigned long *pfn`` of kernels after the
pfn_t removal, and for every ``->direct_access`` parameter list since v4.15.

Directory-level questions (does any file of this driver establish pages?)
go through ``DirectoryFacts``, which reads sibling files with the kernel
reader so patch and audit modes see their own versions."""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from tree_sitter import Node

from daxlint.analysis.driver import driver_files
from daxlint.analysis.fileindex import FileIndex, callee_name, index_for, is_member_call, unwrap, value_parent
from daxlint.analysis.locate import is_word_byte, word_starts
from daxlint.core.build import build_view
from daxlint.core.source import SourceFile
from daxlint.core.syntax import call_args, enclosing_function, function_name, parameters, text, walk

DIRECT_ACCESS = "direct_access"
# Calls that hand a request on to another dax device.
FORWARDING_CALLS = frozenset({"dax_direct_access", "bdev_direct_access"})  # the latter before v4.12
PAGE_ESTABLISHERS = frozenset({"devm_memremap_pages", "memremap_pages"})
# Mappings that give a kernel address but no struct page.
PAGELESS_MAPPERS = frozenset(
    {
        "devm_memremap",
        "memremap",
        "ioremap",
        "ioremap_cache",
        "ioremap_wc",
        "ioremap_wt",
        "ioremap_uc",
        "ioremap_nocache",
        "ioremap_prot",
        "ioremap_encrypted",
        "devm_ioremap",
        "devm_ioremap_wc",
        "devm_ioremap_uc",
        "devm_ioremap_nocache",
        "devm_ioremap_resource",
        "devm_ioremap_resource_wc",
        "devm_platform_ioremap_resource",
        "acpi_os_ioremap",
    }
)
# dev_pagemap types that give DAX memory pages: fsdax needs FS_DAX; device-dax
# used DEVDAX (v5.3-5.9) and GENERIC (v5.10 on).
FSDAX_PGMAP_TYPES = frozenset({"MEMORY_DEVICE_FS_DAX"})
DEVDAX_PGMAP_TYPES = frozenset({"MEMORY_DEVICE_FS_DAX", "MEMORY_DEVICE_DEVDAX", "MEMORY_DEVICE_GENERIC"})
# Bytes whose presence makes a file worth analysing as a DAX provider.
PROVIDER_TOKENS = (b"direct_access", b"alloc_dax")
PAGE_TOKENS = (b"devm_memremap_pages", b"memremap_pages")

_IS_ENABLED_GATE = re.compile(rb"IS_(?:ENABLED|REACHABLE)\(\s*CONFIG_(\w+)\s*\)")
# A preprocessor test of CONFIG_X; config_gates() keeps the ones that are
# directives (only blanks before the '#' on its line). Searching from the
# '#' is many times faster than a pattern anchored at every line start.
_IF_GATE = re.compile(rb"#\s*if(?:def|\s+defined)?\s*\(?\s*CONFIG_(\w+)")


@dataclass
class DirectAccessImpl:
    name: str
    site: Node  # the `.direct_access = name` initializer or assignment
    fn: Node | None  # its definition, when it is in this file
    kind: str  # "provider" | "forwarder" | "error-only"
    functions: frozenset[str] = frozenset()  # the impl and the in-file helpers it hands kaddr/pfn to

    @property
    def line(self) -> int:
        return self.site.start_point[0] + 1


@dataclass
class MapCall:
    """A call that maps memory: devm_memremap_pages() or a page-less mapper."""

    call: Node
    callee: str
    function: str | None
    # Where the returned address is kept: field member names and local names.
    targets: frozenset[str] = frozenset()
    field_targets: frozenset[str] = frozenset()

    @property
    def line(self) -> int:
        return self.call.start_point[0] + 1


@dataclass
class PgmapType:
    node: Node  # the write
    value: str  # MEMORY_DEVICE_*
    base: str  # the pagemap expression the type is written to ("pmem->pgmap", "pgmap", "" for initializers)
    via: str | None = None  # the variable that held the type, when it was not written inline

    @property
    def line(self) -> int:
        return self.node.start_point[0] + 1


def _out_params(fn: Node) -> list[str]:
    """The kaddr and pfn parameters of a ->direct_access-shaped function: by
    type (``void **``, ``pfn_t *``) or name, whatever their position (v4.x dm
    targets had ``(ti, sector, kaddr, pfn, size)``); else the last two."""
    found = []
    for name, type_text, decl in parameters(fn):
        if not name:
            continue
        declarator = text(decl.child_by_field_name("declarator"))
        pointer = declarator.lstrip().startswith("*")
        if pointer and ("pfn_t" in type_text or declarator.replace(" ", "").startswith("**") or name in ("kaddr", "pfn")):
            found.append(name)
    if found:
        return found
    names = [n for n, _, _ in parameters(fn) if n]
    return names[-2:] if len(names) >= 2 else names


def _writes_through(fn: Node, params: list[str]) -> bool:
    """Whether ``fn`` stores through one of ``params`` (``*kaddr = ...``)."""
    for a in walk(fn, {"assignment_expression"}):
        left = a.child_by_field_name("left")
        left = unwrap(left) if left is not None else None
        if left is not None and left.type == "pointer_expression":
            arg = left.child_by_field_name("argument")
            if arg is not None and unwrap(arg).type == "identifier" and text(unwrap(arg)) in params:
                return True
    return False


def _passes(call: Node, params: list[str]) -> list[int]:
    """Indexes of the call's arguments that are one of ``params``."""
    out = []
    for i, a in enumerate(call_args(call)):
        a = unwrap(a)
        if a.type == "identifier" and text(a) in params:
            out.append(i)
    return out


class DaxFacts:
    """DAX provider facts of one file."""

    def __init__(self, source: SourceFile):
        self.source = source
        self.index: FileIndex = index_for(source)

    # -- ->direct_access ------------------------------------------------------

    @cached_property
    def direct_access_impls(self) -> list[DirectAccessImpl]:
        out = []
        if not may_assign_direct_access(self.source.data):
            return out  # no ops table member named: nothing to parse for
        seen = set()
        for site, value in self.index.member_initializers_of(DIRECT_ACCESS):
            value = unwrap(value)
            if value.type != "identifier":
                continue
            name = text(value)
            if name in ("NULL",) or (name, site.start_byte) in seen:
                continue
            seen.add((name, site.start_byte))
            fn = self.index.function(name)
            kind, functions = self._classify(name, fn)
            out.append(DirectAccessImpl(name, site, fn, kind, functions))
        return out

    def _classify(self, name: str, fn: Node | None) -> tuple[str, frozenset[str]]:
        if fn is None:
            # Defined in another file: assume it provides memory; the rules
            # look at that file when they check it.
            return "provider", frozenset({name})
        functions = {name}
        todo = [(fn, _out_params(fn))]
        forwards = provides = False
        depth = 0
        while todo and depth < 8:
            depth += 1
            cur, params = todo.pop()
            if not params:
                continue
            if _writes_through(cur, params):
                provides = True
            for call in walk(cur, {"call_expression"}):
                callee = callee_name(call)
                if callee in FORWARDING_CALLS or (callee == DIRECT_ACCESS and is_member_call(call)):
                    # Asking another dax device (or, before v4.12, the block
                    # device below) for the memory: whatever is written to
                    # kaddr/pfn afterwards comes from there.
                    forwards = True
                    continue
                passed = _passes(call, params)
                if not passed:
                    continue
                helper = self.index.function(callee or "") if not is_member_call(call) else None
                if helper is None:
                    provides = True  # an out-of-file helper fills kaddr/pfn
                    continue
                if callee in functions:
                    continue
                functions.add(callee)
                hp = [n for n, _, _ in parameters(helper)]
                todo.append((helper, [hp[i] for i in passed if i < len(hp) and hp[i]]))
        if forwards:
            return "forwarder", frozenset(functions)
        if provides:
            return "provider", frozenset(functions)
        return "error-only", frozenset(functions)

    @cached_property
    def providers(self) -> list[DirectAccessImpl]:
        return [i for i in self.direct_access_impls if i.kind == "provider"]

    @cached_property
    def provider_functions(self) -> frozenset[str]:
        out: set[str] = set()
        for impl in self.providers:
            out |= impl.functions
        return frozenset(out)

    def is_direct_access_function(self, name: str | None) -> bool:
        """Whether ``name`` implements ->direct_access or is a helper that
        fills its kaddr/pfn (forwarders included: their pfn goes back to DAX)."""
        if not name:
            return False
        return any(name in impl.functions for impl in self.direct_access_impls)

    # -- alloc_dax ------------------------------------------------------------

    @cached_property
    def alloc_dax_calls(self) -> list[tuple[Node, str | None]]:
        """(call, ops table name or None for NULL/unknown) for each alloc_dax()."""
        out = []
        for call in self.index.plain_calls_to("alloc_dax"):
            ops = None
            for a in call_args(call):
                a = unwrap(a)
                if a.type == "pointer_expression" and text(a).startswith("&"):
                    arg = a.child_by_field_name("argument")
                    if arg is not None and unwrap(arg).type == "identifier":
                        ops = text(unwrap(arg))
            out.append((call, ops))
        return out

    @cached_property
    def fields_read_by_providers(self) -> frozenset[str]:
        """Member names read in the provider functions: where their kaddr comes from."""
        out: set[str] = set()
        for name in self.provider_functions:
            fn = self.index.function(name)
            if fn is None:
                continue
            for fe in walk(fn, {"field_expression"}):
                f = fe.child_by_field_name("field")
                if f is not None:
                    out.add(text(f))
        return frozenset(out)

    # -- mappings ---------------------------------------------------------------

    def _map_calls(self, names: frozenset[str]) -> list[MapCall]:
        out = []
        for name in sorted(names):
            for call in self.index.plain_calls_to(name):
                fn = enclosing_function(call)
                fields, locals_ = self._result_targets(call, fn)
                out.append(MapCall(call, name, function_name(fn) if fn is not None else None, frozenset(locals_), frozenset(fields)))
        out.sort(key=lambda m: m.call.start_byte)
        return out

    def _result_targets(self, call: Node, fn: Node | None) -> tuple[set[str], set[str]]:
        """Member names and local names that receive the call's result,
        following one local variable into fields (``addr = devm_memremap();
        ... pmem->virt_addr = addr;``)."""
        fields: set[str] = set()
        locals_: set[str] = set()
        parent = value_parent(call)
        target = None
        if parent is not None and parent.type == "assignment_expression":
            target = parent.child_by_field_name("left")
        elif parent is not None and parent.type == "init_declarator":
            target = parent.child_by_field_name("declarator")
        if target is None:
            return fields, locals_
        target = unwrap(target)
        if target.type == "field_expression":
            f = target.child_by_field_name("field")
            if f is not None:
                fields.add(text(f))
        elif target.type == "identifier" and fn is not None:
            name = text(target)
            locals_.add(name)
            for a in walk(fn, {"assignment_expression"}):
                right = a.child_by_field_name("right")
                left = a.child_by_field_name("left")
                if right is None or left is None:
                    continue
                right = unwrap(right)
                if right.type == "identifier" and text(right) == name and a.start_byte > call.start_byte:
                    left = unwrap(left)
                    if left.type == "field_expression":
                        f = left.child_by_field_name("field")
                        if f is not None:
                            fields.add(text(f))
        return fields, locals_

    @cached_property
    def page_maps(self) -> list[MapCall]:
        return self._map_calls(PAGE_ESTABLISHERS)

    @cached_property
    def pageless_maps(self) -> list[MapCall]:
        return self._map_calls(PAGELESS_MAPPERS)

    @cached_property
    def pgmap_types(self) -> list[PgmapType]:
        out = []
        writes = list(self.index.field_writes_containing("type", b"MEMORY_DEVICE_"))
        # A type kept in a variable first: static const enum memory_type t = MEMORY_DEVICE_X;
        constants: dict[str, str] = {}
        for w in self.index.writes_containing(b"MEMORY_DEVICE_"):
            target = w.node.child_by_field_name("declarator") if w.node.type == "init_declarator" else None
            v = unwrap(w.value) if w.value is not None else None
            if target is not None and v is not None and v.type == "identifier" and text(v).startswith("MEMORY_DEVICE_"):
                name = text(target) if target.type == "identifier" else None
                if name:
                    constants.setdefault(name, text(v))
        for name in constants:
            writes += [w for w in self.index.field_writes_containing("type", name.encode()) if w not in writes]
        for w in writes:
            if w.value is None or w.op != "=":
                continue
            v = unwrap(w.value)
            if v.type != "identifier":
                continue
            value = text(v) if text(v).startswith("MEMORY_DEVICE_") else constants.get(text(v))
            if value is None:
                continue
            base = ""
            if w.node.type == "assignment_expression":
                left = unwrap(w.node.child_by_field_name("left"))
                arg = left.child_by_field_name("argument") if left is not None else None
                base = text(arg) if arg is not None else ""
            out.append(PgmapType(w.node, value, base, via=None if value == text(v) else text(v)))
        out.sort(key=lambda t: t.node.start_byte)
        return out

    # -- summaries ------------------------------------------------------------

    @property
    def is_provider(self) -> bool:
        """Implements a ->direct_access that hands out memory, or gives an
        ops table with one to alloc_dax()."""
        return bool(self.providers)

    @property
    def establishes_pages(self) -> bool:
        return bool(self.page_maps)

    @property
    def dax_context(self) -> bool:
        """Anything DAX-provider-like: a direct_access of any kind or alloc_dax()."""
        return bool(self.direct_access_impls or self.alloc_dax_calls)


def facts_for(source: SourceFile) -> DaxFacts:
    return source.shared(DaxFacts)


def config_gates(data: bytes) -> set[str]:
    """CONFIG_ symbols a file tests with IS_ENABLED()/#ifdef: code it runs
    only when that option is set."""
    return {gate for gates in gates_by_function(data).values() for gate in gates}


_DEFINITION_START = re.compile(rb"(?m)^[A-Za-z_][\w \t*]*?\b(\w+)\s*\([^;{]*$")


def gates_by_function(data: bytes) -> dict[str | None, set[str]]:
    """config_gates() by the function each test sits in (None: outside any,
    as far as the bytes tell - a definition starts a line)."""
    starts = [(m.start(), m.group(1).decode()) for m in _DEFINITION_START.finditer(data)]
    out: dict[str | None, set[str]] = {}

    def add(pos: int, name: bytes) -> None:
        i = bisect_right(starts, (pos, "\U0010ffff")) - 1
        out.setdefault(starts[i][1] if i >= 0 else None, set()).add(name.decode())

    for m in _IS_ENABLED_GATE.finditer(data):
        add(m.start(), m.group(1))
    for m in _IF_GATE.finditer(data):
        line_start = data.rfind(b"\n", 0, m.start()) + 1
        if not data[line_start : m.start()].strip():
            add(m.start(), m.group(1))
    return out


# -- before parsing: can the file hold what the rules look for? -----------------
#
# Necessary conditions on the bytes, so that rules can decline a file before
# it is parsed: a `.direct_access = f` / `x->direct_access = f` needs the
# member name right after '.' or '->'; a `.type = MEMORY_DEVICE_X` needs the
# enumerator after an assignment '=' (maybe through parentheses or a cast).
# Where a comment or something unusual sits in between, the answer is yes.


def _token_before(data: bytes, pos: int) -> int:
    """Index of the last byte before ``pos`` that is not blank or part of a
    line continuation; -1 at the start of the file."""
    i = pos - 1
    while i >= 0:
        c = data[i]
        if c in b" \t\r\n\f\v" or (c == 0x5C and data[i + 1 : i + 2] in (b"\n", b"\r")):
            i -= 1
        else:
            return i
    return -1


def _unsure(data: bytes, i: int, pos: int) -> bool:
    """Whether what precedes ``pos`` (last at ``i``) may be a comment or a
    byte of a non-ASCII identifier: then the lexical test cannot say no."""
    c = data[i]
    if c >= 0x80 or (c == 0x2F and i > 0 and data[i - 1] == 0x2A):  # ... */
        return True
    # A // comment ending the line before (the occurrence is on a later line).
    newline = data.find(b"\n", i, pos)
    return newline >= 0 and data.rfind(b"//", data.rfind(b"\n", 0, i) + 1, i + 1) >= 0


@lru_cache(maxsize=8)
def may_assign_direct_access(data: bytes) -> bool:
    """False only when no ``direct_access`` in ``data`` is a struct member
    being named (after '.' or '->'): then no ops table sets one."""
    for pos in word_starts(data, DIRECT_ACCESS.encode()):
        i = _token_before(data, pos)
        if i < 0:
            continue
        if data[i] == 0x2E or (data[i] == 0x3E and i > 0 and data[i - 1] == 0x2D) or _unsure(data, i, pos):
            return True
    return False


@lru_cache(maxsize=8)
def may_assign_pgmap_type(data: bytes) -> bool:
    """False only when no ``MEMORY_DEVICE_*`` in ``data`` is the whole value
    of an assignment: compared (==, !=), switched on or passed, it sets no
    pagemap type."""
    for pos in word_starts(data, b"MEMORY_DEVICE_", whole=False):
        i = _token_before(data, pos)
        while i >= 0 and data[i] == 0x28:  # (MEMORY_DEVICE_X)
            i = _token_before(data, i)
        if i >= 0 and is_word_byte(data[i]):
            # One word in between (an annotation macro): look past it.
            while i >= 0 and is_word_byte(data[i]):
                i -= 1
            i = _token_before(data, i + 1)
        if i < 0:
            continue
        c = data[i]
        if c == 0x3D and (i == 0 or data[i - 1] not in b"=!<>"):
            return True
        if c == 0x29 or _unsure(data, i, pos):  # a cast's ')'
            return True
    return False


@dataclass
class SiblingSummary:
    path: str
    establishes_pages: bool
    pgmap_types: list[str] = field(default_factory=list)
    is_provider: bool = False
    alloc_dax: bool = False


class DirectoryFacts:
    """Facts about the C files of one directory, read through the kernel
    reader. Only files that mention the relevant tokens are parsed. Asked
    about one file (``exclude``), only the files of that file's driver
    count: the ones kbuild builds with it (analysis.driver)."""

    def __init__(self, kernel, directory: str):
        self.kernel = kernel
        self.directory = directory
        self._summaries: dict[str, SiblingSummary | None] = {}

    def c_files(self, of: str | None = None) -> list[str]:
        if of is not None:
            return driver_files(self.kernel, of)
        return [os.path.join(self.directory, n) for n in self.kernel.listdir(self.directory) if n.endswith(".c")]

    def summary(self, path: str) -> SiblingSummary | None:
        if path not in self._summaries:
            self._summaries[path] = self._summarise(path)
        return self._summaries[path]

    def _summarise(self, path: str) -> SiblingSummary | None:
        readable, facts = _read_facts(self.kernel, path)
        if not readable:
            return None
        s = SiblingSummary(path, False)
        if facts is None:
            return s
        s.establishes_pages = facts.establishes_pages
        s.pgmap_types = [t.value for t in facts.pgmap_types]
        s.is_provider = facts.is_provider
        s.alloc_dax = bool(facts.alloc_dax_calls)
        return s

    def summaries(self, exclude: str | None = None) -> list[SiblingSummary]:
        """The files of the directory, or - with ``exclude`` - the other
        files of that file's driver."""
        out = []
        for p in self.c_files(of=exclude):
            if exclude is not None and os.path.normpath(p) == os.path.normpath(exclude):
                continue
            s = self.summary(p)
            if s is not None:
                out.append(s)
        return out

    def establishes_dax_pages(self, exclude: str | None = None) -> SiblingSummary | None:
        """A sibling that maps pages with a DAX-capable pagemap type (or a
        type set elsewhere), if any."""
        for s in self.summaries(exclude):
            if s.establishes_pages and (not s.pgmap_types or any(t in DEVDAX_PGMAP_TYPES for t in s.pgmap_types)):
                return s
        return None

    def dax_context(self, exclude: str | None = None) -> bool:
        return any(s.is_provider or s.alloc_dax for s in self.summaries(exclude))


def out_of_view(kernel, abspath: str | None, shown: str, partial: bool) -> list[str]:
    """What a verdict about the driver of ``abspath`` could not see, in words
    (empty when it saw everything): the rest of the file itself when only a
    patch's hunks are known, the files of its directory that no patch of the
    series shows (or shows only as hunks), and its Kconfig."""
    out: list[str] = []
    name = os.path.basename(shown)
    if partial:
        out.append(f"the rest of {name} (the patch shows only its hunks)")
    if abspath is None:
        return out
    d = os.path.dirname(abspath)
    shown_dir = os.path.dirname(shown) or "."
    if not kernel.knows_directory(d):
        out.append(f"the other files of {shown_dir}/")
    else:
        unknown = [n for n in kernel.listdir(d) if n.endswith(".c") and n != name and not kernel.knows(os.path.join(d, n))]
        if unknown:
            out.append(", ".join(unknown[:3]) + (" and others" if len(unknown) > 3 else "") + " (known only by their hunks)")
    if not kernel.knows(os.path.join(d, "Kconfig")):
        out.append(f"{shown_dir}/Kconfig")
    return out


def _read_facts(kernel, path: str) -> tuple[bool, DaxFacts | None]:
    """(whether the file can be read, its DaxFacts when it mentions a DAX
    token) for a file read through the kernel reader, once per run and
    version: a driver's files are asked about by each of its siblings and by
    the Kconfig entry that builds them. The facts are those of the file as
    the checked build sees it (a devm_memremap_pages() under #if 0 is not
    one)."""

    def read() -> tuple[bool, DaxFacts | None]:
        data = kernel.read(path)
        if data is None:
            return False, None
        if not any(t in data for t in PAGE_TOKENS + PROVIDER_TOKENS):
            return True, None
        return True, DaxFacts(SourceFile(path, build_view(data, kernel.effective_version, kernel.build), original=data))

    return kernel.memo((_read_facts, os.path.normpath(path), kernel.effective_version), read)


def read_facts(kernel, path: str) -> DaxFacts | None:
    """DaxFacts of a C file read through the kernel reader (parsed once per
    run); None when it cannot be read or mentions no DAX token."""
    return _read_facts(kernel, path)[1]


def directory_facts(kernel, directory: str) -> DirectoryFacts:
    """DirectoryFacts of ``directory``, once per run."""
    key = os.path.normpath(directory)
    return kernel.memo((directory_facts, key), lambda: DirectoryFacts(kernel, key))


def driver_source_files(path: str) -> list[str]:
    """The files that say which C files of ``path``'s directory make up its
    driver, and those files: the C files, the Makefile/Kbuild and the
    directory's Kconfig (roles read from siblings depend on these; a parent
    directory's Kconfig, which only relates symbols, is not watched)."""
    d = os.path.dirname(path)
    try:
        names = sorted(os.listdir(d))
    except OSError:
        names = []
    return [os.path.join(d, n) for n in names if n.endswith(".c")] + [os.path.join(d, n) for n in ("Makefile", "Kbuild", "Kconfig")]


def driver_context_files(path: str) -> list[str]:
    """The files a verdict on ``path`` that reads its driver depends on
    besides itself: the C files of its directory, the Makefile that says
    which of them belong together, and the Kconfig files that describe it
    (the result cache validates them)."""
    from daxlint.analysis.kconfig_facts import kconfig_context_files

    d = os.path.dirname(path)
    try:
        names = sorted(os.listdir(d))
    except OSError:
        names = []
    return (
        [os.path.join(d, n) for n in names if n.endswith(".c")]
        + [os.path.join(d, "Makefile"), os.path.join(d, "Kbuild")]
        + kconfig_context_files(path)
    )
