"""The ``.mmap`` -> ``.mmap_prepare`` conversion of a file (DAX310's fix).

For each ``struct file_operations`` initializer (or assignment) whose
``.mmap`` this file defines, the handler and the static helpers it hands
the vma to are converted (:mod:`daxlint.analysis.prepare_body`), their
prototypes follow, and the member becomes ``.mmap_prepare`` naming the new
handler; ``generic_file_mmap`` and ``generic_file_readonly_mmap`` become
their ``_prepare`` forms. State a handler takes per mapping moves to a new
``vm_ops->mapped`` callback of the vm_operations_struct it installs, as
upstream did for stm, vme_user, afs and tcmu, where the kernel has it.

The code is written for the newest kernel checked; every kernel name it
uses is looked up in the catalogs, and when the checked range reaches
releases without one of them, the old handler stays for those: each
converted definition, prototype and member goes under ``#if
LINUX_VERSION_CODE >= KERNEL_VERSION(x, y, 0)`` with the old one in the
``#else`` (``#include <linux/version.h>`` added where the file has none),
so the file builds at both ends. Version tests inside a converted function
that every kernel of the new code decides alike are resolved.

What cannot be converted gets no fix and says why (:class:`Outcome`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from daxlint.analysis.layout import indent, line_span, preamble_pos, uses_crlf, width, with_line_ends, wrapped
from daxlint.analysis.locate import identifier_hits, node_at
from daxlint.analysis.prepare_body import GENERIC, FunctionConverter, Need, Refusal, Spelling, prepare_name
from daxlint.core.catalog import catalog_for, catalog_versions, first_version_where
from daxlint.core.directives import scan
from daxlint.core.preprocessor import UNKNOWN, evaluate_file
from daxlint.core.syntax import call_args, call_name, declarator_name, function_declarator, is_static, parent_of, text, walk
from daxlint.model import UNSAFE, Edit, Fix
from daxlint.version import KernelVersion, VersionRange

FOPS = "file_operations"
_PREPARE_MEMBER = re.compile(rb"(?:\.|->)\s*mmap_prepare\s*=(?!=)")
_MAX_HELPER_DEPTH = 3


@dataclass
class Outcome:
    """What DAX310 says about one ``.mmap`` registration."""

    handler: str
    new_name: str | None = None
    reason: str | None = None  # why there is no conversion
    line: int | None = None  # the construct that blocks it
    fix: Fix | None = None
    guard: KernelVersion | None = None  # the old handler stays before this release
    mapped: str | None = None  # the ->mapped callback the state moved to
    need: Need | None = None  # what a later kernel has that the conversion needs


def deprecated_since() -> KernelVersion | None:
    """The release whose catalog first has ``file_operations.mmap_prepare``."""
    for v in catalog_versions():
        if catalog_for(v).struct_field(FOPS, "mmap_prepare") is not None:
            return v
    return None


def first_release(need: Need) -> KernelVersion | None:
    """The first release whose catalog has ``need`` (and every later one)."""
    return first_version_where(need.met)


class _Plans:
    def __init__(self, _source):
        self.by_key: dict = {}


def plan_conversions(model, kernel) -> dict[int, Outcome]:
    """The outcome of every ``.mmap`` of a ``file_operations`` in the file,
    by the registration's first byte; once per file and checked range."""
    key = str(kernel.whole_range)
    plans = model.source.shared(_Plans).by_key
    if key not in plans:
        plans[key] = _Planner(model, kernel).plan()
    return plans[key]


def mmap_registrations(model) -> list:
    """``.mmap = fn`` of a ``struct file_operations`` (initializers and
    assignments) - not v4l2, drm_gem_object_funcs or dma_buf_ops, whose
    ``.mmap`` has no ``.mmap_prepare``."""
    return [r for r in model.graph.registrations if r.member == "mmap" and r.struct == FOPS]


