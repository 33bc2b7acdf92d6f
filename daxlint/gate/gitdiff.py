"""Which lines changed since a git revision, for ``daxlint check --diff``.

The work tree (staged and unstaged edits) is compared with the revision by
``git diff -U0``, parsed with unidiff; untracked files that git does not
ignore count as wholly new. Findings still come from whole-file analysis:
this module only answers "is this finding on a changed line?".

Git reports paths relative to the repository's top; findings use the paths
the user typed (relative to the current directory), so every path here is
kept absolute and mapped back to the user's spelling at the end."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from unidiff import PatchSet
from unidiff.constants import DEV_NULL
from unidiff.errors import UnidiffParseError

from daxlint.core.files import DEFAULT_MAX_BYTES, wanted
from daxlint.core.textdiff import changed_lines
from daxlint.errors import InputError
from daxlint.sources.gitcommand import first_line, run_git, unquote_path

# "origin/main..." means "since this branch left origin/main", as in
# ``git diff origin/main...``: the merge base of the revision and HEAD.
MERGE_BASE_SUFFIX = "..."


class GitDiffError(InputError):
    """--diff cannot be answered: no git, not a repository, unknown revision."""


@dataclass
class ChangedFile:
    path: str  # absolute
    lines: frozenset[int] | None  # changed line numbers in the new file; None: the whole file is new


@dataclass
class DiffScope:
    """The files and lines changed since ``base`` under the checked paths."""

    base: str  # the revision as the user gave it
    commit: str  # what it resolved to (the merge base for "REV...")
    root: str  # the repository's top directory
    changed: dict[str, ChangedFile] = field(default_factory=dict)  # absolute path -> lines
    deleted: list[str] = field(default_factory=list)  # absolute paths that no longer exist
    user_paths: list[str] = field(default_factory=list)  # as typed, to spell results the same way

    def files_to_check(self, kinds: tuple[str, ...] = ("c",)) -> list[str]:
        """Changed files the engine should analyse, spelled as ``check PATH``
        would spell them, so findings carry the same paths (and fingerprints)."""
        out = []
        for abspath in sorted(self.changed):
            if wanted(abspath, kinds) and os.path.isfile(abspath):
                out.append(self.spell(abspath))
        return out

    def spell(self, abspath: str) -> str:
        """``abspath`` written below the user path that contains it."""
        for typed in self.user_paths:
            top = path_key(typed)
            if abspath == top:
                return typed
            if abspath.startswith(top.rstrip(os.sep) + os.sep):
                return os.path.normpath(os.path.join(typed, os.path.relpath(abspath, top)))
        return abspath

    def describe(self, hidden: int) -> str:
        n = len(self.changed)
        since = self.commit[:12] or "no commit yet: every line is new"
        return (
            f"--diff {self.base} ({since}): {n} changed file{'s' if n != 1 else ''}; "
            f"{hidden} finding{'s' if hidden != 1 else ''} on unchanged lines not shown"
        )

    def as_json(self, hidden: int) -> dict:
        return {"base": self.base, "commit": self.commit, "changed_files": len(self.changed), "hidden": hidden}

    def covers(self, path: str, line: int, end_line: int | None = None) -> bool:
        """Does a finding at ``path`` spanning ``line``..``end_line`` touch a changed line?"""
        entry = self.changed.get(path_key(path))
        if entry is None:
            return False
        if entry.lines is None:
            return True
        last = max(line, end_line or line)
        return any(n in entry.lines for n in range(line, last + 1))


def path_key(path: str) -> str:
    """One spelling per file: the real directory (git reports paths below the
    real top directory) and the name itself (a symlinked file stays itself,
    as git tracks the link, not its target)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return os.path.realpath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def repository_root(path: str) -> str:
    """Top directory of the git work tree that holds ``path``."""
    where = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    proc = run_git(["rev-parse", "--show-toplevel"], cwd=where, purpose="--diff")
    if proc.returncode != 0:
        why = first_line(proc.stderr)
        if "not a git repository" in why:
            raise GitDiffError(f"--diff: {path} is not inside a git work tree")
        # e.g. "detected dubious ownership" in CI containers: say what git said.
        raise GitDiffError(f"--diff: git cannot read the repository of {path}: {why}")
    return os.path.realpath(proc.stdout.decode("utf-8", "surrogateescape").strip())


def resolve_revision(base: str, root: str) -> str:
    """The commit id ``base`` names; ``REV...`` names the merge base of REV and HEAD."""
    if not base or base.startswith("-"):
        raise GitDiffError(f"--diff: {base!r} is not a git revision")
    if base.endswith(MERGE_BASE_SUFFIX) and len(base) > len(MERGE_BASE_SUFFIX):
        rev = base[: -len(MERGE_BASE_SUFFIX)]
        tip = resolve_revision(rev, root)
        proc = run_git(["merge-base", tip, "HEAD"], cwd=root, purpose="--diff")
        if proc.returncode != 0:
            raise GitDiffError(f"--diff: {rev} and HEAD have no common ancestor (a shallow clone? fetch full history)")
        return proc.stdout.decode().strip()
    proc = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}"], cwd=root, purpose="--diff")
    if proc.returncode != 0:
        raise GitDiffError(f"--diff: unknown git revision {base!r}")
    return proc.stdout.decode().strip()


