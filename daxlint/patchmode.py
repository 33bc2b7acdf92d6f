"""Patch mode: check a patch series before ``git send-email``, where kernel
developers run checkpatch.pl, but for the DAX policy.

A series comes from mbox files, ``git format-patch`` files, a bare diff,
standard input, or the commits of a git range. Mail is parsed with the
standard library (mailbox, email) and diffs with unidiff.

Each patch is then applied in turn to a copy of the tree that lives in
memory: the files the series touched so far, with every other file read from
a base - the user's kernel tree (``--tree``), a commit (``--git``), or
nothing at all. Nothing is ever written to the user's tree, index or HEAD.

Findings are kept only where a patch adds or changes lines, and each names
the patch that introduced it. A finding whose line a later patch of the
series removes is marked ``fixed_by`` that patch: the series does not
bisect cleanly there.

Without a tree, a file the series did not create is known only by its
hunks: rules run on the hunks' new side and context, laid out at their real
line numbers. When a hunk starts inside a function, the function line from
the hunk header is put back in the gap above it, so rules see the function
and its parameters even though the rest of the function is missing."""

from __future__ import annotations

import email
import email.errors
import email.policy
import hashlib
import mailbox
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from unidiff import PatchSet
from unidiff.constants import DEV_NULL
from unidiff.errors import UnidiffParseError

from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.files import DEFAULT_MAX_BYTES, file_kind, wanted
from daxlint.errors import InputError
from daxlint.core.fingerprint import normalise_code
from daxlint.core.kernel import KernelContext
from daxlint.sources.tree import TreeReader
from daxlint.version import makefile_version
from daxlint.model import Finding, InternalError, Report, Skipped
from daxlint.core.registry import rule_matches

MAX_INPUT_BYTES = 256 * 1024 * 1024
STDIN_NAME = "<stdin>"
SYMLINK_MODE = "120000"
# Where files live when there is no tree on disk: rules get absolute paths
# below it and read through the series' reader, which never touches the disk.
SERIES_ROOT = "/daxlint-series"
_MAX_LINK_DEPTH = 40

# git am drops these from a subject: "Re:", "[PATCH v2 3/7]", "[RFC]".
_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|aw|fwd?)\s*:|\s*\[[^\]]*\])+\s*", re.I)
_INDEX_LINE = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)")
_ENVELOPE_COMMIT = re.compile(r"^From ([0-9a-f]{40})\b")
_BASE64_DEFECTS = (
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)


class PatchError(InputError):
    """The series cannot be checked: malformed mail or diff, a path that
    leaves the tree, a git range that names nothing. One line, exit 2."""