class _Planner:
    def __init__(self, model, kernel):
        self.model = model
        self.graph = model.graph
        self.data = model.source.original
        self.view = model.source.data
        self.root = model.root
        self.kernel = kernel
        self.checked: VersionRange = kernel.whole_range
        self.top = catalog_for(self.checked.last)
        self.spelling = Spelling.of(self.top)
        self.crlf = uses_crlf(self.data)

    # -- the plan ------------------------------------------------------------------

    def plan(self) -> dict[int, Outcome]:
        out: dict[int, Outcome] = {}
        if self.top.struct_field(FOPS, "mmap_prepare") is None:
            return out
        by_handler: dict[str, list] = {}
        for reg in mmap_registrations(self.model):
            if not self._compat_side(reg):
                by_handler.setdefault(reg.function, []).append(reg)
        for name, regs in by_handler.items():
            try:
                outcome = self._handler(name, regs)
            except Refusal as e:
                outcome = Outcome(name, reason=e.reason, line=e.line, need=e.need)
            for reg in regs:
                out[reg.node.start_byte] = outcome
        return out

    def _compat_side(self, reg) -> bool:
        """A ``.mmap`` whose initializer also has ``.mmap_prepare`` (in another
        branch of a version test): the old kernels' side of a conversion."""
        holder = reg.node.parent if reg.node.type == "initializer_pair" else _enclosing_function(reg.node)
        return holder is not None and _PREPARE_MEMBER.search(self.data, holder.start_byte, holder.end_byte) is not None

    def _handler(self, name: str, regs: list) -> Outcome:
        defs = self.graph.definitions.get(name, [])
        if not defs:
            if name in GENERIC:
                return self._generic(name, regs)
            raise Refusal("it is defined in another file; convert it there")
        for fn in defs:
            if not is_static(fn):
                raise Refusal("it is not static: the other files that call it or declare it change with it", _line(fn))
        units = {name: (prepare_name(name, True), 1, 0)}
        self._helpers(defs, units, 0)
        references = self._references(units, regs)
        # The new code is written for the newest kernel, then built from the
        # first release that has all it uses: its version tests are decided
        # for those kernels, which may change what it uses - until it holds.
        span = VersionRange.single(self.checked.last)
        for _ in range(3):
            converted = self._convert(units, span)
            needs = {Need("member", f"{FOPS}.mmap_prepare")} | {n for c in converted.values() for _, r in c for n in r.needs}
            stateful = self._stateful(name, converted)
            if stateful:
                needs.add(Need("member", "vm_operations_struct.mapped"))
            since = self._since(needs)
            new_span = self.checked if since <= self.checked.first else VersionRange(since, self.checked.last)
            if new_span == span:
                break
            span = new_span
        guard = None if since <= self.checked.first else since
        edits: list[Edit] = []
        mapped = None
        if stateful:
            converted = self._convert(units, span, move_state=True)
            mapped, callback = self._mapped_callback(name, converted[name][0][1].mapped, guard)
            edits += callback
        edits += self._edits(units, converted, references, regs, guard)
        new_name = units[name][0]
        desc = f"Convert {name}() to .mmap_prepare = {new_name}()"
        if mapped is not None:
            desc += f", with the per-mapping state in vm_ops->mapped ({mapped}())"
        if guard is not None:
            desc += f", keeping {name}() for kernels before v{guard}"
        fix = Fix(desc, UNSAFE, with_line_ends(edits, self.crlf))
        return Outcome(name, new_name, fix=fix, guard=guard, mapped=mapped)

    def _generic(self, name: str, regs: list) -> Outcome:
        new = GENERIC[name]
        if not self.top.has_function(new):
            raise Refusal(f"{name} has no .mmap_prepare form in this kernel", _line(regs[0].node), Need("function", new))
        since = self._since({Need("function", new), Need("member", f"{FOPS}.mmap_prepare")})
        guard = None if since <= self.checked.first else since
        edits = [e for reg in regs for e in self._member_edits(reg, new, guard)]
        edits += self._version_include(edits, guard)
        desc = f"Use .mmap_prepare = {new}" + (f", keeping {name} for kernels before v{guard}" if guard else "")
        return Outcome(name, new, fix=Fix(desc, UNSAFE, with_line_ends(edits, self.crlf)), guard=guard)

    # -- what converts together ---------------------------------------------------------

    def _helpers(self, fns: list[Node], units: dict, depth: int) -> None:
        """Static functions of this file the functions hand their vma to:
        they take the descriptor too (``relay_mmap_buf(buf, vma)``)."""
        for fn in fns:
            vma = self._vma_param(fn, units)
            if vma is None:
                continue
            for ident in walk(fn.child_by_field_name("body"), {"identifier"}):
                if text(ident) != vma:
                    continue
                args = parent_of(ident)
                if args is None or args.type != "argument_list":
                    continue
                call = parent_of(args)
                callee = call_name(call)
                if callee is None or callee not in self.graph.definitions or callee in units:
                    continue
                index = next(i for i, a in enumerate(call_args(call)) if a.id == ident.id)
                if depth >= _MAX_HELPER_DEPTH:
                    raise Refusal(f"it hands the vma down more than {_MAX_HELPER_DEPTH} calls deep ({callee}())", _line(call))
                helper_defs = self.graph.definitions[callee]
                for d in helper_defs:
                    if not is_static(d):
                        raise Refusal(f"it hands the vma to {callee}(), which is not static", _line(call))
                units[callee] = (prepare_name(callee, False), index, None)
                self._helpers(helper_defs, units, depth + 1)

    def _vma_param(self, fn: Node, units: dict) -> str | None:
        name = _function_name(fn)
        unit = units.get(name or "")
        if unit is None:
            return None
        params = _param_names(fn)
        return params[unit[1]] if unit[1] < len(params) else None

    def _references(self, units: dict, regs: list) -> dict[str, list[Node]]:
        """Every use of the functions being converted besides their
        definitions, the registrations and calls from each other: the
        prototypes (converted too) and object-like macros naming a generic
        handler (``#define erofs_file_mmap generic_file_readonly_mmap``);
        anything else - a call from code that stays, a second table -
        keeps them from being converted."""
        out: dict[str, list[Node]] = {n: [] for n in units}
        reg_values = {_value_ident(r.node).start_byte for r in regs if _value_ident(r.node) is not None}
        defined = {fn.id for n in units for fn in self.graph.definitions.get(n, [])}
        for word, pos in identifier_hits(self.data, [n.encode() for n in units]):
            name = word.decode()
            node = node_at(self.root, pos, pos + len(word))
            line = self.data.count(b"\n", 0, pos) + 1
            if node is None or self.view[pos : pos + len(word)] != word:
                raise Refusal(f"{_who(name, regs[0].function)}is also named at line {line}, in code another build compiles", line)
            if node.type not in ("identifier", "field_identifier"):
                continue  # a comment or a string
            if pos in reg_values:
                continue
            fn = _enclosing_function(node)
            if fn is not None and fn.id in defined:
                if name != _function_name(fn) and not self._hands_its_vma(node, fn, units, name):
                    raise Refusal(f"{_who(name, regs[0].function)}is used at line {line} other than as a call that hands it the vma", line)
                continue
            holder = parent_of(node)
            if holder is not None and holder.type == "function_declarator" and parent_of(holder).type == "declaration":
                out[name].append(parent_of(holder))
                continue
            if holder is not None and holder.type == "preproc_def" and name in units and self._generic_define(holder):
                out[name].append(holder)
                continue
            raise Refusal(f"{_who(name, regs[0].function)}is also used at line {line} ({_snippet(self.data, pos)})", line)
        return out

    def _hands_its_vma(self, node: Node, fn: Node, units: dict, callee: str) -> bool:
        """``node`` names ``callee`` in a call that passes the calling
        function's vma where ``callee`` takes it."""
        call = parent_of(node)
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != node:
            return False
        args = call_args(call)
        index = units[callee][1]
        return index < len(args) and text(args[index]) == self._vma_param(fn, units)

    def _generic_define(self, define: Node) -> bool:
        """``#define foo_mmap generic_file_readonly_mmap`` (or ``NULL``): the
        handler of builds without its definition."""
        value = define.child_by_field_name("value")
        return value is not None and (text(value).strip() in GENERIC or text(value).strip() == "NULL")

    # -- conversion -----------------------------------------------------------------------

    def _convert(self, units: dict, span: VersionRange, move_state: bool = False) -> dict[str, list[tuple[Node, object]]]:
        """Each definition of each unit converted for the kernels of ``span``."""
        helpers = {n: (u[0], u[1]) for n, u in units.items() if u[2] is None}
        out: dict[str, list[tuple[Node, object]]] = {}
        for name, (new, vma_index, file_index) in units.items():
            for fn in self.graph.definitions[name]:
                code, lines = resolve_conditionals(self.data, fn.start_byte, fn.end_byte, list(span), self.kernel.build)
                first = fn.start_point[0] + 1
                converter = FunctionConverter(
                    code,
                    new,
                    self.spelling,
                    vma_index,
                    file_index,
                    helpers,
                    lambda i, lines=lines, first=first: first + (lines[i] if i < len(lines) else i),
                    move_state and file_index is not None,
                )
                try:
                    out.setdefault(name, []).append((fn, converter.convert()))
                except Refusal as e:
                    if file_index is not None:
                        raise
                    raise Refusal(f"in {name}(), which it hands the vma to, {e.reason.removeprefix('it ')}", e.line, e.need) from None
        return out

    def _stateful(self, handler: str, converted: dict) -> bool:
        """Whether the handler takes state per mapping that a
        ``vm_ops->mapped`` callback could take over (raises when it takes
        some that none can)."""
        state = [(name, fn, c) for name, results in converted.items() for fn, c in results if c.state]
        if not state:
            return False
        name, fn, c = state[0]
        what, line = c.state[0]
        if self.top.struct_field("vm_operations_struct", "mapped") is None:
            raise Refusal(
                f"{_who(name, handler)}takes state per mapping ({what}), which ->mmap_prepare must not (the mapping may still be merged or "
                "fail); its place is vm_ops->mapped, which this kernel does not have",
                line,
                Need("member", "vm_operations_struct.mapped"),
            )
        if name != handler or len(state) > 1 or len(converted[handler]) > 1:
            raise Refusal(
                f"{_who(name, handler)}takes state per mapping ({what}) where no one vm_ops->mapped callback can take it over", line
            )
        return True

    def _since(self, needs: set[Need]) -> KernelVersion:
        """The first release of the checked range from which every kernel
        up to its newest has all of ``needs``."""
        starts = [self.checked.first] + [v for v in catalog_versions() if self.checked.first < v <= self.checked.last]
        since = None
        for v in reversed(starts):
            cat = catalog_for(v)
            missing = [n for n in needs if not n.met(cat)]
            if missing:
                break
            since = v
        if since is None:
            need = next(n for n in needs if not n.met(self.top))
            raise Refusal(f"the conversion needs {need.name}, which this kernel does not have")
        return since

    # -- edits ----------------------------------------------------------------------------

    def _edits(self, units: dict, converted: dict, references: dict, regs: list, guard) -> list[Edit]:
        edits: list[Edit] = []
        handler = next(n for n, u in units.items() if u[2] is not None)
        for name, results in converted.items():
            for fn, c in results:
                edits.append(self._definition_edit(fn, c.text, guard))
            new, vma_index, file_index = units[name]
            for ref in references.get(name, []):
                edits.append(self._reference_edit(ref, new, vma_index, file_index is not None, guard))
        for reg in regs:
            edits += self._member_edits(reg, units[handler][0], guard)
        edits += self._version_include(edits, guard)
        return edits

    def _definition_edit(self, fn: Node, new_text: str, guard) -> Edit:
        start, end = line_span(self.data, fn.start_byte, fn.end_byte)
        before = self.data[start : fn.start_byte].decode("utf-8", "surrogateescape")
        after = self.data[fn.end_byte : end].decode("utf-8", "surrogateescape")
        if before.strip() or after.strip():
            raise Refusal("the function shares its lines with other code", _line(fn))
        new = before + new_text + after
        if guard is None:
            return Edit(fn.start_byte, fn.end_byte, new_text)
        old = self.data[start:end].decode("utf-8", "surrogateescape")
        return Edit(start, end, _guarded(guard, new, old, self.data))

    def _reference_edit(self, node: Node, new: str, vma_index: int, handler: bool, guard) -> Edit:
        """A prototype (``static int foo_mmap(struct file *, struct
        vm_area_struct *);``) or a generic handler's macro, for the new
        name."""
        start, end = line_span(self.data, node.start_byte, node.end_byte)
        old_text = self.data[node.start_byte : node.end_byte].decode("utf-8", "surrogateescape")
        if node.type == "preproc_def":
            value = text(node.child_by_field_name("value")).strip()
            name = text(node.child_by_field_name("name"))
            if value in GENERIC:
                self._needs_check(Need("function", GENERIC[value]), node)
                old_text = old_text.replace(value, GENERIC[value])
            new_text = old_text.replace(name, new, 1)
        else:
            new_text = _prototype(node, new, vma_index, handler)
        if guard is None:
            return Edit(node.start_byte, node.end_byte, new_text)
        if self.data[start : node.start_byte].strip() or self.data[node.end_byte : end].strip():
            raise Refusal("a declaration of it shares its line with other code", _line(node))
        lead = self.data[start : node.start_byte].decode("utf-8", "surrogateescape")
        old = self.data[start:end].decode("utf-8", "surrogateescape")
        return Edit(start, end, _guarded(guard, lead + new_text + "\n", old, self.data))

    def _needs_check(self, need: Need, node: Node) -> None:
        if not need.met(self.top):
            raise Refusal(f"{need.name} does not exist in this kernel", _line(node))

    def _member_edits(self, reg, new: str, guard) -> list[Edit]:
        """``.mmap = foo`` -> ``.mmap_prepare = foo_prepare`` (an
        assignment ``fops->mmap = foo`` likewise), aligned as the member
        was; under ``guard`` with the old member kept in the #else."""
        node = reg.node
        member = _member_ident(node)
        value = _value_ident(node)
        if member is None or value is None:
            raise Refusal(".mmap is set in a way daxlint does not rewrite", _line(node))
        renamed = _member_text(self.data, member, value, "mmap_prepare", new)
        if guard is None:
            return [Edit(member.start_byte, value.end_byte, renamed)]
        end_of = node.end_byte
        if node.type == "initializer_pair" and self.data[end_of : end_of + 1] == b",":
            end_of += 1
        elif node.type != "initializer_pair":
            end_of = parent_of(node).end_byte  # the statement, with its ';'
        start, end = line_span(self.data, node.start_byte, end_of)
        if self.data[start : node.start_byte].strip() or self.data[end_of:end].strip():
            raise Refusal("its .mmap shares a line with other members, where a version test cannot go", _line(node))
        old = self.data[start:end].decode("utf-8", "surrogateescape")
        new_line = (
            self.data[start : member.start_byte].decode("utf-8", "surrogateescape")
            + renamed
            + self.data[value.end_byte : end].decode("utf-8", "surrogateescape")
        )
        return [Edit(start, end, _guarded(guard, new_line, old, self.data))]

    def _version_include(self, edits: list[Edit], guard) -> list[Edit]:
        """``#include <linux/version.h>`` for the version test, when the file
        has neither it nor LINUX_VERSION_CODE."""
        if guard is None:
            return []
        directives = scan(self.data)
        if any(i.name == "linux/version.h" for i in directives.includes) or any(
            "LINUX_VERSION_CODE" in b.expr for g in directives.groups for b in g.branches
        ):
            return []
        first_use = min(e.start for e in edits)
        pos, _ = preamble_pos(self.data, first_use, linux_only=True)
        return [Edit(pos, pos, "#include <linux/version.h>\n")]

    def _mapped_callback(self, handler: str, state, guard) -> tuple[str, list[Edit]]:
        """The ``->mapped`` callback holding ``state`` and its member in the
        vm_operations_struct the handler installs: its name and the edits."""
        ops_decl, init = self._ops(handler, state.ops)
        name = self._callback_name(state.ops, init, handler)
        info = self.top.struct_field("vm_operations_struct", "mapped")
        params = _callback_params(info.type, state.file)
        body = [f"\t{d}" for d in state.declarations]
        if body:
            body.append("")
        body += [f"\t{s}" for s in state.statements] + ["\treturn 0;"]
        head = wrapped(f"static int {name}", params, "")
        head = "\n".join(indent(width(ws), "\t") + rest for ws, rest in (re.match(r"([ \t]*)(.*)", ln).groups() for ln in head.split("\n")))
        function = head + "\n{\n" + "\n".join(body) + "\n}\n\n"
        above = ops_decl.prev_sibling
        anchor = above if above is not None and above.type == "comment" and above.end_point[0] + 1 == ops_decl.start_point[0] else ops_decl
        at = self.data.rfind(b"\n", 0, anchor.start_byte) + 1
        first = next((c for c in init.named_children if c.type == "initializer_pair"), None)
        if first is None:
            raise Refusal(f"{state.ops} has no member to put .mapped beside", state.line)
        member_line = _member_line(self.data, first, "mapped", name)
        member_at = self.data.rfind(b"\n", 0, first.start_byte) + 1
        if guard is not None:
            function = f"{_guard_line(guard, self.data)}\n{function.rstrip()}\n#endif\n\n"
            member_line = f"{_guard_line(guard, self.data)}\n{member_line}#endif\n"
        return name, [Edit(at, at, function), Edit(member_at, member_at, member_line)]

    def _ops(self, handler: str, ops: str) -> tuple[Node, Node]:
        """The ``struct vm_operations_struct`` definition named ``ops``, when
        this file has it, no ``.mapped`` yet, and only ``handler`` installs
        it."""
        installers = self.model.vm_ops_installs.get(ops, [])
        if {_function_name(f) for f in installers} != {handler}:
            raise Refusal(f"its per-mapping state would go to {ops}->mapped, and {ops} is installed elsewhere too")
        for word, pos in identifier_hits(self.view, [ops.encode()]):
            node = node_at(self.root, pos, pos + len(word))
            decl = parent_of(node) if node is not None else None
            if decl is None or decl.type != "init_declarator":
                continue
            init = decl.child_by_field_name("value")
            outer = parent_of(decl)
            if init is None or init.type != "initializer_list" or "vm_operations_struct" not in text(outer.child_by_field_name("type")):
                continue
            if any(_designated(p) == "mapped" for p in init.named_children):
                raise Refusal(f"its per-mapping state would go to {ops}->mapped, which is taken")
            return outer, init
        raise Refusal(f"its per-mapping state would go to {ops}->mapped, and {ops} is not defined in this file")

    def _callback_name(self, ops: str, init: Node, handler: str) -> str:
        """Upstream's names: ``stm_mmap_open`` -> ``stm_mmap_mapped``, the
        vm_operations_struct's name else (``foo_vm_ops`` -> ``foo_vm_mapped``)."""
        opener = next((text(p.child_by_field_name("value")) for p in init.named_children if _designated(p) == "open"), "")
        if opener.endswith("open"):
            name = opener[: -len("open")] + "mapped"
        elif ops.endswith("vmops") or ops.endswith("_ops"):
            name = (ops[: -len("vmops")] if ops.endswith("vmops") else ops[: -len("ops")]) + "mapped"
        else:
            name = f"{handler}_mapped"
        if re.search(rb"\b" + name.encode() + rb"\b", self.data):
            raise Refusal(f"the name {name} for its vm_ops->mapped callback is taken")
        return name


