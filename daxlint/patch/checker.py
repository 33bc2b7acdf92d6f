"""Checking a series patch by patch: the rules run on each file a patch
leaves behind, and only findings on lines the patch adds or changes are
kept, each naming the patch that introduced it. A finding whose line a
later patch removes is marked ``fixed_by`` that patch: the series does not
bisect cleanly there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import wanted
from daxlint.core.fingerprint import identity, normalise_code
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import rule_matches
from daxlint.core.suppress import SUPPRESSION
from daxlint.core.textdiff import changed_lines
from daxlint.lines import split_lines
from daxlint.model import Finding, InternalError, Report, Skipped
from daxlint.patch.apply import added_lines, declared_placements, map_line, new_side_lines, shown_lines
from daxlint.patch.mail import Patch
from daxlint.patch.partial import partial_text
from daxlint.patch.series import SERIES_ROOT, FileState, PatchOutcome, SeriesReader, SeriesTree
from daxlint.sources.git import GitTreeReader
from daxlint.version import makefile_version


@dataclass
class SeriesResult:
    report: Report
    outcomes: list[PatchOutcome]

    @property
    def lines_checked(self) -> int:
        return sum(o.patch.lines_checked for o in self.outcomes)


class SeriesChecker:
    """Runs the rules over a series, patch by patch."""

    def __init__(
        self, rules, kernel: KernelContext, options: EngineOptions | None = None, version_from_tree: bool = True, keep_states: bool = False
    ):
        self.rules = rules
        self.kernel = kernel
        self.options = options or EngineOptions(jobs=1, use_cache=False)
        self.version_from_tree = version_from_tree
        self.keep_states = keep_states  # --fix: each outcome keeps its files and engine

    def _engine(self, tree: SeriesTree) -> Engine:
        version, source, versions = self.kernel.version, self.kernel.version_source, self.kernel.versions
        if self.version_from_tree and isinstance(tree.base, GitTreeReader):
            mk = tree.base.read("Makefile")
            found = makefile_version(mk) if mk else None
            if found is not None:
                version, source, versions = found, "Makefile", None
        root = None if tree.root == SERIES_ROOT else tree.root
        reader = SeriesReader(tree)
        kernel = KernelContext(
            Path(root) if root else None,
            version,
            source,
            reader,
            versions=versions,
            build=self.kernel.build,
            fix_style=self.kernel.fix_style,
        )
        return Engine(self.rules, kernel, self.options)

    def check(self, patches: list[Patch], series) -> SeriesResult:
        report = Report()
        outcomes: list[PatchOutcome] = []
        self._moves: list[tuple[Finding, tuple[int, int, str, list[str]]]] = []
        open_findings: list[tuple[Finding, str, int]] = []  # (finding, path now, line now)
        for patch in patches:
            outcome = PatchOutcome(patch, applied=True if getattr(series, "has_base", True) else None)
            states = series.advance(patch, outcome)
            open_findings = _carry_forward(open_findings, states, patch.index)
            engine = self._engine(series.tree)
            if self.keep_states:
                outcome.states, outcome.engine = states, engine
            outcome.kernel_version = engine.kernel.version_label
            if report.kernel_version is None:
                report.kernel_version = outcome.kernel_version
            for st in states:
                found, after = self._check_file(engine, patch, st, series.tree, report, outcome)
                if after is not None:
                    open_findings = _still_there(open_findings, st.diff.new_path, after, patch.index)
                report.findings.extend(found)
                open_findings.extend((f, st.diff.new_path, f.line) for f in found)
            outcomes.append(outcome)
            report.notes.extend(f"{patch.describe()} {note}" for note in outcome.notes)
        for f, (line, column, snippet, diff_lines) in self._moves:
            f.line, f.column, f.snippet, f.diff_lines = line, column, snippet, diff_lines
        for found in (report.findings, report.suppressed):
            found.sort(key=lambda f: (f.patch or 0, f.path, f.line, f.column, f.rule_id))
        return SeriesResult(report, outcomes)

    def _check_file(
        self, engine: Engine, patch: Patch, st: FileState, tree: SeriesTree, report: Report, outcome: PatchOutcome
    ) -> tuple[list[Finding], _Visible | None]:
        """The findings this patch brings into one file (those a ``daxlint:
        ignore`` comment silences go to ``report.suppressed``, and a comment
        the patch adds is a note of ``outcome``), and what the rules see in
        the file after it (to tell which earlier findings it fixed)."""
        fd = st.diff
        if fd.new_path is None or fd.is_symlink or not wanted(fd.new_path, engine.file_kinds):
            return [], None
        placements = st.placements
        if fd.binary:
            added, unknown = _binary_lines(st)
        elif fd.status == "copied":
            added, unknown = _copied_lines(st)
        else:
            added, unknown = added_lines(placements), None
        if unknown:
            report.files_checked += not added
            report.skipped.append(Skipped(fd.new_path, f"{unknown} ({patch.describe()})", patch=patch.index))
        if not added:
            return [], None  # a pure rename or a deletion introduces nothing
        whole = isinstance(st.new_data, bytes)
        data = st.new_data if whole else partial_text(fd, placements, "new")
        abspath = os.path.join(tree.root, fd.new_path)
        report.files_checked += 1
        if len(data) > engine.options.max_bytes:
            report.skipped.append(
                Skipped(
                    fd.new_path, f"too large ({len(data)} bytes, limit {engine.options.max_bytes}) ({patch.describe()})", patch=patch.index
                )
            )
            return [], None
        res = engine.analyze(fd.new_path, data, abspath)
        report.files_parsed += int(res.parsed)
        report.skipped.extend(Skipped(s.path, f"{s.reason} ({patch.describe()})", patch=patch.index) for s in res.skipped)
        report.errors.extend(InternalError(e.path, e.rule_id, f"{e.message} ({patch.describe()})", patch.index) for e in res.errors)
        ignored = engine.per_file_ignores(fd.new_path)
        before = None  # what the file had flagged before the patch, and its lines now: read when needed
        new_lines = _lines(data)
        outcome.notes.extend(_added_suppressions(fd.new_path, new_lines, added, res.suppressed))
        shown = None
        kept = []
        for f in res.findings + res.suppressed:
            if ignored and rule_matches(f.rule_id, ignored):
                continue
            span = range(f.line, max(f.end_line or f.line, f.line) + 1)
            if f.line not in added:
                if not any(n in added for n in span):
                    continue
                # The change is inside the flagged construct but not on its
                # first line: it is this patch's unless the very construct -
                # all of its lines, white space folded - was flagged before
                # (a continuation line it edits makes it the patch's).
                if before is None:
                    before = self._findings_before(engine, st, tree.root)
                if (identity(f), _span_text(new_lines, f)) in before:
                    continue
            f.patch = patch.index
            f.subject = patch.subject
            if not whole or fd.binary:
                # Its edits would be offsets in the hunks daxlint pieced
                # together (or in a binary patch), not in any hunk it can
                # write again: only words here (patch --fix says which
                # files it cannot fix without the tree).
                f.autofix = None
            first_added = next(n for n in span if n in added)
            diff_line = added[first_added]
            f.patch_line = fd.line_base + diff_line.diff_line_no if diff_line is not None else fd.header_line
            shown = shown if shown is not None else new_side_lines(placements)
            self._moves.append((f, _resting_place(f, first_added, shown)))
            (kept if f.suppression is None else report.suppressed).append(f)
        lines = None if whole else shown_lines(placements)
        # A finding a later comment silences is still there: not fixed.
        return kept, _Visible(lines, {(identity(f), f.line) for f in res.findings + res.suppressed})

    def _findings_before(self, engine: Engine, st: FileState, root: str) -> set:
        fd = st.diff
        if fd.old_path is None or not wanted(fd.old_path, engine.file_kinds):
            return set()
        old = st.old_data if isinstance(st.old_data, bytes) else partial_text(fd, declared_placements(fd), "old")
        res = engine.analyze(fd.old_path, old, os.path.join(root, fd.old_path))
        old_lines = _lines(old)
        return {(identity(f), _span_text(old_lines, f)) for f in res.findings + res.suppressed}


UNKNOWN_BINARY = (
    'GIT binary patch (or "Binary files differ"): its new content is not known without its blob '
    "(check the series with --git, or in the checkout it came from), so it was not analysed"
)


def _binary_lines(st: FileState) -> tuple[dict[int, None], str | None]:
    """The lines a patch whose diff git wrote as binary ("GIT binary
    patch", "Binary files differ") adds, when the file after it is known:
    every line of a new file, else the lines that differ from the file
    before it as the parser reads them; and why they are not known."""
    if not isinstance(st.new_data, bytes):
        return {}, UNKNOWN_BINARY
    old = st.old_data if isinstance(st.old_data, bytes) else None
    lines = changed_lines(old, st.new_data) if old is not None else None
    return dict.fromkeys(lines if lines is not None else _every_line(st.new_data)), None


def _copied_lines(st: FileState) -> tuple[dict[int, object], str | None]:
    """The lines a copy adds to the tree: all of the new file's - a copy
    (``git format-patch -C``, whose diff may show no hunk at all) brings
    its code to a new place, as a new file does - each with the diff line
    that shows it where a hunk does; and why they are not all known."""
    hunks = added_lines(st.placements)
    if not isinstance(st.new_data, bytes):
        shown = "; only its hunks were checked" if hunks else ""
        why = f"copy of {st.diff.old_path}: its content is not known without the tree (--tree, --git or its checkout){shown}"
        return hunks, why
    return {n: hunks.get(n) for n in _every_line(st.new_data)}, None


def _every_line(data: bytes) -> range:
    return range(1, data.count(b"\n") + 1 + (not data.endswith(b"\n")))


def _added_suppressions(path: str, lines: list[str], added, suppressed: list[Finding]) -> list[str]:
    """Notes on the ``daxlint: ignore`` comments among the lines a patch
    adds, each with what it silences: a patch that silences its own (or an
    older) finding says so, in every format."""
    notes = []
    for n in sorted(added):
        m = SUPPRESSION.search(lines[n - 1]) if n <= len(lines) else None
        if m is None:
            continue
        silenced = [f"{f.rule_id} at line {f.line}" for f in suppressed if f.suppression and f.suppression.get("line") == n]
        tail = f", which silences {', '.join(silenced)}" if silenced else ""
        notes.append(f"adds a suppression comment at {path}:{n} ({m.group(0)}){tail}")
    return notes


def _lines(data: bytes) -> list[str]:
    return split_lines(data.decode("utf-8", "surrogateescape"))


def _span_text(lines: list[str], f: Finding) -> str:
    """The lines a finding spans, white space folded."""
    return normalise_code(" ".join(lines[f.line - 1 : max(f.end_line or f.line, f.line)]))


@dataclass
class _Visible:
    """What the rules saw of a file after a patch: the lines they saw (None:
    all of it) and the findings there, as (identity, line)."""

    lines: set[int] | None
    findings: set[tuple]

    def shows(self, line: int) -> bool:
        return self.lines is None or line in self.lines


def _still_there(open_findings, path: str, after: _Visible, index: int):
    """Earlier patches' findings in ``path`` that the rules no longer report
    where they now are: this patch fixed them (it may have deleted the
    line, or put it under a guard that excludes the checked versions)."""
    still = []
    for f, where, line in open_findings:
        if where == path and after.shows(line) and (identity(f), line) not in after.findings:
            f.fixed_by = index
            continue
        still.append((f, where, line))
    return still


_SHOWN_LINES = 4


def _resting_place(f: Finding, line: int, shown: dict[int, object]) -> tuple[int, int, str, list[str]]:
    """Where ``f`` is reported: the added ``line`` it rests on (a statement
    whose first line the patch did not touch is this patch's for the line it
    added, such as a ``PFN_DEV);`` continuation) as (line, column, snippet),
    and the patch's own lines from the statement's first line to it for
    checkpatch: real "+"/" " prefixes and indentation (at most four: the
    first and the last three). Applied once the series is followed, which
    tracks findings where the rules put them."""
    first = f.line
    numbers = [n for n in range(first, line + 1) if n in shown]
    if len(numbers) > _SHOWN_LINES:
        numbers = numbers[:1] + numbers[-(_SHOWN_LINES - 1) :]
    diff_lines = [shown[n].line_type + shown[n].value.rstrip("\r\n") for n in numbers]
    if line == first or line not in shown:
        return f.line, f.column, f.snippet, diff_lines
    raw = shown[line].value.rstrip("\r\n")
    return line, len(raw) - len(raw.lstrip()) + 1, raw.strip(), diff_lines


def _carry_forward(open_findings, states: list[FileState], index: int):
    """Follow earlier patches' findings through this patch: a later patch
    that removes the flagged line fixes it (and the series does not bisect
    cleanly until then)."""
    if not open_findings:
        return open_findings
    by_old = {st.diff.old_path: st for st in states if st.diff.old_path is not None and st.diff.status != "copied"}
    still = []
    for f, path, line in open_findings:
        st = by_old.get(path)
        if st is None:
            still.append((f, path, line))
            continue
        if st.diff.new_path is None:
            f.fixed_by = index
            continue
        moved = map_line(st.placements, line) if st.placements else line
        if moved is None:
            f.fixed_by = index
            continue
        still.append((f, st.diff.new_path, moved))
    return still
