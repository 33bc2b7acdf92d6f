"""The edits that turn direct vm_flags writes into vm_flags_*() calls
(DAX301's fix), the way upstream converted them in v6.3 (bc292ab00f6c and
the rest of that series):

- ``|= X`` -> ``vm_flags_set(vma, X)``, ``&= ~X`` -> ``vm_flags_clear(vma,
  X)``, ``= (vma->vm_flags & ~A) | B`` -> ``vm_flags_mod(vma, B, A)``, ``=
  X`` -> ``vm_flags_reset(vma, X)`` (``vm_flags_init()`` for a vma nobody
  can see yet), ``WRITE_ONCE(vma->vm_flags, X)`` ->
  ``vm_flags_reset_once(vma, X)``; ``&= MASK`` with a mask the kernel
  renamed (``VM_LOCKED_CLEAR_MASK``) -> ``vm_flags_clear(vma,
  VM_LOCKED_MASK)``.
- Writes to the same vma in consecutive statements fold into one call where
  the result is the same: a clear then a set, or a set then a clear of other
  flags, into ``vm_flags_mod()``; sets into one ``vm_flags_set()``, clears
  into one ``vm_flags_clear()``; an assignment and a set or clear after it
  into the assigned value.
- Only the expression changes: the statement's indentation, its ``;``, the
  comments around it and the other lines stay; a flags argument that goes
  on over several lines keeps its lines, re-aligned when they were aligned
  with its first one.
- When the checked range reaches kernels before v6.3 the call must still
  build there: the file's compat shim for the wrapper is reused, else the
  lines are put under the file's own version test (or
  ``#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)``) with the old
  lines in the ``#else`` - or, with the "shim" style, one compat shim per
  wrapper goes after the file's includes. Flags the versions lack are
  replaced by what took their place, or the write is not fixed.
- Anything else - ``++``, a chained or nested assignment, a write inside a
  macro or spread over preprocessor branches, comments inside the replaced
  expression, the function the call would go to - gets no fix; a chained
  ``a = vma->vm_flags |= X;`` is split only as an unsafe fix.

Offsets are those of the file as written (views keep them), replacements
are taken from its bytes, not from the view the rules ran on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from daxlint.analysis.layout import alone_on_lines, indent_of, line_span, uses_crlf, with_line_ends
from daxlint.analysis.layout import indent as _indent
from daxlint.analysis.layout import preamble_pos as _preamble_pos
from daxlint.analysis.layout import realign as _realign
from daxlint.analysis.layout import width as _width
from daxlint.analysis.layout import wrapped as _wrapped
from daxlint.analysis.vmflags import (
    WRAPPERS_SINCE,
    VmFlagsModel,
    VmFlagsWrite,
    compat_pair,
    defines_macro,
    undecided_conftest,
    wrapper_guard,
)
from daxlint.core.build import compat_shims
from daxlint.core.catalog import api_history, catalog_for
from daxlint.core.directives import directive_matches, scan
from daxlint.core.includes import local_headers
from daxlint.core.syntax import function_name
from daxlint.model import SAFE, UNSAFE, Edit, Fix
from daxlint.version import VersionRange, predecessor

GUARD = "guard"
SHIM = "shim"
# The VMA flags bitmap helpers (v7.0; vma_clear_flags() v7.1):
# vma_start_write() and vma_set_flags() with bit numbers, where the whole
# checked range has them.
BITS = "bits"
FIX_STYLES = (GUARD, SHIM, BITS)
# Not a style: the write is the #else of a conftest macro nobody declared.
CONFTEST = "conftest"

_CONVERTED = ("vm_flags_set", "vm_flags_clear", "vm_flags_mod", "vm_flags_reset", "vm_flags_init", "vm_flags_reset_once")
_SHIM_BODIES = {
    "vm_flags_set": ("vm_flags_t flags", "vma->vm_flags |= flags;"),
    "vm_flags_clear": ("vm_flags_t flags", "vma->vm_flags &= ~flags;"),
    "vm_flags_mod": ("vm_flags_t set, vm_flags_t clear", "vma->vm_flags = (vma->vm_flags & ~clear) | set;"),
    "vm_flags_reset": ("vm_flags_t flags", "vma->vm_flags = flags;"),
    "vm_flags_init": ("vm_flags_t flags", "vma->vm_flags = flags;"),
    "vm_flags_reset_once": ("vm_flags_t flags", "WRITE_ONCE(vma->vm_flags, flags);"),
}
# Flags that are one bit of their own in every kernel (include/linux/mm.h):
# two lists of them that share no name share no bit. Composite names and
# the arch bits that alias each other (VM_ARCH_1, VM_PAT, VM_SAO, VM_STACK)
# are not here, so a fold never rests on them.
_BASIC_FLAGS = frozenset(
    "VM_READ VM_WRITE VM_EXEC VM_SHARED VM_MAYREAD VM_MAYWRITE VM_MAYEXEC VM_MAYSHARE VM_GROWSDOWN VM_UFFD_MISSING "
    "VM_PFNMAP VM_UFFD_WP VM_LOCKED VM_IO VM_SEQ_READ VM_RAND_READ VM_DONTCOPY VM_DONTEXPAND VM_LOCKONFAULT "
    "VM_ACCOUNT VM_NORESERVE VM_HUGETLB VM_SYNC VM_WIPEONFORK VM_DONTDUMP VM_SOFTDIRTY VM_MIXEDMAP VM_HUGEPAGE "
    "VM_NOHUGEPAGE VM_MERGEABLE".split()
)
_COMPOSITE_FLAGS = {"VM_LOCKED_MASK": ("VM_LOCKED", "VM_LOCKONFAULT")}
_FLAG_WORD = re.compile(r"\bVM_[A-Z0-9_]+\b")
_READS_FLAGS = re.compile(r"(?:->|\.)\s*(?:__)?vm_flags\b")
# Operators binding tighter than the one a term is joined with: such a term
# needs no parentheses. (C precedence, tightest first.)
_TIGHTER = {
    "|": frozenset({"*", "/", "%", "+", "-", "<<", ">>", "<", "<=", ">", ">=", "==", "!=", "&", "^"}),
    "^": frozenset({"*", "/", "%", "+", "-", "<<", ">>", "<", "<=", ">", ">=", "==", "!=", "&", "^"}),
    "&": frozenset({"*", "/", "%", "+", "-", "<<", ">>", "<", "<=", ">", ">=", "==", "!=", "&"}),
}
_PRIMARY = frozenset(
    {
        "identifier",
        "number_literal",
        "call_expression",
        "field_expression",
        "subscript_expression",
        "parenthesized_expression",
        "unary_expression",
        "char_literal",
        "sizeof_expression",
    }
)
_DIRECT_KINDS = ("direct", "pointer", "write_once")


# -- what one write becomes --------------------------------------------------------


@dataclass
class _Conversion:
    """One write as a wrapper call, with the pieces a fold needs."""

    write: VmFlagsWrite
    stmt: Node  # the expression statement holding the write
    wrapper: str
    vma: str
    args: list[Node | str]  # after the vma: nodes are copied from the file, strings as they are
    sets: list[str] | None = None  # for folds: |-terms set (after the clears)
    clears: list[str] | None = None  # |-terms cleared
    value: str | None = None  # for folds: an assigned value (reset/init)
    safety: str = SAFE
    why: str = ""  # why it is unsafe
    tail: str = ""  # a chained assignment's other half, as a statement after the call
    replaced: Node | None = None  # what the call replaces (the write, or the chained assignment)

    @property
    def foldable(self) -> bool:
        return not self.tail and self.write.kind == "direct" and self.write.field == "vm_flags" and self.safety == SAFE


@dataclass
class WriteFix:
    """What DAX301 says and offers for one write: the call it names, the
    fix in words and code, and the edits."""

    call: str
    text: str
    fix: Fix | None
    style: str = ""  # "", "guard" or "shim": how the fix builds before v6.3


class _Plans:
    def __init__(self, _source):
        self.by_key: dict = {}


def plan_fixes(model: VmFlagsModel, kernel, style: str = GUARD, abspath: str | None = None) -> dict[int, WriteFix]:
    """The fix of every direct write of the file that has one, by the
    write's first byte. Computed once per file, range and style.
    ``abspath``: where the file is, for the compat shims of the headers it
    includes beside it (a driver's compat.h)."""
    key = (str(kernel.whole_range), style)
    plans = model.source.shared(_Plans).by_key
    if key not in plans:
        included = _included_shims(kernel, abspath, model.source.original)
        plans[key] = _Planner(model, kernel.whole_range, style, included, kernel.build.macros.__contains__).plan()
    return plans[key]


def _included_shims(kernel, abspath: str | None, data: bytes) -> set[str]:
    """The wrappers that the headers ``data`` includes (its module's own,
    compat.h -> compat_mm.h) shim: a fix calls them as the file's own shims,
    and never adds a second one (a redefinition that breaks the build)."""
    out: set[str] = set()
    for header in local_headers(kernel, abspath, data):
        out |= {name for name, _, _ in compat_shims(header.data, _CONVERTED)} | _macro_shims(header.data)
    return out


class _Planner:
    def __init__(self, model: VmFlagsModel, checked: VersionRange, style: str, included_shims: set[str], decided):
        self.model = model
        self.decided = decided  # whether the build declares a macro (-D/-U, [macros])
        self.original = model.source.original
        self.checked = checked
        self.style = style if style in FIX_STYLES else GUARD
        # The catalog whose VMA_*_BIT numbers a bits fix names: the range's
        # first release, when every release of it has the bitmap.
        first = catalog_for(checked.first)
        self.bitmap = first if first.has_function("vma_set_flags") else None
        self.history = api_history()
        self.needs_wrappers = checked.first < WRAPPERS_SINCE
        # Where the new calls are compiled: from v6.3 on (under a guard), or
        # every checked version (a shim, or a range that starts at v6.3).
        self.guard_span = VersionRange(max(checked.first, WRAPPERS_SINCE), checked.last)
        self.own_shims = {name for name, _, _ in compat_shims(self.original, _CONVERTED)} | _macro_shims(self.original) | included_shims
        self.new_shims: set[str] = set()
        self.needs_version_h = False
        # A file with CRLF line ends gets them in the lines fixes add too.
        self.crlf = uses_crlf(self.original)

    # -- conversions ---------------------------------------------------------

    def convert(self, w: VmFlagsWrite, span: VersionRange) -> _Conversion | None:
        if w.kind not in _DIRECT_KINDS or getattr(w, "macro", None) is not None or w.function is None:
            return None
        if w.vma is None or not self.verbatim(w.node):
            return None
        stmt, tail, replaced, chained = w.node.parent, "", w.node, False
        if stmt is not None and stmt.type == "assignment_expression" and stmt.child_by_field_name("right") == w.node:
            split = self.split_chain(stmt, w)
            if split is None:
                return None
            tail, replaced, stmt, chained = split[0], stmt, stmt.parent, True
        # (A macro's body is never a statement here: tree-sitter keeps it as
        # text, so writes in #define bodies never reach this point.)
        if stmt is None or stmt.type != "expression_statement":
            return None
        conv = self.wrapper_call(w, stmt, span)
        if conv is None or function_name(w.function) == conv.wrapper:
            return None
        if not self.only_comments_kept(w, conv):
            return None
        conv.tail, conv.replaced = tail, replaced
        if chained:
            conv.safety, conv.why = UNSAFE, "it splits a chained assignment in two statements"
        elif w.field == "__vm_flags":
            conv.safety, conv.why = UNSAFE, "the code writes the private __vm_flags on purpose; the wrapper adds its lock assertion"
        return conv

    def wrapper_call(self, w: VmFlagsWrite, stmt: Node, span: VersionRange) -> _Conversion | None:
        vma = " ".join(self.model.vma_pointer_text(w).split())
        own = f"{' '.join(_text(w.vma).split())}{'.' if vma.startswith('&') else '->'}vm_flags"
        value = w.value
        if value is None:
            return None
        if w.kind == "write_once":
            # vm_flags_reset_once() went in v7.2 (vma_flags_reset_once()
            # takes a bitmap): where the span reaches it, vm_flags_reset(),
            # the same assertion without the WRITE_ONCE().
            once = self.history.functions["vm_flags_reset_once"].exists_in(span.last)
            return _Conversion(w, stmt, "vm_flags_reset_once" if once else "vm_flags_reset", vma, [_arg(value)])
        op = w.op
        if op == "|=":
            terms = _or_terms(value)
            return _Conversion(w, stmt, "vm_flags_set", vma, [_arg(value)], sets=terms, clears=[] if terms is not None else None)
        if op == "&=":
            cleared = _negated(value)
            if cleared is not None:
                terms = _or_terms(cleared)
                return _Conversion(w, stmt, "vm_flags_clear", vma, [_arg(cleared)], sets=[] if terms is not None else None, clears=terms)
            renamed = self.negated_mask(value, span)
            if renamed is not None:
                return _Conversion(w, stmt, "vm_flags_clear", vma, [renamed], sets=[], clears=[renamed])
            return _Conversion(w, stmt, "vm_flags_reset", vma, [f"{own} & {_operand(value, '&')}"])
        if op == "^=":
            return _Conversion(w, stmt, "vm_flags_reset", vma, [f"{own} ^ {_operand(value, '^')}"])
        if op != "=":
            return None
        terms = _or_nodes(value)
        if terms is not None and len(terms) > 1:
            own_terms = [t for t in terms if _reads_flags_of(t, w)]
            rest = [t for t in terms if not _reads_flags_of(t, w)]
            if len(own_terms) == 1 and rest and _single_line(rest):
                rest_text = [_text(t) for t in rest]
                mine = _strip_parens(own_terms[0])
                if mine is not None and mine.type == "field_expression":
                    return _Conversion(w, stmt, "vm_flags_set", vma, [" | ".join(rest_text)], sets=rest_text, clears=[])
                cleared = _masked_own(mine, w)
                if cleared is not None:
                    ct = _or_terms(cleared)
                    return _Conversion(w, stmt, "vm_flags_mod", vma, [" | ".join(rest_text), _arg(cleared)], sets=rest_text, clears=ct)
        cleared = _masked_own(_strip_parens(value), w)
        if cleared is not None:
            ct = _or_terms(cleared)
            return _Conversion(w, stmt, "vm_flags_clear", vma, [_arg(cleared)], sets=[] if ct is not None else None, clears=ct)
        wrapper = "vm_flags_init" if self.model.is_private_vma(w) else "vm_flags_reset"
        single = _text(_strip_parens(value) or value)
        foldable_value = single if "\n" not in single and not _READS_FLAGS.search(single) and not _has_comment(single) else None
        return _Conversion(w, stmt, wrapper, vma, [_arg(value)], value=foldable_value)

    def negated_mask(self, value: Node, span: VersionRange) -> str | None:
        """``Y`` for a mask the kernel replaced by ``~Y`` (VM_LOCKED_CLEAR_MASK
        -> ~VM_LOCKED_MASK) where the versions lack the mask."""
        v = _strip_parens(value)
        if v is None or v.type != "identifier":
            return None
        life = self.history.macros.get(_text(v))
        if life is None or not life.replaced_by or defines_macro(self.original, _text(v)):
            return None
        if life.exists_in(span.first) and life.exists_in(span.last):
            return None
        m = re.fullmatch(r"~\s*([A-Z0-9_]+)", life.replaced_by.strip())
        return m.group(1) if m else None

    def split_chain(self, outer: Node, w: VmFlagsWrite) -> tuple[str] | None:
        """``a->vm_flags = vma->vm_flags |= X;`` as ``vm_flags_set(vma, X);``
        and ``a->vm_flags = vma->vm_flags;`` - only when ``a`` is a plain
        lvalue and the statement sits in a block of its own."""
        op = outer.child_by_field_name("operator")
        left = outer.child_by_field_name("left")
        stmt = outer.parent
        if op is None or _text(op) != "=" or left is None or not _plain_lvalue(left):
            return None
        if stmt is None or stmt.type != "expression_statement" or stmt.parent is None or stmt.parent.type != "compound_statement":
            return None
        if not alone_on_lines(self.original, stmt) or not self.verbatim(outer):
            return None
        vma = self.model.vma_pointer_text(w)
        own = f"{' '.join(_text(w.vma).split())}{'.' if vma.startswith('&') else '->'}vm_flags"
        return (f"{' '.join(_text(left).split())} = {own}",)

    def verbatim(self, node: Node) -> bool:
        """Whether the file's bytes at ``node`` are what the rules saw (no
        preprocessor branch blanked inside it)."""
        return (node.text or b"") == self.original[node.start_byte : node.end_byte]

    def only_comments_kept(self, w: VmFlagsWrite, conv: _Conversion) -> bool:
        """The parts of the write the call does not keep hold no comment or
        directive (they would be lost)."""
        kept = [a for a in conv.args if isinstance(a, Node)] + [w.vma]
        data = self.original
        pos, dropped = w.node.start_byte, []
        for n in sorted((k for k in kept if k is not None), key=lambda k: k.start_byte):
            if n.start_byte >= pos:
                dropped.append(data[pos : n.start_byte])
                pos = max(pos, n.end_byte)
        dropped.append(data[pos : w.node.end_byte])
        gone = b"".join(dropped)
        return b"/*" not in gone and b"//" not in gone and b"#" not in gone

    # -- folds and runs ------------------------------------------------------

    def units(self, convs: list[_Conversion]) -> list[list[_Conversion]]:
        """Consecutive convertible writes to the same vma, folded where the
        result is the same, as lists of conversions (one call each)."""
        out: list[list[_Conversion]] = []
        for c in convs:
            if out and self.folds(out[-1], c):
                out[-1].append(c)
            else:
                out.append([c])
        return out

    def folds(self, unit: list[_Conversion], nxt: _Conversion) -> bool:
        last = unit[-1]
        if not (last.foldable and nxt.foldable) or last.vma != nxt.vma or not _simple_vma(last.write.vma):
            return False
        if last.stmt.next_named_sibling != nxt.stmt or nxt.stmt.start_point[0] != last.stmt.end_point[0] + 1:
            return False
        if not (alone_on_lines(self.original, last.stmt) and alone_on_lines(self.original, nxt.stmt)):
            return False
        if any(c.stmt.start_point[0] != c.stmt.end_point[0] for c in (last, nxt)):
            return False  # a write laid out over several lines keeps its layout
        folded = _fold(unit + [nxt])
        return folded is not None

    def runs(self, units: list[list[_Conversion]]) -> list[list[list[_Conversion]]]:
        """Units on adjacent lines, put under one version guard together."""
        out: list[list[list[_Conversion]]] = []
        for u in units:
            first, _ = self.region_rows(u)
            if out and first <= self.region_rows(out[-1][-1])[1] + 1 and _safety(u) == _safety(out[-1][-1]):
                out[-1].append(u)
            else:
                out.append([u])
        return out

    def region_rows(self, unit: list[_Conversion]) -> tuple[int, int]:
        """First and last line (0-based) a guard around ``unit`` covers."""
        nodes = [_guarded_node(c.stmt) for c in unit]
        return min(n.start_point[0] for n in nodes), max(n.end_point[0] for n in nodes)

    # -- edits ------------------------------------------------------------------

    def plain_edits(self, unit: list[_Conversion]) -> list[Edit]:
        """The call in place of the first write, the other writes' lines gone."""
        first = unit[0]
        data = self.original
        if len(unit) == 1:
            code = self.render(first)
        else:
            wrapper, args = _fold(unit)
            code = _wrapped(wrapper, [first.vma, *args], indent_of(data, first.stmt.start_byte))
        target = first.replaced or first.write.node
        if first.tail:
            indent = indent_of(data, first.stmt.start_byte)
            code = f"{code};\n{indent}{first.tail}"
        edits = [Edit(target.start_byte, target.end_byte, code)]
        for c in unit[1:]:
            start, end = line_span(data, c.stmt.start_byte, c.stmt.end_byte)
            edits.append(Edit(start, end, ""))
        return edits

    def bits_code(self, unit: list[_Conversion]) -> str | None:
        """The unit as the bitmap API writes it - ``vma_start_write(vma);``
        then ``vma_set_flags()`` / ``vma_clear_flags()`` with bit numbers -
        when it sets and clears flags that each have a bit number, and is a
        statement of its own in a block (two statements go in its place)."""
        first = unit[0]
        stmt = first.stmt
        if stmt.parent is None or stmt.parent.type != "compound_statement" or not alone_on_lines(self.original, stmt):
            return None
        sets: list[str] = []
        clears: list[str] = []
        for c in unit:
            if c.sets is None or c.clears is None or c.value is not None or c.tail or c.safety != SAFE:
                return None
            sets += [t for t in c.sets if t not in sets]
            clears += [t for t in c.clears if t not in clears]
        names = {t: f"VMA_{t[3:]}_BIT" for t in sets + clears}
        if not names or any(not t.startswith("VM_") or n not in self.bitmap.constants for t, n in names.items()):
            return None
        if clears and not self.bitmap.has_function("vma_clear_flags"):
            return None  # v7.0 sets by bit number but clears only through the wrappers (vma_clear_flags() is v7.1)
        indent = indent_of(self.original, stmt.start_byte)
        code = f"vma_start_write({first.vma})"
        if sets:
            code += f";\n{indent}vma_set_flags({first.vma}, {', '.join(names[t] for t in sets)})"
        if clears:
            code += f";\n{indent}vma_clear_flags({first.vma}, {', '.join(names[t] for t in clears)})"
        return code

    def bits_edits(self, unit: list[_Conversion]) -> list[Edit]:
        """bits_code() in place of the first write, the others' lines gone."""
        edits = [Edit(unit[0].write.node.start_byte, unit[0].write.node.end_byte, self.bits_code(unit))]
        for c in unit[1:]:
            start, end = line_span(self.original, c.stmt.start_byte, c.stmt.end_byte)
            edits.append(Edit(start, end, ""))
        return edits

    def render(self, conv: _Conversion) -> str:
        """The call for one write: arguments copied from the file, lines of
        an argument that were aligned with its first one aligned again."""
        data = self.original
        node = conv.write.node
        line_start = data.rfind(b"\n", 0, node.start_byte) + 1
        prefix = data[line_start : node.start_byte].decode("utf-8", "replace")
        out = f"{conv.wrapper}({conv.vma}"
        paren = _width(prefix) + len(conv.wrapper)
        for i, a in enumerate(conv.args):
            out += ","
            broken = i == 0 and isinstance(a, Node) and self.break_before(conv, a)
            if broken:
                # The value began a line of its own: it still does, aligned
                # with the new parenthesis when it was with the old one.
                arg_line = data.rfind(b"\n", 0, a.start_byte) + 1
                ws = data[arg_line : a.start_byte].decode("utf-8", "replace")
                old_paren = _width(prefix) + (len("WRITE_ONCE") if conv.write.kind == "write_once" else -1)
                out += "\n" + (_indent(paren + 1, ws) if _width(ws) == old_paren + 1 else ws)
            else:
                out += " "
            if isinstance(a, str):
                out += a
                continue
            arg = _text(a)
            if "\n" in arg:
                arg_line = data.rfind(b"\n", 0, a.start_byte) + 1
                old_col = _width(data[arg_line : a.start_byte].decode("utf-8", "replace"))
                new_col = _width(out.rsplit("\n", 1)[-1] if "\n" in out else prefix + out)
                arg = _realign(arg, old_col, new_col)
            out += arg
        return out + ")"

    def break_before(self, conv: _Conversion, value: Node) -> bool:
        """Whether the write had a line break between the field and its value."""
        w = conv.write
        anchor = w.vma.end_byte if w.vma is not None else w.node.start_byte
        gap = self.original[anchor : value.start_byte]
        return b"\n" in gap and self.original[self.original.rfind(b"\n", 0, value.start_byte) + 1 : value.start_byte].strip() == b""

    def guarded_edit(self, run: list[list[_Conversion]], guard: str) -> Edit | None:
        """The run's lines twice: with the calls under ``guard``, as they
        were under ``#else``."""
        data = self.original
        stmts = [_guarded_node(c.stmt) for u in run for c in u]
        start, end = line_span(data, min(s.start_byte for s in stmts), max(s.end_byte for s in stmts))
        region = data[start:end].decode("utf-8", "surrogateescape")
        # str.splitlines() on purpose: it ends lines wherever gcc does (LF,
        # CR, CRLF) and more, so it finds every directive gcc would see.
        if any(line.lstrip().startswith("#") for line in region.splitlines()) or region.rstrip("\n").endswith("\\"):
            return None
        edits = sorted((e for u in run for e in self.plain_edits(u)), key=lambda e: e.start, reverse=True)
        new = data[start:end]
        for e in edits:
            new = new[: e.start - start] + e.replacement.encode("utf-8", "surrogateescape") + new[e.end - start :]
        fixed = new.decode("utf-8", "surrogateescape")
        region = self.old_side(region)
        if not region.endswith("\n"):
            region += "\n"
            fixed += "\n"
        return self.joined_edit(start, end, fixed, region, guard) or Edit(start, end, f"{guard}\n{fixed}#else\n{region}#endif\n")

    def joined_edit(self, start: int, end: int, fixed: str, old: str, guard: str) -> Edit | None:
        """The run's lines ``start``..``end`` put into the block of ``guard``
        the file has right above or right below them - the new lines in its
        first branch, the old ones in its ``#else`` - rather than in a twin
        block beside it. Only a block of whole statements: its branches'
        braces and parentheses balance and end a statement."""
        data = self.original
        for group in _groups_testing(scan(data).groups, guard):
            if group.endif is None or len(group.branches) > 2 or (len(group.branches) == 2 and group.branches[1].kind != "else"):
                continue
            first, other = group.branches[0], group.branches[1] if len(group.branches) == 2 else None
            bodies = [data[b.body : b.end] for b in group.branches]
            if not all(_whole_statements(b) for b in bodies):
                continue
            if_line = data[first.start : first.body].decode("utf-8", "surrogateescape")
            else_line = data[other.start : other.body].decode("utf-8", "surrogateescape") if other else "#else\n"
            endif_line = data[group.endif[0] : group.endif[1]].decode("utf-8", "surrogateescape")
            new_body, old_body = (b.decode("utf-8", "surrogateescape") for b in (bodies + [b""])[:2])
            if not endif_line.endswith("\n"):
                endif_line += "\n"
            if group.endif[1] == start:  # the block ends where the run starts
                return Edit(first.start, end, f"{if_line}{new_body}{fixed}{else_line}{old_body}{old}{endif_line}")
            if first.start == end:  # the run ends where the block starts
                return Edit(start, group.endif[1], f"{if_line}{fixed}{new_body}{else_line}{old}{old_body}{endif_line}")
        return None

    def old_side(self, code: str) -> str:
        """``code`` as the ``#else`` of a guarded fix keeps it, for the
        kernels of the range before v6.3: a flag they lack (VM_RESERVED,
        gone since v3.7) is replaced by what took its place; left as it is
        where no name exists on all of them."""
        span = VersionRange(self.checked.first, predecessor(WRAPPERS_SINCE))
        return self.existing_flags(code, span) or code

    def preamble(self, first_use: int) -> list[Edit]:
        """``#include <linux/version.h>`` (after the file's last
        ``<linux/...>`` include) and the new compat shims (after its
        includes), when the fixes need them."""
        include = self.needs_version_h and b"LINUX_VERSION_CODE" not in self.original and b"linux/version.h" not in self.original
        shims = [n for n in _CONVERTED if n in self.new_shims]
        if not include and not shims:
            return []
        data = self.original
        pos, at_top = _preamble_pos(data, first_use, linux_only=False)
        inc_pos = _preamble_pos(data, first_use, linux_only=True)[0] if include else pos
        edits = []
        if include and inc_pos != pos:
            edits.append(Edit(inc_pos, inc_pos, "#include <linux/version.h>\n"))
            include = False
        text = "#include <linux/version.h>\n" if include else ""
        if shims:
            text += ("\n" if text or not at_top else "") + _shim_text(shims)
            if at_top and data[pos : pos + 1] not in (b"\n", b"\r"):
                text += "\n"
        edits.append(Edit(pos, pos, text))
        return edits

    # -- the plan -----------------------------------------------------------------

    def plan(self) -> dict[int, WriteFix]:
        writes = [w for w in self.model.writes if w.is_direct]
        if not writes:
            return {}
        # Plain calls build on every checked version (>= v6.3, or a shim); a
        # guarded call only from v6.3 on.
        plain_span = self.checked if not self.needs_wrappers else self.guard_span
        convs = []
        for w in writes:
            c = self.convert(w, plain_span)
            if c is not None and self.flags_ok(c, plain_span):
                convs.append(c)
        out: dict[int, WriteFix] = {}
        groups = scan(self.original).groups
        for c in list(convs):
            macro = undecided_conftest(groups, self.original, c.stmt.start_byte, self.decided)
            declare = (macro, ">=6.3") if macro is not None else compat_pair(self.model.source.data, c.write, self.model.writes)
            if declare is not None:
                convs.remove(c)
                call = _squash(self.render(c))
                out[c.write.node.start_byte] = WriteFix(call, declare_hint(*declare), None, CONFTEST)
        units = self.units(convs)
        guard = wrapper_guard(self.original, self.decided)
        pending: list[tuple[list[list[_Conversion]], str]] = []  # (run, style)
        if self.style == BITS and self.bitmap is not None:
            pending = [([u], BITS if self.bits_code(u) is not None else "") for u in units]
        elif not self.needs_wrappers:
            pending = [([u], "") for u in units]
        else:
            plain, guarded = [], []
            for u in units:
                wrapper = _fold(u)[0] if len(u) > 1 else u[0].wrapper
                if wrapper in self.own_shims and self.shim_flags_ok(u):
                    plain.append(([u], ""))
                elif self.style == SHIM and self.shim_flags_ok(u):
                    self.new_shims.add(wrapper)
                    self.needs_version_h = True
                    plain.append(([u], SHIM))
                else:
                    guarded.append(u)
            pending = plain + [(run, GUARD) for run in self.runs(guarded)]
            if guarded and guard.startswith("#if LINUX"):
                self.needs_version_h = True
        first_use = min(c.stmt.start_byte for c in convs) if convs else 0
        preamble = self.line_ends(self.preamble(first_use))
        for run, style in pending:
            self.describe(out, run, style, guard, preamble)
        return out

    def describe(self, out: dict[int, WriteFix], run: list[list[_Conversion]], style: str, guard: str, preamble: tuple[Edit, ...]) -> None:
        """Record the fix of every write of ``run``."""
        members = [c for u in run for c in u]
        if style == GUARD and any(_under_other_branch(self.original, c.stmt.start_byte, guard) for c in members):
            # Already the old side of this very test (a conftest macro
            # daxlint cannot decide): another guard would change nothing.
            for c in members:
                out[c.write.node.start_byte] = self.unfixed(c, guard)
            return
        if style == GUARD:
            edit = self.guarded_edit(run, guard)
            if edit is None:
                for c in members:
                    out[c.write.node.start_byte] = self.unfixed(c, guard)
                return
            edits = [edit]
        elif style == BITS:
            edits = [e for u in run for e in self.bits_edits(u)]
        else:
            edits = [e for u in run for e in self.plain_edits(u)]
        with_preamble = bool(preamble) and (style == SHIM or (style == GUARD and guard.startswith("#if LINUX")))
        if with_preamble:
            edits.extend(preamble)
        if style == BITS:
            calls = [_squash(self.bits_code(u).replace(";\n", "; ")) for u in run]
        else:
            calls = [_squash(self.render(u[0]) if len(u) == 1 else _fold_code(u)) for u in run]
        lines = sorted({c.write.node.start_point[0] + 1 for c in members})
        what = " and ".join(calls)
        if len(members) > 1:
            where = f"lines {lines[0]}-{lines[-1]}" if len(lines) > 1 else f"line {lines[0]}"
            desc = f"Replace the writes on {where} with {what}"
        else:
            desc = f"Replace the direct write with {what}"
        if style == GUARD:
            desc += f" under '{guard}', keeping the write for older kernels"
        elif style == SHIM:
            desc += " (with a compat shim for kernels before v6.3)"
        elif style == BITS:
            desc += " (the VMA flags bitmap, v7.0+)"
        unsafe = [c for c in members if c.safety != SAFE]
        safety = UNSAFE if unsafe else SAFE
        if unsafe:
            desc += f": unsafe, {unsafe[0].why}"
        # The fold's edits go on its first write's finding; the others point
        # to it (part_of), so that the fixes weigh what the file does.
        positions = [(m.write.node.start_point[0] + 1, m.write.node.start_point[1] + 1) for m in members]
        edits = self.line_ends(edits)
        for c, at in zip(members, positions):
            alone = None
            if len(members) > 1 and style != BITS:
                alone_run = [[c]]
                alone_edits = [self.guarded_edit(alone_run, guard)] if style == GUARD else self.plain_edits([c])
                if None not in alone_edits:
                    if with_preamble:
                        alone_edits = alone_edits + list(preamble)
                    alone = Fix(self.alone_description(c, style, guard), UNSAFE if c.safety != SAFE else SAFE, self.line_ends(alone_edits))
            if at == positions[0]:
                fix = Fix(desc, safety, edits, tuple(positions[1:]), alone)
            else:
                part = f"Part of the fix of line {positions[0][0]} ({len(members)} writes in one change)"
                fix = Fix(part, safety, (), (), alone, part_of=positions[0])
            call = _squash(self.render(c)) if style != BITS else calls[0]
            out[c.write.node.start_byte] = WriteFix(call, self.fix_text(c, call, style, guard), fix, style)

    def line_ends(self, edits: list[Edit]) -> tuple[Edit, ...]:
        """The edits with the file's own line ends."""
        return with_line_ends(edits, self.crlf)

    def alone_description(self, c: _Conversion, style: str, guard: str) -> str:
        desc = f"Replace the direct write with {_squash(self.render(c))}"
        if style == GUARD:
            desc += f" under '{guard}', keeping the write for older kernels"
        elif style == SHIM:
            desc += " (with a compat shim for kernels before v6.3)"
        return desc

    def fix_text(self, c: _Conversion, call: str, style: str, guard: str) -> str:
        """The fix in code, as text reports show it."""
        if c.tail:
            call = f"{call}; {c.tail}"
        if style == GUARD:
            return f"{guard}\n\t{call};\n#else\n\t{self.old_side(_squash_node(c.replaced or c.write.node))};\n#endif"
        return call

    def unfixed(self, c: _Conversion, guard: str) -> WriteFix:
        call = _squash(self.render(c))
        return WriteFix(call, self.fix_text(c, call, GUARD, guard), None, GUARD)

    # -- flags the versions have -----------------------------------------------

    def flags_ok(self, conv: _Conversion, span: VersionRange) -> bool:
        """Whether every flag the call names exists over ``span`` (flags a
        release renamed are replaced in place by what took their place)."""
        new_args: list[Node | str] = []
        for a in conv.args:
            t = _text(a) if isinstance(a, Node) else a
            fixed = self.existing_flags(t, span)
            if fixed is None:
                return False
            new_args.append(a if fixed == t else fixed)
        conv.args = new_args
        for attr in ("sets", "clears"):
            terms = getattr(conv, attr)
            if terms is not None:
                fixed_terms = [self.existing_flags(t, span) for t in terms]
                setattr(conv, attr, None if None in fixed_terms else fixed_terms)
        if conv.value is not None:
            conv.value = self.existing_flags(conv.value, span)
        return True

    def shim_flags_ok(self, unit: list[_Conversion]) -> bool:
        """A shimmed call is compiled on every checked version: its flags
        must exist on all of them."""
        code = _fold_code(unit) if len(unit) > 1 else self.render(unit[0])
        return self.existing_flags(code, self.checked) == code

    def existing_flags(self, code: str, span: VersionRange) -> str | None:
        """``code`` with flags missing somewhere in ``span`` replaced by what
        took their place (when that exists over the whole span); None when
        a flag cannot be named on every version of it."""
        missing = False

        def replace(m: re.Match) -> str:
            nonlocal missing
            name = m.group(0)
            life = self.history.macros.get(name)
            if life is None or (life.exists_in(span.first) and life.exists_in(span.last)) or defines_macro(self.original, name):
                return name
            repl = life.replaced_by
            names = _FLAG_WORD.findall(repl or "")
            lives = [self.history.macros.get(n) for n in names]
            if not repl or any(lf is not None and not (lf.exists_in(span.first) and lf.exists_in(span.last)) for lf in lives):
                missing = True
                return name
            before = code[: m.start()].rstrip()[-1:]
            after = code[m.end() :].lstrip()[:1]
            bare = before in ("|", ",", "(", "") and after in ("|", ",", ")", ";", "")
            return repl if bare or "|" not in repl else f"({repl})"

        out = _FLAG_WORD.sub(replace, code)
        return None if missing else out


# -- folding ---------------------------------------------------------------------------


def _fold(unit: list[_Conversion]) -> tuple[str, list[str]] | None:
    """(wrapper, arguments after the vma) of one call doing what the
    writes of ``unit`` do in order, or None when no call can."""
    value: str | None = None
    sets: list[str] = []
    clears: list[str] = []
    for i, c in enumerate(unit):
        if c.value is not None and i == 0:
            value, assign = c.value, c.wrapper
            continue
        if c.sets is None or c.clears is None or c.value is not None:
            return None
        if any(_READS_FLAGS.search(t) for t in c.sets + c.clears):
            return None
        if value is not None:
            if c.sets and c.clears:
                return None
            if c.clears:
                value = f"{_paren_term(value, '&')} & ~{_paren_list(c.clears)}"
            else:
                value = f"{_paren_term(value, '|')} | {' | '.join(c.sets)}"
            continue
        if sets and c.clears and not _disjoint(sets, c.clears):
            return None  # the later clear would take back what was set
        sets += [t for t in c.sets if t not in sets]
        clears += [t for t in c.clears if t not in clears]
    if value is not None:
        return (assign, [value]) if len(unit) > 1 else None
    if sets and clears:
        return "vm_flags_mod", [" | ".join(sets), " | ".join(clears)]
    if sets:
        return "vm_flags_set", [" | ".join(sets)]
    if clears:
        return "vm_flags_clear", [" | ".join(clears)]
    return None


def declare_hint(macro: str, versions: str) -> str:
    return (
        f'say what your build\'s conftest decides: [macros] {macro} = "{versions}" in .daxlint.toml '
        f"(or -D {macro} / -U {macro} for one build), and this branch is judged only where it is compiled"
    )


def _under_other_branch(data: bytes, pos: int, guard: str) -> bool:
    """Whether ``pos`` is in a later branch of a conditional whose first
    branch tests ``guard`` (``#ifdef HAVE_VM_FLAGS_SET ... #else <pos>``)."""
    return any(
        b.body <= pos < (b.end if b.end >= 0 else len(data))
        for group in _groups_testing(scan(data).groups, guard)
        for b in group.branches[1:]
    )


def _groups_testing(groups, guard: str) -> list:
    """The conditionals among ``groups`` whose first branch is the directive
    ``guard`` (white space aside)."""
    m = re.match(r"#\s*(\w+)\s+(.*)", guard)
    if not m:
        return []
    kind, expr = m.group(1), "".join(m.group(2).split())
    return [g for g in groups if g.branches[0].kind == kind and "".join(g.branches[0].expr.split()) == expr]


_COMMENT_OR_LITERAL = re.compile(rb'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def _whole_statements(code: bytes) -> bool:
    """Whether ``code`` (a branch of a conditional) is whole statements:
    braces and parentheses balance and the last line ends one (or there is
    no code) - not half a function's header or an ``if`` without its body."""
    bare = _COMMENT_OR_LITERAL.sub(b" ", code)
    if bare.count(b"{") != bare.count(b"}") or bare.count(b"(") != bare.count(b")"):
        return False
    last = bare.rstrip()
    return not last or last.endswith((b";", b"}"))


def _safety(unit: list[_Conversion]) -> str:
    return UNSAFE if any(c.safety != SAFE for c in unit) else SAFE


_MAX_UNBRACED = 4  # if (a) for (...) if (b) x; - deeper chains keep the guard at the statement


def _guarded_node(stmt: Node) -> Node:
    """What a version guard around ``stmt`` covers: the statement, or the
    ``if``/loop whose unbraced body it is (so that no ``#if`` comes between
    ``if (x)`` and its body)."""
    n = stmt
    for _ in range(_MAX_UNBRACED):
        parent = n.parent
        if parent is None or parent.type not in ("if_statement", "for_statement", "while_statement"):
            break
        body = parent.child_by_field_name("consequence") or parent.child_by_field_name("body")
        if body != n or parent.child_by_field_name("alternative") is not None:
            break
        n = parent
    return n


def _fold_code(unit: list[_Conversion]) -> str:
    wrapper, args = _fold(unit)
    return f"{wrapper}({unit[0].vma}, {', '.join(args)})"


def _disjoint(a: list[str], b: list[str]) -> bool:
    """Whether two lists of flags provably share no bit."""
    bits_a, bits_b = _bits(a), _bits(b)
    return bits_a is not None and bits_b is not None and not (bits_a & bits_b)


def _bits(terms: list[str]) -> set[str] | None:
    out: set[str] = set()
    for t in terms:
        t = t.strip()
        if t in _BASIC_FLAGS:
            out.add(t)
        elif t in _COMPOSITE_FLAGS:
            out.update(_COMPOSITE_FLAGS[t])
        else:
            return None
    return out


def _paren_list(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else f"({' | '.join(terms)})"


def _paren_term(value: str, op: str) -> str:
    """``value`` as an operand of ``op``: in parentheses unless it is a name."""
    return value if re.fullmatch(r"[A-Za-z_]\w*", value.strip()) else f"({value})"


# -- shims and where they go ----------------------------------------------------------------


def _shim_text(names: list[str]) -> str:
    out = ["/* The vm_flags_*() wrappers for kernels before v6.3 (bc292ab00f6c). */"]
    for name in names:
        params, body = _SHIM_BODIES[name]
        guard = f"HAVE_COMPAT_{name.upper()}"
        out += [
            f"#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0) && !defined({guard})",
            f"#define {guard}",
            f"static inline void {name}(struct vm_area_struct *vma, {params})",
            "{",
            f"\t{body}",
            "}",
            "#endif",
        ]
    return "\n".join(out) + "\n"


_MACRO_SHIM = re.compile(rb"#[ \t]*define[ \t]+(vm_flags_(?:set|clear|mod|reset|init|reset_once))\b")


def _macro_shims(data: bytes) -> set[str]:
    """Wrappers the file defines as macros (``#define vm_flags_set(v, f) ...``)."""
    return {m.group(1).decode() for _, m in directive_matches(_MACRO_SHIM, data)} if b"define" in data else set()


# -- syntax helpers ---------------------------------------------------------------------------


def _text(node) -> str:
    if isinstance(node, str):
        return node
    return (node.text or b"").decode("utf-8", "surrogateescape") if node is not None else ""


def _squash(code: str) -> str:
    return " ".join(code.split())


def _squash_node(node: Node) -> str:
    return _squash(_text(node))


def _has_comment(code: str) -> bool:
    return "/*" in code or "//" in code


def _strip_parens(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression":
        inner = [c for c in node.named_children if c.type != "comment"]
        if len(inner) != 1 or inner[0].type == "comma_expression":
            return node
        node = inner[0]
    return node


def _arg(node: Node) -> Node:
    """A value as a call argument: its outer parentheses are not needed."""
    inner = _strip_parens(node)
    if inner is None:
        return node
    if any(c.type == "comment" for c in (node.named_children if node.type == "parenthesized_expression" else [])):
        return node
    return inner


def _negated(node: Node) -> Node | None:
    n = _strip_parens(node)
    if n is not None and n.type == "unary_expression":
        op = n.child_by_field_name("operator")
        if op is not None and _text(op) == "~":
            return n.child_by_field_name("argument")
    return None


def _binary_op(node: Node | None) -> str | None:
    if node is None or node.type != "binary_expression":
        return None
    op = node.child_by_field_name("operator")
    return _text(op) if op is not None else None


def _or_nodes(node: Node | None) -> list[Node] | None:
    """The |-terms of an expression, through parentheses (iteratively: a
    generated file may chain thousands of them)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        n = _strip_parens(stack.pop())
        if n is None:
            return None
        if _binary_op(n) == "|":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is None or right is None:
                return None
            stack += [right, left]
        else:
            out.append(n)
    return out


def _or_terms(node: Node | None) -> list[str] | None:
    """The |-terms as text, when each is on one line, holds no comment and
    can be joined with others by ``|`` as it is."""
    nodes = _or_nodes(node)
    if nodes is None or _has_comment(_text(node)):
        return None
    out = []
    for n in nodes:
        t = _text(n)
        if "\n" in t or _has_comment(t):
            return None
        op = _binary_op(n)
        if n.type not in _PRIMARY and not (op is not None and op in _TIGHTER["|"]):
            return None
        out.append(t)
    return out


def _single_line(nodes: list[Node]) -> bool:
    return all("\n" not in _text(n) and not _has_comment(_text(n)) for n in nodes)


def _operand(node: Node, op: str) -> str:
    """``node`` as the right operand of ``op``, parenthesized when needed."""
    inner = _strip_parens(node) or node
    t = _text(node)
    inner_op = _binary_op(inner)
    if inner.type in _PRIMARY or (inner_op is not None and inner_op in _TIGHTER[op]):
        return t
    return f"({t})"


def _reads_flags_of(node: Node | None, w: VmFlagsWrite) -> bool:
    """``node`` reads the written vma's own flags (``vma->vm_flags``, maybe masked)."""
    n = _strip_parens(node)
    if n is None:
        return False
    if n.type == "field_expression":
        fld = n.child_by_field_name("field")
        base = n.child_by_field_name("argument")
        return fld is not None and _text(fld) in ("vm_flags", "__vm_flags") and _squash_node(base) == _squash_node(w.vma)
    if _binary_op(n) == "&":
        return _reads_flags_of(n.child_by_field_name("left"), w)
    return False


def _masked_own(node: Node | None, w: VmFlagsWrite) -> Node | None:
    """X when ``node`` is ``vma->vm_flags & ~X``."""
    if _binary_op(node) != "&":
        return None
    left = _strip_parens(node.child_by_field_name("left"))
    if left is None or left.type != "field_expression" or not _reads_flags_of(left, w):
        return None
    return _negated(node.child_by_field_name("right"))


def _plain_lvalue(node: Node) -> bool:
    """A name or a chain of ``->``/``.`` fields of a name: no call, no side effect."""
    n = node
    while n is not None and n.type == "field_expression":
        n = n.child_by_field_name("argument")
    return n is not None and n.type == "identifier"


def _simple_vma(node: Node | None) -> bool:
    n = _strip_parens(node)
    if n is not None and n.type == "pointer_expression" and _text(n).startswith("&"):
        n = n.child_by_field_name("argument")
    return n is not None and _plain_lvalue(n)


# -- dropping a flag (DAX305) -------------------------------------------------------------


def drop_flag_fix(model: VmFlagsModel, w: VmFlagsWrite, flag: str, description: str, safety: str = UNSAFE) -> Fix | None:
    """Edits that take ``flag`` out of what ``w`` sets: the ``| FLAG`` term
    of its value, or the whole statement when the flag is all it sets (a
    set on its own lines in a block). None for any other shape (a flag
    chosen by ``?:``, a mod, a value spread over preprocessor branches)."""
    data = model.source.original
    value = w.value
    if value is None or (w.kind == "wrapper" and w.op not in ("vm_flags_set", "vm_flags_reset", "vm_flags_init")):
        return None
    if w.kind != "wrapper" and w.op not in ("|=", "="):
        return None
    terms = _or_nodes(value)
    if terms is None or (value.text or b"") != data[value.start_byte : value.end_byte]:
        return None
    hits = [i for i, t in enumerate(terms) if t.type == "identifier" and _text(t) == flag]
    if len(hits) != 1:
        return None
    i = hits[0]
    if len(terms) == 1:
        stmt = w.node.parent
        if w.op not in ("|=", "vm_flags_set") or stmt is None or stmt.type != "expression_statement":
            return None
        if stmt.parent is None or stmt.parent.type != "compound_statement" or not alone_on_lines(data, stmt):
            return None
        start, end = line_span(data, stmt.start_byte, stmt.end_byte)
        return Fix(description, safety, (Edit(start, end, ""),))
    if i > 0:
        start, end = terms[i - 1].end_byte, terms[i].end_byte
    else:
        start, end = terms[0].start_byte, terms[1].start_byte
    gap = data[start:end]
    if b"/*" in gap or b"//" in gap or b"#" in gap or b"(" in gap.replace(flag.encode(), b"") or b")" in gap:
        return None  # a comment, a directive or parentheses between the terms
    return Fix(description, safety, (Edit(start, end, ""),))
