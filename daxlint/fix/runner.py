"""Fixing files to a fixed point: apply the fixes of the findings a run
reports, analyse the file again, fix what is left and fixable, until a
round changes nothing (ruff's loop). Everything happens in memory; the
caller writes the files or prints the diff.

Only findings the run would report are fixed: the caller's ``scope``
narrows each round's findings as the report was narrowed (``--diff``
lines, which move as edits go in; baselines), and the engine applies
``--select``/``--ignore``, per-file ignores and suppressions as it always
does."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from daxlint.core.engine import Engine
from daxlint.core.files import display_path, editable_text, read_source_stat
from daxlint.core.registry import rule_matches
from daxlint.core.runner import fork_pool
from daxlint.core.textdiff import unified_diff
from daxlint.fix.edits import apply_fixes, choose
from daxlint.fix.write import inside, replace_file
from daxlint.model import SAFE, Finding, InternalError, Report

MAX_ROUNDS = 10
_PARALLEL_FROM = 4  # files: fewer are not worth starting processes for


class AllFindings:
    """The scope of a run without --diff or a baseline: every finding."""

    def keep(self, display: str, data: bytes, findings: list[Finding]) -> list[Finding]:
        return findings

    def edited(self, display: str, old: bytes, edits) -> None:
        return None


@dataclass
class FileFix:
    display: str
    abspath: str
    original: bytes
    fixed: bytes
    initial: list[Finding] = field(default_factory=list)
    fixed_findings: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    unsafe: list[Finding] = field(default_factory=list)  # left: their fix is unsafe
    converged: bool = True
    unresolved: list[Finding] = field(default_factory=list)  # fixed, yet reported again: not fixed twice
    errors: list[InternalError] = field(default_factory=list)
    refused: str | None = None  # why the file is not fixed at all

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


@dataclass
class FixResult:
    files: list[FileFix] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # display -> the display its file was fixed as: other names of one file
    # (symbolic links to it), whose findings are that file's
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[FileFix]:
        return [f for f in self.files if f.changed]

    @property
    def fixed_count(self) -> int:
        return sum(len(f.fixed_findings) for f in self.files)

    def left(self, report: Report) -> list[Finding]:
        """What would be left of ``report``'s findings once fixed: the fixed
        files' findings (and their other names') are those of their last
        analysis (in memory: the files around them as they are on disk)."""
        fixed_paths = {f.display for f in self.files} | set(self.aliases)
        return [f for f in report.findings if f.path not in fixed_paths] + [r for f in self.files for r in f.remaining]

    @property
    def errors(self) -> list:
        """Internal errors of the fixer's own analyses."""
        return [e for f in self.files for e in f.errors]

    def as_json(self, root: str) -> dict:
        return {
            "fixed": self.fixed_count,
            "files": [{"path": diff_path(f.abspath, root), "fixed": len(f.fixed_findings)} for f in self.changed],
            "unsafe_left": sum(len(f.unsafe) for f in self.files),
        }

    def diff(self, root: str) -> str:
        """One patch for every changed file, paths relative to ``root``."""
        return "".join(unified_diff(f.original, f.fixed, diff_path(f.abspath, root)) for f in self.changed)


def diff_path(abspath: str, root: str) -> str:
    """A file's path in a patch: relative to ``root``, '/' separated (the
    absolute path when it is not below it)."""
    rel = os.path.relpath(abspath, root)
    if rel.startswith(".."):
        rel = os.path.abspath(abspath).lstrip(os.sep)
    return rel.replace(os.sep, "/")


