"""The tree a series is applied to, as the series changes it: files the
series touched so far live in memory, every other file is read from a
base - the user's kernel tree (``--tree``), a commit (``--git``), or
nothing at all. Nothing is ever written to the user's tree, index or HEAD."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from daxlint.core.files import DEFAULT_MAX_BYTES
from daxlint.patch.apply import ApplyError, Placement, apply_hunks, declared_placements
from daxlint.patch.mail import FileDiff, Patch, PatchError
from daxlint.sources.git import GitTreeReader, open_repository
from daxlint.sources.tree import TreeReader

# Where files live when there is no tree on disk: rules get absolute paths
# below it and read through the series' reader, which never touches the disk.
SERIES_ROOT = "/daxlint-series"
_MAX_LINK_DEPTH = 40


class _Unknown:
    """Content of a file that exists but that we cannot see (no tree)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class DiskBase:
    """The user's tree on disk, read only, never through a link that leaves it."""

    def __init__(self, root: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.max_bytes = max_bytes

    def _inside(self, rel: str) -> str | None:
        path = os.path.join(self.root, rel)
        real = os.path.realpath(path)
        if real != self.real_root and not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            return None
        return path

    def read(self, rel: str) -> bytes | None:
        path = self._inside(rel)
        if path is None or not os.path.isfile(path):
            return None
        try:
            with open(path, "rb") as fh:
                return fh.read(self.max_bytes + 1)
        except OSError:
            return None

    def listdir(self, rel: str) -> list[str]:
        path = self._inside(rel) if rel else self.root
        try:
            return sorted(os.listdir(path)) if path else []
        except OSError:
            return []

    def readlink(self, rel: str) -> str | None:
        path = os.path.join(self.root, rel)
        try:
            return os.readlink(path) if os.path.islink(path) else None
        except OSError:
            return None


class SeriesTree:
    """The tree as the series has changed it so far: files the series
    touched live in memory, everything else comes from ``base`` (or is
    unknown when there is none)."""

    def __init__(self, base=None, root: str = SERIES_ROOT):
        self.base = base
        self.root = root
        self.changed: dict[str, bytes | None | _Unknown] = {}  # None: deleted
        self.links: dict[str, str] = {}  # symlinks the series created: path -> target
        # For files known only by hunks: every line the series' patches have
        # shown of them so far (added and context lines, in patch order).
        self.shown: dict[str, str] = {}

    def get(self, rel: str):
        if rel in self.changed:
            return self.changed[rel]
        if self.base is None:
            return UNKNOWN
        return self.base.read(rel)

    def set(self, rel: str, data, link: bool = False) -> None:
        self.changed[rel] = data
        if link and isinstance(data, bytes):
            self.links[rel] = data.decode("utf-8", "surrogateescape").strip()
        else:
            self.links.pop(rel, None)

    def listdir(self, rel_dir: str) -> list[str]:
        names = set(self.base.listdir(rel_dir)) if self.base is not None else set()
        prefix = rel_dir.rstrip("/") + "/" if rel_dir else ""
        for path, data in self.changed.items():
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            head, _, tail = rest.partition("/")
            if tail:
                names.add(head)  # a directory the series created files in
            elif data is None:
                names.discard(head)
            else:
                names.add(head)
        return sorted(names)

    def _readlink(self, rel: str) -> str | None:
        if rel in self.links:
            return self.links[rel]
        if rel in self.changed or self.base is None:
            return None
        return self.base.readlink(rel)

    def ensure_inside(self, rel: str, follow_last: bool, where: str) -> None:
        """Refuse a path that reaches outside the tree through a symbolic
        link (one in the tree, or one an earlier patch created)."""
        self._resolve(rel.split("/"), follow_last, where, rel, 0)

    def _resolve(self, parts: list[str], follow_last: bool, where: str, original: str, depth: int) -> None:
        if depth > _MAX_LINK_DEPTH:
            raise PatchError(f"{where}: refusing {original!r}: too many levels of symbolic links")
        for i in range(len(parts)):
            last = i == len(parts) - 1
            if last and not follow_last:
                return
            prefix = "/".join(parts[: i + 1])
            target = self._readlink(prefix)
            if target is None:
                continue
            joined = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(prefix), target))
            if joined.startswith("/") or joined == ".." or joined.startswith("../"):
                raise PatchError(f"{where}: refusing {original!r}: {prefix} is a symbolic link to {target!r}, outside the tree")
            rest = parts[i + 1 :]
            self._resolve([p for p in joined.split("/") if p not in ("", ".")] + rest, follow_last, where, original, depth + 1)
            return