def _pathspecs(paths: list[str], root: str) -> list[str]:
    specs = []
    for p in paths:
        rel = os.path.relpath(path_key(p), root)
        specs.append("." if rel == "." else rel)
    return specs


def _parse_diff(text: str, root: str, commit: str, kinds: tuple[str, ...]) -> tuple[dict[str, ChangedFile], list[str]]:
    try:
        patch = PatchSet(text)
    except UnidiffParseError as e:
        raise GitDiffError(f"--diff: cannot parse git's diff output ({e})") from None
    changed: dict[str, ChangedFile] = {}
    deleted: list[str] = []
    for pf in patch:
        if pf.is_submodule:
            continue
        abspath = os.path.join(root, unquote_path(pf.path))
        if pf.is_removed_file:
            deleted.append(abspath)
            continue
        if pf.is_symlink:
            continue  # a link's target is diffed (and checked) under its own name
        if pf.is_binary_file:
            if not wanted(abspath, kinds):
                continue
            old = None if pf.is_added_file or pf.source_file == DEV_NULL else _repo_path(pf.source_file)
            lines = _changed_lines_of_binary(commit, old, abspath, root)
        else:
            lines = frozenset(line.target_line_no for hunk in pf for line in hunk if line.is_added)
        if not lines and lines is not None:
            continue  # a pure rename or a mode change: no line to report on
        changed[abspath] = ChangedFile(abspath, lines)
    return changed, deleted


def _repo_path(name: str) -> str:
    """A diff header's file name as a path from the repository's top (git
    writes it with its a/ or b/ prefix, quoted when it must be)."""
    return unquote_path(name).split("/", 1)[-1]


def _changed_lines_of_binary(commit: str, old_rel: str | None, abspath: str, root: str) -> frozenset[int] | None:
    """The changed lines of a file git calls binary (``.gitattributes``
    ``-diff`` or ``binary``, a NUL byte, UTF-16): its blob at ``commit``
    against the work tree's file (``changed_lines()``). None - every line -
    when either side cannot be read as text (the analysis then says why),
    or for a file ``commit`` does not have."""
    if old_rel is None:
        return None
    proc = run_git(["cat-file", "blob", f"{commit}:{old_rel}"], cwd=root, purpose="--diff")
    if proc.returncode != 0:
        return None
    try:
        with open(abspath, "rb") as fh:
            new = fh.read(DEFAULT_MAX_BYTES + 1)
    except OSError:
        return None
    if len(new) > DEFAULT_MAX_BYTES or len(proc.stdout) > DEFAULT_MAX_BYTES:
        return None
    return changed_lines(proc.stdout, new)


def _unborn_head(root: str) -> bool:
    """Whether HEAD names a branch that has no commit yet."""
    if run_git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=root, purpose="--diff").returncode == 0:
        return False
    return run_git(["symbolic-ref", "--quiet", "HEAD"], cwd=root, purpose="--diff").returncode == 0


def _all_files(specs: list[str], root: str) -> dict[str, ChangedFile]:
    """Every file under ``specs`` git knows of or would add, as wholly new."""
    proc = run_git(
        ["--literal-pathspecs", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *specs], cwd=root, purpose="--diff"
    )
    if proc.returncode != 0:
        raise GitDiffError(f"--diff: git ls-files failed: {first_line(proc.stderr)}")
    names = {n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n}
    return {os.path.join(root, n): ChangedFile(os.path.join(root, n), None) for n in sorted(names)}


def changed_since(base: str, paths: list[str], kinds: tuple[str, ...] = ("c",)) -> DiffScope:
    """Changed lines since ``base`` of the files under ``paths`` (which must
    all be in one git work tree); ``kinds`` are the files the engine reads,
    whose changed lines are found even when git calls them binary."""
    paths = paths or ["."]
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or directory")
    root = repository_root(paths[0])
    for p in paths[1:]:
        if repository_root(p) != root:
            raise GitDiffError(f"--diff: {p} is not in the same git repository as {paths[0]}")
    specs = _pathspecs(paths, root)
    if base == "HEAD" and _unborn_head(root):
        # No commit yet (a repository's first commit, as a pre-commit hook
        # sees it): every line of every file is new.
        return DiffScope(base=base, commit="", root=root, changed=_all_files(specs, root), user_paths=list(paths))
    commit = resolve_revision(base, root)
    proc = run_git(
        [
            "--literal-pathspecs",
            "diff",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--find-renames",
            "--ignore-submodules",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            commit,
            "--",
            *specs,
        ],
        cwd=root,
        purpose="--diff",
    )
    if proc.returncode != 0:
        raise GitDiffError(f"--diff: git diff failed: {first_line(proc.stderr)}")
    # Names are bytes: one that is not UTF-8 must reach the engine as the
    # same file, not as U+FFFD (which names no file and would drop it).
    changed, deleted = _parse_diff(proc.stdout.decode("utf-8", "surrogateescape"), root, commit, kinds)
    proc = run_git(["--literal-pathspecs", "ls-files", "-z", "--others", "--exclude-standard", "--", *specs], cwd=root, purpose="--diff")
    if proc.returncode != 0:
        raise GitDiffError(f"--diff: git ls-files failed: {first_line(proc.stderr)}")
    for name in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if name:
            abspath = os.path.join(root, name)
            changed[abspath] = ChangedFile(abspath, None)
    scope = DiffScope(base=base, commit=commit, root=root, changed=changed, deleted=sorted(deleted), user_paths=list(paths))
    return scope
