"""One function converted from the ``->mmap`` API to ``->mmap_prepare``'s
``struct vm_area_desc``, the way upstream converted its own handlers
between v6.16 and v7.3 (hpet, /dev/mem, open-dice, stm, relay, secretmem,
the file systems):

- the handler ``foo(struct file *file, struct vm_area_struct *vma)``
  becomes ``foo_prepare(struct vm_area_desc *desc)``, with ``struct file
  *file = desc->file;`` first in its body when the body uses the file; a
  helper of the same file that takes the vma takes the descriptor instead;
- ``vma->vm_start/vm_end/vm_pgoff/vm_page_prot/vm_file/vm_ops/
  vm_private_data/vm_mm`` are the descriptor's ``start/end/pgoff/
  page_prot/vm_file/vm_ops/private_data/mm``; ``vma->vm_end -
  vma->vm_start`` is ``vma_desc_size(desc)``, ``vma_pages(vma)``
  ``vma_desc_pages(desc)``;
- a flag change (``vm_flags_set/clear/mod()``, ``|=``, ``&= ~``) is
  ``vma_desc_set_flags()``/``vma_desc_clear_flags()`` with the
  ``VMA_*_BIT`` numbers where the descriptor has the flags bitmap, a
  ``desc->vm_flags`` write where it has ``vm_flags``; a flag test
  (``vma->vm_flags & VM_SHARED``) is ``vma_desc_test*()``;
- the call that maps the memory - ``remap_pfn_range()``,
  ``io_remap_pfn_range()``, ``vm_iomap_memory()``, ``vm_map_pages*()`` -
  is the matching ``mmap_action_*()``, which the mm core performs once the
  vma exists, and the handler returns 0 (an error the old code returned
  instead of the call's own becomes ``desc->action.error_override``, as in
  /dev/mem); ``generic_file_mmap()`` and its read-only form are their
  ``_prepare`` forms.

What cannot be converted blindly raises :class:`Refusal` with the reason:
a second mapping call, one in a loop, a use of the vma after it that the
deferred mapping would change, a call that needs the vma itself, the vma
pointer kept, state taken per mapping (an allocation, a reference, a
counter, a list insertion) unless it can move to ``vm_ops->mapped``.

Conversion works on a parse of the function's own text (its version
conditionals already decided for the kernels the new code is built for);
every kernel name the result uses is recorded as a :class:`Need`, so that
the caller can tell from the catalogs from which release it builds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from daxlint.analysis.bits import bit_names
from daxlint.analysis.layout import realign, width, wrapped
from daxlint.analysis.locate import function_definitions
from daxlint.core.syntax import call_args, call_name, declarator_name, function_declarator, parent_of, walk

DESC = "desc"
# vma members and what the descriptor calls them.
_FIELDS = {
    "vm_pgoff": "pgoff",
    "vm_page_prot": "page_prot",
    "vm_ops": "vm_ops",
    "vm_private_data": "private_data",
    "vm_file": "vm_file",
    "vm_mm": "mm",
    "vm_start": "start",
    "vm_end": "end",
}
_READ_ONLY_FIELDS = frozenset({"vm_start", "vm_end", "vm_mm"})
# A field the mapping action reads when it is recorded: changing it after
# the mapping call would now change the mapping.
_READ_BY_ACTION = frozenset({"vm_page_prot", "vm_flags"})
FLAG_WRAPPERS = frozenset({"vm_flags_set", "vm_flags_clear", "vm_flags_mod"})
# The calls that map the memory, and the action each becomes.
MAPPERS = {
    "remap_pfn_range": ("mmap_action_remap", "mmap_action_remap_full"),
    "io_remap_pfn_range": ("mmap_action_ioremap", "mmap_action_ioremap_full"),
    "vm_iomap_memory": ("mmap_action_simple_ioremap", None),
    "vm_map_pages": ("mmap_action_map_kernel_pages", None),
    "vm_map_pages_zero": ("mmap_action_map_kernel_pages_full", None),
}
GENERIC = {"generic_file_mmap": "generic_file_mmap_prepare", "generic_file_readonly_mmap": "generic_file_readonly_mmap_prepare"}
# vma calls with a descriptor form (the form must be in the catalog).
_DESC_FORMS = {"vma_pages": "vma_desc_pages", "vma_set_anonymous": "vma_desc_set_anonymous"}
# The v7.x bitmap helpers of a vma and the descriptor's, with the same bits.
_BITMAP_FORMS = {
    "vma_set_flags": "vma_desc_set_flags",
    "vma_clear_flags": "vma_desc_clear_flags",
    "vma_set_flags_mask": "vma_desc_set_flags_mask",
    "vma_clear_flags_mask": "vma_desc_clear_flags_mask",
    "vma_test": "vma_desc_test",
    "vma_test_any": "vma_desc_test_any",
    "vma_test_all": "vma_desc_test_all",
}
# Why a call that needs the vma has no descriptor form.
_NO_FORM = {
    "remap_vmalloc_range": "has no mmap_action_*() form (vmalloc memory is inserted page by page)",
    "remap_vmalloc_range_partial": "has no mmap_action_*() form (vmalloc memory is inserted page by page)",
    "vm_insert_page": "inserts pages one at a time, which no mmap_action_*() does",
    "vm_insert_pages": "inserts pages at an address of its choosing, which no mmap_action_*() does",
    "vmf_insert_pfn": "inserts a pfn at fault time",
    "dma_mmap_coherent": "maps through the DMA API, which has no mmap_action_*() form",
    "dma_mmap_wc": "maps through the DMA API, which has no mmap_action_*() form",
    "dma_mmap_attrs": "maps through the DMA API, which has no mmap_action_*() form",
    "dma_mmap_pages": "maps through the DMA API, which has no mmap_action_*() form",
    "dma_buf_mmap": "hands the vma to another driver's ->mmap",
    "vma_set_file": "replaces the vma's file (desc->vm_file is assigned instead)",
    "vm_flags_reset": "resets all of the vma's flags",
    "vm_flags_init": "resets all of the vma's flags",
}
_LOOPS = frozenset({"for_statement", "while_statement", "do_statement"})
_CONDITION_HOLDERS = frozenset({"if_statement", "while_statement", "do_statement", "switch_statement"})
_ERRNO = re.compile(r"-\s*E[A-Z0-9]+")
# Per-mapping state: names that allocate, take a reference or count, or
# insert into a list; and the names that give such a thing back.
_ALLOC = re.compile(r"(?:^|_)(?:\w*alloc\w*|kstrdup\w*|kmemdup\w*|get_zeroed_page|__get_free_pages?)$")
_TAKES = frozenset(
    {
        "get_file",
        "get_device",
        "get_page",
        "get_task_struct",
        "get_pid",
        "kref_get",
        "try_module_get",
        "__module_get",
        "mmget",
        "mmgrab",
        "igrab",
        "ihold",
        "dget",
        "fget",
        "pm_runtime_resume_and_get",
    }
)
_TAKES_RE = re.compile(
    r"\w+_get(?:_sync|_noresume|_unless_zero|_not_zero)?$|(?:atomic|atomic64|atomic_long|refcount|percpu_counter|this_cpu)_(?:inc|add)\w*$"
)
_INSERTS = re.compile(r"(?:^|_)(?:add|insert|enqueue|register)(?:_|$)")
_GIVES_BACK = re.compile(r"(?:^|_)(?:put|free|release|drop|dec|del|remove|unregister|unpin|detach|unlink)(?:_|$)")


class Refusal(Exception):
    """Why a function is not converted; ``line`` is the line (1-based, in
    the file) of the construct that blocks it."""

    def __init__(self, reason: str, line: int | None = None, need: Need | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.need = need  # what a later kernel has that would allow it


@dataclass(frozen=True)
class Need:
    """A kernel name the converted code uses: a function, or a member
    (``vm_area_desc.vma_flags``)."""

    kind: str  # "function" or "member"
    name: str

    def met(self, catalog) -> bool:
        if self.kind == "function":
            return catalog.has_function(self.name)
        struct, _, member = self.name.partition(".")
        return catalog.struct_field(struct, member) is not None


@dataclass(frozen=True)
class Spelling:
    """How the target kernel spells what the descriptor offers."""

    bitmap: bool  # vma_desc_set_flags() and the VMA_*_BIT numbers
    legacy: bool  # a vm_flags member the code may write
    catalog: object

    @classmethod
    def of(cls, catalog) -> Spelling:
        """The bitmap where the descriptor has it (also on 7.0/7.1, which
        keep vm_flags beside it), else the vm_flags member."""
        bitmap = catalog.has_function("vma_desc_set_flags") and catalog.struct_field("vm_area_desc", "vma_flags") is not None
        legacy = not bitmap and catalog.struct_field("vm_area_desc", "vm_flags") is not None
        return cls(bitmap, legacy, catalog)


@dataclass
class Mapped:
    """State a handler takes per mapping, moved to a ``vm_ops->mapped``
    callback: its declarations and statements, the file parameter's name
    and the vm_operations_struct the handler installs."""

    declarations: list[str]
    statements: list[str]
    file: str
    ops: str
    line: int  # where the state was taken


@dataclass
class Converted:
    text: str  # the function as it becomes
    needs: set[Need] = field(default_factory=set)
    maps: list[tuple[str, int]] = field(default_factory=list)  # (mapping call, line)
    mapped: Mapped | None = None
    state: list[tuple[str, int]] = field(default_factory=list)  # (what, line) per-mapping state found


@dataclass
class _Edit:
    start: int
    end: int
    text: object  # str, or a callable giving it once every edit is known
    outer: bool = False

    def render(self) -> str:
        return self.text() if callable(self.text) else self.text


def prepare_name(name: str, handler: bool) -> str:
    """The new name: ``foo_mmap`` -> ``foo_mmap_prepare`` for a handler (as
    ``mmap_mem`` -> ``mmap_mem_prepare``); a helper's ``_prepare`` goes
    after its ``mmap`` (``relay_mmap_buf`` -> ``relay_mmap_prepare_buf``),
    and a helper without one keeps its name (``private_mapping_ok``)."""
    if handler:
        return f"{name}_prepare"
    i = name.rfind("mmap")
    if i < 0:
        return name
    return f"{name[: i + 4]}_prepare{name[i + 4 :]}"


class FunctionConverter:
    """Converts one function definition (``code``: its text, parsed alone).

    ``vma_index``: which parameter is the vma; ``file_index``: the
    handler's file parameter (None for a helper); ``helpers``: functions of
    the file being converted with it, name -> (new name, vma index);
    ``line_of``: 0-based line in ``code`` -> line in the file;
    ``move_state``: per-mapping state goes to ``vm_ops->mapped``."""

    def __init__(
        self,
        code: bytes,
        new_name: str,
        spelling: Spelling,
        vma_index: int,
        file_index: int | None,
        helpers: dict[str, tuple[str, int]],
        line_of,
        move_state: bool = False,
    ):
        from daxlint.core.source import parser

        self.code = code
        self.new_name = new_name
        self.spelling = spelling
        self.catalog = spelling.catalog
        self.vma_index = vma_index
        self.file_index = file_index
        self.helpers = helpers
        self.line_of = line_of
        self.move_state = move_state
        self.tree = parser().parse(code)
        self.edits: list[_Edit] = []
        self.needs: set[Need] = set()
        self.maps: list[tuple[Node, str]] = []  # (call, name)
        self.after: list[tuple[int, str, Node]] = []  # vma uses: (position, what, node)
        self.mapping_ends: list[int] = []  # where each mapping construct ends
        self.mapping_statements: list[Node] = []  # the statements the actions replace
        self.removed: list[Node] = []  # statements the conversion drops (moved to ->mapped)

    # -- entry ---------------------------------------------------------------------

    def convert(self) -> Converted:
        fn = self._function()
        params = self._params(fn)
        self.vma = params[self.vma_index][0]
        self.file = params[self.file_index][0] if self.file_index is not None else None
        body = fn.child_by_field_name("body")
        self.body = body
        self.locals = _declared_names(body)
        for name in (DESC, self.new_name if self.new_name != self._name(fn) else ""):
            if name and name in self.locals | {p[0] for p in params}:
                raise Refusal(f"the body already has something called {name}", self._line(fn))
        self._unparsed(body)
        self._signature(fn, params)
        for ident in walk(body, {"identifier"}):
            t = ident.text.decode("utf-8", "surrogateescape")
            if t == self.vma:
                self._vma_use(ident)
            elif t == DESC:
                raise Refusal(f"the body already uses the name {DESC}", self._line(ident))
            elif self.file is not None and t == self.file:
                self._file_use(ident)
        self._check_mapping()
        state = self._state()
        out = Converted("", self.needs, [(name, self._line(c)) for c, name in self.maps], state=[(w, ln) for w, ln, _ in state])
        if state and self.move_state:
            out.mapped = self._to_mapped(state)
        text = self._apply()
        text = self._tidy(text)
        out.text = text
        return out

    # -- the function and its signature ------------------------------------------------

    def _function(self) -> Node:
        fns = function_definitions(self.tree.root_node)
        body = fns[0].child_by_field_name("body") if len(fns) == 1 else None
        if body is None:
            raise Refusal("daxlint cannot parse the function on its own (a macro it cannot expand)", self.line_of(0))
        return fns[0]

    def _unparsed(self, body: Node) -> None:
        """Code tree-sitter could not parse (a macro such as
        ``scoped_guard()`` or ``kzalloc_obj(struct x)``) is left as it is
        only when it holds nothing the conversion looks at: the vma, the
        file, a mapping or flag call, something that takes state."""
        self.unparsed = 0
        for n in walk(body):
            if n.type != "ERROR" and not n.is_missing:
                continue
            self.unparsed += 1
            words = set(re.findall(r"[A-Za-z_]\w*", _text(n)))
            looked_at = {self.vma, self.file, DESC, "vm_flags", *MAPPERS, *FLAG_WRAPPERS} & words
            takes = [w for w in words if _ALLOC.search(w) or w in _TAKES or _TAKES_RE.fullmatch(w) or _INSERTS.search(w)]
            if looked_at or takes:
                raise Refusal(
                    f"daxlint cannot parse the code around {sorted(looked_at or takes)[0]} (a macro it cannot expand)", self._line(n)
                )

    def _name(self, fn: Node) -> str | None:
        d = function_declarator(fn)
        return declarator_name(d.child_by_field_name("declarator")) if d is not None else None

    def _params(self, fn: Node) -> list[tuple[str, str, Node]]:
        d = function_declarator(fn)
        plist = d.child_by_field_name("parameters") if d is not None else None
        out = []
        for p in plist.named_children if plist is not None else []:
            if p.type == "comment":
                continue
            if p.type != "parameter_declaration":
                raise Refusal("its parameter list is not plain C", self._line(p))
            name = declarator_name(p.child_by_field_name("declarator"))
            out.append((name or "", _squash(p), p))
        want = max(self.vma_index, self.file_index if self.file_index is not None else -1)
        if len(out) <= want:
            raise Refusal("it does not take the vma as ->mmap does", self._line(fn))
        name, type_text, _ = out[self.vma_index]
        if not re.fullmatch(r"struct vm_area_struct \*\s*\w+", type_text) or not name:
            raise Refusal("it does not take the vma as ->mmap does", self._line(fn))
        if self.file_index is not None:
            name, type_text, _ = out[self.file_index]
            if not re.fullmatch(r"struct file \*\s*\w+", type_text) or not name:
                raise Refusal("it does not take the file as ->mmap does", self._line(fn))
        return out

    def _signature(self, fn: Node, params: list[tuple[str, str, Node]]) -> None:
        d = function_declarator(fn)
        name_node = d.child_by_field_name("declarator")
        old_name = _text(name_node)
        if old_name != self.new_name:
            self.edits.append(_Edit(name_node.start_byte, name_node.end_byte, self.new_name, outer=True))
        plist = d.child_by_field_name("parameters")
        vma_decl = params[self.vma_index][2]
        sep = _type_separator(vma_decl)
        if self.file_index is not None:
            # The handler takes the descriptor alone; a parameter list laid
            # out one per line (XFS style) keeps its layout.
            inside = self.code[plist.start_byte + 1 : params[0][2].start_byte].decode("utf-8", "surrogateescape")
            lead = inside if "\n" in inside else ""
            self.edits.append(_Edit(plist.start_byte, plist.end_byte, f"({lead}struct vm_area_desc{sep}*{DESC})", outer=True))
            return
        new = f"struct vm_area_desc{sep}*{DESC}"
        shift = len(self.new_name) - len(old_name)
        if shift == 0:
            self.edits.append(_Edit(vma_decl.start_byte, vma_decl.end_byte, new, outer=True))
            return
        # A renamed helper: parameters continued on lines aligned with the
        # parenthesis line up with it again.
        line_start = self.code.rfind(b"\n", 0, plist.start_byte) + 1
        old_col = width(self.code[line_start : plist.start_byte].decode("utf-8", "surrogateescape")) + 1

        def params_text(plist=plist, vma_decl=vma_decl, new=new, old_col=old_col, shift=shift) -> str:
            before = self.code[plist.start_byte : vma_decl.start_byte].decode("utf-8", "surrogateescape")
            after = self.code[vma_decl.end_byte : plist.end_byte].decode("utf-8", "surrogateescape")
            return realign(before + new + after, old_col, old_col + shift)

        self.edits.append(_Edit(plist.start_byte, plist.end_byte, params_text, outer=True))

    # -- the vma -----------------------------------------------------------------------------

    def _vma_use(self, n: Node) -> None:
        p = parent_of(n)
        if p.type == "field_expression" and p.child_by_field_name("argument") == n:
            op = p.child_by_field_name("operator")
            if op is None or _text(op) != "->":
                raise Refusal(f"it uses {self.vma} as a struct", self._line(n))
            self._field(p, _text(p.child_by_field_name("field")))
            return
        if p.type == "argument_list":
            self._call(parent_of(p), n)
            return
        if p.type == "assignment_expression" and p.child_by_field_name("right") == n or p.type == "init_declarator":
            raise Refusal(f"it keeps the vma pointer ({_squash(p)}), which does not exist yet in ->mmap_prepare", self._line(n))
        raise Refusal(f"it uses the vma itself ({_squash(p)})", self._line(n))

    def _field(self, fe: Node, name: str) -> None:
        asg = parent_of(fe)
        written = asg.type in ("assignment_expression", "update_expression") and (
            asg.child_by_field_name("left") == fe or asg.child_by_field_name("argument") == fe
        )
        if name == "vm_flags":
            self.after.append((fe.start_byte, "vm_flags", fe))
            self._flags(fe, asg, written)
            return
        if name not in _FIELDS:
            raise Refusal(f"it uses {self.vma}->{name}, which struct vm_area_desc has no counterpart for", self._line(fe))
        if written and name in _READ_ONLY_FIELDS:
            raise Refusal(f"it changes {self.vma}->{name}, which ->mmap_prepare cannot", self._line(fe))
        self.after.append((fe.start_byte, f"write {name}" if written else name, fe))
        if name in ("vm_start", "vm_end"):
            size = self._size(fe)
            if size is not None:
                self._need("function", "vma_desc_size")
                self._inner(_outer_parens(size), "vma_desc_size(desc)")
                return
        member = _FIELDS[name]
        self._need("member", f"vm_area_desc.{member}")
        self._inner(fe, f"{DESC}->{member}")

    def _size(self, fe: Node) -> Node | None:
        """``vma->vm_end - vma->vm_start`` around ``fe``."""
        b = parent_of(fe)
        if b.type != "binary_expression" or _op(b) != "-":
            return None
        left, right = b.child_by_field_name("left"), b.child_by_field_name("right")
        if _is_field(left, self.vma, "vm_end") and _is_field(right, self.vma, "vm_start"):
            return b
        return None

    def _is_size(self, node: Node | None) -> bool:
        """Whether ``node`` is the whole mapping's size: ``vma->vm_end -
        vma->vm_start``, ``vma_pages(vma) << PAGE_SHIFT``, or a local
        variable set once to it."""
        n = _strip_parens(node)
        if n is None:
            return False
        if n.type == "binary_expression" and _op(n) == "-":
            return _is_field(n.child_by_field_name("left"), self.vma, "vm_end") and _is_field(
                n.child_by_field_name("right"), self.vma, "vm_start"
            )
        if n.type == "binary_expression" and _op(n) == "<<":
            left = _strip_parens(n.child_by_field_name("left"))
            return (
                left is not None
                and left.type == "call_expression"
                and call_name(left) == "vma_pages"
                and _text(n.child_by_field_name("right")) == "PAGE_SHIFT"
            )
        if n.type == "identifier" and _text(n) in self.locals:
            values = _assignments(self.body, _text(n))
            return len(values) == 1 and values[0] is not None and self._is_size(values[0])
        return False

    # -- flags ---------------------------------------------------------------------------

    def _flags(self, fe: Node, asg: Node, written: bool) -> None:
        if self.spelling.legacy:
            self._need("member", "vm_area_desc.vm_flags")
            self._inner(fe, f"{DESC}->vm_flags")
            return
        if not self.spelling.bitmap:
            raise Refusal("it uses the vma's flags, and this kernel's descriptor has no flags to change", self._line(fe))
        if written:
            self._flag_assignment(asg)
            return
        p = parent_of(fe)
        if p.type == "argument_list" and call_name(parent_of(p)) == "is_nommu_shared_mapping":
            self._need("function", "is_nommu_shared_vma_flags")
            self._need("member", "vm_area_desc.vma_flags")
            self._inner(parent_of(p), f"is_nommu_shared_vma_flags(&{DESC}->vma_flags)")
            return
        test = _up(fe)
        if test.type == "binary_expression" and _op(test) == "&":
            left, right = (_strip_parens(test.child_by_field_name(k)) for k in ("left", "right"))
            mask = right if left is not None and left.id == fe.id else left
            bits = bit_names(self.catalog, mask) if mask is not None else None
            if bits and self._flag_test(test, bits):
                return
        # Any other read: the same bits as a legacy value.
        if not self.catalog.has_function("vma_flags_to_legacy"):
            raise Refusal(
                f"it reads {self.vma}->vm_flags as a value ({_squash(test)})", self._line(fe), Need("function", "vma_flags_to_legacy")
            )
        self._need("function", "vma_flags_to_legacy")
        self._need("member", "vm_area_desc.vma_flags")
        self._inner(fe, f"vma_flags_to_legacy({DESC}->vma_flags)")

    def _flag_test(self, test: Node, bits: list[str]) -> bool:
        """``vma->vm_flags & VM_X`` read as true or false, as a
        ``vma_desc_test*()`` call; False where it is read as a number."""
        node = _outer_parens(test)
        ctx = parent_of(node)
        if ctx.type == "binary_expression" and _op(ctx) in ("==", "!=") and _zero(ctx, node):
            call = self._test_call(bits, False)
            self._inner(ctx, ("!" if _op(ctx) == "==" else "") + call)
            return True
        if ctx.type == "binary_expression" and _op(ctx) == "&&" and len(bits) == 1:
            run = self._test_run(node)
            if run is not None:
                first, last, all_bits = run
                self._need("function", "vma_desc_test_all")
                self._inner_span(first.start_byte, last.end_byte, f"vma_desc_test_all({DESC}, {', '.join(all_bits)})")
                return True
        if not _boolean_context(node, ctx):
            return False
        self._inner(node, self._test_call(bits, True))
        return True

    def _test_call(self, bits: list[str], single_ok: bool) -> str:
        if len(bits) == 1 and single_ok and self.catalog.has_function("vma_desc_test"):
            self._need("function", "vma_desc_test")
            return f"vma_desc_test({DESC}, {bits[0]})"
        name = "vma_desc_test_any" if self.catalog.has_function("vma_desc_test_any") else "vma_desc_test_flags"
        if len(bits) == 1 and name == "vma_desc_test_any" and self.catalog.has_function("vma_desc_test"):
            name = "vma_desc_test"
        self._need("function", name)
        return f"{name}({DESC}, {', '.join(bits)})"

    def _test_run(self, node: Node) -> tuple[Node, Node, list[str]] | None:
        """Consecutive one-flag tests of the vma in the ``&&`` chain holding
        ``node`` (two or more): ``(f & VM_SHARED) && (f & VM_MAYWRITE)`` is
        one ``vma_desc_test_all()``. (first, last, bits) of the run."""
        top = node
        while True:
            p = parent_of(_outer_parens(top))
            if p is None or p.type != "binary_expression" or _op(p) != "&&":
                break
            top = p
        leaves: list[Node] = []
        stack = [top]
        while stack:
            n = _strip_parens(stack.pop())
            if n is not None and n.type == "binary_expression" and _op(n) == "&&":
                stack += [n.child_by_field_name("right"), n.child_by_field_name("left")]
            elif n is not None:
                leaves.append(n)
        runs: list[list[tuple[Node, str]]] = [[]]
        for leaf in leaves:
            bit = self._one_flag_test(leaf)
            if bit is None:
                runs.append([])
            else:
                runs[-1].append((leaf, bit))
        for run in runs:
            if len(run) > 1 and any(leaf.id == _strip_parens(node).id for leaf, _ in run):
                first, last = _outer_parens(run[0][0]), _outer_parens(run[-1][0])
                return first, last, [b for _, b in run]
        return None

    def _one_flag_test(self, n: Node) -> str | None:
        if n.type != "binary_expression" or _op(n) != "&":
            return None
        left, right = (_strip_parens(n.child_by_field_name(k)) for k in ("left", "right"))
        for a, b in ((left, right), (right, left)):
            if _is_field(a, self.vma, "vm_flags") and b is not None:
                bits = bit_names(self.catalog, b)
                return bits[0] if bits and len(bits) == 1 else None
        return None

    def _flag_assignment(self, asg: Node) -> None:
        stmt = parent_of(asg)
        if stmt.type != "expression_statement":
            raise Refusal(f"it changes {self.vma}->vm_flags inside an expression", self._line(asg))
        op = _text(asg.child_by_field_name("operator"))
        value = asg.child_by_field_name("right")
        negated = _strip_parens(value)
        if op == "|=":
            self._flag_statement(stmt, value, None)
        elif op == "&=" and negated is not None and negated.type == "unary_expression" and _text(negated).startswith("~"):
            self._flag_statement(stmt, None, value)
        else:
            raise Refusal(f"it assigns {self.vma}->vm_flags ('{op}'), which a descriptor's flag helpers do not", self._line(asg))

    def _flag_statement(self, stmt: Node, sets: Node | None, clears: Node | None) -> None:
        calls = []
        for name, value in (("vma_desc_set_flags", sets), ("vma_desc_clear_flags", clears)):
            if value is None:
                continue
            bits = bit_names(self.catalog, value)
            if not bits:
                raise Refusal(f"it changes the flags {_squash(value)}, which are not a list of one-bit VM_* flags", self._line(value))
            self._need("function", name)
            calls.append((name, bits))
        lead = _indent_at(self.code, stmt.start_byte)
        self._statements(stmt, lambda: [wrapped(name, [DESC, *bits], lead) + ";" for name, bits in calls])

    # -- calls with the vma ----------------------------------------------------------------

    def _call(self, call: Node, n: Node) -> None:
        name = call_name(call) or ""
        args = call_args(call)
        idx = next((i for i, a in enumerate(args) if a.id == n.id), -1)
        self.after.append((call.start_byte, f"call {name}", call))
        if name in FLAG_WRAPPERS and idx == 0:
            stmt = parent_of(call)
            if stmt.type != "expression_statement" or len(args) < 2:
                raise Refusal(f"it uses the result of {name}()", self._line(call))
            if self.spelling.legacy:
                self._legacy_wrapper(stmt, name, args)
            elif name == "vm_flags_mod" and len(args) == 3:
                self._flag_statement(stmt, args[1], args[2])
            elif name == "vm_flags_set":
                self._flag_statement(stmt, args[1], None)
            else:
                self._flag_statement(stmt, None, args[1])
            return
        if name in MAPPERS and idx == 0:
            self._mapping(call, name, args)
            return
        if name in GENERIC and idx == 1 and self.file is not None and _text(args[0]) == self.file:
            self._need("function", GENERIC[name])
            self._inner(call, f"{GENERIC[name]}({DESC})")
            return
        if name in _BITMAP_FORMS and idx == 0 and self.catalog.has_function(_BITMAP_FORMS[name]):
            self._need("function", _BITMAP_FORMS[name])
            self._inner(call.child_by_field_name("function"), _BITMAP_FORMS[name])
            self._inner(n, DESC)
            return
        if name in _DESC_FORMS and idx == 0 and len(args) == 1:
            self._need("function", _DESC_FORMS[name])
            self._inner(call, f"{_DESC_FORMS[name]}({DESC})")
            return
        if name == "daxdev_mapping_supported" and idx == 0 and len(args) == 2 and self._desc_form(name):
            if self.file is None:
                raise Refusal(f"it calls {name}(), whose descriptor form needs the file's inode", self._line(call))
            self._need("function", name)
            dax = args[1]
            self._inner(call, lambda dax=dax: f"{name}({DESC}, file_inode({self.file}), {self._render(dax)})")
            return
        if name in self.helpers and idx == self.helpers[name][1]:
            new = self.helpers[name][0]
            fn = call.child_by_field_name("function")
            if new != name:
                self._inner(fn, new)
            self._inner(n, DESC)
            return
        why = _NO_FORM.get(name, "needs the vma, which does not exist yet in ->mmap_prepare")
        raise Refusal(f"it calls {name}(), which {why}" if name else "it hands the vma to a call through a pointer", self._line(call))

    def _desc_form(self, name: str) -> bool:
        info = self.catalog.functions.get(name)
        return info is not None and bool(info.params) and "vm_area_desc" in info.params[0][1]

    def _legacy_wrapper(self, stmt: Node, name: str, args: list[Node]) -> None:
        self._need("member", "vm_area_desc.vm_flags")
        parts = []
        if name in ("vm_flags_set", "vm_flags_mod"):
            value = args[1]
            parts.append(lambda value=value: f"{DESC}->vm_flags |= {self._render(value)};")
        if name in ("vm_flags_clear", "vm_flags_mod"):
            value = args[2] if name == "vm_flags_mod" else args[1]
            parts.insert(0, lambda value=value: f"{DESC}->vm_flags &= ~{_paren(self._render(value), value)};")
        self._statements(stmt, lambda: [p() for p in parts])

    def _file_use(self, n: Node) -> None:
        p = parent_of(n)
        if p.type in ("assignment_expression", "update_expression") and (
            p.child_by_field_name("left") == n or p.child_by_field_name("argument") == n
        ):
            raise Refusal(f"it assigns its file parameter {self.file}", self._line(n))

    # -- the mapping call ----------------------------------------------------------------------

    def _mapping(self, call: Node, name: str, args: list[Node]) -> None:
        partial, full = MAPPERS[name]
        if not self.catalog.has_function(partial):
            raise Refusal(
                f"it maps with {name}(), which has no mmap_action_*() form in this kernel", self._line(call), Need("function", partial)
            )
        for a in _ancestors_to(call, self.body):
            if a.type in _LOOPS:
                raise Refusal(f"it calls {name}() in a loop", self._line(call))
        self.maps.append((call, name))
        stmt, drop_after, error = self._mapping_statement(call, name)
        override = error is not None and _ERRNO.fullmatch(error) is not None
        if override:
            # Before 4f5b8759262e (v7.2) an action's failure went through a
            # function (desc->action.error_hook), which the conversion does not write.
            need = Need("member", "mmap_action.error_override")
            if not need.met(self.catalog):
                raise Refusal(
                    f"it returns {error} when {name}() fails, which this kernel's mmap actions cannot return "
                    "(no desc->action.error_override)",
                    self._line(call),
                    need,
                )
            self._need(need.kind, need.name)
        lead = _indent_at(self.code, stmt.start_byte)
        self.mapping_ends.append(stmt.end_byte)
        self.mapping_statements.append(stmt)

        def lines(call=call, name=name, args=args, stmt=stmt, error=error, lead=lead, override=override) -> list[str]:
            out = self._action(call, name, args, error, lead)
            if override:
                out.append(f"{DESC}->action.error_override = {error};")
            if stmt.type == "return_statement":
                out.append("return 0;")
            return out

        self._statements(stmt, lines)
        for extra in drop_after:
            self._drop(extra)

    def _mapping_statement(self, call: Node, name: str) -> tuple[Node, list[Node], str | None]:
        """The statement the action replaces, the statements after it that
        go with it, and the error the old code returned when the call
        failed (None: the call's own)."""
        p = parent_of(_outer_parens(call))
        if p.type == "return_statement":
            return p, [], None
        if p.type == "expression_statement":
            return p, [], None
        cond = p
        if cond.type == "binary_expression" and _op(cond) in ("<", "!=") and _zero(cond, _outer_parens(call)):
            cond = parent_of(_outer_parens(cond))
        if cond.type == "parenthesized_expression" and parent_of(cond).type == "if_statement":
            ifs = parent_of(cond)
            return ifs, [], self._failure(ifs, name)
        right = _strip_parens(p.child_by_field_name("right")) if p.type == "assignment_expression" else None
        if right is not None and right.id == call.id and _op(p) == "=":
            var = _text(p.child_by_field_name("left"))
            stmt = parent_of(p)
            if var in self.locals and stmt.type == "expression_statement":
                return self._result_variable(stmt, var, name)
        raise Refusal(f"it uses the result of {name}() in a way daxlint does not convert", self._line(call))

    def _failure(self, ifs: Node, name: str) -> str:
        """The error an ``if (call(...)) { ...; return E; }`` returns; what
        it does besides must also happen on the way the call succeeded."""
        if ifs.child_by_field_name("alternative") is not None:
            raise Refusal(f"it does something else when {name}() succeeds than when it fails", self._line(ifs))
        body = ifs.child_by_field_name("consequence")
        stmts = [c for c in body.named_children if c.type != "comment"] if body.type == "compound_statement" else [body]
        if not stmts or stmts[-1].type != "return_statement":
            raise Refusal(f"it does not return when {name}() fails", self._line(ifs))
        value = _return_value(stmts[-1])
        later = {_squash(s) for s in _following(ifs)}
        for s in stmts[:-1]:
            if _squash(s) not in later:
                raise Refusal(f"it handles the failure of {name}() with code the deferred mapping cannot run ({_squash(s)})", self._line(s))
        return value

    def _result_variable(self, stmt: Node, var: str, name: str) -> tuple[Node, list[Node], str | None]:
        """``ret = call(...);`` followed by ``return ret;`` or ``if (ret)
        return ...;``, and ``ret`` used nowhere else."""
        nxt = _next_statement(stmt)
        uses = [i for i in walk(self.body, {"identifier"}) if _text(i) == var and not _within(i, stmt) and not _declares(i)]
        if nxt is not None and nxt.type == "return_statement" and _squash(nxt) == f"return {var};":
            if len(uses) == 1:
                return nxt, [stmt], None
        if nxt is not None and nxt.type == "if_statement":
            cond = nxt.child_by_field_name("condition")
            if _squash(cond) in (f"({var})", f"({var} < 0)", f"({var} != 0)"):
                error = self._failure(nxt, name)
                inside = [i for i in uses if not _within(i, nxt)]
                if not inside:
                    return nxt, [stmt], None if error == var else error
        raise Refusal(f"it uses the result of {name}() ({var}) further on", self._line(stmt))

    def _action(self, call: Node, name: str, args: list[Node], error: str | None, lead: str) -> list[str]:
        partial, full = MAPPERS[name]
        r = self._render
        if name in ("remap_pfn_range", "io_remap_pfn_range") and len(args) == 5:
            lines = []
            if not _is_field(_strip_parens(args[4]), self.vma, "vm_page_prot"):
                lines.append(f"{DESC}->page_prot = {r(args[4])};")
            if _is_field(_strip_parens(args[1]), self.vma, "vm_start") and self._is_size(args[3]) and full is not None:
                self._need("function", full)
                lines.append(wrapped(full, [DESC, r(args[2])], lead) + ";")
            else:
                self._need("function", partial)
                lines.append(wrapped(partial, [DESC, r(args[1]), r(args[2]), r(args[3])], lead) + ";")
            return lines
        if name == "vm_iomap_memory" and len(args) == 3:
            self._need("function", partial)
            return [wrapped(partial, [DESC, r(args[1]), r(args[2])], lead) + ";"]
        if name in ("vm_map_pages", "vm_map_pages_zero") and len(args) == 3:
            num = args[2]
            if not _pure(num):
                raise Refusal(f"the page count of {name}() is not a plain value ({_squash(num)})", self._line(call))
            self._need("function", "vma_desc_pages")
            self._need("function", partial)
            fail = error or "-ENXIO"
            if name == "vm_map_pages_zero":
                check = f"if (vma_desc_pages({DESC}) > {r(num)})"
                action = wrapped(partial, [DESC, r(args[1])], lead)
            else:
                check = f"if ({DESC}->pgoff >= {r(num)} || vma_desc_pages({DESC}) > {r(num)} - {DESC}->pgoff)"
                action = wrapped(partial, [DESC, f"{DESC}->start", f"{r(args[1])} + {DESC}->pgoff", f"vma_desc_pages({DESC})"], lead)
            return [check, f"\treturn {fail};", action + ";"]
        raise Refusal(f"it calls {name}() with other arguments than the kernel's", self._line(call))

    def _check_mapping(self) -> None:
        if len(self.maps) > 1:
            lines = " and ".join(str(self._line(c)) for c, _ in self.maps)
            raise Refusal(
                f"it maps more than once ({', '.join(sorted({n + '()' for _, n in self.maps}))} on lines {lines})",
                self._line(self.maps[1][0]),
            )
        if not self.mapping_ends:
            return
        end = self.mapping_ends[0]
        name = self.maps[0][1]
        call = self.maps[0][0]
        for pos, what, node in self.after:
            if pos < end or _exclusive(call, node):
                continue
            field_name = what.split()[-1]
            if (
                what.startswith("call ")
                and field_name != "vma_pages"
                or field_name in _READ_BY_ACTION
                and (what.startswith("write") or field_name == "vm_flags")
            ):
                raise Refusal(
                    f"it uses the vma after {name}() ({_squash(node)}), where the mapping now happens only after it returns",
                    self._line(node),
                )

    # -- per-mapping state ----------------------------------------------------------------------

    def _state(self) -> list[tuple[str, int, Node]]:
        """(what, line, statement) of each thing the function takes per
        mapping."""
        out = []
        mapping_calls = {c.id for c, _ in self.maps}
        top = [c for c in self.body.named_children if c.type != "comment"]
        for n in walk(self.body, {"call_expression", "update_expression", "assignment_expression"}):
            if n.id in mapping_calls:
                continue
            if n.type == "call_expression":
                name = call_name(n) or ""
                if not (_ALLOC.search(name) or name in _TAKES or _TAKES_RE.fullmatch(name) or _INSERTS.search(name)):
                    continue
                if self._given_back(n, top):
                    continue
                out.append((f"{name}()", self._line(n), n))
            elif n.type == "update_expression" or _text(n.child_by_field_name("operator")) in ("+=", "-="):
                target = n.child_by_field_name("argument") if n.type == "update_expression" else n.child_by_field_name("left")
                local = target is not None and target.type == "identifier" and _text(target) in self.locals
                if not local:
                    out.append((f"the counter {_squash(target)}", self._line(n), n))
        return out

    def _given_back(self, call: Node, top: list[Node]) -> bool:
        """Whether a statement of the function body after ``call`` gives
        back what it took (``xid = get_xid(); ...; free_xid(xid);``)."""
        args = call_args(call)
        taken = {_squash(args[0])} if args else set()
        holder = parent_of(call)
        if holder.type == "assignment_expression":
            taken.add(_squash(holder.child_by_field_name("left")))
        elif holder.type == "init_declarator":
            taken.add(declarator_name(holder.child_by_field_name("declarator")) or "")
        for s in top:
            if s.start_byte <= call.start_byte or s.type != "expression_statement":
                continue
            inner = s.named_children[0] if s.named_children else None
            if inner is not None and inner.type == "call_expression" and _GIVES_BACK.search(call_name(inner) or ""):
                back = call_args(inner)
                if back and _squash(back[0]) in taken:
                    return True
        return False

    def _to_mapped(self, state: list[tuple[str, int, Node]]) -> Mapped:
        """The handler's state moved to ``vm_ops->mapped``: statements of its
        body that only the file (and what is read from it) decides, taken
        where no step that can fail comes after them."""
        top = [c for c in self.body.named_children if c.type != "comment"]
        stmts = []
        for what, line, node in state:
            stmt = node
            while stmt is not None and stmt.type != "expression_statement":
                stmt = parent_of(stmt)
            if stmt is None or parent_of(stmt).id != self.body.id:
                raise Refusal(f"it takes per-mapping state ({what}) inside a branch", line)
            if stmt not in stmts:
                stmts.append(stmt)
        first = min(s.start_byte for s in stmts)
        last = top[-1] if top else None
        for r in walk(self.body, {"return_statement", "goto_statement"}):
            if r.start_byte < first or r.id == getattr(last, "id", None) and _squash(r) == "return 0;":
                continue
            if any(_within(r, m) for m in self.mapping_statements):
                continue  # the mapping call's own return or failure: the action's now
            raise Refusal(
                f"it takes per-mapping state ({state[0][0]} at line {state[0][1]}) before a step that can fail (line {self._line(r)})",
                state[0][1],
            )
        ops = self._installed_ops(top)
        needed: list[str] = []
        todo = [i for s in stmts for i in walk(s, {"identifier"})]
        while todo:
            ident = todo.pop()
            t = _text(ident)
            if t == self.vma:
                raise Refusal(f"its per-mapping state ({state[0][0]}) uses the vma", state[0][1])
            if t == self.file:
                self._const_file(ident, state[0])
                continue
            if t in self.locals and t not in needed:
                decl = self._derivation(t, state[0])
                needed.append(t)
                todo += list(walk(decl, {"identifier"}))
        decls = [d for d in (self._declaration_of(n) for n in needed)]
        decls = sorted({d.id: d for d in decls}.values(), key=lambda d: d.start_byte)
        for s in stmts:
            self._drop(s)
        self._need("member", "vm_operations_struct.mapped")
        return Mapped([_text(d) for d in decls], [_text(s) for s in stmts], self.file or "file", ops, state[0][1])

    def _installed_ops(self, top: list[Node]) -> str:
        """The vm_operations_struct the handler always installs."""
        found = []
        for s in top:
            inner = s.named_children[0] if s.type == "expression_statement" and s.named_children else None
            if (
                inner is not None
                and inner.type == "assignment_expression"
                and _is_field(inner.child_by_field_name("left"), self.vma, "vm_ops")
            ):
                value = _strip_parens(inner.child_by_field_name("right"))
                if value is not None and value.type == "pointer_expression":
                    value = value.child_by_field_name("argument")
                if value is not None and value.type == "identifier":
                    found.append(_text(value))
        if len(found) != 1:
            raise Refusal(
                "it takes per-mapping state, and does not install one vm_operations_struct whose ->mapped could take it",
                self._line(self.body),
            )
        return found[0]

    def _const_file(self, ident: Node, state: tuple) -> None:
        """->mapped gets a const file: the state may read its members and
        its inode, nothing that could change it."""
        p = parent_of(ident)
        if p.type == "field_expression" and p.child_by_field_name("argument") == ident:
            return
        if p.type == "argument_list" and call_name(parent_of(p)) in ("file_inode", "file_dentry", "file_user_ns"):
            return
        raise Refusal(f"its per-mapping state ({state[0]}) hands on the file, which ->mapped receives as const", state[1])

    def _derivation(self, name: str, state: tuple) -> Node:
        decl = self._declaration_of(name)
        d = next((c for c in decl.named_children if c.type == "init_declarator"), None)
        declarators = [c for c in decl.named_children if c.type in ("init_declarator", "identifier", "pointer_declarator")]
        if d is None or len(declarators) != 1 or parent_of(decl).id != self.body.id:
            raise Refusal(f"its per-mapping state ({state[0]}) uses {name}, which is not set once from the file", state[1])
        for i in walk(self.body, {"identifier"}):
            if _text(i) != name or _within(i, decl):
                continue
            p = parent_of(i)
            if p.type in ("assignment_expression", "update_expression") and (
                p.child_by_field_name("left") == i or p.child_by_field_name("argument") == i
            ):
                raise Refusal(f"its per-mapping state ({state[0]}) uses {name}, which the handler changes", state[1])
            if p.type == "pointer_expression" and _text(p).startswith("&"):
                raise Refusal(f"its per-mapping state ({state[0]}) uses {name}, whose address the handler hands on", state[1])
        return decl

    def _declaration_of(self, name: str) -> Node:
        for d in self.body.named_children:
            if d.type == "declaration" and name in _decl_names(d):
                return d
        raise Refusal(f"daxlint cannot find where {name} is declared", self._line(self.body))

    # -- edits -------------------------------------------------------------------------------

    def _need(self, kind: str, name: str) -> None:
        self.needs.add(Need(kind, name))

    def _inner(self, node: Node, text) -> None:
        self._inner_span(node.start_byte, node.end_byte, text)

    def _inner_span(self, start: int, end: int, text) -> None:
        for e in self.edits:
            if not e.outer and e.start <= start and end <= e.end:
                return  # inside an edit already made (the other half of a size, a test run)
        self.edits = [e for e in self.edits if e.outer or not (start <= e.start and e.end <= end)]
        self.edits.append(_Edit(start, end, text))

    def _outer(self, node: Node, text) -> None:
        if any(e.outer and e.start == node.start_byte and e.end == node.end_byte for e in self.edits):
            return
        self.edits.append(_Edit(node.start_byte, node.end_byte, text, outer=True))

    def _statements(self, stmt: Node, make) -> None:
        """Replace ``stmt`` with the statements ``make()`` gives; where
        ``stmt`` is the unbraced body of an ``if``/``else``/loop and they
        are several, with the braces they then need."""
        holder = parent_of(stmt)
        lead = _indent_at(self.code, stmt.start_byte)
        if holder.type in ("if_statement", "else_clause", "for_statement", "while_statement"):
            if holder.type == "if_statement":
                anchor = holder.child_by_field_name("condition").end_byte
            elif holder.type == "else_clause":
                anchor = holder.children[0].end_byte
            else:
                anchor = holder.child_by_field_name("body").start_byte
                anchor = self.code.rfind(b")", 0, anchor) + 1
            outer_lead = _indent_at(self.code, holder.start_byte)

            def braced() -> str:
                parts = make()
                if len(parts) == 1:
                    return self.code[anchor : stmt.start_byte].decode("utf-8", "surrogateescape") + parts[0]
                return " {\n" + lead + f"\n{lead}".join(parts) + f"\n{outer_lead}}}"

            self.edits.append(_Edit(anchor, stmt.end_byte, braced, outer=True))
            return
        self._outer(stmt, lambda: f"\n{lead}".join(make()))

    def _drop(self, stmt: Node) -> None:
        """Take out ``stmt`` with its line (statements moved elsewhere, the
        assignment of a mapping call's result)."""
        self.removed.append(stmt)
        start = self.code.rfind(b"\n", 0, stmt.start_byte) + 1
        end = self.code.find(b"\n", stmt.end_byte)
        end = len(self.code) if end < 0 else end + 1
        if self.code[start : stmt.start_byte].strip() or self.code[stmt.end_byte : end].strip():
            raise Refusal("a statement the conversion takes out shares its line with other code", self._line(stmt))
        # A blank line left on both sides goes with it.
        if _blank_line(self.code, end) and start > 0 and _blank_line(self.code, self.code.rfind(b"\n", 0, start - 1) + 1):
            end = self.code.find(b"\n", end) + 1 or len(self.code)
        self.edits.append(_Edit(start, end, "", outer=True))

    def _render(self, node: Node) -> str:
        """``node``'s text with the conversion's edits inside it made."""
        return self._apply_span(node.start_byte, node.end_byte)

    def _apply_span(self, start: int, end: int, outer: bool = False) -> str:
        inside = [e for e in self.edits if start <= e.start and e.end <= end and (outer or not e.outer)]
        if outer:
            outers = [e for e in inside if e.outer]
            inside = [e for e in inside if e.outer or not any(o.start <= e.start and e.end <= o.end for o in outers)]
        out, pos = [], start
        for e in sorted(inside, key=lambda e: (e.start, e.end)):
            if e.start < pos:
                raise Refusal("two parts of the conversion overlap", self._line_at(e.start))
            out.append(self.code[pos : e.start].decode("utf-8", "surrogateescape"))
            out.append(e.render())
            pos = e.end
        out.append(self.code[pos:end].decode("utf-8", "surrogateescape"))
        return "".join(out)

    def _apply(self) -> str:
        return self._apply_span(0, len(self.code), outer=True)

    def _tidy(self, text: str) -> str:
        """The file parameter as ``struct file *file = desc->file;`` when
        the converted body still uses it; locals the conversion left unused
        (a mapping call's result) without their declaration."""
        from daxlint.core.source import parser

        tree = parser().parse(text.encode("utf-8", "surrogateescape"))
        fns = function_definitions(tree.root_node)
        body = fns[0].child_by_field_name("body") if len(fns) == 1 else None
        if body is None or sum(1 for n in walk(body) if n.type == "ERROR" or n.is_missing) > self.unparsed:
            raise Refusal("the converted function does not parse", self.line_of(0))
        data = text.encode("utf-8", "surrogateescape")
        cuts: list[tuple[int, int, str]] = []
        was_used = {n for n in self.locals if _uses(self.body, n)}
        for decl in walk(body, {"declaration"}):
            names = _decl_names(decl)
            unused = [n for n in names if n in was_used and not _uses(body, n)]
            if not unused:
                continue
            # What the conversion took away (the size of a full remap, a
            # mapping call's result) goes with its declaration.
            if len(names) != 1 or not _removable(decl):
                raise Refusal(f"the conversion would leave {unused[0]} unused, declared with more than it", self._line_at(0))
            start = data.rfind(b"\n", 0, decl.start_byte) + 1
            end = data.find(b"\n", decl.end_byte) + 1 or len(data)
            cuts.append((start, end, ""))
        if self.file is not None:
            uses = [i for i in walk(body, {"identifier"}) if _text(i) == self.file]
            if uses:
                cuts.append(self._file_declaration(data, body, uses))
        for start, end, repl in sorted(cuts, reverse=True):
            data = data[:start] + repl.encode("utf-8", "surrogateescape") + data[end:]
        return data.decode("utf-8", "surrogateescape")

    def _file_declaration(self, data: bytes, body: Node, uses: list[Node]) -> tuple[int, int, str]:
        """Where ``struct file *file = desc->file;`` goes: first in the body
        (upstream's place), or first in the preprocessor branch that holds
        every use, so that other configurations have no unused variable."""
        block = body
        branch = _common_branch(uses, body)
        if branch is not None:
            block = branch
        # Upstream's place: first in the body, before a leading comment;
        # a blank line after it unless declarations follow.
        first = next((c for c in block.named_children if c.start_byte > _directive_end(block, data)), None)
        if first is None:
            raise Refusal("daxlint cannot tell where the file parameter's declaration goes", self.line_of(0))
        at = data.rfind(b"\n", 0, first.start_byte) + 1
        lead = data[at : first.start_byte].decode("utf-8", "surrogateescape")
        if lead.strip():
            raise Refusal("the body's first statement shares its line with the brace", self.line_of(0))
        gap = "" if first.type == "declaration" else "\n"
        return at, at, f"{lead}struct file *{self.file} = {DESC}->file;\n{gap}"

    def _line(self, node: Node) -> int:
        return self.line_of(node.start_point[0])

    def _line_at(self, pos: int) -> int:
        return self.line_of(self.code.count(b"\n", 0, pos))


# -- syntax helpers ----------------------------------------------------------------------


def _text(node: Node | None) -> str:
    return (node.text or b"").decode("utf-8", "surrogateescape") if node is not None else ""


def _squash(node: Node | None) -> str:
    return " ".join(_text(node).split())


def _op(node: Node) -> str | None:
    op = node.child_by_field_name("operator")
    return _text(op) if op is not None else None


def _strip_parens(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression":
        inner = [c for c in node.named_children if c.type != "comment"]
        if len(inner) != 1:
            return node
        node = inner[0]
    return node


def _outer_parens(node: Node) -> Node:
    """``node`` with the parentheses around it, short of an ``if``'s own."""
    while True:
        p = parent_of(node)
        if p is None or p.type != "parenthesized_expression" or parent_of(p).type in _CONDITION_HOLDERS:
            return node
        node = p


def _up(node: Node) -> Node:
    """The first parent of ``node`` that is not a parenthesis."""
    p = parent_of(node)
    while p is not None and p.type == "parenthesized_expression":
        p = parent_of(p)
    return p


def _is_field(node: Node | None, base: str, name: str) -> bool:
    n = _strip_parens(node)
    if n is None or n.type != "field_expression":
        return False
    arg = n.child_by_field_name("argument")
    return _text(n.child_by_field_name("field")) == name and arg is not None and arg.type == "identifier" and _text(arg) == base


def _zero(cmp: Node, side: Node) -> bool:
    left, right = cmp.child_by_field_name("left"), cmp.child_by_field_name("right")
    other = right if left is not None and left.id == side.id else left
    return other is not None and _text(other).strip() == "0"


def _boolean_context(node: Node, ctx: Node) -> bool:
    """Whether the value of ``node`` is only read as true or false."""
    if ctx.type == "parenthesized_expression" and parent_of(ctx).type in _CONDITION_HOLDERS:
        return True
    if ctx.type == "conditional_expression" and ctx.child_by_field_name("condition") == node:
        return True
    if ctx.type == "binary_expression" and _op(ctx) in ("&&", "||"):
        return True
    if ctx.type == "unary_expression" and _op(ctx) == "!":
        return True
    if ctx.type == "init_declarator":
        decl = parent_of(ctx)
        t = decl.child_by_field_name("type") if decl is not None else None
        return t is not None and _text(t) == "bool"
    return False


def _paren(text: str, node: Node) -> str:
    n = _strip_parens(node)
    return (
        text
        if n is not None and n.type in ("identifier", "parenthesized_expression") or node.type == "parenthesized_expression"
        else f"({text})"
    )


def _pure(node: Node) -> bool:
    """A value that can be read twice: names, members, numbers."""
    return all(n.type not in ("call_expression", "assignment_expression", "update_expression") for n in walk(node))


def _removable(decl: Node) -> bool:
    """A declaration whose initializer does nothing but compute a value
    (the descriptor's size, a member, arithmetic)."""
    for n in walk(decl):
        if n.type in ("assignment_expression", "update_expression"):
            return False
        if n.type == "call_expression" and call_name(n) not in ("vma_desc_size", "vma_desc_pages"):
            return False
    return True


def _return_value(ret: Node) -> str:
    values = [c for c in ret.named_children if c.type != "comment"]
    return _squash(values[0]) if values else ""


def _following(stmt: Node) -> list[Node]:
    """The statements after ``stmt`` in its block."""
    block = parent_of(stmt)
    return [c for c in block.named_children if c.start_byte > stmt.start_byte and c.type != "comment"] if block is not None else []


def _next_statement(stmt: Node) -> Node | None:
    rest = _following(stmt)
    return rest[0] if rest else None


def _uses(body: Node, name: str) -> bool:
    """Whether ``body`` reads or writes ``name`` other than declaring it."""
    return any(_text(i) == name and not _declares(i) for i in walk(body, {"identifier"}))


def _declares(ident: Node) -> bool:
    """Whether ``ident`` is the name a declaration declares."""
    child, p = ident, parent_of(ident)
    while p is not None and p.type in ("pointer_declarator", "array_declarator"):
        child, p = p, parent_of(p)
    if p is None:
        return False
    if p.type == "init_declarator":
        return p.child_by_field_name("declarator") == child
    return p.type == "declaration" and child.type != "call_expression" and p.child_by_field_name("type") != child


def _within(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def _ancestors_to(node: Node, stop: Node | None):
    n = parent_of(node)
    while n is not None and (stop is None or n.id != stop.id):
        yield n
        n = parent_of(n)


def _assignments(body: Node, name: str) -> list[Node | None]:
    """What ``name`` is set to in ``body``: its initializer and each
    assignment (None for one that is not a plain ``=``)."""
    out: list[Node | None] = []
    for n in walk(body, {"init_declarator", "assignment_expression", "update_expression"}):
        if n.type == "init_declarator" and declarator_name(n.child_by_field_name("declarator")) == name:
            out.append(n.child_by_field_name("value"))
        elif n.type == "assignment_expression" and _text(n.child_by_field_name("left")) == name:
            out.append(n.child_by_field_name("right") if _op(n) == "=" else None)
        elif n.type == "update_expression" and _text(n.child_by_field_name("argument")) == name:
            out.append(None)
    return out


def _decl_names(decl: Node) -> list[str]:
    out = []
    for c in decl.named_children:
        if c.type in ("init_declarator", "identifier", "pointer_declarator", "array_declarator"):
            name = declarator_name(c.child_by_field_name("declarator") if c.type == "init_declarator" else c)
            if name:
                out.append(name)
    return out


def _declared_names(body: Node) -> set[str]:
    return {name for d in walk(body, {"declaration"}) for name in _decl_names(d)}


def _type_separator(param: Node) -> str:
    """The white space between a parameter's type and its ``*name``."""
    t = param.child_by_field_name("type")
    d = param.child_by_field_name("declarator")
    if t is None or d is None:
        return " "
    gap = param.text[t.end_byte - param.start_byte : d.start_byte - param.start_byte].decode("utf-8", "surrogateescape")
    return gap if gap and not gap.strip() else " "


def _blank_line(code: bytes, start: int) -> bool:
    """Whether the line starting at ``start`` holds only white space."""
    end = code.find(b"\n", start)
    return start < len(code) and not code[start : end if end >= 0 else len(code)].strip()


def _indent_at(code: bytes, pos: int) -> str:
    start = code.rfind(b"\n", 0, pos) + 1
    m = re.match(rb"[ \t]*", code[start:pos])
    return m.group(0).decode() if m else ""


_BRANCHES = frozenset({"preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "preproc_elifdef"})
_ALTERNATIVES = frozenset({"preproc_else", "preproc_elif", "preproc_elifdef"})


def _common_branch(uses: list[Node], body: Node) -> Node | None:
    """The innermost preprocessor branch directly in ``body`` that holds
    every node of ``uses``, if any."""
    chains = []
    for u in uses:
        chain = [a for a in _ancestors_to(u, body) if a.type in _BRANCHES]
        chains.append(chain[-1] if chain else None)
    first = chains[0]
    if first is None or any(c is None or c.id != first.id for c in chains):
        return None
    # Only a branch whose #if is a statement of the body itself.
    return first if parent_of(first).id == body.id else None


def _exclusive(a: Node, b: Node) -> bool:
    """Whether ``a`` and ``b`` sit in different branches of one
    ``#if``/``#else`` (no build compiles both): below their innermost
    common conditional, one goes through an ``#else``/``#elif`` the other
    does not."""
    path_a = [n for n in _ancestors_to(a, None) if n.type in _BRANCHES]
    path_b = [n for n in _ancestors_to(b, None) if n.type in _BRANCHES]
    ids_a = [n.id for n in path_a]
    for i, n in enumerate(path_b):
        if n.id in ids_a:
            j = ids_a.index(n.id)
            below_a = path_a[j - 1] if j > 0 else None
            below_b = path_b[i - 1] if i > 0 else None
            alternatives = [x for x in (below_a, below_b) if x is not None and x.type in _ALTERNATIVES]
            return bool(alternatives) and getattr(below_a, "id", None) != getattr(below_b, "id", None)
    return False


def _directive_end(block: Node, data: bytes) -> int:
    """Where a preprocessor branch's body starts (after its directive line);
    a compound statement's after its brace."""
    if block.type in _BRANCHES:
        return data.find(b"\n", block.start_byte)
    return block.start_byte
