"""Resolving the C type of an expression well enough to tell a
``struct vm_area_struct`` from the other structs that have a ``vm_flags``
member. Declarations are looked up by block scope in the enclosing function
(parameters, locals, ``for`` initialisers), then at file scope; member types
come from struct definitions in the file itself and from the kernel API
catalog; call results from the file's own prototypes and the catalog.

An unknown type is ``None``, never a guess: the rules treat it as "not a
vma" so that macro-heavy code stays quiet rather than noisy."""

from __future__ import annotations

import re

from tree_sitter import Node

from daxlint.analysis.locate import identifier_nodes, node_at
from daxlint.core.syntax import call_args, call_name, declarator_name, enclosing_function, function_declarator, parent_of, text, walk

_STRUCT_RE = re.compile(r"\bstruct\s+(\w+)")
_SCOPES = frozenset({"compound_statement", "for_statement", "function_definition", "translation_unit"})
_PREPROC_BLOCKS = frozenset({"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"})
# Macros of the form NAME(ptr, type, member) whose value is a ``type *``.
_CONTAINER_MACROS = frozenset(
    {
        "container_of",
        "container_of_const",
        "list_entry",
        "list_first_entry",
        "list_last_entry",
        "list_first_entry_or_null",
        "list_next_entry",
        "list_prev_entry",
        "hlist_entry",
        "rb_entry",
        "rb_entry_safe",
        "hlist_entry_safe",
        "list_entry_rcu",
    }
)


# What a name means by kernel convention, for code seen only in part (a
# patch's hunk whose function header, with the parameters, is out of view):
# ``vma``/``new_vma``/``area`` are vmas, ``vmf`` a vm_fault and ``desc`` the
# ->mmap_prepare descriptor everywhere, and so is any name whose members in
# view only a vma has (``tmp->anon_vma`` in dup_mmap()). vm_ops is not one of
# those: struct vm_area_desc has it too (a .mmap_prepare conversion sets
# desc->vm_ops), as it has vm_file and pgoff.
_CONVENTIONAL = (
    (re.compile(r"\w*vma\w*|area"), "struct vm_area_struct"),
    (re.compile(r"vmf"), "struct vm_fault"),
    (re.compile(r"desc"), "struct vm_area_desc"),
)
_VMA_ONLY_MEMBERS = rb"(?:vm_mm|vm_page_prot|vm_private_data|anon_vma|anon_vma_chain|vm_userfaultfd_ctx|vm_policy)\b"


def _uses_vma_members(ident: Node, name: str) -> bool:
    fn = enclosing_function(ident)
    scope = fn if fn is not None else ident.parent
    code = scope.text if scope is not None else b""
    return re.search(rb"\b" + re.escape(name.encode()) + rb"\s*->\s*" + _VMA_ONLY_MEMBERS, code or b"") is not None


def _conventional_type(ident: Node) -> str | None:
    name = text(ident)
    for pattern, struct in _CONVENTIONAL:
        if pattern.fullmatch(name) or (struct == "struct vm_area_struct" and _uses_vma_members(ident, name)):
            parent = ident.parent
            by_value = (
                parent is not None
                and parent.type == "field_expression"
                and parent.child_by_field_name("argument") == ident
                and text(parent.child_by_field_name("operator")) == "."
            )
            return struct if by_value else struct + " *"
    return None


def _strip_pointer(type_text: str) -> str:
    return type_text.replace("*", " ").replace("const", " ").strip()


def struct_name(type_text: str) -> str | None:
    m = _STRUCT_RE.search(type_text or "")
    return m.group(1) if m else None


def _declared_type(decl: Node) -> str | None:
    t = decl.child_by_field_name("type")
    return text(t) if t is not None else None


def _decl_names(decl: Node):
    """(name, declarator node) for each name a declaration declares."""
    for child in decl.children_by_field_name("declarator"):
        target = child.child_by_field_name("declarator") if child.type == "init_declarator" else child
        name = declarator_name(target)
        if name:
            yield name, child


def _pointer_suffix(declarator: Node) -> str:
    """' *' per pointer level of a declarator (``**vmap`` -> ' * *')."""
    out = ""
    d = declarator.child_by_field_name("declarator") if declarator.type == "init_declarator" else declarator
    while d is not None and d.type in ("pointer_declarator", "array_declarator"):
        out += " *"
        d = d.child_by_field_name("declarator")
    return out


def _block_declarations(block: Node):
    """Declarations directly in a block, including ones inside #if/#ifdef
    groups (kernel code declares under CONFIG_ conditionals), in order.
    Iterative: #if groups may nest deeper than Python recursion goes."""
    stack = [iter(block.named_children)]
    while stack:
        for child in stack[-1]:
            if child.type == "declaration":
                yield child
            elif child.type in _PREPROC_BLOCKS:
                stack.append(iter(child.named_children))
                break
        else:
            stack.pop()


