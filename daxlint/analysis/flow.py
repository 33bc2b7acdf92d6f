"""Control flow, as far as the rules need it: which statements leave a
block, which earlier ``if`` guards leave it (``if (!IS_DAX(i)) return;``,
``if (!pfn_t_has_page(pfn)) goto out;``), and whether two places sit in
different arms of one conditional. Shared by the vm_flags analysis and
DAX103."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from daxlint.analysis.fileindex import callee_name
from daxlint.core.syntax import parent_of

EXITS = frozenset({"return_statement", "goto_statement", "break_statement", "continue_statement"})
# Calls that do not come back.
NORETURN_CALLS = frozenset({"BUG", "panic"})
_CONDITIONALS = frozenset({"if_statement", "conditional_expression", "switch_statement"})


def always_exits(stmt: Node | None) -> bool:
    """Whether control never falls through ``stmt``: a return, goto, break
    or continue, a call that does not return, or a block ending in one
    (followed by a loop: blocks may nest deeper than Python recursion)."""
    while stmt is not None and stmt.type == "compound_statement":
        body = [c for c in stmt.named_children if c.type != "comment"]
        stmt = body[-1] if body else None
    if stmt is None:
        return False
    if stmt.type in EXITS:
        return True
    if stmt.type == "expression_statement":
        inner = stmt.named_children[0] if stmt.named_children else None
        return inner is not None and inner.type == "call_expression" and callee_name(inner) in NORETURN_CALLS
    return False


def exiting_guards(block: Node, before: Node) -> Iterator[Node]:
    """``if`` statements of ``block`` that come before its child ``before``
    and whose body always leaves it: code after them runs only when their
    condition is false (``if (!IS_DAX(i)) return;``). A block is a
    compound statement or a case of a switch."""
    for stmt in block.named_children:
        if stmt.start_byte >= before.start_byte:
            break
        if stmt.type == "if_statement" and always_exits(stmt.child_by_field_name("consequence")):
            yield stmt


BLOCKS = frozenset({"compound_statement", "case_statement"})


def exclusive_branches(a: Node, b: Node) -> bool:
    """Whether two nodes sit in different arms of the same if/switch/?:."""
    ancestors = []
    n = parent_of(a)
    while n is not None:
        ancestors.append(n)
        n = parent_of(n)
    n = parent_of(b)
    while n is not None:
        if n in ancestors:
            if n.type == "compound_statement" and n.parent is not None and n.parent.type == "switch_statement":
                return True  # different case labels of one switch
            return n.type in _CONDITIONALS
        n = parent_of(n)
    return False
