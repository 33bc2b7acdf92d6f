"""The rule API. A rule is one class in one file under rules/: its metadata
as class attributes, its doc as the class docstring (Markdown with the fixed
headings), and ``check()``."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tree_sitter import Node

from daxlint.core.syntax import enclosing_function, function_name
from daxlint.model import Finding, Fix, Severity
from daxlint.version import KernelVersion

if TYPE_CHECKING:
    from daxlint.core.kernel import KernelContext
    from daxlint.core.source import SourceFile

DOC_HEADINGS = ("What it does", "Why is this bad", "Example", "Use instead", "References")


class Rule:
    id: ClassVar[str]
    name: ClassVar[str]  # kebab-case, e.g. "direct-vm-flags-write"
    severity: ClassVar[Severity]
    confidence: ClassVar[str] = "high"  # high | medium | low
    summary: ClassVar[str]
    # Bytes of which at least one must occur in a file for the rule to run on
    # it: the engine's prefilter. Empty means "run on every file".
    tokens: ClassVar[tuple[bytes, ...]] = ()
    # Bytes of which one must occur in a file the tokens declined before
    # could_match_in() is asked: looked for in the same prefilter pass.
    module_tokens: ClassVar[tuple[bytes, ...]] = ()
    aliases: ClassVar[tuple[str, ...]] = ()
    # Which files the rule reads: "c" (.c/.h, parsed with tree-sitter) or
    # "kconfig" (Kconfig* files, text only; ctx.source.tree is not built).
    file_kinds: ClassVar[tuple[str, ...]] = ("c",)
    # Releases at which the rule's verdict changes other than through the
    # catalog (checking a range runs it on each side of them).
    version_thresholds: ClassVar[tuple[KernelVersion, ...]] = ()
    # True only for DAX001: it reports on the other rules' suppressions after
    # they ran, so on its own it never makes a file worth parsing.
    reports_unused_suppressions: ClassVar[bool] = False
    # What --fix does with the rule's findings - "safe", "unsafe" (only with
    # --unsafe-fixes) or "none" - and why, for `daxlint explain`.
    fix_safety: ClassVar[str] = "none"
    fix_note: ClassVar[str] = ""

    def check(self, ctx: RuleContext) -> Iterable[Finding] | None:
        raise NotImplementedError

    def could_match(self, data: bytes) -> bool:
        """A second look at a file whose tokens occur, still on its bytes and
        before anything is parsed: False when the rule cannot fire there.
        Worth overriding when the token is common and the pattern is not
        (vm_flags is read in hundreds of kernel files, written in fewer than
        half of them); it must never say False where check() would report."""
        return True

    def could_apply(self, kernel: KernelContext) -> bool:
        """Whether the rule can report anything for some version ``kernel``
        checks (a 7.x rule on a 6.1 tree cannot): False spares every file
        of the run its byte test and its parse. Ask the catalog of the
        versions (``catalog_for(kernel.whole_range.last)``), never a
        hard-coded number."""
        return True

    def could_need_module(self, data: bytes) -> bool:
        """The half of could_match_in() that reads only ``data``: False when
        no module around the file could make it a finding. What decides,
        without the tree, whether a file needs analysing at all (an audit
        keeps that answer by content)."""
        return False

    def could_match_in(self, data: bytes, kernel: KernelContext, abspath: str) -> bool:
        """A second chance for a file ``could_match()`` (or the tokens)
        declined, with the file's module in view: True when a helper of its
        headers or other files may make it a finding after all. Cheap: a
        look at bytes the kernel reader gives, nothing parsed."""
        return False

    def context_files(self, path: str) -> list[str]:
        """Files besides ``path`` whose content changes this rule's verdict on
        it (e.g. the directory's Kconfig); a cached result is reused only while
        they, and the directories holding them, are unchanged."""
        return []

    @classmethod
    def doc(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def family(cls) -> str:
        return cls.id[:4]

    @classmethod
    def metadata(cls) -> dict:
        return {
            "id": cls.id,
            "name": cls.name,
            "severity": cls.severity.value,
            "confidence": cls.confidence,
            "summary": cls.summary,
            "aliases": list(cls.aliases),
            "fix": {"safety": cls.fix_safety, "note": cls.fix_note},
        }

    @classmethod
    def fix_section(cls) -> str:
        """The "## Fix" section `daxlint explain` adds to the doc."""
        what = {"safe": "Fix: safe, applied by --fix.", "unsafe": "Fix: unsafe, applied only with --fix --unsafe-fixes."}.get(
            cls.fix_safety, "Fix: none, --fix leaves these findings alone."
        )
        return f"## Fix\n\n{what} {cls.fix_note}".rstrip()


class RuleContext:
    """What a rule sees while it checks one file."""

    def __init__(self, rule: Rule, source: SourceFile, kernel: KernelContext, abspath: str | None, enabled: frozenset[str] | None = None):
        self.rule = rule
        self.source = source
        self.kernel = kernel
        self.abspath = abspath  # None for in-memory sources (patch hunks)
        self.findings: list[Finding] = []
        # The ids of the rules this run checks: a rule whose finding would
        # repeat another's on the same construct can hand its reason over.
        self.enabled = enabled if enabled is not None else frozenset({rule.id})

    @property
    def tree_relpath(self) -> str:
        """The file's path relative to the top of the kernel tree when both
        are known (for rules that treat e.g. tools/ differently), else the
        path as shown."""
        root = self.kernel.root
        if root is not None and self.abspath is not None:
            try:
                return str(Path(self.abspath).resolve().relative_to(Path(root).resolve()))
            except ValueError:
                pass
        return self.source.path

    @property
    def partial(self) -> bool:
        """The file is known only in part (a patch's hunks and their context,
        without the tree): a rule that concludes from something *missing*
        must not conclude it from what it cannot see."""
        return self.abspath is not None and not self.kernel.knows(self.abspath)

    @property
    def version(self):
        return self.kernel.effective_version

    @property
    def catalog(self):
        return self.kernel.catalog

    def report(
        self,
        node: Node | None,
        message: str,
        *,
        severity: Severity | None = None,
        line: int | None = None,
        column: int | None = None,
        fix: str | None = None,
        confidence: str | None = None,
        autofix: Fix | None = None,
        construct: str | None = None,
    ) -> Finding:
        """Record a finding at ``node`` (or an explicit line/column).
        ``fix`` says in words or code what to change; ``autofix`` gives the
        edits (byte offsets in the file as written) when they are mechanical;
        ``construct`` names what the line spells (Finding.construct)."""
        if node is not None:
            line = node.start_point[0] + 1 if line is None else line
            column = node.start_point[1] + 1 if column is None else column
            end_line, end_column = node.end_point[0] + 1, node.end_point[1] + 1
            fn = enclosing_function(node)
            func = function_name(fn) if fn is not None else None
        else:
            end_line = end_column = None
            func = None
        line = line or 1
        f = Finding(
            rule_id=self.rule.id,
            severity=severity or self.rule.severity,
            path=self.source.path,
            line=line,
            column=column or 1,
            message=message,
            end_line=end_line,
            end_column=end_column,
            function=func,
            snippet=self.source.line_text(line).strip(),
            fix=fix,
            confidence=confidence or self.rule.confidence,
            autofix=autofix,
            construct=construct,
        )
        self.findings.append(f)
        return f


def rule_classes_in(module) -> list[type[Rule]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__ and hasattr(obj, "id")
    ]
