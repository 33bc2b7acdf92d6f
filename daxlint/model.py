"""The data that flows between the engine, the commands and the outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls(value.lower())
        except ValueError:
            raise ValueError(f"unknown severity {value!r} (expected error, warning or info)") from None


SAFE = "safe"
UNSAFE = "unsafe"
# A fix in words only: shown to the user, never applied.
DISPLAY_ONLY = "display-only"


@dataclass(frozen=True)
class Edit:
    """Replace bytes ``start``..``end`` (0-based, end exclusive) of the
    finding's file, as it was analysed, with ``replacement``; an insertion
    when ``start == end``."""

    start: int
    end: int
    replacement: str

    def overlaps(self, other: Edit) -> bool:
        """Whether the two edits cannot both apply: their ranges share a
        byte, or one inserts inside (or at the same place as) the other."""
        if self == other:
            return False
        if self.start == self.end and other.start == other.end:
            return self.start == other.start
        if self.start == self.end:
            return other.start < self.start < other.end
        if other.start == other.end:
            return self.start < other.start < self.end
        return self.start < other.end and other.start < self.end

    def to_dict(self, path: str) -> dict:
        return {"path": path, "start": self.start, "end": self.end, "replacement": self.replacement}


@dataclass(frozen=True)
class Fix:
    """Edits that resolve a finding (``daxlint check --fix`` applies them).

    ``safety`` is "safe" when the edits keep what the code does, "unsafe"
    when a human must confirm them (applied only with --unsafe-fixes).
    ``covers`` names other findings of the same file the same edits resolve
    (writes folded into one call), by (line, column); ``alone`` is the fix
    to apply when those are not being fixed (outside --diff, suppressed)."""

    description: str
    safety: str
    edits: tuple[Edit, ...]
    covers: tuple[tuple[int, int], ...] = ()
    alone: Fix | None = None

    def to_dict(self, path: str) -> dict:
        d: dict = {"description": self.description, "safety": self.safety, "edits": [e.to_dict(path) for e in self.edits]}
        if self.covers:
            d["also_fixes"] = [{"line": line, "column": column} for line, column in self.covers]
        if self.alone is not None:
            d["alone"] = self.alone.to_dict(path)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Fix:
        return cls(
            description=d.get("description", ""),
            safety=d.get("safety", UNSAFE),
            edits=tuple(Edit(e["start"], e["end"], e["replacement"]) for e in d.get("edits", [])),
            covers=tuple((c["line"], c["column"]) for c in d.get("also_fixes", [])),
            alone=cls.from_dict(d["alone"]) if d.get("alone") else None,
        )


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    path: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    fingerprint: str = ""
    end_line: int | None = None
    end_column: int | None = None
    function: str | None = None  # enclosing function, part of the fingerprint
    snippet: str = ""  # the flagged source line, stripped
    fix: str | None = None  # a suggested replacement, in words or code (what text reports show)
    confidence: str = "high"
    # Patch mode only.
    patch: int | None = None
    subject: str | None = None
    fixed_by: int | None = None  # index of the later patch that removes it
    patch_line: int | None = None  # line of the added line in the patch file (checkpatch's #N)
    # Checking a version range: the releases the finding applies to ("6.3..6.12").
    versions: str | None = None
    # The patch's lines from the flagged statement's first line to the added
    # line the finding rests on, each with its "+" or " " and indentation.
    diff_lines: list[str] | None = None
    # The edits that resolve it, when they are mechanical (--fix).
    autofix: Fix | None = None
    # What the finding is about when the flagged line is only a spelling of
    # it: a change of a vma's flags as its vma and the flags it sets and
    # clears, so that respelling it on the same line (a direct write turned
    # into vm_flags_set()) keeps its identity and fingerprint.
    construct: str | None = None
    # Silenced by a ``daxlint: ignore`` comment: {"line": the comment's
    # line, "comment": its text}. Such a finding is counted and shown to
    # SARIF as suppressed, never reported as a finding.
    suppression: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        del d["autofix"]
        for optional in (
            "patch",
            "subject",
            "fixed_by",
            "patch_line",
            "diff_lines",
            "fix",
            "end_line",
            "end_column",
            "function",
            "versions",
            "construct",
            "suppression",
        ):
            if d[optional] is None:
                del d[optional]
        if self.autofix is not None:
            d["fix"] = {"text": self.fix or self.autofix.description, **self.autofix.to_dict(self.path)}
        elif self.fix is not None:
            d["fix"] = {"text": self.fix, "description": self.fix, "safety": DISPLAY_ONLY, "edits": []}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Finding:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["severity"] = Severity.parse(kw["severity"])
        fix = kw.get("fix")
        if isinstance(fix, dict):  # the structured form to_dict() writes
            kw["fix"] = fix.get("text") or fix.get("description")
            if fix.get("safety") in (SAFE, UNSAFE):
                kw["autofix"] = Fix.from_dict(fix)
        return cls(**kw)

    def sort_key(self):
        return (self.path, self.line, self.column, self.rule_id)


@dataclass
class Skipped:
    path: str
    reason: str
    # A path listed on standard input that does not exist (a file a diff
    # deleted): noted, but no code went unanalysed, so --strict lets it pass.
    missing: bool = False
    patch: int | None = None  # patch mode: the index of the patch whose file it was

    def to_dict(self) -> dict:
        d: dict = {"path": self.path, "reason": self.reason}
        if self.missing:
            d["missing"] = True
        return d


@dataclass
class InternalError:
    """A rule (or the parser) raised on one file; the run went on."""

    path: str
    rule_id: str | None
    message: str
    patch: int | None = None  # patch mode: the index of the patch whose file it was

    def to_dict(self) -> dict:
        return {"path": self.path, "rule_id": self.rule_id, "message": self.message}


@dataclass
class FileResult:
    """What the engine found in one file."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    parsed: bool = False
    # Findings a ``daxlint: ignore`` comment silenced (each with its suppression).
    suppressed: list[Finding] = field(default_factory=list)
    # Other files the verdict depends on (a directory's Kconfig, siblings),
    # with their signatures when analysed: a cached result is reused only
    # while they are unchanged.
    context: dict[str, object] = field(default_factory=dict)
    # Audit: no enabled rule could match the bytes, so nothing ran (a
    # verdict that holds for any kernel version), or the blob could not be read.
    unmatched: bool = False
    unreadable: str | None = None

    def to_payload(self) -> dict:
        """The result as stored by the result cache and the audit store
        (errors are never stored: a file that raised is analysed again)."""
        d = {"f": [f.to_dict() for f in self.findings], "s": [s.to_dict() for s in self.skipped], "p": self.parsed, "c": self.context}
        if self.suppressed:
            d["u"] = [f.to_dict() for f in self.suppressed]
        return d

    @classmethod
    def from_payload(cls, d: dict) -> FileResult:
        return cls(
            findings=[Finding.from_dict(f) for f in d["f"]],
            skipped=[Skipped(**s) for s in d.get("s", [])],
            parsed=d.get("p", False),
            context=d.get("c", {}),
            suppressed=[Finding.from_dict(f) for f in d.get("u", [])],
        )

    @property
    def needs_own_row(self) -> bool:
        """Whether a cache must store the result itself; an empty one is
        remembered by the file's stat row alone."""
        return bool(self.findings or self.skipped or self.context or self.suppressed)

    @property
    def is_empty(self) -> bool:
        """Nothing for the report, not even a parse to count."""
        return not (self.needs_own_row or self.errors or self.parsed)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    files_checked: int = 0
    files_parsed: int = 0
    kernel_version: str | None = None
    notes: list[str] = field(default_factory=list)
    # Findings ``daxlint: ignore`` comments silenced: counted in every
    # format's summary, SARIF results with suppressions; never findings.
    suppressed: list[Finding] = field(default_factory=list)

    def sort(self) -> None:
        self.findings.sort(key=Finding.sort_key)
        self.suppressed.sort(key=Finding.sort_key)
        self.skipped.sort(key=lambda s: s.path)

    def counts(self) -> dict[str, int]:
        c = {s.value: 0 for s in Severity}
        for f in self.findings:
            c[f.severity.value] += 1
        return c
