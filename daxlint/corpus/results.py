"""What a corpus run found: per state of an entry, per upstream commit, per
rule; and the JSON the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from daxlint.core.registry import all_rules
from daxlint.corpus.entries import Entry
from daxlint.model import FileResult, Finding, InternalError, Skipped
from daxlint.version import KernelVersion


@dataclass(kw_only=True)
class Analysis:
    """What the rules said about a set of files."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(sorted({f.rule_id for f in self.findings}))

    def add(self, res: FileResult) -> None:
        self.files += 1
        self.findings.extend(res.findings)
        self.errors.extend(res.errors)
        self.skipped.extend(res.skipped)


@dataclass
class StateResult(Analysis):
    state: str
    kernel_version: KernelVersion
    present: bool  # False: the change added the code, there is no such state
    expected: tuple[str, ...]

    @property
    def actual(self) -> tuple[str, ...]:
        return self.rule_ids

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(r for r in self.expected if r not in self.actual)

    @property
    def unexpected(self) -> tuple[str, ...]:
        return tuple(r for r in self.actual if r not in self.expected)

    @property
    def unregistered(self) -> tuple[str, ...]:
        """Expected rules daxlint does not have (yet)."""
        known = {r.id for r in all_rules()}
        return tuple(r for r in self.expected if r not in known)

    @property
    def status(self) -> str:
        # A rule that crashed on corpus code leaves "actual" unreliable.
        return "match" if not self.missing and not self.unexpected and not self.errors else "mismatch"


@dataclass
class UpstreamSide(Analysis):
    kernel_version: KernelVersion | None  # from the Makefile at that commit


@dataclass
class UpstreamResult:
    status: str  # "checked" | "missing" | "skipped"
    note: str = ""
    commit: str | None = None  # the full id when found
    subject: str | None = None  # the commit's own subject line
    sides: dict[str, UpstreamSide] = field(default_factory=dict)  # before/after


@dataclass
class EntryResult:
    entry: Entry
    states: list[StateResult]
    upstream: UpstreamResult | None = None

    @property
    def status(self) -> str:
        return "match" if all(s.status == "match" for s in self.states) else "mismatch"

    @property
    def expected(self) -> tuple[str, ...]:
        return tuple(sorted({r for s in self.states for r in s.expected}))

    @property
    def actual(self) -> tuple[str, ...]:
        return tuple(sorted({r for s in self.states for r in s.actual}))


@dataclass
class RuleSummary:
    rule_id: str
    name: str | None  # None: daxlint has no such rule (yet)
    expected: int = 0  # states whose expected list names the rule
    matched: int = 0  # ... and that reported it
    missed: int = 0  # ... and that did not
    unexpected: int = 0  # states that reported it without expecting it

    @property
    def registered(self) -> bool:
        return self.name is not None


def rule_summary(results: list[EntryResult]) -> list[RuleSummary]:
    """Per rule: how the corpus exercises it. Every registered rule gets a
    row (a rule no entry names is worth seeing), plus expected ones that do
    not exist."""
    names = {r.id: r.name for r in all_rules()}
    rows: dict[str, RuleSummary] = {rid: RuleSummary(rid, name) for rid, name in names.items()}
    for res in results:
        for st in res.states:
            for rid in st.expected:
                row = rows.setdefault(rid, RuleSummary(rid, names.get(rid)))
                row.expected += 1
                if rid in st.actual:
                    row.matched += 1
                else:
                    row.missed += 1
            for rid in st.unexpected:
                rows.setdefault(rid, RuleSummary(rid, names.get(rid))).unexpected += 1
    return [rows[k] for k in sorted(rows)]


def _finding_json(f: Finding) -> dict:
    return {"rule_id": f.rule_id, "severity": f.severity.value, "path": f.path, "line": f.line, "column": f.column, "message": f.message}


def _state_json(st: StateResult) -> dict:
    return {
        "state": st.state,
        "kernel_version": str(st.kernel_version),
        "present": st.present,
        "expected": list(st.expected),
        "actual": list(st.actual),
        "status": st.status,
        "missing": list(st.missing),
        "unexpected": list(st.unexpected),
        "unregistered_rules": list(st.unregistered),
        "findings": [_finding_json(f) for f in st.findings],
        "errors": [e.to_dict() for e in st.errors],
        "skipped": [s.to_dict() for s in st.skipped],
    }


def _upstream_json(up: UpstreamResult) -> dict:
    out: dict = {"status": up.status, "note": up.note}
    if up.commit:
        out["commit"] = up.commit
    if up.subject:
        out["subject"] = up.subject
    for name, side in up.sides.items():
        out[name] = {
            "kernel_version": str(side.kernel_version) if side.kernel_version else None,
            "files": side.files,
            "rule_ids": list(side.rule_ids),
            "findings": [_finding_json(f) for f in side.findings],
            "errors": [e.to_dict() for e in side.errors],
            "skipped": [sk.to_dict() for sk in side.skipped],
        }
    return out


def to_json(results: list[EntryResult]) -> dict:
    """The ``--format json`` document. ``expected``/``actual`` of an entry are
    the rule ids over all its states; ``states`` has them per state, and
    ``status`` is "match" only when every state matches."""
    entries = []
    for res in results:
        e = res.entry
        item = {
            "id": e.id,
            "upstream_commit": e.upstream_commit,
            "subject": e.subject,
            "kernel_version": str(e.kernel_version),
            "kernel_version_approximate": e.kernel_version_approximate,
            "side": e.side,
            "merged": e.merged,
            "expected": list(res.expected),
            "actual": list(res.actual),
            "status": res.status,
            "states": [_state_json(s) for s in res.states],
        }
        if res.upstream is not None:
            item["upstream"] = _upstream_json(res.upstream)
        entries.append(item)
    rules = [
        {
            "rule_id": r.rule_id,
            "registered": r.registered,
            "expected": r.expected,
            "matched": r.matched,
            "missed": r.missed,
            "unexpected": r.unexpected,
        }
        for r in rule_summary(results)
    ]
    matched = sum(r.status == "match" for r in results)
    return {
        "entries": entries,
        "rules": rules,
        "summary": {"entries": len(results), "match": matched, "mismatch": len(results) - matched},
    }
