"""Small helpers over tree-sitter-c trees.

Kernel code is full of macros that tree-sitter cannot expand, so every helper
here tolerates ERROR nodes and partial constructs: it answers None rather than
guessing when the shape is not what it expects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import repeat

from tree_sitter import Node

from daxlint.core.timelimit import CHECK_EVERY, checkpoint

# -- parents in linear time ----------------------------------------------------
#
# tree-sitter keeps no parent pointers: Node.parent descends from the root
# each time, so it costs the node's depth, and a walk from a node up to its
# function costs depth squared - minutes for code nested 30,000 deep. While
# the engine analyses a file, the trees parsed for it are indexed here: one
# descent from the root records a node's whole chain of ancestors, and
# parent_of() / ancestors() / enclosing_function() answer from that record.
# The index is scoped by the engine (parent_index()) to one file's
# analysis and holds nothing afterwards; without it, parent_of() is
# Node.parent.


class Ancestry:
    """The parents of one tree's nodes, recorded as questions come."""

    def __init__(self, root: Node):
        self.root = root
        self._parent: dict[int, Node | None] = {root.id: None}

    def known(self, node: Node) -> Node | None | bool:
        """``node``'s parent when already recorded, else False."""
        return self._parent.get(node.id, False)

    def parent(self, node: Node) -> Node | None | bool:
        """``node``'s parent, or False when ``node`` is not in this tree."""
        try:
            return self._parent[node.id]
        except KeyError:
            pass
        if not (self.root.start_byte <= node.start_byte and node.end_byte <= self.root.end_byte):
            return False
        record = self._parent
        n = self.root
        steps = 0
        while True:
            steps += 1
            if not steps & CHECK_EVERY:
                checkpoint()
            child = n.child_with_descendant(node)
            if child is None:
                return False
            record[child.id] = n
            if child.id == node.id:
                return n
            n = child


_TREES: ContextVar[list[Ancestry] | None] = ContextVar("daxlint_trees", default=None)


@contextmanager
def parent_index():
    """Index the trees parsed inside this block (see above)."""
    token = _TREES.set([])
    try:
        yield
    finally:
        _TREES.reset(token)


def index_tree(root: Node) -> None:
    """Called for every tree daxlint parses (core.source)."""
    trees = _TREES.get()
    if trees is not None:
        trees.append(Ancestry(root))


def parent_of(node: Node) -> Node | None:
    """``node.parent``, in constant time for a node whose chain is known
    (in whichever indexed tree: the file's own, or another parse of it)."""
    trees = _TREES.get()
    if not trees:
        return node.parent
    for anc in trees:
        p = anc.known(node)
        if p is not False:
            return p
    for anc in trees:
        p = anc.parent(node)
        if p is not False:
            return p
    return node.parent


def ancestors(node: Node) -> Iterator[Node]:
    """``node``'s ancestors, innermost first."""
    n = parent_of(node)
    steps = 0
    while n is not None:
        yield n
        n = parent_of(n)
        steps += 1
        if not steps & CHECK_EVERY:
            checkpoint()


def walk(node: Node, types: set[str] | frozenset[str] | None = None) -> Iterator[Node]:
    """Pre-order walk of ``node``'s subtree, optionally only nodes of ``types``."""
    stack = [node]
    while stack:
        checkpoint()
        # Nodes between two checkpoints, counted by the loop itself: a
        # counter of our own would cost a tenth of the walk.
        for _ in repeat(None, CHECK_EVERY):
            if not stack:
                break
            n = stack.pop()
            if types is None or n.type in types:
                yield n
            stack.extend(reversed(n.children))


def text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def declarator_name(decl: Node | None) -> str | None:
    """The identifier a (possibly nested pointer/array/function) declarator declares."""
    while decl is not None:
        if decl.type in ("identifier", "field_identifier", "type_identifier"):
            return text(decl)
        inner = decl.child_by_field_name("declarator")
        if inner is None:
            # parenthesized_declarator has no field name
            named = [c for c in decl.named_children if c.type != "attribute_specifier"]
            inner = named[0] if decl.type == "parenthesized_declarator" and named else None
        decl = inner
    return None


def function_declarator(fn: Node) -> Node | None:
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def function_name(fn: Node) -> str | None:
    """Name of a function_definition node."""
    d = function_declarator(fn)
    return declarator_name(d.child_by_field_name("declarator")) if d is not None else None


def enclosing_function(node: Node) -> Node | None:
    for n in ancestors(node):
        if n.type == "function_definition":
            return n
    return None


def call_name(call: Node) -> str | None:
    """Callee name of a call_expression when it is a plain identifier."""
    fn = call.child_by_field_name("function")
    if fn is not None and fn.type == "identifier":
        return text(fn)
    return None


def call_args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    if args is None:
        return []
    return [a for a in args.named_children if a.type != "comment"]


def parameters(fn: Node) -> list[tuple[str | None, str, Node]]:
    """(name, type text, declaration node) for each parameter of a function."""
    d = function_declarator(fn)
    out: list[tuple[str | None, str, Node]] = []
    if d is None:
        return out
    plist = d.child_by_field_name("parameters")
    for p in plist.named_children if plist is not None else []:
        if p.type != "parameter_declaration":
            continue
        t = p.child_by_field_name("type")
        out.append((declarator_name(p.child_by_field_name("declarator")), text(t), p))
    return out


def is_static(fn: Node) -> bool:
    """Whether a function definition is ``static`` (or XFS's ``STATIC``:
    static but for debug builds): no other file can call it."""
    return any(c.type == "storage_class_specifier" and text(c) == "static" or text(c) == "STATIC" for c in fn.children)
