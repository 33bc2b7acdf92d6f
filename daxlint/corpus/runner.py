"""Running corpus entries through the rules: each state of an entry, and
optionally the real upstream commit from a local kernel clone (the files
it touches as they were in its parent and as it left them)."""

from __future__ import annotations

import os
from pathlib import Path

from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import collect, file_kind, wanted
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import select_rules
from daxlint.corpus.entries import STATES, CorpusError, Entry
from daxlint.corpus.results import EntryResult, StateResult, UpstreamResult, UpstreamSide
from daxlint.lines import split_lines
from daxlint.model import FileResult, Finding, Skipped
from daxlint.sources.git import VIRTUAL_ROOT, GitTreeReader
from daxlint.sources.tree import TreeReader
from daxlint.version import KernelVersion, makefile_version


class EngineCache:
    """One engine per kernel version (and reader): engines are cheap, but the
    catalog and compiled rules are worth sharing within a run."""

    def __init__(self):
        self._rules = select_rules()
        self._engines: dict[tuple, Engine] = {}

    def get(self, version: KernelVersion | None, reader: TreeReader | None = None, source: str = "flag") -> Engine:
        key = (version, id(reader))
        if key not in self._engines:
            kernel = KernelContext(None, version, source if version is not None else "default", reader=reader)
            self._engines[key] = Engine(self._rules, kernel, EngineOptions(jobs=1, use_cache=False))
        return self._engines[key]


def run_state(entry: Entry, state: str, engines: EngineCache) -> StateResult:
    result = StateResult(
        state=state, kernel_version=entry.check_versions[state], present=entry.has_state(state), expected=entry.expected[state]
    )
    if not result.present:
        return result
    engine = engines.get(result.kernel_version)
    fileset = collect([str(entry.state_dir(state))], engine.file_kinds)
    result.skipped.extend(fileset.skipped)
    for _display, abspath in sorted(fileset.files):
        res = engine.analyze_file(os.path.relpath(abspath, entry.path), abspath)
        result.add(res)
    result.findings.sort(key=Finding.sort_key)
    return result


def run_entry(entry: Entry, engines: EngineCache | None = None, git: KernelGit | None = None) -> EntryResult:
    engines = engines or EngineCache()
    result = EntryResult(entry, [run_state(entry, s, engines) for s in STATES])
    if git is not None:
        result.upstream = git.check(entry, engines)
    return result


def run_corpus(entries: list[Entry], kernel_git: str | Path | None = None) -> list[EntryResult]:
    engines = EngineCache()
    git = KernelGit(kernel_git) if kernel_git is not None else None
    return [run_entry(e, engines, git) for e in entries]


# -- summaries and JSON -----------------------------------------------------


def _analysable(path: str) -> bool:
    return wanted(path, ("c", "kconfig"))


class KernelGit:
    """A local kernel clone, opened once. ``check(entry)`` looks the entry's
    commit up and analyses the files it touches on both sides."""

    MAX_FILES = 400  # a tree-wide sweep is not what an entry is about

    def __init__(self, path: str | Path):
        import pygit2

        self.path = str(path)
        if not os.path.isdir(self.path):
            raise CorpusError(f"--kernel-git {self.path}: no such directory")
        found = pygit2.discover_repository(self.path)
        if found is None:
            raise CorpusError(f"--kernel-git {self.path}: not a git repository")
        try:
            self.repo = pygit2.Repository(found)
        except pygit2.GitError as e:
            raise CorpusError(f"--kernel-git {self.path}: cannot open ({e})") from None

    def _lookup(self, commit_id: str):
        import pygit2

        try:
            obj = self.repo.revparse_single(commit_id)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        try:
            return obj.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError, AttributeError):
            return None

    def check(self, entry: Entry, engines: EngineCache) -> UpstreamResult:
        import pygit2

        if entry.pseudo:
            why = "never merged" if not entry.merged else "no single upstream commit recorded"
            return UpstreamResult("skipped", f"{entry.upstream_commit} is a pseudo id ({why})")
        commit = self._lookup(entry.upstream_commit)
        if commit is None:
            return UpstreamResult("missing", f"commit {entry.upstream_commit} is not in {self.path}")
        full = str(commit.id)
        subject = split_lines(commit.message)[0] if commit.message.strip("\n") else ""
        try:
            parent = commit.parents[0] if commit.parents else None
        except (KeyError, pygit2.GitError):
            parent = None
        if parent is None:
            return UpstreamResult("missing", f"the parent of {full[:12]} is not in {self.path} (shallow clone?)", full, subject)

        diff = self.repo.diff(parent.tree, commit.tree)
        paths = {"before": [], "after": []}
        for delta in diff.deltas:
            if delta.status_char() != "A" and _analysable(delta.old_file.path):
                paths["before"].append(delta.old_file.path)
            if delta.status_char() != "D" and _analysable(delta.new_file.path):
                paths["after"].append(delta.new_file.path)
        note = ""
        if max(len(p) for p in paths.values()) > self.MAX_FILES:
            note = f"the commit touches more than {self.MAX_FILES} C/Kconfig files; the first {self.MAX_FILES} were checked"
        result = UpstreamResult("checked", note, full, subject)
        for side, tree_commit in (("before", parent), ("after", commit)):
            result.sides[side] = self._analyse(tree_commit, sorted(paths[side])[: self.MAX_FILES], engines)
        return result

    def _analyse(self, commit, paths: list[str], engines: EngineCache) -> UpstreamSide:
        root = VIRTUAL_ROOT
        reader = GitTreeReader(self.repo, commit.tree)
        version = makefile_version(reader.read(f"{root}/Makefile") or b"")
        engine = engines.get(version, reader, "Makefile")
        side = UpstreamSide(kernel_version=version)
        kinds = engine.file_kinds
        for rel in paths:
            if file_kind(rel) not in kinds:
                continue
            data = reader.read(f"{root}/{rel}")
            if data is None:
                continue
            try:
                side.add(engine.analyze(rel, data, f"{root}/{rel}"))
            except RecursionError:
                side.add(FileResult(skipped=[Skipped(rel, "nesting too deep to analyse")]))
        side.findings.sort(key=Finding.sort_key)
        return side