class TypeResolver:
    """Per-file resolver; cheap to build, memoises file-level facts.

    ``root`` may be given when the caller analyses a different parse of the
    same bytes (e.g. one with #else branches blanked out)."""

    def __init__(self, source, catalog=None, root: Node | None = None, guess_undeclared: bool = False):
        self.source = source
        self.guess_undeclared = guess_undeclared
        self.catalog = catalog
        self.root = root if root is not None else source.root
        self._file_structs: dict[str, dict[str, str] | None] | None = None
        self._globals: dict[str, str] | None = None
        self._typedefs: dict[str, str | None] | None = None
        self._returns: dict[str, str | None] | None = None

    # -- file-level facts ----------------------------------------------------

    def globals(self) -> dict[str, str]:
        if self._globals is None:
            self._globals = {}
            for decl in _block_declarations(self.root):
                t = _declared_type(decl)
                if not t:
                    continue
                for name, d in _decl_names(decl):
                    self._globals[name] = t + _pointer_suffix(d)
        return self._globals

    def typedef(self, name: str) -> str | None:
        """What a file-local ``typedef struct x name;`` stands for."""
        if self._typedefs is None:
            self._typedefs = {}
        if name not in self._typedefs:
            found = None
            if b"typedef" in self.source.data:
                pattern = re.compile(rb"\btypedef\b[^;{}]*\b(" + re.escape(name.encode()) + rb")\s*;")
                for m in pattern.finditer(self.source.data):
                    td = node_at(self.root, m.start(1), m.end(1))
                    while td is not None and td.type != "type_definition":
                        td = parent_of(td)
                    if td is None:
                        continue
                    t = td.child_by_field_name("type")
                    for d in td.children_by_field_name("declarator"):
                        if declarator_name(d) == name and t is not None:
                            found = text(t) + _pointer_suffix(d)
                    if found:
                        break
            self._typedefs[name] = found
        return self._typedefs[name]

    def function_return(self, name: str) -> str | None:
        """Return type of a function the file defines or declares."""
        if self._returns is None:
            self._returns = {}
        if name not in self._returns:
            found = None
            for ident in identifier_nodes(self.root, self.source.data, (name.encode(),)):
                d = ident.parent
                if d is None or d.type != "function_declarator" or d.child_by_field_name("declarator") != ident:
                    continue
                ptr = ""
                holder = parent_of(d)
                while holder is not None and holder.type == "pointer_declarator":
                    ptr += " *"
                    holder = parent_of(holder)
                if holder is not None and holder.type in ("function_definition", "declaration"):
                    t = holder.child_by_field_name("type")
                    if t is not None:
                        found = text(t) + ptr
                        break
            self._returns[name] = found
        return self._returns[name]

    def parameter_types(self, name: str) -> list[str] | None:
        """The parameters of a function the file defines or declares, each
        as its declaration text (``unsigned long *vm_flags``); None when the
        file does not declare it."""
        for ident in identifier_nodes(self.root, self.source.data, (name.encode(),)):
            d = ident.parent
            if d is None or d.type != "function_declarator" or d.child_by_field_name("declarator") != ident:
                continue
            plist = d.child_by_field_name("parameters")
            if plist is None:
                continue
            return [text(p) for p in plist.named_children if p.type == "parameter_declaration"]
        return None

    def struct_fields(self, struct: str) -> dict[str, str] | None:
        """Members of a struct the file defines: {name: type text}."""
        if self._file_structs is None:
            self._file_structs = {}
        if struct not in self._file_structs:
            fields = None
            pattern = re.compile(rb"\bstruct\s+(" + re.escape(struct.encode()) + rb")\s*\{")
            for m in pattern.finditer(self.source.data):
                node = node_at(self.root, m.start(1), m.end(1))
                st = node.parent if node is not None else None
                body = st.child_by_field_name("body") if st is not None and st.type == "struct_specifier" else None
                if body is None:
                    continue
                fields = {}
                for fd in walk(body, {"field_declaration"}):
                    t = _declared_type(fd) or ""
                    for d in fd.children_by_field_name("declarator"):
                        n = declarator_name(d)
                        if n:
                            fields[n] = t + _pointer_suffix(d)
                break
            self._file_structs[struct] = fields
        return self._file_structs[struct]

    # -- declarations ----------------------------------------------------------

    def _lookup_in_scopes(self, ident: Node) -> str | None:
        """The innermost declaration of ``ident``'s name visible at ident."""
        name = text(ident)
        pos = ident.start_byte
        scope = parent_of(ident)
        while scope is not None:
            if scope.type == "compound_statement":
                for decl in _block_declarations(scope):
                    if decl.start_byte > pos:
                        break
                    t = self._match(decl, name)
                    if t:
                        return t
            elif scope.type == "for_statement":
                init = scope.child_by_field_name("initializer")
                if init is not None and init.type == "declaration":
                    t = self._match(init, name)
                    if t:
                        return t
            elif scope.type == "function_definition":
                d = function_declarator(scope)
                plist = d.child_by_field_name("parameters") if d is not None else None
                for p in plist.named_children if plist is not None else []:
                    if p.type == "parameter_declaration":
                        t = self._match(p, name)
                        if t:
                            return t
                return None
            scope = parent_of(scope)
        return None

    @staticmethod
    def _match(decl: Node, name: str) -> str | None:
        t = _declared_type(decl)
        if not t:
            return None
        if decl.type == "parameter_declaration":
            d = decl.child_by_field_name("declarator")
            return t + _pointer_suffix(d) if d is not None and declarator_name(d) == name else None
        for n, d in _decl_names(decl):
            if n == name:
                return t + _pointer_suffix(d)
        return None

    def _lookup_anywhere_before(self, fn: Node, ident: Node) -> str | None:
        """Fallback for declarations tree-sitter put where scopes do not reach
        (inside ERROR nodes): any declaration of the name earlier in fn."""
        name = text(ident)
        found = None
        for decl in walk(fn, {"declaration", "parameter_declaration"}):
            if decl.start_byte > ident.start_byte:
                continue
            t = self._match(decl, name)
            if t:
                found = t
        return found

    def variable_type(self, ident: Node) -> str | None:
        t = self._lookup_in_scopes(ident)
        if t is None:
            t = self.globals().get(text(ident))
        if t is None:
            fn = enclosing_function(ident)
            if fn is not None and fn.has_error:
                t = self._lookup_anywhere_before(fn, ident)
        return self._expand_typedef(t)

    def _expand_typedef(self, t: str | None) -> str | None:
        if t is None or struct_name(t):
            return t
        base = _strip_pointer(t).split()[-1] if _strip_pointer(t) else ""
        target = self.typedef(base) if base else None
        return target + " *" * t.count("*") if target is not None else t

    def member_type(self, struct: str, member: str) -> str | None:
        fs = self.struct_fields(struct)
        if fs and member in fs:
            return self._expand_typedef(fs[member])
        if self.catalog is not None:
            f = self.catalog.struct_field(struct, member)
            if f is not None:
                return f.type
        return None

    def call_type(self, call: Node) -> str | None:
        name = call_name(call)
        if name is None:
            return None
        if name in _CONTAINER_MACROS:
            args = call_args(call)
            # tree-sitter splits ``struct x`` in an argument list into an
            # ERROR node holding 'struct' and an identifier: read the text.
            m = _STRUCT_RE.search(text(call.child_by_field_name("arguments")))
            if len(args) >= 2 and m:
                return f"struct {m.group(1)} *"
            return None
        t = self.function_return(name)
        if t is None and self.catalog is not None:
            info = self.catalog.functions.get(name)
            t = info.returns if info is not None else None
        return self._expand_typedef(t)

    # -- expressions -----------------------------------------------------------

    def expression_type(self, node: Node) -> str | None:
        """The declared type text of an expression, or None when unknown.
        What only passes an operand's type on (parentheses, ``*``/``&``,
        subscripts, the right of a comma, the left of an assignment) is
        followed in a loop, and a chain of member accesses is walked down
        first: such nesting may go deeper than Python recursion."""
        fields: list[Node | None] = []
        while True:
            t = node.type
            nxt = None
            if t == "parenthesized_expression":
                inner = [c for c in node.named_children if c.type != "comment"]
                nxt = inner[-1] if inner else None
            elif t in ("pointer_expression", "subscript_expression"):
                nxt = node.child_by_field_name("argument")
            elif t == "comma_expression":
                nxt = node.child_by_field_name("right")
            elif t == "assignment_expression":
                nxt = node.child_by_field_name("left")
            elif t == "field_expression":
                fields.append(node.child_by_field_name("field"))
                nxt = node.child_by_field_name("argument")
            else:
                break
            if nxt is None:
                return None
            node = nxt
        bt = self._operand_type(node)
        for field in reversed(fields):  # innermost access first
            sn = struct_name(bt or "")
            if not sn or field is None:
                return None
            bt = self.member_type(sn, text(field))
        return bt

    def _operand_type(self, node: Node) -> str | None:
        t = node.type
        if t == "identifier":
            found = self.variable_type(node)
            if found is None and self.guess_undeclared:
                found = _conventional_type(node)
            return found
        if t == "cast_expression":
            tn = node.child_by_field_name("type")
            return self._expand_typedef(text(tn)) if tn is not None else None
        if t == "call_expression":
            return self.call_type(node)
        if t == "conditional_expression":
            for part in ("consequence", "alternative"):
                branch = node.child_by_field_name(part)
                bt = self.expression_type(branch) if branch is not None else None
                if bt:
                    return bt
            return None
        return None

    def struct_of(self, node: Node) -> str | None:
        return struct_name(self.expression_type(node) or "")
