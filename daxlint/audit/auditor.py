"""The auditor: walks a range's commits, has the changed blobs analysed
ahead on the workers, and finishes commits in order - what each
introduced, fixed or moved, and what is still open at the range's end."""

from __future__ import annotations

import copy
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from daxlint.audit.blobs import remembered
from daxlint.audit.deps import deps_hold, holds, touched_keys, touches_kconfig
from daxlint.audit.fleet import BranchResult, FleetPlan, FleetResult, find_missing_backports
from daxlint.audit.planning import BlobResults, Plan, Unreadable
from daxlint.audit.results import AuditResult, CommitAudit, family, follow_to_end, pair_moves
from daxlint.core.build import BuildSetup
from daxlint.core.catalog import newest_catalog_version
from daxlint.core.files import DEFAULT_MAX_BYTES
from daxlint.core.registry import rule_matches
from daxlint.model import FileResult, Finding
from daxlint.sources.git import GitRepo
from daxlint.version import KernelVersion, VersionRange

# Plans held at most while an executor that wants more work (a Dask
# cluster) keeps the auditor planning ahead.
_MAX_AHEAD = 4096


@dataclass
class AuditOptions:
    jobs: int = 0  # 0: every core
    kernel_version: VersionRange | None = None  # overrides every commit's Makefile
    build: BuildSetup = field(default_factory=BuildSetup)  # -D, -U, [macros]

    def __post_init__(self):
        if isinstance(self.kernel_version, KernelVersion):
            self.kernel_version = VersionRange.single(self.kernel_version)

    all_parents: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    suppressions: bool = True  # False: --no-suppressions
    # A Dask cluster instead of the fork pool (daxlint.audit.cluster):
    # "local" or a scheduler address; the repository as its workers see it.
    scheduler: str | None = None
    worker_repo: str | None = None
    dashboard: bool = False


# A tree's state: the files whose result must be remembered (see
# remembered()); a file not in it has no findings. Kept per commit
# only while a later commit of the range still needs it as its parent.
State = dict[str, FileResult]


