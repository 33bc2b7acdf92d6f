"""Putting a flag change back under the lock its code just dropped.

``mmap_write_lock(mm); vma = find_vma(mm, addr); ...; mmap_write_unlock(mm);
vm_flags_set(vma, VM_IO);`` changes the flags with no lock held: the change
belongs before the unlock. That move is the fix when it is mechanical - the
change is a statement of its own that comes right after the unlock, in the
same block, with nothing in between that it could depend on (only comments,
or statements that neither name the vma nor set anything the change reads).
Otherwise there is no fix, and the finding says why."""

from __future__ import annotations

from tree_sitter import Node

from daxlint.analysis.layout import alone_on_lines, line_span
from daxlint.analysis.locate import IDENT_RE
from daxlint.model import SAFE, Edit, Fix

_LVALUE_HOLDERS = frozenset({"assignment_expression", "update_expression", "init_declarator"})


def release_before(model, w) -> Node | None:
    """The call before ``w`` in its function that dropped the write lock."""
    if w.function is None:
        return None
    return model.graph.locks(w.function).release_before(w.node.start_byte)


def read_lock_before(model, w) -> Node | None:
    """The call before ``w`` in its function that took the lock for read."""
    if w.function is None:
        return None
    return model.graph.locks(w.function).read_lock_before(w.node.start_byte)


def called(call: Node) -> str:
    """The name a lock call calls, as written (``mmap_write_unlock``)."""
    return (call.child_by_field_name("function").text or b"").decode()


def called_where(call: Node) -> str:
    """``mmap_write_unlock() on line 12``: a lock call, for messages."""
    return f"{called(call)}() on line {call.start_point[0] + 1}"


def move_before_release(model, w, code: str | None = None) -> tuple[Fix | None, str]:
    """The fix that moves the statement of change ``w`` to just before the
    unlock that precedes it (as ``code`` when given: the change respelled,
    e.g. as the wrapper call), or None and the reason there is none."""
    release = release_before(model, w)
    if release is None:
        return None, "no unlock before it in the function"
    data = model.source.original
    change, unlock = _statement_of(w.node), _statement_of(release)
    if change is None or unlock is None or change.parent is None or unlock.parent is None or change.parent != unlock.parent:
        return None, "the change is not a statement of its own in the block of the unlock"
    if not (alone_on_lines(data, change) and alone_on_lines(data, unlock)):
        return None, "the change or the unlock shares its line with other code"
    between = _between(unlock, change)
    if between is None:
        return None, "the unlock is not before the change in the same block"
    reads = _identifiers(change)
    for stmt in between:
        if stmt.type == "comment":
            continue
        if _mentions_vma(stmt, w) or reads & _assigned(stmt):
            return None, f"line {stmt.start_point[0] + 1}, between the unlock and the change, uses what the change reads"
    # The comments right above the change go with it.
    first = change
    for stmt in reversed(between):
        if stmt.type != "comment" or not alone_on_lines(data, stmt) or stmt.end_point[0] + 1 != first.start_point[0]:
            break
        first = stmt
    start, end = line_span(data, first.start_byte, change.end_byte)
    moved = data[start:end].decode("utf-8", "surrogateescape")
    if code is not None:
        head = data[start : change.start_byte].decode("utf-8", "surrogateescape")
        moved = head + code + ";" + data[change.end_byte : end].decode("utf-8", "surrogateescape")
    at = line_span(data, unlock.start_byte, unlock.end_byte)[0]
    fix = Fix(
        f"Move the change before {called_where(release)}",
        SAFE,
        (Edit(at, at, moved), Edit(start, end, "")),
    )
    return fix, ""


def _statement_of(node: Node) -> Node | None:
    """The expression statement that is ``node`` and nothing else."""
    stmt = node.parent
    return stmt if stmt is not None and stmt.type == "expression_statement" and stmt.named_children[0] == node else None


def _between(first: Node, last: Node) -> list[Node] | None:
    out: list[Node] = []
    n = first.next_sibling
    while n is not None and n != last:
        if n.is_named:
            out.append(n)
        n = n.next_sibling
    return out if n is not None else None


def _identifiers(node: Node) -> set[bytes]:
    return set(IDENT_RE.findall(node.text or b""))


def _assigned(node: Node) -> set[bytes]:
    """Names a statement stores into or declares."""
    out: set[bytes] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in _LVALUE_HOLDERS:
            target = n.child_by_field_name("left") or n.child_by_field_name("argument") or n.child_by_field_name("declarator")
            if target is not None:
                out |= _identifiers(target)
        stack.extend(n.children)
    return out


def _mentions_vma(stmt: Node, w) -> bool:
    base = IDENT_RE.match(w.vma.text or b"") if w.vma is not None else None
    return base is not None and base.group(0) in _identifiers(stmt)
