import re

from daxlint.core.registry import all_rules
from daxlint.core.rule import Rule
from daxlint.model import SAFE, UNSAFE, Edit, Fix, Severity


class UnusedSuppression(Rule):
    """
    ## What it does
    Reports a `daxlint: ignore` comment that silenced no finding in this run.

    ## Why is this bad
    Suppressions outlive the code they were written for. A stale one hides
    the next real finding on that line, and readers keep wondering what the
    exception was for. The engine runs every other enabled rule first and
    then reports each suppression comment that covered none of their
    findings; a suppression naming only disabled rules is not reported.

    ## Example
    ```c
    /* daxlint: ignore[DAX301] */
    vm_flags_set(vma, VM_HUGEPAGE);   /* already uses the wrapper */
    ```

    ## Use instead
    Delete the comment, or narrow it to the rule that still fires:
    ```c
    vm_flags_set(vma, VM_HUGEPAGE);
    ```

    ## References
    - ruff's RUF100 (unused `noqa`) and Bandit's unused `# nosec` report, which this mirrors.
    """

    id = "DAX001"
    name = "unused-suppression"
    severity = Severity.INFO
    summary = "A daxlint: ignore comment that suppresses nothing"
    tokens = (b"daxlint",)
    file_kinds = ("c", "kconfig")
    reports_unused_suppressions = True
    fix_safety = "safe"
    fix_note = (
        "The fix deletes the comment - its whole line when nothing else is on it - if the comment holds nothing "
        "but the suppression. It is unsafe for a bare `daxlint: ignore` and for one naming rules the run did not "
        "enable: those may still be needed by the rules left out."
    )

    def check(self, ctx):
        # Nothing to find on its own: the engine calls report_unused() after
        # the other rules ran, because only then is a suppression known unused.
        return None

    def report_unused(self, ctx, unused):
        for s in unused:
            which = "any rule" if s.rules is None else ", ".join(s.rules)
            ctx.report(
                None,
                f"unused suppression '{s.text}': no finding of {which} on this line or the next",
                line=s.line,
                column=s.column,
                fix="remove the comment",
                autofix=_removal(ctx, s),
            )


_COMMENT_MARKS = re.compile(r"^\s*(?:/\*|//|#)\s*(.*?)\s*(?:\*/)?\s*$", re.S)


def _removal(ctx, s) -> Fix | None:
    """Delete a comment that is only the suppression: its line when it
    stands alone, else the comment and the white space before (or after) it."""
    data = ctx.source.original
    if s.start < 0 or s.end > len(data):
        return None
    comment = data[s.start : s.end].decode("utf-8", "replace")
    m = _COMMENT_MARKS.match(comment)
    if not m or m.group(1) != s.text:
        return None  # the comment says more than the suppression
    line_start = data.rfind(b"\n", 0, s.start) + 1
    nl = data.find(b"\n", s.end)
    line_end = len(data) if nl < 0 else nl
    before, after = data[line_start : s.start], data[s.end : line_end]
    if not before.strip() and not after.strip():
        edit = Edit(line_start, line_end + (1 if nl >= 0 else 0), "")
    elif not after.strip():
        edit = Edit(s.start - (len(before) - len(before.rstrip())), line_end, "")
    else:
        edit = Edit(s.start, s.end + (len(after) - len(after.lstrip(b" \t"))), "")
    everything = {r.id for r in all_rules()}
    if s.rules is None:
        complete = everything <= ctx.enabled
    else:
        complete = bool(s.rules) and all({i for i in everything if i.startswith(r)} <= ctx.enabled for r in s.rules)
    if complete:
        return Fix("Remove the unused suppression", SAFE, (edit,))
    return Fix("Remove the unused suppression: unsafe, it may be meant for rules this run did not check", UNSAFE, (edit,))