class Fixer:
    def __init__(self, engine: Engine, scope=None, unsafe: bool = False, max_rounds: int = MAX_ROUNDS):
        self.engine = engine
        self.scope = scope or AllFindings()
        self.unsafe = unsafe
        self.max_rounds = max_rounds

    def fix_report(self, report: Report, named: list[str]) -> FixResult:
        """Fix every file the report has a fixable finding in, if it is
        below the paths ``named`` (a file named itself, or found in a
        directory named, its symbolic links resolved); the others keep
        their findings. A file reached by several names is fixed once."""
        result = FixResult()
        by_file: dict[str, dict[str, list[Finding]]] = {}  # real path -> display -> findings
        for f in report.findings:
            by_file.setdefault(os.path.realpath(f.path), {}).setdefault(f.path, []).append(f)
        allowed = [os.path.realpath(p) for p in named]
        items = []
        for real, names in by_file.items():
            if not any(f.autofix is not None for fs in names.values() for f in fs):
                continue
            # The file's own name when the report has it, else the first link to it.
            display = next((d for d in names if os.path.abspath(d) == real), next(iter(names)))
            for other in names:
                if other != display:
                    result.aliases[other] = display
                    result.notes.append(f"{other}: the same file as {display} (a symbolic link): fixed as {display}")
            if not any(inside(real, a) for a in allowed):
                where = ", ".join(named)
                result.notes.append(f"{display}: not fixed: a symbolic link to {display_path(real)}, outside the paths named ({where})")
                continue
            abspath = os.path.abspath(display)
            data, why, _st = read_source_stat(abspath, self.engine.options.max_bytes)
            if data is None or why is not None:
                result.notes.append(f"{display}: not fixed: {why}")
                continue
            items.append((display, abspath, data, names[display]))
        jobs = self.engine.options.jobs or os.cpu_count() or 1
        if jobs <= 1 or len(items) < _PARALLEL_FROM:
            result.files.extend(self.fix_read(*item) for item in items)
        else:
            # Each file is fixed on its own (analysing it again is most of
            # the work), in the pool every mode uses.
            with fork_pool(min(jobs, len(items)), _set_worker_fixer, (self,)) as pool:
                result.files.extend(pool.imap(_fix_in_worker, items))
        result.notes.extend(f"{f.display}: {f.refused}" for f in result.files if f.refused)
        return result

    def fix_read(self, display: str, abspath: str, data: bytes, reported: list[Finding]) -> FileFix:
        """A file the report has fixable findings in, fixed from the bytes
        just read. Its fixes are those of an analysis of these very bytes:
        the report's offsets may be of other bytes (the file changed since
        it was checked, or a cached result was stale)."""
        out = FileFix(display, abspath, data, data, list(reported))
        findings = self.analyse(display, abspath, data, out)
        if out.refused is None:
            fixed = self.fix_file(display, abspath, data, findings)
            fixed.initial, fixed.errors = out.initial, out.errors + [e for e in fixed.errors if e not in out.errors]
            return fixed
        out.remaining = out.initial
        return out

    def fix_file(self, display: str, abspath: str | None, data: bytes, findings: list[Finding]) -> FileFix:
        """``data`` with its findings fixed to a fixed point, written back
        in the file's own encoding (or not fixed, with the reason)."""
        out = FileFix(display, abspath or display, data, data, list(findings))
        current, wide, out.refused = editable_text(data)
        if out.refused is not None:
            out.remaining = findings
            return out
        seen = {current}
        done: set[tuple[str, str]] = set()  # findings fixed once: a fix that did not resolve its finding is not applied again
        for _ in range(self.max_rounds):
            choice = choose([f for f in findings if (f.rule_id, f.fingerprint) not in done], self.unsafe)
            out.unsafe = choice.unsafe
            if not choice.fixes:
                break
            applied = apply_fixes(current, choice.fixes)
            if not applied.edits or applied.data in seen:
                break
            self.scope.edited(display, current, applied.edits)
            out.fixed_findings.extend(applied.fixed)
            done.update((f.rule_id, f.fingerprint) for f in applied.fixed)
            current = applied.data
            seen.add(current)
            findings = self.analyse(display, abspath, current, out)
            if out.refused is not None:  # the fixed file could not be analysed: nothing is written
                out.fixed, out.fixed_findings, out.remaining = data, [], out.initial
                return out
        else:
            if choose([f for f in findings if (f.rule_id, f.fingerprint) not in done], self.unsafe).fixes:
                out.converged = False
        again = [f for f in findings if (f.rule_id, f.fingerprint) in done and f.autofix is not None]
        if again:
            out.unresolved = again
        out.fixed = wide.from_utf8(current) if wide is not None else current
        out.remaining = findings
        return out

    def analyse(self, display: str, abspath: str | None, data: bytes, out: FileFix) -> list[Finding]:
        """The findings of ``data`` the run reports; a file the engine
        skips (a time limit, nesting) is refused (``out.refused``)."""
        res = self.engine.analyze(display, data, abspath)
        out.errors.extend(e for e in res.errors if e not in out.errors)
        if res.skipped:
            out.refused = f"not fixed: {res.skipped[0].reason}"
            return []
        ignored = self.engine.per_file_ignores(display)
        found = [f for f in res.findings if not (ignored and rule_matches(f.rule_id, ignored))]
        return self.scope.keep(display, data, found)


