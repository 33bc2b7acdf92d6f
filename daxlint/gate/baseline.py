"""Baselines: today's findings, recorded so that CI fails on new ones only.

A baseline is a JSON file (``version``, ``entries``); each entry holds the
finding's fingerprint (rule, path, enclosing function, flagged line with
white space folded, occurrence index - never a line number), so lines
inserted or deleted elsewhere do not break the match. The path inside the
fingerprint is taken relative to the baseline file's directory, so the
same baseline matches whichever directory daxlint runs from.

An entry that matches no current finding is *fixed*: the code it recorded
is gone or changed. Only entries the run could have seen count as fixed:
their rule was enabled and their file was among those checked (and not
skipped). A run over part of the tree leaves the rest of the baseline alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from daxlint.core.files import display_path
from daxlint.core.fingerprint import assign_fingerprints
from daxlint.core.outfiles import write_file
from daxlint.errors import InputError
from daxlint.model import Finding

BASELINE_VERSION = 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_COMMENT = (
    "daxlint baseline: findings recorded by 'daxlint check --write-baseline'; "
    "'daxlint check --baseline FILE' reports only findings not listed here. "
    "Paths are relative to this file's directory."
)


class BaselineError(InputError):
    """The baseline file is missing, unreadable or not a daxlint baseline."""


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    rule_id: str
    path: str  # relative to the baseline's directory, '/' separated
    message: str = ""
    line: int = 0  # informational only: where the finding was when recorded

    def to_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "rule_id": self.rule_id, "path": self.path, "line": self.line, "message": self.message}


@dataclass
class Baseline:
    file: str
    entries: list[BaselineEntry] = field(default_factory=list)

    @property
    def root(self) -> str:
        """Directory the entries' paths (and fingerprints) are relative to."""
        return os.path.dirname(os.path.abspath(self.file))

    def absolute(self, entry: BaselineEntry) -> str:
        return os.path.normpath(os.path.join(self.root, entry.path))

    @classmethod
    def load(cls, file: str) -> Baseline:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise BaselineError(f"baseline {file} does not exist (create it with --write-baseline {file})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise BaselineError(f"cannot read baseline {file}: {getattr(e, 'strerror', None) or e}") from None
        if not text.strip():
            return cls(file)  # an empty file is an empty baseline
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise BaselineError(f"baseline {file} is not valid JSON (line {e.lineno}: {e.msg})") from None
        if not isinstance(data, dict) or "entries" not in data or not isinstance(data.get("version"), int):
            raise BaselineError(f"{file} is not a daxlint baseline (expected an object with 'version' and 'entries')")
        if data["version"] > BASELINE_VERSION:
            raise BaselineError(
                f"baseline {file} has version {data['version']}; this daxlint reads version {BASELINE_VERSION} (upgrade daxlint)"
            )
        entries = []
        for i, raw in enumerate(data["entries"] if isinstance(data["entries"], list) else [None]):
            if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) and raw.get(k) for k in ("fingerprint", "rule_id", "path")):
                raise BaselineError(f"baseline {file}: entry {i + 1} lacks a fingerprint, rule_id or path")
            line = raw.get("line")
            entries.append(
                BaselineEntry(
                    raw["fingerprint"], raw["rule_id"], raw["path"], str(raw.get("message", "")), line if isinstance(line, int) else 0
                )
            )
        return cls(file, entries)

    def save(self) -> None:
        """Write the file atomically: a reader (or an interrupted run) sees
        the old baseline or the new one, never half of one."""
        entries = sorted(set(self.entries), key=lambda e: (e.path, e.line, e.rule_id, e.fingerprint))
        doc = {"version": BASELINE_VERSION, "comment": _COMMENT, "entries": [e.to_dict() for e in entries]}
        # A file name that is not UTF-8 keeps its bytes as \udcXX escapes
        # (read back as they were written); everything else stays readable.
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
        write_file(self.file, text)
        self.entries = entries


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def baseline_fingerprints(findings: list[Finding], root: str, spelled: bool = False) -> list[str]:
    """Fingerprints of ``findings`` with their paths made relative to
    ``root``, in the same order. Independent of the current directory.
    ``spelled``: as baselines recorded them before findings named their
    construct (see assign_fingerprints)."""
    moved = [dataclasses.replace(f, path=_relative(f.path, root), fingerprint="") for f in findings]
    assign_fingerprints(moved, spelled=spelled)
    return [m.fingerprint for m in moved]


def entries_for(findings: list[Finding], root: str) -> list[BaselineEntry]:
    prints = baseline_fingerprints(findings, root)
    return [BaselineEntry(fp, f.rule_id, _relative(f.path, root), f.message, f.line) for f, fp in zip(findings, prints)]


@dataclass
class Scope:
    """What a run could have seen: checked paths (files or directories),
    enabled rules, and files it skipped."""

    paths: list[str]
    rule_ids: set[str]
    skipped: set[str] = field(default_factory=set)

    def __post_init__(self):
        self._tops = [os.path.abspath(p) for p in self.paths]
        self._skipped = {os.path.abspath(p) for p in self.skipped}

    def covers(self, abspath: str) -> bool:
        if abspath in self._skipped:
            return False
        return any(abspath == top or abspath.startswith(top.rstrip(os.sep) + os.sep) for top in self._tops)

    def sees(self, entry: BaselineEntry, absolute: Callable[[BaselineEntry], str]) -> bool:
        return entry.rule_id in self.rule_ids and self.covers(absolute(entry))


