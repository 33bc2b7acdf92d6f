"""Where a file changes ``vma->vm_flags``, and in what context.

Shared by the DAX3xx rules so that a file is analysed once however many of
them run: every write to a ``struct vm_area_struct``'s flags (a direct
``=``/``|=``/``&=``/``^=``/``++``/``--``, ``WRITE_ONCE()``, a write through a
pointer to the field, or a ``vm_flags_*()`` wrapper call), the flags it sets
and clears, whether it depends on the DAX mode, and the call-graph context
of the function it sits in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from tree_sitter import Node

from daxlint.analysis.bits import BIT_RE
from daxlint.analysis.callgraph import AFTER_MMAP_ROLES, MMAP, VMA_CLOSE, VMA_OPEN, CallGraph, Context
from daxlint.analysis.driver import sibling_registrations
from daxlint.analysis.flow import BLOCKS, exiting_guards
from daxlint.analysis.locate import identifier_hits, identifier_nodes, is_word_byte
from daxlint.analysis.locks import LockState, Outcome
from daxlint.analysis.preproc import ATTRIBUTE_MACROS, blank_attributes, first_branch_only
from daxlint.analysis.types import TypeResolver
from daxlint.core.build import compat_shims
from daxlint.core.catalog import VmFlagSetter, api_history
from daxlint.core.directives import directive_matches, scan
from daxlint.core.syntax import call_args, call_name, declarator_name, enclosing_function, function_name, parent_of, text, walk
from daxlint.version import KernelVersion

VMA_STRUCT = "vm_area_struct"
# What ->mmap_prepare fills in before the vma exists (v6.16): its flags are
# the new vma's, and nobody else can see them yet.
DESC_STRUCT = "vm_area_desc"
FLAG_FIELDS = frozenset({"vm_flags", "__vm_flags"})
# The v6.3 wrappers (bc292ab00f6c); index of the vma argument is 0 for all.
WRAPPERS = frozenset(
    {"vm_flags_set", "vm_flags_clear", "vm_flags_mod", "vm_flags_init", "vm_flags_reset", "vm_flags_reset_once", "__vm_flags_mod"}
)
# Wrappers that initialise a vma nobody else can see yet: no lock needed.
INIT_WRAPPERS = frozenset({"vm_flags_init"})
# The kernel's own accessors of a vma's flags, every release's names and the
# first series' (init/reset/set/clear/mod_vm_flags in the v2 and v3 of the
# v6.3 wrappers, January 2023): their bodies are the implementation (or a
# module's compat shim of it), never a finding.
ACCESSORS = WRAPPERS | frozenset(
    {
        "init_vm_flags",
        "reset_vm_flags",
        "set_vm_flags",
        "clear_vm_flags",
        "mod_vm_flags",
        "mod_vm_flags_nolock",
        "vma_set_flags",
        "vma_clear_flags",
        "vma_set_flags_mask",
        "vma_clear_flags_mask",
        "vma_flags_reset_once",
        "vma_set_atomic_flag",
        "vma_desc_set_flags",
        "vma_desc_clear_flags",
        "vma_desc_set_flags_mask",
        "vma_desc_clear_flags_mask",
        "vm_flags_init_once",
    }
)

# What makes a decision depend on the DAX mode of a file or mapping.
DAX_PREDICATE_RE = re.compile(
    r"\b(IS_DAX|S_DAX|IS_FSDAX|vma_is_dax|vma_is_fsdax|\w+_IS_DAX|FS_XFLAG_DAX|\w*_DAX_FL|XFS_DIFLAG2_DAX"
    r"|daxdev_mapping_supported|dax_mapping)\b"
)
# The same on a file's bytes, for the look before parsing.
DAX_PREDICATE_BYTES_RE = re.compile(DAX_PREDICATE_RE.pattern.encode())
_VM_FLAG_RE = re.compile(r"^VM_[A-Z0-9_]+$")
_DECL_END = re.compile(rb"[;(){}=]")


def _annotated_vma(data: bytes) -> bool:
    """Whether a vma object is declared with an annotation tree-sitter
    cannot place (``struct vm_area_struct gate_vma __ro_after_init = ...``,
    ``static __read_mostly struct vm_area_struct x;``): the declaration
    around each ``struct vm_area_struct`` is looked at, nothing more."""
    pos = data.find(b"struct vm_area_struct")
    while pos >= 0:
        end = _DECL_END.search(data, pos, pos + 400)
        start = max(
            data.rfind(b";", max(0, pos - 200), pos), data.rfind(b"}", max(0, pos - 200), pos), data.rfind(b"\n", max(0, pos - 200), pos)
        )
        stop = end.start() if end is not None else pos + 400
        if ATTRIBUTE_MACROS.search(data, start + 1, stop) is not None:
            return True
        pos = data.find(b"struct vm_area_struct", pos + 21)
    return False


_COND_PARENTS = frozenset({"if_statement", "while_statement", "do_statement", "for_statement", "switch_statement"})


# Kinds of change that store into the field itself (DAX301's business on
# v6.3+); "wrapper" and "helper" calls change it through the kernel's API,
# "bitmap" through the v7.x bitmap helpers that take no lock
# (vma_set_flags()); "desc" is a change of a vm_area_desc's flags in
# ->mmap_prepare, before there is a vma.
DIRECT_KINDS = frozenset({"direct", "pointer", "write_once", "address"})


@dataclass
class VmFlagsWrite:
    node: Node  # what to report: the assignment, update or call
    # "direct", "pointer" (a store through &vma->vm_flags), "write_once",
    # "address" (&vma->vm_flags handed to a function that writes through it),
    # "wrapper" (vm_flags_*()), "helper" (remap_pfn_range() and the other
    # helpers the catalog says set flags), "bitmap" (vma_set_flags() and the
    # other helpers of the v7.x bitmap API) or "desc" (a vm_area_desc's flags)
    kind: str
    op: str  # "=", "|=", "&=", "^=", "++", "--", or the called function's name
    vma: Node | None  # the expression naming the vma
    value: Node | None  # right-hand side / flags argument
    field: str  # "vm_flags" or "__vm_flags" (wrappers: "vm_flags")
    function: Node | None
    set_flags: frozenset[str] = frozenset()
    setter: VmFlagSetter | None = None  # for "helper": what the catalog says it sets
    macro: str | None = None  # the function-like macro whose body writes, at its invocation
    value_text: str | None = None  # the macro body's value, its parameters replaced

    @property
    def function_name(self) -> str | None:
        return function_name(self.function) if self.function is not None else None

    @property
    def is_direct(self) -> bool:
        return self.kind in DIRECT_KINDS

    @property
    def change_key(self) -> str:
        """The change as what it does, not how it is written: the vma, the
        flags set and the flags cleared (``vma->vm_flags |= VM_IO`` and
        ``vm_flags_set(vma, VM_IO)`` are one change)."""
        vma = self.vma_key
        args = call_args(self.node) if self.node.type == "call_expression" else []
        if self.kind == "helper":
            return f"vm_flags:{vma}:{self.op}"
        cleared: frozenset[str] = frozenset()
        if self.op in ("&=", "=") and self.value is not None:
            cleared = flag_names(self.value, negated=True)
        elif self.op == "vm_flags_clear" and len(args) > 1:
            cleared = flag_names(args[1], negated=False)
        elif self.op in ("vm_flags_mod", "__vm_flags_mod") and len(args) > 2:
            cleared = flag_names(args[2], negated=False)
        return f"vm_flags:{vma}:+{'|'.join(sorted(self.set_flags))}:-{'|'.join(sorted(cleared))}"

    @property
    def on_desc(self) -> bool:
        """A change of ->mmap_prepare's descriptor: there is no vma yet."""
        return self.kind == "desc"

    @property
    def vma_text(self) -> str:
        return text(self.vma) if self.vma is not None else "vma"

    @property
    def vma_key(self) -> str:
        """The vma as written, white space and a leading ``&`` aside."""
        return _vma_words(self.vma_text)

    @property
    def what(self) -> str:
        """The change in words, for messages: ``vm_flags_set()`` or
        ``write '|=' to vma->vm_flags``."""
        if self.kind in ("wrapper", "bitmap") or (self.kind == "desc" and self.node.type == "call_expression"):
            return f"{self.op}()"
        if self.kind == "helper":
            where = f" ({self.setter.defined_at})" if self.setter and self.setter.defined_at else ""
            flags = " | ".join(self.setter.always or self.setter.unless_set) if self.setter else "flags"
            target = f"{self.vma_text}->vma" if self.setter and self.setter.through_fault else self.vma_text
            if not flags:
                return f"{self.op}(){where}, which changes {target}->vm_flags,"
            return f"{self.op}(){where}, which sets {flags} in {target}->vm_flags,"
        if self.kind == "address":
            return f"passing &{self.vma_text}->{self.field} to {self.op}(), which writes through it,"
        return f"write '{self.op}' to {self.vma_text}->{self.field}"


