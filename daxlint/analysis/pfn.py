"""pfn_t flag evaluation: which PFN_* flags a pfn_t can carry where it is
built, and where the pfn goes afterwards.

``pfn_t_has_page(p)`` is ``(p.val & PFN_MAP) || !(p.val & PFN_DEV)``, so a
pfn is page-less when PFN_DEV is set and PFN_MAP is not. Drivers rarely
write the flags inline: pmem keeps ``pmem->pfn_flags = PFN_DEV`` and ORs in
PFN_MAP only on the paths that establish pages. The evaluator therefore
follows the flags argument of a constructor through

- local variables (every write before the use, in source order, a write
  under a control structure that does not also contain the use counting as
  "maybe"),
- struct fields written anywhere in the file (matched by member name, each
  writing function evaluated to its end) and designated initializers,
- file-scope variables, macros defined in the file (object-like, and
  function-like macros that wrap a constructor), and
- parameters, through the calls of the function in the same file.

The result is a set of possible flag combinations plus an "unknown" mark
when some contribution could not be evaluated; rules only claim
"page-less" when every combination is page-less and nothing is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from tree_sitter import Node

from daxlint.analysis.dax import PAGE_ESTABLISHERS, PAGELESS_MAPPERS, DaxFacts, facts_for
from daxlint.analysis.fileindex import (
    FileIndex,
    Write,
    callee_name,
    conditional_relative_to,
    declared_in,
    index_for,
    is_member_call,
    parse_expression,
    unwrap,
    value_parent,
)
from daxlint.core.directives import directive_matches
from daxlint.core.includes import local_headers
from daxlint.core.source import SourceFile
from daxlint.core.syntax import call_args, declarator_name, enclosing_function, function_name, parameters, text, walk
from daxlint.model import Severity

PFN_DEV = "PFN_DEV"
PFN_MAP = "PFN_MAP"
PFN_SPECIAL = "PFN_SPECIAL"
PFN_FLAG_NAMES = frozenset({PFN_DEV, PFN_MAP, PFN_SPECIAL, "PFN_SG_CHAIN", "PFN_SG_LAST"})
# name -> index of the flags argument
FLAG_CONSTRUCTORS = {"__pfn_to_pfn_t": 1, "phys_to_pfn_t": 1}
# Constructors whose pfn always has a page (flags 0, or from a struct page).
PAGE_CONSTRUCTORS = frozenset({"pfn_to_pfn_t", "page_to_pfn_t"})
# Where a page-less pfn is an error: huge DAX mappings and DAX inserts.
DAX_FAULT_INSERTS = frozenset(
    {
        "vmf_insert_pfn_pmd",
        "vmf_insert_pfn_pud",
        "vmf_insert_pfn_pmd_prot",
        "vmf_insert_pfn_pud_prot",
        "insert_pfn_pmd",
        "insert_pfn_pud",
        "dax_insert_pfn_mkwrite",
        "dax_insert_entry",
        "dax_insert_pfn",
    }
)
# Inserts that fall back to a special pte when the pfn has no page.
MIXED_INSERTS = frozenset({"vmf_insert_mixed", "vmf_insert_mixed_mkwrite", "vmf_insert_mixed_prot", "vm_insert_mixed"})
# mm internals of vmf_insert_pfn() on VM_PFNMAP mappings (track_pfn_insert()
# is x86 PAT bookkeeping that only reads the address: no sink, see DAX101).
PFNMAP_INTERNALS = frozenset({"insert_pfn", "vmf_insert_pfn_prot"})
# Bytes that mark a file as DAX code (a page-less pfn here is on a DAX path).
DAX_FILE_MARKERS = (b".direct_access", b"dax_direct_access(", b"dax_iomap_", b"IS_DAX(", b"vma_is_dax(", b"alloc_dax(", b"dax_insert_")

_MAX_COMBOS = 64
_MAX_DEPTH = 6


@dataclass(frozen=True)
class Origin:
    """Where (part of) a flags value came from, for messages."""

    kind: str  # "local" | "field" | "global" | "macro" | "parameter" | "return"
    name: str
    line: int
    value: str
    function: str = ""  # for parameters: whose
    file: str = ""  # for macros of an included header: which

    def describe(self) -> str:
        what = {
            "local": f"local variable '{self.name}'",
            "field": f"field '{self.name}'",
            "global": f"variable '{self.name}'",
            "macro": f"macro {self.name}" + (f" of {self.file}" if self.file else ""),
            "parameter": f"parameter '{self.name}' of {self.function}()",
            "return": f"the value {self.name}() returns",
        }.get(self.kind, self.name)
        if self.kind == "macro":
            return f"{what}, defined as '{self.value}' at line {self.line}"
        if self.kind == "return":
            return f"{what}, '{self.value}' at line {self.line}"
        return f"{what}, set to '{self.value}' at line {self.line}"


@dataclass(frozen=True)
class Flags:
    """The flag combinations a value may carry."""

    combos: frozenset = frozenset()
    unknown: bool = False
    origins: tuple[Origin, ...] = ()

    @staticmethod
    def of(*names: str) -> Flags:
        return Flags(frozenset({frozenset(names)}))

    @staticmethod
    def unknown_value() -> Flags:
        return Flags(frozenset(), True)

    def bit_or(self, other: Flags) -> Flags:
        if not self.combos or not other.combos:
            combos = self.combos or other.combos
            unknown = True
        else:
            combos = frozenset(a | b for a in self.combos for b in other.combos)
            unknown = self.unknown or other.unknown
        return Flags(combos, unknown, _merge(self.origins, other.origins))._capped()

    def either(self, other: Flags) -> Flags:
        return Flags(self.combos | other.combos, self.unknown or other.unknown, _merge(self.origins, other.origins))._capped()

    def without(self, flags: Flags) -> Flags:
        """``x & ~flags``: clears the flags (only when they are known)."""
        if flags.unknown or len(flags.combos) != 1:
            return Flags(self.combos, True, self.origins)
        (clear,) = flags.combos
        return Flags(frozenset(c - clear for c in self.combos), self.unknown, self.origins)

    def with_origin(self, origin: Origin) -> Flags:
        return Flags(self.combos, self.unknown, _merge((origin,), self.origins))

    def _capped(self) -> Flags:
        if len(self.combos) > _MAX_COMBOS:
            return Flags(frozenset(), True, self.origins)
        return self

    # -- questions ------------------------------------------------------------

    @property
    def known(self) -> bool:
        return bool(self.combos) and not self.unknown

    def pageless_combos(self) -> list[frozenset]:
        return [c for c in self.combos if PFN_DEV in c and PFN_MAP not in c]

    @property
    def always_pageless(self) -> bool:
        return self.known and len(self.pageless_combos()) == len(self.combos)

    @property
    def always_has_page(self) -> bool:
        return self.known and not self.pageless_combos()

    def may_have(self, flag: str) -> bool:
        return any(flag in c for c in self.combos)

    def spelled(self) -> str:
        """The combinations as C, e.g. 'PFN_DEV' or 'PFN_DEV | PFN_MAP'."""
        order = ["PFN_DEV", "PFN_MAP", "PFN_SPECIAL", "PFN_SG_CHAIN", "PFN_SG_LAST"]
        parts = []
        for c in sorted(self.combos, key=lambda c: (len(c), sorted(c))):
            parts.append(" | ".join(f for f in order if f in c) or "0")
        return " or ".join(parts) + (" (partly unknown)" if self.unknown else "")


def _merge(a: tuple[Origin, ...], b: tuple[Origin, ...]) -> tuple[Origin, ...]:
    out = list(a)
    for o in b:
        if o not in out:
            out.append(o)
    return tuple(out[:6])


@dataclass
class Construction:
    """One place a pfn_t is built with explicit flags - or made page-less
    after it was built (``pfn.val |= PFN_DEV``, kind "val")."""

    call: Node  # the constructor call (or the call of a wrapping macro; for "val" the assignment)
    name: str  # __pfn_to_pfn_t, phys_to_pfn_t or the macro's name; for "val" the pfn variable
    flags: Flags
    flags_text: str
    via_macro: str | None = None
    kind: str = "call"

    @property
    def what(self) -> str:
        """The construct in words, for messages."""
        if self.kind == "val":
            return f"'{' '.join(text(self.call).split())}' makes the pfn_t '{self.name}' page-less"
        return f"{self.via_macro or self.name}() builds a page-less pfn_t"

    @property
    def line(self) -> int:
        return self.call.start_point[0] + 1


@dataclass(frozen=True)
class Sink:
    """Where a pfn_t value goes."""

    kind: str  # "direct_access" | "dax_insert" | "pfnmap_huge" | "mixed" | "pfnmap" | "call" | "store" | "return" | "unknown"
    detail: str  # callee or function name
    node: Node

    @property
    def line(self) -> int:
        return self.node.start_point[0] + 1


SINK_RANK = {
    "direct_access": 5,
    "dax_insert": 5,
    "dax_mixed": 5,
    "pfnmap_huge": 3,
    "mixed": 3,
    "pfnmap": 2,
    "call": 2,
    "store": 1,
    "return": 1,
    "unknown": 0,
}


class PfnAnalysis:
    """pfn_t facts of one file."""

    def __init__(self, source: SourceFile):
        self.source = source
        self.index: FileIndex = index_for(source)
        self.dax: DaxFacts = facts_for(source)
        self._stack: set = set()
        # name -> (body, line, header) of a macro an included header of the
        # tree defines (see attach_includes); None: headers not read.
        self._header_macro = None
        self._kept: list = []  # parsed macro bodies, kept alive for their nodes

    def attach_includes(self, kernel, abspath: str | None) -> None:
        """Let flags come from macros that the file's ``#include "..."``
        headers define (read through the kernel reader, once per run).
        Must come before the first evaluation; rules call it through
        :func:`pfn_analysis_of`."""
        if self._header_macro is None and abspath is not None and "constructions" not in self.__dict__:
            self._header_macro = lambda name: included_macro(kernel, abspath, self.source.data, name)

    # -- flags ----------------------------------------------------------------

    def flags_of(self, node: Node, depth: int = 0, macro_args: dict[str, Node] | None = None) -> Flags:
        """The flags an expression may evaluate to."""
        if node is None or depth > _MAX_DEPTH:
            return Flags.unknown_value()
        node = unwrap(node)
        t = node.type
        if t == "identifier":
            name = text(node)
            if macro_args is not None and name in macro_args:
                return self.flags_of(macro_args[name], depth + 1)
            return self._identifier_flags(node, name, depth)
        if t == "number_literal":
            literal = text(node).rstrip("uUlL")
            try:
                return Flags.of() if int(literal, 0) == 0 else Flags.unknown_value()
            except ValueError:
                return Flags.unknown_value()
        if t == "binary_expression":
            op = node.child_by_field_name("operator")
            left = self.flags_of(node.child_by_field_name("left"), depth + 1, macro_args)
            right_node = node.child_by_field_name("right")
            if op is not None and text(op) in ("|", "+"):
                return left.bit_or(self.flags_of(right_node, depth + 1, macro_args))
            if op is not None and text(op) == "&" and right_node is not None and unwrap(right_node).type == "unary_expression":
                neg = unwrap(right_node)
                if text(neg).startswith("~"):
                    return left.without(self.flags_of(neg.child_by_field_name("argument"), depth + 1, macro_args))
            return Flags.unknown_value()
        if t == "conditional_expression":
            a = self.flags_of(node.child_by_field_name("consequence"), depth + 1, macro_args)
            b = self.flags_of(node.child_by_field_name("alternative"), depth + 1, macro_args)
            return a.either(b)
        if t == "field_expression":
            f = node.child_by_field_name("field")
            return self._storage_flags("field", text(f), node, depth) if f is not None else Flags.unknown_value()
        if t == "call_expression":
            # `(u64)(PFN_DEV)` parses as a call of `(u64)`: a cast in disguise.
            fn = node.child_by_field_name("function")
            args = call_args(node)
            if fn is not None and fn.type == "parenthesized_expression" and len(args) == 1:
                inner = [c for c in fn.named_children if c.type != "comment"]
                if len(inner) == 1 and inner[0].type in ("identifier", "type_identifier", "primitive_type"):
                    return self.flags_of(args[0], depth + 1, macro_args)
            name = callee_name(node)
            if name and not is_member_call(node):
                return self._returned_flags(name, depth)
        return Flags.unknown_value()

    def _returned_flags(self, name: str, depth: int) -> Flags:
        """Flags a helper of this file returns (``return PFN_DEV;``), over
        every return statement of it."""
        fn = self.index.function(name)
        key = ("return", name)
        if fn is None or key in self._stack:
            return Flags.unknown_value()
        self._stack.add(key)
        try:
            value: Flags | None = None
            for ret in walk(fn, {"return_statement"}):
                expr = next((c for c in ret.named_children if c.type != "comment"), None)
                v = self.flags_of(expr, depth + 1) if expr is not None else Flags.unknown_value()
                v = v.with_origin(Origin("return", name, ret.start_point[0] + 1, text(expr) if expr is not None else ""))
                value = v if value is None else value.either(v)
        finally:
            self._stack.discard(key)
        return value if value is not None else Flags.unknown_value()

    def _identifier_flags(self, node: Node, name: str, depth: int) -> Flags:
        if name in PFN_FLAG_NAMES:
            return Flags.of(name)
        fn = enclosing_function(node)
        if fn is not None:
            params = [n for n, _, _ in parameters(fn)]
            if name in params:
                return self._parameter_flags(fn, params.index(name), name, depth)
            if declared_in(fn, name):
                return self._storage_flags("local", name, node, depth, scope=fn)
        if self.index.identifier_writes(name):
            return self._storage_flags("global", name, node, depth)
        macro = self.index.macros.get(name)
        if macro is not None and macro.params is None:
            key = ("macro", name)
            if key in self._stack:
                return Flags.unknown_value()
            self._stack.add(key)
            try:
                expr = self.index.macro_expression(name)
                value = self.flags_of(expr, depth + 1) if expr is not None else Flags.unknown_value()
            finally:
                self._stack.discard(key)
            return value.with_origin(Origin("macro", name, macro.line, macro.body))
        if self._header_macro is not None and macro is None:
            return self._included_flags(name, depth)
        return Flags.unknown_value()

    def _included_flags(self, name: str, depth: int) -> Flags:
        found = self._header_macro(name)
        key = ("header-macro", name)
        if found is None or key in self._stack:
            return Flags.unknown_value()
        body, line, header = found
        wrapper, expr = parse_expression(body)
        if expr is None:
            return Flags.unknown_value()
        self._kept.append(wrapper)
        self._stack.add(key)
        try:
            value = self.flags_of(expr, depth + 1)
        finally:
            self._stack.discard(key)
        return value.with_origin(Origin("macro", name, line, body, file=header))

    def _parameter_flags(self, fn: Node, index: int, name: str, depth: int) -> Flags:
        fname = function_name(fn)
        key = ("param", fname, index)
        if not fname or key in self._stack or self.index.function_referenced_indirectly(fname):
            return Flags.unknown_value()
        calls = self.index.plain_calls_to(fname)
        if not calls:
            return Flags.unknown_value()
        self._stack.add(key)
        try:
            value: Flags | None = None
            for call in calls:
                arg = self.index.call_argument(call, index)
                v = self.flags_of(arg, depth + 1) if arg is not None else Flags.unknown_value()
                value = v if value is None else value.either(v)
        finally:
            self._stack.discard(key)
        if value is None:
            return Flags.unknown_value()
        first = calls[0]
        return value.with_origin(Origin("parameter", name, first.start_point[0] + 1, text(self.index.call_argument(first, index)), fname))

    def _storage_flags(self, kind: str, name: str, use: Node, depth: int, scope: Node | None = None) -> Flags:
        """Flags held by a local, a global or a struct field at ``use``."""
        key = (kind, name, scope.start_byte if scope is not None else None, use.start_byte if kind == "local" else None)
        if key in self._stack:
            return Flags.unknown_value()
        self._stack.add(key)
        try:
            if kind == "field":
                writes = self.index.field_writes(name)
            else:
                writes = self.index.identifier_writes(name)
            if kind == "local":
                writes = [w for w in writes if scope.start_byte <= w.node.start_byte < use.start_byte]
                if self._address_taken(scope, name):
                    return Flags.unknown_value()
                return self._replay(writes, use, scope, Flags(), kind, name, depth)
            if not writes:
                return Flags.unknown_value()
            # Fields and globals: the plain assignments anywhere are the base;
            # each writing function is then replayed to its end (or to the use
            # when it is in the same function).
            use_fn = enclosing_function(use)
            base = Flags()
            for w in writes:
                if w.op == "=":
                    base = base.either(self._write_value(w, depth).with_origin(self._origin(kind, name, w)))
            result = base
            by_fn: dict[int, list[Write]] = {}
            fns: dict[int, Node | None] = {}
            for w in writes:
                fn = enclosing_function(w.node)
                k = fn.start_byte if fn is not None else -1
                by_fn.setdefault(k, []).append(w)
                fns[k] = fn
            for k, ws in by_fn.items():
                fn = fns[k]
                if fn is None:
                    continue
                anchor = use if (use_fn is not None and fn == use_fn) else None
                if anchor is not None:
                    ws = [w for w in ws if w.node.start_byte < use.start_byte]
                start = base if not ws or ws[0].op != "=" or conditional_relative_to(ws[0].node, anchor, fn) else Flags()
                result = result.either(self._replay(ws, anchor, fn, start, kind, name, depth))
            if not result.combos:
                return Flags.unknown_value()
            return result
        finally:
            self._stack.discard(key)

    def _replay(self, writes: list[Write], anchor: Node | None, scope: Node, state: Flags, kind: str, name: str, depth: int) -> Flags:
        for w in sorted(writes, key=lambda w: w.node.start_byte):
            value = self._write_value(w, depth).with_origin(self._origin(kind, name, w))
            if w.op == "=":
                new = value
            elif w.op == "|=":
                new = state.bit_or(value) if state.combos else Flags(value.combos, True, value.origins)
            elif w.op == "&=":
                v = unwrap(w.value) if w.value is not None else None
                if v is not None and v.type == "unary_expression" and text(v).startswith("~"):
                    new = state.without(self.flags_of(v.child_by_field_name("argument"), depth + 1)).with_origin(
                        self._origin(kind, name, w)
                    )
                else:
                    new = Flags(state.combos, True, state.origins)
            else:
                new = Flags.unknown_value()
            if conditional_relative_to(w.node, anchor, scope):
                state = state.either(new) if state.combos or state.unknown else Flags(new.combos, new.unknown, new.origins)
            else:
                state = new
        if not state.combos:
            return Flags.unknown_value() if kind == "local" else state
        return state

    def _write_value(self, w: Write, depth: int) -> Flags:
        return self.flags_of(w.value, depth + 1) if w.value is not None else Flags.unknown_value()

    @staticmethod
    def _origin(kind: str, name: str, w: Write) -> Origin:
        value = text(w.value) if w.value is not None else "?"
        op = "" if w.op == "=" else f"{w.op} "
        return Origin(kind, name, w.line, f"{op}{value}")

    @staticmethod
    def _address_taken(fn: Node, name: str) -> bool:
        for p in walk(fn, {"pointer_expression"}):
            if text(p).replace(" ", "") == "&" + name:
                return True
        return False

    # -- constructions -----------------------------------------------------------

    @cached_property
    def constructor_macros(self) -> dict[str, tuple[int | None, Node, str]]:
        """Function-like macros of this file whose body builds a pfn_t:
        name -> (index of the macro parameter that is the flags, or None;
        the constructor call inside the body; the constructor's name)."""
        out = {}
        for name, macro in self.index.macros.items():
            if macro.params is None or not any(c in macro.body for c in FLAG_CONSTRUCTORS):
                continue
            expr = self.index.macro_expression(name)
            if expr is None:
                continue
            for call in walk(expr, {"call_expression"}):
                ctor = callee_name(call)
                if ctor in FLAG_CONSTRUCTORS:
                    flags = self.index.call_argument(call, FLAG_CONSTRUCTORS[ctor])
                    idx = None
                    if flags is not None and unwrap(flags).type == "identifier" and text(unwrap(flags)) in macro.params:
                        idx = macro.params.index(text(unwrap(flags)))
                    out[name] = (idx, call, ctor)
                    break
        return out

    @cached_property
    def constructions(self) -> list[Construction]:
        out = []
        for ctor, idx in FLAG_CONSTRUCTORS.items():
            for call in self.index.plain_calls_to(ctor):
                arg = self.index.call_argument(call, idx)
                if arg is None:
                    continue
                out.append(Construction(call, ctor, self.flags_of(arg), text(arg)))
        for mname, (idx, inner, ctor) in self.constructor_macros.items():
            macro = self.index.macros[mname]
            for call in self.index.plain_calls_to(mname):
                args = call_args(call)
                inner_flags = self.index.call_argument(inner, FLAG_CONSTRUCTORS[ctor])
                if idx is not None:
                    if idx >= len(args):
                        continue
                    flags = self.flags_of(args[idx])
                    flags_text = text(args[idx])
                else:
                    bindings = {p: a for p, a in zip(macro.params or (), args)}
                    flags = self.flags_of(inner_flags, macro_args=bindings) if inner_flags is not None else Flags.unknown_value()
                    flags_text = text(inner_flags) if inner_flags is not None else "?"
                flags = flags.with_origin(Origin("macro", mname, macro.line, macro.body))
                out.append(Construction(call, ctor, flags, flags_text, via_macro=mname))
        out.extend(self.val_changes)
        out.sort(key=lambda c: c.call.start_byte)
        return out

    @cached_property
    def val_changes(self) -> list[Construction]:
        """``pfn.val |= PFN_DEV`` after the pfn was built: the pfn's flags
        are then its construction's ORed with the value."""
        out: list[Construction] = []
        data = self.source.data
        if b".val" not in data and b"->val" not in data:
            return out
        writes = self.index.field_writes_containing("val", b".val") + self.index.field_writes_containing("val", b"->val")
        for w in writes:
            if w.op != "|=" or w.value is None or w.node.type != "assignment_expression":
                continue
            left = unwrap(w.node.child_by_field_name("left"))
            base = unwrap(left.child_by_field_name("argument")) if left is not None else None
            fn = enclosing_function(w.node)
            if base is None or base.type != "identifier" or fn is None:
                continue
            added = self.flags_of(w.value)
            if PFN_DEV not in {f for c in added.combos for f in c}:
                continue  # pfn.val++ and friends keep the flags
            built = self.pfn_flags_before(fn, text(base), w.node.start_byte)
            flags = built.bit_or(added) if built.combos else added
            out.append(Construction(w.node, text(base), flags, text(w.value), kind="val"))
        return out

    def pfn_flags_before(self, fn: Node, name: str, before: int) -> Flags:
        """The flags of the pfn_t local ``name`` as last built before byte
        ``before`` in ``fn`` (a constructor call assigned to it)."""
        value: Flags | None = None
        for w in self.index.identifier_writes(name):
            if not (fn.start_byte <= w.node.start_byte < before) or w.value is None:
                continue
            v = unwrap(w.value)
            ctor = callee_name(v) if v.type == "call_expression" else None
            if ctor in PAGE_CONSTRUCTORS:
                value = Flags.of()
            elif ctor in FLAG_CONSTRUCTORS:
                arg = self.index.call_argument(v, FLAG_CONSTRUCTORS[ctor])
                value = self.flags_of(arg) if arg is not None else Flags.unknown_value()
            else:
                value = Flags.unknown_value()
        return value if value is not None else Flags.unknown_value()

    def construction_sinks(self, c: Construction) -> list[Sink]:
        """Where a construction's pfn goes."""
        if c.kind == "val":
            fn = enclosing_function(c.call)
            return self._local_sinks(fn, c.name, c.call, 0) if fn is not None else [Sink("unknown", c.name, c.call)]
        return self.sinks(c.call)

    # -- PFN_MAP on the right path --------------------------------------------------

    @cached_property
    def misplaced_map_flags(self) -> list[tuple[Write, Node, Node]]:
        """``x |= PFN_MAP`` in an arm of an if-chain that establishes no
        pages, while another arm of the same chain calls
        devm_memremap_pages(): (the write, the page-less arm's first mapper
        or the write, the establishing call). pmem sets PFN_MAP exactly on
        the paths that mapped pages; the reverse claims pages that are not
        there and leaves out the ones that are."""
        out = []
        if b"PFN_MAP" not in self.source.data:
            return out
        for w in self.index.writes_containing(b"PFN_MAP"):
            if w.op not in ("|=", "=") or w.value is None or "PFN_MAP" not in text(w.value):
                continue
            if not self.flags_of(w.value).may_have(PFN_MAP):
                continue
            arm, chain = _arm_and_chain(w.node)
            if arm is None:
                continue
            if _calls_in(arm, PAGE_ESTABLISHERS):
                continue
            others = [a for a in chain if a is not arm]
            est = next((c for a in others for c in _calls_in(a, PAGE_ESTABLISHERS)), None)
            if est is None:
                continue
            mapper = next(iter(_calls_in(arm, PAGELESS_MAPPERS)), None)
            out.append((w, mapper if mapper is not None else w.node, est))
        return out

    # -- sinks -------------------------------------------------------------------

    @cached_property
    def is_dax_file(self) -> bool:
        return any(m in self.source.data for m in DAX_FILE_MARKERS)

    @cached_property
    def maps_pfnmap(self) -> bool:
        return b"VM_PFNMAP" in self.source.data

    def sinks(self, value: Node, depth: int = 0) -> list[Sink]:
        """Where the pfn_t computed by ``value`` ends up."""
        if depth > _MAX_DEPTH:
            return [Sink("unknown", "", value)]
        fn = enclosing_function(value)
        fname = function_name(fn) if fn is not None else None
        parent = value_parent(value)
        if parent is None:
            return [Sink("unknown", "", value)]
        if parent.type == "argument_list":
            call = parent.parent
            return [self._call_sink(call)]
        if parent.type == "assignment_expression" and _same(parent.child_by_field_name("right"), value):
            left = unwrap(parent.child_by_field_name("left"))
            if left.type == "pointer_expression" and text(left).startswith("*"):
                target = unwrap(left.child_by_field_name("argument"))
                if fn is not None and target.type == "identifier" and text(target) in [n for n, _, _ in parameters(fn)]:
                    return [self._out_sink(fname, parent)]
                return [Sink("store", text(left), parent)]
            if left.type == "identifier" and fn is not None:
                return self._local_sinks(fn, text(left), parent, depth)
            return [Sink("store", text(left), parent)]
        if parent.type == "init_declarator" and fn is not None:
            name = declarator_name(parent.child_by_field_name("declarator"))
            if name:
                return self._local_sinks(fn, name, parent, depth)
        if parent.type == "return_statement" and fn is not None:
            return self._return_sinks(fn, fname, parent, depth)
        return [Sink("unknown", "", value)]

    def _call_sink(self, call: Node) -> Sink:
        callee = callee_name(call) or ""
        if callee in DAX_FAULT_INSERTS:
            if self.maps_pfnmap and not self.is_dax_file:
                return Sink("pfnmap_huge", callee, call)
            return Sink("dax_insert", callee, call)
        if callee in MIXED_INSERTS:
            return Sink("dax_mixed" if self.is_dax_file else "mixed", callee, call)
        if callee in PFNMAP_INTERNALS:
            return Sink("pfnmap", callee, call)
        return Sink("call", callee, call)

    def _out_sink(self, fname: str | None, at: Node) -> Sink:
        if self.dax.is_direct_access_function(fname):
            return Sink("direct_access", fname or "", at)
        return Sink("store", f"*out-parameter of {fname}()", at)

    def _local_sinks(self, fn: Node, name: str, after: Node, depth: int) -> list[Sink]:
        out: list[Sink] = []
        for ident in walk(fn, {"identifier"}):
            if ident.start_byte <= after.end_byte or text(ident) != name:
                continue
            parent = value_parent(ident)
            if parent is None:
                continue
            if parent.type == "assignment_expression" and _same(parent.child_by_field_name("left"), ident):
                break  # overwritten: later uses see another value
            if parent.type == "field_expression":
                continue  # pfn.val++ and friends: not a use of the pfn as a whole
            out.extend(self.sinks(ident, depth + 1))
        return out or [Sink("unknown", name, after)]

    def _return_sinks(self, fn: Node, fname: str | None, at: Node, depth: int) -> list[Sink]:
        if not fname or self.index.function_referenced_indirectly(fname):
            return [Sink("return", fname or "", at)]
        out: list[Sink] = []
        for call in self.index.plain_calls_to(fname):
            if enclosing_function(call) == fn:
                continue
            out.extend(self.sinks(call, depth + 1))
        return out or [Sink("return", fname, at)]


def _arm_and_chain(node: Node) -> tuple[Node | None, list[Node]]:
    """The arm (consequence or else body) of the innermost if statement
    holding ``node``, and every arm of its if/else-if chain."""
    n = node.parent
    while n is not None and n.type != "function_definition":
        if n.type == "if_statement":
            top = n
            while top.parent is not None and top.parent.type == "else_clause" and top.parent.parent is not None:
                top = top.parent.parent  # climb to the first if of the chain
            arms = []
            cur = top
            while cur is not None and cur.type == "if_statement":
                cons = cur.child_by_field_name("consequence")
                if cons is not None:
                    arms.append(cons)
                alt = cur.child_by_field_name("alternative")
                body = next((c for c in alt.named_children if c.type != "comment"), None) if alt is not None else None
                if body is not None and body.type == "if_statement":
                    cur = body
                    continue
                if body is not None:
                    arms.append(body)
                break
            arm = next((a for a in arms if a.start_byte <= node.start_byte and node.end_byte <= a.end_byte), None)
            return arm, arms
        n = n.parent
    return None, []


def _calls_in(node: Node, names: frozenset[str]) -> list[Node]:
    return [c for c in walk(node, {"call_expression"}) if callee_name(c) in names]


def included_macro(kernel, abspath: str, data: bytes, name: str) -> tuple[str, int, str] | None:
    """(body, line, header) of the object-like macro ``name`` as defined by
    a header the file includes with ``#include "..."`` (the driver's own
    headers, next to it), read through the kernel reader; None when none of
    them defines it. ``<linux/...>`` headers are not read: the PFN_* flags
    are known, and the kernel's headers define no driver's flag sets."""
    for header in local_headers(kernel, abspath, data):
        macros = kernel.memo(("header-macros", header.path), lambda h=header: _object_macros(h.data))
        if name in macros:
            body, line = macros[name]
            return body, line, header.name
    return None


# From the '#': a literal the regex engine jumps between, where ``^`` would
# be tried at every byte (register headers run to megabytes).
_INCLUDE_RE = re.compile(rb'#[ \t]*include[ \t]*"[^"\n]+"')
_DEFINE_RE = re.compile(rb"#[ \t]*define[ \t]+(\w+)(?![\w(])[ \t]*((?:[^\n\\]|\\\r?\n|\\)*)")


def includes_local_headers(data: bytes) -> bool:
    """Whether the file includes a header of its own (``#include "..."``)."""
    return b"include" in data and next(directive_matches(_INCLUDE_RE, data), None) is not None


def _object_macros(data: bytes | None) -> dict[str, tuple[str, int]]:
    """Object-like macros of a header: name -> (body, line)."""
    if data is None or b"define" not in data:
        return {}
    out: dict[str, tuple[str, int]] = {}
    for _, m in directive_matches(_DEFINE_RE, data):
        body = re.sub(r"\\\r?\n", " ", m.group(2).decode("utf-8", "replace")).replace("\r", "")
        body = re.sub(r"/\*.*?\*/|//.*$", "", body).strip()
        if body:
            out.setdefault(m.group(1).decode(), (body, data.count(b"\n", 0, m.start()) + 1))
    return out


def _same(a: Node | None, b: Node | None) -> bool:
    if a is None or b is None:
        return False
    return unwrap(a).start_byte == unwrap(b).start_byte and unwrap(a).end_byte == unwrap(b).end_byte


# How bad a page-less pfn is at each kind of sink.
DAX_SINKS = frozenset({"direct_access", "dax_insert", "dax_mixed"})


def sink_severity(sink: Sink | None) -> Severity:
    return Severity.ERROR if sink is not None and sink.kind in DAX_SINKS else Severity.WARNING


def strongest(sinks: list[Sink]) -> Sink | None:
    return max(sinks, key=lambda s: SINK_RANK.get(s.kind, 0)) if sinks else None


def pfn_analysis(source: SourceFile) -> PfnAnalysis:
    return source.shared(PfnAnalysis)


def pfn_analysis_of(ctx) -> PfnAnalysis:
    """The pfn analysis of the file a rule checks, with its included
    headers' macros in view."""
    analysis = pfn_analysis(ctx.source)
    analysis.attach_includes(ctx.kernel, ctx.abspath)
    return analysis


def page_required(catalog) -> bool:
    """Whether the kernel requires struct page for fs-dax: from 569d0365f571
    (v4.15, the catalogs from then declare pfn_t_special() of the same
    series) and still after pfn_t itself is gone."""
    return catalog.has_function("pfn_t_special") or not catalog.has_type("pfn_t")


def pfn_t_exists(catalog) -> bool:
    return catalog.has_type("pfn_t")
