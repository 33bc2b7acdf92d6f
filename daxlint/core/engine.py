"""The engine: parses a file once and runs the enabled rules on its tree.
Files that contain none of the enabled rules' trigger tokens are never
parsed. Running it over many files (processes, cache) is
``daxlint.core.runner``'s job."""

from __future__ import annotations

import fnmatch
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from daxlint.core.build import View, views
from daxlint.core.files import DEFAULT_MAX_BYTES, SCAN_LIMIT_BYTES, file_kind, read_source_stat, source_bytes
from daxlint.core.fingerprint import assign_fingerprints
from daxlint.core.includes import include_candidates, include_dirs
from daxlint.core.kernel import KernelContext
from daxlint.core.prefilter import TokenMatcher
from daxlint.core.rule import Rule, RuleContext
from daxlint.core.source import SourceFile
from daxlint.core.suppress import apply_suppressions, find_suppressions
from daxlint.core.syntax import parent_index
from daxlint.core.timelimit import Alarm, FileTimeout, TimeLimit, checkpoint
from daxlint.model import FileResult, Finding, InternalError, Skipped
from daxlint.version import describe_versions


@dataclass
class EngineOptions:
    jobs: int = 0  # 0: every core
    use_cache: bool = True
    cache_path: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0  # seconds one file may take before it is skipped
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    # The directory of the config that gave per_file_ignores: its patterns
    # are paths below it, wherever daxlint runs from (as ruff's).
    per_file_ignores_root: str | None = None
    # Whether a result records the files its verdict read with their
    # signatures (content hashes), which the result cache and the audit
    # compare; a check without the cache records none (naming a module's
    # files and headers for it costs a walk of its includes per file).
    context_signatures: bool = True
    # False (--no-suppressions): what ``daxlint: ignore`` comments would
    # silence is reported as findings, as ruff's --ignore-noqa does.
    suppressions: bool = True
    # What the time limit reads and what interrupts code that reaches no
    # checkpoint (core/timelimit.py: SIGALRM or a watchdog thread); tests
    # give fakes.
    clock: Callable[[], float] = time.monotonic
    alarm: Alarm | None = None


