"""What an audit found: per commit (CommitAudit) and for the range
(AuditResult), as the reports and the store see it."""

from __future__ import annotations

from dataclasses import dataclass, field

from daxlint import __version__
from daxlint.core.fingerprint import identity
from daxlint.model import Finding, InternalError, Severity, Skipped
from daxlint.sources.git import CommitInfo

FAMILY_NAMES = {
    "DAX0": "engine",
    "DAX1": "page-less pfn_t",
    "DAX2": "ZONE_DEVICE backing",
    "DAX3": "vm_flags",
}


def family(rule_id: str) -> str:
    return rule_id[:4]


@dataclass
class CommitAudit:
    sha: str
    subject: str
    author: str
    email: str
    date: str
    parents: list[str]
    kernel_version: str | None = None
    introduced: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    moved: list[dict] = field(default_factory=list)
    # Findings a daxlint: ignore comment silences that this commit brought
    # in silenced, or silenced (it did not fix them): never open, counted.
    suppressed: list[Finding] = field(default_factory=list)
    open_before: dict[str, int] = field(default_factory=dict)  # per family
    open_after: dict[str, int] = field(default_factory=dict)
    compared_whole_tree: str | None = None  # why: "root commit", "kernel version 6.2 -> 6.3"
    skipped: str | None = None  # why this commit could not be audited
    skipped_files: list[Skipped] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    files_checked: int = 0
    from_store: bool = False
    still_open: set[str] = field(default_factory=set)  # fingerprints of ``introduced`` open at the range's end

    @classmethod
    def for_commit(cls, info: CommitInfo) -> CommitAudit:
        return cls(info.sha, info.subject, info.author, info.email, info.date, list(info.parents))

    def store_payload(self) -> dict:
        d = self.to_dict()
        for k in ("still_open_count", "from_store"):
            d.pop(k, None)
        for f in d["introduced"]:
            f.pop("still_open", None)
        return d

    @classmethod
    def from_payload(cls, d: dict) -> CommitAudit:
        return cls(
            sha=d["sha"],
            subject=d["subject"],
            author=d["author"],
            email=d.get("email", ""),
            date=d["date"],
            parents=d.get("parents", []),
            kernel_version=d.get("kernel_version"),
            introduced=[Finding.from_dict(f) for f in d["introduced"]],
            fixed=[Finding.from_dict(f) for f in d["fixed"]],
            moved=d.get("moved", []),
            suppressed=[Finding.from_dict(f) for f in d.get("suppressed", [])],
            open_before=d.get("open_before", {}),
            open_after=d.get("open_after", {}),
            compared_whole_tree=d.get("compared_whole_tree"),
            skipped=d.get("skipped"),
            skipped_files=[Skipped(**s) for s in d.get("skipped_files", [])],
            errors=[InternalError(**e) for e in d.get("errors", [])],
            files_checked=d.get("files_checked", 0),
            from_store=True,
        )

    def to_dict(self) -> dict:
        intro = []
        for f in self.introduced:
            fd = f.to_dict()
            fd["still_open"] = f.fingerprint in self.still_open
            intro.append(fd)
        return {
            "sha": self.sha,
            "subject": self.subject,
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "parents": self.parents,
            "kernel_version": self.kernel_version,
            "introduced": intro,
            "fixed": [f.to_dict() for f in self.fixed],
            "moved": self.moved,
            "suppressed": [f.to_dict() for f in self.suppressed],
            "open_before": self.open_before,
            "open_after": self.open_after,
            "compared_whole_tree": self.compared_whole_tree,
            "skipped": self.skipped,
            "skipped_files": [s.to_dict() for s in self.skipped_files],
            "errors": [e.to_dict() for e in self.errors],
            "files_checked": self.files_checked,
            "from_store": self.from_store,
        }


