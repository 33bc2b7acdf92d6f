"""A module's ->mmap handlers, across its files: what each one installs and
which flags it sets on every path that maps.

Real drivers spread a vma's life over files: binder_mmap() (binder.c) sets
VM_MIXEDMAP with vm_flags_mod(), binder_page_insert() (binder_alloc.c) calls
vm_insert_page() under the read lock; a DRM driver's ->mmap calls
drm_gem_mmap() and then sets VM_MIXEDMAP, while its GEM object's .fault,
installed by drm_gem_mmap() from the object's funcs, calls vm_insert_page().
vm_insert_page() and its kin change the flags only when VM_MIXEDMAP is
missing, so whether they change anything is a question about the ->mmap
that made the vma: the one that installs the handler's vm_operations_struct
when the module shows it, else every ->mmap of the module (a vma the
module's code can see is one of its own mappings).

The module is the files kbuild links together (analysis.driver: the
Makefile's obj-m / obj-$(CONFIG_X) objects and their composite parts, with
the Kconfig symbols tied to them; else the directory). Each file is parsed
once per run (kernel.memo); a file known only by a patch's hunks makes the
module's answer unknown."""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node

from daxlint.analysis.bits import BIT_RE
from daxlint.analysis.callgraph import MMAP
from daxlint.analysis.driver import defined_names, defines, definitions, driver_files
from daxlint.analysis.locate import is_word_byte, word_starts
from daxlint.analysis.locks import GENERIC_LOCK_NAMES, LOCK_NAMES, LockState, Outcome
from daxlint.analysis.vmflags import (
    ACCESSORS,
    FLAG_HELPER_NAMES,
    VmFlagsModel,
    VmFlagsWrite,
    changes_flags,
    flag_names,
    initialized_variable,
    macros_writing_flags,
    model_for,
)
from daxlint.core.build import build_view
from daxlint.core.catalog import VmFlagSetter
from daxlint.core.includes import Header, local_headers
from daxlint.core.prefilter import PatternStarts, TokenMatcher
from daxlint.core.source import SourceFile
from daxlint.core.syntax import call_args, call_name, function_name, is_static, parameters, text, walk


@dataclass(frozen=True)
class MmapHandler:
    path: str
    function: str
    member: str  # "mmap", "mmap_prepare", "fb_mmap", ... ("vm_ops": it installs one, registered out of view)
    sets: frozenset[str]  # flags set on every path that maps
    installs: frozenset[str]  # the vm_operations_struct variables it installs


def must_set(model: VmFlagsModel, fn: Node, header_model=lambda _name: None) -> frozenset[str]:
    """The flags ``fn`` sets on every path that maps: its statements in
    order, an ``if`` that leaves the function (an error return) a guard and
    not a branch, other conditional code not counted, an ``#if`` the build
    leaves undecided counted for what all its branches set (a compat switch
    between the wrapper and the write), the functions of the file - and of
    the module's headers it includes (``header_model(name)``: the model of
    the header that defines ``name``) - followed with the flags the caller
    passes for a parameter (a module's own vm_flags_set() forwarding its
    flags)."""
    return _FlagsSet(model, header_model).of(model, fn, frozenset(), {})


class _FlagsSet:
    """must_set() over a file and the headers it includes."""

    def __init__(self, model: VmFlagsModel, header_model):
        self.model = model
        self.header_model = header_model

    def definitions(self, name: str) -> list[tuple[VmFlagsModel, Node]]:
        found = self.model.graph.definitions.get(name)
        if found:
            return [(self.model, fn) for fn in found]
        m = self.header_model(name)
        return [(m, fn) for fn in m.graph.definitions.get(name, [])] if m is not None else []

    def of(self, model: VmFlagsModel, fn: Node, seen: frozenset, bound: dict) -> frozenset[str]:
        key = (id(model), fn.start_byte)
        if key in seen:
            return frozenset()
        changes = [w for w in model.writes if w.function is not None and w.function.start_byte == fn.start_byte]
        flags: set[str] = set()
        body = fn.child_by_field_name("body")
        self._along(model, body.named_children if body is not None else [], changes, seen | {key}, flags, bound)
        return frozenset(flags)

    def _along(self, model: VmFlagsModel, statements, changes: list[VmFlagsWrite], seen: frozenset, flags: set[str], bound: dict) -> bool:
        """Apply to ``flags`` what ``statements`` set on every path, in
        order; whether they return."""
        for stmt in _straight_line(statements):
            if stmt.type in _PREPROC_CONDITIONALS:
                # Each branch from the flags so far; what all of them leave set.
                after = []
                for branch in _preproc_branches(stmt, model.source):
                    branch_flags = set(flags)
                    self._along(model, branch, changes, seen, branch_flags, bound)
                    after.append(branch_flags)
                flags.clear()
                flags.update(set.intersection(*after))
                continue
            for n in sorted(
                _changes_and_calls(stmt, changes), key=lambda n: n.node.start_byte if isinstance(n, VmFlagsWrite) else n.start_byte
            ):
                if isinstance(n, VmFlagsWrite):
                    _apply(flags, n, bound)
                    continue
                for callee_model, callee in self.definitions(call_name(n) or ""):
                    passed = {name: _named(arg, bound) for (name, _, _), arg in zip(parameters(callee), call_args(n)) if name}
                    flags |= self.of(callee_model, callee, seen, passed)
            if stmt.type == "return_statement":
                return True
        return False


