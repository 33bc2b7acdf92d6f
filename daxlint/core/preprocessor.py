"""The C preprocessor's conditions, evaluated for a kernel build without
running the preprocessor.

Code outside mainline is several programs at once: ``#if
LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)`` branches, ``#ifndef
HAVE_VM_FLAGS_SET`` compat shims set by a module's conftest, ``#if 0``
blocks. ``scan()`` reads a file's conditional directives, ``#define``s and
``#include``s from its bytes; ``Evaluation`` decides every branch for one
build (a kernel version and the macros the build defines) with three-valued
logic - true, false or unknown - and ``blank()`` gives the file as that
build sees it: dead branches (and the directives of groups it decided)
become spaces, so byte offsets and line numbers stay those of the file.
Unknown stays in, as it always did: ``#ifdef CONFIG_X`` is unknown unless
the build's configuration is given.

What the evaluator knows: integer arithmetic as C's preprocessor does it
(``intmax_t``/``uintmax_t``, see ``cinteger``), comparisons, ``&& || ! ?:``,
``defined()``, ``LINUX_VERSION_CODE``, ``KERNEL_VERSION(a,b,c)``,
``LINUX_VERSION_MAJOR/PATCHLEVEL/SUBLEVEL``, ``IS_ENABLED()``,
``IS_BUILTIN()``, ``IS_MODULE()``, ``CONFIG_*``, object-like macros defined
in the file, in headers it includes or on the command line, and kernel
macros whose existence changed over time (asked of the API history)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from daxlint.core import cinteger
from daxlint.core.cinteger import Char
from daxlint.core.directives import Branch, Define, Directives, Group, Include
from daxlint.version import KernelVersion


class _Unknown:
    """A value the build decides but daxlint cannot know."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value: test 'is UNKNOWN' first")


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Interval:
    """A number known only to lie in [lo, hi]: LINUX_VERSION_CODE when the
    sublevel is not known."""

    lo: int
    hi: int


# -- expressions -----------------------------------------------------------------

# A preprocessing number (C11 6.4.8: "1u", "0x1F", "08", "1.0" - the last
# two are no integer constant, which evaluating it finds), a character
# constant ('a', '\\n', 'ab'), an identifier or an operator.
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\.?[0-9](?:[eEpP][-+]|[0-9A-Za-z_.])*)|(?P<char>'(?:\\.|[^'\\])*')|(?P<id>[A-Za-z_]\w*)"
    r"|(?P<op>&&|\|\||<<|>>|<=|>=|==|!=|[-+*/%<>&|^!~?:(),]))"
)
_BINARY = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}  # fmt: skip
_MAX_EXPANSION = 8


def tokens(expr: str) -> list[str] | None:
    """The tokens of a condition; None when something in it is not C."""
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            return None
        out.append(m.group(m.lastgroup))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


def kernel_version_code(major: int, minor: int, sublevel: int) -> int:
    """KERNEL_VERSION(a, b, c) of current kernels (the sublevel saturates)."""
    return (major << 16) + (minor << 8) + min(sublevel, 255)


def truth(value) -> bool | _Unknown:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, Interval):
        return True if value.lo > 0 or value.hi < 0 else (False if value.lo == value.hi == 0 else UNKNOWN)
    return value != 0


class Macros:
    """What an expression's identifiers stand for at one point of a file:
    ``value(name)`` is the macro's replacement text, ``defined(name)`` True,
    False or UNKNOWN; ``builtin(name)`` answers names the build itself
    defines (LINUX_VERSION_CODE and friends, CONFIG_*, kernel macros)."""

    def __init__(self, lookup: Callable[[str], tuple[object, object]]):
        # lookup(name) -> (defined: True/False/UNKNOWN, value: str | int | Interval | UNKNOWN | None)
        self.lookup = lookup