class SeriesReader(TreeReader):
    """What rules read besides the checked file (a directory's Kconfig,
    sibling sources) while a series is checked: the series' tree, never
    anything outside it."""

    def __init__(self, tree: SeriesTree):
        super().__init__()
        self.tree = tree

    def _rel(self, path: str) -> str | None:
        rel = os.path.relpath(os.path.abspath(path), self.tree.root)
        if rel == ".":
            return ""
        if rel.startswith("..") or os.path.isabs(rel):
            return None
        return rel.replace(os.sep, "/")

    def read(self, path: str) -> bytes | None:
        rel = self._rel(path)
        if not rel:
            return None
        data = self.tree.get(rel)
        return data if isinstance(data, bytes) else None

    def listdir(self, directory: str) -> list[str]:
        rel = self._rel(directory)
        return [] if rel is None else self.tree.listdir(rel)

    def known(self, path: str) -> bool:
        rel = self._rel(path)
        return bool(rel) and not isinstance(self.tree.get(rel), _Unknown)

    def listing_complete(self, directory: str) -> bool:
        return self.tree.base is not None

    def shown(self, path: str) -> str | None:
        rel = self._rel(path)
        return self.tree.shown.get(rel) if rel else None

    def signature(self, path: str):
        data = self.read(path)
        return None if data is None else hashlib.sha1(data).hexdigest()


@dataclass
class FileState:
    """One file of a patch after the patch is applied."""

    diff: FileDiff
    placements: list[Placement]
    old_data: object = UNKNOWN  # bytes, None (did not exist) or UNKNOWN
    new_data: object = UNKNOWN


@dataclass
class PatchOutcome:
    """What became of one patch: for reports (JSON ``patches``, checkpatch
    headers) besides the findings themselves."""

    patch: Patch
    applied: bool | None = None  # None: no tree to apply to
    kernel_version: str = ""
    notes: list[str] = field(default_factory=list)
    # Kept for --fix: the patch's files (FileState) and the engine that checked them.
    states: list = field(default_factory=list, repr=False)
    engine: object = field(default=None, repr=False)

    def as_dict(self) -> dict:
        p = self.patch
        d = {
            "index": p.index,
            "subject": p.subject,
            "name": p.name,
            "source": p.source,
            "line": p.line,
            "lines_checked": p.lines_checked,
            "files": [
                {"path": fd.path, "status": fd.status, **({"old_path": fd.old_path} if fd.status in ("renamed", "copied") else {})}
                for fd in p.files
            ],
            "kernel_version": self.kernel_version,
        }
        if p.commit:
            d["commit"] = p.commit
        if self.applied is not None:
            d["applied"] = self.applied
        if self.notes:
            d["notes"] = list(self.notes)
        return d


class AppliedSeries:
    """Patches applied one after another to a SeriesTree. With a base on
    disk the files the series changes are read from it (or, in a git
    checkout, from the blob the patch's "index" line names, as ``git am
    -3`` does, so a series still applies to the tree it came from)."""

    def __init__(self, tree: SeriesTree, repo=None):
        self.tree = tree
        self.repo = repo
        self.has_base = tree.base is not None

    def _pre_image(self, fd: FileDiff):
        rel = fd.old_path
        if rel in self.tree.changed:
            return self.tree.changed[rel]
        blob = self._blob(fd.old_blob)
        return blob if blob is not None else self.tree.get(rel)

    def advance(self, patch: Patch, outcome: PatchOutcome) -> list[FileState]:
        states = []
        for fd in patch.files:
            for rel, follow in ((fd.old_path, not fd.is_symlink), (fd.new_path, not fd.is_symlink)):
                if rel is not None:
                    self.tree.ensure_inside(rel, follow, fd.where)
            st = self._advance_file(fd, outcome)
            if fd.is_symlink and isinstance(st.new_data, bytes):
                # a link this patch creates counts for its later files
                self.tree.links[fd.new_path] = st.new_data.decode("utf-8", "surrogateescape").strip()
            states.append(st)
        for st in states:  # renames and deletions after every file is read
            fd = st.diff
            if fd.old_path is not None and fd.status in ("deleted", "renamed"):
                self.tree.set(fd.old_path, None)
        for st in states:
            if st.diff.new_path is not None:
                self.tree.set(st.diff.new_path, st.new_data, link=st.diff.is_symlink)
                if isinstance(st.new_data, _Unknown) and not st.diff.binary:
                    earlier = self.tree.shown.get(st.diff.old_path or "", "")
                    self.tree.shown[st.diff.new_path] = earlier + _hunk_lines(st.diff)
        return states

    def _advance_file(self, fd: FileDiff, outcome: PatchOutcome) -> FileState:
        declared = declared_placements(fd)
        old = None if fd.old_path is None else self._pre_image(fd)
        if fd.binary:
            # The new content is known when this repository has the blob the
            # "index" line names (as git am -3 finds it); else it is not.
            if fd.new_path is None:
                return FileState(fd, [], old, None)
            new = self._blob(fd.new_blob)
            return FileState(fd, [], old, new if new is not None else UNKNOWN)
        if fd.new_path is None:
            return FileState(fd, declared, old, None)
        if old is UNKNOWN:
            return FileState(fd, declared, old, UNKNOWN)
        if old is None and fd.old_path is not None:
            if self.has_base:
                self._failed(outcome, f"{fd.old_path} is not in the tree (the patch changes it); its hunks were checked without the tree")
            return FileState(fd, declared, UNKNOWN, UNKNOWN)
        try:
            new, placements = apply_hunks(old or b"", fd)
        except ApplyError as e:
            self._failed(outcome, f"{e}; its hunks were checked without the tree")
            return FileState(fd, declared, UNKNOWN, UNKNOWN)
        if fd.old_path is None and self.has_base and isinstance(self.tree.get(fd.new_path), bytes):
            # The file is already there. When this repository has the blob
            # the patch creates, the series came from here (a branch checked
            # against its own checkout); otherwise the tree does not match.
            if self._blob(fd.new_blob) is None:
                self._failed(outcome, f"{fd.path} already exists in the tree (the patch creates it)")
        return FileState(fd, placements, old, new)

    def _blob(self, abbrev: str | None) -> bytes | None:
        if self.repo is None or not abbrev:
            return None
        try:
            obj = self.repo.get(abbrev)
        except Exception:  # ambiguous or malformed id
            return None
        return getattr(obj, "data", None) if obj is not None else None

    @staticmethod
    def _failed(outcome: PatchOutcome, why: str) -> None:
        outcome.applied = False
        outcome.notes.append(f"does not apply: {why}")


