"""Choosing the fixes of one file and applying their edits.

As ruff does: fixes are taken in the order of their first edit; a fix
whose edits overlap an edit already taken waits for the next round (the
file is analysed again and its finding, if still there, fixed then); an
edit identical to one already taken is shared, not applied twice (writes
folded into one call carry the same edits, and so do the include and the
compat shims every fix of a file adds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from daxlint.model import SAFE, Edit, Finding, Fix


@dataclass
class Choice:
    """What a round may fix in one file."""

    fixes: list[tuple[Fix, Finding]] = field(default_factory=list)
    unsafe: list[Finding] = field(default_factory=list)  # fixable only with --unsafe-fixes
    unfixable: list[Finding] = field(default_factory=list)  # no mechanical fix


def choose(findings: list[Finding], unsafe: bool) -> Choice:
    """The fix of each finding that may be applied: a fix that also
    resolves other findings (a fold) only when they are being fixed too,
    else the finding's own fix. A finding that is ``part_of`` a fold gets
    the fold of the finding holding it (the same edits, applied once)."""
    out = Choice()
    here = {(f.line, f.column): f.autofix for f in findings if f.autofix is not None}

    def whole(fold: Fix | None) -> bool:
        return fold is not None and all(c in here for c in fold.covers)

    for f in findings:
        fix = f.autofix
        if fix is not None and fix.part_of is not None:
            fold = here.get(fix.part_of)
            fix = fold if whole(fold) else fix.alone
        elif fix is not None and fix.covers and not whole(fix):
            fix = fix.alone
        if fix is None or not fix.edits:
            out.unfixable.append(f)
        elif fix.safety != SAFE and not unsafe:
            out.unsafe.append(f)
        else:
            out.fixes.append((fix, f))
    return out


@dataclass
class Applied:
    data: bytes
    edits: list[Edit]  # the edits made, in order
    fixed: list[Finding]  # findings whose fix went in
    deferred: list[Finding]  # findings whose fix overlapped another: next round


def apply_fixes(data: bytes, fixes: list[tuple[Fix, Finding]]) -> Applied:
    taken: list[Edit] = []
    fixed: list[Finding] = []
    deferred: list[Finding] = []
    for fix, finding in sorted(fixes, key=lambda p: (min(e.start for e in p[0].edits), p[1].line, p[1].column)):
        if any(e.end > len(data) or e.start > e.end for e in fix.edits):
            deferred.append(finding)  # made for other bytes than these
            continue
        new = [e for e in fix.edits if e not in taken]
        if any(e.overlaps(t) for e in new for t in taken) or any(a.overlaps(b) for i, a in enumerate(new) for b in new[i + 1 :]):
            deferred.append(finding)
            continue
        taken.extend(new)
        fixed.append(finding)
    return Applied(apply_edits(data, taken), sorted(taken, key=lambda e: (e.start, e.end)), fixed, deferred)


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """``data`` with non-overlapping ``edits`` made."""
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(data[pos : e.start])
        out.append(e.replacement.encode("utf-8", "surrogateescape"))
        pos = e.end
    out.append(data[pos:])
    return b"".join(out)