class _Unknown:
    """Content of a file that exists but that we cannot see (no tree)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


# -- the series --------------------------------------------------------------


@dataclass
class FileDiff:
    """One file of one patch."""

    old_path: str | None  # None: the patch creates the file
    new_path: str | None  # None: the patch deletes the file
    hunks: list  # unidiff Hunk objects
    binary: bool = False
    copied: bool = False
    old_blob: str | None = None  # abbreviated ids from the "index" line
    new_blob: str | None = None
    new_mode: str | None = None
    line_base: int = 0  # source line number = line_base + unidiff's diff_line_no
    where: str = ""  # "source:line" of the file's diff header

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def status(self) -> str:
        if self.old_path is None:
            return "added"
        if self.new_path is None:
            return "deleted"
        if self.copied:
            return "copied"
        return "renamed" if self.old_path != self.new_path else "modified"

    @property
    def is_symlink(self) -> bool:
        return self.new_mode == SYMLINK_MODE


@dataclass
class Patch:
    index: int  # 1-based among the mails that carry a diff
    subject: str
    source: str  # the file it came from, as given ("<stdin>" for -)
    line: int  # line of the mail (or diff) in its source
    files: list[FileDiff]
    commit: str | None = None  # from the mbox "From <sha>" line
    name: str = ""  # checkpatch's name for it: file name, or Commit <sha12> ("subject")

    @property
    def lines_checked(self) -> int:
        """Hunk lines including their @@ lines, as checkpatch counts them."""
        return sum(1 + len(h) for fd in self.files for h in fd.hunks)

    def describe(self) -> str:
        return f'patch {self.index} ("{self.subject}")'


def load_source(path: str) -> tuple[str, bytes]:
    """(name, bytes) of one patch file, with a clear error for what is not one."""
    try:
        if os.path.isdir(path):
            raise PatchError(f"{path}: is a directory, not a patch file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise PatchError(f"{path}: no such file") from None
    except OSError as e:
        raise PatchError(f"{path}: cannot read ({e.strerror})") from None
    return path, data


def parse_series(sources: list[tuple[str, bytes]], lines_per_mail: bool = False) -> tuple[list[Patch], list[str]]:
    """Every patch in ``sources`` in order, and notes on mails without a
    diff (cover letters). ``lines_per_mail`` numbers lines from each mail's
    start (``--git``: one format-patch output per commit, as checkpatch)."""
    patches: list[Patch] = []
    notes: list[str] = []
    for name, data in sources:
        if len(data) > MAX_INPUT_BYTES:
            raise PatchError(f"{name}: larger than {MAX_INPUT_BYTES >> 20} MiB; not reading it as a patch series")
        if b"\x00" in data[:65536]:
            raise PatchError(f"{name}: binary data, not a patch or mail")
        in_source: list[Patch] = []
        for raw, offset, envelope in _split_mails(data):
            patch = _mail_to_patch(name, raw, 0 if lines_per_mail else offset, envelope, lines_per_mail)
            if patch is not None:
                patch.index = len(patches) + len(in_source) + 1
                in_source.append(patch)
            elif envelope is not None or _is_mail(raw):
                notes.append(f"{name}:{offset + 1}: a mail without a diff (cover letter?), skipped")
            else:
                raise PatchError(f"{name}: no diff found (not a patch?)")
        for p in in_source:
            p.name = _patch_name(p, len(in_source))
        patches.extend(in_source)
    if not patches:
        raise PatchError("no diff found in the input: nothing to check")
    return patches, notes


def _patch_name(p: Patch, in_source: int) -> str:
    if p.commit and p.source.startswith("Commit "):
        return p.source
    if in_source == 1 and p.source != STDIN_NAME:
        return p.source
    return f'Patch {p.index} ("{p.subject}")'


def _split_mails(data: bytes):
    """(raw mail, lines before it in the source, envelope "From " line or
    None) for each mail of an mbox; the whole input when it is not one."""
    if not data.startswith(b"From "):
        yield data, 0, None
        return
    # mailbox wants a file it may open read-write; give it a private copy so
    # the user's file is never opened for writing.
    with tempfile.TemporaryDirectory(prefix="daxlint-mbox-") as tmp:
        path = os.path.join(tmp, "series.mbox")
        with open(path, "wb") as fh:
            fh.write(data)
        box = mailbox.mbox(path, create=False)
        try:
            pos = 0
            for key in box.iterkeys():
                raw = box.get_bytes(key)
                at = data.find(raw, pos) if raw else -1
                if at < 0:
                    at = data.find(b"\n", pos) + 1 or pos
                envelope_at = data.rfind(b"\n", 0, max(at - 1, 0)) + 1
                envelope = data[envelope_at:at].decode("utf-8", "replace").strip()
                yield raw, data.count(b"\n", 0, at), envelope
                pos = at + len(raw)
        finally:
            box.close()


def _is_mail(raw: bytes) -> bool:
    msg = email.message_from_bytes(raw[:65536], policy=email.policy.compat32)
    return msg.get("subject") is not None or msg.get("from") is not None


def clean_subject(subject: str) -> str:
    """The subject as ``git am`` records it: without [PATCH ...] and Re:."""
    subject = " ".join(subject.split())
    return _SUBJECT_PREFIX.sub("", subject).strip() or subject


def _mail_to_patch(source: str, raw: bytes, offset: int, envelope: str | None, lines_per_mail: bool) -> Patch | None:
    where_line = offset + 1
    if envelope is not None or _is_mail(raw):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        try:
            subject = clean_subject(str(msg.get("subject") or ""))
        except Exception:  # an undecodable header is still a patch
            subject = ""
        bodies = _bodies(msg, raw, f"{source}:{where_line}")
    else:
        subject = ""
        bodies = [(raw.decode("utf-8", "surrogateescape"), 0)]
    commit = None
    if envelope:
        m = _ENVELOPE_COMMIT.match(envelope)
        commit = m.group(1) if m else None
    if lines_per_mail and envelope is not None:
        offset = 1  # the envelope line is line 1 of the mail
    files: list[FileDiff] = []
    for text, body_line in bodies:
        files.extend(_parse_diff(text, source, offset + body_line, subject))
    if not files:
        return None
    if not subject:
        subject = os.path.basename(source) if source != STDIN_NAME else "diff on standard input"
    if lines_per_mail and commit:
        source = f'Commit {commit[:12]} ("{subject}")'
    return Patch(0, subject, source, where_line, files, commit)


def _bodies(msg, raw: bytes, where: str) -> list[tuple[str, int]]:
    """(text, lines before it in the mail) of each text part that may hold
    a diff. Parts sent as 7bit/8bit appear verbatim in the mail, so their
    line numbers are exact; encoded parts count from the end of the headers."""
    header_end = raw.find(b"\n\n")
    header_lines = raw.count(b"\n", 0, header_end + 2) if header_end >= 0 else 0
    out = []
    parts = [p for p in msg.walk() if not p.is_multipart()] if msg.is_multipart() else [msg]
    for part in parts:
        ctype = part.get_content_type()
        if part is not msg and not (ctype.startswith("text/") or ctype.endswith(("x-patch", "x-diff"))):
            continue
        payload = part.get_payload(decode=True)
        if any(isinstance(d, _BASE64_DEFECTS) for d in part.defects):
            raise PatchError(f"{where}: mail body is not valid base64")
        if not payload:
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "surrogateescape")
        except LookupError:
            text = payload.decode("utf-8", "surrogateescape")
        at = raw.find(payload)
        out.append((text, raw.count(b"\n", 0, at) if at >= 0 else header_lines))
    return out


class _LineFeed:
    """Lines for unidiff that remember how far it read, so that a parse
    error can name the line."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.pos = 0
        self.hunks: list[int] = []  # where each hunk header was read

    def __iter__(self):
        for i, line in enumerate(self.lines):
            self.pos = i
            if line.startswith("@@ "):
                self.hunks.append(i)
            yield line

    def open_hunk(self, failed_on_body_line: bool) -> int | None:
        """The hunk being read when parsing failed. When the failing line is
        itself a hunk header read as a body line, the hunk before it was
        shorter than its header said."""
        hunks = self.hunks
        if failed_on_body_line and hunks and hunks[-1] == self.pos:
            hunks = hunks[:-1]
        return hunks[-1] if hunks else None