class CommitSeries:
    """``--git``: each patch is a commit; the files after it are the
    commit's, the files before it its first parent's."""

    def __init__(self, repo):
        self.repo = repo
        self.tree = SeriesTree(GitTreeReader(repo, None), root=repo.workdir.rstrip("/") if repo.workdir else SERIES_ROOT)

    def advance(self, patch: Patch, outcome: PatchOutcome) -> list[FileState]:
        commit = self.repo.get(patch.commit) if patch.commit else None
        if commit is None:
            raise PatchError(f"{patch.source}: commit {patch.commit} not found")
        parent = GitTreeReader(self.repo, commit.parents[0].tree if commit.parents else None)
        after = GitTreeReader(self.repo, commit.tree)
        self.tree = SeriesTree(after, root=self.tree.root)
        outcome.applied = True
        states = []
        for fd in patch.files:
            old = parent.read(fd.old_path) if fd.old_path else None
            new = after.read(fd.new_path) if fd.new_path else None
            states.append(FileState(fd, [] if fd.binary else declared_placements(fd), old, new))
        return states


def _hunk_lines(fd: FileDiff) -> str:
    """The new side of a file's hunks: what a patch shows of the file."""
    out = []
    for hunk in fd.hunks:
        for line in hunk:
            if line.line_type in (" ", "+"):
                out.append(line.value if line.value.endswith("\n") else line.value + "\n")
    return "".join(out)


@dataclass
class CheckoutMatch:
    """Whether the git checkout ``daxlint patch`` runs in is the tree the
    series applies to."""

    root: str | None  # the checkout's top, when there is one
    applies: bool
    why: str  # for the report: why it was (not) used


def checkout_for(patches: list[Patch], cwd: str) -> CheckoutMatch:
    """The git work tree around ``cwd``, and whether the series applies to
    it: every patch applies in turn to an in-memory copy (pre-images found
    as ``git am -3`` finds them: the blob an ``index`` line names, else the
    file in the work tree), and the series changes a file the checkout has
    or adds files to one of its directories - a series of new files alone
    would "apply" to any repository. Nothing is written."""
    repo = open_repository(cwd)
    if repo is None or repo.workdir is None:
        return CheckoutMatch(None, False, "not inside a git work tree")
    root = os.path.abspath(repo.workdir)
    base = DiskBase(root)
    series = AppliedSeries(SeriesTree(base, root=root), repo=repo)
    related = False
    touched: set[str] = set()  # paths an earlier patch of the series created or changed
    for patch in patches:
        outcome = PatchOutcome(patch, applied=True)
        try:
            series.advance(patch, outcome)
        except PatchError as e:
            return CheckoutMatch(root, False, f"{patch.describe()} cannot be applied to it ({e})")
        if not outcome.applied:
            why = outcome.notes[0] if outcome.notes else "does not apply"
            return CheckoutMatch(root, False, f"{patch.describe()} {why}")
        for fd in patch.files:
            if fd.old_path is not None and fd.old_path not in touched:
                related = True
            parent = os.path.dirname(fd.new_path or fd.old_path or "")
            if parent and base.listdir(parent):
                related = True
        touched.update(fd.new_path for fd in patch.files if fd.new_path)
    if not related:
        return CheckoutMatch(root, False, "the series only adds files in directories the checkout does not have")
    return CheckoutMatch(root, True, "every patch applies to it")


def make_series(tree_dir: str | None, git_repo=None):
    """The tree the series is applied to: the user's tree (``--tree``), a
    git range's commits, or nothing."""
    if git_repo is not None:
        return CommitSeries(git_repo)
    if tree_dir is None:
        return AppliedSeries(SeriesTree(None))
    base = DiskBase(tree_dir)
    return AppliedSeries(SeriesTree(base, root=base.root), repo=open_repository(tree_dir))