# -- version tests inside a function ---------------------------------------------------------


def resolve_conditionals(data: bytes, start: int, end: int, versions: list[KernelVersion], build) -> tuple[bytes, list[int]]:
    """``data[start:end]`` with each conditional inside it that every one
    of ``versions`` decides alike reduced to its live branch (directive
    lines gone); others stay. Returns the text and, per line of it, its
    line number within the span (0-based)."""
    directives = scan(data)
    groups = [g for g in directives.groups if start <= g.branches[0].start and g.endif is not None and g.endif[1] <= end]
    if not groups:
        code = data[start:end]
        return code, list(range(code.count(b"\n") + 1))
    evaluations = [evaluate_file(directives, build.lookup(v)) for v in versions]
    dropped: list[tuple[int, int]] = []
    for g in groups:
        live = None
        for ev in evaluations:
            taken = [ev.taken[b] for b in g.branches]
            if any(t is UNKNOWN for t in taken):
                live = None
                break
            here = taken.index(True) if True in taken else -1
            if live is not None and live != here:
                live = None
                break
            live = here
        if live is None:
            continue
        for i, b in enumerate(g.branches):
            dropped.append((b.start, b.body))
            if i != live:
                dropped.append((b.body, b.end if b.end >= 0 else g.endif[0]))
        dropped.append(g.endif)
    keep = bytearray()
    lines: list[int] = []
    pos = start
    line_no = 0
    for line in data[start:end].split(b"\n"):
        line_end = pos + len(line)
        if not any(a <= pos and line_end < b or a <= pos < b and pos != line_end for a, b in dropped):
            keep += line + b"\n"
            lines.append(line_no)
        pos = line_end + 1
        line_no += 1
    code = bytes(keep[:-1]) if keep.endswith(b"\n") and not data[start:end].endswith(b"\n") else bytes(keep)
    return code, lines


