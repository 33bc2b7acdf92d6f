"""Resolving the C type of an expression well enough to tell a
``struct vm_area_struct`` from the other structs that have a ``vm_flags``
member. Declarations are looked up in the enclosing function (parameters and
locals), then at file scope; member types come from the kernel API catalog
and from struct definitions in the file itself."""

from __future__ import annotations

import re

from tree_sitter import Node

from daxlint.analysis.c import declarator_name, enclosing_function, text, walk

_STRUCT_RE = re.compile(r"\bstruct\s+(\w+)")


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


class TypeResolver:
    """Per-file resolver; cheap to build, memoises struct definitions."""

    def __init__(self, source, catalog=None):
        self.source = source
        self.catalog = catalog
        self._file_structs: dict[str, dict[str, str]] | None = None
        self._globals: dict[str, str] | None = None

    # -- declarations -------------------------------------------------------

    def _scope_decls(self, scope: Node, before: int | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for decl in walk(scope, {"declaration", "parameter_declaration"}):
            if before is not None and decl.start_byte > before:
                continue
            t = _declared_type(decl)
            if not t:
                continue
            for name, _ in _decl_names(decl):
                out[name] = t
        return out

    def globals(self) -> dict[str, str]:
        if self._globals is None:
            self._globals = {}
            for decl in self.source.root.named_children:
                if decl.type == "declaration":
                    t = _declared_type(decl)
                    for name, _ in _decl_names(decl):
                        if t:
                            self._globals[name] = t
        return self._globals

    def file_structs(self) -> dict[str, dict[str, str]]:
        if self._file_structs is None:
            self._file_structs = {}
            for st in walk(self.source.root, {"struct_specifier"}):
                name = st.child_by_field_name("name")
                body = st.child_by_field_name("body")
                if name is None or body is None:
                    continue
                fields = {}
                for fd in body.named_children:
                    if fd.type != "field_declaration":
                        continue
                    t = _declared_type(fd) or ""
                    for d in fd.children_by_field_name("declarator"):
                        n = declarator_name(d)
                        if n:
                            fields[n] = t + (" *" if d.type == "pointer_declarator" else "")
                self._file_structs[text(name)] = fields
        return self._file_structs

    def variable_type(self, ident: Node) -> str | None:
        name = text(ident)
        fn = enclosing_function(ident)
        if fn is not None:
            local = self._scope_decls(fn, ident.start_byte)
            if name in local:
                return local[name]
        return self.globals().get(name)

    def member_type(self, struct: str, member: str) -> str | None:
        fs = self.file_structs().get(struct)
        if fs and member in fs:
            return fs[member]
        if self.catalog is not None:
            f = self.catalog.struct_field(struct, member)
            if f is not None:
                return f.type
        return None

    # -- expressions --------------------------------------------------------

    def expression_type(self, node: Node) -> str | None:
        """The declared type text of an expression, or None when unknown."""
        t = node.type
        if t == "identifier":
            return self.variable_type(node)
        if t == "parenthesized_expression":
            inner = [c for c in node.named_children]
            return self.expression_type(inner[0]) if inner else None
        if t == "cast_expression":
            tn = node.child_by_field_name("type")
            return text(tn) if tn is not None else None
        if t == "field_expression":
            base = node.child_by_field_name("argument")
            field = node.child_by_field_name("field")
            bt = self.expression_type(base) if base is not None else None
            sn = struct_name(bt or "")
            if sn and field is not None:
                return self.member_type(sn, text(field))
            return None
        if t == "pointer_expression":  # *pp or &x
            arg = node.child_by_field_name("argument")
            return self.expression_type(arg) if arg is not None else None
        if t == "subscript_expression":
            arg = node.child_by_field_name("argument")
            return self.expression_type(arg) if arg is not None else None
        return None

    def struct_of(self, node: Node) -> str | None:
        return struct_name(self.expression_type(node) or "")