def _named(value: Node | None, bound: dict) -> frozenset[str]:
    """The VM_* flags ``value`` names, a parameter as what its caller passed."""
    if value is not None and value.type == "identifier" and text(value) in bound:
        return bound[text(value)]
    return flag_names(value, negated=False)


_PREPROC_CONDITIONALS = frozenset({"preproc_if", "preproc_ifdef"})


def _preproc_branches(node: Node, source: SourceFile) -> list[list[Node]]:
    """The statements of each branch of an ``#if``/``#ifdef`` chain that
    the build may compile - a branch the view blanked (its condition decided
    false: ``#if !X`` with X defined 1) is none - and an empty one for a
    missing ``#else``."""
    branches = []

    def add(statements: list[Node], start: int, end: int) -> None:
        if statements or source.data[start:end] == source.original[start:end]:
            branches.append(statements)

    while node is not None:
        alternative = node.child_by_field_name("alternative")
        skip = {c.id for c in (node.child_by_field_name("condition"), node.child_by_field_name("name"), alternative) if c is not None}
        head = node.child_by_field_name("condition") or node.child_by_field_name("name")
        add(
            [c for c in node.named_children if c.id not in skip],
            head.end_byte if head else node.start_byte,
            alternative.start_byte if alternative else node.end_byte,
        )
        if alternative is None:
            branches.append([])
            break
        if alternative.type == "preproc_else":
            add(list(alternative.named_children), alternative.children[0].end_byte, alternative.end_byte)
            break
        node = alternative  # preproc_elif / preproc_elifdef
    return branches


def _straight_line(statements):
    """The statements that run on every path through ``statements``, in
    order (an undecided ``#if`` as one: must_set() weighs its branches); an
    ``if`` whose body always leaves (a guard) is passed over."""
    stack = [iter(statements)]
    while stack:
        for stmt in stack[-1]:
            if stmt.type == "compound_statement":
                stack.append(iter(stmt.named_children))
                break
            if stmt.type == "labeled_statement":
                stack.append(iter([c for c in stmt.named_children if c.type != "statement_identifier"]))
                break
            if stmt.type in ("expression_statement", "declaration", "return_statement") or stmt.type in _PREPROC_CONDITIONALS:
                yield stmt
                if stmt.type == "return_statement":
                    return
        else:
            stack.pop()


def _changes_and_calls(stmt: Node, changes: list[VmFlagsWrite]):
    for w in changes:
        if stmt.start_byte <= w.node.start_byte < stmt.end_byte:
            yield w
    for call in walk(stmt, {"call_expression"}):
        if not any(w.node == call for w in changes):
            yield call


def _apply(flags: set[str], w: VmFlagsWrite, bound: dict) -> None:
    """A flag change's effect on the flags a path has set (``bound``: the
    flags the callers passed for the function's parameters)."""
    op, args = w.op, call_args(w.node) if w.node.type == "call_expression" else []
    if w.kind == "helper":
        flags |= w.set_flags
    elif w.kind in ("bitmap", "desc") and w.node.type == "call_expression":
        bits = frozenset(f"VM_{b}" for a in args[1:] for b in BIT_RE.findall(text(a)))
        if "clear" in op:
            flags -= bits
        else:
            flags |= bits
    elif w.kind == "wrapper":
        if op == "vm_flags_clear" and len(args) > 1:
            flags -= _named(args[1], bound)
        elif op in ("vm_flags_mod", "__vm_flags_mod") and len(args) > 2:
            flags |= _named(args[1], bound)
            flags -= _named(args[2], bound)
        elif op in ("vm_flags_set",):
            flags |= w.set_flags or (_named(args[1], bound) if len(args) > 1 else frozenset())
        else:  # reset, init: the value is all there is
            flags.clear()
            flags |= w.set_flags
    elif op == "|=":
        flags |= w.set_flags or _named(w.value, bound)
    elif op == "&=":
        flags -= flag_names(w.value, negated=True)
    elif op == "=":
        flags.clear()
        flags |= w.set_flags


def _installs(model: VmFlagsModel, handler: str) -> frozenset[str]:
    """The vm_operations_struct variables ``handler`` (or a function of the
    file it calls) stores into vm_ops."""
    out = set()
    for variable, fns in model.vm_ops_installs.items():
        for fn in fns:
            name = function_name(fn)
            if name == handler or any(c.role == MMAP and c.entry == handler for c in model.graph.contexts_of(name)):
                out.add(variable)
    return frozenset(out)


