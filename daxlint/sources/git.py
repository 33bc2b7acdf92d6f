"""Reading git repositories: commits, trees and blobs with pygit2 (and in
bulk through ``git cat-file --batch``), and comparing trees; the git
command itself and git's quoting of file names are sources.gitcommand's.
Everything here is read-only: nothing writes a repository, its index or a
work tree."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pygit2

from daxlint.lines import split_lines
from daxlint.sources.gitcommand import GIT_ENV, RepositoryError, first_line, run_git
from daxlint.sources.tree import RecentBytes, TreeReader
from daxlint.version import KernelVersion, makefile_version

# Where rules believe a tree read from git objects lives. It exists nowhere
# on disk, so a rule that reads the disk instead of its kernel context's
# reader finds nothing rather than the work tree of some other commit.
VIRTUAL_ROOT = "/.daxlint-git-tree"

REGULAR_MODES = (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE)


def open_repository(path: str) -> pygit2.Repository | None:
    """The repository holding ``path``, or None."""
    try:
        found = pygit2.discover_repository(path)
    except Exception:
        return None
    if not found:
        return None
    try:
        return pygit2.Repository(found)
    except Exception:
        return None


def format_patches(repo_dir: str, log_args: list[str], purpose: str) -> list[tuple[str, bytes]]:
    """(sha, ``git format-patch -M --stdout -1`` mail) for each non-merge
    commit ``git log log_args`` lists, oldest first."""

    def git(args: list[str]) -> bytes:
        proc = run_git(args, cwd=repo_dir, purpose=purpose)
        if proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RepositoryError(f"{purpose}: git {args[0]} failed: {msg[0] if msg else 'exit ' + str(proc.returncode)}")
        return proc.stdout

    # "--" ends the revisions: a file named like one (HEAD~2) is no ambiguity.
    shas = git(["log", "--no-color", "--no-merges", "--format=%H", *log_args, "--"]).decode().split()
    return [
        (sha, git(["format-patch", "-M", "--stdout", "--no-color", "--src-prefix=a/", "--dst-prefix=b/", "-1", sha, "--"]))
        for sha in reversed(shas)
    ]


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
        return str(entry.id) if entry is not None and entry.filemode in REGULAR_MODES else None

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
            raise RepositoryError(f"{path}: cannot open repository: {e}") from None
        if not found:
            raise RepositoryError(f"{path}: not a git repository")
        try:
            self.repo = pygit2.Repository(found)
        except pygit2.GitError as e:
            raise RepositoryError(f"{path}: cannot open repository: {e}") from None
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
                raise RepositoryError(f"bad revision {r!r}: a revision range such as v6.1..v6.2 is expected")
        args = ["rev-list", "--reverse", "--topo-order"]
        if first_parent:
            args.append("--first-parent")
        args += ["--end-of-options", *revisions, "--"]
        proc = run_git(args, git_dir=self.path, purpose="daxlint audit (to resolve the revision range)")
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            msg = next((ln for ln in lines if ln.startswith("fatal:")), lines[0] if lines else f"git rev-list exited {proc.returncode}")
            msg = msg.removeprefix("fatal:").strip()
            hint = " (the repository is a shallow clone: 'git fetch --unshallow' fetches the rest)" if self.is_shallow else ""
            raise RepositoryError(f"bad revision range {' '.join(revisions)!r}: {msg}{hint}")
        return proc.stdout.decode().split()

    def resolve(self, rev: str) -> str:
        """The commit ``rev`` names (a branch, a tag, a sha)."""
        if not rev or rev.startswith("-"):
            raise RepositoryError(f"bad revision {rev!r}")
        proc = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], git_dir=self.path)
        if proc.returncode != 0:
            raise RepositoryError(f"bad revision {rev!r}: not a commit of {self.display}")
        return proc.stdout.decode().strip()

    def refs(self, pattern: str) -> list[tuple[str, str, str | None]]:
        """(ref name, short name, commit or None) of the refs ``pattern``
        matches as ``git for-each-ref`` reads it (a glob such as
        'refs/remotes/vendor/*', or a prefix up to a slash)."""
        proc = run_git(["for-each-ref", "--format=%(refname)%00%(refname:short)", "--", pattern], git_dir=self.path)
        if proc.returncode != 0:
            raise RepositoryError(f"--refs {pattern!r}: {first_line(proc.stderr)}")
        out = []
        for line in split_lines(proc.stdout.decode("utf-8", "surrogateescape")):
            name, _, short = line.partition("\0")
            try:
                target = self.repo.revparse_single(name).peel(pygit2.Commit)
                sha = str(target.id)
            except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
                sha = None
            out.append((name, short, sha))
        return out

    def merge_base(self, shas: list[str]) -> str | None:
        """The best common ancestor of all ``shas`` (git merge-base --octopus)."""
        if len(shas) == 1:
            return shas[0]
        proc = run_git(["merge-base", "--octopus", *shas], git_dir=self.path)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is in the history of ``descendant`` (or is it)."""
        if ancestor == descendant:
            return True
        try:
            return bool(self.repo.descendant_of(descendant, ancestor))
        except (KeyError, ValueError, pygit2.GitError):
            return False

    def patch_id(self, sha: str) -> str | None:
        """The commit's change as git patch-id sees it (its diff against its
        first parent, line numbers and white space aside): a cherry-pick has
        the id of the commit it was picked from. None for a root commit or
        one that cannot be read."""
        try:
            commit = self.repo[sha]
            if not commit.parents:
                return None
            return str(self.repo.diff(commit.parents[0], commit).patchid)
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def blob_exists(self, oid: str) -> bool:
        try:
            return isinstance(self.repo.get(oid), pygit2.Blob)
        except (ValueError, pygit2.GitError):
            return False

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
                elif entry.filemode in REGULAR_MODES and wanted(entry.name):
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
        return str(entry.id) if entry.filemode in REGULAR_MODES else None


