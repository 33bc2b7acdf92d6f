"""Renderers for ``daxlint audit``: plain text and JSON (text.py), CSV
(csv_out.py), the rich terminal view (rich_view.py: commit table,
per-family timeline, rule totals) and a self-contained HTML report (html.py:
inline CSS and SVG, no scripts or fonts from elsewhere). What they share:
family names and colours, the commits worth showing, the summary line."""

from __future__ import annotations

from daxlint.audit.results import FAMILY_NAMES, AuditResult, CommitAudit
from daxlint.output.text import suppressed_text

FAMILY_COLOURS = {"DAX0": "#7f7f7f", "DAX1": "#d62728", "DAX2": "#1f77b4", "DAX3": "#e67e00"}
_EXTRA_COLOURS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
SPARK = "▁▂▃▄▅▆▇█"


def family_label(fam: str) -> str:
    name = FAMILY_NAMES.get(fam)
    return f"{fam}xx {name}" if name else f"{fam}xx"


def family_colour(fam: str, i: int = 0) -> str:
    return FAMILY_COLOURS.get(fam, _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)])


def changed_commits(result: AuditResult) -> list[CommitAudit]:
    return [c for c in result.commits if c.introduced or c.fixed or c.moved or c.suppressed or c.skipped]


def counted(count: int, word: str, plural: str | None = None) -> str:
    """'1 commit', '2 commits', '3 branches'."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def summary_line(result: AuditResult) -> str:
    s = result.summary()
    if not result.commits:
        return f"No commits in {result.range_text}."
    head = ", ".join(h[:12] for h in result.heads) or "the end"
    stored = f", {s['from_store']} from the store" if s["from_store"] else ""
    skipped = f", {s['skipped']} skipped" if s["skipped"] else ""
    rate = f" ({s['commits_per_second']:g} commits/s)" if s["commits_per_second"] else ""
    silenced = f"; {suppressed_text(s['suppressed'])}" if s["suppressed"] else ""
    return (
        f"Audited {counted(s['commits'], 'commit')} of {result.range_text}{stored}{skipped} "
        f"in {result.elapsed:.1f}s{rate}: {s['introduced']} introduced in {counted(s['introducing_commits'], 'commit')}, "
        f"{s['fixed']} fixed, {s['moved']} moved; "
        f"{s['still_open']} of those introduced still open at {head} ({s['open_at_end']} open in all){silenced}."
    )
