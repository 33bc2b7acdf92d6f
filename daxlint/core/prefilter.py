"""Which trigger tokens occur in a file: the engine's cheapest question,
asked of every file in the tree. Hyperscan answers it for all tokens in one
pass over the bytes; without it (a platform with no wheel) we fall back to
one ``bytes.__contains__`` per token, which is correct but several times
slower on a kernel tree."""

from __future__ import annotations

import os
import re

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None


class _PerProcess:
    """A hyperscan database compiled in each process that uses it: a
    compiled database holds scratch space that must not be shared across
    fork. None without hyperscan or without patterns."""

    def __init__(self, expressions: list[bytes], flags: list[int]):
        self._expressions = expressions
        self._flags = flags
        self._db = None
        self._pid = None

    def database(self):
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._db = None
            if hyperscan is not None and self._expressions:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                n = len(self._expressions)
                db.compile(expressions=self._expressions, ids=list(range(n)), elements=n, flags=self._flags)
                self._db = db
        return self._db


class TokenMatcher:
    def __init__(self, tokens: list[bytes]):
        self.tokens = sorted(set(tokens))
        single = hyperscan.HS_FLAG_SINGLEMATCH if hyperscan is not None else 0
        self._db = _PerProcess([_literal(t) for t in self.tokens], [single] * len(self.tokens))

    def present(self, data: bytes) -> set[bytes]:
        if not self.tokens:
            return set()
        db = self._db.database()
        if db is None:
            return {t for t in self.tokens if t in data}
        found: set[int] = set()

        def on_match(ident, start, end, flags, context):
            found.add(ident)

        db.scan(data, match_event_handler=on_match)
        return {self.tokens[i] for i in found}


class PatternStarts:
    """Where the matches of one regular expression start in a file. The
    pattern must mean the same to hyperscan and to Python's ``re`` (no
    backreferences, ASCII classes): hyperscan finds every start in one pass,
    where ``re`` tries the pattern at each position its first byte occurs
    (a parenthesis: thousands a file); the fallback gives the starts of
    ``re``'s matches."""

    def __init__(self, pattern: bytes):
        self._compiled = re.compile(pattern)
        leftmost = hyperscan.HS_FLAG_SOM_LEFTMOST if hyperscan is not None else 0
        self._db = _PerProcess([pattern], [leftmost])

    def starts(self, data: bytes) -> list[int]:
        db = self._db.database()
        if db is None:
            return [m.start() for m in self._compiled.finditer(data)]
        found: set[int] = set()

        def on_match(ident, start, end, flags, context):
            found.add(start)

        db.scan(data, match_event_handler=on_match)
        return sorted(found)


def _literal(token: bytes) -> bytes:
    """A hyperscan pattern matching ``token`` literally."""
    return b"".join(b"\\x%02x" % c for c in token)
