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

from daxlint.analysis.callgraph import AFTER_MMAP_ROLES, MMAP, CallGraph, Context
from daxlint.analysis.flow import BLOCKS, exiting_guards
from daxlint.analysis.locate import identifier_hits, identifier_nodes, is_word_byte
from daxlint.analysis.preproc import first_branch_only
from daxlint.analysis.types import TypeResolver
from daxlint.core.build import compat_shims
from daxlint.core.catalog import api_history
from daxlint.core.preprocessor import scan
from daxlint.core.syntax import call_args, call_name, declarator_name, enclosing_function, function_name, text, walk
from daxlint.version import KernelVersion

VMA_STRUCT = "vm_area_struct"
FLAG_FIELDS = frozenset({"vm_flags", "__vm_flags"})
# The v6.3 wrappers (bc292ab00f6c); index of the vma argument is 0 for all.
WRAPPERS = frozenset(
    {"vm_flags_set", "vm_flags_clear", "vm_flags_mod", "vm_flags_init", "vm_flags_reset", "vm_flags_reset_once", "__vm_flags_mod"}
)
# Wrappers that initialise a vma nobody else can see yet: no lock needed.
INIT_WRAPPERS = frozenset({"vm_flags_init"})

# What makes a decision depend on the DAX mode of a file or mapping.
DAX_PREDICATE_RE = re.compile(
    r"\b(IS_DAX|S_DAX|IS_FSDAX|vma_is_dax|vma_is_fsdax|\w+_IS_DAX|FS_XFLAG_DAX|\w*_DAX_FL|XFS_DIFLAG2_DAX"
    r"|daxdev_mapping_supported|dax_mapping)\b"
)
# The same on a file's bytes, for the look before parsing.
DAX_PREDICATE_BYTES_RE = re.compile(DAX_PREDICATE_RE.pattern.encode())
_VM_FLAG_RE = re.compile(r"^VM_[A-Z0-9_]+$")
_COND_PARENTS = frozenset({"if_statement", "while_statement", "do_statement", "for_statement", "switch_statement"})


@dataclass
class VmFlagsWrite:
    node: Node  # what to report: the assignment, update or call
    kind: str  # "direct", "pointer" (through &vma->vm_flags), "write_once" or "wrapper"
    op: str  # "=", "|=", "&=", "^=", "++", "--", or the wrapper's name
    vma: Node | None  # the expression naming the vma
    value: Node | None  # right-hand side / flags argument
    field: str  # "vm_flags" or "__vm_flags" (wrappers: "vm_flags")
    function: Node | None
    set_flags: frozenset[str] = frozenset()

    @property
    def function_name(self) -> str | None:
        return function_name(self.function) if self.function is not None else None

    @property
    def is_direct(self) -> bool:
        return self.kind != "wrapper"

    @property
    def vma_text(self) -> str:
        return text(self.vma) if self.vma is not None else "vma"

    @property
    def what(self) -> str:
        """The change in words, for messages: ``vm_flags_set()`` or
        ``write '|=' to vma->vm_flags``."""
        if self.kind == "wrapper":
            return f"{self.op}()"
        return f"write '{self.op}' to {self.vma_text}->{self.field}"


