"""The mmap lock along a function's statements.

Locks are statements, not a function's role: an ioctl that takes
``mmap_write_lock()``, looks up a vma, drops the lock and then changes the
vma's flags holds no lock at the change. This module follows the lock
through a function body in execution order - branches joined, early
returns and gotos leaving the path, loops run once and joined with their
entry - and answers, for any byte of the function, what is known there:

- ``write``: whether the mmap lock is held for write (or the vma is
  write-locked, which asserts it);
- ``read``: whether it (or the vma's per-VMA lock) is held only for read.

Each is three-valued - ``HELD``, ``FREE`` (known not held: released, or a
trylock that failed) or ``MAYBE`` (paths disagree) - plus ``ENTRY``: as the
function's caller had it (nothing in the function changed it on the way).
What callers hold is the call graph's business (roles, and the state at
each call site); this module says what the function itself does. That is
also a function's summary: a wrapper of the module that only takes the lock
(``static void foo_lock(mm) { mmap_write_lock(mm); }``) hands its callers
the state it leaves.

Recognised: ``mmap_write_lock*()``/``mmap_write_unlock()``,
``mmap_read_lock*()``/``mmap_read_unlock()``, ``mmap_write_downgrade()``,
``down_write/up_write/down_read/up_read/downgrade_write`` of
``mm->mmap_lock`` (``mmap_sem`` before 5.8), ``lock_vma_under_rcu()``/
``vma_end_read()``, trylock and killable forms (a condition on them splits
the paths), ``guard(mmap_read_lock)(mm)`` and ``scoped_guard(...)``, and
assertions (``mmap_assert_write_locked()``, ``vma_start_write()``,
``lockdep_assert_held_write(&mm->mmap_lock)``, ``BUG_ON(mmap_read_trylock())``),
which say the caller holds the write lock."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from tree_sitter import Node, Query, QueryCursor

from daxlint.core.source import C_LANGUAGE
from daxlint.core.syntax import call_args, call_name, declarator_name, parent_of, text

HELD = "held"
FREE = "free"
MAYBE = "maybe"
ENTRY = "entry"

_WRITE_LOCK = frozenset({"mmap_write_lock", "mmap_write_lock_nested", "mmap_write_lock_killable", "mmap_write_trylock"})
_WRITE_UNLOCK = frozenset({"mmap_write_unlock"})
_DOWNGRADE = frozenset({"mmap_write_downgrade"})
_READ_LOCK = frozenset(
    {"mmap_read_lock", "mmap_read_lock_killable", "mmap_read_trylock", "mmap_read_lock_maybe_expand", "lock_vma_under_rcu"}
)
_READ_UNLOCK = frozenset({"mmap_read_unlock", "mmap_read_unlock_non_owner", "vma_end_read"})
# Functions that fail without taking the lock: 0 on success for killable,
# true on success for trylock.
_KILLABLE = frozenset({"mmap_write_lock_killable", "mmap_read_lock_killable"})
_TRYLOCK = frozenset({"mmap_write_trylock", "mmap_read_trylock"})
# Assertions that the caller holds the write lock (lockdep checks them).
ASSERT_WRITE = frozenset(
    {"mmap_assert_write_locked", "vma_assert_write_locked", "vma_start_write", "vma_start_write_killable", "__vma_start_write"}
)
_RWSEM = {
    "down_write": "write",
    "down_write_killable": "write",
    "down_write_nested": "write",
    "down_write_trylock": "write",
    "up_write": "write_unlock",
    "down_read": "read",
    "down_read_killable": "read",
    "down_read_trylock": "read",
    "up_read": "read_unlock",
    "downgrade_write": "downgrade",
}
# Calls that leave the vma write-locked until the mmap write lock is dropped:
# vma_start_write() and the vm_flags_*() wrappers that call it.
VMA_WRITE_LOCKS = frozenset(
    {
        "vma_start_write",
        "vma_start_write_killable",
        "__vma_start_write",
        "vma_assert_write_locked",
        "vm_flags_set",
        "vm_flags_clear",
        "vm_flags_mod",
    }
)
_MMAP_SEM_RE = re.compile(r"\bmmap_(?:lock|sem)\b")
_BUG_ON_RE = re.compile(r"^(?:VM_)?(?:BUG_ON|WARN_ON|WARN_ON_ONCE|VM_WARN_ON|VM_WARN_ON_ONCE)$")
_GUARD_CALLS = frozenset({"guard", "scoped_guard", "scoped_cond_guard"})
# Names that are the mmap lock's only on mm->mmap_lock (mmap_sem before
# v5.8): the rwsem calls, guards and lockdep's assertion.
GENERIC_LOCK_NAMES = frozenset(_RWSEM) | _GUARD_CALLS | {"lockdep_assert_held_write"}
# Every name that can change or assert the lock: what a function's bytes
# must hold for the analysis to have anything to do.
LOCK_NAMES = _WRITE_LOCK | _WRITE_UNLOCK | _DOWNGRADE | _READ_LOCK | _READ_UNLOCK | ASSERT_WRITE | GENERIC_LOCK_NAMES


@dataclass(frozen=True)
class LockState:
    write: str = ENTRY
    read: str = ENTRY

    def join(self, other: LockState | None) -> LockState:
        if other is None:
            return self
        return LockState(_join(self.write, other.write), _join(self.read, other.read))

    def then(self, summary: LockState) -> LockState:
        """This state, followed by a call that leaves ``summary`` (ENTRY:
        passed through)."""
        return LockState(self.write if summary.write == ENTRY else summary.write, self.read if summary.read == ENTRY else summary.read)

    @property
    def write_held(self) -> bool:
        return self.write == HELD

    @property
    def released(self) -> bool:
        """Known not to hold the write lock: it was dropped (or never got)
        on every path here, by this function or a helper it called."""
        return self.write == FREE

    @property
    def read_only(self) -> bool:
        """Only the read side is held: the write lock is not (known or as
        on entry, which the call graph decides)."""
        return self.read == HELD and self.write in (FREE, ENTRY)


def _join(a: str, b: str) -> str:
    return a if a == b else MAYBE


_ENTRY_STATE = LockState()
_ASSERTED = LockState(HELD, ENTRY)


def _lock_effect(call: Node, name: str) -> str | None:
    """What a call does to the lock: "write", "write_unlock", "read",
    "read_unlock", "downgrade", "assert", or None."""
    return _named_effect(name, lambda: text(call))


def macro_lock_state(body: str) -> LockState | None:
    """The state a function-like macro whose body is a lock call leaves
    its caller in (``#define foo_lock(mm) mmap_write_lock(mm)``), or None."""
    m = re.match(r"\s*\(?\s*(\w+)\s*\(", body)
    effect = _named_effect(m.group(1), lambda: body) if m else None
    return _apply(LockState(), effect) if effect not in (None, "assert") else None


def _named_effect(name: str, code) -> str | None:
    """_lock_effect() by the called name, ``code()`` the call's text (the
    rwsem calls and lockdep are the mmap lock's only on mm->mmap_lock)."""
    if name in ASSERT_WRITE:
        return "assert"
    if name == "lockdep_assert_held_write":
        return "assert" if _MMAP_SEM_RE.search(code()) else None
    if name in _WRITE_LOCK:
        return "write"
    if name in _WRITE_UNLOCK:
        return "write_unlock"
    if name in _DOWNGRADE:
        return "downgrade"
    if name in _READ_LOCK:
        return "read"
    if name in _READ_UNLOCK:
        return "read_unlock"
    kind = _RWSEM.get(name)
    if kind is not None and _MMAP_SEM_RE.search(code()):
        return kind
    return None


def _apply(state: LockState, effect: str) -> LockState:
    if effect in ("write", "assert"):
        return LockState(HELD, state.read)
    if effect == "write_unlock":
        return LockState(FREE, state.read)
    if effect == "downgrade":
        return LockState(FREE, HELD)
    if effect == "read":
        return LockState(state.write, HELD)
    if effect == "read_unlock":
        return LockState(state.write, FREE)
    return state


def _guard_lock(call: Node) -> str | None:
    """The lock a ``guard(mmap_read_lock)(mm)`` or ``scoped_guard(mmap_write_lock,
    mm)`` takes, as an effect."""
    fn = call.child_by_field_name("function")
    if fn is not None and fn.type == "call_expression" and call_name(fn) == "guard":
        args = call_args(fn)
    elif call_name(call) in ("scoped_guard", "scoped_cond_guard"):
        args = call_args(call)
    else:
        return None
    name = text(args[0]) if args else ""
    if name.startswith("mmap_write_lock"):
        return "write"
    if name.startswith("mmap_read_lock") or name == "vma_read":
        return "read"
    return None


_COMPOUND = frozenset({"compound_statement", "translation_unit", "declaration_list", "ERROR"})
_PREPROC = frozenset({"preproc_if", "preproc_ifdef", "preproc_elif", "preproc_elifdef", "preproc_else"})
_LOOPS = frozenset({"while_statement", "for_statement", "do_statement"})


class FunctionLocks:
    """The lock states along one function body (see the module doc).
    ``callee(name)``: the summary (LockState at exit) of a function the
    module defines, or None for one it does not."""

    def __init__(
        self,
        fn: Node,
        callee: Callable[[str], LockState | None] = lambda _n: None,
        walk: bool = True,
        outcome: Callable[[str], Outcome | None] = lambda _n: None,
    ):
        """``walk``: False for a function the caller knows calls nothing that
        changes or asserts the lock (every state is ENTRY). ``outcome(name)``:
        the states a function of the module leaves on success and on failure,
        when they differ (see Outcome)."""
        self.fn = fn
        self.callee = callee
        self.outcome_of = outcome
        # Results of calls whose lock state depends on success, by the
        # variable that holds them: a test of the variable picks a side.
        self._results: dict[str, _HeldResult] = {}
        self._pointer = _returns_pointer(fn)
        self._returns_ok: LockState | None = None
        self._returns_failed: LockState | None = None
        # State before each call and assignment the walk reached, by its start byte.
        self._points: list[int] = []
        self._states: dict[int, LockState] = {}
        self._labels: dict[str, LockState] = {}
        self._breaks: list[list[LockState]] = []
        self._returns: LockState | None = None
        # Calls after which the write lock is known dropped (an unlock, a
        # downgrade, a wrapper of them), by start byte.
        self.releases: list[Node] = []
        # Calls after which the read side is known held (mmap_read_lock(),
        # down_read(&mm->mmap_lock), a wrapper of them): what a message names.
        self.read_takers: list[Node] = []
        # Where the function write-locks a vma (vma_start_write(), or a
        # vm_flags_*() wrapper that does it), by start byte.
        self.vma_locks: list[int] = []
        self.asserts_write = False
        body = fn.child_by_field_name("body") if walk else None
        state = _ENTRY_STATE
        if body is not None:
            if self._asserts(body):
                # An assertion anywhere says the caller holds the write lock.
                self.asserts_write = True
                state = _ASSERTED
            try:
                end = self._block(body, state)
                self._returns = end.join(self._returns) if end is not None else self._returns
            except RecursionError:
                # Statements nested deeper than Python recursion (hostile
                # input): nothing is known, and nothing concluded from it.
                self._states, self._returns, self.releases, self.vma_locks, self.read_takers = {}, LockState(MAYBE, MAYBE), [], [], []
        self._points = sorted(self._states)

    # -- answers ---------------------------------------------------------------

    def at(self, pos: int) -> LockState:
        """The state before the call or store starting at (or last before)
        byte ``pos`` of the function; ENTRY for code the walk never reached."""
        if pos in self._states:
            return self._states[pos]
        i = bisect_right(self._points, pos) - 1
        return self._states[self._points[i]] if i >= 0 else (_ASSERTED if self.asserts_write else _ENTRY_STATE)

    def vma_locked_before(self, pos: int) -> bool:
        """Whether the function write-locked a vma before byte ``pos``."""
        return any(p < pos for p in self.vma_locks)

    def release_before(self, pos: int) -> Node | None:
        """The last call before byte ``pos`` that dropped the write lock."""
        return _last_before(self.releases, pos)

    def read_lock_before(self, pos: int) -> Node | None:
        """The last call before byte ``pos`` that took the lock for read."""
        return _last_before(self.read_takers, pos)

    @property
    def exit(self) -> LockState:
        """The state the function leaves its caller in (its summary)."""
        return self._returns if self._returns is not None else _ENTRY_STATE

    @property
    def outcome(self) -> Outcome | None:
        """The states the function leaves on success and on failure, when
        its returns say which is which and the two differ (a lookup that
        returns the vma locked, or NULL after dropping the lock)."""
        ok, failed = self._returns_ok, self._returns_failed
        if ok is None or failed is None or ok == failed:
            return None
        return Outcome(ok, failed, self._pointer)

    # -- the walk ----------------------------------------------------------------

    @staticmethod
    def _asserts(body: Node) -> bool:
        code = body.text or b""
        if not any(n.encode() in code for n in ASSERT_WRITE | _TRYLOCK | {"lockdep_assert_held_write"}):
            return False
        for call in _calls(body):
            name = call_name(call) or ""
            effect = _lock_effect(call, name)
            if effect == "assert":
                return True
            # BUG_ON(mmap_read_trylock(mm)): the trylock must fail, so
            # someone holds the lock for write (mm/memory.c).
            if name in _TRYLOCK and _under_bug_on(call, body):
                return True
        return False

    def _block(self, node: Node, state: LockState | None) -> LockState | None:
        """The state after the statements of a block (None: no path falls
        through). A guard() taken in the block ends with it."""
        before = state
        children = [c for c in node.named_children if c.type != "comment"]
        guarded = False
        i = 0
        while i < len(children):
            child = children[i]
            nxt = children[i + 1] if i + 1 < len(children) else None
            scoped = self._scoped_guard(child)
            if scoped is not None and nxt is not None and nxt.type == "compound_statement" and state is not None:
                self._block(nxt, _apply(state, scoped))  # the scope's lock ends with it: state goes on as before
                i += 2
                continue
            if child.type == "expression_statement" and state is not None and self._plain_guard(child) is not None:
                state = _apply(state, self._plain_guard(child))
                guarded = True
                i += 1
                continue
            state = self._statement(child, state)
            i += 1
        if guarded and state is not None and before is not None:
            state = LockState(before.write if state.write == HELD else state.write, before.read if state.read == HELD else state.read)
        return state

    @staticmethod
    def _plain_guard(stmt: Node) -> str | None:
        call = stmt.named_children[0] if stmt.named_children else None
        if call is None or call.type != "call_expression":
            return None
        fn = call.child_by_field_name("function")
        return _guard_lock(call) if fn is not None and fn.type == "call_expression" else None

    @staticmethod
    def _scoped_guard(stmt: Node) -> str | None:
        call = stmt.named_children[0] if stmt.type == "expression_statement" and stmt.named_children else None
        if call is None or call.type != "call_expression" or call_name(call) not in ("scoped_guard", "scoped_cond_guard"):
            return None
        return _guard_lock(call)

    def _statement(self, node: Node, state: LockState | None) -> LockState | None:
        t = node.type
        if state is None and t != "labeled_statement":
            return None
        if t in _COMPOUND:
            return self._block(node, state)
        if t == "if_statement":
            cond = node.child_by_field_name("condition")
            on_true, on_false = self._condition(cond, state)
            then = self._statement(node.child_by_field_name("consequence"), on_true) if node.child_by_field_name("consequence") else on_true
            alt = node.child_by_field_name("alternative")
            other = self._statement(alt, on_false) if alt is not None else on_false
            return _either(then, other)
        if t == "else_clause":
            inner = [c for c in node.named_children if c.type != "comment"]
            return self._statement(inner[0], state) if inner else state
        if t in _LOOPS:
            return self._loop(node, state)
        if t == "switch_statement":
            cond = node.child_by_field_name("condition")
            state = self._expression(cond, state)
            body = node.child_by_field_name("body")
            self._breaks.append([])
            end = state
            for case in body.named_children if body is not None else []:
                # Each case may be jumped to directly, or fallen into.
                entry = state if end is None else end.join(state)
                end = self._block(case, entry) if case.type == "case_statement" else self._statement(case, entry)
            breaks = self._breaks.pop()
            out = end.join(state) if end is not None else state  # no default: nothing ran
            for b in breaks:
                out = out.join(b)
            return out
        if t == "return_statement":
            state = self._expression(node, state)
            self._returns = state.join(self._returns) if state is not None else self._returns
            if state is not None:
                value = next((c for c in node.named_children if c.type != "comment"), None)
                side = _return_side(value, self._pointer)
                if side != "failed":
                    self._returns_ok = state.join(self._returns_ok)
                if side != "ok":
                    self._returns_failed = state.join(self._returns_failed)
            return None
        if t == "goto_statement":
            label = node.child_by_field_name("label")
            if label is not None:
                name = text(label)
                self._labels[name] = state.join(self._labels.get(name))
            return None
        if t in ("break_statement", "continue_statement"):
            if self._breaks:
                self._breaks[-1].append(state)
            return None
        if t == "labeled_statement":
            label = node.child_by_field_name("label")
            jumped = self._labels.get(text(label)) if label is not None else None
            state = jumped if state is None else state.join(jumped)
            inner = [c for c in node.named_children if c.type not in ("comment", "statement_identifier")]
            for c in inner:
                state = self._statement(c, state)
            return state
        if t in _PREPROC:
            # Branches of a conditional the build may compile either way.
            branches = [c for c in node.named_children if c.type in _PREPROC or c.type == "preproc_else"]
            condition = node.child_by_field_name("condition")
            body = [c for c in node.named_children if c.type not in _PREPROC and c != condition]
            mine = state
            for c in body:
                if c.type in (
                    "identifier",
                    "preproc_defined",
                    "binary_expression",
                    "unary_expression",
                    "call_expression",
                    "number_literal",
                ):
                    continue
                mine = self._statement(c, mine)
            out = mine
            for b in branches:
                out = _either(out, self._statement(b, state))
            return out
        return self._expression(node, state)

    def _loop(self, node: Node, state: LockState) -> LockState:
        cond = node.child_by_field_name("condition")
        if node.type == "for_statement":
            init = node.child_by_field_name("initializer")
            state = self._expression(init, state) if init is not None else state
        if cond is not None and node.type != "do_statement":
            state = self._expression(cond, state)
        self._breaks.append([])
        body = node.child_by_field_name("body")
        end = self._statement(body, state) if body is not None else state
        if node.type == "for_statement" and node.child_by_field_name("update") is not None and end is not None:
            end = self._expression(node.child_by_field_name("update"), end)
        breaks = self._breaks.pop()
        out = state.join(end)
        for b in breaks:
            out = out.join(b)
        return out

    def _condition(self, cond: Node | None, state: LockState) -> tuple[LockState | None, LockState | None]:
        """The states on the true and the false side of an if's condition: a
        trylock or killable lock splits them (``if (!mmap_read_trylock(mm))
        return VM_FAULT_RETRY;``)."""
        if cond is None:
            return state, state
        inner, negated = cond, False
        while True:
            if inner.type == "parenthesized_expression" and inner.named_children:
                inner = inner.named_children[-1]
            elif inner.type == "unary_expression" and text(inner.child_by_field_name("operator")) == "!":
                negated = not negated
                inner = inner.child_by_field_name("argument")
            else:
                break
        split = self._result_test(inner, state)
        if split is not None:
            failed_when_true, on_ok, on_failed = split
            taken, failed = (on_failed, on_ok) if failed_when_true else (on_ok, on_failed)
            return (failed, taken) if negated else (taken, failed)
        name = call_name(inner) if inner is not None and inner.type == "call_expression" else None
        if name in _TRYLOCK or name in _KILLABLE:
            args = inner.child_by_field_name("arguments")
            before = self._expression(args, state) if args is not None else state
            self._record(inner, before)
            got = _apply(before, _lock_effect(inner, name) or "")
            success_when_true = name in _TRYLOCK
            taken, failed = (got, before) if success_when_true else (before, got)
            return (failed, taken) if negated else (taken, failed)
        after = self._expression(cond, state)
        return after, after

    def _result_test(self, cond: Node | None, state: LockState) -> tuple[bool, LockState, LockState] | None:
        """For a condition that tests whether a call with an Outcome
        succeeded - its result held in a variable (``!vma``, ``IS_ERR(vma)``,
        ``ret``, ``ret < 0``) or the call itself - (whether true means it
        failed, the state on success, on failure); None for anything else
        or when the lock changed since the call."""
        if cond is None:
            return None
        if cond.type == "call_expression" and (call_name(cond) or "") in ("IS_ERR", "IS_ERR_OR_NULL"):
            args = call_args(cond)
            found = self._results.get(text(args[0]).strip("() ")) if len(args) == 1 else None
            if found is None or found.after != state:
                return None
            return True, found.on_ok, found.on_failed
        if cond.type == "call_expression":
            outcome = self.outcome_of(call_name(cond) or "")
            if outcome is None:
                return None
            args = cond.child_by_field_name("arguments")
            before = self._expression(args, state) if args is not None else state
            self._record(cond, before)
            return not outcome.pointer, before.then(outcome.ok), before.then(outcome.failed)
        compared = None
        if cond.type == "binary_expression":
            left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
            op = text(cond.child_by_field_name("operator"))
            if left is not None and right is not None and text(right) in ("0", "NULL") and op in ("==", "!=", "<"):
                compared, cond = op, left
        if cond.type != "identifier" or text(cond) not in self._results:
            return None
        held = self._results[text(cond)]
        if held.after != state:
            return None
        # What a true ``v`` means: a pointer is there (success); an int is an
        # error code (failure). ``v == 0``/``v == NULL`` is its negation.
        failed_when_true = not held.pointer
        if compared == "==":
            failed_when_true = not failed_when_true
        elif compared == "<" and held.pointer:
            return None
        return failed_when_true, held.on_ok, held.on_failed

    def _expression(self, node: Node | None, state: LockState | None) -> LockState | None:
        """Calls and stores in ``node``, in order of their position: each
        records the state before it, lock calls and helpers with a summary
        change it."""
        if node is None or state is None:
            return state
        for n in _calls_and_stores(node):
            self._record(n, state)
            if n.type == "assignment_expression":
                self._forget_reassigned(n)
            if n.type != "call_expression":
                continue
            name = call_name(n)
            if name is None:
                continue
            if name in VMA_WRITE_LOCKS:
                self.vma_locks.append(n.start_byte)
            if name in ASSERT_WRITE or name == "lockdep_assert_held_write" or (name in _TRYLOCK and _under_bug_on(n, self.fn)):
                continue  # read as an assertion about the entry (see __init__)
            effect = _lock_effect(n, name)
            summary = self.callee(name) if effect is None else None
            before = state
            if effect is not None:
                state = _apply(state, effect)
            elif summary is not None:
                state = state.then(summary)
                self._hold_result(n, name, before, state)
            if state.write == FREE and before.write != FREE:
                self.releases.append(n)
            if state.read == HELD and before.read != HELD:
                self.read_takers.append(n)
        return state

    def _hold_result(self, call: Node, name: str, before: LockState, after: LockState) -> None:
        """Remember the variable a call with an Outcome stores its result in
        (``vma = foo_get_vma(...)``, ``int ret = foo_lock(mm)``)."""
        outcome = self.outcome_of(name)
        holder = parent_of(call)
        while holder is not None and holder.type in ("parenthesized_expression", "cast_expression"):
            holder = parent_of(holder)
        if holder is None:
            return
        var = None
        if holder.type == "assignment_expression" and text(holder.child_by_field_name("operator")) == "=":
            var = _assigned_variable(holder)
        elif holder.type == "init_declarator":
            var = declarator_name(holder.child_by_field_name("declarator"))
        if var is None:
            return
        if outcome is None:
            self._results.pop(var, None)
            return
        self._results[var] = _HeldResult(before.then(outcome.ok), before.then(outcome.failed), after, outcome.pointer, call.start_byte)

    def _forget_reassigned(self, assignment: Node) -> None:
        """A variable that held a call's result and is given another value
        (``vma = find_vma(...)`` after ``vma = foo_get_vma(...)``) no longer
        says which side that call took."""
        var = _assigned_variable(assignment)
        if var in self._results and not assignment.start_byte <= self._results[var].call < assignment.end_byte:
            self._results.pop(var)

    def _record(self, node: Node, state: LockState) -> None:
        old = self._states.get(node.start_byte)
        self._states[node.start_byte] = state if old is None else old.join(state)


@dataclass(frozen=True)
class Outcome:
    """The states a function leaves its caller in when it succeeds and when
    it fails, told apart by what it returns: a pointer (NULL, ERR_PTR() on
    failure) or an int (0 on success, a negative errno on failure)."""

    ok: LockState
    failed: LockState
    pointer: bool


class _HeldResult(NamedTuple):
    """A call's result held in a variable: the states on each side of a
    test of it, the state right after the call, what kind of value it is,
    and where the call starts (a later value in the variable is not it)."""

    on_ok: LockState
    on_failed: LockState
    after: LockState
    pointer: bool
    call: int


def _assigned_variable(assignment: Node) -> str | None:
    left = assignment.child_by_field_name("left")
    return text(left) if left is not None and left.type == "identifier" else None


def _returns_pointer(fn: Node) -> bool:
    d = fn.child_by_field_name("declarator")
    return d is not None and d.type == "pointer_declarator"


_FAILED_POINTERS = frozenset({"NULL", "0"})
_ERROR_POINTER_CALLS = frozenset({"ERR_PTR", "ERR_CAST"})
_INT_SIDES = {"0": "ok", "true": "ok", "false": "failed"}


def _return_side(value: Node | None, pointer: bool) -> str | None:
    """Whether a returned value says success ("ok") or failure ("failed"),
    or None when it may be either (a variable of an int function)."""
    if value is None:
        return None
    code = text(value).strip()
    if pointer:
        if code in _FAILED_POINTERS or (value.type == "call_expression" and call_name(value) in _ERROR_POINTER_CALLS):
            return "failed"
        return "ok"
    return "failed" if code.startswith("-") else _INT_SIDES.get(code)


def _last_before(calls: list[Node], pos: int) -> Node | None:
    found = [n for n in calls if n.end_byte <= pos]
    return max(found, key=lambda n: n.start_byte) if found else None


def _either(a: LockState | None, b: LockState | None) -> LockState | None:
    if a is None:
        return b
    return a.join(b)


def _calls(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "call_expression":
            yield n
        stack.extend(reversed(n.children))


# Calls, assignments and updates, and the blocks whose statements are not
# the expression's own (a statement expression's, a nested function's): one
# query run in tree-sitter, where a walk in Python touched every node.
_STORES_AND_BLOCKS = Query(
    C_LANGUAGE,
    "[(call_expression) (assignment_expression) (update_expression)] @store [(compound_statement) (function_definition)] @block",
)


def _calls_and_stores(node: Node) -> list[Node]:
    """Calls, assignments and updates in ``node``, by position (a call's
    arguments are evaluated before it: an inner call comes first)."""
    found = QueryCursor(_STORES_AND_BLOCKS).captures(node)
    blocks = found.get("block", ())
    out = [n for n in found.get("store", ()) if not any(b.start_byte <= n.start_byte and n.end_byte <= b.end_byte for b in blocks)]
    out.sort(key=lambda n: (n.start_byte, -n.end_byte))
    # Arguments before the call that takes them.
    ordered: list[Node] = []
    pending: list[Node] = []
    for n in out:
        while pending and pending[-1].end_byte <= n.start_byte:
            ordered.append(pending.pop())
        pending.append(n)
    while pending:
        ordered.append(pending.pop())
    return ordered


def _under_bug_on(call: Node, stop: Node) -> bool:
    n = parent_of(call)
    while n is not None and n != stop:
        if n.type == "call_expression" and _BUG_ON_RE.match(call_name(n) or ""):
            return True
        n = parent_of(n)
    return False
