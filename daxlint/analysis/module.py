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
from dataclasses import dataclass

from tree_sitter import Node

from daxlint.analysis.bits import BIT_RE
from daxlint.analysis.callgraph import MMAP
from daxlint.analysis.driver import driver_files
from daxlint.analysis.vmflags import VmFlagsModel, VmFlagsWrite, flag_names, initialized_variable
from daxlint.core.source import SourceFile
from daxlint.core.syntax import call_args, call_name, function_name, text, walk


@dataclass(frozen=True)
class MmapHandler:
    path: str
    function: str
    member: str  # "mmap", "mmap_prepare", "fb_mmap", ... ("vm_ops": it installs one, registered out of view)
    sets: frozenset[str]  # flags set on every path that maps
    installs: frozenset[str]  # the vm_operations_struct variables it installs


def must_set(model: VmFlagsModel, fn: Node, seen: frozenset[int] = frozenset()) -> frozenset[str]:
    """The flags ``fn`` sets on every path that maps: its statements in
    order, an ``if`` that leaves the function (an error return) a guard and
    not a branch, other conditional code not counted, the functions of the
    file it calls followed."""
    if fn.start_byte in seen:
        return frozenset()
    seen = seen | {fn.start_byte}
    changes = [w for w in model.writes if w.function is not None and w.function.start_byte == fn.start_byte]
    flags: set[str] = set()
    body = fn.child_by_field_name("body")
    for stmt in _straight_line(body) if body is not None else []:
        for n in sorted(
            _changes_and_calls(model, stmt, changes), key=lambda n: n.node.start_byte if isinstance(n, VmFlagsWrite) else n.start_byte
        ):
            if isinstance(n, VmFlagsWrite):
                _apply(flags, n)
            else:
                for callee in model.graph.definitions.get(call_name(n) or "", []):
                    flags |= must_set(model, callee, seen)
        if stmt.type == "return_statement":
            break
    return frozenset(flags)


def _straight_line(block: Node):
    """The statements of a block that run on every path through it, in
    order; an ``if`` whose body always leaves (a guard) is passed over."""
    stack = [iter(block.named_children)]
    while stack:
        for stmt in stack[-1]:
            if stmt.type == "compound_statement":
                stack.append(iter(stmt.named_children))
                break
            if stmt.type == "labeled_statement":
                stack.append(iter([c for c in stmt.named_children if c.type != "statement_identifier"]))
                break
            if stmt.type in ("expression_statement", "declaration", "return_statement"):
                yield stmt
                if stmt.type == "return_statement":
                    return
        else:
            stack.pop()


def _changes_and_calls(model: VmFlagsModel, stmt: Node, changes: list[VmFlagsWrite]):
    for w in changes:
        if stmt.start_byte <= w.node.start_byte < stmt.end_byte:
            yield w
    for call in walk(stmt, {"call_expression"}):
        if call_name(call) in model.graph.definitions and not any(w.node == call for w in changes):
            yield call


def _apply(flags: set[str], w: VmFlagsWrite) -> None:
    """A flag change's effect on the flags a path has set."""
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
            flags -= flag_names(args[1], negated=False)
        elif op in ("vm_flags_mod", "__vm_flags_mod") and len(args) > 2:
            flags |= flag_names(args[1], negated=False)
            flags -= flag_names(args[2], negated=False)
        elif op in ("vm_flags_set",):
            flags |= w.set_flags
        else:  # reset, init: the value is all there is
            flags.clear()
            flags |= w.set_flags
    elif op == "|=":
        flags |= w.set_flags
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


def file_handlers(kernel, path: str) -> list[MmapHandler] | None:
    """The ->mmap handlers one file registers (None when the file is not
    known whole)."""

    def scan() -> list[MmapHandler] | None:
        if not kernel.knows(path):
            return None
        data = kernel.read(path)
        if data is None:
            return []
        model = VmFlagsModel(SourceFile(path, data), kernel.catalog)
        # Registered ->mmap handlers, and the functions that install a
        # vm_operations_struct (that is what an ->mmap does, registered in
        # this file or not).
        members = {r.function: r.member for r in model.graph.registrations if r.role == MMAP}
        for fns in model.vm_ops_installs.values():
            for fn in fns:
                members.setdefault(function_name(fn), "vm_ops")
        out = []
        for name, member in members.items():
            for fn in model.graph.definitions.get(name, []):
                out.append(MmapHandler(path, name, member, must_set(model, fn), _installs(model, name)))
        return out

    return kernel.memo(("mmap-handlers", os.path.normpath(path), str(kernel.effective_version)), scan)


def module_handlers(kernel, path: str) -> list[MmapHandler] | None:
    """Every ->mmap handler of ``path``'s module, None when a file of the
    module is known only in part."""
    out: list[MmapHandler] = []
    for f in driver_files(kernel, os.path.abspath(path)):
        found = file_handlers(kernel, f)
        if found is None:
            return None
        out.extend(found)
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


def handler_evidence(kernel, path: str | None, flags: frozenset[str]) -> str:
    """Which ->mmap set ``flags``, for messages."""
    handlers = module_handlers(kernel, path) if path is not None else None
    names = sorted({f"{h.function}() ({os.path.basename(h.path)})" for h in handlers or [] if flags <= h.sets})
    return ", ".join(names[:3]) + (" and others" if len(names) > 3 else "")
