"""A per-file index of the things the DAX rules look up again and again:
functions by name, calls by callee, macros defined in the file, writes to
variables and struct fields, and the control structures that make a
statement conditional. Built lazily once per SourceFile and shared by every
rule that asks (several rules run on the same parsed file)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from tree_sitter import Node

from daxlint.analysis.locate import identifier_nodes
from daxlint.core.source import SourceFile
from daxlint.core.syntax import call_args, declarator_name, function_name, parameters, parent_of, text, walk

# Statements under which a write happens only on some paths.
CONTROL_TYPES = frozenset(
    {
        "if_statement",
        "else_clause",
        "switch_statement",
        "case_statement",
        "for_statement",
        "while_statement",
        "do_statement",
        "conditional_expression",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
    }
)

WRAPPERS = frozenset({"parenthesized_expression", "cast_expression"})
WRITE_TYPES = frozenset({"assignment_expression", "init_declarator", "initializer_pair"})


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...] | None  # None for object-like macros
    body: str
    node: Node

    @property
    def line(self) -> int:
        return self.node.start_point[0] + 1


@dataclass(frozen=True)
class Write:
    """One write to a variable or field: ``x = v``, ``x |= v``, ``u64 x = v``
    or a designated initializer ``.x = v``."""

    node: Node  # the assignment / init_declarator / initializer_pair
    op: str  # "=", "|=", "&=", ...
    value: Node | None

    @property
    def line(self) -> int:
        return self.node.start_point[0] + 1


def unwrap(node: Node) -> Node:
    """The expression inside parentheses and casts."""
    while node is not None and node.type in WRAPPERS:
        inner = node.child_by_field_name("value") if node.type == "cast_expression" else None
        if inner is None:
            named = [c for c in node.named_children if c.type != "comment"]
            inner = named[-1] if named else None
        if inner is None:
            break
        node = inner
    return node


def value_parent(node: Node) -> Node | None:
    """The parent of an expression once parentheses and casts are left."""
    parent = parent_of(node)
    while parent is not None and parent.type in WRAPPERS:
        parent = parent_of(parent)
    return parent


def contains(outer: Node, inner: Node) -> bool:
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


def conditional_relative_to(stmt: Node, anchor: Node | None, scope: Node) -> bool:
    """True when ``stmt`` runs only on some of the paths that reach
    ``anchor``: some control structure between ``stmt`` and ``scope``
    does not also contain the anchor. With no anchor (the value is read
    after ``scope`` ends) any control structure makes it conditional."""
    n = parent_of(stmt)
    while n is not None and n != scope:
        if n.type in CONTROL_TYPES and (anchor is None or not contains(n, anchor)):
            return True
        if n.type == "binary_expression":
            op = n.child_by_field_name("operator")
            if op is not None and text(op) in ("&&", "||") and (anchor is None or not contains(n, anchor)):
                return True
        n = parent_of(n)
    return False


def declared_in(fn: Node, name: str) -> bool:
    """Whether ``fn`` declares a local variable ``name``."""
    for d in walk(fn, {"declaration"}):
        for child in d.children_by_field_name("declarator"):
            target = child.child_by_field_name("declarator") if child.type == "init_declarator" else child
            if declarator_name(target) == name:
                return True
    return False


def callee_name(call: Node) -> str | None:
    """Name of what a call_expression calls: ``f`` for ``f()``, ``m`` for
    ``x->m()`` / ``x.m()`` (a call through a function-pointer member)."""
    fn = call.child_by_field_name("function")
    if fn is None:
        return None
    fn = unwrap(fn)
    if fn.type == "identifier":
        return text(fn)
    if fn.type == "field_expression":
        f = fn.child_by_field_name("field")
        return text(f) if f is not None else None
    return None


def is_member_call(call: Node) -> bool:
    fn = call.child_by_field_name("function")
    return fn is not None and unwrap(fn).type == "field_expression"


_FUNCTION_TYPES = frozenset({"function_definition"})
_CALL_TYPES = frozenset({"call_expression"})


def _write_target(n: Node) -> tuple[bool, str, Write] | None:
    """(is a struct field, variable or member name, the write) for a node of
    WRITE_TYPES; None when it writes neither a name nor a field."""
    if n.type == "assignment_expression":
        left = n.child_by_field_name("left")
        op = n.child_by_field_name("operator")
        w = Write(n, text(op) if op is not None else "=", n.child_by_field_name("right"))
        left = unwrap(left) if left is not None else None
        if left is None:
            return None
        if left.type == "identifier":
            return False, text(left), w
        if left.type == "field_expression":
            f = left.child_by_field_name("field")
            if f is not None:
                return True, text(f), w
        return None
    if n.type == "init_declarator":
        name = declarator_name(n.child_by_field_name("declarator"))
        return (False, name, Write(n, "=", n.child_by_field_name("value"))) if name else None
    designator = n.child_by_field_name("designator")
    if designator is not None and designator.type == "field_designator":
        named = designator.named_children
        if named:
            return True, text(named[-1]), Write(n, "=", n.child_by_field_name("value"))
    return None


class FileIndex:
    def __init__(self, source: SourceFile):
        self.source = source
        # name -> (the parsed wrapper file, kept alive for its nodes; the expression)
        self._macro_trees: dict[str, tuple[SourceFile | None, Node | None]] = {}
        self._around_memo: dict[tuple[bytes, frozenset[str]], list[Node]] = {}

    @property
    def root(self) -> Node:
        # Parsed on first use: a question about a name the file never
        # mentions is answered from its bytes alone.
        return self.source.root

    # -- nodes near a word ---------------------------------------------------

    def around(self, token: bytes, types: frozenset[str]) -> list[Node]:
        """The nodes of ``types`` whose text contains ``token``, in the order
        walk() yields them. A question about one name (its calls, the writes
        to one field) needs only the few places the name occurs, not a walk
        of the whole tree."""
        key = (token, types)
        found = self._around_memo.get(key)
        if found is None:
            data = self.source.data
            nodes: dict[int, Node] = {}
            at = data.find(token)
            while at >= 0:
                # The smallest node around this occurrence, then every node
                # that contains it: its ancestors.
                n = self.root.descendant_for_byte_range(at, at + len(token))
                while n is not None:
                    if n.type in types:
                        nodes.setdefault(n.id, n)
                    n = parent_of(n)
                at = data.find(token, at + 1)
            # Pre-order: a node before what it contains. Nodes of these types
            # never share their exact span with another one.
            found = self._around_memo[key] = sorted(nodes.values(), key=lambda n: (n.start_byte, -n.end_byte))
        return found

    # -- functions and calls -----------------------------------------------

    @cached_property
    def functions(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for fn in walk(self.root, {"function_definition"}):
            name = function_name(fn)
            if name and name not in out:
                out[name] = fn
        return out

    @cached_property
    def calls(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = defaultdict(list)
        for c in walk(self.root, {"call_expression"}):
            name = callee_name(c)
            if name:
                out[name].append(c)
        return out

    def function(self, name: str) -> Node | None:
        """``functions.get(name)``, without indexing every function when
        the file has not been indexed yet."""
        if not name:
            return None
        if "functions" in self.__dict__:
            return self.functions.get(name)
        for fn in self.around(name.encode(), _FUNCTION_TYPES):
            if function_name(fn) == name:
                return fn
        return None

    def calls_to(self, name: str) -> list[Node]:
        if not name:
            return []
        if "calls" in self.__dict__:
            return self.calls.get(name, [])
        return [c for c in self.around(name.encode(), _CALL_TYPES) if callee_name(c) == name]

    def plain_calls_to(self, name: str) -> list[Node]:
        return [c for c in self.calls_to(name) if not is_member_call(c)]

    def parameter_names(self, fn: Node) -> list[str | None]:
        return [name for name, _, _ in parameters(fn)]

    def function_referenced_indirectly(self, name: str) -> bool:
        """Whether a function's name is used other than as a direct callee
        (stored in an ops table, passed as a pointer)."""
        if "identifiers" in self.__dict__:
            found = self.identifiers.get(name, [])
        else:  # only where the name occurs, not an index of every identifier
            found = [n for n in identifier_nodes(self.root, self.source.data, (name.encode(),)) if n.type == "identifier"]
        for ident in found:
            parent = ident.parent
            if parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == ident:
                continue
            if parent is not None and parent.type == "function_declarator":
                continue
            return True
        return False

    @cached_property
    def identifiers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = defaultdict(list)
        for n in walk(self.root, {"identifier"}):
            out[text(n)].append(n)
        return out

    # -- macros --------------------------------------------------------------

    @cached_property
    def macros(self) -> dict[str, Macro]:
        out: dict[str, Macro] = {}
        for d in walk(self.root, {"preproc_def", "preproc_function_def"}):
            name = d.child_by_field_name("name")
            value = d.child_by_field_name("value")
            if name is None:
                continue
            params = None
            if d.type == "preproc_function_def":
                plist = d.child_by_field_name("parameters")
                params = tuple(text(p) for p in (plist.named_children if plist is not None else []) if p.type == "identifier")
            out.setdefault(text(name), Macro(text(name), params, text(value).strip() if value is not None else "", d))
        return out

    def macro_expression(self, name: str) -> Node | None:
        """The body of a macro defined in this file, parsed as a C expression
        (None when it is not one). Macro parameters appear as identifiers."""
        if name in self._macro_trees:
            return self._macro_trees[name][1]
        macro = self.macros.get(name)
        wrapper, expr = parse_expression(macro.body) if macro is not None else (None, None)
        self._macro_trees[name] = (wrapper, expr)
        return expr

    # -- writes --------------------------------------------------------------

    @cached_property
    def _writes(self) -> tuple[dict[str, list[Write]], dict[str, list[Write]]]:
        """(writes to plain identifiers, writes to struct fields by member name)."""
        idents: dict[str, list[Write]] = defaultdict(list)
        fields: dict[str, list[Write]] = defaultdict(list)
        for n in walk(self.root, WRITE_TYPES):
            target = _write_target(n)
            if target is not None:
                is_field, name, w = target
                (fields if is_field else idents)[name].append(w)
        return idents, fields

    def field_writes_containing(self, member: str, token: bytes) -> list[Write]:
        """The writes ``field_writes(member)`` lists whose text contains
        ``token`` (the member name, a value being looked for), found where
        the token occurs."""
        if "_writes" in self.__dict__:
            data = self.source.data
            return [w for w in self.field_writes(member) if data.find(token, w.node.start_byte, w.node.end_byte) >= 0]
        out = []
        for n in self.around(token, WRITE_TYPES):
            target = _write_target(n)
            if target is not None and target[0] and target[1] == member:
                out.append(target[2])
        return out

    def writes_containing(self, token: bytes) -> list[Write]:
        """Writes to names and fields whose text contains ``token`` (a value
        being looked for), found where the token occurs."""
        out = []
        for n in self.around(token, WRITE_TYPES):
            target = _write_target(n)
            if target is not None:
                out.append(target[2])
        return out

    def identifier_writes(self, name: str) -> list[Write]:
        return self._writes[0].get(name, [])

    def field_writes(self, member: str) -> list[Write]:
        return self._writes[1].get(member, [])

    # -- designated initializers ---------------------------------------------

    @cached_property
    def member_initializers(self) -> dict[str, list[tuple[Node, Node]]]:
        """``.member = value`` pairs by member name, plus assignments
        ``x->member = value`` / ``x.member = value`` whose value is a plain
        identifier (ops tables filled in at run time)."""
        out: dict[str, list[tuple[Node, Node]]] = defaultdict(list)
        for member, writes in self._writes[1].items():
            for w in writes:
                if w.value is not None and w.op == "=":
                    out[member].append((w.node, w.value))
        return out

    def member_initializers_of(self, member: str) -> list[tuple[Node, Node]]:
        """``member_initializers.get(member, [])``, found where the member
        name occurs."""
        if "member_initializers" in self.__dict__:
            return self.member_initializers.get(member, [])
        return [(w.node, w.value) for w in self.field_writes_containing(member, member.encode()) if w.value is not None and w.op == "="]

    def call_argument(self, call: Node, index: int) -> Node | None:
        args = call_args(call)
        return args[index] if 0 <= index < len(args) else None


def parse_expression(body: str) -> tuple[SourceFile | None, Node | None]:
    """A macro body parsed as a C expression: (the wrapper file, which must
    be kept alive as long as the node is used; the expression), or
    (None, None) when it is not one. Macro parameters appear as identifiers."""
    if not body or body.startswith(("do ", "do{", "{")):
        return None, None
    wrapped = f"void __daxlint_macro(void)\n{{\n\t__daxlint_value = ({body.replace(chr(92) + chr(10), ' ')});\n}}\n"
    wrapper = SourceFile("<macro>", wrapped.encode())
    for a in walk(wrapper.root, {"assignment_expression"}):
        right = a.child_by_field_name("right")
        if right is not None and not right.has_error:
            return wrapper, (unwrap(right) if right.type == "parenthesized_expression" else right)
        break
    return None, None


def index_for(source: SourceFile) -> FileIndex:
    return source.shared(FileIndex)
