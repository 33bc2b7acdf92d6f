"""Inline suppressions: a C comment ``daxlint: ignore`` (every rule) or
``daxlint: ignore[DAX301,DAX1]`` silences findings on its own line and on
the line below it. A suppression that silences nothing is itself reported
(DAX001), so stale ones do not pile up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daxlint.core.syntax import walk
from daxlint.model import Finding

SUPPRESSION = re.compile(r"daxlint:\s*ignore(?:\[([^\]]*)\])?", re.I)


@dataclass
class Suppression:
    line: int  # 1-based line of the comment's start
    end_line: int
    column: int
    rules: list[str] | None  # None: every rule
    used: bool = False
    text: str = ""
    start: int = -1  # the comment's bytes in the file (for its removal)
    end: int = -1

    def covers(self, finding: Finding) -> bool:
        if not (self.line <= finding.line <= self.end_line + 1):
            return False
        if self.rules is None:
            return True
        return any(finding.rule_id.startswith(r) for r in self.rules)


def find_suppressions(source, kind: str = "c") -> list[Suppression]:
    """Suppression comments of a parsed SourceFile (only real comments
    count, not strings that happen to contain the words)."""
    if b"daxlint" not in source.data:
        return []
    out = []
    if kind == "kconfig":  # '#' comments, line based
        pos = 0
        for i, raw in enumerate(source.data.split(b"\n"), 1):
            line = raw.decode("utf-8", "replace")
            hash_at = line.find("#")
            m = SUPPRESSION.search(line, hash_at) if hash_at >= 0 else None
            if m:
                rules = [r.strip().upper() for r in m.group(1).split(",") if r.strip()] if m.group(1) is not None else None
                start = pos + len(line[:hash_at].encode())
                out.append(Suppression(i, i, hash_at + 1, rules, text=m.group(0), start=start, end=pos + len(raw.rstrip(b"\r"))))
            pos += len(raw) + 1
        return out
    for node in walk(source.root, {"comment"}):
        body = source.node_text(node)
        m = SUPPRESSION.search(body)
        if not m:
            continue
        rules = None
        if m.group(1) is not None:
            rules = [r.strip().upper() for r in m.group(1).split(",") if r.strip()]
        out.append(
            Suppression(
                node.start_point[0] + 1,
                node.end_point[0] + 1,
                node.start_point[1] + 1,
                rules,
                text=m.group(0),
                start=node.start_byte,
                end=node.end_byte,
            )
        )
    return out


@dataclass
class SuppressionResult:
    kept: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    unused: list[Suppression] = field(default_factory=list)


def apply_suppressions(findings: list[Finding], suppressions: list[Suppression]) -> SuppressionResult:
    """Findings split into kept and suppressed; a suppressed one carries
    the comment that silenced it (``Finding.suppression``)."""
    res = SuppressionResult()
    for f in findings:
        hit = [s for s in suppressions if s.covers(f)]
        for s in hit:
            s.used = True
        if hit:
            f.suppression = {"line": hit[0].line, "comment": hit[0].text}
            res.suppressed.append(f)
        else:
            res.kept.append(f)
    res.unused = [s for s in suppressions if not s.used]
    return res
