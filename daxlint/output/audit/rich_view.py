"""``daxlint audit`` on a terminal, drawn with rich."""

from __future__ import annotations

from daxlint.audit.results import AuditResult
from daxlint.output.audit import SPARK, changed_commits, family_colour, family_label, summary_line
from daxlint.output.escape import plain, printable


def sparkline(values: list[int], width: int) -> str:
    """``values`` squeezed into ``width`` cells (the last value of each cell)."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[min(len(values) - 1, (i + 1) * len(values) // width - 1)] for i in range(width)]
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[0 if hi == 0 else 3] * len(values)
    return "".join(SPARK[round((v - lo) * (len(SPARK) - 1) / (hi - lo))] for v in values)


def _marks(result: AuditResult, width: int) -> str:
    """A cell per commit (or group of commits): ▲ where findings came in."""
    audited = [c for c in result.commits if not c.skipped]
    flags = [False] + [bool(c.introduced) for c in audited]  # the first point is the range's start
    if len(flags) > width:
        flags = [any(flags[i * len(flags) // width : (i + 1) * len(flags) // width]) for i in range(width)]
    return "".join("▲" if f else "·" for f in flags)


def print_audit(result: AuditResult, console=None, max_rows: int = 200) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    changed = changed_commits(result)
    if changed:
        t = Table(title="Commits that changed findings", title_justify="left", show_edge=False, pad_edge=False)
        # The subject gives way on narrow terminals (the author goes first);
        # ids, dates and counts never do.
        with_author = console.width >= 110
        fixed_width = 12 + 10 + 3 + 3 + 4 + 3 * 6 + (21 if with_author else 0)
        t.add_column("commit", style="bold", no_wrap=True, min_width=12)
        t.add_column("date", no_wrap=True, min_width=10)
        if with_author:
            t.add_column("author", overflow="ellipsis", no_wrap=True, max_width=18)
        t.add_column("subject", overflow="ellipsis", no_wrap=True, max_width=max(12, min(60, console.width - fixed_width)))
        t.add_column("+", justify="right", style="red", no_wrap=True, min_width=3)
        t.add_column("-", justify="right", style="green", no_wrap=True, min_width=3)
        t.add_column("open", justify="right", no_wrap=True, min_width=4)
        shown = changed[-max_rows:]
        for c in shown:
            # Subjects and names are the commits' own text: never rich markup
            # ("[media] ..." is a subsystem prefix, '[/bold]' an error).
            who = [plain(c.author)] if with_author else []
            if c.skipped:
                t.add_row(c.sha[:12], plain(c.date[:10]), *who, plain(f"skipped: {c.skipped}", "magenta"), "", "", "")
                continue
            t.add_row(
                c.sha[:12],
                plain(c.date[:10]),
                *who,
                plain(c.subject),
                str(len(c.introduced) or ""),
                str(len(c.fixed) or ""),
                str(sum(c.open_after.values())),
            )
        console.print(t)
        if len(changed) > len(shown):
            console.print(
                Text(f"({len(changed) - len(shown)} earlier commits not shown; --format json or --html has them all)", style="dim")
            )
        for c in shown:
            for f in c.introduced:
                line = Text(f"  {c.sha[:12]} ", style="dim")
                line.append("+ ", style="red")
                line.append(f"{printable(f.path)}:{f.line} ", style="bold")
                line.append(f"{f.rule_id} ", style="bold red" if f.severity.value == "error" else "yellow")
                line.append(printable(f.message))
                if f.fingerprint in c.still_open:
                    line.append("  [still open]", style="bold")
                console.print(line, overflow="ellipsis", no_wrap=True)
        console.print()
    points = result.timeline()
    fams = result.families()
    if len(points) > 1 and fams:
        width = max(10, min(60, console.width - 40))
        tl = Table(title=f"Open findings over {len(points) - 1} commits", title_justify="left", show_edge=False, pad_edge=False)
        tl.add_column("family")
        tl.add_column("start", justify="right")
        tl.add_column("timeline")
        tl.add_column("end", justify="right")
        for i, fam in enumerate(fams):
            values = [p["open"].get(fam, 0) for p in points]
            tl.add_row(family_label(fam), str(values[0]), Text(sparkline(values, width), style=family_colour(fam, i)), str(values[-1]))
        tl.add_row(Text("introducing commits", style="dim"), "", Text(_marks(result, width), style="red"), "")
        console.print(tl)
        console.print()
    totals = result.rule_totals()
    if totals:
        from daxlint.core.registry import rule_by_id

        rt = Table(title="Per rule", title_justify="left", show_edge=False, pad_edge=False)
        for col in ("rule", "name", "introduced", "fixed", "moved", "still open", "open at end"):
            rt.add_column(col, justify="left" if col in ("rule", "name") else "right")
        for rid, row in totals.items():
            cls = rule_by_id(rid)
            rt.add_row(
                rid,
                cls.name if cls else "",
                str(row["introduced"]),
                str(row["fixed"]),
                str(row["moved"]),
                str(row["still_open"]),
                str(row["open_at_end"]),
            )
        console.print(rt)
    for note in result.notes:
        console.print(plain(f"note: {note}", "dim"))
    console.print(plain(summary_line(result), "bold"))


# -- HTML ---------------------------------------------------------------------------