@dataclass
class WriteContext:
    locked: bool  # the mmap write lock is held at the write (taken on every path there, or asserted)
    read_locked: bool  # only the read side is held at the write (mmap_read_lock(), the per-VMA lock)
    contexts: list[Context] = field(default_factory=list)  # roles reaching the function unlocked
    released: bool = False  # the write lock was dropped on every path to the write (mmap_write_unlock())

    @property
    def in_mmap(self) -> bool:
        return any(c.role == MMAP for c in self.contexts)

    @property
    def after_mmap(self) -> list[Context]:
        return [c for c in self.contexts if c.role in AFTER_MMAP_ROLES]

    @property
    def unknown(self) -> bool:
        return not self.contexts and not self.locked and not self.read_locked


class VmFlagsModel:
    """Per-file analysis; get it with :func:`model_for` so rules share it."""

    def __init__(self, source, catalog, partial: bool = False):
        self.source = source
        self.catalog = catalog
        # Only a patch's hunks are known: names declared out of view are
        # typed by kernel convention (vma, vmf).
        self.partial = partial
        self._driver: tuple | None = None  # (kernel, abspath, shown path): roles from sibling files
        self.macro_renamed = _redefines_vm_flags(source.data)
        # What the module's other files give this one (analysis.module):
        # its helpers that change flags (name -> VmFlagSetter), the lock
        # state its lock wrappers leave (name -> LockState), and the bytes
        # of the headers whose function-like macros it may use.
        self.module_attached = False
        self.module_setters: dict[str, VmFlagSetter] = {}
        self.module_locks: dict[str, LockState] = {}
        self.module_outcomes: dict[str, Outcome] = {}
        self.macro_sources: tuple[bytes, ...] = ()

    # -- trees -----------------------------------------------------------------

    @cached_property
    def root(self) -> Node:
        """The tree to analyse: the file's own, or a parse of a variant of
        its bytes (same offsets and lines) - with only the first branch of
        each conditional kept when some vm_flags write is stranded in an
        ERROR node outside any function and the file has #else branches,
        and with declaration annotations blanked when a vma object is
        declared with one (``gate_vma __ro_after_init``)."""
        data = self.source.data
        root = self.source.root
        variant = data
        if not all(enclosing_function(n) is not None for n in _write_candidates(root, data)) and (b"#else" in data or b"#elif" in data):
            variant = first_branch_only(variant)
        if _annotated_vma(data):
            variant = blank_attributes(variant)
        if variant is data:
            return root
        from daxlint.core.source import parser

        self._variant_tree = parser().parse(variant)
        return self._variant_tree.root_node

    @cached_property
    def resolver(self) -> TypeResolver:
        return TypeResolver(self.source, self.catalog, self.root, guess_undeclared=self.partial)

    def attach_driver(self, kernel, abspath: str | None, shown: str) -> None:
        """Let the call graph take roles from the other files of the driver
        (``.fault = gru_fault`` in grufile.c for grumain.c's gru_fault()).
        Must come before the graph is first used; rules call it through
        :func:`model_of`."""
        if self._driver is None and abspath is not None and "graph" not in self.__dict__:
            self._driver = (kernel, abspath, shown)

    @cached_property
    def graph(self) -> CallGraph:
        g = CallGraph(self.root, self.source.data, self.resolver, fault_signatures=self.partial)
        g.module_locks = self.module_locks
        g.module_outcomes = self.module_outcomes
        g.macro_sources = self.macro_sources
        if self._driver is not None:
            # Only changes no role of this file reaches look for one in the
            # driver's other files (gru_fault() in grumain.c).
            kernel, abspath, shown = self._driver
            unknown = {w.function_name for w in self.writes if w.function is not None and not g.contexts_of(w.function_name)}
            names = g.exported_reaching({n for n in unknown if n})
            if names:
                g.external = sibling_registrations(kernel, abspath, names, shown)
                g.forget_contexts()
        return g

    # -- writes ----------------------------------------------------------------

    @cached_property
    def writes(self) -> list[VmFlagsWrite]:
        out: list[VmFlagsWrite] = []
        seen: set[int] = set()
        aliases = self._field_pointer_aliases()
        for n in _write_candidates(self.root, self.source.data, aliases, [*self._helpers(), *self._bitmap_changers()]):
            w = self._classify(n, aliases)
            if w is not None and w.kind != "helper" and w.function_name in ACCESSORS:
                # The kernel's own accessor (include/linux/mm.h), or a compat
                # shim's body (a module's own vm_flags_set() for kernels
                # before v6.3): calls to it count as the accessor.
                continue
            if w is not None and w.node.start_byte not in seen:
                seen.add(w.node.start_byte)
                out.append(w)
        for w in self._macro_writes():
            if w.node.start_byte not in seen:
                seen.add(w.node.start_byte)
                out.append(w)
        out.sort(key=lambda w: w.node.start_byte)
        return out

    def _macro_writes(self) -> list[VmFlagsWrite]:
        """Invocations of the file's function-like macros whose body writes
        a parameter's vm_flags (``#define SET_IO(v) ((v)->vm_flags |= VM_IO)``),
        when the argument is a vma: the write happens there."""
        data = self.source.data
        sources = [d for d in (data, *self.macro_sources) if b"define" in d and b"vm_flags" in d]
        if not sources:
            return []
        out = []
        for m in (m for src in sources for _, m in directive_matches(_MACRO_DEF_RE, src)):
            body = re.sub(rb"\\\r?\n", b" ", m.group(3)).decode("utf-8", "replace")
            if "vm_flags" not in body:
                continue
            params = [p.strip() for p in m.group(2).decode("utf-8", "replace").split(",")]
            w = _MACRO_BODY_WRITE_RE.search(body)
            kind = "direct"
            if w is None:
                # A macro around a wrapper: vm_flags_set((v), VM_DONTCOPY)
                w, kind = _MACRO_BODY_WRAPPER_RE.search(body), "wrapper"
            if w is None or w.group("vma") not in params:
                continue
            index, op, value = params.index(w.group("vma")), w.group("op"), w.group("value").strip()
            while value.count(")") > value.count("("):  # the body's own closing parenthesis
                value = value[: value.rfind(")")].rstrip()
            name = m.group(1)
            for ident in identifier_nodes(self.root, data, (name,)):
                call = ident.parent
                if call is None or call.type != "call_expression" or call.child_by_field_name("function") != ident:
                    continue
                args = call_args(call)
                if index >= len(args) or self.resolver.struct_of(args[index]) != VMA_STRUCT:
                    continue
                arg_text = text(args[index])
                value_text = re.sub(r"\b(\w+)\b", lambda x, a=args, p=params: _macro_arg(x.group(1), p, a), value)
                vw = VmFlagsWrite(call, kind, op, args[index], None, "vm_flags", enclosing_function(call))
                vw.macro, vw.value_text = name.decode(), value_text.replace(f"({arg_text})", arg_text)
                if op in ("|=", "=", "vm_flags_set", "vm_flags_mod", "vm_flags_reset", "vm_flags_init"):
                    vw.set_flags = frozenset(f for f in re.findall(r"(?<!~)\b(VM_[A-Z0-9_]+)\b", value) if _VM_FLAG_RE.match(f))
                out.append(vw)
        return out

    def _helpers(self) -> dict[str, VmFlagSetter]:
        """The catalog's flag-setting helpers this file calls and does not
        define itself (mm/memory.c's own remap_pfn_range() is the helper)."""
        setters = {**self.module_setters, **(self.catalog.vm_flag_setters if self.catalog is not None else {})}
        data = self.source.data
        return {n: s for n, s in setters.items() if n.encode() in data}

    def _bitmap_changers(self) -> dict[str, str]:
        """The catalog's bitmap helpers that change a vma's or descriptor's
        flags (vma_set_flags(), vma_desc_set_flags(), ...) named in this file."""
        changes = self.catalog.flag_changes if self.catalog is not None else {}
        data = self.source.data
        return {n: c for n, c in changes.items() if n.encode() in data}

    def _classify(self, n: Node, aliases: dict[tuple[int, str], Node]) -> VmFlagsWrite | None:
        if n.type == "call_expression":
            name = call_name(n)
            args = call_args(n)
            change = self._bitmap_changers().get(name or "")
            if change is not None and args:
                struct = self.resolver.struct_of(args[0])
                if struct not in (VMA_STRUCT, DESC_STRUCT):
                    return None
                w = VmFlagsWrite(n, "desc" if struct == DESC_STRUCT else "bitmap", name, args[0], None, "vm_flags", enclosing_function(n))
                if change == "set":
                    w.set_flags = frozenset(f"VM_{b}" for a in args[1:] for b in BIT_RE.findall(text(a)))
                return w
            setter = self._helpers().get(name or "")
            if setter is not None and len(args) > setter.vma_index and enclosing_function(n) is not None:
                w = VmFlagsWrite(n, "helper", name, args[setter.vma_index], None, "vm_flags", enclosing_function(n), setter.flags, setter)
                return w
            for i, a in enumerate(args):
                inner = _strip_casts(a)
                if inner is None or inner.type != "pointer_expression" or not text(inner).startswith("&"):
                    continue
                vma, fld = self._flags_field(inner.child_by_field_name("argument"))
                if vma is not None and name is not None and self._writes_through(name, i):
                    return VmFlagsWrite(n, "address", name, vma, None, fld, enclosing_function(n))
            if name in WRAPPERS and args:
                value = args[1] if len(args) > 1 else None
                w = VmFlagsWrite(n, "wrapper", name, args[0], value, "vm_flags", enclosing_function(n))
                if name != "vm_flags_clear":
                    w.set_flags = self._expanded_flags(value, n)
                return w
            if name == "WRITE_ONCE" and len(args) == 2:
                vma, fld = self._flags_field(args[0])
                if vma is not None:
                    w = VmFlagsWrite(n, "write_once", "=", vma, args[1], fld, enclosing_function(n))
                    w.set_flags = self._expanded_flags(args[1], n)
                    return w
            return None
        target = n.child_by_field_name("left") if n.type == "assignment_expression" else n.child_by_field_name("argument")
        if target is None:
            return None
        op_node = n.child_by_field_name("operator")
        op = text(op_node) if op_node is not None else ""
        if n.type == "update_expression":
            op = "++" if "++" in text(n) else "--"
        kind = "direct"
        if target.type == "pointer_expression" and text(target).startswith("*"):
            inner = _strip_casts(target.child_by_field_name("argument"))
            kind = "pointer"
            if inner is not None and inner.type == "pointer_expression" and text(inner).startswith("&"):
                target = inner.child_by_field_name("argument")
            elif inner is not None and inner.type == "identifier":
                fn = enclosing_function(n)
                target = aliases.get((fn.start_byte if fn is not None else -1, text(inner)))
            else:
                return None
            if target is None:
                return None
        vma, fld = self._flags_field(target)
        if vma is None and kind == "direct":
            vma, fld = self._flags_field(target, desc=True)
            kind = "desc" if vma is not None else kind
        if vma is None:
            return None
        value = n.child_by_field_name("right") if n.type == "assignment_expression" else None
        w = VmFlagsWrite(n, kind, op, vma, value, fld, enclosing_function(n))
        if op in ("|=", "="):
            w.set_flags = self._expanded_flags(value, n)
        return w

    def _writes_through(self, function: str, index: int) -> bool:
        """Whether a function stores through its ``index``-th argument: a
        non-const pointer parameter, by the file's own declaration of it or
        else the catalog's. A function nobody declares is not assumed to."""
        params = self.resolver.parameter_types(function)
        if params is not None:
            if index >= len(params):
                return False
            t = params[index]
            return "*" in t and not t.lstrip().startswith("const ") and "const *" not in t
        return self.catalog is not None and self.catalog.writes_through(function, index)

    def _flags_field(self, node: Node | None, desc: bool = False) -> tuple[Node | None, str]:
        """(vma expression, field) when ``node`` is ``<vma>->vm_flags`` (with
        ``desc``, ``<desc>->vm_flags`` of a vm_area_desc instead)."""
        node = _strip_parens(node)
        if node is None or node.type != "field_expression":
            return None, ""
        fld = node.child_by_field_name("field")
        name = text(fld)
        if name not in FLAG_FIELDS or (self.macro_renamed and name == "vm_flags"):
            return None, ""
        base = node.child_by_field_name("argument")
        if base is None or self.resolver.struct_of(base) != (DESC_STRUCT if desc else VMA_STRUCT):
            return None, ""
        return base, name

    def _field_pointer_aliases(self) -> dict[tuple[int, str], Node]:
        """Locals holding ``&vma->vm_flags`` (possibly cast): (function, name) -> field node."""
        out: dict[tuple[int, str], Node] = {}
        for fld in _flag_fields(self.root, self.source.data):
            ptr = fld.parent
            if ptr is None or ptr.type != "pointer_expression" or not text(ptr).startswith("&"):
                continue
            holder = parent_of(ptr)
            while holder is not None and holder.type in ("cast_expression", "parenthesized_expression"):
                holder = parent_of(holder)
            name = None
            if holder is not None and holder.type == "init_declarator":
                name = declarator_name(holder.child_by_field_name("declarator"))
            elif holder is not None and holder.type == "assignment_expression":
                left = holder.child_by_field_name("left")
                name = text(left) if left is not None and left.type == "identifier" else None
            fn = enclosing_function(ptr)
            if name and fn is not None:
                out[(fn.start_byte, name)] = fld
        return out

    def _expanded_flags(self, value: Node | None, at: Node) -> frozenset[str]:
        """VM_* flags a value sets; a plain local variable is followed to the
        values assigned to it earlier in the function (one level)."""
        flags = set(flag_names(value, negated=False))
        if value is not None and value.type == "identifier":
            fn = enclosing_function(at)
            if fn is not None:
                for v in _assigned_values(fn, text(value), at.start_byte):
                    flags |= flag_names(v, negated=False)
        return frozenset(flags)

    # -- contexts --------------------------------------------------------------

    def context(self, w: VmFlagsWrite) -> WriteContext:
        if w.function is None:
            return WriteContext(False, False)
        state = self.graph.locks(w.function).at(w.node.start_byte)
        return WriteContext(
            state.write_held, state.read_only, self.graph.contexts_of(w.function_name), state.released and not state.read_only
        )

    def reported_after_mmap(self, w: VmFlagsWrite) -> bool:
        """Whether DAX302 reports this change: after ->mmap (or under the
        read lock) without the write lock. DAX304 hands its reason to that
        finding instead of making a second one on the same line."""
        if w.op in INIT_WRAPPERS or w.function is None or w.kind == "helper" or w.on_desc or self.is_private_vma(w):
            return False
        c = self.context(w)
        return not c.locked and (c.read_locked or c.released or bool(c.after_mmap))

    def wrappers_would_trip(self, w: VmFlagsWrite) -> bool:
        """Whether a vm_flags_*() call in place of ``w`` would trip the mmap
        write lock assertion of vma_start_write(): code under the read lock,
        or a role reached without the lock (a fault handler, an ioctl) - not
        ->open/->close, which run under the write lock of the mm being
        forked or split (DAX302 warns there rather than errs)."""
        if not self.reported_after_mmap(w):
            return False
        c = self.context(w)
        return c.read_locked or c.released or any(x.role not in (VMA_OPEN, VMA_CLOSE) for x in c.after_mmap)

    def dax_dependence(self, w: VmFlagsWrite, flag: str | None = None) -> DaxDependence | None:
        """How the write depends on the DAX mode (IS_DAX(), S_DAX,
        vma_is_dax(), a per-file DAX flag): the condition or value that
        decides it and for which mode it runs; None when it does not.

        ``flag`` narrows a value-based dependence to one flag: in
        ``IS_DAX(i) ? VM_MIXEDMAP : 0`` the flag is set for DAX files."""
        fn = w.function
        pred = _DaxPredicate((_dax_tainted_locals(fn) if fn is not None else set()) | self.dax_helpers)
        if w.value is not None and pred.mentions(w.value):
            return DaxDependence(w.value, _value_polarity(w.value, pred, flag), in_value=True)
        found: DaxDependence | None = None
        child, n = w.node, parent_of(w.node)
        while n is not None and n != fn:
            dep = None
            if n.type in _COND_PARENTS or n.type == "conditional_expression":
                cond = n.child_by_field_name("condition")
                if cond is not None and child != cond and pred.mentions(cond):
                    pol = pred.polarity(cond) if n.type != "switch_statement" else 0
                    if n.child_by_field_name("alternative") == child or (n.type == "if_statement" and _is_else_branch(n, child)):
                        pol = -pol
                    dep = DaxDependence(cond, pol)
            if dep is None and n.type in BLOCKS:
                # An earlier guard that leaves the block: if (!IS_DAX(i)) return ...;
                for stmt in exiting_guards(n, child):
                    cond = stmt.child_by_field_name("condition")
                    if stmt.child_by_field_name("alternative") is None and pred.mentions(cond):
                        dep = DaxDependence(cond, -pred.polarity(cond))
            if dep is not None:
                if found is None:
                    found = dep
                elif found.polarity == 0:
                    found = DaxDependence(found.node, dep.polarity)
                if found.polarity != 0:
                    return found
            child, n = n, parent_of(n)
        return found

    @cached_property
    def dax_helpers(self) -> set[str]:
        """Functions of the file that only test the DAX mode and return the
        answer (``static bool foo_is_dax(struct inode *i) { return IS_DAX(i); }``):
        calling one is testing the mode."""
        out: set[str] = set()
        data = self.source.data
        if b"DAX" not in data and b"dax" not in data:  # every predicate spells one of them
            return out
        for name, defs in self.graph.definitions.items():
            for fn in defs:
                body = fn.child_by_field_name("body")
                if body is None or body.end_byte - body.start_byte > 400:
                    continue
                stmts = [c for c in body.named_children if c.type != "comment"]
                if len(stmts) > 3 or not stmts:
                    continue
                rets = [st for st in stmts if st.type == "return_statement"]
                if len(rets) == 1 and rets[0] is stmts[-1] and DAX_PREDICATE_RE.search(text(rets[0])):
                    out.add(name)
        return out

    # -- which ->mmap set up a vma -------------------------------------------------

    @cached_property
    def vm_ops_installs(self) -> dict[str, list[Node]]:
        """``x->vm_ops = &ops`` stores by ops variable: the functions (normally
        the ->mmap) that give a vma the handlers of ``ops``."""
        out: dict[str, list[Node]] = {}
        data = self.source.data
        for m in _VM_OPS_STORE_RE.finditer(data):
            fld = self.root.descendant_for_byte_range(m.start(1), m.end(1))
            fe = fld.parent if fld is not None else None
            asg = fe.parent if fe is not None else None
            if asg is None or asg.type != "assignment_expression" or asg.child_by_field_name("left") != fe:
                continue
            right = _strip_parens(asg.child_by_field_name("right"))
            ref = right.child_by_field_name("argument") if right is not None and right.type == "pointer_expression" else right
            fn = enclosing_function(asg)
            if ref is not None and ref.type == "identifier" and fn is not None:
                out.setdefault(text(ref), []).append(fn)
        return out

    # -- what the vma is ---------------------------------------------------------

    def is_private_vma(self, w: VmFlagsWrite) -> bool:
        """A vma nobody else can see yet: a struct object rather than a
        pointer (hugetlbfs' pseudo_vma on the stack, the arch gate_vma; real
        vmas always come from vm_area_alloc()), or one this function just
        allocated with vm_area_alloc()/vm_area_dup() and not yet inserted."""
        vma = _strip_parens(w.vma)
        if vma is None:
            return False
        if vma.type == "pointer_expression" and text(vma).startswith("&"):
            vma = vma.child_by_field_name("argument")
        if vma is None or vma.type != "identifier":
            return False
        declared = self.resolver.variable_type(vma)
        if declared is not None and "*" not in declared:
            return True
        if w.function is not None:
            for v in _assigned_values(w.function, text(vma), w.node.start_byte):
                if v is not None and v.type == "call_expression" and call_name(v) in _FRESH_VMA_CALLS:
                    return True
        return False

    def vma_pointer_text(self, w: VmFlagsWrite) -> str:
        """How to hand the vma to a wrapper: ``vma`` or ``&pseudo_vma``."""
        if w.kind == "wrapper":
            return w.vma_text
        fe = w.vma.parent if w.vma is not None else None
        if fe is not None and fe.type == "field_expression" and text(fe.child_by_field_name("operator")) == ".":
            return "&" + w.vma_text
        return w.vma_text