class _Parser:
    def __init__(self, toks: list[str], macros: Macros, depth: int):
        self.toks = toks
        self.pos = 0
        self.macros = macros
        self.depth = depth

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, tok: str) -> None:
        if self.peek() != tok:
            raise ValueError(f"expected {tok!r}")
        self.pos += 1

    def comma(self):
        """An expression with comma operators (gcc takes them in ``#if``): the last value."""
        value = self.expression()
        while self.peek() == ",":
            self.take()
            value = self.expression()
        return value

    def expression(self, floor: int = 0):
        left = self.unary()
        while True:
            op = self.peek()
            if op == "?" and floor == 0:
                self.take()
                yes = self.comma()
                self.expect(":")
                no = self.expression()
                left = _conditional(left, yes, no)
                continue
            prec = _BINARY.get(op)
            if prec is None or prec <= floor:
                return left
            self.take()
            right = self.expression(prec)
            left = _binary(op, left, right)

    def unary(self):
        tok = self.take()
        if tok in ("!", "-", "+", "~"):
            value = self.unary()
            if tok == "!":
                t = truth(value)
                return UNKNOWN if t is UNKNOWN else int(not t)
            if not isinstance(value, int):
                return UNKNOWN
            if tok == "+":
                return value
            return _by_char_type(cinteger.negate if tok == "-" else cinteger.complement, value)
        if tok == "(":
            value = self.comma()
            self.expect(")")
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return cinteger.integer_literal(tok)
        if tok[0] == "'":
            return cinteger.char_literal(tok)
        if tok == "defined":
            paren = self.peek() == "("
            if paren:
                self.take()
            name = self.take()
            if paren:
                self.expect(")")
            d, _value = self.macros.lookup(name)
            return UNKNOWN if d is UNKNOWN else int(d)
        if tok[0].isalpha() or tok[0] == "_":
            if self.peek() == "(":
                return self.call(tok)
            return self.identifier(tok)
        raise ValueError(f"unexpected {tok!r}")

    def arguments(self) -> list[list[str]]:
        self.expect("(")
        args: list[list[str]] = [[]]
        depth = 0
        while True:
            tok = self.take()
            if tok == ")" and depth == 0:
                return args if args != [[]] else []
            if tok == "," and depth == 0:
                args.append([])
                continue
            depth += tok == "("
            depth -= tok == ")"
            args[-1].append(tok)

    def call(self, name: str):
        args = self.arguments()
        if name == "KERNEL_VERSION" and len(args) == 3:
            # The kernel's own definition, computed as C does:
            # (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
            a, b, c = (self.sub(a) for a in args)
            sublevel = _conditional(_binary(">", c, 255), 255, c)
            return _binary("+", _binary("+", _binary("<<", a, 16), _binary("<<", b, 8)), sublevel)
        if name in ("IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE") and len(args) == 1 and len(args[0]) == 1:
            symbol = args[0][0]
            builtin, value = self.macros.lookup(symbol)
            module, _ = self.macros.lookup(symbol + "_MODULE")
            if builtin is True and value not in ("", "1", 1, UNKNOWN):
                builtin = False  # Kconfig's test is "defined as 1": -D CONFIG_X=0 (or =y) is off
            if module is UNKNOWN and builtin is not UNKNOWN:
                # The build said what CONFIG_X is (-D/-U, [macros]) and
                # nothing of CONFIG_X_MODULE: it is not a module either.
                module = False
            if name == "IS_BUILTIN":
                return UNKNOWN if builtin is UNKNOWN else int(builtin)
            if name == "IS_MODULE":
                return UNKNOWN if module is UNKNOWN else int(module)
            if builtin is True or module is True:
                return 1
            return 0 if builtin is False and module is False else UNKNOWN
        return UNKNOWN  # a function-like macro we do not expand

    def sub(self, toks: list[str]):
        if self.depth > _MAX_EXPANSION:
            return UNKNOWN
        return evaluate_tokens(toks, self.macros, self.depth + 1)

    def identifier(self, name: str):
        d, value = self.macros.lookup(name)
        if d is False:
            return 0  # C: an undefined identifier is 0
        if value is None or value is UNKNOWN:
            return UNKNOWN
        if isinstance(value, (int, Interval)):
            return value
        toks = tokens(value)
        if not toks or self.depth > _MAX_EXPANSION:
            return UNKNOWN
        return evaluate_tokens(toks, self.macros, self.depth + 1)


def _binary(op: str, a, b):
    if op in ("&&", "||"):
        ta, tb = truth(a), truth(b)
        if op == "&&":
            if ta is False or tb is False:
                return 0
            return 1 if ta is True and tb is True else UNKNOWN
        if ta is True or tb is True:
            return 1
        return 0 if ta is False and tb is False else UNKNOWN
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if isinstance(a, Interval) or isinstance(b, Interval):
        return _compare(op, a, b) if op in _COMPARISONS else UNKNOWN
    try:
        return _by_char_type(lambda x, y: cinteger.binary(op, x, y), a, b)
    except ZeroDivisionError:
        return UNKNOWN  # an error for the compiler: no build decides it


_COMPARISONS = ("<", ">", "<=", ">=", "==", "!=")