_WORKER_FIXER: Fixer | None = None  # in a worker process: the fixer it forked with


def _set_worker_fixer(fixer: Fixer) -> None:
    global _WORKER_FIXER
    _WORKER_FIXER = fixer


def _fix_in_worker(item) -> FileFix:
    return _WORKER_FIXER.fix_read(*item)


def write_fixed(result: FixResult, named: list[str]) -> list[str]:
    """Write every changed file in place (only below the paths ``named``);
    notes for those that were not."""
    notes = []
    for f in result.changed:
        why = replace_file(f.abspath, f.original, f.fixed, named)
        if why is not None:
            notes.append(f"{f.display}: {why}")
            f.fixed = f.original
            f.fixed_findings = []
            f.remaining = f.initial
    return notes


def fix_root(kernel_root, paths: list[str]) -> str:
    """The top of the tree being fixed: patch paths are relative to it and
    no symbolic link out of it is followed. The kernel tree's top, else
    the git work tree's, else the current directory when the paths are
    below it, else the first path's directory."""
    if kernel_root is not None:
        return os.path.realpath(str(kernel_root))
    # Here, not at the top: pygit2 takes 50 ms to import, and only a fix
    # asks git where the tree's root is (every check imports this module).
    from daxlint.sources.git import open_repository

    first = os.path.abspath(paths[0] if paths else ".")
    repo = open_repository(first if os.path.isdir(first) else os.path.dirname(first))
    if repo is not None and repo.workdir:
        return os.path.realpath(repo.workdir)
    cwd = os.path.realpath(os.getcwd())
    if all(os.path.realpath(os.path.abspath(p)).startswith(cwd.rstrip(os.sep) + os.sep) for p in paths):
        return cwd
    return os.path.realpath(first if os.path.isdir(first) else os.path.dirname(first))


def summary_notes(result: FixResult, left: list[Finding], dry_run: bool) -> list[str]:
    """What was fixed and what was ``left``, and why."""
    n, files = result.fixed_count, len(result.changed)
    verb = "would fix" if dry_run else "fixed"
    notes = [f"{verb} {n} finding{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}"]
    unsafe = [f for f in left if f.autofix is not None and f.autofix.safety != SAFE]
    unfixable = [f for f in left if f.autofix is None]
    if unsafe:
        notes.append(f"{len(unsafe)} finding{'s' if len(unsafe) != 1 else ''} with an unsafe fix left (apply with --unsafe-fixes)")
    if unfixable:
        notes.append(f"{len(unfixable)} finding{'s' if len(unfixable) != 1 else ''} without an automatic fix")
    for f in result.files:
        for u in f.unresolved:
            notes.append(f"{f.display}:{u.line}: [{u.rule_id}] still reported after its fix; not fixed again (please report)")
        if not f.converged:
            notes.append(f"{f.display}: fixes still applied after {MAX_ROUNDS} rounds; stopped (please report)")
    return notes