def _patch_start(lines: list[str]) -> int | None:
    """Where the commit message ends and the patch begins - the same breaks
    ``git am`` (mailinfo) recognises."""
    for i, line in enumerate(lines):
        if line.rstrip() == "---" or line.startswith(("diff -", "Index: ")):
            return i
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            return i
    return None


def _parse_diff(text: str, source: str, body_line: int, subject: str) -> list[FileDiff]:
    lines = text.replace("\r\n", "\n").splitlines(keepends=True)
    start = _patch_start(lines)
    if start is None:
        return []
    feed = _LineFeed(lines[start:])
    base = body_line + start
    try:
        parsed = PatchSet(feed)
    except UnidiffParseError as e:
        about = f' in patch "{subject}"' if subject else ""
        detail = str(e).strip().rstrip(":")
        at = feed.open_hunk("line expected" in detail)
        if at is not None and "hunk" in detail.lower():
            header = feed.lines[at].split("@@")[1].strip()
            detail = f"hunk @@ {header} @@ of line {base + at + 1} does not match its line counts ({detail})"
        raise PatchError(f"{source}:{base + feed.pos + 1}: malformed diff{about}: {detail}") from None
    files = []
    for pf in parsed:
        where = f"{source}:{base + (pf.diff_line_no or 1)}"
        files.append(_file_diff(pf, base, where))
    return files


def _file_diff(pf, base: int, where: str) -> FileDiff:
    info = list(pf.patch_info or [])
    old_blob = new_blob = None
    for line in info:
        m = _INDEX_LINE.match(line)
        if m:
            old_blob, new_blob = m.group(1), m.group(2)
            break
    old = None if pf.source_file == DEV_NULL else repo_path(pf.source_file, where)
    new = None if pf.target_file == DEV_NULL else repo_path(pf.target_file, where)
    if old is None and new is None:
        raise PatchError(f"{where}: diff names no file (/dev/null on both sides)")
    return FileDiff(
        old_path=old,
        new_path=new,
        hunks=list(pf),
        binary=pf.is_binary_file,
        copied=any(line.startswith("copy from ") for line in info),
        old_blob=None if old_blob is None or not old_blob.strip("0") else old_blob,
        new_blob=None if new_blob is None or not new_blob.strip("0") else new_blob,
        new_mode=pf.target_mode or pf.source_mode,
        line_base=base,
        where=where,
    )


