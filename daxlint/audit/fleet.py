"""Many branches in one audit (``daxlint audit --refs PATTERN --since REV``,
or several ``A..B`` ranges): which branches the user named, what each
one's audit says, and the backports a branch is missing - a finding open
at its tip that a commit of another branch fixed.

The auditor walks the union of the branches' commits once (a commit's
audit depends on the commit and its parents, never on the branch), so a
commit shared by twenty branches is analysed once, and the store shares
every blob's result between them. Each branch then gets the report a
single range would have given, with what is open at its tip."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from daxlint import __version__
from daxlint.audit.results import AuditResult, CommitAudit
from daxlint.core.fingerprint import identity
from daxlint.errors import InputError
from daxlint.model import Finding, Severity
from daxlint.sources.git import GitRepo


@dataclass
class Branch:
    """One branch of a fleet: a name, the rev-list arguments of its range and,
    when known before walking, the commit the range ends at."""

    name: str
    revisions: list[str]
    ref: str | None = None  # the full ref name, for --refs
    tip: str | None = None
    label: str | None = None  # the range as the user reads it (v6.1..vendor/main)

    @property
    def range_text(self) -> str:
        return self.label or " ".join(self.revisions)


@dataclass
class FleetPlan:
    """The branches of one audit, as the command line named them."""

    branches: list[Branch]
    since: str | None = None
    refs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_range(arg: str) -> bool:
    return ".." in arg


def plan_branches(git: GitRepo, ranges: list[str], refs: list[str], since: str | None) -> FleetPlan | None:
    """The branches the command line names, and notes about them; None when
    it names one range in today's sense (no --refs, no --since, at most
    one ``A..B`` argument or a rev-list expression such as ``^A B``).

    - ``--since REV``: each RANGE argument is a branch tip, and so is each
      ref ``--refs`` matches; a branch's range is ``REV..tip``.
    - ``--refs`` without ``--since``: the base is the tips' merge base.
    - Several ``A..B`` arguments and nothing else: one branch each.
    """
    notes: list[str] = []
    if not refs and since is None:
        if len(ranges) > 1 and all(is_range(r) for r in ranges):
            return FleetPlan([Branch(r, [r]) for r in ranges])
        return None
    tips: list[Branch] = []
    for arg in ranges:
        if since is not None and (is_range(arg) or arg.startswith("^")):
            raise InputError(f"with --since, give branch tips, not ranges: {arg!r} (the range is --since..TIP)")
        if since is None:
            if not is_range(arg):
                raise InputError(f"with --refs but no --since, a RANGE must be A..B: {arg!r}")
            tips.append(Branch(arg, [arg]))
        else:
            tips.append(Branch(arg, [], tip=git.resolve(arg)))
    seen: set[str] = set()
    matched = []
    for pattern in refs:
        found = git.refs(pattern)
        if not found:
            raise InputError(f"--refs {pattern!r} matches no ref of the repository")
        for name, short, sha in found:
            if sha is None:
                notes.append(f"{name} does not point to a commit; left out")
                continue
            if name not in seen:
                seen.add(name)
                matched.append(Branch(short, [], ref=name, tip=sha))
    if since is None:
        base = git.merge_base([b.tip for b in matched])
        if base is None:
            raise InputError("the refs have no common ancestor: give the base with --since REV")
        since_sha = base
        notes.append(f"no --since: the branches' common base is {base[:12]}")
        label = base[:12]
    else:
        since_sha = git.resolve(since)
        label = since
    branches = tips + matched
    names = [b.name for b in branches]
    for b in branches:
        if names.count(b.name) > 1 and b.ref:
            b.name = b.ref  # two refs with the same short name
        if not b.revisions:
            b.revisions = [f"^{since_sha}", b.tip]
            b.label = f"{label}..{b.name}"
    return FleetPlan(branches, since, list(refs), notes)


@dataclass
class FixedIn:
    """A commit that fixed a finding, and the branches whose range holds it."""

    commit: CommitAudit
    branches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        c = self.commit
        return {"sha": c.sha, "subject": c.subject, "author": c.author, "date": c.date, "branches": self.branches}


@dataclass
class MissingBackport:
    """A finding open at ``branch``'s tip that the commits ``fixed_in`` of
    other branches fixed, none of them in this branch's history."""

    branch: str
    finding: Finding
    fixed_in: list[FixedIn]

    def to_dict(self, with_branch: bool = True) -> dict:
        d = {"branch": self.branch} if with_branch else {}
        d.update({"finding": self.finding.to_dict(), "fixed_in": [x.to_dict() for x in self.fixed_in]})
        return d


@dataclass
class BranchResult:
    branch: Branch
    result: AuditResult
    open_at_tip: list[Finding] | None = None  # None: unknown (the tip could not be audited)
    missing_backports: list[MissingBackport] = field(default_factory=list)

    def summary(self) -> dict:
        s = self.result.summary()
        return {
            "name": self.branch.name,
            "ref": self.branch.ref,
            "range": self.branch.range_text,
            "tip": self.tip,
            "commits": s["commits"],
            "skipped": s["skipped"],
            "introduced": s["introduced"],
            "fixed": s["fixed"],
            "moved": s["moved"],
            "suppressed": s["suppressed"],
            "still_open": s["still_open"],
            "open_at_tip": None if self.open_at_tip is None else len(self.open_at_tip),
            "missing_backports": len(self.missing_backports),
        }

    @property
    def tip(self) -> str | None:
        if self.branch.tip:
            return self.branch.tip
        return self.result.heads[0] if len(self.result.heads) == 1 else None

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        for volatile in ("files_analysed", "elapsed_seconds", "commits_per_second"):
            d["summary"].pop(volatile, None)  # the fleet's, not one branch's
        d["summary"]["open_at_tip"] = None if self.open_at_tip is None else len(self.open_at_tip)
        d["summary"]["missing_backports"] = len(self.missing_backports)
        out = {"name": self.branch.name, "ref": self.branch.ref, "tip": self.tip}
        out.update(d)
        out["open_at_tip"] = None if self.open_at_tip is None else [f.to_dict() for f in self.open_at_tip]
        out["missing_backports"] = [m.to_dict(with_branch=False) for m in self.missing_backports]
        return out


