"""Finding identity that survives unrelated edits: rule, path, enclosing
function and the flagged line with white space folded - never the line
number. Identical lines in one function are told apart by their order."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from daxlint.model import Finding

_WS = re.compile(r"\s+")
# White space matters only between two word characters ("unsigned long");
# next to punctuation ("VM_IO ;", "a|=b") it is style, not identity.
_WS_NEAR_PUNCT = re.compile(r"\s+(?=\W)|(?<=\W)\s+")


def normalise_code(line: str) -> str:
    return _WS_NEAR_PUNCT.sub("", _WS.sub(" ", line).strip())


def identity(f: Finding) -> tuple[str, str, str]:
    """What makes two findings the same problem wherever the code sits: rule,
    enclosing function and the flagged line, white space folded - or the
    construct the line spells, when the rule names it (a change of a vma's
    flags, however it is written). Patch mode asks whether a finding was
    there before a patch; audit pairs a finding that left one file with one
    that arrived in another (moved code)."""
    return (f.rule_id, f.function or "", f.construct or normalise_code(f.snippet))


def _bytes(text: str) -> bytes:
    """UTF-8, with a file name's undecodable bytes as they are on disk."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def assign_fingerprints(findings: list[Finding], path: str | None = None, spelled: bool = False) -> None:
    """Set ``fingerprint`` on each finding (in place). Findings must be of one
    file and sorted by position so the occurrence index is stable. ``path``:
    the file as the fingerprint names it (the tree-relative path, so that it
    does not depend on where daxlint runs), else each finding's path.
    ``spelled``: from the flagged line even where the rule names the
    construct (the fingerprints baselines recorded before constructs)."""
    seen: Counter = Counter()
    for f in sorted(findings, key=Finding.sort_key):
        code = normalise_code(f.snippet) if spelled or not f.construct else f.construct
        base = (f.rule_id, path or f.path, f.function or "", code)
        nth = seen[base]
        seen[base] += 1
        h = hashlib.sha256(_bytes("\x1f".join((*base, str(nth)))))
        f.fingerprint = h.hexdigest()[:16]