_FRESH_VMA_CALLS = frozenset({"vm_area_alloc", "vm_area_dup"})
# A body goes on over continuation lines: a backslash before LF, or CRLF.
_MACRO_DEF_RE = re.compile(rb"#[ \t]*define[ \t]+(\w+)\(([^)]*)\)((?:[^\n\\]|\\\r?\n|\\)*)")
# (v)->vm_flags |= X, v->vm_flags = X, in a macro body
# vm_flags_set((v), X) in a macro body: (parameter, wrapper, the flags)
_MACRO_BODY_WRAPPER_RE = re.compile(r"\b(?P<op>vm_flags_(?:set|clear|mod|reset|init))\s*\(\s*\(?\s*(?P<vma>\w+)\s*\)?\s*,(?P<value>[^;]*)")
_MACRO_BODY_WRITE_RE = re.compile(r"\(?\s*(?P<vma>\w+)\s*\)?\s*(?:->|\.)\s*vm_flags\s*(?P<op>[|&^]?=)(?!=)\s*(?P<value>[^;]*)")


def macros_writing_flags(data: bytes) -> frozenset[str]:
    """By bytes: the function-like macros ``data`` defines whose body writes
    a parameter's vm_flags directly (``#define SET_IO(v) ((v)->vm_flags |= VM_IO)``)."""
    if b"define" not in data or b"vm_flags" not in data:
        return frozenset()
    out = set()
    for _, m in directive_matches(_MACRO_DEF_RE, data):
        body = re.sub(rb"\\\r?\n", b" ", m.group(3)).decode("utf-8", "replace")
        w = _MACRO_BODY_WRITE_RE.search(body) if "vm_flags" in body else None
        if w is not None and w.group("vma") in (p.strip() for p in m.group(2).decode("utf-8", "replace").split(",")):
            out.add(m.group(1).decode())
    return frozenset(out)