def _compiled_model(kernel, path: str) -> VmFlagsModel | None:
    """The model of a file of the module as this build compiles it (a
    decided #if is plain code or gone; must_set() weighs an undecided one
    branch by branch), once per run and version; None when the file is
    not known whole."""

    def build() -> VmFlagsModel | None:
        if not kernel.knows(path):
            return None
        data = kernel.read(path)
        view = build_view(data or b"", kernel.effective_version, kernel.build)
        return VmFlagsModel(SourceFile(path, view, original=data or b""), kernel.catalog)

    return kernel.memo(("compiled-model", os.path.normpath(path), str(kernel.effective_version)), build)


def _header_definitions(kernel, path: str) -> dict[str, str]:
    """Name -> the module header ``path`` (as the reader has it) includes
    that defines it, by its bytes (the first one included), once per file
    and run."""

    def index() -> dict[str, str]:
        out: dict[str, str] = {}
        for h in local_headers(kernel, path):
            for name in defined_names(h.data):
                out.setdefault(name, h.path)
        return out

    return kernel.memo(("header-definitions", os.path.normpath(path)), index)


def file_handlers(kernel, path: str, registered_elsewhere: frozenset[tuple[str, str]] = frozenset()) -> list[MmapHandler] | None:
    """The ->mmap handlers one file defines: those it registers, those
    another file of the module registers (``registered_elsewhere``: name,
    member - a DRM driver's fops in one file, its GEM ->mmap in another),
    and the functions that install a vm_operations_struct (None when the
    file is not known whole)."""

    def scan() -> list[MmapHandler] | None:
        model = _compiled_model(kernel, path)
        if model is None:
            return None

        def header_model(name: str) -> VmFlagsModel | None:
            # A static inline helper of a module header the handler calls
            # (nv_vm_flags_set()), as this build compiles the header.
            where = _header_definitions(kernel, path).get(name)
            return _compiled_model(kernel, where) if where is not None else None

        members = {r.function: r.member for r in model.graph.registrations if r.role == MMAP}
        for name, member in registered_elsewhere:
            members.setdefault(name, member)
        for fns in model.vm_ops_installs.values():
            for fn in fns:
                name = function_name(fn)
                # A helper the file's ->mmap calls installs for it: the
                # flags are its caller's (the caller installs it: _installs).
                if not any(c.role == MMAP and c.entry != name for c in model.graph.contexts_of(name)):
                    members.setdefault(name, "vm_ops")
        out = []
        for name, member in members.items():
            for fn in model.graph.definitions.get(name, []):
                out.append(MmapHandler(path, name, member, must_set(model, fn, header_model), _installs(model, name)))
        return out

    return kernel.memo(("mmap-handlers", os.path.normpath(path), str(kernel.effective_version), registered_elsewhere), scan)


def module_handlers(kernel, path: str) -> list[MmapHandler] | None:
    """Every ->mmap handler of ``path``'s module, None when a file of the
    module is known only in part."""
    files = driver_files(kernel, os.path.abspath(path))
    models = [_compiled_model(kernel, f) for f in files]
    if any(m is None for m in models):
        return None
    registered = frozenset((r.function, r.member) for m in models for r in m.graph.registrations if r.role == MMAP)
    out: list[MmapHandler] = []
    for f, m in zip(files, models):
        # What the file registers itself it finds on its own; the names
        # other files register, where it defines them.
        elsewhere = frozenset((name, member) for name, member in registered if name in m.graph.definitions)
        out.extend(file_handlers(kernel, f, elsewhere) or [])
    return out


def mmap_presets(kernel, path: str | None, registration, flags: frozenset[str]) -> bool | None:
    """Whether the vmas a handler (or, without a registration, any code of
    the module) can see come from ->mmap handlers that all set ``flags``
    first: the handlers that install the registration's vm_operations_struct
    when the module has them, else every handler of the module. None when
    the module shows no handler (or not all of its files)."""
    if path is None:
        return None
    handlers = module_handlers(kernel, path)
    if not handlers:
        return None
    variable = (
        initialized_variable(registration.node) if registration is not None and registration.node.type == "initializer_pair" else None
    )
    installing = [h for h in handlers if variable is not None and variable in h.installs]
    if installing:
        return all(flags <= h.sets for h in installing)
    # Installed out of view (drm_gem_mmap() installs the GEM object's
    # vm_ops) or looked up (read-locked code): any of the module's mappings.
    return True if all(flags <= h.sets for h in handlers) else None


# -- the module's helpers, followed from the file that calls them ---------------


