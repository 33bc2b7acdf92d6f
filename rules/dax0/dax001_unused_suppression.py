from daxlint.core.rule import Rule
from daxlint.model import Severity


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
            )