@dataclass
class WriteContext:
    locked: bool  # the mmap write lock is taken earlier in the function or asserted
    read_locked: bool  # only mmap_read_lock() is held at the write
    contexts: list[Context] = field(default_factory=list)  # roles reaching the function unlocked

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

    def __init__(self, source, catalog):
        self.source = source
        self.catalog = catalog
        self.macro_renamed = _redefines_vm_flags(source.data)

    # -- trees -----------------------------------------------------------------

    @cached_property
    def root(self) -> Node:
        """The tree to analyse: the file's own, or - when some vm_flags write
        is stranded in an ERROR node outside any function and the file has
        #else branches - a parse of the file with only first branches kept."""
        root = self.source.root
        if all(enclosing_function(n) is not None for n in _write_candidates(root, self.source.data)):
            return root
        if b"#else" not in self.source.data and b"#elif" not in self.source.data:
            return root
        from daxlint.core.source import parser

        self._variant_tree = parser().parse(first_branch_only(self.source.data))
        return self._variant_tree.root_node

    @cached_property
    def resolver(self) -> TypeResolver:
        return TypeResolver(self.source, self.catalog, self.root)

    @cached_property
    def graph(self) -> CallGraph:
        return CallGraph(self.root, self.source.data, self.resolver)

    # -- writes ----------------------------------------------------------------

    @cached_property
    def writes(self) -> list[VmFlagsWrite]:
        out: list[VmFlagsWrite] = []
        seen: set[int] = set()
        aliases = self._field_pointer_aliases()
        for n in _write_candidates(self.root, self.source.data, aliases):
            w = self._classify(n, aliases)
            if w is not None and w.is_direct and w.function_name in WRAPPERS:
                # A compat shim's body (a module's own vm_flags_set() for
                # kernels before v6.3): calls to it count as the wrapper.
                continue
            if w is not None and w.node.start_byte not in seen:
                seen.add(w.node.start_byte)
                out.append(w)
        out.sort(key=lambda w: w.node.start_byte)
        return out

    def _classify(self, n: Node, aliases: dict[tuple[int, str], Node]) -> VmFlagsWrite | None:
        if n.type == "call_expression":
            name = call_name(n)
            args = call_args(n)
            if name in WRAPPERS and args:
                value = args[1] if len(args) > 1 else None
                w = VmFlagsWrite(n, "wrapper", name, args[0], value, "vm_flags", enclosing_function(n))
                if name == "vm_flags_mod":
                    w.set_flags = _flag_names(value, negated=False)
                elif name != "vm_flags_clear":
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
        if vma is None:
            return None
        value = n.child_by_field_name("right") if n.type == "assignment_expression" else None
        w = VmFlagsWrite(n, kind, op, vma, value, fld, enclosing_function(n))
        if op in ("|=", "="):
            w.set_flags = self._expanded_flags(value, n)
        return w

    def _flags_field(self, node: Node | None) -> tuple[Node | None, str]:
        """(vma expression, field) when ``node`` is ``<vma>->vm_flags``."""
        node = _strip_parens(node)
        if node is None or node.type != "field_expression":
            return None, ""
        fld = node.child_by_field_name("field")
        name = text(fld)
        if name not in FLAG_FIELDS or (self.macro_renamed and name == "vm_flags"):
            return None, ""
        base = node.child_by_field_name("argument")
        if base is None or self.resolver.struct_of(base) != VMA_STRUCT:
            return None, ""
        return base, name

    def _field_pointer_aliases(self) -> dict[tuple[int, str], Node]:
        """Locals holding ``&vma->vm_flags`` (possibly cast): (function, name) -> field node."""
        out: dict[tuple[int, str], Node] = {}
        for fld in _flag_fields(self.root, self.source.data):
            ptr = fld.parent
            if ptr is None or ptr.type != "pointer_expression" or not text(ptr).startswith("&"):
                continue
            holder = ptr.parent
            while holder is not None and holder.type in ("cast_expression", "parenthesized_expression"):
                holder = holder.parent
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
        flags = set(_flag_names(value, negated=False))
        if value is not None and value.type == "identifier":
            fn = enclosing_function(at)
            if fn is not None:
                for v in _assigned_values(fn, text(value), at.start_byte):
                    flags |= _flag_names(v, negated=False)
        return frozenset(flags)

    # -- contexts --------------------------------------------------------------

    def context(self, w: VmFlagsWrite) -> WriteContext:
        if w.function is None:
            return WriteContext(False, False)
        facts = self.graph.locks(w.function)
        pos = w.node.start_byte
        return WriteContext(facts.write_locked_at(pos), facts.read_locked_at(pos), self.graph.contexts_of(w.function_name))

    def dax_dependence(self, w: VmFlagsWrite, flag: str | None = None) -> DaxDependence | None:
        """How the write depends on the DAX mode (IS_DAX(), S_DAX,
        vma_is_dax(), a per-file DAX flag): the condition or value that
        decides it and for which mode it runs; None when it does not.

        ``flag`` narrows a value-based dependence to one flag: in
        ``IS_DAX(i) ? VM_MIXEDMAP : 0`` the flag is set for DAX files."""
        fn = w.function
        pred = _DaxPredicate(_dax_tainted_locals(fn) if fn is not None else set())
        if w.value is not None and pred.mentions(w.value):
            return DaxDependence(w.value, _value_polarity(w.value, pred, flag), in_value=True)
        found: DaxDependence | None = None
        child, n = w.node, w.node.parent
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
            child, n = n, n.parent
        return found

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
        means it is not, 0 when it cannot say (``a || IS_DAX(i)``)."""
        c = _strip_parens(cond)
        if c is None:
            return 0
        if c.type == "unary_expression" and text(c.child_by_field_name("operator")) == "!":
            return -self.polarity(c.child_by_field_name("argument"))
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
            if branch is not None and (flag is None or flag in _flag_names(branch, negated=False)):
                return p * sign
    return 0


def model_for(source, catalog) -> VmFlagsModel:
    """The file's model, shared by every DAX3xx rule that runs on it."""
    return source.shared(VmFlagsModel, catalog)


# -- candidate discovery: text search, then the node at each hit ---------------