def lookup(tree, rel: str):
    """The entry at ``rel`` in ``tree`` ("" is the tree itself), or None."""
    if tree is None:
        return None
    if rel == "":
        return tree
    try:
        return tree[rel]
    except (KeyError, ValueError):
        return None


# Marks a dependency recorded by a test of the file rather than its
# contents (GitTreeReader.read_if).
WEAK = "~"

# The tests made of one file, in the description a weak token stands for:
# one a line, and a line naming the blob they were made on (BLOB) - the same
# blob in another tree needs no test.
WEAK_TESTS_APART = "\n"
BLOB = "blob "


def _record_tests(target: dict[str, str], key: str, lines: set[str]) -> None:
    why = WEAK_TESTS_APART.join(sorted(lines))
    token = WEAK + hashlib.sha1(why.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    target[key] = token
    target[token] = why


# How a fact of a file is described (read_fact()): its name and its value.
FACT = "fact "


def fact_description(name: str, value) -> str:
    return f"{FACT}{name} = {' '.join(sorted(value))}"


def tree_token(tree, key: str) -> str:
    """What a file ("f:path": its blob id) or a directory ("d:path": a hash
    of its names) looks like in ``tree``; "-" when absent."""
    kind, rel = key[0], key[2:]
    obj = lookup(tree, rel)
    if kind == "f":
        return str(obj.id) if obj is not None and obj.type_str == "blob" else "-"
    if obj is None or obj.type_str != "tree":
        return "-"
    return hashlib.sha1("\0".join(sorted(e.name for e in obj)).encode("utf-8", "surrogateescape")).hexdigest()[:16]


class GitTreeReader(TreeReader):
    """The files of one commit's tree (None: an empty tree), for rules that
    read beyond the file they check and for patch mode's ``--git``. Paths
    are tree-relative or under VIRTUAL_ROOT. Records what was read
    (``deps``) so a result is reused only where those files are unchanged.
    A symbolic link is never followed: its blob holds a path, not a file."""

    def __init__(self, repo: pygit2.Repository, tree, blobs: dict[str, bytes] | RecentBytes | None = None):
        super().__init__()
        self.repo = repo
        self.tree = tree
        self.deps: dict[str, str] = {}
        self.blobs = blobs  # contents by blob id, shared by readers that reread the same files
        self._recording: list[dict[str, str]] = []  # what reads_during() blocks read

    def directory_key(self, directory: str) -> str:
        rel = self.relative(directory)
        obj = lookup(self.tree, rel) if rel is not None else None
        return str(obj.id) if obj is not None else "-"

    def _note(self, key: str, token: str) -> None:
        """Record a dependency, for the verdict and the reads_during() blocks."""
        self.deps[key] = token
        for recording in self._recording:
            recording[key] = token

    def reads_during(self, compute):
        self._recording.append({})
        try:
            value = compute()
        finally:
            reads = self._recording.pop()
        return value, reads

    def replay(self, reads: dict[str, str]) -> None:
        for key, token in reads.items():
            if token.startswith(WEAK) and key.startswith("f:"):
                # Tests of a file join the tests made of it here; a full
                # read of it stands.
                self._tested(key, [t.get(key) for t in (self.deps, *self._recording)], set(reads[token].split(WEAK_TESTS_APART)))
            elif not key.startswith(WEAK):
                self._note(key, token)

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
        obj = lookup(self.tree, rel)
        if obj is None or obj.type_str != "blob":
            self._note("f:" + rel, "-")
            return None
        oid = str(obj.id)
        self._note("f:" + rel, oid)
        if obj.filemode == pygit2.enums.FileMode.LINK:
            return None
        if self.blobs is not None and oid in self.blobs:
            return self.blobs[oid]
        try:
            data = obj.data
        except (KeyError, pygit2.GitError):
            return None
        if self.blobs is not None:
            self.blobs[oid] = data
        return data

    def read_if(self, path: str, relevant, why: str) -> bytes | None:
        # A file found irrelevant is recorded as "f:path" -> WEAK + digest
        # of ``why`` and the blob's id, and those under WEAK + digest, for
        # daxlint.audit.deps to test the file of another tree the same way
        # (unless it is the same blob).
        # What the verdict read in full (or tested another way) stays
        # recorded by its contents.
        key, befores = self._before_a_test(path)
        data = self.read(path)
        if data is None or relevant(data):
            return data
        self._tested(key, befores, {why, BLOB + self.deps[key]})
        return None

    def read_fact(self, path: str, name: str, fact):
        key, befores = self._before_a_test(path)
        data = self.read(path)
        if data is None:
            return None
        value = fact(data)
        self._tested(key, befores, {fact_description(name, value), BLOB + self.deps[key]})
        return value

    def _before_a_test(self, path: str):
        rel = self.relative(path)
        key = None if rel is None else "f:" + rel
        return key, [t.get(key) for t in (self.deps, *self._recording)]

    def _tested(self, key: str | None, befores: list, lines: set[str]) -> None:
        """Record a file read only for a test, as the test and its blob -
        with the tests made of it before, if any - where nothing read the
        file in full before (read() recorded its contents)."""
        if key is None:
            return
        for target, before in zip((self.deps, *self._recording), befores):
            if before is None or before.startswith(WEAK):
                tests = set(target[before].split(WEAK_TESTS_APART)) if before is not None and before in target else set()
                _record_tests(target, key, tests | lines)
            else:
                target[key] = before  # read in full: its contents count

    def listdir(self, directory: str) -> list[str]:
        rel = self.relative(directory)
        if rel is None:
            return []
        key = "d:" + rel
        self._note(key, tree_token(self.tree, key))
        obj = lookup(self.tree, rel)
        return sorted(e.name for e in obj) if obj is not None and obj.type_str == "tree" else []

    def readlink(self, rel: str) -> str | None:
        return None  # reading git objects never follows a link

    def signature(self, path: str):
        rel = self.relative(path)
        return None if rel is None else tree_token(self.tree, "f:" + rel)


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
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **GIT_ENV},
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
