"""Integers as the C preprocessor computes them in ``#if`` (C11 6.10.1p4):
every value is an ``intmax_t`` or a ``uintmax_t`` - 64 bits, as gcc and
clang have them on every architecture Linux builds for - and the usual
arithmetic conversions apply: when either operand is unsigned the
operation is unsigned, modulo 2**64, so ``-1 > 0u`` holds. Signed overflow
wraps, as gcc and clang compute it (they warn); dividing by zero is an
error (``ZeroDivisionError`` here: no build decides it).

Values are Python ints: a plain ``int`` is signed (kept within
``intmax_t``), ``Unsigned`` is unsigned, and ``Char`` is a one-character
constant such as ``'a'``, whose type the build decides: ``int`` where
``char`` is signed, but ``unsigned`` under ``-funsigned-char`` (every
kernel since v6.2, and arm, powerpc and s390 before), because gcc's
preprocessor gives such a constant the signedness of ``char``. Callers
that only test truth or compare numbers need not care which kind they
hold."""

from __future__ import annotations

import re

WIDTH = 64
_MODULUS = 1 << WIDTH
_MASK = _MODULUS - 1
INTMAX_MAX = (1 << (WIDTH - 1)) - 1
_INT_BITS = 32  # a multi-character constant is an int

_INTEGER = re.compile(
    r"(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[bB](?P<bin>[01]+)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))"
    r"(?P<suffix>[uU]?(?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU])"
)
_SIMPLE_ESCAPES = {
    "n": 10, "t": 9, "v": 11, "b": 8, "r": 13, "f": 12, "a": 7, "e": 27, "E": 27,
    "\\": 92, "'": 39, '"': 34, "?": 63,
}  # fmt: skip
_OCTAL_ESCAPE = re.compile(r"[0-7]{1,3}")
_HEX_ESCAPE = re.compile(r"[0-9a-fA-F]+")


class Unsigned(int):
    """A ``uintmax_t`` value: 0 <= value < 2**64."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}u"


class Char(int):
    """A one-character constant (its byte, 0..255), signed or unsigned as
    the build's ``char`` is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Char({int(self)})"

    def as_signed(self) -> int:
        return int(self) - 256 if self > 127 else int(self)

    def as_unsigned(self) -> Unsigned:
        return Unsigned(int(self))


def typed(value: int, unsigned: bool) -> int:
    """``value`` converted to ``uintmax_t`` (modulo 2**64) or to
    ``intmax_t`` (wrapping, as gcc and clang compute signed overflow)."""
    value &= _MASK
    if unsigned:
        return Unsigned(value)
    return value - _MODULUS if value > INTMAX_MAX else value


def is_unsigned(value: int) -> bool:
    return isinstance(value, Unsigned)


def same(a, b) -> bool:
    """Equal in value and in type."""
    return type(a) is type(b) and a == b


def integer_literal(token: str) -> int:
    """An integer constant's value and type in ``#if``: decimal, octal, hex
    or binary (a GNU extension), with ``u``/``l``/``ll`` suffixes. A
    constant that does not fit ``intmax_t`` is unsigned (gcc and clang
    warn); one that does not fit ``uintmax_t`` raises ValueError (gcc
    truncates it, clang refuses it: no build decides it), as does anything
    that is not an integer constant (``08``, ``1lL``, ``1.0``)."""
    m = _INTEGER.fullmatch(token)
    if m is None:
        raise ValueError(f"not an integer constant: {token!r}")
    if m.group("hex") is not None:
        value = int(m.group("hex"), 16)
    elif m.group("bin") is not None:
        value = int(m.group("bin"), 2)
    elif m.group("oct") is not None:
        value = int(m.group("oct"), 8)
    else:
        value = int(m.group("dec"))
    if value > _MASK:
        raise ValueError(f"integer constant too large: {token}")
    return typed(value, "u" in m.group("suffix").lower() or value > INTMAX_MAX)


def char_literal(token: str) -> int:
    """A character constant ``'x'`` in ``#if``: one byte is a ``Char``;
    several (``'ab'``) are an int, each byte shifted in, as gcc and clang
    compute them. ValueError for an empty constant or a malformed escape."""
    body = token[1:-1]
    chars: list[int] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            chars.extend(c.encode("utf-8", "surrogateescape"))
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("unterminated escape")
        nxt = body[i + 1]
        if nxt in "01234567":
            m = _OCTAL_ESCAPE.match(body, i + 1)
            chars.append(int(m.group(), 8) & 0xFF)
            i = m.end()
        elif nxt == "x":
            m = _HEX_ESCAPE.match(body, i + 2)
            if m is None:
                raise ValueError(r"\x used with no following hex digits")
            chars.append(int(m.group(), 16) & 0xFF)
            i = m.end()
        else:
            chars.append(_SIMPLE_ESCAPES.get(nxt, ord(nxt) & 0xFF))  # an unknown escape is the character (gcc warns)
            i += 2
    if not chars:
        raise ValueError("empty character constant")
    if len(chars) == 1:
        return Char(chars[0])
    value = 0
    for byte in chars[-(_INT_BITS // 8) :]:
        value = (value << 8) | byte
    return value - (1 << _INT_BITS) if value >> (_INT_BITS - 1) else value


def negate(a: int) -> int:
    return typed(-a, is_unsigned(a))


def complement(a: int) -> int:
    return typed(~a, is_unsigned(a))


def binary(op: str, a: int, b: int) -> int:
    """``a op b`` for the arithmetic, bitwise and comparison operators of
    ``#if`` on two known values (neither a ``Char``: the caller decides
    its type). Raises ZeroDivisionError for ``/`` and ``%`` by zero."""
    if op in ("<<", ">>"):
        return _shift(op, a, b)
    unsigned = is_unsigned(a) or is_unsigned(b)
    if unsigned:
        a, b = a & _MASK, b & _MASK
    if op in ("<", ">", "<=", ">=", "==", "!="):
        return int({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b}[op])
    if op in ("/", "%"):
        if b == 0:
            raise ZeroDivisionError(f"division by zero in #if: {a} {op} 0")
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates toward zero
        return typed(quotient if op == "/" else a - b * quotient, unsigned)
    value = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]
    return typed(value, unsigned)


def select(first: bool, a: int, b: int) -> int:
    """``c ? a : b`` once ``c`` is decided: the chosen arm in the type the
    usual arithmetic conversions give both."""
    return typed(a if first else b, is_unsigned(a) or is_unsigned(b))


def _shift(op: str, a: int, b: int) -> int:
    """A shift as gcc's preprocessor does it: the result has the left
    operand's type; a negative count shifts the other way; a count of the
    width or more shifts everything out (a negative signed value shifted
    right that far is -1)."""
    if not is_unsigned(b) and b < 0:
        op, b = ("<<" if op == ">>" else ">>"), -b
    unsigned = is_unsigned(a)
    if op == "<<":
        return typed(a << b, unsigned) if b < WIDTH else typed(0, unsigned)
    if b >= WIDTH:
        return typed(-1 if a < 0 else 0, unsigned)
    return typed(a >> b, unsigned)