def model_of(ctx) -> VmFlagsModel:
    """The model of the file a rule checks, with its module around it: the
    roles its other files give this file's functions, the helpers of its
    headers and other files that change a vma's flags or take the lock
    (followed like the kernel's), and its headers' function-like macros."""
    model = model_for(ctx.source, ctx.catalog, ctx.partial)
    model.attach_driver(ctx.kernel, ctx.abspath, ctx.source.path)
    if ctx.abspath is not None and "graph" not in model.__dict__ and not model.module_attached:
        model.module_attached = True
        model.macro_sources = tuple(h.data for h in local_headers(ctx.kernel, ctx.abspath, ctx.source.original))
        wanted = _wanted(ctx.source.data, ctx.catalog)
        if wanted:
            helpers = module_helpers(ctx.kernel, ctx.abspath, ctx.source.original, wanted)
            model.module_setters = {n: h.setter for n, h in helpers.items() if h.setter is not None}
            model.module_locks = {n: h.locks for n, h in helpers.items() if h.locks is not None}
            model.module_outcomes = {n: h.outcome for n, h in helpers.items() if h.outcome is not None}
    return model


# A call that hands on a vma (or a vm_fault), or one of a lock's names: what
# may be a module helper that changes flags or takes the lock. Each pattern
# starts with a literal and the name is read backwards from it: a pattern
# that starts with the name is tried at every identifier of the file, and
# this runs on every file of a tree that mentions a vma.
_VMA_ARGUMENT = PatternStarts(rb"\(\s*&?\s*\(?\s*(?:\w*vma\w*|vmf|area)\b")
_LOCK_NAME_TAIL = re.compile(rb"lock\w*\s*\(")
_LONGEST_CALLEE = 128
_SPACE = frozenset(b" \t\n\r\f\v")
_WORD_BYTES = frozenset(b for b in range(128) if is_word_byte(b))


def _called_names(data: bytes, locks: bool = True) -> frozenset[str]:
    """The names ``data`` calls with a vma (or a vm_fault) as the first
    argument, and (``locks``) the names with ``lock`` in them it calls."""
    if locks:
        return _vma_callees(data) | _lock_callees(data)
    return _vma_callees(data)


@lru_cache(maxsize=16)
def _vma_callees(data: bytes) -> frozenset[str]:
    """The names called with a vma first (once per file: a file's own test,
    its model and its module's ask the same)."""
    names = (_name_before(data, start) for start in _VMA_ARGUMENT.starts(data))
    return frozenset(n for n in names if n is not None) - _NOT_HELPERS


@lru_cache(maxsize=16)
def _lock_callees(data: bytes) -> frozenset[str]:
    """The names with ``lock`` in them that ``data`` calls."""
    names = (_name_before(data, m.end() - 1) for m in _LOCK_NAME_TAIL.finditer(data))
    return frozenset(n for n in names if n is not None and "lock" in n) - _NOT_HELPERS


def _name_before(data: bytes, end: int) -> str | None:
    """The identifier that ends, but for blanks, at ``end`` (a call's
    parenthesis), within _LONGEST_CALLEE bytes; None if there is none, or
    if it is a member (``vma->vm_ops->open(vma)``: a function pointer, no
    function of the module by that name)."""
    lo = max(0, end - _LONGEST_CALLEE)
    stop = end
    while stop > lo and data[stop - 1] in _SPACE:
        stop -= 1
    start = stop
    while start > lo and data[start - 1] in _WORD_BYTES:
        start -= 1
    cut = start == lo and start > 0 and data[start - 1] in _WORD_BYTES  # longer than the window
    if start == stop or cut or 0x30 <= data[start] <= 0x39:
        return None
    before = data[max(0, start - 16) : start].rstrip()
    if before.endswith((b".", b"->")):
        return None
    return data[start:stop].decode()


# Names a module cannot define as its own helper: C's keywords before a
# parenthesis (``if (vma``), and kernel functions that take a vma and change
# neither its flags nor the mmap lock, or lock something else - the kernel
# declares them, so a module's function of that name would not build. Not
# a complete list: the common ones, which would otherwise send most files
# that mention a vma to read their whole module.
_NOT_HELPERS = frozenset(
    {"if", "while", "for", "switch", "return", "sizeof", "typeof", "__typeof__", "defined"}
    | {"IS_ERR", "PTR_ERR", "IS_ERR_OR_NULL", "ERR_CAST", "likely", "unlikely", "EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL", "min", "max"}
    | {"BUG_ON", "WARN_ON", "WARN_ON_ONCE", "VM_BUG_ON", "VM_BUG_ON_VMA", "VM_WARN_ON_ONCE", "READ_ONCE", "WRITE_ONCE", "kfree"}
    | {"vma_pages", "is_vm_hugetlb_page", "handle_mm_fault", "vm_get_page_prot", "vma_kernel_pagesize", "vma_is_anonymous"}
    | {"vma_is_dax", "vma_is_fsdax", "find_vma", "vma_lookup", "find_extend_vma", "zap_vma_ptes", "pgprot_noncached"}
    | {"pgprot_writecombine", "pgprot_device", "pgprot_decrypted", "file_inode", "vma_policy", "vma_is_shmem"}
)
# Kernel locks other than the mmap lock and a vma's: their names have
# ``lock`` in them, and module helpers are not called so.
_OTHER_LOCKS = re.compile(
    r"(?:raw_)?spin_(?:(?:un)?lock(?:_irq|_irqsave|_irqrestore|_bh|_nested)?|lock_init|trylock)"
    r"|mutex_(?:(?:un)?lock(?:_interruptible|_killable|_nested)?|trylock)|s?rcu_read_(?:un)?lock(?:_bh|_sched)?"
    r"|(?:read|write)_(?:un)?lock(?:_irq|_irqsave|_irqrestore|_bh)?|lockdep_(?:assert_held|is_held|assert_not_held)"
    r"|(?:inode|rtnl|folio)_(?:un)?lock|(?:un)?lock_page|pte_offset_map_lock|pte_unmap_unlock|pmd_lock"
)


