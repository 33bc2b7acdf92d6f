"""Inline expectations in C fixtures, semgrep style.

``/* ruleid: DAX101 */`` (``# ruleid: DAX204`` in Kconfig fixtures) above a line says that line must be flagged by
DAX101; ``/* ok: DAX101 */`` says it must not be. Several ids may be given,
comma separated; ``/* ruleid: DAX301 versions=6.3..6.12 */`` also says for
which releases of the checked range. A fixture may start with ``/*
daxlint-fixture: kernel-version=6.1 */`` to fix the kernel version (or
range, ``4.14..6.12``) the rules assume, and ``define=NAME[=VALUE],...``
for the macros the build defines. Every finding of an annotated rule in
the file must be expected."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# C comments, and `#` comments for Kconfig fixtures.
_ANNOT = re.compile(
    r"/\*\s*(ruleid|ok)\s*:\s*([A-Z0-9, ]+?)\s*(?:versions=([0-9., ]+?)\s*)?\*/"
    r"|//\s*(ruleid|ok)\s*:\s*([A-Z0-9, ]+)|#\s*(ruleid|ok)\s*:\s*([A-Z0-9, ]+)"
)
_CONFIG = re.compile(r"daxlint-fixture:\s*([^*\n]+)")


@dataclass
class Expectations:
    flagged: set[tuple[str, int]] = field(default_factory=set)  # (rule, line)
    clean: set[tuple[str, int]] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    config: dict[str, str] = field(default_factory=dict)
    versions: dict[tuple[str, int], str] = field(default_factory=dict)  # (rule, line) -> "6.3..6.12"


def _target_line(lines: list[str], idx: int) -> int:
    """The first line after ``idx`` (0-based) that is not itself only an annotation."""
    j = idx + 1
    while j < len(lines) and _ANNOT.fullmatch(lines[j].strip() or "x") is not None:
        j += 1
    return j + 1  # 1-based


def parse_expectations(path: Path) -> Expectations:
    lines = path.read_text().splitlines()
    exp = Expectations()
    head = "\n".join(lines[:5])
    m = _CONFIG.search(head)
    if m:
        for item in m.group(1).split():
            k, _, v = item.partition("=")
            exp.config[k.strip()] = v.strip()
    for i, line in enumerate(lines):
        for a in _ANNOT.finditer(line):
            kind = a.group(1) or a.group(4) or a.group(6)
            ids = [x.strip() for x in (a.group(2) or a.group(5) or a.group(7)).split(",") if x.strip()]
            # An annotation alone on its line points at the next code line;
            # a trailing one points at its own line.
            own = line[: a.start()].strip()
            target = i + 1 if own else _target_line(lines, i)
            for rid in ids:
                exp.rules.add(rid)
                (exp.flagged if kind == "ruleid" else exp.clean).add((rid, target))
                if a.group(3):
                    exp.versions[(rid, target)] = a.group(3).strip()
    return exp
