"""A patch series as daxlint reads it: mbox files, ``git format-patch``
files, a bare diff, standard input, or the commits of a git range
(``--git``, one format-patch mail per commit, as checkpatch.pl --git).
Mail is parsed with the standard library (mailbox, email) and diffs with
unidiff."""

from __future__ import annotations

import email
import email.errors
import email.policy
import mailbox
import os
import re
import tempfile
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.constants import DEV_NULL
from unidiff.errors import UnidiffParseError

from daxlint.core.files import wide_text_as_utf8
from daxlint.errors import InputError
from daxlint.lines import split_lines
from daxlint.sources.git import format_patches
from daxlint.sources.gitcommand import unquote_path

MAX_INPUT_BYTES = 256 * 1024 * 1024
STDIN_NAME = "<stdin>"
SYMLINK_MODE = "120000"

# git am drops these from a subject: "Re:", "[PATCH v2 3/7]", "[RFC]".
_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|aw|fwd?)\s*:|\s*\[[^\]]*\])+\s*", re.I)
_INDEX_LINE = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)")
_ENVELOPE_COMMIT = re.compile(r"^From ([0-9a-f]{40})\b")
# A multipart part's header, as the mail parser finds it (the header name
# at a line's start; the type may follow on a folded line).
_MULTIPART_HEADER = re.compile(rb"^content-type:\s*multipart/", re.I | re.M)
# Real patch mail nests a text part in two or three multipart parts; the
# standard library's parser recurses once per level.
MAX_MULTIPARTS = 64
# A hunk header as git apply reads it (what follows the second @@ is the
# function git names); any other line starting "@@ -" is a corrupt patch.
_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_BASE64_DEFECTS = (
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)


class PatchError(InputError):
    """The series cannot be checked: malformed mail or diff, a path that
    leaves the tree, a git range that names nothing. One line, exit 2."""


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
    header_line: int = 0  # that line's number in the source

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


NO_PATCH = "no patch in this mail (a cover letter or a reply?): nothing to check"


def parse_series(sources: list[tuple[str, bytes]], lines_per_mail: bool = False) -> tuple[list[Patch], list[str]]:
    """Every patch in ``sources`` in order, and notes on mails without a
    diff (cover letters, replies). ``lines_per_mail`` numbers lines from each
    mail's start (``--git``: one format-patch output per commit, as
    checkpatch). Mail without any diff is no error - a hook sees cover
    letters one at a time - but input that is not mail and holds no diff
    is (PatchError), as is a malformed diff."""
    patches: list[Patch] = []
    notes: list[str] = []
    for name, data in sources:
        if len(data) > MAX_INPUT_BYTES:
            raise PatchError(f"{name}: larger than {MAX_INPUT_BYTES >> 20} MiB; not reading it as a patch series")
        wide = wide_text_as_utf8(data)  # a patch saved as UTF-16 (PowerShell redirection)
        if wide is not None:
            data = wide
        elif b"\x00" in data[:65536]:
            raise PatchError(f"{name}: binary data, not a patch or mail")
        in_source: list[Patch] = []
        for raw, offset, envelope in _split_mails(data):
            multiparts = len(_MULTIPART_HEADER.findall(raw))
            if multiparts > MAX_MULTIPARTS:
                raise PatchError(
                    f"{name}:{offset + 1}: mail has more than {MAX_MULTIPARTS} multipart parts ({multiparts}): not read as a patch mail"
                )
            patch = _mail_to_patch(name, raw, 0 if lines_per_mail else offset, envelope, lines_per_mail)
            if patch is not None:
                patch.index = len(patches) + len(in_source) + 1
                in_source.append(patch)
            elif envelope is not None or _is_mail(raw):
                notes.append(f"{name}:{offset + 1}: {NO_PATCH}")
            else:
                raise PatchError(f"{name}: no diff found (not a patch?)")
        for p in in_source:
            p.name = _patch_name(p, len(in_source))
        patches.extend(in_source)
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
    # CRLF ends a line as LF does (git am strips the CR: am.keepcr is off);
    # any other character is text, as it is to git.
    lines = split_lines(text.replace("\r\n", "\n"), keepends=True)
    start = _patch_start(lines)
    if start is None:
        return []
    feed = _LineFeed(lines[start:])
    base = body_line + start
    about = f' in patch "{subject}"' if subject else ""
    for i, line in enumerate(feed.lines):
        if line.startswith("@@ -") and not _HUNK_HEADER.match(line):
            # unidiff would pass it over as text, and the file's hunks with it.
            header = line.rstrip("\n")
            raise PatchError(f"{source}:{base + i + 1}: corrupt patch{about}: hunk header {header!r} (git apply: corrupt patch)")
    try:
        parsed = PatchSet(feed)
    except UnidiffParseError as e:
        detail = str(e).strip().rstrip(":")
        at = feed.open_hunk("line expected" in detail)
        if at is not None and "hunk" in detail.lower():
            header = feed.lines[at].split("@@")[1].strip()
            detail = f"hunk @@ {header} @@ of line {base + at + 1} does not match its line counts ({detail})"
        raise PatchError(f"{source}:{base + feed.pos + 1}: malformed diff{about}: {detail}") from None
    files = []
    for pf in parsed:
        header_line = base + (pf.diff_line_no or 1)
        files.append(_file_diff(pf, base, f"{source}:{header_line}", header_line))
    return files


def _file_diff(pf, base: int, where: str, header_line: int) -> FileDiff:
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
        header_line=header_line,
    )


def repo_path(name: str, where: str = "") -> str:
    """A diff's file name as a path in the tree (``patch -p1``), refusing
    names that would leave it: absolute paths and ``..``."""
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        name = unquote_path(name)
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
    mails = format_patches(repo_dir, git_range_args(expr), purpose="--git")
    if not mails:
        raise PatchError(f"--git: {expr} names no commits (merges are left out)")
    return [(f"Commit {sha[:12]}", mail) for sha, mail in mails]