def _wanted(data: bytes, catalog, locks: bool = True) -> set[str]:
    """The functions a file calls with a vma or (``locks``) like a lock and
    does not define - nor does the kernel API catalog, the accessors or the
    lock API: the names a module helper may have."""
    called = _called_names(data, locks)
    known = set(catalog.functions) | ACCESSORS | LOCK_NAMES if catalog is not None else set()
    return {n for n in called if n not in known and not _OTHER_LOCKS.fullmatch(n) and not _defined_here(data, n)}


def _defined_here(data: bytes, name: str) -> bool:
    """defines(), asked only of a name on a first-column line: where every
    definition starts."""
    return _at_file_scope(data, name) and defines(data, name)


def _at_file_scope(data: bytes, name: str) -> bool:
    """Whether ``name`` occurs on a line that starts in the first column:
    what a file declares or defines at file scope, and its macros (kernel
    style indents every statement of a function body). By bytes.find() in
    those lines: a name a file calls often is mostly on indented ones."""
    return next(word_starts(_first_column_lines(data), name.encode()), None) is not None


@lru_cache(maxsize=8)
def _first_column_lines(data: bytes) -> bytes:
    """The lines of ``data`` that start in the first column, each after a
    newline (once per file: its gate, model and module ask the same)."""
    return b"".join(_FIRST_COLUMN_LINE.findall(b"\n" + data))


# From the newline before a line (a literal the regex engine jumps between:
# ``^`` would be tried at every byte), a line that starts in the first column.
_FIRST_COLUMN_LINE = re.compile(rb"\n[^ \t\n][^\n]*")


def _declared_here(data: bytes, name: str) -> bool:
    """Whether ``data`` declares (or defines) ``name`` as a function at file
    scope: ``name(`` on a first-column line after its type, or at the start
    of one whose line before ends in its type (``STATIC int`` / ``xfs_...(``).
    A macro invoked at file scope (``arch_initcall(x);``, ``EXPORT_SYMBOL``)
    declares nothing."""
    for pos in word_starts(data, name.encode()):
        line = data.rfind(b"\n", 0, pos) + 1
        if data[line] in _INDENT or not _CALL_PARENTHESIS.match(data, pos + len(name)):
            continue
        if data[line:pos].strip():
            return True  # its type before it
        above = data[max(0, line - 80) : line].rstrip()
        if above and above[-1] in _TYPE_END:
            return True
    return False


_INDENT = frozenset(b" \t\n")
_TYPE_END = _WORD_BYTES | frozenset(b"*")


def declared_by_module(kernel, abspath: str, data: bytes, headers: list[Header], names: set[str]) -> set[str]:
    """The names among ``names`` (called, defined nowhere the file sees)
    that another file of its module may define. In a kernel tree every
    function is declared before it is called (Kbuild builds with
    -Werror=implicit-function-declaration): one that neither the file nor
    its module's headers declare is declared in the kernel's include/ -
    kernel API, which the catalog describes, not a module helper. So mm/'s
    and the DRM core's functions (include/linux/mm.h, include/drm/) are not
    looked for in every other file of their directory. An out-of-tree
    module checked on its own may lean on declarations daxlint cannot see:
    all its names are looked for."""
    if not names or not _in_kernel_tree(kernel, abspath):
        return names
    # A header by bytes.find() per name: register headers run to megabytes,
    # and a module includes hundreds of them (habanalabs).
    return {n for n in names if _declared_here(data, n) or any(next(word_starts(h.data, n.encode()), None) is not None for h in headers)}


def _in_kernel_tree(kernel, abspath: str) -> bool:
    """Whether ``abspath`` lies in a kernel tree with the kernel's headers."""
    root = kernel.root
    if root is None or not os.path.normpath(abspath).startswith(os.path.join(os.path.normpath(str(root)), "")):
        return False
    return kernel.memo_for_directory(
        str(root), "kernel-headers", lambda: "mm.h" in kernel.listdir(os.path.join(str(root), "include", "linux"))
    )


@dataclass(frozen=True)
class ModuleHelper:
    setter: VmFlagSetter | None  # what it does to the flags of the vma it is given
    locks: LockState | None  # the lock state it leaves its caller in
    outcome: Outcome | None = None  # that state on success and on failure, when they differ