_FIELD_NAMES = (b"vm_flags", b"__vm_flags")
_WRAPPER_NAMES = frozenset(w.encode() for w in WRAPPERS)


def _flag_fields(root: Node, data: bytes):
    """Every ``x->vm_flags`` / ``x.__vm_flags`` field expression."""
    for node in identifier_nodes(root, data, _FIELD_NAMES):
        if node.type == "field_identifier" and node.parent is not None and node.parent.type == "field_expression":
            yield node.parent


def _write_candidates(root: Node, data: bytes, aliases: dict | None = None):
    """Assignments, updates and calls that may change vm_flags, unchecked."""
    for fe in _flag_fields(root, data):
        n, child = fe.parent, fe
        # Climb through ``*(vm_flags_t *)&...`` to the store, if any.
        while n is not None and n.type in ("parenthesized_expression", "cast_expression", "pointer_expression"):
            n, child = n.parent, n
        if n is None:
            continue
        if n.type in ("assignment_expression", "update_expression") and n.children and n.children[0] == child:
            yield n
        elif n.type == "argument_list" and n.parent is not None and call_name(n.parent) == "WRITE_ONCE":
            yield n.parent
    for node in identifier_nodes(root, data, _WRAPPER_NAMES):
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


# -- helpers -------------------------------------------------------------------

_RENAME_RE = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+vm_flags\b", re.M)


def _redefines_vm_flags(data: bytes) -> bool:
    """``#define vm_flags vm_start`` (a BPF selftest does this): in such a
    file ``->vm_flags`` is not the field at all."""
    return b"define" in data and _RENAME_RE.search(data) is not None


def _strip_parens(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression":
        inner = [c for c in node.named_children if c.type != "comment"]
        node = inner[-1] if inner else None
    return node


def _strip_casts(node: Node | None) -> Node | None:
    while node is not None and node.type in ("parenthesized_expression", "cast_expression"):
        node = node.child_by_field_name("value") if node.type == "cast_expression" else _strip_parens(node)
    return node


def _under_negation(node: Node, stop: Node) -> bool:
    n = node.parent
    while n is not None and n != stop:
        if n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "~":
            return True
        n = n.parent
    return False


def _flag_names(value: Node | None, negated: bool) -> frozenset[str]:
    """VM_* identifiers in ``value`` that are (negated=True) or are not under a ``~``."""
    if value is None:
        return frozenset()
    out = set()
    for ident in walk(value, {"identifier"}):
        name = text(ident)
        if _VM_FLAG_RE.match(name) and _under_negation(ident, value.parent) == negated:
            out.add(name)
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
        d, p = ident, ident.parent
        while p is not None and p.type == "pointer_declarator":
            d, p = p, p.parent
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
    own = f"{w.vma_text}{'.' if vma.startswith('&') else '->'}vm_flags"
    value = w.value
    if w.kind == "write_once":
        return f"vm_flags_reset_once({vma}, {_squash(value)})"
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
_CONFTEST_MACRO = re.compile(r"\bHAVE_VM_FLAGS_\w+\b")


def build_fix(model: VmFlagsModel, w: VmFlagsWrite, kernel) -> tuple[str, str]:
    """The fix for a direct write as the checked build needs it: the
    wrapper call, naming only flags the kernel has; and when the checked
    range reaches kernels without the wrappers, the call under the file's
    own version guard (or a LINUX_VERSION_CODE test) with the write kept for
    the older kernels - unless the file has a compat shim for the wrapper,
    which makes the plain call build everywhere. Returns (the call, the fix)."""
    call = _with_existing_flags(wrapper_fix(model, w), kernel.effective_version, model.source.original)
    if kernel.whole_range.first >= WRAPPERS_SINCE:
        return call, call
    wrapper = call.split("(", 1)[0]
    if any(name == wrapper for name, _, _ in compat_shims(model.source.original, WRAPPERS)):
        return call, call
    old = _squash(w.node)
    return call, f"{wrapper_guard(model.source.original)}\n\t{call};\n#else\n\t{old};\n#endif"


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


def wrapper_guard(original: bytes) -> str:
    """The directive under which the file already uses the wrappers (its
    conftest macro or its version test), or a version test."""
    for group in scan(original).groups:
        for branch in group.branches:
            version_test = _VERSION_GUARD.search(branch.expr)
            if version_test:
                return f"#if {version_test.group(0)}"
            m = _CONFTEST_MACRO.search(branch.expr)
            if m:
                return f"#ifdef {m.group(0)}"
    return "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)"


def defines_macro(data: bytes, name: str) -> bool:
    return any(d.name == name and d.value is not None for d in scan(data).defines)
