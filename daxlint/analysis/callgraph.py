"""One file's call graph, as far as one file can tell.

What the DAX3xx rules need to know about a function that touches
``vma->vm_flags``:

- in which *role* the kernel calls it: registered through a designated
  initializer (``.mmap = foo_mmap`` in a ``file_operations``,
  ``.fault = foo_fault`` in a ``vm_operations_struct``, ...) or an
  assignment (``ops->mmap = foo_mmap``), or reached from such a function
  through calls inside the file;
- whether it holds the mmap lock for write where it writes: it calls
  ``mmap_write_lock*()`` / ``down_write(&mm->mmap_lock)`` earlier in its
  body, or asserts the lock (``mmap_assert_write_locked()``, ...), or every
  path into it from a role passes through a caller that did;
- whether it holds the lock only for read.

Calls to functions in other files are invisible here. A function no role
reaches has an *unknown* context (its callers live elsewhere, e.g. mm/
core code called from a syscall that took the lock); the rules stay quiet
on it rather than guess."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from functools import cached_property, lru_cache

from tree_sitter import Node

from daxlint.analysis.locate import function_definitions, identifier_hits, node_at, word_starts
from daxlint.analysis.locks import ENTRY, LOCK_NAMES, VMA_WRITE_LOCKS, FunctionLocks, LockState, Outcome, macro_lock_state
from daxlint.core.directives import scan
from daxlint.core.prefilter import TokenMatcher
from daxlint.core.syntax import declarator_name, function_declarator, is_static, text

# -- roles -------------------------------------------------------------------

MMAP = "mmap"
FAULT = "fault"
VMA_OPEN = "vm_open"
VMA_CLOSE = "vm_close"
FILE_OPEN = "open"
RELEASE = "release"
IOCTL = "ioctl"
FILE_IO = "file_io"
POST_MMAP = "post_mmap"
READ_LOCKED = "read_locked"  # called while a caller in this file holds mmap_read_lock
UNLOCKED = "unlocked"  # called after a caller in this file dropped the mmap write lock

# Roles that run after ->mmap() returned, where vm_flags must not change.
AFTER_MMAP_ROLES = frozenset({FAULT, VMA_OPEN, VMA_CLOSE, FILE_OPEN, RELEASE, IOCTL, FILE_IO, POST_MMAP, READ_LOCKED, UNLOCKED})

ROLE_WHY = {
    MMAP: "the ->mmap path, where the mmap lock is held for write",
    FAULT: "a page-fault handler: the mmap lock is held only for read (or only the per-VMA lock)",
    VMA_OPEN: "vm_operations_struct.open, run when an existing mapping is split or copied at fork, after ->mmap decided the flags",
    VMA_CLOSE: "vm_operations_struct.close, run while the mapping is torn down (munmap may have downgraded the lock to read)",
    FILE_OPEN: "a file ->open, which holds no mmap lock",
    RELEASE: "a file ->release/->flush, which holds no mmap lock",
    IOCTL: "an ioctl handler, which holds no mmap lock unless it takes it",
    FILE_IO: "a file read/write/poll handler, which holds no mmap lock",
    POST_MMAP: "a ->post_mmap hook, run after ->mmap() returned (the design rejected in 2017)",
    READ_LOCKED: "code running under mmap_read_lock(), not the write lock",
    UNLOCKED: "code running after the mmap write lock was dropped (mmap_write_unlock()), which holds no mmap lock",
}

_FAULT_MEMBERS = frozenset({"fault", "huge_fault", "page_mkwrite", "pfn_mkwrite", "map_pages", "access"})
_FILE_IO_MEMBERS = frozenset(
    {"read", "write", "read_iter", "write_iter", "poll", "llseek", "fsync", "splice_read", "splice_write", "fallocate"}
)
_NOT_MMAP_MEMBERS = frozenset({"post_mmap"})


def _is_mmap_member(member: str) -> bool:
    return member not in _NOT_MMAP_MEMBERS and (member in ("mmap", "mmap_prepare") or member.endswith("_mmap"))


def _is_file_ops(struct: str | None) -> bool:
    return bool(struct) and (struct.endswith("file_operations") or struct == "proc_ops")


def classify_member(struct: str | None, member: str) -> str | None:
    """The role of a function stored in ``struct.member``, or None."""
    if member == "post_mmap":
        return POST_MMAP
    if _is_mmap_member(member):
        return MMAP
    if member.endswith("ioctl"):
        return IOCTL
    if struct == "vm_operations_struct" or struct is None:
        if member in _FAULT_MEMBERS and (struct is not None or member != "access"):
            return FAULT
        if struct is not None and member == "open":
            return VMA_OPEN
        if struct is not None and member == "close":
            return VMA_CLOSE
        return None
    if _is_file_ops(struct):
        bare = member[5:] if struct == "proc_ops" and member.startswith("proc_") else member
        if bare == "open":
            return FILE_OPEN
        if bare in ("release", "flush"):
            return RELEASE
        if bare in _FILE_IO_MEMBERS:
            return FILE_IO
    return None


# -- the graph ---------------------------------------------------------------


# Member names that can give a function a role (see classify_member): the
# registration scan only looks at stores to these.
def could_have_role(member: str) -> bool:
    return any(classify_member(s, member) for s in (None, "vm_operations_struct", "file_operations", "proc_ops"))


_MEMBER_STORE_RE = re.compile(rb"(?:\.|->)\s*([A-Za-z_]\w*)\s*=(?!=)")
_LOCK_NAMES = frozenset(n.encode() for n in LOCK_NAMES)
_LOCK_NAME_MATCHER = TokenMatcher(list(_LOCK_NAMES))


@dataclass
class Registration:
    function: str  # the registered function's name
    member: str  # e.g. "mmap", "fault", "post_mmap"
    struct: str | None  # e.g. "file_operations"; None when unknown
    role: str | None
    node: Node  # the initializer_pair or assignment


@dataclass
class Context:
    """How a role reaches a function: the registered entry and the call path."""

    role: str
    entry: str
    path: tuple[str, ...]
    registration: Registration | None = None
    # A fault handler known by its signature alone: a patch's hunks show the
    # function but not where it is registered.
    by_signature: bool = False

    def describe(self) -> str:
        via = " -> ".join(self.path)
        reg = self.registration
        if self.by_signature:
            head = f"{self.entry}() has a page-fault handler's signature (vm_fault_t, struct vm_fault *); its registration is not in view"
            return head + (f", and it calls {via}" if len(self.path) > 1 else "")
        if reg is None and self.role == UNLOCKED:
            return f"{self.entry}() drops the mmap write lock and then calls {via}"
        if reg is None:
            return f"{self.entry}() takes mmap_read_lock() and then calls {via}"
        where = f"{reg.struct}.{reg.member}" if reg.struct else f".{reg.member}"
        head = f"{self.entry}() is registered as {where}"
        sibling = getattr(reg, "where", None)
        if sibling:
            head += f" in {sibling}:{reg.line}"
        return head + (f" and calls {via}" if len(self.path) > 1 else "")


class CallGraph:
    """Functions, calls, registrations and lock facts of one file."""

    def __init__(self, root: Node, data: bytes, resolver=None, defined_only: bool = True, external=(), fault_signatures: bool = False):
        self.root = root
        # Seed the FAULT role from a function's signature where nothing in
        # view registers it (a file known only by a patch's hunks).
        self.fault_signatures = fault_signatures
        self.data = data
        self.resolver = resolver
        # Registrations of this file's functions made in other files of its
        # driver (analysis.driver.sibling_registrations): more roles.
        self.external = list(external)
        self._defined_only = defined_only
        self.definitions: dict[str, list[Node]] = {}
        fns = function_definitions(root)
        for fn in fns:
            name = _function_name(fn)
            if name:
                self.definitions.setdefault(name, []).append(fn)
        self._fn_starts = [fn.start_byte for fn in fns]
        self._fns = fns
        # caller -> [(callee, call-site byte offset)], per definition and per name
        self.calls_in: dict[int, list[tuple[str, int]]] = {fn.start_byte: [] for fn in fns}
        # Definitions that call a lock function (by start byte): the others
        # change no lock themselves.
        self.lock_callers: set[int] = set()
        interesting = {n.encode() for n in self.definitions} | _LOCK_NAMES
        for word, pos in identifier_hits(data, interesting):
            fn = self.function_at(pos)
            if fn is None:
                continue
            node = node_at(root, pos, pos + len(word))
            if node is None or node.type != "identifier":
                continue
            name = word.decode()
            parent = node.parent
            is_call = parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == node
            if is_call and word in _LOCK_NAMES:
                self.lock_callers.add(fn.start_byte)
            if name not in self.definitions:
                continue
            if is_call:
                self.calls_in[fn.start_byte].append((name, parent.start_byte))
                continue
            # A function of this file handed over as a callback runs in the
            # caller's context (e.g. a walker invoked from ->mmap).
            holder = parent.parent if parent is not None and parent.type == "pointer_expression" else parent
            if holder is not None and holder.type == "argument_list" and holder.parent is not None:
                self.calls_in[fn.start_byte].append((name, holder.parent.start_byte))
        self.calls: dict[str, list[tuple[str, int]]] = {}
        for name, defs in self.definitions.items():
            edges = self.calls.setdefault(name, [])
            for fn in defs:
                edges.extend(self.calls_in[fn.start_byte])
        self._locks: dict[int, FunctionLocks] = {}
        self._summaries: dict[str, LockState | None] = {}
        self._locked_by_callers: dict[str, bool] = {}
        # Lock summaries of functions defined in other files of the module
        # (analysis.module): wrappers such as foo_lock_mm() in a header.
        self.module_locks: dict[str, LockState] = {}
        # And the states they leave on success and on failure (analysis.locks.Outcome).
        self.module_outcomes: dict[str, Outcome] = {}
        # The module's headers, for their function-like macros that wrap a
        # lock call (set by the model: VmFlagsModel.macro_sources).
        self.macro_sources: tuple[bytes, ...] = ()
        self.registrations: list[Registration] = self._registrations()
        self._contexts: dict[str, list[Context]] | None = None

    # -- construction --------------------------------------------------------

    def function_at(self, pos: int) -> Node | None:
        """The function definition whose body holds byte ``pos``."""
        i = bisect_right(self._fn_starts, pos) - 1
        while i >= 0:
            fn = self._fns[i]
            if fn.start_byte <= pos < fn.end_byte:
                return fn
            i -= 1
            if i >= 0 and self._fns[i].end_byte <= pos:
                # Definitions do not nest in C; an earlier one that ended
                # before pos cannot hold it, nor can any before that.
                return None
        return None

    def _registrations(self) -> list[Registration]:
        out: list[Registration] = []
        for m in _MEMBER_STORE_RE.finditer(self.data):
            member = m.group(1).decode()
            if not could_have_role(member):
                continue
            node = node_at(self.root, m.start(1), m.end(1))
            if node is None or node.type != "field_identifier" or node.parent is None:
                continue
            holder = node.parent
            if holder.type == "field_designator" and holder.parent is not None and holder.parent.type == "initializer_pair":
                pair = holder.parent
                fn = _function_ref(pair.child_by_field_name("value"))
                if fn is not None:
                    struct = self._initializer_struct(pair.parent)
                    out.append(Registration(fn, member, struct, classify_member(struct, member), pair))
            elif holder.type == "field_expression" and holder.parent is not None and holder.parent.type == "assignment_expression":
                asg = holder.parent
                if asg.child_by_field_name("left") != holder:
                    continue
                fn = _function_ref(asg.child_by_field_name("right"))
                if fn is None or (self._defined_only and fn not in self.definitions):
                    continue
                base = holder.child_by_field_name("argument")
                struct = self.resolver.struct_of(base) if self.resolver is not None and base is not None else None
                out.append(Registration(fn, member, struct, classify_member(struct, member), asg))
        return out

    def _initializer_struct(self, init_list: Node | None) -> str | None:
        """The struct type an initializer list initialises, when it says so."""
        n = init_list
        while n is not None and n.type == "initializer_list":
            parent = n.parent
            if parent is None:
                return None
            if parent.type == "init_declarator":
                decl = parent.parent
                t = decl.child_by_field_name("type") if decl is not None else None
                return _struct_of_type(t)
            if parent.type == "compound_literal_expression":
                return _struct_of_type(parent.child_by_field_name("type"))
            if parent.type == "initializer_pair":
                outer = self._initializer_struct(parent.parent)
                member = _designator_member(parent)
                if outer and member and self.resolver is not None:
                    from daxlint.analysis.types import struct_name

                    return struct_name(self.resolver.member_type(outer, member) or "")
                return None
            n = parent  # array of structs: { { .fault = ... }, ... }
        return None

    # -- queries -------------------------------------------------------------

    def locks(self, fn: Node) -> FunctionLocks:
        """The lock states along ``fn`` (analysis.locks)."""
        key = fn.start_byte
        if key not in self._locks:
            self._locks[key] = FunctionLocks(fn, self.summary, walk=self._may_change_locks(fn), outcome=self.outcome)
        return self._locks[key]

    def _may_change_locks(self, fn: Node) -> bool:
        """Whether ``fn`` calls anything that changes or asserts the lock or
        write-locks a vma: a lock function, a function of this file with a
        summary, or (by its bytes) a module's or macro's lock wrapper or a
        vm_flags_*() wrapper. Most functions call none, and need no walk."""
        if fn.start_byte in self.lock_callers or any(self.summary(c) is not None for c, _ in self.calls_in.get(fn.start_byte, ())):
            return True
        body = fn.text or b""
        return any(n in body for n in self._outside_lock_names)

    @cached_property
    def _outside_lock_names(self) -> tuple[bytes, ...]:
        return tuple(n.encode() for n in (*self.module_locks, *self._macro_locks, *VMA_WRITE_LOCKS))

    def summary(self, name: str) -> LockState | None:
        """The lock state a call of ``name`` leaves its caller in, when it
        changes any: a function of this file (defined once) that takes or
        drops the lock, itself or through its callees; or the module's."""
        if name in self._summaries:
            return self._summaries[name]
        defs = self.definitions.get(name, [])
        if len(defs) != 1:
            found = (self.module_locks.get(name) or self._macro_locks.get(name)) if not defs else None
            self._summaries[name] = found
            return found
        self._summaries[name] = None  # a recursive call passes the state through
        fn = defs[0]
        found = None
        if fn.start_byte in self.lock_callers or any(self.summary(c) is not None for c, _ in self.calls_in[fn.start_byte] if c != name):
            state = self.locks(fn).exit
            found = state if state != LockState() else None
        self._summaries[name] = found
        return found

    def outcome(self, name: str) -> Outcome | None:
        """The states a function of this file (defined once) or of its
        module leaves on success and on failure, when they differ: a lookup
        that returns the vma with the lock held, or NULL after dropping it."""
        defs = self.definitions.get(name, [])
        if not defs:
            return self.module_outcomes.get(name)
        if len(defs) != 1 or self.summary(name) is None:
            return None
        return self.locks(defs[0]).outcome

    @cached_property
    def _macro_locks(self) -> dict[str, LockState]:
        """Function-like macros of the file and its headers that wrap one
        lock call, by name (a version switch that defines one twice, the
        same way, counts; two ways, neither)."""
        found: dict[str, set[LockState | None]] = {}
        for data in (self.data, *self.macro_sources):
            if b"define" not in data or not _lock_call_in_a_define(data):
                continue
            for d in scan(data).defines:
                if d.function_like and d.value:
                    found.setdefault(d.name, set()).add(macro_lock_state(d.value))
        return {name: next(iter(states)) for name, states in found.items() if len(states) == 1 and None not in states}

    def contexts(self) -> dict[str, list[Context]]:
        """For every function, the roles that reach it without passing
        through a call made under the mmap write lock."""
        if self._contexts is not None:
            return self._contexts
        out: dict[str, list[Context]] = {}
        seeds: list[Context] = [
            Context(r.role, r.function, (r.function,), r)
            for r in (*self.registrations, *self.external)
            if r.role and r.function in self.definitions
        ]
        if self.fault_signatures:
            registered = {c.path[0] for c in seeds}
            seeds += [
                Context(FAULT, name, (name,), by_signature=True)
                for name, defs in self.definitions.items()
                if name not in registered and any(_fault_signature(fn) for fn in defs)
            ]
        # Callers that hold the lock only for read, or dropped it, hand their
        # callees that state.
        for name, defs in self.definitions.items():
            for fn in defs:
                if fn.start_byte not in self.lock_callers and not any(self.summary(c) for c, _ in self.calls_in[fn.start_byte]):
                    continue
                locks = self.locks(fn)
                for callee, pos in self.calls_in[fn.start_byte]:
                    if callee == name:
                        continue
                    state = locks.at(pos)
                    if state.read_only:
                        seeds.append(Context(READ_LOCKED, name, (name, callee)))
                    elif state.released:
                        seeds.append(Context(UNLOCKED, name, (name, callee)))
        for seed in seeds:
            target = seed.path[-1]
            queue = deque([(target, seed.path)])
            seen = {target}
            while queue:
                name, path = queue.popleft()
                ctx = Context(seed.role, seed.entry, path, seed.registration, seed.by_signature)
                out.setdefault(name, []).append(ctx)
                for fn in self.definitions.get(name, []):
                    locks = self.locks(fn)
                    if locks.asserts_write:
                        continue
                    for callee, pos in self.calls_in[fn.start_byte]:
                        if callee in seen:
                            continue
                        state = locks.at(pos)
                        if state.write_held:
                            continue
                        if seed.role not in (READ_LOCKED, UNLOCKED) and (state.read_only or state.released):
                            continue  # a READ_LOCKED or UNLOCKED seed from this caller covers it
                        if any(self.locks(d).asserts_write for d in self.definitions.get(callee, [])):
                            continue
                        seen.add(callee)
                        queue.append((callee, path + (callee,)))
        self._contexts = out
        return out

    def write_locked_by_callers(self, name: str | None) -> bool:
        """Whether the static function ``name`` runs under the mmap write
        lock its callers in this file take - every call of it is made with
        the lock held (by the caller, or the caller's callers in turn) and
        before the caller write-locked any vma - and nothing else runs it:
        it has no role and no other file can call it."""
        if not name:
            return False
        if name not in self._locked_by_callers:
            self._locked_by_callers[name] = False  # a recursive call proves nothing
            self._locked_by_callers[name] = self._all_calls_write_locked(name)
        return self._locked_by_callers[name]

    def _all_calls_write_locked(self, name: str) -> bool:
        defs = self.definitions.get(name, [])
        if len(defs) != 1 or not is_static(defs[0]) or self.contexts_of(name):
            return False
        if any(r.function == name for r in (*self.registrations, *self.external)):
            return False  # stored in a struct: called from anywhere
        sites = [(caller, pos) for caller, edges in self.calls.items() for callee, pos in edges if callee == name and caller != name]
        if not sites:
            return False
        for caller, pos in sites:
            fns = self.definitions.get(caller, [])
            if len(fns) != 1:
                return False
            locks = self.locks(fns[0])
            state = locks.at(pos)
            if locks.vma_locked_before(pos):
                return False  # the caller may have write-locked the vma it hands on
            if not (state.write_held or (state.write == ENTRY and self.write_locked_by_callers(caller))):
                return False
        return True

    def forget_contexts(self) -> None:
        """Compute the contexts again (after ``external`` changed)."""
        self._contexts = None

    def contexts_of(self, name: str | None) -> list[Context]:
        return self.contexts().get(name, []) if name else []

    def exported_reaching(self, targets: set[str]) -> set[str]:
        """Functions of this file that are not static and reach one of
        ``targets`` through its calls: the ones another file of the driver
        could register."""
        callers: dict[str, set[str]] = {}
        for caller, edges in self.calls.items():
            for callee, _ in edges:
                callers.setdefault(callee, set()).add(caller)
        seen = set(targets)
        todo = list(targets)
        while todo:
            for c in callers.get(todo.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return {n for n in seen if any(not is_static(fn) for fn in self.definitions.get(n, []))}


def mmap_prepare_entries(graph: CallGraph, name: str | None) -> list[Context]:
    """How ``name`` runs in a ``.mmap_prepare`` handler: registered as one, or
    called from one in this file (before the vma exists)."""
    return [c for c in graph.contexts_of(name) if c.role == MMAP and c.registration is not None and c.registration.member == "mmap_prepare"]


def in_mmap_prepare(graph: CallGraph, name: str | None) -> bool:
    return bool(mmap_prepare_entries(graph, name))


def _fault_signature(fn: Node) -> bool:
    """``vm_fault_t name(struct vm_fault *vmf)``: what ->fault, ->huge_fault,
    ->page_mkwrite and ->pfn_mkwrite look like."""
    ret = fn.child_by_field_name("type")
    d = function_declarator(fn)
    params = d.child_by_field_name("parameters") if d is not None else None
    return ret is not None and text(ret) == "vm_fault_t" and params is not None and "struct vm_fault" in text(params)


def _function_name(fn: Node) -> str | None:
    d = function_declarator(fn)
    return declarator_name(d.child_by_field_name("declarator")) if d is not None else None


def _designator_member(pair: Node) -> str | None:
    des = pair.child_by_field_name("designator")
    if des is None or des.type != "field_designator":
        return None
    ids = [c for c in des.named_children if c.type == "field_identifier"]
    return text(ids[-1]) if ids else None


def _function_ref(value: Node | None) -> str | None:
    """``foo`` or ``&foo`` as a stored function pointer."""
    if value is None:
        return None
    if value.type == "pointer_expression":
        value = value.child_by_field_name("argument")
    if value is not None and value.type == "identifier":
        return text(value)
    return None


def _struct_of_type(t: Node | None) -> str | None:
    if t is None:
        return None
    if t.type == "type_descriptor":
        t = t.child_by_field_name("type")
    if t is not None and t.type == "struct_specifier":
        name = t.child_by_field_name("name")
        return text(name) if name is not None else None
    return None


_DEFINE_START = re.compile(rb"[ \t]*#[ \t]*define\b")


@lru_cache(maxsize=16)  # the key keeps a header alive: register headers run to megabytes
def _lock_call_in_a_define(data: bytes) -> bool:
    """Whether a lock function's name stands in a ``#define``'s logical
    line (continued lines joined): the only place a lock-wrapping macro can
    have it. Found by the names, so that a file without one is never read
    for all its directives; the names present by one pass, and each header
    once while the files that include it are checked."""
    for name in _LOCK_NAME_MATCHER.present(data):
        for pos in word_starts(data, name):
            start = data.rfind(b"\n", 0, pos) + 1
            while start >= 2:  # back over lines the one before continues
                k = start - 2 if data[start - 2] != 0x0D else start - 3
                if k < 0 or data[k] != 0x5C:
                    break
                start = data.rfind(b"\n", 0, k) + 1
            if _DEFINE_START.match(data, start):
                return True
    return False