# -- helpers ---------------------------------------------------------------------------------


def _guard_line(guard: KernelVersion, data: bytes) -> str:
    """The version test, spelled as the file already spells it."""
    m = re.search(
        rb"LINUX_VERSION_CODE\s*>=\s*KERNEL_VERSION\s*\(\s*"
        + str(guard.major).encode()
        + rb"\s*,\s*"
        + str(guard.minor).encode()
        + rb"\s*,\s*0\s*\)",
        data,
    )
    if m:
        return f"#if {m.group(0).decode()}"
    return f"#if LINUX_VERSION_CODE >= KERNEL_VERSION({guard.major}, {guard.minor}, 0)"


def _guarded(guard: KernelVersion, new: str, old: str, data: bytes) -> str:
    if not new.endswith("\n"):
        new += "\n"
    if not old.endswith("\n"):
        old += "\n"
    return f"{_guard_line(guard, data)}\n{new}#else\n{old}#endif\n"


def _realigned_gap(gap: str, old_end: int, new_end: int) -> str:
    """The white space between a member and its ``=`` after the member
    grew: reaching the same column where it still can, one separator else."""
    if not gap:
        return gap
    target = _column_after(old_end, gap)
    if "\t" in gap:
        out, col = "", new_end
        while col < target:
            out += "\t"
            col = (col // 8 + 1) * 8
        return out or "\t"
    return " " * max(1, target - new_end) if len(gap) > 1 else gap


def _member_line(data: bytes, first_pair: Node, member: str, value: str) -> str:
    """A new ``.member = value,`` line laid out as ``first_pair``'s."""
    start = data.rfind(b"\n", 0, first_pair.start_byte) + 1
    lead = data[start : first_pair.start_byte].decode("utf-8", "surrogateescape")
    designator = first_pair.child_by_field_name("designator")
    text_ = _member_text(data, _member_ident(first_pair), first_pair.child_by_field_name("value"), member, value)
    dot = data[designator.start_byte : _member_ident(first_pair).start_byte].decode("utf-8", "surrogateescape")
    return f"{lead}{dot}{text_},\n"


def _member_text(data: bytes, member: Node, value: Node, new_member: str, new_value: str) -> str:
    """``member = value`` renamed, with the white space on either side of
    its ``=`` so that the ``=`` and the value stay in their columns where
    they were aligned (``.mmap\t\t= foo`` and ``.mmap =\t\tfoo`` alike)."""
    eq = data.find(b"=", member.end_byte, value.start_byte)
    before = data[member.end_byte : eq].decode("utf-8", "surrogateescape")
    after = data[eq + 1 : value.start_byte].decode("utf-8", "surrogateescape")
    line_start = data.rfind(b"\n", 0, member.start_byte) + 1
    col = width(data[line_start : member.end_byte].decode("utf-8", "surrogateescape"))
    shift = len(new_member) - len(text(member))
    new_before = _realigned_gap(before, col, col + shift)
    eq_col, new_eq_col = _column_after(col, before), _column_after(col + shift, new_before)
    new_after = _realigned_gap(after, eq_col + 1, new_eq_col + 1)
    return f"{new_member}{new_before}={new_after}{new_value}"


def _column_after(col: int, gap: str) -> int:
    """The display column after ``gap`` starting at ``col``."""
    for ch in gap:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def _callback_params(field_type: str, file_name: str) -> list[str]:
    """The parameters of ``vm_operations_struct.mapped`` as the catalog
    declares them, the file named as the handler named it."""
    m = re.search(r"\(\s*\*\s*\)\s*\((.*)\)\s*$", field_type)
    params = [p.strip() for p in (m.group(1) if m else "").split(",") if p.strip()]
    return [re.sub(r"\bfile$", file_name, p) if "struct file" in p else p for p in params]


def _prototype(decl: Node, new: str, vma_index: int, handler: bool) -> str:
    d = next((n for n in walk(decl, {"function_declarator"})), None)
    if d is None:
        raise Refusal("a declaration of it is not a plain prototype", _line(decl))
    name = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters")
    params = [p for p in plist.named_children if p.type == "parameter_declaration"]
    base = decl.start_byte
    src = decl.text.decode("utf-8", "surrogateescape")

    def cut(a: int, b: int) -> str:
        return src[a - base : b - base]

    if handler:
        return (
            cut(base, name.start_byte)
            + new
            + cut(name.end_byte, plist.start_byte)
            + "(struct vm_area_desc *desc)"
            + cut(plist.end_byte, decl.end_byte)
        )
    if vma_index >= len(params):
        raise Refusal("a declaration of it has fewer parameters than its definition", _line(decl))
    p = params[vma_index]
    return (
        cut(base, name.start_byte) + new + cut(name.end_byte, p.start_byte) + "struct vm_area_desc *desc" + cut(p.end_byte, decl.end_byte)
    )


def _member_ident(node: Node) -> Node | None:
    if node.type == "initializer_pair":
        des = node.child_by_field_name("designator")
        ids = [c for c in des.named_children if c.type == "field_identifier"] if des is not None else []
        return ids[-1] if ids else None
    left = node.child_by_field_name("left")
    return left.child_by_field_name("field") if left is not None and left.type == "field_expression" else None


def _value_ident(node: Node) -> Node | None:
    value = node.child_by_field_name("value") if node.type == "initializer_pair" else node.child_by_field_name("right")
    if value is not None and value.type == "pointer_expression":
        value = value.child_by_field_name("argument")
    return value if value is not None and value.type == "identifier" else None


def _designated(pair: Node) -> str | None:
    if pair.type != "initializer_pair":
        return None
    ident = _member_ident(pair)
    return text(ident) if ident is not None else None


def _function_name(fn: Node) -> str | None:
    d = function_declarator(fn)
    return declarator_name(d.child_by_field_name("declarator")) if d is not None else None


def _param_names(fn: Node) -> list[str]:
    d = function_declarator(fn)
    plist = d.child_by_field_name("parameters") if d is not None else None
    return [
        declarator_name(p.child_by_field_name("declarator")) or ""
        for p in (plist.named_children if plist is not None else [])
        if p.type == "parameter_declaration"
    ]


def _enclosing_function(node: Node) -> Node | None:
    n = parent_of(node)
    while n is not None and n.type != "function_definition":
        n = parent_of(n)
    return n


def _who(name: str, handler: str) -> str:
    return "it " if name == handler else f"{name}(), which it hands the vma to, "


def _line(node: Node) -> int:
    return node.start_point[0] + 1


def _snippet(data: bytes, pos: int) -> str:
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return " ".join(data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").split())