def module_helpers(kernel, abspath: str, data: bytes | None, wanted: set[str]) -> dict[str, ModuleHelper]:
    """The functions of the module among ``wanted`` (names a file calls and
    does not define): its headers' (static inline helpers too), then the
    other files' (not static), each file summarised once per run. Only a
    file whose bytes define one of them as a flag or lock helper is parsed
    (see _module_index)."""
    out: dict[str, ModuleHelper] = {}
    headers = local_headers(kernel, abspath, data)
    for header in headers:
        if not wanted & (_flag_helpers(kernel, header.data) | _lock_helpers(kernel, header.data)):
            continue
        for name, helper in _file_helpers(kernel, header.path, header.data, exported_only=False).items():
            if name in wanted:
                out.setdefault(name, helper)
    wanted = declared_by_module(kernel, abspath, data if data is not None else kernel.read(abspath) or b"", headers, wanted)
    if not wanted:
        return out
    flags, locks = _module_index(kernel, abspath, FLAGS), _module_index(kernel, abspath, LOCKS)
    for path in sorted({index[n] for index in (flags, locks) for n in wanted if n in index}):
        sibling = kernel.read(path) if kernel.knows(path) else None
        if sibling is None:
            continue
        for name, helper in _file_helpers(kernel, path, sibling, exported_only=True).items():
            if name in wanted:
                out.setdefault(name, helper)
    return out


def _file_helpers(kernel, path: str, data: bytes, exported_only: bool) -> dict[str, ModuleHelper]:
    """Summaries of a file's functions that change the flags of a vma they
    are given or change the mmap lock (a cheap look at the bytes first)."""
    present = _tokens_in(data)
    if b"vm_flags" not in present and b"vma" not in present and present.isdisjoint(_LOCK_NAME_BYTES):
        return {}

    def summarise() -> dict[str, ModuleHelper]:
        # Only what the bytes say may be a helper (the module index asks no
        # other name of a file): the rest of a large file is never walked.
        candidates = _flag_helpers(kernel, data) | _lock_helpers(kernel, data)
        if not candidates:
            return {}
        model = VmFlagsModel(SourceFile(path, data), kernel.catalog)
        out: dict[str, ModuleHelper] = {}
        for name, defs in model.graph.definitions.items():
            if name not in candidates or len(defs) != 1 or (exported_only and is_static(defs[0])):
                continue
            fn = defs[0]
            setter = _summary(model, fn, name, f"{os.path.basename(path)}:{fn.start_point[0] + 1}", set())
            locks = model.graph.summary(name)
            if setter is not None or locks is not None:
                out[name] = ModuleHelper(setter, locks, model.graph.outcome(name))
        return out

    # By content (and the name its findings give the file): an audit's
    # verdicts read the same sibling at each commit that leaves it alone.
    what = f"module-helpers {os.path.basename(path)} {exported_only} {kernel.effective_version}"
    return kernel.memo_of_bytes(what, data, lambda _data: summarise())


def _summary(model: VmFlagsModel, fn: Node, name: str, where: str, seen: set[int]) -> VmFlagSetter | None:
    """What ``fn`` does to the flags of the vma it is given: a VmFlagSetter
    whose vma_index is the parameter (a vma, or a vm_fault whose ->vma it
    changes), or None when it changes no parameter's flags."""
    if fn.start_byte in seen:
        return None
    seen.add(fn.start_byte)
    params = _vma_parameters(fn)
    if not params:
        return None
    always: set[str] = set()
    unless: set[str] = set()
    direct = False
    via: str | None = None
    for w in model.writes:
        if w.function is None or w.function.start_byte != fn.start_byte or w.vma is None:
            continue
        index = params.get(_root(w.vma))
        if index is None:
            continue
        if w.kind == "helper" and w.setter is not None:
            always |= set(w.setter.always)
            unless |= set(w.setter.unless_set)
            direct = direct or w.setter.direct
            via = via or w.setter.via or w.op
        else:
            always |= w.set_flags
            direct = True
    # The file's functions it hands the vma on to.
    for call in walk(fn, {"call_expression"}):
        callees = model.graph.definitions.get(call_name(call) or "", [])
        args = call_args(call)
        if len(callees) != 1 or not any(_root(a) in params for a in args):
            continue
        inner = _summary(model, callees[0], call_name(call), where, seen)
        if inner is not None:
            always |= set(inner.always)
            unless |= set(inner.unless_set)
            direct = direct or inner.direct
            via = via or inner.via
    if not (always or unless or direct):
        return None
    param = min(params, key=params.get)
    return VmFlagSetter(
        name, tuple(sorted(always)), tuple(sorted(unless - always)), params[param], where, direct, via, param in _fault_parameters(fn)
    )


def _vma_parameters(fn: Node) -> dict[str, int]:
    """Parameter name -> index for the vma (or vm_fault) parameters of ``fn``;
    a vm_fault parameter ``vmf`` stands for ``vmf->vma``."""
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters") if d is not None else None
    out: dict[str, int] = {}
    for i, p in enumerate(c for c in (plist.named_children if plist is not None else []) if c.type == "parameter_declaration"):
        t = text(p.child_by_field_name("type"))
        names = [text(n) for n in walk(p, {"identifier"})]
        if names and ("vm_area_struct" in t or "vm_fault" in t):
            out[names[-1]] = i
    return out