def _unquote(path: str) -> str:
    """git's C-style quoting of unusual file names ("a/tab\\there")."""
    try:
        raw = path.encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", "surrogateescape")
    except (UnicodeError, ValueError):
        return path


def repo_path(name: str, where: str = "") -> str:
    """A diff's file name as a path in the tree (``patch -p1``), refusing
    names that would leave it: absolute paths and ``..``."""
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        name = _unquote(name[1:-1])
    prefix = f"{where}: " if where else ""
    if name.startswith("/") or "\x00" in name:
        raise PatchError(f"{prefix}refusing absolute path {name!r}: a patch must stay inside the tree")
    parts = name.split("/")
    if len(parts) > 1:
        parts = parts[1:]  # a/ and b/ (or any first directory, as patch -p1)
    if parts and parts[0] == "":
        raise PatchError(f"{prefix}refusing absolute path {name!r}: a patch must stay inside the tree")
    parts = [p for p in parts if p not in ("", ".")]
    if ".." in parts:
        raise PatchError(f"{prefix}refusing path {name!r}: '..' leaves the tree")
    if not parts:
        raise PatchError(f"{prefix}diff names no file ({name!r})")
    return "/".join(parts)


# -- git ranges (--git) ------------------------------------------------------


def _git(args: list[str], cwd: str) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", *args],
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise PatchError("--git needs git, and git is not installed") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PatchError(f"--git: git {args[0]} failed: {msg[0] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def git_range_args(expr: str) -> list[str]:
    """checkpatch's --git forms: ``A..B`` / ``A...B``, ``REV-N`` (N commits
    ending at REV) and a single revision (that one commit)."""
    if not expr or expr.startswith("-"):
        raise PatchError(f"--git: {expr!r} is not a git revision or range")
    m = re.match(r"^(.*)-(\d+)$", expr)
    if m and m.group(1):
        return [f"-{m.group(2)}", "--end-of-options", m.group(1)]
    if ".." in expr:
        return ["--end-of-options", expr]
    return ["-1", "--end-of-options", expr]


def read_git_range(repo_dir: str, expr: str) -> list[tuple[str, bytes]]:
    """One ``git format-patch -M --stdout -1`` mail per commit of the range,
    oldest first, merges left out - what ``checkpatch.pl --git`` reads."""
    shas = _git(["log", "--no-color", "--no-merges", "--format=%H", *git_range_args(expr)], repo_dir).decode().split()
    if not shas:
        raise PatchError(f"--git: {expr} names no commits (merges are left out)")
    out = []
    for sha in reversed(shas):
        mail = _git(["format-patch", "-M", "--stdout", "--no-color", "--src-prefix=a/", "--dst-prefix=b/", "-1", sha], repo_dir)
        out.append((f"Commit {sha[:12]}", mail))
    return out


def open_repository(path: str):
    """The pygit2 repository holding ``path``, or None."""
    import pygit2

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


# -- the tree as the series changes it ---------------------------------------


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


class GitTreeBase:
    """A commit's tree (``--git``): files come from git objects."""

    def __init__(self, repo, tree):
        self.repo = repo
        self.tree = tree

    def _entry(self, rel: str):
        if self.tree is None:
            return None
        try:
            return self.tree[rel] if rel else self.tree
        except (KeyError, ValueError):
            return None

    def read(self, rel: str) -> bytes | None:
        import pygit2

        entry = self._entry(rel)
        if entry is None or entry.type != pygit2.enums.ObjectType.BLOB or entry.filemode == pygit2.enums.FileMode.LINK:
            return None
        return self.repo[entry.id].data

    def listdir(self, rel: str) -> list[str]:
        import pygit2

        entry = self._entry(rel)
        if entry is None or entry.type != pygit2.enums.ObjectType.TREE:
            return []
        return sorted(e.name for e in self.repo[entry.id])

    def readlink(self, rel: str) -> str | None:
        return None  # reading git objects never follows a link


class SeriesTree:
    """The tree as the series has changed it so far: files the series
    touched live in memory, everything else comes from ``base`` (or is
    unknown when there is none)."""

    def __init__(self, base=None, root: str = SERIES_ROOT):
        self.base = base
        self.root = root
        self.changed: dict[str, bytes | None | _Unknown] = {}  # None: deleted
        self.links: dict[str, str] = {}  # symlinks the series created: path -> target

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
            rest = path[len(prefix):]
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
                raise PatchError(
                    f"{where}: refusing {original!r}: {prefix} is a symbolic link to {target!r}, outside the tree"
                )
            rest = parts[i + 1:]
            self._resolve([p for p in joined.split("/") if p not in ("", ".")] + rest, follow_last, where, original, depth + 1)
            return


class SeriesReader(TreeReader):
    """What rules read besides the checked file (a directory's Kconfig,
    sibling sources) while a series is checked: the series' tree, never
    anything outside it."""

    def __init__(self, tree: SeriesTree):
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

    def signature(self, path: str):
        data = self.read(path)
        return None if data is None else hashlib.sha1(data).hexdigest()


# -- applying hunks ----------------------------------------------------------


class ApplyError(Exception):
    pass


@dataclass
class Placement:
    """Where one hunk landed: 0-based first line in the old and new file."""

    hunk: object
    old_start: int
    new_start: int


def declared_placements(fd: FileDiff) -> list[Placement]:
    """Hunks where their headers put them (no tree to check against)."""
    out = []
    for h in fd.hunks:
        old = h.source_start - 1 if h.source_length else h.source_start
        new = h.target_start - 1 if h.target_length else h.target_start
        out.append(Placement(h, max(old, 0), max(new, 0)))
    return out


def _key(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


def _hunk_sides(hunk) -> tuple[list[str], list[str]]:
    """(old lines, new lines) of a hunk, honouring "\\ No newline at end of file"."""
    old: list[str] = []
    new: list[str] = []
    last = None
    for line in hunk:
        if line.line_type == "\\":
            for side, kinds in ((old, ("-", " ")), (new, ("+", " "))):
                if last is not None and last.line_type in kinds and side:
                    side[-1] = _key(side[-1])
            continue
        if line.line_type in ("-", " "):
            old.append(line.value)
        if line.line_type in ("+", " "):
            new.append(line.value)
        last = line
    return old, new


def apply_hunks(old: bytes, fd: FileDiff) -> tuple[bytes, list[Placement]]:
    """Apply ``fd``'s hunks to ``old`` the way ``git apply`` does without
    fuzz: context must match exactly, a hunk may land at an offset."""
    text = old.decode("utf-8", "surrogateescape")
    lines = text.splitlines(keepends=True)
    keys = [_key(x) for x in lines]
    out: list[str] = []
    placements: list[Placement] = []
    cursor = 0
    drift = 0  # how far the file has moved from where the headers expected
    for n, hunk in enumerate(fd.hunks, 1):
        want_old, want_new = _hunk_sides(hunk)
        want_keys = [_key(x) for x in want_old]
        declared = (hunk.source_start - 1 if hunk.source_length else hunk.source_start) + drift
        pos = _find_block(keys, want_keys, declared, cursor)
        if pos is None:
            raise ApplyError(f"{fd.path}: hunk #{n} (@@ -{hunk.source_start},{hunk.source_length} +{hunk.target_start},{hunk.target_length} @@) does not apply")
        drift = pos - (declared - drift)
        out.extend(lines[cursor:pos])
        placements.append(Placement(hunk, pos, len(out)))
        out.extend(want_new)
        cursor = pos + len(want_old)
    out.extend(lines[cursor:])
    return "".join(out).encode("utf-8", "surrogateescape"), placements


def _find_block(keys: list[str], block: list[str], expected: int, floor: int) -> int | None:
    """First position at or after ``floor``, nearest ``expected``, where
    ``block`` occurs in ``keys``."""
    n = len(block)
    last = len(keys) - n
    if last < floor:
        return None
    if not block:
        return min(max(expected, floor), len(keys))
    expected = min(max(expected, floor), last)
    for distance in range(0, max(expected - floor, last - expected) + 1):
        for pos in (expected - distance, expected + distance) if distance else (expected,):
            if floor <= pos <= last and keys[pos:pos + n] == block:
                return pos
    return None


def map_line(placements: list[Placement], line: int) -> int | None:
    """Where old ``line`` (1-based) is after the hunks; None if they remove it."""
    shift = 0
    for pl in placements:
        start = pl.old_start + 1
        if line < start:
            return line + (pl.new_start - pl.old_start)
        old_no, new_no = start, pl.new_start + 1
        for ln in pl.hunk:
            if ln.line_type == "-":
                if old_no == line:
                    return None
                old_no += 1
            elif ln.line_type == " ":
                if old_no == line:
                    return new_no
                old_no += 1
                new_no += 1
            elif ln.line_type == "+":
                new_no += 1
        shift = new_no - old_no
    return line + shift


def added_lines(placements: list[Placement]) -> dict[int, object]:
    """New-file line number (1-based) -> the diff line that added it."""
    out = {}
    for pl in placements:
        new_no = pl.new_start + 1
        for ln in pl.hunk:
            if ln.line_type == "+":
                out[new_no] = ln
                new_no += 1
            elif ln.line_type == " ":
                new_no += 1
    return out


# -- hunks without a tree ----------------------------------------------------

_STRINGS_AND_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*', re.S)
_NO_RETURN_TYPE = re.compile(r"^[A-Za-z_]\w*\s*\(")
_KCONFIG_ENTRY = re.compile(r"^(?:menu)?config\s+\w+\s*$")


def _code_of(text: str) -> str:
    """``text`` without strings and comments, for counting braces."""
    return _STRINGS_AND_COMMENTS.sub(" ", text)


def _unopened_blocks(code: str) -> int:
    """Blocks inside a function that the text closes without showing where
    they open. A ``}`` in column 0 closes the function itself (kernel style)
    and is not one of them."""
    depth = low = blocks = 0
    for line in code.splitlines():
        for ch in line:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth < low:
                    low = depth
                    blocks += not line.startswith("}")
    return blocks


def _signature(section: str) -> str | None:
    """The hunk header's line as a complete declarator, or None when it is
    not a function (or an initializer opening a brace)."""
    section = section.strip()
    if not section or section.startswith("#") or section.endswith(";"):
        return None
    if section.endswith("{"):
        return section
    if "(" not in section:
        return None
    # git cuts the line at 80 columns and a signature may go on over several
    # lines: close what is open so the parameters that are there count.
    opened = section.count("(") - section.count(")")
    section = section.rstrip(", \t") + ")" * max(opened, 0)
    if _NO_RETURN_TYPE.match(section):
        section = "int " + section  # kernel style puts the return type on the line above
    return section


def _reopen(body: str, section: str) -> tuple[str, int, str]:
    """What to put in the gap above a hunk so that its text sits where it
    was: (text, scopes it opens, the hunk's text as code). A hunk that
    starts inside a function gets the function back from the hunk header,
    one that starts inside a comment gets the comment opened."""
    # The hunk starts inside a comment when it closes one before opening any.
    close, open_ = body.find("*/"), body.find("/*")
    in_comment = close >= 0 and (open_ < 0 or close < open_)
    code = _code_of("/*" + body if in_comment else body)
    first = next((x for x in code.splitlines() if x.strip() and not x.lstrip().startswith("#")), "")
    signature = _signature(section)
    text, depth = "", 0
    if first.startswith("{") and signature and not signature.endswith("{"):
        text = signature  # the hunk opens the function's body itself
    elif first[:1] in (" ", "\t", "}") or (in_comment and not first):
        if signature:
            blocks = _unopened_blocks(code)
            text = (signature if signature.endswith("{") else signature + " {") + " {" * blocks
            depth = 1 + blocks
    if in_comment:
        text += " /*"
    return text.strip(), depth, code


def _reopen_kconfig(body: str, section: str) -> str:
    """For Kconfig: the ``config FOO`` line of the entry an indented hunk
    continues, so its ``select`` and ``depends on`` lines have an owner."""
    first = next((x for x in body.splitlines() if x.strip() and not x.lstrip().startswith("#")), "")
    if first[:1] in (" ", "\t") and _KCONFIG_ENTRY.match(section):
        return section
    return ""


def partial_text(fd: FileDiff, placements: list[Placement], side: str = "new") -> bytes:
    """One side of a file known only by its hunks: their lines at their
    line numbers, blank lines between them, and in the gap above a hunk
    that starts inside a function, that function's line from the hunk
    header - so rules see its parameters and that the code is in a body."""
    lines: dict[int, str] = {}
    spans: list[tuple[int, int, object]] = []  # (first line, last line, hunk)
    for pl in placements:
        start = (pl.new_start if side == "new" else pl.old_start) + 1
        n = start
        for ln in pl.hunk:
            if ln.line_type == " " or ln.line_type == ("+" if side == "new" else "-"):
                lines[n] = ln.value if ln.value.endswith("\n") else ln.value + "\n"
                n += 1
        spans.append((start, n - 1, pl.hunk))
    if not lines:
        return b""
    kconfig = file_kind(fd.path) == "kconfig"
    depth = 0
    prev_end = 0
    prev_section = None
    openers: dict[int, str] = {}
    for start, end, hunk in spans:
        body = "".join(lines.get(i, "") for i in range(start, end + 1))
        section = (hunk.section_header or "").strip()
        if kconfig:
            text, opens, code = _reopen_kconfig(body, section), 0, ""
        else:
            text, opens, code = _reopen(body, section)
        same_function = depth > 0 and section == prev_section and opens > 0
        if start > prev_end + 1 and not same_function:
            # A new scope: close what the previous hunk left open first.
            text = ("} " * depth + text).strip()
            if text:
                openers[start - 1] = text + "\n"
            depth = opens
        depth = max(depth + code.count("{") - code.count("}"), 0)
        prev_end = end
        prev_section = section
    last = max(lines)
    out = []
    for i in range(1, last + 1):
        out.append(lines.get(i) or openers.get(i) or "\n")
    if depth:
        out.append("} " * depth + "\n")
    return "".join(out).encode("utf-8", "surrogateescape")


# -- checking ----------------------------------------------------------------


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

    def as_dict(self) -> dict:
        p = self.patch
        d = {
            "index": p.index,
            "subject": p.subject,
            "name": p.name,
            "source": p.source,
            "line": p.line,
            "lines_checked": p.lines_checked,
            "files": [{"path": fd.path, "status": fd.status, **({"old_path": fd.old_path} if fd.status in ("renamed", "copied") else {})} for fd in p.files],
            "kernel_version": self.kernel_version,
        }
        if p.commit:
            d["commit"] = p.commit
        if self.applied is not None:
            d["applied"] = self.applied
        if self.notes:
            d["notes"] = list(self.notes)
        return d


@dataclass
class SeriesResult:
    report: Report
    outcomes: list[PatchOutcome]

    @property
    def lines_checked(self) -> int:
        return sum(o.patch.lines_checked for o in self.outcomes)


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
        return states

    def _advance_file(self, fd: FileDiff, outcome: PatchOutcome) -> FileState:
        declared = declared_placements(fd)
        old = None if fd.old_path is None else self._pre_image(fd)
        if fd.binary:
            return FileState(fd, [], old, UNKNOWN if fd.new_path else None)
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
        self.tree = SeriesTree(GitTreeBase(repo, None), root=repo.workdir.rstrip("/") if repo.workdir else SERIES_ROOT)

    def advance(self, patch: Patch, outcome: PatchOutcome) -> list[FileState]:
        commit = self.repo.get(patch.commit) if patch.commit else None
        if commit is None:
            raise PatchError(f"{patch.source}: commit {patch.commit} not found")
        parent = GitTreeBase(self.repo, commit.parents[0].tree if commit.parents else None)
        after = GitTreeBase(self.repo, commit.tree)
        self.tree = SeriesTree(after, root=self.tree.root)
        outcome.applied = True
        states = []
        for fd in patch.files:
            old = parent.read(fd.old_path) if fd.old_path else None
            new = after.read(fd.new_path) if fd.new_path else None
            states.append(FileState(fd, [] if fd.binary else declared_placements(fd), old, new))
        return states


class SeriesChecker:
    """Runs the rules over a series, patch by patch."""

    def __init__(self, rules, kernel: KernelContext, options: EngineOptions | None = None, version_from_tree: bool = True):
        self.rules = rules
        self.kernel = kernel
        self.options = options or EngineOptions(jobs=1, use_cache=False)
        self.version_from_tree = version_from_tree

    def _engine(self, tree: SeriesTree) -> Engine:
        version, source = self.kernel.version, self.kernel.version_source
        if self.version_from_tree and isinstance(tree.base, GitTreeBase):
            mk = tree.base.read("Makefile")
            found = makefile_version(mk) if mk else None
            if found is not None:
                version, source = found, "Makefile"
        root = None if tree.root == SERIES_ROOT else tree.root
        kernel = KernelContext(Path(root) if root else None, version, source, reader=SeriesReader(tree))
        return Engine(self.rules, kernel, self.options)

    def check(self, patches: list[Patch], series) -> SeriesResult:
        report = Report()
        outcomes: list[PatchOutcome] = []
        open_findings: list[tuple[Finding, str, int]] = []  # (finding, path now, line now)
        for patch in patches:
            outcome = PatchOutcome(patch, applied=True if getattr(series, "has_base", True) else None)
            states = series.advance(patch, outcome)
            open_findings = _carry_forward(open_findings, states, patch.index)
            engine = self._engine(series.tree)
            outcome.kernel_version = str(engine.kernel.effective_version)
            if report.kernel_version is None:
                report.kernel_version = outcome.kernel_version
            for st in states:
                found = self._check_file(engine, patch, st, series.tree, report)
                report.findings.extend(found)
                open_findings.extend((f, st.diff.new_path, f.line) for f in found)
            outcomes.append(outcome)
            report.notes.extend(f"{patch.describe()} {note}" for note in outcome.notes)
        report.findings.sort(key=lambda f: (f.patch or 0, f.path, f.line, f.column, f.rule_id))
        return SeriesResult(report, outcomes)

    def _check_file(self, engine: Engine, patch: Patch, st: FileState, tree: SeriesTree, report: Report) -> list[Finding]:
        fd = st.diff
        if fd.new_path is None or fd.binary or fd.is_symlink or not wanted(fd.new_path, engine.file_kinds):
            return []
        placements = st.placements
        added = added_lines(placements)
        if not added:
            return []  # a pure rename or a deletion introduces nothing
        whole = isinstance(st.new_data, bytes)
        data = st.new_data if whole else partial_text(fd, placements, "new")
        abspath = os.path.join(tree.root, fd.new_path)
        report.files_checked += 1
        if len(data) > engine.options.max_bytes:
            report.skipped.append(Skipped(fd.new_path, f"too large ({len(data)} bytes, limit {engine.options.max_bytes}) ({patch.describe()})"))
            return []
        res = engine.analyze(fd.new_path, data, abspath)
        report.files_parsed += int(res.parsed)
        report.skipped.extend(Skipped(s.path, f"{s.reason} ({patch.describe()})") for s in res.skipped)
        report.errors.extend(InternalError(e.path, e.rule_id, f"{e.message} ({patch.describe()})") for e in res.errors)
        ignored = engine.per_file_ignores(fd.new_path)
        before = None
        kept = []
        for f in res.findings:
            if ignored and rule_matches(f.rule_id, ignored):
                continue
            span = range(f.line, max(f.end_line or f.line, f.line) + 1)
            if f.line not in added:
                if not any(n in added for n in span):
                    continue
                # The change is inside the flagged construct but not on its
                # first line: it is this patch's only if it was not there before.
                if before is None:
                    before = self._findings_before(engine, st, tree.root)
                if _identity(f) in before:
                    continue
            f.patch = patch.index
            f.subject = patch.subject
            first_added = next(n for n in span if n in added)
            f.patch_line = fd.line_base + added[first_added].diff_line_no
            kept.append(f)
        return kept

    def _findings_before(self, engine: Engine, st: FileState, root: str) -> set:
        fd = st.diff
        if fd.old_path is None or not wanted(fd.old_path, engine.file_kinds):
            return set()
        old = st.old_data if isinstance(st.old_data, bytes) else partial_text(fd, declared_placements(fd), "old")
        res = engine.analyze(fd.old_path, old, os.path.join(root, fd.old_path))
        return {_identity(f) for f in res.findings}


def _identity(f: Finding) -> tuple:
    return (f.rule_id, f.function or "", normalise_code(f.snippet))



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


def make_series(tree_dir: str | None, git_repo=None):
    """The tree the series is applied to: the user's tree (``--tree``), a
    git range's commits, or nothing."""
    if git_repo is not None:
        return CommitSeries(git_repo)
    if tree_dir is None:
        return AppliedSeries(SeriesTree(None))
    base = DiskBase(tree_dir)
    return AppliedSeries(SeriesTree(base, root=base.root), repo=open_repository(tree_dir))
