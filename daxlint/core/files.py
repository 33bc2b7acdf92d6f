"""Turning the paths a user names into the C files to check, and reading
them safely: anything odd becomes a Skipped note, never an exception."""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import dataclass, field

from daxlint.errors import InputError
from daxlint.model import Skipped

C_SUFFIXES = (".c", ".h")
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", "node_modules"}
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
# Files above the analysis limit are still scanned for trigger tokens up to
# this size, so that a huge generated header that cannot match any rule (the
# amdgpu register headers) passes quietly instead of cluttering the report.
SCAN_LIMIT_BYTES = 64 * 1024 * 1024


@dataclass
class FileSet:
    files: list[tuple[str, str]] = field(default_factory=list)  # (display path, absolute path)
    skipped: list[Skipped] = field(default_factory=list)


def display_path(path: str) -> str:
    """Path relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def wanted(path: str, kinds: tuple[str, ...] = ("c",)) -> bool:
    """Whether the engine reads a file of this name: C sources and headers,
    and Kconfig files when a Kconfig rule is enabled."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith(C_SUFFIXES) or ("kconfig" in kinds and name.startswith("Kconfig"))


def file_kind(path: str) -> str:
    """ "kconfig" for Kconfig files, "c" for everything else we are given."""
    return "kconfig" if os.path.basename(path).startswith("Kconfig") else "c"


class FileWalk:
    """The files under ``paths``, yielded as (display path, absolute path)
    while the walk goes on, so that a caller can start work on the first
    directories before the last ones are listed. Bad paths are checked when
    the walk is made: a missing path is an InputError then; unreadable
    directories, broken links and symlink loops become notes in ``skipped``
    as the walk reaches them."""

    def __init__(self, paths: list[str], kinds: tuple[str, ...] = ("c",)):
        self.kinds = kinds
        self.skipped: list[Skipped] = []
        self._roots: list[tuple[str, str, bool]] = []  # (absolute, display, is a directory)
        for p in paths:
            try:
                st = os.stat(p)
            except OSError as e:
                if os.path.islink(p):
                    self.skipped.append(Skipped(display_path(p), f"broken symlink or symlink loop ({e.strerror})"))
                    continue
                raise InputError(f"{p}: no such file or directory") from None
            self._roots.append((os.path.abspath(p), display_path(p), stat.S_ISDIR(st.st_mode)))

    def __iter__(self):
        seen: set[str] = set()
        for ap, shown, is_dir in self._roots:
            if is_dir:
                yield from _walk(ap, shown, seen, self.kinds, self.skipped)
            elif ap not in seen:
                seen.add(ap)
                yield shown, ap


def collect(paths: list[str], kinds: tuple[str, ...] = ("c",)) -> FileSet:
    """Expand files and directories; directories yield their .c/.h files
    (and Kconfig files when a rule wants them). A missing path is an
    InputError; unreadable directories, broken links and symlink loops are
    skipped with a note."""
    walk = FileWalk(paths, kinds)
    files = list(walk)
    return FileSet(files=files, skipped=walk.skipped)


def _walk(top_abs: str, top_display: str, seen: set[str], kinds: tuple[str, ...], skipped: list[Skipped]):
    """Depth-first, sorted, with os.scandir so that no path is stat'ed or
    made relative twice (this walk is most of a warm run on a kernel tree).
    Directory symlinks are not followed (like git and ruff): kernel trees
    link dts directories into each other, and following them would report
    the same file twice, or loop."""
    prefix_display = "" if top_display in (".", "") else top_display
    stack = [(top_abs, prefix_display)]
    while stack:
        dir_abs, dir_display = stack.pop()
        try:
            with os.scandir(dir_abs) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            skipped.append(Skipped(dir_display or ".", f"unreadable directory ({e.strerror})"))
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            try:
                is_link = entry.is_symlink()
                if entry.is_dir(follow_symlinks=False):
                    if name not in SKIP_DIRS:
                        subdirs.append((entry.path, f"{dir_display}/{name}" if dir_display else name))
                    continue
            except OSError:
                continue
            if not wanted(name, kinds):
                continue
            shown = f"{dir_display}/{name}" if dir_display else name
            if is_link and not os.path.exists(entry.path):
                skipped.append(Skipped(shown, "broken symlink or symlink loop"))
                continue
            if entry.path not in seen:
                seen.add(entry.path)
                yield shown, entry.path
        stack.extend(reversed(subdirs))