def _by_char_type(operation, *values):
    """``operation`` on C values, one of which may be a character constant
    whose signedness the build decides (``-funsigned-char``): its result
    when both readings agree, else UNKNOWN."""
    if not any(isinstance(v, Char) for v in values):
        return operation(*values)
    signed = operation(*(v.as_signed() if isinstance(v, Char) else v for v in values))
    unsigned = operation(*(v.as_unsigned() if isinstance(v, Char) else v for v in values))
    return signed if cinteger.same(signed, unsigned) else UNKNOWN


def _conditional(cond, yes, no):
    """``cond ? yes : no``. The result has the type the usual arithmetic
    conversions give both arms (``1 ? -1 : 0u`` is unsigned), so an arm
    whose value is unknown leaves the result's type unknown too."""
    t = truth(cond)
    if yes is UNKNOWN or no is UNKNOWN:
        return UNKNOWN
    if isinstance(yes, Interval) or isinstance(no, Interval):
        if cinteger.is_unsigned(yes) or cinteger.is_unsigned(no):
            return UNKNOWN
        if t is UNKNOWN:
            return yes if yes == no else UNKNOWN
        return yes if t else no
    first = _by_char_type(lambda y, n: cinteger.select(True, y, n), yes, no)
    second = _by_char_type(lambda y, n: cinteger.select(False, y, n), yes, no)
    if t is UNKNOWN:
        return first if cinteger.same(first, second) else UNKNOWN
    return first if t else second


def _compare(op: str, a, b):
    """A comparison where one side is an Interval (LINUX_VERSION_CODE of an
    unknown sublevel, a signed value in a known range)."""
    if isinstance(a, Char) or isinstance(b, Char):
        return _by_char_type(lambda x, y: _compare(op, x, y), a, b)
    lo_a, hi_a = (a.lo, a.hi) if isinstance(a, Interval) else (a, a)
    lo_b, hi_b = (b.lo, b.hi) if isinstance(b, Interval) else (b, b)
    if cinteger.is_unsigned(a) or cinteger.is_unsigned(b):
        # Compared as uintmax_t: a range stays ordered only on one side of 0.
        if any(lo < 0 <= hi for lo, hi in ((lo_a, hi_a), (lo_b, hi_b))):
            return UNKNOWN
        lo_a, hi_a, lo_b, hi_b = (v % (1 << cinteger.WIDTH) for v in (lo_a, hi_a, lo_b, hi_b))
    if op in (">", ">="):
        op, (lo_a, hi_a, lo_b, hi_b) = ("<" if op == ">" else "<="), (lo_b, hi_b, lo_a, hi_a)
    if op == "<":
        return 1 if hi_a < lo_b else (0 if lo_a >= hi_b else UNKNOWN)
    if op == "<=":
        return 1 if hi_a <= lo_b else (0 if lo_a > hi_b else UNKNOWN)
    same = lo_a == hi_a == lo_b == hi_b
    disjoint = hi_a < lo_b or hi_b < lo_a
    if op == "==":
        return 1 if same else (0 if disjoint else UNKNOWN)
    return 0 if same else (1 if disjoint else UNKNOWN)


def evaluate_tokens(toks: list[str], macros: Macros, depth: int = 0):
    try:
        parser = _Parser(toks, macros, depth)
        value = parser.comma()
        return value if parser.peek() is None else UNKNOWN
    except (ValueError, IndexError, KeyError, TypeError, OverflowError):
        return UNKNOWN


def evaluate(expr: str, macros: Macros):
    """The value of a condition: an int, an Interval, or UNKNOWN."""
    toks = tokens(expr)
    return UNKNOWN if not toks else evaluate_tokens(toks, macros)


# -- the build's view of a file -------------------------------------------------------


def _and(a, b):
    if a is False or b is False:
        return False
    return True if a is True and b is True else UNKNOWN


def _not(a):
    return UNKNOWN if a is UNKNOWN else not a


@dataclass
class Evaluation:
    """Every branch of a file decided for one build: ``alive[branch]`` is
    True, False or UNKNOWN (runs only if the build makes it so)."""

    directives: Directives
    alive: dict[Branch, object] = field(default_factory=dict)
    taken: dict[Branch, object] = field(default_factory=dict)  # the group's own choice, whatever its parent
    defines: dict[str, tuple[object, object]] = field(default_factory=dict)  # the file's macros at its end

    def dead_spans(self) -> list[tuple[int, int]]:
        """Byte spans the build never compiles: dead branch bodies, and the
        directive lines of every group whose branches are all decided."""
        spans: list[tuple[int, int]] = []
        for group in self.directives.groups:
            parent = self.alive.get(group.parent, True) if group.parent is not None else True
            if parent is False:
                continue  # blanked with its parent branch
            for b in group.branches:
                if self.alive[b] is False:
                    spans.append((b.body, b.end))
            if all(self.taken[b] is not UNKNOWN for b in group.branches) and group.endif is not None:
                spans.extend((b.start, b.body) for b in group.branches)
                spans.append(group.endif)
        return sorted(spans)