def _fault_parameters(fn: Node) -> set[str]:
    """The parameters of ``fn`` that are a struct vm_fault."""
    return {name for name, _ in _vma_parameters(fn).items() if name in _typed(fn, "vm_fault")}


def _typed(fn: Node, struct: str) -> set[str]:
    return {
        text(p.child_by_field_name("declarator")).lstrip("*")
        for p in walk(fn, {"parameter_declaration"})
        if struct in text(p.child_by_field_name("type"))
    }


def _root(expr: Node) -> str:
    """The variable at the root of ``vma``, ``vmf->vma``, ``(vma)``."""
    code = text(expr).strip("()& \t")
    return code.split("->", 1)[0].split(".", 1)[0].strip()


# Literal tests rather than one regex alternation: this runs on every file
# of a tree that mentions a vma, and CPython's regex engine tries each
# alternative at each position.
_CONTEXT_BYTES = frozenset(
    {b"vm_fault", b"ioctl", b"mmap_read_", b"lock_vma_under_rcu", b"post_mmap", b"mmap_write_unlock", b"mmap_write_downgrade"}
)


_CONTEXT = TokenMatcher(list(_CONTEXT_BYTES))


def calls_module_helpers_after_mmap(data: bytes) -> bool:
    """The part of module_may_change_flags() that reads only the file: code
    that runs after ->mmap, and a call with a vma of a function the file
    does not define."""
    # Its own pass, not _tokens_in()'s: this runs on every file of a tree
    # that mentions a vma, and a few literals scan faster than forty.
    if b"vma" not in data or not _CONTEXT.present(data):
        return False
    return any(not _defined_here(data, n) for n in _called_names(data, locks=False))


def module_may_change_flags(kernel, abspath: str, data: bytes) -> bool:
    """Whether a file that shows no change of vm_flags itself may make one
    through its module: it has code that runs after ->mmap (a fault
    handler, an ioctl, read-locked or unlocked code) and calls, with a vma,
    a function or macro that a header it includes or another file of its
    module defines and whose definition changes flags or calls a helper
    that does - by their bytes, each file scanned once per run."""
    if not calls_module_helpers_after_mmap(data):
        return False
    # Only a function given the vma can change its flags: the lock-named
    # calls matter to a flag change the file makes itself.
    wanted = _wanted(data, kernel.catalog, locks=False)
    if not wanted:
        return False
    headers = local_headers(kernel, abspath)
    if any(wanted & _flag_helpers(kernel, h.data) for h in headers):
        return True
    wanted = declared_by_module(kernel, abspath, data, headers, wanted)
    if not wanted:
        return False
    own = _flag_helpers(kernel, data)
    return any(n in wanted and n not in own for n in _module_index(kernel, abspath, FLAGS))


def uses_header_flag_macros(kernel, abspath: str, data: bytes) -> bool:
    """Whether ``data`` names a function-like macro of one of its module's
    headers whose body writes a parameter's vm_flags directly: the write
    happens in this file, which need not spell the field (by bytes, each
    header once per content and run)."""
    for header in local_headers(kernel, abspath, data):
        names = kernel.memo_of_bytes("flag-macros", header.data, macros_writing_flags)
        if any(next(word_starts(data, n.encode()), None) is not None for n in names):
            return True
    return False


FLAGS = "flags"
LOCKS = "locks"


def _module_index(kernel, abspath: str, kind: str) -> dict[str, str]:
    """Name -> file, for the helpers the other files of ``abspath``'s module
    define (by bytes) that change flags (FLAGS) or a lock (LOCKS)."""
    me = os.path.normpath(abspath)
    module = tuple(sorted({os.path.normpath(f) for f in driver_files(kernel, abspath)} | {me}))
    out: dict[str, str] = {}
    for name, paths in _files_index(kernel, module, kind).items():
        path = next((p for p in paths if p != me), None)
        if path is not None:
            out[name] = path
    return out


def _files_index(kernel, files: tuple[str, ...], kind: str) -> dict[str, tuple[str, ...]]:
    """Name -> the files among ``files`` (one module's, in one directory)
    that define it as a helper of ``kind`` (by bytes): each file read and
    recorded as the names it defines (a fact: an edit that leaves them the
    same does not make a verdict stale), once per module and run. Only the
    module's files: a directory of many one-file modules (fbdev, scsi) is
    not read whole for each."""
    fact, pure = (_flag_helpers, flag_helper_definitions) if kind == FLAGS else (_lock_helpers, lock_helper_definitions)

    def helpers_of(path: str) -> frozenset[str]:
        # Once per file and run, though modules of one directory overlap
        # (mm/'s nommu.c and memory.c lists differ in one file).
        what = f"{pure.__name__} {os.path.basename(path)}"
        return kernel.memo_for_directory(
            os.path.dirname(path), what, lambda: kernel.read_fact(path, pure.__name__, lambda d: fact(kernel, d))
        )

    def scan() -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for path in files:
            for helper in sorted(helpers_of(path) or ()):
                out[helper] = (*out.get(helper, ()), path)
        return out

    key = f"module-index {kind} " + " ".join(os.path.basename(f) for f in files)
    return kernel.memo_for_directory(os.path.dirname(files[0]), key, scan)