def read_source_stat(path: str, max_bytes: int = DEFAULT_MAX_BYTES, scan_limit: int = 0):
    """(data, None, stat), or (None, reason to skip, stat). A file over
    ``max_bytes`` but within ``scan_limit`` comes back as (data, "too large
    ...", stat) so the caller can tell whether it mattered. The
    os.stat_result is the file's as it was opened (None when it could not
    be opened), for callers that cache by stat.

    One open, one fstat and one read per file: this runs for every file of
    a kernel tree, and buffered file objects cost more than the reading."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        return None, f"unreadable ({e.strerror})", None
    st = None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file", st
        limit = max(max_bytes, scan_limit)
        if st.st_size > limit:
            return None, f"too large ({st.st_size} bytes, limit {max_bytes})", st
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # it grew since fstat: read on to the limit
            chunks = [data]
            while chunks[-1] and sum(map(len, chunks)) <= limit:
                chunks.append(os.read(fd, limit + 1))
            data = b"".join(chunks)
    except OSError as e:
        return None, f"unreadable ({e.strerror})", st
    finally:
        os.close(fd)
    if len(data) > limit:
        return None, f"too large (over {max_bytes} bytes)", st
    if len(data) > max_bytes:
        return data, f"too large ({len(data)} bytes, limit {max_bytes})", st
    return data, None, st


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_FIRST_BYTES = frozenset(bom[:1] for bom, _ in _BOMS)
_SPECIAL_FIRST_BYTES = _BOM_FIRST_BYTES | {codecs.BOM_UTF8[:1]}
# Control bytes a C source has no business containing in numbers (tab, LF,
# VT, FF and CR are white space): more than 1% of them (NUL included) is
# a binary file.
_CONTROL = bytes(set(range(32)) - {9, 10, 11, 12, 13})


@dataclass(frozen=True)
class WideText:
    """UTF-16 or UTF-32 text: how it reads as UTF-8 (what the parser reads,
    and what fixes' offsets count in) and how UTF-8 text is written back
    in it, with the same byte order and byte order mark."""

    codec: str  # with its byte order: "utf-16-le"
    bom: bytes  # b"" when the file has none

    @property
    def name(self) -> str:
        return self.codec.upper().rsplit("-", 1)[0]

    def to_utf8(self, data: bytes) -> tuple[bytes, str | None]:
        """``data`` as UTF-8, and the reason it cannot be C (NUL characters)."""
        text = data[len(self.bom) :].decode(self.codec, "replace")
        if "\x00" in text:
            return data, f"binary file ({self.name} text with NUL characters)"
        return text.encode("utf-8"), None

    def from_utf8(self, text: bytes) -> bytes:
        return self.bom + text.decode("utf-8", "replace").encode(self.codec)


def wide_text(data: bytes) -> WideText | None:
    """The UTF-16 or UTF-32 encoding of ``data`` (a byte order mark, or
    recognisable by its NUL bytes), None for anything else."""
    if b"\x00" not in data and data[:1] not in _BOM_FIRST_BYTES:  # nearly every file: one memchr
        return None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return WideText(codec, bom)
    codec = _wide_encoding(data) if b"\x00" in data else None
    return WideText(codec, b"") if codec else None


def source_bytes(data: bytes) -> tuple[bytes, str | None]:
    """The bytes the parser reads for a file's ``data``, and the reason it
    cannot be C source at all (None when it can). The parser works on bytes,
    so any byte sequence is read, whatever its encoding (Latin-1 comments,
    broken UTF-8). Only what would hide code from it is dealt with, so that
    no encoding makes a finding disappear:

    - UTF-16 and UTF-32 text (with a byte order mark, or recognisable by its
      NUL bytes) is transcoded to UTF-8 (``WideText``);
    - a UTF-8 byte order mark becomes three spaces (columns stay put);
    - stray NUL bytes in text become spaces, as gcc ignores them;
    - a file that is mostly NUL or control bytes is binary: the reason."""
    if b"\x00" not in data and data[:1] not in _SPECIAL_FIRST_BYTES:
        return data, None  # nearly every file: one memchr
    if data.startswith(codecs.BOM_UTF8):
        data = b"   " + data[3:]
    wide = wide_text(data)
    if wide is not None:
        return wide.to_utf8(data)
    if b"\x00" not in data:
        return data, None
    controls = len(data) - len(data.translate(None, delete=_CONTROL))  # NUL included
    if controls * 100 > len(data):
        return data, "binary file (contains NUL bytes)"
    return data.replace(b"\x00", b" "), None


_LONE_CR = re.compile(rb"\r(?!\n)")


def editable_text(data: bytes) -> tuple[bytes, WideText | None, str | None]:
    """The text a file's fixes edit - what the analysis read, which their
    offsets count in: a UTF-16 or UTF-32 file's UTF-8 form - how it is
    written back, and why the file cannot be fixed (None when it can): it
    does not convert back exactly, or it has lines ending in a lone CR.
    A file is fixed only when its text converts back to the very bytes
    it came from, so that no byte a fix does not touch changes."""
    wide = wide_text(data)
    text = data
    if wide is not None:
        text, why = wide.to_utf8(data)
        if why is not None or wide.from_utf8(text) != data:
            return data, None, f"not fixed: its {wide.name} text does not convert to UTF-8 and back unchanged (invalid {wide.name}?)"
    if _LONE_CR.search(text):
        # gcc ends a line there; fixes place their lines (an #include, a
        # shim, a version test) by LF, and would put them after their use.
        return data, None, "not fixed: it has lines that end in a lone carriage return (LF or CRLF line ends only)"
    return text, wide, None


def wide_text_as_utf8(data: bytes) -> bytes | None:
    """UTF-16 or UTF-32 text as UTF-8 - a patch saved by PowerShell's
    redirection is UTF-16; None for anything else."""
    wide = wide_text(data)
    if wide is None:
        return None
    text, why = wide.to_utf8(data)
    return None if why else text


def _wide_encoding(data: bytes, sample: int = 4096) -> str | None:
    """ "utf-16-le", "utf-16-be", "utf-32-le" or "utf-32-be" for text without
    a byte order mark that is plainly in one of them (ASCII-range code in
    them has NUL in the same byte of every unit), else None."""
    head = data[: sample - sample % 4]
    n = len(head)
    if n < 8:
        return None

    def nul_share(offset: int, step: int) -> float:
        part = head[offset::step]
        return part.count(0) / max(1, len(part))

    for codec, step, text_at in (("utf-32-le", 4, 0), ("utf-32-be", 4, 3), ("utf-16-le", 2, 0), ("utf-16-be", 2, 1)):
        if len(data) % step:
            continue
        zero = [o for o in range(step) if o != text_at]
        if nul_share(text_at, step) < 0.1 and all(nul_share(o, step) > 0.9 for o in zero):
            return codec
    return None
