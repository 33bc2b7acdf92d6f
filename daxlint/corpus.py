"""The corpus: the historical kernel changes behind the DAX policy, each
reproduced in C of our own (``corpus/NNN-name/{entry.toml,before/,after/}``),
run through the rules and compared with what the policy says they must find.

Optionally the real upstream commits are checked too, from a local kernel
clone: the files a commit touches are analysed as they were in its parent and
as it left them, and the rule ids found on each side are reported.

Library code only: loading, running, comparing, JSON-ready data. The CLI
(daxlint/commands/corpus.py) draws it."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from daxlint.core.engine import Engine, EngineOptions
from daxlint.model import FileResult
from daxlint.core.files import collect, file_kind, wanted
from daxlint.core.kernel import KernelContext
from daxlint.version import KernelVersion
from daxlint.sources.tree import TreeReader
from daxlint.model import Finding, InternalError, Skipped
from daxlint.paths import corpus_dir
from daxlint.core.registry import all_rules, select_rules

STATES = ("before", "after")
SIDES = ("violates", "fixes", "sanctioned", "complies")
PSEUDO_PREFIX = "pseudo:"

_COMMIT_RE = re.compile(r"^[0-9a-f]{7,40}$")
_RULE_ID_RE = re.compile(r"^DAX\d{3}$")
_MAKEFILE_FIELD = re.compile(rb"^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$", re.M)
_REQUIRED = ("upstream_commit", "subject", "kernel_version", "side", "summary", "expected_before", "expected_after")
_KNOWN_KEYS = set(_REQUIRED) | {
    "kernel_version_approximate", "merged", "kernel_version_before", "kernel_version_after", "version_note", "related",
}


class CorpusError(ValueError):
    """A corpus directory or entry that cannot be used (bad input: exit 2)."""


# -- entries ----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    id: str  # the directory name, e.g. "007-require-struct-page"
    path: Path
    upstream_commit: str  # hex id, or "pseudo:NAME"
    subject: str
    kernel_version: KernelVersion
    kernel_version_approximate: bool
    side: str
    merged: bool
    summary: str
    expected: dict[str, tuple[str, ...]]  # state -> sorted rule ids
    check_versions: dict[str, KernelVersion]  # state -> version the state is checked as
    version_note: str = ""
    related: tuple[str, ...] = ()

    @property
    def pseudo(self) -> bool:
        return self.upstream_commit.startswith(PSEUDO_PREFIX)

    @property
    def short_commit(self) -> str:
        return self.upstream_commit if self.pseudo else self.upstream_commit[:12]

    @property
    def version_label(self) -> str:
        return f"{'about ' if self.kernel_version_approximate else ''}v{self.kernel_version}"

    def state_dir(self, state: str) -> Path:
        return self.path / state

    def has_state(self, state: str) -> bool:
        return self.state_dir(state).is_dir()

    def states_involving(self, rule_id: str) -> list[str]:
        return [s for s in STATES if rule_id in self.expected[s]]


def _version(value, where: str) -> KernelVersion:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a version string like \"4.15\", got {value!r}")
    try:
        return KernelVersion.parse(value)
    except ValueError as e:
        raise CorpusError(f"{where}: {e}") from None


def _rule_list(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorpusError(f"{where}: expected a list of rule ids")
    bad = [v for v in value if not _RULE_ID_RE.match(v)]
    if bad:
        raise CorpusError(f"{where}: not rule ids: {', '.join(bad)}")
    return tuple(sorted(set(value)))


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string")
    return " ".join(value.split())


def load_entry(path: Path) -> Entry:
    """One entry directory. Raises CorpusError naming the file and key."""
    meta_path = path / "entry.toml"
    try:
        with open(meta_path, "rb") as fh:
            meta = tomllib.load(fh)
    except OSError as e:
        raise CorpusError(f"{meta_path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise CorpusError(f"{meta_path}: invalid TOML ({e})") from None
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise CorpusError(f"{meta_path}: missing {', '.join(missing)}")
    unknown = sorted(set(meta) - _KNOWN_KEYS)
    if unknown:
        raise CorpusError(f"{meta_path}: unknown key(s) {', '.join(unknown)}")

    commit = str(meta["upstream_commit"]).strip()
    if not (commit.startswith(PSEUDO_PREFIX) and len(commit) > len(PSEUDO_PREFIX)) and not _COMMIT_RE.match(commit):
        raise CorpusError(f"{meta_path}: upstream_commit {commit!r} is neither a commit id nor 'pseudo:NAME'")
    side = meta["side"]
    if side not in SIDES:
        raise CorpusError(f"{meta_path}: side {side!r} is not one of {', '.join(SIDES)}")
    version = _version(meta["kernel_version"], f"{meta_path}: kernel_version")
    expected = {s: _rule_list(meta[f"expected_{s}"], f"{meta_path}: expected_{s}") for s in STATES}
    check_versions = {
        s: _version(meta[f"kernel_version_{s}"], f"{meta_path}: kernel_version_{s}") if f"kernel_version_{s}" in meta else version
        for s in STATES
    }
    if not (path / "after").is_dir():
        raise CorpusError(f"{path}: no after/ directory")
    for s in STATES:
        if not (path / s).is_dir() and expected[s]:
            raise CorpusError(f"{path}: expected_{s} lists rules but there is no {s}/ directory")
    related = meta.get("related", [])
    if not isinstance(related, list) or not all(isinstance(r, str) for r in related):
        raise CorpusError(f"{meta_path}: related must be a list of strings")
    return Entry(
        id=path.name,
        path=path,
        upstream_commit=commit,
        subject=_text(meta["subject"], f"{meta_path}: subject"),
        kernel_version=version,
        kernel_version_approximate=bool(meta.get("kernel_version_approximate", False)),
        side=side,
        merged=bool(meta.get("merged", True)),
        summary=_text(meta["summary"], f"{meta_path}: summary"),
        expected=expected,
        check_versions=check_versions,
        version_note=_text(meta.get("version_note", ""), f"{meta_path}: version_note"),
        related=tuple(related),
    )


def load_corpus(root: Path | None = None) -> list[Entry]:
    """Every entry under ``root`` (default: the shipped corpus), by id."""
    root = Path(root) if root is not None else corpus_dir()
    if not root.is_dir():
        raise CorpusError(f"{root}: no such corpus directory")
    entries = [load_entry(p) for p in sorted(root.iterdir()) if p.is_dir() and (p / "entry.toml").is_file()]
    if not entries:
        raise CorpusError(f"{root}: no corpus entries (directories with an entry.toml)")
    return entries


def select_entries(entries: list[Entry], selectors: Iterable[str]) -> list[Entry]:
    """Entries matching any selector: an id or id prefix ("007"), a word of
    the id ("vm-flags"), or a commit id prefix. No selector: all."""
    selectors = [s.strip() for s in selectors if s.strip()]
    if not selectors:
        return list(entries)
    chosen: list[Entry] = []
    for sel in selectors:
        low = sel.lower()
        hits = [
            e for e in entries
            if e.id.startswith(sel) or low in e.id.lower()
            or (not e.pseudo and len(low) >= 7 and (e.upstream_commit.startswith(low) or low.startswith(e.upstream_commit)))
        ]
        if not hits:
            raise CorpusError(f"no corpus entry matches {sel!r} (see 'daxlint corpus --list')")
        chosen.extend(h for h in hits if h not in chosen)
    return [e for e in entries if e in chosen]


def entries_for_rule(rule_id: str, entries: list[Entry] | None = None) -> list[tuple[Entry, list[str]]]:
    """(entry, states whose expected list names ``rule_id``), for explain."""
    entries = load_corpus() if entries is None else entries
    out = []
    for e in entries:
        states = e.states_involving(rule_id)
        if states:
            out.append((e, states))
    return out


# -- running ----------------------------------------------------------------


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


class _EngineCache:
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


def run_state(entry: Entry, state: str, engines: _EngineCache) -> StateResult:
    result = StateResult(state=state, kernel_version=entry.check_versions[state], present=entry.has_state(state),
                         expected=entry.expected[state])
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


def run_entry(entry: Entry, engines: _EngineCache | None = None, git: "KernelGit | None" = None) -> EntryResult:
    engines = engines or _EngineCache()
    result = EntryResult(entry, [run_state(entry, s, engines) for s in STATES])
    if git is not None:
        result.upstream = git.check(entry, engines)
    return result


def run_corpus(entries: list[Entry], kernel_git: str | Path | None = None) -> list[EntryResult]:
    engines = _EngineCache()
    git = KernelGit(kernel_git) if kernel_git is not None else None
    return [run_entry(e, engines, git) for e in entries]


# -- summaries and JSON -----------------------------------------------------


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
        {"rule_id": r.rule_id, "registered": r.registered, "expected": r.expected, "matched": r.matched,
         "missed": r.missed, "unexpected": r.unexpected}
        for r in rule_summary(results)
    ]
    matched = sum(r.status == "match" for r in results)
    return {
        "entries": entries,
        "rules": rules,
        "summary": {"entries": len(results), "match": matched, "mismatch": len(results) - matched},
    }


# -- upstream commits from a local kernel clone -----------------------------


def _makefile_version(data: bytes | None) -> KernelVersion | None:
    if not data:
        return None
    fields = dict((k.decode(), int(v)) for k, v in _MAKEFILE_FIELD.findall(data[:4096]))
    if "VERSION" in fields and "PATCHLEVEL" in fields:
        return KernelVersion(fields["VERSION"], fields["PATCHLEVEL"])
    return None


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

    def check(self, entry: Entry, engines: _EngineCache) -> UpstreamResult:
        import pygit2

        if entry.pseudo:
            why = "never merged" if not entry.merged else "no single upstream commit recorded"
            return UpstreamResult("skipped", f"{entry.upstream_commit} is a pseudo id ({why})")
        commit = self._lookup(entry.upstream_commit)
        if commit is None:
            return UpstreamResult("missing", f"commit {entry.upstream_commit} is not in {self.path}")
        full = str(commit.id)
        subject = commit.message.splitlines()[0] if commit.message else ""
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

    def _analyse(self, commit, paths: list[str], engines: _EngineCache) -> UpstreamSide:
        from daxlint.audit import VIRTUAL_ROOT, GitTreeReader

        root = VIRTUAL_ROOT
        reader = GitTreeReader(self.repo, commit.tree)
        version = _makefile_version(reader.read(f"{root}/Makefile"))
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