@dataclass
class FleetResult:
    repository: str
    first_parent: bool
    since: str | None = None
    refs: list[str] = field(default_factory=list)
    branches: list[BranchResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commits: int = 0  # distinct commits over every branch
    analysed_commits: int = 0
    stored_commits: int = 0
    files_analysed: int = 0
    elapsed: float = 0.0

    def missing_backports(self) -> list[MissingBackport]:
        return [m for b in self.branches for m in b.missing_backports]

    def failing(self, floor: Severity = Severity.INFO) -> bool:
        """Whether some branch introduced a finding still open at its tip,
        or misses a backport, at or above ``floor``."""
        if any(b.result.introduced_still_open(floor) for b in self.branches):
            return True
        return any(m.finding.severity.rank >= floor.rank for m in self.missing_backports())

    def summary(self) -> dict:
        return {
            "branches": len(self.branches),
            "commits": self.commits,
            "from_store": self.stored_commits,
            "analysed": self.analysed_commits,
            "files_analysed": self.files_analysed,
            "introduced": sum(b.result.summary()["introduced"] for b in self.branches),
            "fixed": sum(b.result.summary()["fixed"] for b in self.branches),
            "suppressed": sum(b.result.summary()["suppressed"] for b in self.branches),
            "open_at_tips": sum(len(b.open_at_tip or []) for b in self.branches),
            "missing_backports": len(self.missing_backports()),
            "elapsed_seconds": round(self.elapsed, 3),
            "commits_per_second": round(self.analysed_commits / self.elapsed, 2) if self.elapsed > 0 and self.analysed_commits else None,
            "per_branch": [b.summary() for b in self.branches],
        }

    def to_dict(self) -> dict:
        return {
            "repository": self.repository,
            "first_parent": self.first_parent,
            "since": self.since,
            "refs": self.refs,
            "branches": [b.to_dict() for b in self.branches],
            "missing_backports": [m.to_dict() for m in self.missing_backports()],
            "fleet": self.summary(),
            "notes": self.notes,
            "daxlint_version": __version__,
        }


def finding_key(f: Finding) -> tuple:
    """The same problem in two branches: rule, function and flagged line
    (fingerprint.identity(), line numbers and white space aside) in the same
    file. The file is part of it: copy-pasted drivers share identities, and a
    fix to one is not a fix to the other."""
    return (*identity(f), f.path)


def find_missing_backports(branches: list[BranchResult], is_ancestor, patch_id=lambda sha: None) -> None:
    """Fill each branch's ``missing_backports``: findings open at its tip
    that a commit of another branch fixed, where that other branch still has
    the fix at its tip and this branch never had that fix: no fixing commit
    is in its history (``is_ancestor(commit, tip)``) and none of its own
    commits that removed the finding is the same change (``patch_id``: a
    cherry-pick it reverted since). A branch that reverted a fix it had is
    not missing it; one whose unrelated rework removed and brought back the
    finding still is. Cherry-picks of one fix on several branches are
    listed together."""
    patch_id = functools.cache(patch_id)  # a diff each: asked again for every finding a fix fixed
    fixes: dict[tuple, list[tuple[int, CommitAudit]]] = {}
    removed_by: list[dict[tuple, list[str]]] = []  # per branch: finding -> its own commits that removed it
    for i, br in enumerate(branches):
        removed_by.append({})
        if br.open_at_tip is None:
            continue  # whether it still has the fix is unknown
        open_here = {finding_key(f) for f in br.open_at_tip}
        for c in br.result.commits:
            if c.skipped:
                continue
            for f in c.fixed:
                k = finding_key(f)
                removed_by[i].setdefault(k, []).append(c.sha)
                if k not in open_here:
                    fixes.setdefault(k, []).append((i, c))
    for j, br in enumerate(branches):
        br.missing_backports = []
        tip = br.tip
        if br.open_at_tip is None or tip is None:
            continue
        for g in br.open_at_tip:
            key = finding_key(g)
            others = [(i, c) for i, c in fixes.get(key, []) if i != j]
            if not others or any(is_ancestor(c.sha, tip) for _, c in others):
                continue  # nobody fixed it, or this branch has (had) the very commit
            fix_ids = {patch_id(c.sha) for _, c in others} - {None}
            if fix_ids and any(patch_id(own) in fix_ids for own in removed_by[j].get(key, [])):
                continue  # it had a cherry-pick of the fix, reverted since
            by_sha: dict[str, tuple[int, FixedIn]] = {}
            for i, c in others:
                if c.sha not in by_sha:
                    by_sha[c.sha] = (i, FixedIn(c))
                names = by_sha[c.sha][1].branches
                if branches[i].branch.name not in names:
                    names.append(branches[i].branch.name)
            # Oldest fix first; on the same day, in the order the branches were named.
            found = [x for _, x in sorted(by_sha.values(), key=lambda ix: (ix[1].commit.date, ix[0], ix[1].commit.sha))]
            br.missing_backports.append(MissingBackport(br.branch.name, g, found))