def _macro_arg(word: str, params: list[str], args: list[Node]) -> str:
    if word in params and params.index(word) < len(args):
        return text(args[params.index(word)])
    return word


_VM_OPS_STORE_RE = re.compile(rb"(?:->|\.)\s*(vm_ops)\s*=(?!=)")


def initialized_variable(pair: Node) -> str | None:
    """The variable whose initializer holds ``pair`` (``.fault = f`` in
    ``static const struct vm_operations_struct foo_vm_ops = {...}``)."""
    n = pair.parent
    while n is not None and n.type == "initializer_list":
        n = n.parent
    if n is None or n.type != "init_declarator":
        return None
    d = n.child_by_field_name("declarator")
    while d is not None and d.type != "identifier":
        d = d.child_by_field_name("declarator")
    return text(d) if d is not None else None


@dataclass
class DaxDependence:
    node: Node  # the condition (or value) that mentions the DAX mode
    polarity: int  # +1: runs only for DAX, -1: only for non-DAX, 0: depends, direction unknown
    in_value: bool = False  # the flags value itself tests the mode (IS_DAX(i) ? A : B)

    @property
    def text(self) -> str:
        """The deciding expression, on one line, without its outer parentheses."""
        return _squash(_strip_parens(self.node))


class _DaxPredicate:
    def __init__(self, tainted: set[str]):
        self.tainted = tainted
        self._tainted_re = re.compile(r"\b(" + "|".join(map(re.escape, sorted(tainted))) + r")\b") if tainted else None

    def mentions(self, node: Node | None) -> bool:
        if node is None:
            return False
        t = text(node)
        return bool(DAX_PREDICATE_RE.search(t)) or bool(self._tainted_re and self._tainted_re.search(t))

    def polarity(self, cond: Node | None) -> int:
        """+1 when the condition being true means the file is DAX, -1 when it
        means it is not, 0 when it cannot say (``a || IS_DAX(i)``). Negations
        are followed in a loop (``!(!(...))`` may nest deeper than recursion)."""
        sign = 1
        c = _strip_parens(cond)
        while c is not None and c.type == "unary_expression" and text(c.child_by_field_name("operator")) == "!":
            sign = -sign
            c = _strip_parens(c.child_by_field_name("argument"))
        return sign * self._polarity(c)

    def _polarity(self, c: Node | None) -> int:
        if c is None:
            return 0
        if c.type == "binary_expression":
            op = text(c.child_by_field_name("operator"))
            left, right = c.child_by_field_name("left"), c.child_by_field_name("right")
            if op == "&&":
                pols = [self.polarity(x) for x in (left, right) if self.mentions(x)]
                return pols[0] if len(pols) == 1 else 0
            if op in ("==", "!="):
                zero = [x for x in (left, right) if x is not None and text(x) in ("0", "false", "NULL")]
                other = [x for x in (left, right) if x is not None and x not in zero]
                if zero and other and self.mentions(other[0]):
                    p = self.polarity(other[0])
                    return -p if op == "==" else p
                return 0
            if op == "&":  # inode->i_flags & S_DAX
                return 1 if self.mentions(c) else 0
            return 0
        if c.type in ("call_expression", "identifier", "field_expression"):
            return 1 if self.mentions(c) else 0
        return 0


