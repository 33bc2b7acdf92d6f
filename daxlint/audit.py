"""Batch audit of a git history (``daxlint audit``): which commits brought
DAX policy findings in, and which took them out.

How it stays fast on kernel histories:

- Blobs are read from the object store with pygit2: no checkout, and the
  work tree is never looked at.
- The range's base tree is analysed once, and most of its blobs fail the
  engine's token prefilter so they are never parsed. After that a commit
  re-analyses only the files it touches, plus the few files whose verdict
  read a file it touches (a directory's Kconfig, a sibling source).
- Results are stored per blob (``daxlint.audit_store``), so a blob is
  analysed once per kernel version and rule set, however many commits and
  ranges contain it; audited commits are stored too, so an interrupted run
  resumes and a repeated or extended range reads the store.
- Files are analysed on a pool of processes while the main process walks
  ahead through the commits; commits are then finished in order.

"Introduced" and "fixed" are set differences of finding fingerprints per
file. Fingerprints ignore line numbers, so code that moves inside a file is
neither; a finding whose code went to another file (a rename, a function
moved) is reported as moved.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2

from daxlint import __version__
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import DEFAULT_MAX_BYTES, file_kind
from daxlint.errors import InputError
from daxlint.core.files import wanted as files_wanted
from daxlint.core.fingerprint import normalise_code
from daxlint.core.kernel import KernelContext
from daxlint.version import KernelVersion, makefile_version
from daxlint.sources.tree import TreeReader
from daxlint.model import Finding, InternalError, Severity, Skipped
from daxlint.core.registry import rule_matches, ruleset_signature
from daxlint.kconfig.index import KconfigIndex, kconfig_index
from daxlint.kconfig.parser import parse_kconfig_symbols

# Where rules believe the audited tree lives. It exists nowhere on disk, so a
# rule that reads the disk instead of ctx.kernel finds nothing rather than
# the work tree of some other commit.
VIRTUAL_ROOT = "/.daxlint-git-tree"

_REGULAR_MODES = (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE)
_SNAPSHOT_CHUNK = 48  # files per task when a whole tree is analysed

FAMILY_NAMES = {
    "DAX0": "engine",
    "DAX1": "page-less pfn_t",
    "DAX2": "ZONE_DEVICE backing",
    "DAX3": "vm_flags",
}


class AuditError(InputError):
    """The audit cannot start: not a repository, bad range, unusable store."""


def family(rule_id: str) -> str:
    return rule_id[:4]


# -- git --------------------------------------------------------------------


@dataclass
class CommitInfo:
    sha: str
    subject: str
    author: str
    email: str
    date: str  # author date, ISO 8601 with the author's offset
    parents: list[str]


@dataclass
class Change:
    path: str
    old: str | None  # blob id before, None when absent or not a regular file
    new: str | None


def tree_changes(old_tree, new_tree) -> list[Change]:
    """Files that differ between two trees, descending only into subtrees
    whose ids differ (libgit2's tree diff walks far more of a kernel tree).
    Renames are a deletion and an addition here; moved findings are paired
    up by the auditor."""
    out: list[Change] = []

    def regular(entry) -> str | None:
        return str(entry.id) if entry is not None and entry.filemode in _REGULAR_MODES else None

    def subtree(entry):
        return entry if entry is not None and entry.type_str == "tree" else None

    def walk(prefix: str, old, new) -> None:
        olds = {e.name: e for e in old} if old is not None else {}
        news = {e.name: e for e in new} if new is not None else {}
        for name in sorted(olds.keys() | news.keys()):
            a, b = olds.get(name), news.get(name)
            if a is not None and b is not None and a.id == b.id and a.filemode == b.filemode:
                continue
            path = prefix + name
            if subtree(a) is not None or subtree(b) is not None:
                walk(path + "/", subtree(a), subtree(b))
            if regular(a) != regular(b):
                out.append(Change(path, regular(a), regular(b)))

    if old_tree.id != new_tree.id:
        walk("", old_tree, new_tree)
    return out


class GitRepo:
    """The few things the audit asks of a repository, all read-only."""

    def __init__(self, path: str | os.PathLike):
        try:
            found = pygit2.discover_repository(str(path))
        except pygit2.GitError as e:
            raise AuditError(f"{path}: cannot open repository: {e}") from None
        if not found:
            raise AuditError(f"{path}: not a git repository")
        try:
            self.repo = pygit2.Repository(found)
        except pygit2.GitError as e:
            raise AuditError(f"{path}: cannot open repository: {e}") from None
        self.path = self.repo.path  # the git directory
        self.display = self.repo.workdir or self.repo.path
        self._versions: dict[str, KernelVersion | None] = {}

    @property
    def is_shallow(self) -> bool:
        return bool(self.repo.is_shallow)

    @functools.cached_property
    def shallow_boundary(self) -> frozenset[str]:
        """Commits of a shallow clone whose parents were not fetched (libgit2
        shows them as root commits; git lists them in .git/shallow)."""
        if not self.is_shallow:
            return frozenset()
        try:
            with open(os.path.join(self.path, "shallow"), encoding="ascii", errors="replace") as fh:
                return frozenset(line.strip() for line in fh if line.strip())
        except OSError:
            return frozenset()

    def rev_list(self, revisions: list[str], first_parent: bool) -> list[str]:
        """The commits of a rev-range, oldest first (parents before children).
        git itself parses the range, so every form ``git log`` takes works."""
        for r in revisions:
            if not r or r.startswith("-"):
                raise AuditError(f"bad revision {r!r}: a revision range such as v6.1..v6.2 is expected")
        cmd = ["git", "--git-dir", self.path, "rev-list", "--reverse", "--topo-order"]
        if first_parent:
            cmd.append("--first-parent")
        cmd += ["--end-of-options", *revisions, "--"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        except FileNotFoundError:
            raise AuditError("git is not installed (it resolves the revision range)") from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            msg = next((ln for ln in lines if ln.startswith("fatal:")), lines[0] if lines else f"git rev-list exited {proc.returncode}")
            msg = msg.removeprefix("fatal:").strip()
            hint = " (the repository is a shallow clone: 'git fetch --unshallow' fetches the rest)" if self.is_shallow else ""
            raise AuditError(f"bad revision range {' '.join(revisions)!r}: {msg}{hint}")
        return proc.stdout.split()

    def commit(self, sha: str):
        try:
            obj = self.repo.get(sha)
        except (ValueError, pygit2.GitError):
            return None
        return obj if isinstance(obj, pygit2.Commit) else None

    def commit_info(self, sha: str) -> CommitInfo:
        c = self.repo[sha]
        sig = c.author
        tz = timezone(timedelta(minutes=sig.offset))
        message = c.raw_message.decode("utf-8", "replace")
        return CommitInfo(
            sha=sha,
            subject=message.strip().split("\n", 1)[0].strip() if message.strip() else "",
            author=sig.raw_name.decode("utf-8", "replace"),
            email=sig.raw_email.decode("utf-8", "replace"),
            date=datetime.fromtimestamp(sig.time, tz).isoformat(),
            parents=[str(p) for p in c.parent_ids],
        )

    def kernel_version(self, tree) -> KernelVersion | None:
        """VERSION.PATCHLEVEL from the tree's top Makefile."""
        try:
            entry = tree["Makefile"]
        except KeyError:
            return None
        key = str(entry.id)
        if key not in self._versions:
            try:
                blob = self.repo[entry.id]
                self._versions[key] = makefile_version(blob.data) if isinstance(blob, pygit2.Blob) else None
            except (KeyError, pygit2.GitError):
                self._versions[key] = None
        return self._versions[key]

    def files(self, tree, wanted) -> list[tuple[str, str]]:
        """(path, blob id) of the regular files in ``tree`` whose name ``wanted`` accepts."""
        out: list[tuple[str, str]] = []
        stack = [("", tree)]
        while stack:
            prefix, t = stack.pop()
            for entry in t:
                if entry.type_str == "tree":
                    stack.append((f"{prefix}{entry.name}/", entry))
                elif entry.filemode in _REGULAR_MODES and wanted(entry.name):
                    out.append((prefix + entry.name, str(entry.id)))
        out.sort()
        return out

    def changes(self, old_tree, new_tree) -> list[Change]:
        return tree_changes(old_tree, new_tree)

    @staticmethod
    def blob_id(tree, path: str) -> str | None:
        try:
            entry = tree[path]
        except (KeyError, ValueError):
            return None
        return str(entry.id) if entry.filemode in _REGULAR_MODES else None


# -- reading a tree for rules ---------------------------------------------


def _lookup(tree, rel: str):
    if rel == "":
        return tree
    try:
        return tree[rel]
    except (KeyError, ValueError):
        return None


def _dep_token(repo: pygit2.Repository, tree, key: str, indexes: "TreeIndexes | None" = None) -> str:
    """What a dependency looked like. Keys: "f:path" (a file: its blob id),
    "d:path" (a directory: a hash of its names), "s:SYMBOL" (the Kconfig
    definitions of a symbol anywhere in the tree), "h:" (whether the tree
    has a Kconfig tree at all); "-" when absent."""
    kind, rel = key[0], key[2:]
    if kind in ("s", "h"):
        if indexes is None:
            return "?"
        index = indexes.kconfig_index(repo, tree)
        return _symbols_token(index.definitions(rel)) if kind == "s" else str(int(bool(index.has_tree)))
    obj = _lookup(tree, rel)
    if kind == "f":
        return str(obj.id) if obj is not None and obj.type_str == "blob" else "-"
    if obj is None or obj.type_str != "tree":
        return "-"
    return hashlib.sha1("\0".join(sorted(e.name for e in obj)).encode()).hexdigest()[:16]


def _symbols_token(definitions) -> str:
    # Line numbers left out: an edit above a definition does not change it.
    plain = [dataclasses.replace(d, line=0) if dataclasses.is_dataclass(d) and hasattr(d, "line") else d for d in definitions]
    return hashlib.sha1(repr(plain).encode()).hexdigest()[:16]


def deps_hold(repo: pygit2.Repository, tree, deps: dict[str, str], indexes: "TreeIndexes | None" = None) -> bool:
    """Whether what a result read is the same in ``tree``."""
    return all(_dep_token(repo, tree, k, indexes) == v for k, v in deps.items())


def touches_kconfig(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("Kconfig")


class TreeIndexes:
    """Objects that rule helpers build once for a whole tree - the Kconfig
    symbol index (daxlint.kconfig.index), which parses every Kconfig
    file. Kept for the last few trees of this process; a new tree re-parses
    only the Kconfig files whose text it has not seen."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self._indexes: dict[str, tuple[object, GitTreeReader]] = {}
        self._parsed: dict[tuple[bytes, str], object] = {}
        self._blobs: dict[str, bytes] = {}  # Kconfig files by blob id

    def parse(self, text: str, path: str):
        """parse_kconfig_symbols, remembered by text and path."""
        memo = (hashlib.sha1(text.encode("utf-8", "surrogateescape")).digest(), path)
        if memo not in self._parsed:
            self._parsed[memo] = parse_kconfig_symbols(text, path)
        return self._parsed[memo]

    def changed_symbols(self, repo: pygit2.Repository, changes: list[Change]) -> set[str] | None:
        """Names of the symbols whose definitions differ between the old and
        new versions of changed Kconfig files; None when the change could
        alter which Kconfig files the tree reads (a file added or removed, a
        ``source`` line changed)."""
        names: set[str] = set()
        for c in changes:
            if c.old is None or c.new is None:
                return None
            try:
                old_text, new_text = (repo[o].data.decode("utf-8", "replace") for o in (c.old, c.new))
            except (KeyError, ValueError, pygit2.GitError):
                return None
            path = f"{VIRTUAL_ROOT}/{c.path}"
            (old_syms, old_src), (new_syms, new_src) = self.parse(old_text, path), self.parse(new_text, path)
            if old_src != new_src:
                return None
            before, after = {}, {}
            for syms, into in ((old_syms, before), (new_syms, after)):
                for sym in syms:
                    into.setdefault(sym.name, []).append(sym)
            names.update(n for n in before.keys() | after.keys() if _symbols_token(before.get(n, [])) != _symbols_token(after.get(n, [])))
        return names

    def kconfig_index(self, repo: pygit2.Repository, tree):
        return self.kconfig_index_and_reads(repo, tree)[0]

    def kconfig_index_and_reads(self, repo: pygit2.Repository, tree) -> tuple[object, GitTreeReader]:
        key = str(tree.id)
        if key not in self._indexes:
            # Most commits change no Kconfig file: an index built for a
            # recent tree serves if no file it read, and no directory it
            # listed, differs between that tree and this one.
            distinct = {id(entry[0]): entry for entry in self._indexes.values()}
            for index, reader in reversed(list(distinct.values())):
                changes = tree_changes(reader.tree, tree)
                if not any(
                    "f:" + c.path in reader.deps or ((c.old is None) != (c.new is None) and any("d:" + d in reader.deps for d in _ancestors(c.path)))
                    for c in changes
                ):
                    self._remember(key, (index, reader))
                    return index, reader
            reader = GitTreeReader(repo, tree, self._blobs)
            # The index reads every Kconfig file once, and consecutive
            # commits share nearly all: parse through the memo.
            index = KconfigIndex(reader, VIRTUAL_ROOT, parse=self.parse)
            index.has_tree  # load now
            if len(self._parsed) > 40000 or len(self._blobs) > 20000:
                self._parsed.clear()
                self._blobs.clear()
            self._remember(key, (index, reader))
        return self._indexes[key]

    def _remember(self, key: str, entry: tuple[object, GitTreeReader]) -> None:
        while len(self._indexes) >= self.keep:
            self._indexes.pop(next(iter(self._indexes)))
        self._indexes[key] = entry


class _IndexView:
    """What a file's rules see in place of the tree's Kconfig index: the
    shared index, recording which symbols were looked up (and what their
    definitions were) as that file's dependencies. Anything else asked of
    the index makes the file depend on every Kconfig file it read."""

    def __init__(self, indexes: TreeIndexes, repo, tree, deps: dict[str, str]):
        self._indexes, self._repo, self._tree, self._deps = indexes, repo, tree, deps

    def _index(self):
        return self._indexes.kconfig_index(self._repo, self._tree)

    def definitions(self, name: str):
        found = self._index().definitions(name)
        self._deps["s:" + name] = _symbols_token(found)
        return found

    def defines(self, name: str) -> bool:
        return bool(self.definitions(name))

    @property
    def has_tree(self) -> bool:
        found = bool(self._index().has_tree)
        self._deps["h:"] = str(int(found))
        return found

    def __getattr__(self, name):
        index, reads = self._indexes.kconfig_index_and_reads(self._repo, self._tree)
        self._deps.update(reads.deps)
        return getattr(index, name)


class GitTreeReader(TreeReader):
    """The files of one commit's tree, for rules that read beyond the file
    they check. Records what was read (``deps``) so a result is reused only
    where those files are unchanged, and redone when a commit touches one."""

    def __init__(self, repo: pygit2.Repository, tree, blobs: dict[str, bytes] | None = None):
        self.repo = repo
        self.tree = tree
        self.deps: dict[str, str] = {}
        self.blobs = blobs  # contents by blob id, shared by readers that reread the same files

    @staticmethod
    def relative(path: str) -> str | None:
        """The tree path for a path a rule built from ctx.abspath (or a
        tree-relative one); None for anything outside the tree."""
        p = os.path.normpath(str(path))
        if p == VIRTUAL_ROOT or p == ".":
            return ""
        if p.startswith(VIRTUAL_ROOT + "/"):
            return p[len(VIRTUAL_ROOT) + 1 :]
        if os.path.isabs(p) or p.startswith(".."):
            return None
        return p

    def read(self, path: str) -> bytes | None:
        rel = self.relative(path)
        if rel is None:
            return None
        obj = _lookup(self.tree, rel)
        if obj is None or obj.type_str != "blob":
            self.deps["f:" + rel] = "-"
            return None
        oid = self.deps["f:" + rel] = str(obj.id)
        if self.blobs is not None and oid in self.blobs:
            return self.blobs[oid]
        try:
            data = obj.data
        except (KeyError, pygit2.GitError):
            return None
        if self.blobs is not None:
            self.blobs[oid] = data
        return data

    def listdir(self, directory: str) -> list[str]:
        rel = self.relative(directory)
        if rel is None:
            return []
        key = "d:" + rel
        self.deps[key] = _dep_token(self.repo, self.tree, key)
        obj = _lookup(self.tree, rel)
        return sorted(e.name for e in obj) if obj is not None and obj.type_str == "tree" else []

    def signature(self, path: str):
        rel = self.relative(path)
        return None if rel is None else _dep_token(self.repo, self.tree, "f:" + rel)


# -- analysing blobs --------------------------------------------------------


@dataclass
class BlobResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    deps: dict[str, str] = field(default_factory=dict)
    negative: bool = False  # no enabled rule's tokens occur: nothing ran
    missing: str | None = None  # the object could not be read

    @property
    def relevant(self) -> bool:
        """Whether a tree's state must remember this file: it has findings,
        or its verdict hangs on other files."""
        return bool(self.findings or self.deps)

    def payload(self) -> dict:
        return {"f": [f.to_dict() for f in self.findings], "s": [s.to_dict() for s in self.skipped], "d": self.deps}

    @classmethod
    def from_payload(cls, d: dict) -> "BlobResult":
        return cls([Finding.from_dict(f) for f in d["f"]], [Skipped(**s) for s in d.get("s", [])], [], d.get("d", {}))


class BlobReader:
    """Blob contents in bulk through one long-running ``git cat-file
    --batch``: git's delta-base cache reads a packed kernel tree about twice
    as fast as libgit2 does. Falls back to pygit2 when git is unavailable."""

    def __init__(self, repo: pygit2.Repository):
        self.repo = repo
        self.proc = None
        try:
            self.proc = subprocess.Popen(
                ["git", "--git-dir", repo.path, "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        except OSError:
            self.proc = None

    def read(self, oids: list[str]) -> list[bytes | None]:
        """The contents of ``oids`` (at most a few hundred: the requests
        must fit the pipe), None for a missing object or a non-blob."""
        if self.proc is not None:
            try:
                return self._cat_file(oids)
            except (OSError, ValueError):
                self.close()  # a dead or confused git: go on without it
        out: list[bytes | None] = []
        for oid in oids:
            try:
                obj = self.repo[oid]
                out.append(obj.data if isinstance(obj, pygit2.Blob) else None)
            except (KeyError, ValueError, pygit2.GitError):
                out.append(None)
        return out

    def _cat_file(self, oids: list[str]) -> list[bytes | None]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        stdin.write("".join(f"{o}\n" for o in oids).encode())
        stdin.flush()
        out: list[bytes | None] = []
        for _ in oids:
            header = stdout.readline().split()
            if not header:
                raise OSError("git cat-file ended early")
            if len(header) != 3:  # "<oid> missing" / "ambiguous"
                out.append(None)
                continue
            size = int(header[2])
            data = stdout.read(size)
            if len(data) != size or stdout.read(1) != b"\n":
                raise OSError("git cat-file output truncated")
            out.append(data if header[1] == b"blob" else None)
        return out

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                proc.stdin.close()
            except OSError:
                pass
            proc.kill()
            proc.wait()


class BlobAnalyzer:
    """The engine applied to blobs of a tree. One per process."""

    def __init__(self, rules, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 60.0, per_file_ignores: dict | None = None):
        opts = EngineOptions(jobs=1, use_cache=False, max_bytes=max_bytes, timeout=timeout, per_file_ignores=per_file_ignores or {})
        self.engine = Engine(rules, KernelContext(None, None, "default"), opts)
        self.kinds = self.engine.file_kinds
        self.max_bytes = max_bytes
        self.indexes = TreeIndexes()

    def wanted(self, name: str) -> bool:
        """Whether a file of this name is one the enabled rules read."""
        return files_wanted(name, self.kinds)

    def needs_rules(self, data: bytes, path: str) -> bool:
        return self.engine.needs_analysis(data, file_kind(path))

    def analyze(self, repo: pygit2.Repository, tree, path: str, oid: str, data: bytes | None, version: KernelVersion, version_source: str) -> BlobResult:
        if data is None:
            return BlobResult(missing=f"object {oid[:12]} ({path}) is missing or not a file")
        if len(data) > self.max_bytes:
            return BlobResult(skipped=[Skipped(path, f"too large ({len(data)} bytes, limit {self.max_bytes})")])
        if not self.needs_rules(data, path):
            return BlobResult(negative=True)
        reader = GitTreeReader(repo, tree)
        # Each file gets a fresh context, so that memos kept per context (a
        # directory's Kconfig, its siblings' summaries) cannot hide from the
        # reader which files this file's verdict read. The tree's Kconfig
        # index is shared, through a view that records this file's lookups.
        view = _IndexView(self.indexes, repo, tree, reader.deps)
        kernel = KernelContext(Path(VIRTUAL_ROOT), version, version_source, reader, memo={kconfig_index: view})
        # The engine applies the per-file time limit and turns it into a skip.
        res = self.engine.analyze(path, data, f"{VIRTUAL_ROOT}/{path}", kernel)
        return BlobResult(res.findings, res.skipped, res.errors, reader.deps)


# Worker processes: each opens the repository itself after the fork.
_WORKER: tuple | None = None


def _init_worker(analyzer: BlobAnalyzer, git_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles ^C
    global _WORKER
    repo = pygit2.Repository(git_dir)
    _WORKER = (analyzer, repo, BlobReader(repo))


def _run_task(task):
    return analyze_items(*_WORKER, task)


def analyze_items(analyzer: BlobAnalyzer, repo: pygit2.Repository, blobs: BlobReader, task) -> list[tuple[str, str, BlobResult]]:
    """Analyse (path, blob id) items of one commit's tree."""
    commit_sha, version, version_source, items = task
    try:
        tree = repo[commit_sha].tree
    except (KeyError, ValueError, pygit2.GitError) as e:
        return [(p, o, BlobResult(missing=f"tree of {commit_sha[:12]} cannot be read: {e}")) for p, o in items]
    contents = blobs.read([o for _, o in items])
    out = []
    for (path, oid), data in zip(items, contents):
        try:
            res = analyzer.analyze(repo, tree, path, oid, data, version, version_source)
        except Exception as e:  # a crash on one file must not end the audit
            res = BlobResult(errors=[InternalError(path, None, f"{type(e).__name__}: {e}")])
        out.append((path, oid, res))
    return out


class _Done:
    """A task run in this process, when it is asked for (one job)."""

    def __init__(self, fn):
        self._fn = fn
        self._value = None
        self._ran = False

    def get(self):
        if not self._ran:
            self._value, self._ran = self._fn(), True
        return self._value


class _Workers:
    def __init__(self, analyzer: BlobAnalyzer, repo: GitRepo, jobs: int):
        self.analyzer = analyzer
        self.repo = repo
        self.jobs = jobs
        self.pool = None
        self.blobs = None
        if jobs > 1:
            ctx = multiprocessing.get_context("fork")
            self.pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(analyzer, repo.path))
        else:
            self.blobs = BlobReader(repo.repo)

    def submit(self, task):
        if self.pool is None:
            return _Done(lambda: analyze_items(self.analyzer, self.repo.repo, self.blobs, task))
        return self.pool.apply_async(_run_task, (task,))

    def close(self, failed: bool) -> None:
        if self.blobs is not None:
            self.blobs.close()
        if self.pool is None:
            return
        if failed:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()


# -- results ------------------------------------------------------------------


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
    def for_commit(cls, info: CommitInfo) -> "CommitAudit":
        return cls(info.sha, info.subject, info.author, info.email, info.date, list(info.parents))

    def store_payload(self) -> dict:
        d = self.to_dict()
        for k in ("still_open_count", "from_store"):
            d.pop(k, None)
        for f in d["introduced"]:
            f.pop("still_open", None)
        return d

    @classmethod
    def from_payload(cls, d: dict) -> "CommitAudit":
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


# -- the auditor ----------------------------------------------------------------


@dataclass
class AuditOptions:
    jobs: int = 0  # 0: every core
    kernel_version: KernelVersion | None = None  # overrides every commit's Makefile
    all_parents: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Plan:
    """The work for one commit (or for the tree of a commit whose state
    is needed as a base), submitted ahead of finishing it."""

    sha: str
    tree: object = None
    version: KernelVersion | None = None
    version_source: str = "Makefile"
    parents: list[str] = field(default_factory=list)
    whole_tree: str | None = None  # the reason, when every file is compared
    changes: list[Change] = field(default_factory=list)
    items: dict[str, str] = field(default_factory=dict)  # path -> blob id wanted in this tree
    cached: dict[str, BlobResult] = field(default_factory=dict)
    handles: list = field(default_factory=list)
    skip: str | None = None
    info: CommitInfo | None = None


class _Unreadable(Exception):
    pass


# A tree's state: the files whose result must be remembered (see
# BlobResult.relevant); a file not in it has no findings. Kept per commit
# only while a later commit of the range still needs it as its parent.
State = dict[str, BlobResult]


class Auditor:
    def __init__(self, repo: GitRepo, rules, store, options: AuditOptions | None = None, progress=None):
        self.git = repo
        self.rules = list(rules)
        self.store = store
        self.options = options or AuditOptions()
        self.progress = progress or (lambda *a, **k: None)
        self.analyzer = BlobAnalyzer(self.rules, self.options.max_bytes, self.options.timeout, self.options.per_file_ignores)
        enabled = sorted(r.id for r in self.rules)
        self._blob_sig = _digest(ruleset_signature(), enabled, self.options.max_bytes)
        self._setup = _digest(
            self._blob_sig,
            str(self.options.kernel_version) if self.options.kernel_version else "",
            sorted((k, sorted(v)) for k, v in self.options.per_file_ignores.items()),
        )
        self._ignores: dict[str, list[str]] = {}
        self._states: dict[str, State] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._snapshot_plans: dict[str, _Plan] = {}
        self._uses: Counter = Counter()
        self._files_analysed = 0
        self._last_commit = 0.0
        self._keep: set[str] = set()
        self._workers: _Workers | None = None

    # -- keys ---------------------------------------------------------------

    def setup_key(self, parents: list[str]) -> str:
        """Stored commits are valid for this setup; merges are judged
        differently with --all-parents, so they get their own key."""
        if self.options.all_parents and len(parents) > 1:
            return self._setup + "-all"
        return self._setup

    def _negative_key(self, path: str, oid: str) -> str:
        return _digest(self._blob_sig, file_kind(path), oid)

    def _result_key(self, path: str, oid: str, version: KernelVersion) -> str:
        return _digest(self._blob_sig, str(version), path, oid)

    # -- entry point --------------------------------------------------------

    def run(self, revisions: list[str]) -> AuditResult:
        started = time.monotonic()
        shas = self.git.rev_list(revisions, first_parent=not self.options.all_parents)
        result = AuditResult(self.git.display, list(revisions), not self.options.all_parents)
        if not shas:
            result.notes.append(f"the range {result.range_text} has no commits")
            return result
        infos: dict[str, CommitInfo] = {}
        parents_of: dict[str, list[str]] = {}
        # Parents first (one cheap read per commit), then the store by setup.
        for sha in shas:
            c = self.git.commit(sha)
            parents_of[sha] = [str(p) for p in c.parent_ids] if c is not None else []
        stored = self.store.commits([(s, self.setup_key(parents_of[s])) for s in shas])
        audits: dict[str, CommitAudit] = {}
        for s in shas:
            hit = stored.get((s, self.setup_key(parents_of[s])))
            if hit is not None:
                audits[s] = CommitAudit.from_payload(hit)
        todo = [s for s in shas if s not in audits]
        result.stored_commits = len(shas) - len(todo)
        has_child = {p for q in shas for p in parents_of[q]}
        result.heads = [s for s in shas if s not in has_child]
        for s in todo:
            infos[s] = self.git.commit_info(s)
        self.progress("commits", result.stored_commits, len(shas))
        if todo:
            self._audit(todo, infos, audits, result, len(shas), keep=set(result.heads))
        self._mark_still_open(shas, audits, result)
        result.commits = [audits[s] for s in shas]
        result.analysed_commits = len(todo)
        result.files_analysed = self._files_analysed
        result.elapsed = time.monotonic() - started
        if self.git.is_shallow and any(c.skipped for c in result.commits):
            result.notes.append("the repository is a shallow clone: commits at its boundary have no parent to compare with")
        return result

    def _audit(self, todo: list[str], infos, audits, result: AuditResult, total: int, keep: set[str]) -> None:
        for s in todo:
            for p in self._considered_parents(infos[s].parents):
                self._uses[p] += 1
        self._keep = keep
        jobs = self.options.jobs or os.cpu_count() or 1
        workers = _Workers(self.analyzer, self.git, jobs)
        self._workers = workers
        failed = True
        done = total - len(todo)
        try:
            will_have_state: set[str] = set()
            window: deque[_Plan] = deque()
            pending = iter(todo)
            ahead = 1 if jobs <= 1 else max(8, 4 * jobs)

            def fill():
                while len(window) < ahead:
                    sha = next(pending, None)
                    if sha is None:
                        return
                    info = infos[sha]
                    for p in self._considered_parents(info.parents):
                        if p not in will_have_state and p not in self._snapshot_plans and self.git.commit(p) is not None:
                            self._snapshot_plans[p] = self._plan_tree(p)
                    plan = self._plan_commit(info)
                    if plan.skip is None:
                        will_have_state.add(sha)
                    window.append(plan)

            fill()
            while window:
                plan = window.popleft()
                ca = self._finish_commit(plan)
                audits[plan.sha] = ca
                self.store.put_commit(plan.sha, self.setup_key(plan.info.parents), ca.store_payload())
                done += 1
                self.progress("commits", done, total, ca)
                if time.monotonic() - self._last_commit > 1.0:
                    self.store.commit()
                    self._last_commit = time.monotonic()
                fill()
            failed = False
        finally:
            # Whatever finished is kept, also on ^C or an error.
            try:
                self.store.commit()
            finally:
                self._workers = None
                workers.close(failed)

    def _considered_parents(self, parents: list[str]) -> list[str]:
        return list(parents) if self.options.all_parents else list(parents[:1])

    # -- planning -----------------------------------------------------------

    def _version(self, tree) -> tuple[KernelVersion, str]:
        if self.options.kernel_version is not None:
            return self.options.kernel_version, "flag"
        v = self.git.kernel_version(tree)
        if v is not None:
            return v, "Makefile"
        from daxlint.core.catalog import newest_catalog_version

        return newest_catalog_version(), "default"

    def _plan_tree(self, sha: str, info: CommitInfo | None = None) -> _Plan:
        """Every wanted file of a commit's tree."""
        commit = self.git.commit(sha)
        plan = _Plan(sha, info=info)
        try:
            plan.tree = commit.tree
            plan.version, plan.version_source = self._version(plan.tree)
            plan.items = dict(self.git.files(plan.tree, self.analyzer.wanted))
        except (KeyError, pygit2.GitError) as e:
            plan.skip = f"tree of {sha[:12]} cannot be read ({e})"
            return plan
        self._submit(plan)
        return plan

    def _plan_commit(self, info: CommitInfo) -> _Plan:
        parents = self._considered_parents(info.parents)
        if info.sha in self.git.shallow_boundary:
            return _Plan(info.sha, parents=parents, info=info,
                         skip="its parents are not in this shallow clone ('git fetch --deepen' or '--unshallow' fetches them)")
        for p in parents:
            if self.git.commit(p) is None:
                why = "shallow clone" if self.git.is_shallow else "missing object"
                return _Plan(info.sha, parents=parents, info=info, skip=f"parent {p[:12]} is not in the repository ({why})")
        if not parents:
            plan = self._plan_tree(info.sha, info)
            plan.whole_tree = "root commit"
            return plan
        commit = self.git.commit(info.sha)
        p1 = self.git.commit(parents[0])
        try:
            tree, ptree = commit.tree, p1.tree
            version, source = self._version(tree)
            pversion, _ = self._version(ptree)
        except (KeyError, pygit2.GitError) as e:
            return _Plan(info.sha, parents=parents, info=info, skip=f"tree cannot be read ({e})")
        if version != pversion:
            plan = self._plan_tree(info.sha, info)
            plan.parents = parents
            plan.whole_tree = f"kernel version {pversion} -> {version}"
            return plan
        plan = _Plan(info.sha, tree=tree, version=version, version_source=source, parents=parents, info=info)
        try:
            plan.changes = self.git.changes(ptree, tree)
        except pygit2.GitError as e:
            plan.skip = f"cannot compare with {parents[0][:12]} ({e})"
            return plan
        plan.items = {c.path: c.new for c in plan.changes if c.new is not None and self.analyzer.wanted(c.path)}
        self._submit(plan)
        return plan

    def _submit(self, plan: _Plan) -> None:
        """Take what the store knows; send the rest to the workers."""
        # Identical files at different paths share a negative key: keep every path.
        neg_keys = {(p, o): self._negative_key(p, o) for p, o in plan.items.items()}
        negative = self.store.negatives(list(set(neg_keys.values())))
        rest = []
        for (p, o), key in neg_keys.items():
            if key in negative:
                plan.cached[p] = BlobResult(negative=True)
            else:
                rest.append((p, o))
        keys = {(p, o): self._result_key(p, o, plan.version) for p, o in rest}
        found = self.store.results(list(keys.values()))
        misses = []
        for (p, o), key in keys.items():
            if key in found:
                plan.cached[p] = BlobResult.from_payload(found[key])
            else:
                misses.append((p, o))
        if self._workers is None:  # outside a run's pool: analyse here
            self._workers = _Workers(self.analyzer, self.git, 1)
        for i in range(0, len(misses), _SNAPSHOT_CHUNK):
            plan.handles.append(self._workers.submit((plan.sha, plan.version, plan.version_source, misses[i : i + _SNAPSHOT_CHUNK])))

    # -- finishing ----------------------------------------------------------

    def _remember(self, path: str, oid: str, version: KernelVersion, res: BlobResult) -> None:
        self._files_analysed += 1
        if res.missing or res.errors:
            return  # not cached: the next run tries again
        if res.negative:
            self.store.put_negative(self._negative_key(path, oid))
        else:
            self.store.put_result(self._result_key(path, oid, version), res.payload())

    def _collect(self, plan: _Plan, progress_kind: str | None = None) -> dict[str, BlobResult]:
        """The results of a plan's files, waiting for the workers, with cached
        results that read other files checked against this tree."""
        out = dict(plan.cached)
        total, done = len(plan.items), len(plan.cached)
        for handle in plan.handles:
            for path, oid, res in handle.get():
                self._remember(path, oid, plan.version, res)
                out[path] = res
                done += 1
            if progress_kind:
                self.progress(progress_kind, done, total, plan.sha)
        for path, res in list(out.items()):
            if res.missing:
                raise _Unreadable(res.missing)
            if path in plan.cached and res.deps and not deps_hold(self.git.repo, plan.tree, res.deps, self.analyzer.indexes):
                out[path] = self._analyze_here(plan, path, plan.items[path])
        return out

    def _analyze_here(self, plan: _Plan, path: str, oid: str) -> BlobResult:
        try:
            obj = self.git.repo[oid]
            data = obj.data if isinstance(obj, pygit2.Blob) else None
        except (KeyError, ValueError, pygit2.GitError):
            data = None
        res = self.analyzer.analyze(self.git.repo, plan.tree, path, oid, data, plan.version, plan.version_source)
        if res.missing:
            raise _Unreadable(res.missing)
        self._remember(path, oid, plan.version, res)
        return res

    def _state_of(self, sha: str) -> State:
        """The state of a commit's tree: kept from finishing it, or built
        from a snapshot of its whole tree (mostly from the store)."""
        if sha in self._states:
            return self._states[sha]
        plan = self._snapshot_plans.pop(sha, None) or self._plan_tree(sha)
        if plan.skip:
            raise _Unreadable(plan.skip)
        results = self._collect(plan, "snapshot")
        state = {p: r for p, r in results.items() if r.relevant}
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
            self._ignores[path] = self.analyzer.engine.per_file_ignores(path)
        ignored = self._ignores[path]
        return [f for f in findings if not (ignored and rule_matches(f.rule_id, ignored))]

    def _family_counts(self, state: State) -> dict[str, int]:
        c: Counter = Counter()
        for path, res in state.items():
            for f in self._visible(path, res.findings):
                c[family(f.rule_id)] += 1
        return dict(sorted(c.items()))

    def _finish_commit(self, plan: _Plan) -> CommitAudit:
        ca = CommitAudit.for_commit(plan.info)
        ca.kernel_version = str(plan.version) if plan.version else None
        ca.compared_whole_tree = plan.whole_tree
        parents = plan.parents
        try:
            if plan.skip:
                raise _Unreadable(plan.skip)
            if parents:
                try:
                    base = self._state_of(parents[0])
                except _Unreadable as e:
                    raise _Unreadable(f"parent {parents[0][:12]} cannot be audited: {e}") from None
                before = self._counts[parents[0]]
            else:
                base, before = {}, {}
            new = self._collect(plan)
            if plan.whole_tree:
                state = {p: r for p, r in new.items() if r.relevant}
                affected = set(base) | set(state)
                old_entries = base
            else:
                state, affected, old_entries = self._apply_changes(plan, base, new)
            others = [self._state_of(p) for p in parents[1:]]
        except _Unreadable as e:
            ca.skipped = str(e)
            for p in parents:
                self._release(p)
            return ca
        ca.files_checked = len(plan.items)
        delta: Counter = Counter()
        for path in sorted(affected):
            old = {f.fingerprint: f for f in self._visible(path, old_entries[path].findings if path in old_entries else [])}
            cur = {f.fingerprint: f for f in self._visible(path, state[path].findings if path in state else [])}
            for fp, f in cur.items():
                if fp not in old:
                    ca.introduced.append(f)
                    delta[family(f.rule_id)] += 1
            for fp, f in old.items():
                if fp not in cur:
                    ca.fixed.append(f)
                    delta[family(f.rule_id)] -= 1
            res = new.get(path)
            if res is not None:
                ca.skipped_files.extend(res.skipped)
                ca.errors.extend(res.errors)
        if others:
            # A merge is judged like git's combined diff: it introduced what
            # no parent had, and fixed what every parent had.
            def has(st: State, f: Finding) -> bool:
                return f.path in st and any(g.fingerprint == f.fingerprint for g in st[f.path].findings)

            ca.introduced = [f for f in ca.introduced if not any(has(o, f) for o in others)]
            ca.fixed = [f for f in ca.fixed if all(has(o, f) for o in others)]
        ca.moved = pair_moves(ca.introduced, ca.fixed)
        ca.introduced.sort(key=Finding.sort_key)
        ca.fixed.sort(key=Finding.sort_key)
        ca.open_before = dict(before)
        after = Counter(before)
        after.update(delta)
        ca.open_after = {k: v for k, v in sorted(after.items()) if v}
        self._states[plan.sha] = state
        self._counts[plan.sha] = ca.open_after
        for p in parents:
            self._release(p)
        if plan.sha in self._keep:
            self._store_tip(plan.sha, state)
        if self._uses[plan.sha] <= 0 and plan.sha not in self._keep:
            self._states.pop(plan.sha, None)
            self._counts.pop(plan.sha, None)
        return ca

    def _apply_changes(self, plan: _Plan, base: State, new: dict[str, BlobResult]) -> tuple[State, set[str], State]:
        """The state after a commit that touched ``plan.changes``: the
        touched files' new results, and re-analysis of unchanged files whose
        verdict read a touched file or listed a directory that changed."""
        changed = {c.path for c in plan.changes}
        added_or_gone = {c.path for c in plan.changes if (c.old is None) != (c.new is None)}
        touched_keys = {"f:" + p for p in changed} | {"d:" + d for p in added_or_gone for d in _ancestors(p)}
        kconfig_changes = [c for c in plan.changes if touches_kconfig(c.path)]
        symbols_changed: set[str] | None = set()
        if kconfig_changes and any(k[0] in ("s", "h") for res in base.values() for k in res.deps):
            symbols_changed = self.analyzer.indexes.changed_symbols(self.git.repo, kconfig_changes)
        redo: list[tuple[str, str]] = []
        for path, res in base.items():
            if path in new or path in changed or not res.deps:
                continue
            # A touched file it read, or a directory it listed that gained or
            # lost an entry (checked: most ancestors of a new file do not).
            stale = any(_dep_token(self.git.repo, plan.tree, k) != res.deps[k] for k in touched_keys.intersection(res.deps))
            if not stale and kconfig_changes:
                # Lookups in the tree-wide Kconfig index: redo the file only
                # if a symbol it looked up is defined differently now.
                index_keys = {k: v for k, v in res.deps.items() if k[0] in ("s", "h")}
                if symbols_changed is None:  # the set of Kconfig files may differ: ask the new tree's index
                    stale = bool(index_keys) and not deps_hold(self.git.repo, plan.tree, index_keys, self.analyzer.indexes)
                else:
                    stale = any("s:" + name in index_keys for name in symbols_changed)
            if stale:
                oid = self.git.blob_id(plan.tree, path)
                if oid is not None:
                    redo.append((path, oid))
        if redo:
            for path, oid in redo:
                plan.items[path] = oid
            handle = self._workers.submit((plan.sha, plan.version, plan.version_source, redo))
            for path, oid, res in handle.get():
                if res.missing:
                    raise _Unreadable(res.missing)
                self._remember(path, oid, plan.version, res)
                new[path] = res
        affected = set(new) | (changed & set(base))
        old_entries = {p: base[p] for p in affected if p in base}
        # The parent's state is ours to change when no other commit needs it.
        state = base if self._uses[plan.parents[0]] <= 1 and plan.parents[0] not in self._keep else dict(base)
        for path in affected:
            res = new.get(path)
            if res is not None and res.relevant:
                state[path] = res
            else:
                state.pop(path, None)
        if state is base:
            self._states.pop(plan.parents[0], None)  # it now describes this commit
        return state, affected, old_entries

    # -- the end of the range ----------------------------------------------

    def _tip_payload(self, state: State) -> dict:
        fps, by_rule = [], Counter()
        for path, res in state.items():
            for f in self._visible(path, res.findings):
                fps.append(f.fingerprint)
                by_rule[f.rule_id] += 1
        return {"fingerprints": sorted(fps), "by_rule": dict(sorted(by_rule.items()))}

    def _store_tip(self, sha: str, state: State) -> None:
        self.store.put_tip(sha, self._setup, self._tip_payload(state))

    def _mark_still_open(self, shas: list[str], audits: dict[str, CommitAudit], result: AuditResult) -> None:
        """Which introduced findings are still open at the range's head(s)."""
        open_fps: set[str] = set()
        by_rule: Counter = Counter()
        for head in result.heads:
            tip = self.store.tip(head, self._setup)
            if tip is None:
                if audits[head].skipped:
                    result.notes.append(f"{head[:12]} could not be audited, so what is still open at the end of the range is unknown")
                    continue
                try:
                    tip = self._tip_payload(self._state_of(head))
                except _Unreadable as e:
                    result.notes.append(f"open findings at {head[:12]} unknown: {e}")
                    continue
                finally:
                    if self._workers is not None:
                        self._workers.close(False)
                    self._workers = None
                self.store.put_tip(head, self._setup, tip)
                self.store.commit()
            open_fps.update(tip["fingerprints"])
            by_rule.update(tip["by_rule"])
        result.open_at_end = dict(sorted(by_rule.items()))
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
    def key(f: Finding):
        return (f.rule_id, f.function or "", normalise_code(f.snippet))

    gone: dict[tuple, list[Finding]] = {}
    for f in fixed:
        gone.setdefault(key(f), []).append(f)
    moved, paired_new, paired_old = [], [], []
    for f in introduced:
        for g in gone.get(key(f), []):
            if g.path != f.path and not any(g is x for x in paired_old):
                moved.append({"rule_id": f.rule_id, "message": f.message, "from": {"path": g.path, "line": g.line, "fingerprint": g.fingerprint},
                              "to": {"path": f.path, "line": f.line, "fingerprint": f.fingerprint}})
                paired_new.append(f)
                paired_old.append(g)
                break
    introduced[:] = [f for f in introduced if not any(f is x for x in paired_new)]
    fixed[:] = [f for f in fixed if not any(f is x for x in paired_old)]
    return moved


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _digest(*parts) -> str:
    return hashlib.sha1("\0".join(p if isinstance(p, str) else json.dumps(p, default=str) for p in parts).encode()).hexdigest()


# -- diff excerpts for reports -----------------------------------------------


def diff_excerpt(git: GitRepo, sha: str, parent: str | None, path: str, line: int, side: str = "new", context: int = 3) -> dict:
    """The lines of ``path`` around ``line`` as commit ``sha`` changed them
    (``side`` "new" for an introduced finding, "old" for a fixed one):
    {"lines": [[origin, old_no, new_no, text], ...], "target": index, "note": str | None}."""
    commit = git.commit(sha)
    pcommit = git.commit(parent) if parent else None
    if commit is None:
        return {"lines": [], "target": None, "note": f"commit {sha[:12]} is not in the repository"}
    new_oid = git.blob_id(commit.tree, path)
    old_oid = git.blob_id(pcommit.tree, path) if pcommit is not None else None
    want_new = side == "new"
    try:
        if old_oid and new_oid and old_oid != new_oid:
            patch = git.repo[old_oid].diff(git.repo[new_oid], context_lines=context)
            for hunk in patch.hunks:
                hl = hunk.lines
                for i, dl in enumerate(hl):
                    if (dl.new_lineno if want_new else dl.old_lineno) == line and dl.origin in ("+", "-", " "):
                        lo, hi = max(0, i - context - 2), min(len(hl), i + context + 3)
                        rows = [[d.origin, d.old_lineno if d.old_lineno > 0 else None, d.new_lineno if d.new_lineno > 0 else None,
                                 d.content.rstrip("\n")] for d in hl[lo:hi] if d.origin in ("+", "-", " ")]
                        target = next(j for j, r in enumerate(rows) if (r[2] if want_new else r[1]) == line)
                        return {"lines": rows, "target": target, "note": None}
        oid = new_oid if want_new else old_oid
        if oid is None:
            return {"lines": [], "target": None, "note": f"{path} is not in {'the commit' if want_new else 'its parent'}"}
        text = git.repo[oid].data.decode("utf-8", "replace").splitlines()
    except (KeyError, ValueError, pygit2.GitError) as e:
        return {"lines": [], "target": None, "note": f"cannot read {path}: {e}"}
    whole_file = (old_oid is None) if want_new else (new_oid is None)
    origin = ("+" if want_new else "-") if whole_file else " "
    lo, hi = max(1, line - context), min(len(text), line + context)
    rows = [[origin, None if want_new else n, n if want_new else None, text[n - 1]] for n in range(lo, hi + 1)]
    target = line - lo if rows else None
    note = None if whole_file else "this line is not part of the commit's diff: the verdict changed with another file (a Kconfig, a sibling) or the kernel version"
    return {"lines": rows, "target": target, "note": note}