class Engine:
    def __init__(self, rules: list[type[Rule]], kernel: KernelContext, options: EngineOptions | None = None):
        self.rule_classes = list(rules)
        self.rules = [cls() for cls in self.rule_classes]
        self.kernel = kernel
        self.options = options or EngineOptions()
        self.enabled_ids = {r.id for r in self.rules}
        # One matcher per file kind, over the tokens of the rules that find
        # things on their own: the unused-suppression rule only ever follows
        # them, so its token is looked for in the few files they match.
        self._finders = [r for r in self.rules if not r.reports_unused_suppressions]
        self._followers = [r for r in self.rules if r.reports_unused_suppressions]
        self._matchers = {kind: self._matcher(kind, self._finders) for kind in ("c", "kconfig")}
        # The matchers of the rules that can apply to a run's versions (a
        # 6.1 tree never needs the 7.x API's short tokens, which cost a
        # third of the scan), by kind and rule ids; built when first asked.
        self._applying_matchers: dict[tuple[str, frozenset[str]], TokenMatcher] = {}
        self._last_matcher: tuple[KernelContext, str, TokenMatcher] | None = None
        self._rule_tokens = {r.id: frozenset(r.tokens) for r in self.rules}
        self._rule_module_tokens = {r.id: frozenset(r.module_tokens) for r in self.rules}
        self._follower_tokens = frozenset(t for r in self._followers for t in r.tokens)
        self._finder_tokens = {t for r in self._finders for t in r.tokens}
        self._module_tokens = {t for r in self._finders for t in r.module_tokens}
        self._applying_key = ("applying-rules", tuple(sorted(r.id for r in self._finders)))
        self._tokenless = any(not r.tokens for r in self._finders)

    def _matcher(self, kind: str, finders: list[Rule], more: frozenset[bytes] = frozenset()) -> TokenMatcher:
        return TokenMatcher([*more, *(t for r in finders if kind in r.file_kinds for t in (*r.tokens, *r.module_tokens))])

    def _present(self, data: bytes, kind: str, kernel: KernelContext) -> set[bytes]:
        """The trigger tokens in ``data`` of the rules that can apply to
        ``kernel``'s versions - all finders' when the file names daxlint (a
        suppression of a rule that cannot apply is an unused one)."""
        last = self._last_matcher
        if last is not None and last[0] is kernel and last[1] == kind:
            matcher = last[2]  # nearly every call: the run's one kernel
        else:
            ids = self._applying_ids(kernel)
            matcher = self._applying_matchers.get((kind, ids))
            if matcher is None:
                finders = [r for r in self._finders if r.id in ids]
                matcher = self._applying_matchers[(kind, ids)] = self._matcher(kind, finders, self._follower_tokens)
            self._last_matcher = (kernel, kind, matcher)
        present = matcher.present(data)
        if present & self._follower_tokens:
            return self._matchers[kind].present(data)
        return present

    def rules_for(self, data: bytes, kind: str = "c", kernel: KernelContext | None = None, present: set[bytes] | None = None) -> list[Rule]:
        """Rules whose trigger tokens occur in ``data`` and that could match
        it: the prefilter. The unused-suppression rule comes last, and only
        with another rule. Rules that cannot apply to any version ``kernel``
        checks (an API the versions lack) are not asked. ``present``: the
        tokens the prefilter found, when the caller scanned already."""
        if present is None:
            present = self._matchers[kind].present(data)
        if not (present & self._finder_tokens) and not self._tokenless:  # most files of a tree
            return []
        followers = [r for r in self._followers if kind in r.file_kinds and (not r.tokens or any(t in data for t in r.tokens))]
        # A file with a suppression comment runs every finder that matches
        # it: a suppression of a rule that cannot apply to these versions
        # is an unused one, which only a run of the rule shows.
        finders = self._finders if kernel is None or followers else self._applying(kernel)
        tokens = self._rule_tokens
        out = [
            r for r in finders if kind in r.file_kinds and (not r.tokens or not tokens[r.id].isdisjoint(present)) and r.could_match(data)
        ]
        return out + followers if out else out

    def _applying(self, kernel: KernelContext) -> list[Rule]:
        """The finders that can apply to some version ``kernel`` checks (the
        kernel's memo keeps their ids: engines may share a context)."""
        ids = self._applying_ids(kernel)
        return [r for r in self._finders if r.id in ids]

    def _applying_ids(self, kernel: KernelContext) -> frozenset[str]:
        return kernel.memo(self._applying_key, lambda: frozenset(r.id for r in self._finders if r.could_apply(kernel)))

    def _with_module_rules(
        self, applicable: list[Rule], present: set[bytes], data: bytes, kind: str, kernel: KernelContext, abspath: str
    ) -> list[Rule]:
        """``applicable`` and the rules whose byte test declined the file but
        that the module around it brings back (Rule.could_match_in: a fault
        handler calling a header's helper that changes vm_flags); asked
        only of a file that holds a module token."""
        more = [
            r
            for r in self._applying(kernel)
            if r not in applicable
            and kind in r.file_kinds
            and not self._rule_module_tokens[r.id].isdisjoint(present)
            and r.could_match_in(data, kernel, abspath)
        ]
        if not more:
            return applicable
        followers = [r for r in self._followers if r not in applicable and kind in r.file_kinds]
        return [r for r in self.rules if r in applicable or r in more or r in followers]

    def needs_analysis(self, data: bytes, kind: str = "c", kernel: KernelContext | None = None) -> bool:
        """Whether some rule that finds things on its own could match
        ``data``, alone or with the module around it: of the rules that can
        apply to ``kernel``'s versions (a file of a run too large to
        analyse: register headers run to megabytes), else of all (an audit
        keeps the answer by content, whatever a commit's version)."""
        present = self._matchers[kind].present(data) if kernel is None else self._present(data, kind, kernel)
        if any(not r.reports_unused_suppressions for r in self.rules_for(data, kind, kernel, present)):
            return True
        finders = self._finders if kernel is None else self._applying(kernel)
        return bool(present & self._module_tokens) and any(
            kind in r.file_kinds and any(t in present for t in r.module_tokens) and r.could_need_module(data) for r in finders
        )

    @property
    def file_kinds(self) -> tuple[str, ...]:
        # The unused-suppression rule follows the others: it adds no file kind.
        return tuple(sorted({k for r in self.rules if not r.reports_unused_suppressions for k in r.file_kinds} or {"c"}))

    def analyze(self, display: str, data: bytes, abspath: str | None = None, kernel: KernelContext | None = None) -> FileResult:
        """Run the enabled rules on one file's bytes, against ``kernel`` (the
        engine's own context unless a mode gives one per file)."""
        res = FileResult()
        kind = file_kind(display)
        data, bad = source_bytes(data)  # any encoding: never a way to hide code
        kernel = kernel or self.kernel
        present = self._present(data, kind, kernel)
        applicable = self.rules_for(data, kind, kernel, present)
        if not bad and abspath is not None and not self._module_tokens.isdisjoint(present):
            applicable = self._with_module_rules(applicable, present, data, kind, kernel, abspath)
        if all(r.reports_unused_suppressions for r in applicable):
            return res
        if bad:
            res.skipped.append(Skipped(display, bad))
            return res
        limit = TimeLimit(self.options.timeout, self.options.clock, self.options.alarm)
        try:
            with limit, parent_index():
                try:
                    return limit.run(self._analyze_views, res, kind, applicable, display, data, abspath, kernel)
                except RecursionError:
                    return FileResult(skipped=[Skipped(display, "nesting too deep to analyse")])
        except FileTimeout:
            limit.close()
            return FileResult(skipped=[Skipped(display, f"took longer than {self.options.timeout:g}s, skipped")])

    def _analyze_views(
        self, res: FileResult, kind: str, applicable: list[Rule], display: str, data: bytes, abspath: str | None, kernel: KernelContext
    ) -> FileResult:
        """Each view of the file the checked versions compile is parsed once
        and checked for the versions it serves; a finding of several
        versions is reported once, with the versions it applies to."""
        if abspath is not None and self.options.context_signatures:
            for rule in applicable:
                for p in rule.context_files(abspath):
                    self._depend_on(res, kernel, p)
        checked = kernel.checked
        if kind != "c":
            file_views = [View(data, [(checked.last, [checked.last])])]
        else:
            thresholds = {t for r in applicable for t in r.version_thresholds}
            file_views = views(data, list(checked), kernel.build, thresholds, self._include_reader(res, kernel, abspath))
        merged: dict[tuple[str, str], tuple[Finding, list]] = {}
        used: set[tuple[int, int]] = set()  # suppressions that silenced something in some build
        for view in file_views:
            checkpoint()
            source = SourceFile(display, view.data, original=data)
            if kind == "c":
                _ = source.tree
                res.parsed = True
            for version, served in view.runs:
                for f in self._check_source(res, kind, applicable, source, abspath, kernel.at(version), used):
                    key = (f.fingerprint, f.severity.value)
                    if key not in merged:
                        merged[key] = (f, [])
                    else:
                        # The newest release words it - and a build in which no
                        # comment silences it (the comment is in a dead branch) reports it.
                        was = merged[key][0]
                        unsilenced = was.suppression is not None and f.suppression is None
                        newer = version > merged[key][1][-1] and (f.suppression is None or was.suppression is not None)
                        if unsilenced or newer:
                            merged[key] = (f, merged[key][1])
                    merged[key][1].extend(served)
        # A suppression one build needs is not unused because another build
        # has nothing for it to silence (the write is legal before v6.3).
        unused_ids = {r.id for r in applicable if r.reports_unused_suppressions}
        found = [f for f, _ in merged.values() if not (f.rule_id in unused_ids and (f.line, f.column) in used)]
        if kernel.versions is not None:
            for f, served in merged.values():
                f.versions = describe_versions(sorted(served))
        res.findings = sorted((f for f in found if f.suppression is None), key=Finding.sort_key)
        res.suppressed = sorted((f for f in found if f.suppression is not None), key=Finding.sort_key)
        return res

    def _depend_on(self, res: FileResult, kernel: KernelContext, path: str) -> None:
        """Record a file the verdict read, for the cache."""
        signature = kernel.reader.signature
        res.context[path] = signature(path)
        # The directory too: its listing changes when a sibling
        # appears or goes, which the file list alone misses.
        d = os.path.dirname(path)
        if d not in res.context:
            res.context[d] = signature(d)

    def _include_reader(self, res: FileResult, kernel: KernelContext, abspath: str | None):
        """Reads the headers a file includes beside it or from its module's
        -I directories (their #defines count), recording them as context."""
        if abspath is None:
            return None
        dirs = include_dirs(kernel, os.path.dirname(abspath))

        def read(inc) -> bytes | None:
            for candidate in include_candidates(inc, abspath, dirs):
                data = kernel.reader.read(candidate)
                if self.options.context_signatures:
                    self._depend_on(res, kernel, candidate)
                if data is not None:
                    return data
            return None

        return read

    def _check_source(
        self,
        res: FileResult,
        kind: str,
        applicable: list[Rule],
        source: SourceFile,
        abspath: str | None,
        kernel: KernelContext,
        used: set[tuple[int, int]] | None = None,
    ) -> list[Finding]:
        """The findings of one run of the rules on one view, suppressions
        applied and fingerprints assigned; a rule that raises becomes an
        internal error in ``res``."""
        display = source.path
        raw: list[Finding] = []
        for rule in applicable:
            if rule.reports_unused_suppressions:
                continue
            checkpoint()
            ctx = RuleContext(rule, source, kernel, abspath, frozenset(self.enabled_ids))
            try:
                out = rule.check(ctx)
                if out is not None:
                    for f in out:
                        if f is not None and f not in ctx.findings:
                            ctx.findings.append(f)
            except RecursionError:  # the input, not the rule: a skip that --strict and every format show
                skip = Skipped(display, f"nesting too deep for {rule.id} to analyse")
                if skip not in res.skipped:
                    res.skipped.append(skip)
                continue
            except Exception as e:  # a broken rule must not stop the run
                tb = traceback.extract_tb(e.__traceback__)[-1]
                error = InternalError(display, rule.id, f"{type(e).__name__}: {e} (at {os.path.basename(tb.filename)}:{tb.lineno})")
                if error not in res.errors:
                    res.errors.append(error)
                continue
            raw.extend(ctx.findings)
        suppressions = find_suppressions(source, kind)
        sup = apply_suppressions(raw, suppressions)
        if used is not None:
            used.update((x.line, x.column) for x in suppressions if x.used)
        findings = sup.kept
        if self.options.suppressions:
            findings += sup.suppressed  # kept apart by their suppression: counted, never reported
        else:
            findings += [replace(f, suppression=None) for f in sup.suppressed]
        for rule in applicable:
            if rule.reports_unused_suppressions:
                ctx = RuleContext(rule, source, kernel, abspath, frozenset(self.enabled_ids))
                unused = [s for s in sup.unused if s.rules is None or any(any(e.startswith(r) for e in self.enabled_ids) for r in s.rules)]
                rule.report_unused(ctx, unused)
                findings.extend(ctx.findings)
        assign_fingerprints(findings, _tree_path(kernel, abspath))
        return findings

    def analyze_file(self, display: str, abspath: str) -> FileResult:
        """The result for a file on disk; unreadable, odd or huge files
        become skips (analyze() applies the per-file time limit)."""
        data, why, _st = read_source_stat(abspath, self.options.max_bytes, SCAN_LIMIT_BYTES)
        return self.analyze_read(display, abspath, data, why)

    def analyze_read(self, display: str, abspath: str, data: bytes | None, why: str | None) -> FileResult:
        """The result for bytes read_source_stat() gave (or its reason not to)."""
        if data is None:
            return FileResult(skipped=[Skipped(display, why)])
        if why is not None:  # too large to analyse: only say so if it mattered
            matters = self.needs_analysis(data, file_kind(display), self.kernel)
            return FileResult(skipped=[Skipped(display, why)] if matters else [])
        return self.analyze(display, data, abspath)

    def per_file_ignores(self, display: str) -> list[str]:
        """Rule selectors the config's per-file-ignores give for ``display``."""
        out: list[str] = []
        names = [display]
        root = self.options.per_file_ignores_root
        if root is not None and self.options.per_file_ignores:
            below = os.path.relpath(os.path.abspath(display), root)
            if not below.startswith(".."):
                names.append(below)
        for pattern, ids in self.options.per_file_ignores.items():
            if any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, "*/" + pattern) for name in names):
                out.extend(ids)
        return out


def _tree_path(kernel: KernelContext, abspath: str | None) -> str | None:
    """The file's path below the top of its kernel tree, when both are known:
    what its findings' fingerprints name, wherever daxlint runs from."""
    if kernel.root is None or abspath is None:
        return None
    rel = os.path.relpath(os.path.realpath(abspath), os.path.realpath(kernel.root))
    return None if rel.startswith("..") else rel.replace(os.sep, "/")