@dataclass
class AuditResult:
    repository: str
    revisions: list[str]
    first_parent: bool
    commits: list[CommitAudit] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    open_at_end: dict[str, int] = field(default_factory=dict)  # per rule, at the range's head(s)
    notes: list[str] = field(default_factory=list)
    analysed_commits: int = 0
    stored_commits: int = 0
    files_analysed: int = 0
    elapsed: float = 0.0

    @property
    def range_text(self) -> str:
        return " ".join(self.revisions)

    def introduced_still_open(self, floor: Severity = Severity.INFO) -> list[tuple[CommitAudit, Finding]]:
        return [(c, f) for c in self.commits for f in c.introduced if f.fingerprint in c.still_open and f.severity.rank >= floor.rank]

    def rule_totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}

        def row(rid):
            return totals.setdefault(rid, {"introduced": 0, "fixed": 0, "moved": 0, "still_open": 0, "open_at_end": 0})

        for c in self.commits:
            for f in c.introduced:
                row(f.rule_id)["introduced"] += 1
                row(f.rule_id)["still_open"] += int(f.fingerprint in c.still_open)
            for f in c.fixed:
                row(f.rule_id)["fixed"] += 1
            for m in c.moved:
                row(m["rule_id"])["moved"] += 1
        for rid, n in self.open_at_end.items():
            row(rid)["open_at_end"] = n
        return dict(sorted(totals.items()))

    def families(self) -> list[str]:
        fams = {family(r) for r in self.rule_totals()}
        for c in self.commits:
            fams.update(c.open_before)
            fams.update(c.open_after)
        return sorted(fams)

    def timeline(self) -> list[dict]:
        """Open findings per family before the first commit and after each."""
        points = []
        audited = [c for c in self.commits if not c.skipped]
        if audited:
            first = audited[0]
            points.append({"sha": None, "date": first.date, "subject": "(before the range)", "open": dict(first.open_before)})
        for c in audited:
            points.append({"sha": c.sha, "date": c.date, "subject": c.subject, "open": dict(c.open_after)})
        return points

    def summary(self) -> dict:
        skipped = [c for c in self.commits if c.skipped]
        return {
            "commits": len(self.commits),
            "audited": len(self.commits) - len(skipped),
            "skipped": len(skipped),
            "from_store": self.stored_commits,
            "analysed": self.analysed_commits,
            "files_analysed": self.files_analysed,
            "introducing_commits": sum(1 for c in self.commits if c.introduced),
            "fixing_commits": sum(1 for c in self.commits if c.fixed),
            "introduced": sum(len(c.introduced) for c in self.commits),
            "fixed": sum(len(c.fixed) for c in self.commits),
            "moved": sum(len(c.moved) for c in self.commits),
            "suppressed": sum(len(c.suppressed) for c in self.commits),
            "still_open": sum(len(c.still_open) for c in self.commits),
            "open_at_end": sum(self.open_at_end.values()),
            "elapsed_seconds": round(self.elapsed, 3),
            "commits_per_second": round(self.analysed_commits / self.elapsed, 2) if self.elapsed > 0 and self.analysed_commits else None,
        }

    def to_dict(self) -> dict:
        return {
            "repository": self.repository,
            "range": self.range_text,
            "first_parent": self.first_parent,
            "heads": self.heads,
            "commits": [c.to_dict() for c in self.commits],
            "rules": self.rule_totals(),
            "open_at_end": self.open_at_end,
            "summary": self.summary(),
            "notes": self.notes,
            "daxlint_version": __version__,
        }


def follow_to_end(shas: list[str], audits: dict[str, CommitAudit], open_fps: set[str]) -> None:
    """Mark each commit's introduced findings that are still open at the
    range's end (``open_fps``: the fingerprints open at its head(s))."""
    # Follow each introduced finding through the range: fixed (and maybe
    # brought back by a later commit, which then owns it) or moved to
    # another file under a new fingerprint.
    origin: dict[str, tuple[str, str]] = {}  # current fingerprint -> (commit, fingerprint when introduced)
    for s in shas:
        c = audits[s]
        c.still_open = set()
        for f in c.fixed:
            origin.pop(f.fingerprint, None)
        for m in c.moved:
            if m["from"]["fingerprint"] in origin:
                origin[m["to"]["fingerprint"]] = origin.pop(m["from"]["fingerprint"])
        for f in c.introduced:
            origin[f.fingerprint] = (s, f.fingerprint)
    for current, (s, fp) in origin.items():
        if current in open_fps:
            audits[s].still_open.add(fp)


def pair_moves(introduced: list[Finding], fixed: list[Finding]) -> list[dict]:
    """Pair a fixed and an introduced finding of the same rule, function and
    code in different files: the code moved (a rename, a function moved to
    another file). Paired findings leave both lists."""
    gone: dict[tuple, list[Finding]] = {}
    for f in fixed:
        gone.setdefault(identity(f), []).append(f)
    moved, paired_new, paired_old = [], [], []
    for f in introduced:
        for g in gone.get(identity(f), []):
            if g.path != f.path and not any(g is x for x in paired_old):
                moved.append(
                    {
                        "rule_id": f.rule_id,
                        "message": f.message,
                        "from": {"path": g.path, "line": g.line, "fingerprint": g.fingerprint},
                        "to": {"path": f.path, "line": f.line, "fingerprint": f.fingerprint},
                    }
                )
                paired_new.append(f)
                paired_old.append(g)
                break
    introduced[:] = [f for f in introduced if not any(f is x for x in paired_new)]
    fixed[:] = [f for f in fixed if not any(f is x for x in paired_old)]
    return moved
