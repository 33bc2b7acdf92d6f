"""Applying a file's hunks to its old text the way ``git apply`` does
without fuzz, and following line numbers through them."""

from __future__ import annotations

from dataclasses import dataclass

from daxlint.lines import split_lines
from daxlint.patch.mail import FileDiff


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
    lines = split_lines(text, keepends=True)
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
            raise ApplyError(
                f"{fd.path}: hunk #{n} (@@ -{hunk.source_start},{hunk.source_length} +{hunk.target_start},{hunk.target_length} @@) does not apply"
            )
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
            if floor <= pos <= last and keys[pos : pos + n] == block:
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


def new_side_lines(placements: list[Placement]) -> dict[int, object]:
    """New-file line number (1-based) -> the diff line that shows it, added
    ("+") or context (" ")."""
    out = {}
    for pl in placements:
        new_no = pl.new_start + 1
        for ln in pl.hunk:
            if ln.line_type in ("+", " "):
                out[new_no] = ln
                new_no += 1
    return out


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


def shown_lines(placements: list[Placement]) -> set[int]:
    """New-file line numbers (1-based) a patch shows: its added and context lines."""
    out = set()
    for pl in placements:
        new_no = pl.new_start + 1
        for ln in pl.hunk:
            if ln.line_type in ("+", " "):
                out.add(new_no)
                new_no += 1
    return out