def _is_else_branch(if_stmt: Node, child: Node) -> bool:
    alt = if_stmt.child_by_field_name("alternative")
    return alt is not None and (alt == child or alt.start_byte <= child.start_byte < alt.end_byte)


def _value_polarity(value: Node, pred: _DaxPredicate, flag: str | None) -> int:
    """Polarity of ``flag`` in a value such as ``IS_DAX(i) ? VM_MIXEDMAP : 0``."""
    for cx in walk(value, {"conditional_expression"}):
        cond = cx.child_by_field_name("condition")
        if not pred.mentions(cond):
            continue
        p = pred.polarity(cond)
        for part, sign in (("consequence", 1), ("alternative", -1)):
            branch = cx.child_by_field_name(part)
            if branch is not None and (flag is None or flag in flag_names(branch, negated=False)):
                return p * sign
    return 0


def model_for(source, catalog, partial: bool = False) -> VmFlagsModel:
    """The file's model, shared by every DAX3xx rule that runs on it
    (``partial``: the file is known only by a patch's hunks)."""
    return source.shared(VmFlagsModel, catalog, partial)


# -- candidate discovery: text search, then the node at each hit ---------------

_FIELD_NAMES = (b"vm_flags", b"__vm_flags")
_WRAPPER_NAMES = frozenset(w.encode() for w in WRAPPERS)