class Auditor:
    def __init__(self, repo: GitRepo, rules, store, options: AuditOptions | None = None, progress=None, notify=None):
        self.git = repo
        self.rules = list(rules)
        self.store = store
        self.options = options or AuditOptions()
        self.progress = progress or (lambda *a, **k: None)
        self.notify = notify or (lambda text: None)  # a line for the user (the Dask dashboard's address)
        self.blobs = BlobResults(repo, self.rules, store, self.options, self.progress, self.notify)
        self._ignores: dict[str, list[str]] = {}
        self._states: dict[str, State] = {}
        self._newest_state: State = {}  # of the commit finished last
        self._counts: dict[str, dict[str, int]] = {}
        self._snapshot_plans: dict[str, Plan] = {}
        self._uses: Counter = Counter()
        self._keep: set[str] = set()

    # -- keys ---------------------------------------------------------------

    def setup_key(self, parents: list[str]) -> str:
        """Stored commits are valid for this setup; merges are judged
        differently with --all-parents, so they get their own key."""
        if self.options.all_parents and len(parents) > 1:
            return self.blobs.setup + "-all"
        return self.blobs.setup

    # -- entry point --------------------------------------------------------

    def run(self, revisions: list[str]) -> AuditResult:
        """The audit of one range (anything git rev-list takes)."""
        started = time.monotonic()
        shas = self.git.rev_list(revisions, first_parent=not self.options.all_parents)
        result = AuditResult(self.git.display, list(revisions), not self.options.all_parents)
        if not shas:
            result.notes.append(f"the range {result.range_text} has no commits")
            return result
        audits, stored, heads, tips = self._walk([shas], [None])
        result.heads = heads[0]
        result.stored_commits = sum(1 for s in shas if s in stored)
        result.analysed_commits = len(shas) - result.stored_commits
        self._finish_range(shas, audits, result, tips)
        result.files_analysed = self.blobs.files_analysed
        result.elapsed = time.monotonic() - started
        result.notes.extend(self._run_notes(result.commits))
        return result

    def run_fleet(self, plan: FleetPlan) -> FleetResult:
        """The audit of many branches: their commits walked once, a report
        per branch, and the backports each is missing."""
        started = time.monotonic()
        branches = plan.branches
        fleet = FleetResult(self.git.display, not self.options.all_parents, plan.since, list(plan.refs), notes=list(plan.notes))
        per_branch = [self.git.rev_list(b.revisions, first_parent=not self.options.all_parents) for b in branches]
        audits, stored, heads, tips = self._walk(per_branch, [b.tip for b in branches], findings=True)
        union: set[str] = set()
        for b, shas, hs in zip(branches, per_branch, heads):
            union.update(shas)
            result = AuditResult(self.git.display, [b.range_text], not self.options.all_parents)
            result.heads = hs
            if not shas:
                result.notes.append(f"the range {result.range_text} has no commits")
            # A commit's audit is the same in every branch; what is still
            # open of what it introduced depends on the branch's tip.
            own = {s: copy.copy(audits[s]) for s in shas}
            result.stored_commits = sum(1 for s in shas if s in stored)
            result.analysed_commits = len(shas) - result.stored_commits
            self._finish_range(shas, own, result, tips)
            open_at_tip: list[Finding] | None = []
            for h in hs:
                tip = tips.get(h)
                if not isinstance(tip, dict):
                    open_at_tip = None
                    break
                open_at_tip.extend(Finding.from_dict(f) for f in tip["findings"])
            if open_at_tip is not None:
                open_at_tip.sort(key=Finding.sort_key)
            fleet.branches.append(BranchResult(b, result, open_at_tip))
        find_missing_backports(fleet.branches, self.git.is_ancestor, self.git.patch_id)
        fleet.commits = len(union)
        fleet.stored_commits = sum(1 for s in union if s in stored)
        fleet.analysed_commits = len(union) - fleet.stored_commits
        fleet.files_analysed = self.blobs.files_analysed
        fleet.elapsed = time.monotonic() - started
        fleet.notes.extend(self._run_notes([audits[s] for s in union]))
        return fleet

    def _run_notes(self, commits: list[CommitAudit]) -> list[str]:
        notes = []
        if self.git.is_shallow and any(c.skipped for c in commits):
            notes.append("the repository is a shallow clone: commits at its boundary have no parent to compare with")
        if self.blobs.assumed_version:
            notes.append(
                f"no kernel top Makefile in some commits of the range; assumed v{newest_catalog_version()} for them "
                "(use --kernel-version X.Y or A.B..C.D for an out-of-tree driver)"
            )
        return notes

    def _walk(self, ranges: list[list[str]], tips: list[str | None], findings: bool = False):
        """Audit the union of ``ranges``' commits once, parents before
        children; then what is open at each range's head(s) (or at ``tips``
        for a range without commits). Returns (audits by commit, the commits
        read from the store, each range's heads, tip payload or the reason
        it is unknown by head)."""
        # Each range is parents first, so each one's new commits after the
        # ranges before it are too: the walk finishes one branch, then
        # goes on with what the next one adds.
        order: list[str] = []
        seen: set[str] = set()
        for shas in ranges:
            for s in shas:
                if s not in seen:
                    seen.add(s)
                    order.append(s)
        parents_of: dict[str, list[str]] = {}
        # Parents first (one cheap read per commit), then the store by setup.
        for sha in order:
            c = self.git.commit(sha)
            parents_of[sha] = [str(p) for p in c.parent_ids] if c is not None else []
        stored = self.store.commits([(s, self.setup_key(parents_of[s])) for s in order])
        audits: dict[str, CommitAudit] = {}
        for s in order:
            hit = stored.get((s, self.setup_key(parents_of[s])))
            if hit is not None:
                audits[s] = CommitAudit.from_payload(hit)
        from_store = set(audits)
        todo = [s for s in order if s not in audits]
        heads: list[list[str]] = []
        for shas, tip in zip(ranges, tips):
            has_child = {p for q in shas for p in parents_of[q]}
            hs = [s for s in shas if s not in has_child]
            heads.append(hs if hs or tip is None else [tip])
        wanted = list(dict.fromkeys(h for hs in heads for h in hs))
        infos = {s: self.git.commit_info(s) for s in todo}
        self.progress("commits", len(from_store), len(order))
        failed = True
        try:
            if todo:
                self._audit(todo, infos, audits, len(order), keep=set(wanted))
            out = {h: self._tip(h, audits, findings) for h in wanted}
            failed = False
        finally:
            # Whatever finished is kept, also on ^C or an error.
            try:
                self.store.commit()
            finally:
                self.blobs.close(failed)
        return audits, from_store, heads, out

    def _audit(self, todo: list[str], infos, audits, total: int, keep: set[str]) -> None:
        for s in todo:
            for p in self._considered_parents(infos[s].parents):
                self._uses[p] += 1
        self._keep = keep
        workers = self.blobs.executor()
        jobs = workers.jobs
        done = total - len(todo)
        will_have_state: set[str] = set()
        window: deque[Plan] = deque()
        pending = iter(todo)
        # Commits planned ahead of the one being finished. Most commits are
        # a task or two of small files, so the workers idle whenever the
        # window runs dry behind one that waits for a large re-analysis:
        # 16 a job keeps them busy (the 600-commit walk: 8 -> 32 plans,
        # 3.6 -> 3.0 s) for the memory of a few dozen small plans.
        ahead = 1 if jobs <= 1 else max(32, 16 * jobs)

        def fill():
            # A cluster asks for more than the window while its workers
            # would otherwise idle (hungry()); the pool never does.
            while len(window) < ahead or (len(window) < _MAX_AHEAD and workers.hungry()):
                sha = next(pending, None)
                if sha is None:
                    return
                info = infos[sha]
                for p in self._considered_parents(info.parents):
                    if p not in will_have_state and p not in self._snapshot_plans and self.git.commit(p) is not None:
                        self._snapshot_plans[p] = self.blobs.plan_tree(p)
                plan = self.blobs.plan_commit(info, self._considered_parents(info.parents))
                if plan.skip is None:
                    will_have_state.add(sha)
                    self._send_ahead(plan)
                window.append(plan)

        fill()
        while window:
            plan = window.popleft()
            ca = self._finish_commit(plan)
            audits[plan.sha] = ca
            self.store.put_commit(plan.sha, self.setup_key(plan.info.parents), ca.store_payload())
            done += 1
            self.progress("commits", done, total, ca)
            self.blobs.commit_now_and_then()
            fill()

    def _send_ahead(self, plan: Plan) -> None:
        """Start re-analysing the unchanged files that, in the newest state
        this walk has, read what ``plan``'s commit changes: _apply_changes()
        will most likely want them, and waiting for them only then stalls the
        walk (a parent's state differs from the newest by the few commits
        planned in between; what was not guessed is analysed then)."""
        if plan.whole_tree or not plan.changes or not self._newest_state or self.blobs.executor().jobs <= 1:
            return  # with one job nothing runs ahead: the guess would only cost
        touched = touched_keys(plan.changes)
        changed = {c.path for c in plan.changes}
        items = []
        for path, res in self._newest_state.items():
            if res.context and path not in changed and not self._holds_after(plan, touched, res):
                oid = self.git.blob_id(plan.tree, path)
                if oid is not None:
                    items.append((path, oid))
        self.blobs.send_ahead(plan, items)

    def _holds_after(self, plan: Plan, touched: set[str], res: FileResult) -> bool:
        """Whether the files and directories ``res`` read that ``plan``'s
        commit touched are, for its verdict, the same in its tree."""
        return all(holds(self.git.repo, plan.tree, k, res.context[k], res.context) for k in touched.intersection(res.context))

    def _considered_parents(self, parents: list[str]) -> list[str]:
        return list(parents) if self.options.all_parents else list(parents[:1])

    # -- planning -----------------------------------------------------------

    def _state_of(self, sha: str) -> State:
        """The state of a commit's tree: kept from finishing it, or built
        from a snapshot of its whole tree (mostly from the store)."""
        if sha in self._states:
            return self._states[sha]
        plan = self._snapshot_plans.pop(sha, None) or self.blobs.plan_tree(sha)
        if plan.skip:
            raise Unreadable(plan.skip)
        results = self.blobs.collect(plan, "snapshot")
        state = {p: r for p, r in results.items() if remembered(r)}
        self._states[sha] = state
        self._counts[sha] = self._family_counts(state)
        return state

    def _release(self, sha: str) -> None:
        self._uses[sha] -= 1
        if self._uses[sha] <= 0 and sha not in self._keep:
            self._states.pop(sha, None)
            self._counts.pop(sha, None)

    def _visible(self, path: str, findings: list[Finding]) -> list[Finding]:
        """Findings minus the config's per-file-ignores."""
        if not self.options.per_file_ignores:
            return findings
        if path not in self._ignores:
            self._ignores[path] = self.blobs.analyzer.engine.per_file_ignores(path)
        ignored = self._ignores[path]
        return [f for f in findings if not (ignored and rule_matches(f.rule_id, ignored))]

    def _family_counts(self, state: State) -> dict[str, int]:
        c: Counter = Counter()
        for path, res in state.items():
            for f in self._visible(path, res.findings):
                c[family(f.rule_id)] += 1
        return dict(sorted(c.items()))

    def _finish_commit(self, plan: Plan) -> CommitAudit:
        ca = CommitAudit.for_commit(plan.info)
        ca.kernel_version = str(plan.version) if plan.version else None
        ca.compared_whole_tree = plan.whole_tree
        parents = plan.parents
        try:
            if plan.skip:
                raise Unreadable(plan.skip)
            if parents:
                try:
                    base = self._state_of(parents[0])
                except Unreadable as e:
                    raise Unreadable(f"parent {parents[0][:12]} cannot be audited: {e}") from None
                before = self._counts[parents[0]]
            else:
                base, before = {}, {}
            new = self.blobs.collect(plan)
            _carry_unreadable(new, base)
            if plan.whole_tree:
                state = {p: r for p, r in new.items() if remembered(r)}
                affected = set(base) | set(state)
                old_entries = base
            else:
                state, affected, old_entries = self._apply_changes(plan, base, new)
            others = [self._state_of(p) for p in parents[1:]]
        except Unreadable as e:
            ca.skipped = str(e)
            for p in parents:
                self._release(p)
            return ca
        ca.files_checked = len(plan.items)
        delta: Counter = Counter()
        for path in sorted(affected):
            before_res, after_res = old_entries.get(path), state.get(path)
            old = {f.fingerprint: f for f in self._visible(path, before_res.findings if before_res else [])}
            cur = {f.fingerprint: f for f in self._visible(path, after_res.findings if after_res else [])}
            old_silenced = {f.fingerprint for f in self._visible(path, before_res.suppressed if before_res else [])}
            silenced = {f.fingerprint: f for f in self._visible(path, after_res.suppressed if after_res else [])}
            for fp, f in cur.items():
                if fp not in old:
                    ca.introduced.append(f)
                    delta[family(f.rule_id)] += 1
            for fp, f in old.items():
                if fp not in cur:
                    if fp not in silenced:  # a comment that silences it did not fix it
                        ca.fixed.append(f)
                    delta[family(f.rule_id)] -= 1
            # Findings this commit brought in silenced, or silenced here.
            ca.suppressed.extend(f for fp, f in silenced.items() if fp not in old_silenced)
            res = new.get(path)
            if res is not None:
                ca.skipped_files.extend(res.skipped)
                ca.errors.extend(res.errors)
        if others:
            # A merge is judged like git's combined diff: it introduced what
            # no parent had, and fixed what every parent had.
            def has(st: State, f: Finding) -> bool:
                return f.path in st and any(g.fingerprint == f.fingerprint for g in st[f.path].findings)

            def has_silenced(st: State, f: Finding) -> bool:
                return f.path in st and any(g.fingerprint == f.fingerprint for g in st[f.path].suppressed)

            ca.introduced = [f for f in ca.introduced if not any(has(o, f) for o in others)]
            ca.fixed = [f for f in ca.fixed if all(has(o, f) for o in others)]
            ca.suppressed = [f for f in ca.suppressed if not any(has_silenced(o, f) for o in others)]
        ca.moved = pair_moves(ca.introduced, ca.fixed)
        ca.introduced.sort(key=Finding.sort_key)
        ca.fixed.sort(key=Finding.sort_key)
        ca.suppressed.sort(key=Finding.sort_key)
        ca.open_before = dict(before)
        after = Counter(before)
        after.update(delta)
        ca.open_after = {k: v for k, v in sorted(after.items()) if v}
        self._states[plan.sha] = state
        self._newest_state = state
        self._counts[plan.sha] = ca.open_after
        for p in parents:
            self._release(p)
        if plan.sha in self._keep:
            self._store_tip(plan.sha, state)
        if self._uses[plan.sha] <= 0 and plan.sha not in self._keep:
            self._states.pop(plan.sha, None)
            self._counts.pop(plan.sha, None)
        return ca

    def _apply_changes(self, plan: Plan, base: State, new: dict[str, FileResult]) -> tuple[State, set[str], State]:
        """The state after a commit that touched ``plan.changes``: the
        touched files' new results, and re-analysis of unchanged files whose
        verdict read a touched file or listed a directory that changed."""
        changed = {c.path for c in plan.changes}
        touched = touched_keys(plan.changes)
        kconfig_changes = [c for c in plan.changes if touches_kconfig(c.path)]
        symbols_changed: set[str] | None = set()
        if kconfig_changes and any(k[0] in ("s", "h") for res in base.values() for k in res.context):
            symbols_changed = self.blobs.analyzer.indexes.changed_symbols(self.git.repo, kconfig_changes)
        redo: list[tuple[str, str]] = []
        for path, res in base.items():
            if path in new or path in changed or not res.context:
                continue
            # A touched file it read, or a directory it listed that gained or
            # lost an entry (checked: most ancestors of a new file do not).
            stale = not self._holds_after(plan, touched, res)
            if not stale and kconfig_changes:
                # Lookups in the tree-wide Kconfig index: redo the file only
                # if a symbol it looked up is defined differently now.
                index_keys = {k: v for k, v in res.context.items() if k[0] in ("s", "h")}
                if symbols_changed is None:  # the set of Kconfig files may differ: ask the new tree's index
                    stale = bool(index_keys) and not deps_hold(self.git.repo, plan.tree, index_keys, self.blobs.analyzer.indexes)
                else:
                    stale = any("s:" + name in index_keys for name in symbols_changed)
            if stale:
                oid = self.git.blob_id(plan.tree, path)
                if oid is not None:
                    redo.append((path, oid))
        if redo:
            again = self.blobs.redo(plan, redo)
            _carry_unreadable(again, base)
            new.update(again)
        affected = set(new) | (changed & set(base))
        old_entries = {p: base[p] for p in affected if p in base}
        # The parent's state is ours to change when no other commit needs it.
        state = base if self._uses[plan.parents[0]] <= 1 and plan.parents[0] not in self._keep else dict(base)
        for path in affected:
            res = new.get(path)
            if res is not None and remembered(res):
                state[path] = res
            else:
                state.pop(path, None)
        if state is base:
            self._states.pop(plan.parents[0], None)  # it now describes this commit
        return state, affected, old_entries

    # -- the end of the range ----------------------------------------------

    def _tip_payload(self, state: State) -> dict:
        fps, by_rule, findings = [], Counter(), []
        for path, res in state.items():
            for f in self._visible(path, res.findings):
                fps.append(f.fingerprint)
                by_rule[f.rule_id] += 1
                findings.append(f)
        findings.sort(key=Finding.sort_key)
        return {"fingerprints": sorted(fps), "by_rule": dict(sorted(by_rule.items())), "findings": [f.to_dict() for f in findings]}

    def _store_tip(self, sha: str, state: State) -> None:
        self.store.put_tip(sha, self.blobs.setup, self._tip_payload(state))

    def _tip(self, head: str, audits: dict[str, CommitAudit], findings: bool) -> dict | str:
        """What is open at ``head``: from the store, or from its state; a
        string says why it is unknown. ``findings``: the findings themselves
        are wanted (a tip stored by an older daxlint has only counts)."""
        tip = self.store.tip(head, self.blobs.setup)
        if tip is not None and (not findings or "findings" in tip):
            return tip
        if head in audits and audits[head].skipped:
            return f"{head[:12]} could not be audited, so what is still open at the end of the range is unknown"
        try:
            tip = self._tip_payload(self._state_of(head))
        except Unreadable as e:
            return f"open findings at {head[:12]} unknown: {e}"
        self.store.put_tip(head, self.blobs.setup, tip)
        return tip

    def _finish_range(self, shas: list[str], audits: dict[str, CommitAudit], result: AuditResult, tips: dict) -> None:
        """Which introduced findings are still open at the range's head(s)."""
        open_fps: set[str] = set()
        by_rule: Counter = Counter()
        for head in result.heads:
            tip = tips[head]
            if isinstance(tip, str):
                result.notes.append(tip)
                continue
            open_fps.update(tip["fingerprints"])
            by_rule.update(tip["by_rule"])
        result.open_at_end = dict(sorted(by_rule.items()))
        follow_to_end(shas, audits, open_fps)
        result.commits = [audits[s] for s in shas]


def _carry_unreadable(new: dict[str, FileResult], base: State) -> None:
    """A file this commit could not read keeps what the parent's tree had
    for it (its findings are not "fixed" by an unreadable blob), with the
    note that it was skipped here."""
    for path, res in list(new.items()):
        if not res.unreadable:
            continue
        before = base.get(path)
        new[path] = (
            FileResult(before.findings, res.skipped, before.errors, context=before.context)
            if before is not None
            else FileResult(skipped=res.skipped)
        )