_LOCK_NAME_BYTES = frozenset(n.encode() for n in LOCK_NAMES)
_GENERIC_LOCK_NAME_BYTES = frozenset(n.encode() for n in GENERIC_LOCK_NAMES)
# Every literal this module tests a file's bytes for, found in one
# hyperscan pass (the tests run on thousands of sibling files a run, and
# each ``in`` is a pass of its own).
_ASKED = TokenMatcher([b"vm_flags", b"vma", b"mmap_", *FLAG_HELPER_NAMES, *_LOCK_NAME_BYTES])


@lru_cache(maxsize=4)
def _tokens_in(data: bytes) -> frozenset[bytes]:
    """Which of the literals above ``data`` holds (the last few files are
    asked again: a sibling's flag and lock facts, a file's own tests)."""
    return frozenset(_ASKED.present(data))


class _Definitions:
    """The functions and function-like macros a file defines, by bytes: each
    runs from its start to the next one's."""

    def __init__(self, data: bytes):
        self.data = data
        found = definitions(data)
        self.starts = [pos for pos, _ in found]
        self.names = [name for _, name in found]

    def texts(self):
        """(name, text) of each definition."""
        ends = [*self.starts[1:], len(self.data)]
        return ((name, self.data[start:end]) for name, start, end in zip(self.names, self.starts, ends))

    def _at(self, pos: int) -> str | None:
        k = bisect_right(self.starts, pos) - 1
        return self.names[k] if k >= 0 else None

    def holding(self, words) -> set[str]:
        """The definitions whose text holds one of ``words`` (bytes)."""
        return {name for w in words for pos in word_starts(self.data, w, whole=False) if (name := self._at(pos))}

    def with_callers(self, direct: set[str]) -> frozenset[str]:
        """``direct`` and the definitions that call one of them, transitively
        (by name, within the file: as the parsed file's summaries follow).
        bytes.find() per name: a regex alternation tries every position."""
        found = set(direct)
        frontier = found
        while frontier:
            calls = {
                name
                for callee in frontier
                for pos in word_starts(self.data, callee.encode())
                if _CALL_PARENTHESIS.match(self.data, pos + len(callee)) and (name := self._at(pos))
            }
            frontier = calls - found
            found |= frontier
        return frozenset(found)


_CALL_PARENTHESIS = re.compile(rb"\s*\(")


def flag_helper_definitions(data: bytes) -> frozenset[str]:
    """By bytes: the functions and function-like macros ``data`` defines
    that change vm_flags or call a helper that does."""
    present = _tokens_in(data)
    if (b"vm_flags" not in present and present.isdisjoint(FLAG_HELPER_NAMES)) or not changes_flags(data):
        return frozenset()
    defs = _Definitions(data)
    return defs.with_callers({n for n, t in defs.texts() if changes_flags(t)})


def lock_helper_definitions(data: bytes) -> frozenset[str]:
    """By bytes: the functions and function-like macros ``data`` defines
    that take, drop or assert an mmap/vma lock."""
    present = _tokens_in(data)
    if b"mmap_" not in present and b"vma" not in present:
        return frozenset()  # no lock of a vma's: an rwsem or a guard() of another lock
    names = sorted(present & _LOCK_NAME_BYTES)
    if b"mmap_" not in present:
        # The rwsem calls, guard() and lockdep are the mmap lock's only on
        # mm->mmap_lock (mmap_sem before v5.8); without it, a vma's own lock.
        names = [t for t in names if b"vma" in t]
    if not names:
        return frozenset()
    defs = _Definitions(data)
    held = defs.holding([n for n in names if n not in _GENERIC_LOCK_NAME_BYTES])
    generic = [n for n in names if n in _GENERIC_LOCK_NAME_BYTES]
    if generic:
        # down_write(), guard(), lockdep: the mmap lock's only where the
        # definition names it (the parsed walk asks the same of each call).
        held |= defs.holding(generic) & defs.holding((b"mmap_lock", b"mmap_sem"))
    return defs.with_callers(held)


def _flag_helpers(kernel, data: bytes) -> frozenset[str]:
    """flag_helper_definitions(), once per content and run."""
    return kernel.memo_of_bytes("flag-helpers", data, flag_helper_definitions)


def _lock_helpers(kernel, data: bytes) -> frozenset[str]:
    """lock_helper_definitions(), once per content and run."""
    return kernel.memo_of_bytes("lock-helpers", data, lock_helper_definitions)