def _flag_fields(root: Node, data: bytes):
    """Every ``x->vm_flags`` / ``x.__vm_flags`` field expression."""
    for node in identifier_nodes(root, data, _FIELD_NAMES):
        if node.type == "field_identifier" and node.parent is not None and node.parent.type == "field_expression":
            yield node.parent


def _write_candidates(root: Node, data: bytes, aliases: dict | None = None, helpers=()):
    """Assignments, updates and calls that may change vm_flags, unchecked."""
    for fe in _flag_fields(root, data):
        n, child = fe.parent, fe
        addressed = False
        # Climb through ``*(vm_flags_t *)&...`` to the store, if any.
        while n is not None and n.type in ("parenthesized_expression", "cast_expression", "pointer_expression"):
            addressed = addressed or (n.type == "pointer_expression" and text(n).startswith("&"))
            n, child = n.parent, n
        if n is None:
            continue
        if n.type in ("assignment_expression", "update_expression") and n.children and n.children[0] == child:
            yield n
        elif n.type == "argument_list" and n.parent is not None and n.parent.type == "call_expression":
            # WRITE_ONCE(vma->vm_flags, x), or f(..., &vma->vm_flags) when f
            # writes through that parameter
            if addressed or call_name(n.parent) == "WRITE_ONCE":
                yield n.parent
    names = _WRAPPER_NAMES | {h.encode() for h in helpers}
    for node in identifier_nodes(root, data, names):
        if node.parent is not None and node.parent.type == "call_expression":
            yield node.parent
    # ``*flagsp |= X`` where flagsp = &vma->vm_flags
    names = {name.encode() for _, name in aliases} if aliases else set()
    for node in identifier_nodes(root, data, names):
        n = node.parent
        if n is not None and n.type == "pointer_expression" and n.parent is not None and n.parent.type == "assignment_expression":
            yield n.parent


# The same search on bytes, before any parse: could this file contain one of
# the writes above? Reads of vm_flags are everywhere (328 files of 6.1 mention
# it, 141 could write it), so DAX3xx rules ask this first. It must stay a
# superset of _write_candidates(): each pattern mirrors one of its cases.
_FIELD_ACCESS_BEFORE = re.compile(rb"(?:->|\.)[\s\\]*(?:__)?\Z")
# x->vm_flags |= ..., (x->vm_flags) = ..., x->vm_flags++
_STORE_AFTER = re.compile(rb"(?:[\s)\\]|/\*.*?\*/)*(?:(?:[-+*/%&|^]|<<|>>)?=(?!=)|\+\+|--)", re.S)
# ++x->vm_flags, WRITE_ONCE(x->vm_flags, ...), p = &x->vm_flags, (T *)&x->vm_flags
_STORE_BEFORE = re.compile(
    rb"(?:\+\+|--|WRITE_ONCE\s*\(|(?:[=(,;{}?:!]|\breturn|\*\s*\))\s*&)[\s(]*[\w\s.>\-\[\]]*(?:->|\.)[\s\\]*(?:__)?\Z"
)
_WRAPPER_SUFFIXES = (b"_set", b"_clear", b"_mod", b"_init", b"_reset")
_LOOK = 240  # bytes either side of a hit: one statement, generously


@lru_cache(maxsize=8)
def may_write_vm_flags(data: bytes) -> bool:
    """False only when no ``vm_flags`` in ``data`` is written, taken by
    address for a later write, or the name of a vm_flags_*() wrapper."""
    pos = data.find(b"vm_flags")
    while pos >= 0:
        end = pos + 8
        if data.startswith(_WRAPPER_SUFFIXES, end):
            return True
        if end >= len(data) or not is_word_byte(data[end]):
            before = data[max(0, pos - _LOOK) : pos]
            if _FIELD_ACCESS_BEFORE.search(before) and (_STORE_AFTER.match(data, end, end + _LOOK) or _STORE_BEFORE.search(before)):
                return True
        pos = data.find(b"vm_flags", end)
    return False


# Calls of the catalog's flag-setting helpers (every version's names) in a
# file that could run them with only the read lock held: a fault handler
# (every one takes a struct vm_fault, or is an ->access), a post_mmap hook,
# or code that takes the lock for read. DAX302 reports a helper call nowhere
# else, so this stays a superset of where it can.
HELPER_CALL_BYTES = re.compile(
    rb"\b(?:remap_pfn_range|io_remap_pfn_range|remap_pfn_range_notrack|vm_iomap_memory|remap_vmalloc_range"
    rb"|remap_vmalloc_range_partial|vm_insert_pages?|vm_map_pages(?:_zero)?)\s*\("
)
FLAG_HELPER_NAMES = (b"remap_pfn_range", b"vm_iomap_memory", b"remap_vmalloc_range", b"vm_insert_page", b"vm_map_pages")
_READ_ONLY_CONTEXT_BYTES = (b"vm_fault", b"post_mmap", b"mmap_read_", b"lock_vma_under_rcu")


@lru_cache(maxsize=8)
def may_call_flag_helper_after_mmap(data: bytes) -> bool:
    """False only when no helper call in ``data`` can run in a fault handler
    (they all take a struct vm_fault), a post_mmap hook or after the mmap
    lock was taken for read - the only places DAX302 reports helpers."""
    context = any(t in data for t in _READ_ONLY_CONTEXT_BYTES) or (b"down_read" in data and (b"mmap_sem" in data or b"mmap_lock" in data))
    return context and any(n in data for n in FLAG_HELPER_NAMES) and HELPER_CALL_BYTES.search(data) is not None


def changes_flags(data: bytes) -> bool:
    """Whether ``data`` may change a vma's flags: a store, a vm_flags_*()
    call, or a call of a helper that sets flags (by its bytes)."""
    if b"vm_flags" in data and may_write_vm_flags(data):
        return True
    # The literal test first: the regex alone costs a scan per position.
    return any(name in data for name in FLAG_HELPER_NAMES) and HELPER_CALL_BYTES.search(data) is not None


# -- helpers -------------------------------------------------------------------

_RENAME_RE = re.compile(rb"#[ \t]*define[ \t]+vm_flags\b")


def _redefines_vm_flags(data: bytes) -> bool:
    """``#define vm_flags vm_start`` (a BPF selftest does this): in such a
    file ``->vm_flags`` is not the field at all."""
    return b"define" in data and next(directive_matches(_RENAME_RE, data), None) is not None


