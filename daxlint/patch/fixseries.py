"""``daxlint patch --fix``: the series rewritten so that it introduces no
fixable finding, each patch keeping its mail headers, message and files.

Patch by patch, each file the patch leaves behind is fixed - only on the
lines the series added so far, as ``daxlint patch`` reports only those -
and the patch's hunks for that file are made again from the fixed file
before it and the fixed file after it; files no fix touches keep their
hunks as they were. A later patch that kept a fixed line keeps it fixed,
so the series applies patch after patch, as ``git am`` applies it.

Fixing needs the whole file before and after a patch: with ``--tree`` or
``--git``, or a file the series creates. Without them a patch that changes
a file is left as it is, with a note. A mail whose body is encoded
(base64, quoted-printable) is left as it is too."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from daxlint.core.engine import Engine
from daxlint.core.registry import rule_matches
from daxlint.core.spans import ChangedLines
from daxlint.core.textdiff import hunks_text
from daxlint.lines import split_lines
from daxlint.model import Finding
from daxlint.patch.apply import added_lines, map_line
from daxlint.patch.mail import Patch
from daxlint.patch.series import PatchOutcome

# (engine, display, absolute path, bytes, findings, scope) -> an object with
# .fixed (the bytes) and .fixed_findings: what daxlint.fix.Fixer.fix_file returns.
FixFile = Callable[[Engine, str, str, bytes, list[Finding], ChangedLines], object]
_INDEX = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)(.*)$")


@dataclass
class FixedSeries:
    # source name -> its bytes with the fixed patches (only sources that changed)
    sources: dict[str, bytes] = field(default_factory=dict)
    fixed: set[tuple] = field(default_factory=set)  # (patch, path, fingerprint) of the findings whose fix went in
    changed_patches: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Rewrite:
    """Replace source lines ``first``..``last`` (1-based, inclusive) by ``lines``."""

    first: int
    last: int
    lines: list[str]
    drop: bool = False  # the whole file diff goes: the fixed series does not change the file here


def fix_series(
    patches: list[Patch], outcomes: list[PatchOutcome], sources: dict[str, bytes], findings: list[Finding], fix_file: FixFile
) -> FixedSeries:
    out = FixedSeries()
    by_patch: dict[int, list[Finding]] = {}
    for f in findings:
        if f.patch is not None and f.fixed_by is None:
            by_patch.setdefault(f.patch, []).append(f)
    series_lines: dict[str, set[int]] = {}  # path -> lines the series added, in the file as the series left it
    fixed_image: dict[str, bytes] = {}  # path -> the file as the fixed series leaves it (where it differs)
    rewrites: dict[str, list[_Rewrite]] = {}
    for patch, outcome in zip(patches, outcomes):
        engine: Engine | None = getattr(outcome, "engine", None)
        changed = False
        dropped_files = 0
        for st in getattr(outcome, "states", []):
            fd = st.diff
            before_path, after_path = fd.old_path, fd.new_path
            prev_lines = series_lines.pop(before_path, set()) if before_path else set()
            prev_fixed = fixed_image.pop(before_path, None) if before_path and fd.status not in ("copied",) else None
            if fd.binary or fd.is_symlink or engine is None:
                continue
            old = st.old_data if isinstance(st.old_data, bytes) else (b"" if before_path is None else None)
            new = st.new_data if isinstance(st.new_data, bytes) else (b"" if after_path is None else None)
            if old is None or new is None:
                if by_patch.get(patch.index) and any(f.path == fd.path for f in by_patch[patch.index]):
                    out.notes.append(f"{patch.describe()}: {fd.path} not fixed: without --tree the file around the hunks is unknown")
                continue
            lines = {n for n in (map_line(st.placements, x) for x in prev_lines) if n is not None} | set(added_lines(st.placements))
            fixed_new = new
            if after_path is not None and lines:
                fixed_new = _fix_image(engine, fix_file, after_path, new, lines, out, patch)
            fixed_old = prev_fixed if prev_fixed is not None else old
            if after_path is not None:
                series_lines[after_path] = lines
                if fixed_new != new:
                    fixed_image[after_path] = fixed_new
            if fixed_old == old and fixed_new == new:
                continue
            name = _source_name(patch, sources)
            rewrite = _file_rewrite(fd, fixed_old, fixed_new, sources.get(name))
            if rewrite is None:
                out.notes.append(f"{patch.describe()}: {fd.path}: cannot rewrite this patch's text (an encoded mail body?); left as it is")
                continue
            rewrites.setdefault(name, []).extend(rewrite)
            dropped_files += any(r.drop for r in rewrite)
            changed = True
        if changed:
            out.changed_patches.append(patch.index)
            if dropped_files and dropped_files == sum(1 for fd in patch.files if fd.hunks):
                out.notes.append(
                    f"{patch.describe()} changes nothing once the series is fixed: drop it before sending (git am stops at an empty patch)"
                )
    for name, edits in rewrites.items():
        out.sources[name] = _apply_rewrites(sources[name], edits)
    return out


_STAT = re.compile(r"^( (\S.*?)\s+\| +)(\d+) ?([+-]*)(\r?\n?)$")
_SUMMARY = re.compile(r"^ (\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?(\r?\n?)$")


def _stat_rewrites(text: list[str], header: int, fd, new_hunks: list[str]) -> list[_Rewrite]:
    """The diffstat git format-patch put above the diff, for one file whose
    hunks changed: its line and the summary line."""
    old_ins = sum(1 for h in fd.hunks for ln in h if ln.line_type == "+")
    old_del = sum(1 for h in fd.hunks for ln in h if ln.line_type == "-")
    new_ins = sum(1 for x in new_hunks if x.startswith("+"))
    new_del = sum(1 for x in new_hunks if x.startswith("-"))
    if (old_ins, old_del) == (new_ins, new_del):
        return []
    # The stat block: after the "---" line that ends the message, before the first diff.
    sep = next((n for n in range(header - 1, 0, -1) if text[n - 1].rstrip("\r\n") == "---"), None)
    if sep is None:
        return []
    out = []
    names = {fd.path, fd.old_path or "", fd.new_path or ""}
    for n in range(sep + 1, header):
        line = text[n - 1]
        m = _STAT.match(line)
        if m and (
            m.group(2).strip() in names
            or any(m.group(2).strip().endswith(x.rsplit("/", 1)[-1]) and m.group(2).strip().startswith("...") for x in names if x)
        ):
            total = new_ins + new_del
            bar = "+" * new_ins + "-" * new_del
            if len(m.group(4)) < (old_ins + old_del) and old_ins + old_del:  # git scaled the bar: scale it alike
                scale = len(m.group(4)) / (old_ins + old_del)
                bar = "+" * round(new_ins * scale) + "-" * round(new_del * scale)
            out.append(_Rewrite(n, n, [f"{m.group(1)}{total}{' ' + bar if bar else ''}{m.group(5)}"]))
            continue
        s = _SUMMARY.match(line)
        if s:
            files = int(s.group(1))
            ins = int(s.group(2) or 0) - old_ins + new_ins
            dels = int(s.group(3) or 0) - old_del + new_del
            parts = [f" {files} file{'s' if files != 1 else ''} changed"]
            if ins:
                parts.append(f"{ins} insertion{'s' if ins != 1 else ''}(+)")
            if dels:
                parts.append(f"{dels} deletion{'s' if dels != 1 else ''}(-)")
            out.append(_Rewrite(n, n, [", ".join(parts) + s.group(4)]))
    return out


def _source_name(patch: Patch, sources: dict[str, bytes]) -> str:
    """The input a patch came from (``--git`` names a commit's mail
    "Commit <sha12>"; the patch adds its subject to that)."""
    if patch.source in sources:
        return patch.source
    return next((name for name in sources if patch.source.startswith(name + " (")), patch.source)


def _fix_image(engine: Engine, fix_file: FixFile, path: str, data: bytes, lines: set[int], out: FixedSeries, patch: Patch) -> bytes:
    abspath = os.path.join(str(engine.kernel.root or "/daxlint-series"), path)
    res = engine.analyze(path, data, abspath)
    ignored = engine.per_file_ignores(path)
    scope = ChangedLines(lambda _display: frozenset(lines))
    found = scope.keep(path, data, [f for f in res.findings if not (ignored and rule_matches(f.rule_id, ignored))])
    if not any(f.autofix is not None for f in found):
        return data
    result = fix_file(engine, path, abspath, data, found, scope)
    out.fixed.update((patch.index, f.path, f.fingerprint) for f in getattr(result, "fixed_findings", []))
    return result.fixed


def _file_rewrite(fd, fixed_old: bytes, fixed_new: bytes, source: bytes | None) -> list[_Rewrite] | None:
    """The source lines of ``fd``'s hunks replaced by hunks from the fixed
    images (the index line too, with the fixed images' blob ids); the
    whole file diff dropped when the fixed images are equal."""
    if source is None or not fd.hunks:
        return None
    text = split_lines(source.decode("utf-8", "surrogateescape"), keepends=True)
    first = fd.line_base + fd.hunks[0][0].diff_line_no - 1  # the first @@ line
    last = fd.line_base + fd.hunks[-1][-1].diff_line_no
    if first < 1 or last > len(text) or not text[first - 1].startswith("@@"):
        return None
    for h in fd.hunks:  # the hunks must be in the source as they are (not encoded)
        for ln in h:
            at = fd.line_base + ln.diff_line_no
            if text[at - 1].rstrip("\r\n") != (ln.line_type + ln.value).rstrip("\r\n") and ln.line_type != "\\":
                return None
    header = _header_start(text, first)
    if fixed_old == fixed_new:
        return [_Rewrite(header, last, [], drop=True)]
    hunks = hunks_text(fixed_old, fixed_new)
    out = [_Rewrite(first, last, hunks)] + _stat_rewrites(text, header, fd, hunks)
    for n in range(header, first):
        m = _INDEX.match(text[n - 1].rstrip("\r\n"))
        if m:
            old_id = _blob_id(fixed_old, len(m.group(1))) if fd.old_path else m.group(1)
            new_id = _blob_id(fixed_new, len(m.group(2))) if fd.new_path else m.group(2)
            out.append(_Rewrite(n, n, [f"index {old_id}..{new_id}{m.group(3)}\n"]))
    return out


_HEADER = (
    "diff ",
    "index ",
    "--- ",
    "+++ ",
    "new file",
    "deleted file",
    "similarity",
    "dissimilarity",
    "rename ",
    "copy ",
    "old mode",
    "new mode",
)


def _header_start(text: list[str], first_hunk: int) -> int:
    """The first header line of the file diff (``diff --git``, or ``---``
    for a plain diff) above its first hunk (1-based line numbers)."""
    n = first_hunk
    while n > 1 and text[n - 2].startswith(_HEADER):
        n -= 1
        if text[n - 1].startswith("diff "):
            break
    return n


def _blob_id(data: bytes, length: int) -> str:
    if not data:
        return "0" * length
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()[:length]


def _apply_rewrites(source: bytes, rewrites: list[_Rewrite]) -> bytes:
    text = split_lines(source.decode("utf-8", "surrogateescape"), keepends=True)
    for r in sorted(rewrites, key=lambda r: r.first, reverse=True):
        text[r.first - 1 : r.last] = r.lines
    return "".join(text).encode("utf-8", "surrogateescape")