@dataclass
class BaselineResult:
    new: list[Finding]  # findings the baseline does not list: these are reported
    suppressed: list[Finding]
    fixed: list[BaselineEntry]  # entries in scope that matched nothing
    unseen: list[BaselineEntry]  # entries out of this run's scope: left alone
    entries: list[BaselineEntry] = field(default_factory=list, repr=False)  # the whole baseline
    renamed: list[BaselineEntry] = field(default_factory=list)  # matched in a renamed file

    @property
    def kept(self) -> list[BaselineEntry]:
        """The entries a shrunk baseline keeps: all but the fixed ones."""
        drop = Counter(self.fixed)
        kept = []
        for e in self.entries:
            if drop[e] > 0:
                drop[e] -= 1
            else:
                kept.append(e)
        return kept


def apply_baseline(baseline: Baseline, findings: list[Finding], scope: Scope) -> BaselineResult:
    """Split findings into new and suppressed; find fixed entries. Each
    entry suppresses at most one finding."""
    available: dict[str, int] = {}
    for e in baseline.entries:
        available[e.fingerprint] = available.get(e.fingerprint, 0) + 1
    used: dict[str, int] = {}
    new, suppressed = [], []
    prints = baseline_fingerprints(findings, baseline.root)
    # An entry recorded before its finding named its construct carries the
    # fingerprint of the line as spelled: it still matches.
    spelled = baseline_fingerprints(findings, baseline.root, spelled=True)
    for f, fp, old in zip(findings, prints, spelled):
        fp = fp if used.get(fp, 0) < available.get(fp, 0) or old == fp else old
        if used.get(fp, 0) < available.get(fp, 0):
            used[fp] = used.get(fp, 0) + 1
            suppressed.append(f)
        else:
            new.append(f)
    left = []
    for e in baseline.entries:
        if used.get(e.fingerprint, 0) > 0:
            used[e.fingerprint] -= 1
        else:
            left.append(e)
    # A file renamed (git mv) gives its findings new fingerprints: an entry
    # whose file is gone matches a new finding of the same rule and message.
    gone = [e for e in left if scope.sees(e, baseline.absolute) and not os.path.lexists(baseline.absolute(e))]
    renamed, still_new = [], []
    for f in new:
        match = next((e for e in gone if e.rule_id == f.rule_id and e.message == f.message), None)
        if match is None:
            still_new.append(f)
            continue
        gone.remove(match)
        left.remove(match)
        renamed.append(match)
        suppressed.append(f)
    fixed = [e for e in left if scope.sees(e, baseline.absolute)]
    unseen = [e for e in left if not scope.sees(e, baseline.absolute)]
    return BaselineResult(still_new, suppressed, fixed, unseen, list(baseline.entries), renamed)


def write_baseline(file: str, findings: Iterable[Finding], scope: Scope) -> tuple[Baseline, int]:
    """Record ``findings`` in ``file``. Entries of an existing baseline that
    this run could not see (other paths, disabled rules) are kept; a file
    that exists but is not a baseline is never overwritten.
    Returns the baseline and how many entries were kept from before."""
    previous = Baseline.load(file) if os.path.exists(file) else Baseline(file)
    fresh = Baseline(file)
    fresh.entries = entries_for(list(findings), fresh.root)
    kept = [e for e in previous.entries if not scope.sees(e, previous.absolute)]
    fresh.entries.extend(kept)
    fresh.save()
    return fresh, len(kept)


_FIXED_LISTED = 20  # fixed entries spelled out in text reports; JSON lists them all


def _fixed_dict(entry: BaselineEntry, baseline: Baseline) -> dict:
    d = entry.to_dict()
    d["path"] = display_path(baseline.absolute(entry))
    return d


def describe(result: BaselineResult, baseline: Baseline, updated: bool = False) -> list[str]:
    """Report notes: how much the baseline hid, and which entries are fixed."""
    n = len(result.suppressed)
    notes = [f"baseline {baseline.file}: {n} known finding{'s' if n != 1 else ''} not shown"]
    if result.unseen and not (result.suppressed or result.fixed or result.renamed):
        k = len(result.unseen)
        notes.append(
            f"none of the {k} entr{'ies' if k != 1 else 'y'} of {baseline.file} is under the checked paths: "
            f"its paths are relative to its own directory ({baseline.root}) - was it written for another checkout?"
        )
    if result.renamed:
        k = len(result.renamed)
        notes.append(
            f"{k} baseline entr{'ies' if k != 1 else 'y'} matched in renamed files (the recorded file is gone, "
            "a finding of the same rule and message is in another); --write-baseline records the new paths"
        )
    if result.fixed:
        k = len(result.fixed)
        what = f"{k} baseline entr{'ies' if k != 1 else 'y'}"
        if updated:
            notes.append(f"{what} fixed and dropped from {baseline.file}")
        else:
            notes.append(f"{what} fixed (no longer found); shrink the baseline with --update-baseline")
        for e in result.fixed[:_FIXED_LISTED]:
            d = _fixed_dict(e, baseline)
            notes.append(f"fixed: {d['path']}:{e.line}: [{e.rule_id}] {e.message}")
        if k > _FIXED_LISTED:
            notes.append(f"fixed: ... and {k - _FIXED_LISTED} more (see --format json)")
    return notes


def as_json(result: BaselineResult, baseline: Baseline, updated: bool = False) -> dict:
    return {
        "file": baseline.file,
        "suppressed": len(result.suppressed),
        "fixed": [_fixed_dict(e, baseline) for e in result.fixed],
        "renamed": [_fixed_dict(e, baseline) for e in result.renamed],
        "updated": bool(updated and result.fixed),
    }