def _strip_parens(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression":
        inner = [c for c in node.named_children if c.type != "comment"]
        node = inner[-1] if inner else None
    return node


def _strip_casts(node: Node | None) -> Node | None:
    while node is not None and node.type in ("parenthesized_expression", "cast_expression"):
        node = node.child_by_field_name("value") if node.type == "cast_expression" else _strip_parens(node)
    return node


def flag_names(value: Node | None, negated: bool) -> frozenset[str]:
    """VM_* identifiers in ``value`` that are (negated=True) or are not under a ``~``.
    One walk down that carries "under ~" along (an upward look from each
    identifier costs the depth of ``a | b | c | ...`` for every one)."""
    if value is None:
        return frozenset()
    out = set()
    stack = [(value, False)]
    while stack:
        n, under = stack.pop()
        if n.type == "identifier":
            name = text(n)
            if under == negated and _VM_FLAG_RE.match(name):
                out.add(name)
            continue
        if n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "~":
            under = True
        stack.extend((c, under) for c in n.children)
    return frozenset(out)


def _assigned_values(fn: Node, name: str, before: int):
    """Values stored into local ``name`` in ``fn`` before byte ``before``:
    ``T *name = v;`` and ``name = v;``."""
    code = fn.text or b""
    for word, pos in identifier_hits(code, {name.encode()}):
        start = fn.start_byte + pos
        if start >= before:
            break
        ident = fn.descendant_for_byte_range(start, start + len(word))
        if ident is None or ident.type != "identifier" or ident.parent is None:
            continue
        d, p = ident, parent_of(ident)
        while p is not None and p.type == "pointer_declarator":
            d, p = p, parent_of(p)
        if p is not None and p.type == "init_declarator" and p.child_by_field_name("declarator") == d:
            yield p.child_by_field_name("value")
        elif ident.parent.type == "assignment_expression" and ident.parent.child_by_field_name("left") == ident:
            yield ident.parent.child_by_field_name("right")


def _dax_tainted_locals(fn: Node) -> set[str]:
    """Locals whose value comes from a DAX predicate: ``bool dax = IS_DAX(inode);``."""
    out: set[str] = set()
    body = fn.child_by_field_name("body")
    if body is None or not DAX_PREDICATE_RE.search(text(body)):
        return out
    for n in walk(body, {"init_declarator", "assignment_expression"}):
        if n.type == "init_declarator":
            name = declarator_name(n.child_by_field_name("declarator"))
            value = n.child_by_field_name("value")
        else:
            left = n.child_by_field_name("left")
            name = text(left) if left is not None and left.type == "identifier" else None
            value = n.child_by_field_name("right")
        if name and value is not None and DAX_PREDICATE_RE.search(text(value)):
            out.add(name)
    return out


def _squash(node: Node | None) -> str:
    return " ".join(text(node).split()) if node is not None else ""


def _negated_operand(node: Node | None) -> Node | None:
    """X when node is ``~X`` (parentheses allowed)."""
    node = _strip_parens(node)
    if node is not None and node.type == "unary_expression" and text(node.child_by_field_name("operator")) == "~":
        return node.child_by_field_name("argument")
    return None


def _reads_own_flags(node: Node | None, vma_text: str) -> bool:
    node = _strip_parens(node)
    return (
        node is not None
        and node.type == "field_expression"
        and text(node.child_by_field_name("field")) in FLAG_FIELDS
        and text(node.child_by_field_name("argument")) == vma_text
    )


def wrapper_fix(model: VmFlagsModel, w: VmFlagsWrite) -> str:
    """The vm_flags_*() call that replaces a direct write, as code."""
    vma = model.vma_pointer_text(w)
    if w.macro is not None:
        value = " ".join((w.value_text or "").split())
        if w.op == "|=":
            return f"vm_flags_set({vma}, {value}) in {w.macro}()"
        if w.op == "&=" and value.startswith("~"):
            return f"vm_flags_clear({vma}, {value[1:].strip()}) in {w.macro}()"
        return f"vm_flags_reset({vma}, {value}) in {w.macro}()" if w.op == "=" else f"a vm_flags_*() call in {w.macro}()"
    own = f"{w.vma_text}{'.' if vma.startswith('&') else '->'}vm_flags"
    value = w.value
    if w.kind == "write_once":
        return f"vm_flags_reset_once({vma}, {_squash(value)})"
    if w.kind == "address":
        # ff126c0ece69: copy, let the callee write the copy, then reset.
        return (
            f"a copy (vm_flags_t vm_flags = {own};), &vm_flags for {w.op}(), then vma_start_write({vma}); vm_flags_reset({vma}, vm_flags)"
        )
    if w.op == "|=":
        return f"vm_flags_set({vma}, {_squash(value)})"
    if w.op == "&=":
        cleared = _negated_operand(value)
        if cleared is not None:
            return f"vm_flags_clear({vma}, {_squash(cleared)})"
        return f"vm_flags_reset({vma}, {own} & {_squash(value)})"
    if w.op == "^=":
        return f"vm_flags_reset({vma}, {own} ^ {_squash(value)})"
    if w.op == "=":
        v = _strip_parens(value)
        if v is not None and v.type == "binary_expression":
            op = text(v.child_by_field_name("operator"))
            left, right = _strip_parens(v.child_by_field_name("left")), v.child_by_field_name("right")
            if op == "|" and _reads_own_flags(left, w.vma_text):
                return f"vm_flags_set({vma}, {_squash(right)})"
            if op == "&" and _reads_own_flags(left, w.vma_text) and _negated_operand(right) is not None:
                return f"vm_flags_clear({vma}, {_squash(_negated_operand(right))})"
            if op == "|" and left is not None and left.type == "binary_expression" and text(left.child_by_field_name("operator")) == "&":
                inner_l = left.child_by_field_name("left")
                cleared = _negated_operand(left.child_by_field_name("right"))
                if _reads_own_flags(inner_l, w.vma_text) and cleared is not None:
                    return f"vm_flags_mod({vma}, {_squash(right)}, {_squash(cleared)})"
        init = "vm_flags_init" if model.is_private_vma(w) else "vm_flags_reset"
        return f"{init}({vma}, {_squash(value)})"
    return f"vm_flags_set({vma}, ...) or vm_flags_clear({vma}, ...) with the intended flags"


# The release whose vm_flags wrappers the fixes call (bc292ab00f6c).
WRAPPERS_SINCE = KernelVersion(6, 3)
_FLAG_WORD = re.compile(r"\bVM_[A-Z0-9_]+\b")
_VERSION_GUARD = re.compile(r"LINUX_VERSION_CODE\s*>=\s*KERNEL_VERSION\s*\(\s*6\s*,\s*3\s*,\s*\d+\s*\)")
# A module's conftest result for the wrappers: HAVE_VM_FLAGS_SET,
# HAVE_VMA_FLAGS_SET, NEED_VM_FLAGS_SHIM... (not the HAVE_COMPAT_* macros
# daxlint's own shims define).
_CONFTEST_MACRO = re.compile(r"\b(?:HAVE|NEED)_(?!COMPAT_)\w*?VMA?_?FLAGS\w*\b")


def build_fix(model: VmFlagsModel, w: VmFlagsWrite, kernel) -> tuple[str, str]:
    """The fix for a direct write as the checked build needs it: the
    wrapper call, naming only flags the kernel has; and when the checked
    range reaches kernels without the wrappers, the call under the file's
    own version guard (or a LINUX_VERSION_CODE test) with the write kept for
    the older kernels - unless the file has a compat shim for the wrapper,
    which makes the plain call build everywhere. Returns (the call, the fix)."""
    call = _with_existing_flags(wrapper_fix(model, w), kernel.effective_version, model.source.original)
    if call.startswith("vm_flags_reset_once(") and not api_history().functions["vm_flags_reset_once"].exists_in(kernel.whole_range.last):
        call = "vm_flags_reset(" + call[len("vm_flags_reset_once(") :]  # gone in v7.2
    if kernel.whole_range.first >= WRAPPERS_SINCE:
        return call, call
    wrapper = call.split("(", 1)[0]
    if any(name == wrapper for name, _, _ in compat_shims(model.source.original, WRAPPERS)):
        return call, call
    old = _squash(w.node)
    return call, f"{wrapper_guard(model.source.original, kernel.build.macros.__contains__)}\n\t{call};\n#else\n\t{old};\n#endif"


def _with_existing_flags(call: str, version: KernelVersion, original: bytes) -> str:
    """``call`` with flags the kernel no longer has (VM_RESERVED since v3.7)
    replaced by what took their place, unless the file defines them."""
    history = api_history()

    def replace(m: re.Match) -> str:
        name = m.group(0)
        life = history.macros.get(name)
        if life is None or life.exists_in(version) or not life.replaced_by or defines_macro(original, name):
            return name
        # Inside an OR of flags the replacement needs no parentheses.
        before = call[: m.start()].rstrip()[-1:]
        after = call[m.end() :].lstrip()[:1]
        bare = before in ("|", ",", "(") and after in ("|", ",", ")")
        return life.replaced_by if bare or "|" not in life.replaced_by else f"({life.replaced_by})"

    return _FLAG_WORD.sub(replace, call)


def wrapper_guard(original: bytes, decided) -> str:
    """The directive under which the file already uses the wrappers (its
    version test, or its conftest macro when the build says what it is -
    ``decided(name)``: -D/-U or [macros]), or a version test. A conftest
    macro nobody declared is not reused: daxlint could not tell which side
    of the new guard a build compiles, and would report the fix's #else."""
    for group in scan(original).groups:
        for branch in group.branches:
            version_test = _VERSION_GUARD.search(branch.expr)
            if version_test:
                return f"#if {version_test.group(0)}"
            m = _CONFTEST_MACRO.search(branch.expr)
            if m and decided(m.group(0)):
                return f"#ifdef {m.group(0)}"
    return "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)"


def undecided_conftest(groups, original: bytes, pos: int, decided) -> str | None:
    """The conftest macro (HAVE_VM_FLAGS_SET and kin) nobody declared whose
    conditional holds ``pos`` on its old side - the ``#else`` of ``#ifdef
    HAVE_X``, the first branch of ``#ifndef HAVE_X`` - the file's own compat
    branch for kernels without the wrappers, which no fix should touch.
    ``groups``: the conditionals of ``original`` (directives.scan())."""
    for group in groups:
        first = group.branches[0]
        m = _CONFTEST_MACRO.search(first.expr)
        if m is None or decided(m.group(0)):
            continue
        ends = [(b, b.end if b.end >= 0 else len(original)) for b in group.branches]
        here = next((b for b, end in ends if b.body <= pos < end), None)
        if here is None:
            continue
        others = [original[b.body : end] for b, end in ends if b is not here]
        if others:
            # The old side is the branch beside one that calls the wrappers.
            if any(_WRAPPER_CALL.search(o) for o in others):
                return m.group(0)
            continue
        # A lone branch: "#ifndef HAVE_X", "#if !defined(HAVE_X)" or
        # "#ifdef NEED_X" holds the code for kernels without the wrappers.
        expr = first.expr.strip()
        if first.kind == "ifndef" or expr.startswith("!") or (first.kind == "ifdef" and m.group(0).startswith("NEED_")):
            return m.group(0)
    return None


_WRAPPER_CALL = re.compile(rb"\bvm_flags_(?:set|clear|mod|reset|reset_once|init)\s*\(")
# A call that changes flags the sanctioned way, with its vma (or
# descriptor) and the rest of its arguments: the vm_flags_*() wrappers and
# the VMA flags bitmap's helpers, which take bit numbers (VMA_IO_BIT for
# VM_IO).
_WRAPPER_ARGS = re.compile(
    rb"\b(?:vm_flags_(?:set|clear|mod|reset|reset_once|init)|vma_(?:desc_)?(?:set|clear)_flags)\s*\(\s*&?\s*([^,()]+?)\s*,([^;]*)\)\s*;"
)
_FLAG_BYTES = re.compile(rb"\bVM_[A-Z0-9_]+\b")
_BIT_BYTES = re.compile(rb"\bVMA_([A-Z0-9_]+)_BIT\b")


def _flags_named(code: bytes) -> set[bytes]:
    """The VM_* flags ``code`` names, a bit number VMA_X_BIT as VM_X."""
    return set(_FLAG_BYTES.findall(code)) | {b"VM_" + m for m in _BIT_BYTES.findall(code)}


def _vma_words(code: str | bytes) -> str:
    if isinstance(code, bytes):
        code = code.decode("utf-8", "replace")
    return " ".join(code.split()).lstrip("&")


def compat_pair(view: bytes, w: VmFlagsWrite, writes: list[VmFlagsWrite], since: str = "6.3") -> tuple[str, str] | None:
    """The macro to declare, and the versions it stands for, when ``w`` (a
    direct write) sits in one branch of a conditional the checked build
    leaves undecided (its directives are still in ``view``: decided groups
    are blanked) and another branch makes the same change through a
    vm_flags_*() wrapper, the module's shim of it or the bitmap helpers - a
    compat switch, whatever its macro is called or however it is nested or
    negated (``#ifdef X_NOT_CONSTANT`` / ``#elif defined(X_PRESENT)`` /
    ``#else``): the write is built only where the wrapper is missing. The
    same change is the same flags of the same vma, in one statement or
    split over several on either side (``writes``: the file's writes).
    ``since``: the release from which the direct form no longer builds.
    None when it is not in such a pair."""
    if w.vma is None:
        return None
    pos = w.node.start_byte
    vma = w.vma_key
    flags = _flags_named(w.node.text or b"")
    for group in scan(view).groups:
        ends = [(b, b.end if b.end >= 0 else len(view)) for b in group.branches]
        here = next(((b, end) for b, end in ends if b.body <= pos < end), None)
        if here is None:
            continue
        # Every direct write to this vma's flags in this branch, together.
        together = set().union(
            *(
                _flags_named(x.node.text or b"")
                for x in writes
                if x.is_direct and x.vma is not None and here[0].body <= x.node.start_byte < here[1] and x.vma_key == vma
            )
        )
        for b, end in ends:
            if b is here[0]:
                continue
            calls = [set(_flags_named(m.group(2))) for m in _WRAPPER_ARGS.finditer(view, b.body, end) if _vma_words(m.group(1)) == vma]
            if not calls or not (flags in calls or set().union(*calls) == together):
                continue
            # The branch that decides: the wrapper's, unless it is the
            # #else; defined there means the wrapper exists.
            decider, has_wrapper = (b, True) if b.kind != "else" else (here[0], False)
            negated = decider.kind in ("ifndef", "elifndef") or decider.expr.lstrip().startswith("!")
            names = [n for n in re.findall(r"\b[A-Z_][A-Z0-9_]*\b", decider.expr) if n not in _NOT_DECLARABLE]
            if names:
                return names[0], f">={since}" if has_wrapper != negated else f"<{since}"
    return None


_NOT_DECLARABLE = frozenset({"LINUX_VERSION_CODE", "KERNEL_VERSION", "IS_ENABLED", "IS_BUILTIN", "IS_MODULE"})


def defines_macro(data: bytes, name: str) -> bool:
    return any(d.name == name and d.value is not None for d in scan(data).defines)