def evaluate_file(
    directives: Directives,
    lookup_outside: Callable[[str], tuple[object, object]],
    header_defines: Callable[[Include], dict | None] | None = None,
) -> Evaluation:
    """Decide every branch of a file for one build. ``lookup_outside(name)``
    answers for names the file itself does not define at that point (the
    command line, the kernel); a name it cannot answer is looked up in the
    headers included so far, whose macros ``header_defines(include)`` gives
    (read only when a condition needs them: most files never do)."""
    ev = Evaluation(directives)
    # name -> (defined, value) as the file defines them so far
    table: dict[str, tuple[object, object]] = {}
    includes: list[tuple[Include, object]] = []  # live so far, with the state of their branch

    def lookup(name: str):
        known = table.get(name)
        if known is not None:
            return known
        outside = lookup_outside(name)
        if outside[0] is UNKNOWN and header_defines is not None:
            for inc, state in reversed(includes):
                defines = header_defines(inc)
                if defines and name in defines:
                    return defines[name] if state is True else (UNKNOWN, UNKNOWN)
        return outside

    macros = Macros(lookup)
    events: list[tuple[int, int, object]] = []
    for group in directives.groups:
        for b in group.branches:
            events.append((b.start, 0, b))
    for d in directives.defines:
        events.append((d.pos, 1, d))
    for inc in directives.includes:
        events.append((inc.pos, 1, inc))
    events.sort(key=lambda e: (e[0], e[1]))
    taken: dict[Group, list[object]] = {}
    for _pos, _order, item in events:
        if isinstance(item, Branch):
            group = item.group
            before = taken.setdefault(group, [])
            none_before = True
            for t in before:
                none_before = _and(none_before, _not(t))
            cond = _condition(item, macros)
            here = _and(none_before, cond) if item.kind != "else" else none_before
            before.append(cond if item.kind != "else" else True)
            parent = ev.alive.get(group.parent, True) if group.parent is not None else True
            ev.taken[item] = here
            ev.alive[item] = _and(parent, here)
            continue
        parent_state = ev.alive.get(item.parent, True) if item.parent is not None else True
        if parent_state is False:
            continue
        if isinstance(item, Define):
            if item.function_like:
                table[item.name] = (True if parent_state is True else UNKNOWN, UNKNOWN)
            elif parent_state is True:
                table[item.name] = (False, None) if item.value is None else (True, item.value)
            else:
                table[item.name] = (UNKNOWN, UNKNOWN)
        else:
            includes.append((item, parent_state))
    ev.defines = table
    return ev


def _condition(branch: Branch, macros: Macros):
    if branch.kind in ("ifdef", "ifndef", "elifdef", "elifndef"):
        name = branch.expr.split()[0] if branch.expr.split() else ""
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            return UNKNOWN
        defined, _ = macros.lookup(name)
        return _not(defined) if branch.kind.endswith("ndef") else defined
    return truth(evaluate(branch.expr, macros))


def blank(data: bytes, spans: Iterable[tuple[int, int]]) -> bytes:
    """``data`` with every span turned into spaces, line breaks kept."""
    out = bytearray(data)
    for start, end in spans:
        for i in range(start, min(end, len(out))):
            if out[i] not in (0x0A, 0x0D):
                out[i] = 0x20
    return bytes(out)


def version_macros(version: KernelVersion, sublevel: int | None) -> dict[str, tuple[object, object]]:
    """LINUX_VERSION_CODE and friends for a build of ``version``."""
    base = kernel_version_code(version.major, version.minor, 0)
    # The code's sublevel saturates at 255 (4.9.337 is KERNEL_VERSION(4, 9, 255)); the field is exact.
    code = base + min(sublevel, 255) if sublevel is not None else Interval(base, base + 255)
    return {
        "LINUX_VERSION_CODE": (True, code),
        "LINUX_VERSION_MAJOR": (True, version.major),
        "LINUX_VERSION_PATCHLEVEL": (True, version.minor),
        "LINUX_VERSION_SUBLEVEL": (True, sublevel if sublevel is not None else Interval(0, 255)),
        "__KERNEL__": (True, 1),
        "__ASSEMBLY__": (False, None),
        "KERNEL_VERSION": (True, UNKNOWN),
    }
