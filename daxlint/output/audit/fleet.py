"""``daxlint audit`` over many branches (``--refs``, ``--since``, several
ranges): each branch's report as for one range, what is open at its tip,
the backports it is missing, and a summary of the fleet - as text, JSON,
CSV, HTML and on a terminal."""

from __future__ import annotations

import io
import json
from datetime import datetime

from daxlint import __version__
from daxlint.audit.fleet import BranchResult, FleetResult, MissingBackport
from daxlint.output.audit import counted
from daxlint.output.audit.csv_out import CSV_COLUMNS, SafeWriter, event_rows, finding_cells
from daxlint.output.audit.html import environment, range_context
from daxlint.output.audit.text import commit_lines
from daxlint.output.escape import json_safe, printable
from daxlint.output.text import finding_line, suppressed_text


def fleet_summary_line(fleet: FleetResult) -> str:
    s = fleet.summary()
    stored = f", {s['from_store']} from the store" if s["from_store"] else ""
    rate = f" ({s['commits_per_second']:g} commits/s)" if s["commits_per_second"] else ""
    silenced = f"; {suppressed_text(s['suppressed'])}" if s["suppressed"] else ""
    return (
        f"Audited {counted(s['branches'], 'branch', 'branches')} ({counted(s['commits'], 'distinct commit')}{stored}) "
        f"in {fleet.elapsed:.1f}s{rate}: {s['introduced']} introduced, {s['fixed']} fixed, "
        f"{s['open_at_tips']} open at the tips, {counted(s['missing_backports'], 'missing backport')}{silenced}."
    )


def branch_line(b: BranchResult) -> str:
    s = b.summary()
    open_ = "unknown" if s["open_at_tip"] is None else str(s["open_at_tip"])
    return (
        f"{printable(b.branch.name)} ({printable(b.branch.range_text)}): {counted(s['commits'], 'commit')}, {s['introduced']} introduced, "
        f"{s['fixed']} fixed, {open_} open at the tip, {counted(s['missing_backports'], 'missing backport')}"
    )


def fixed_in_text(m: MissingBackport) -> list[str]:
    return [
        f"{x.commit.sha[:12]} {x.commit.date[:10]} {printable(x.commit.author)}: {printable(x.commit.subject)} "
        f"(in {printable(', '.join(x.branches))})"
        for x in m.fixed_in
    ]


def render_fleet_text(fleet: FleetResult) -> str:
    out = []
    for b in fleet.branches:
        out.append(f"== {branch_line(b)}")
        out.extend(commit_lines(b.result))
        if b.open_at_tip:
            out.append(f"open at the tip of {printable(b.branch.name)}:")
            out.extend(f"  {finding_line(f)}" for f in b.open_at_tip)
        out.append("")
    missing = fleet.missing_backports()
    if missing:
        out.append("Missing backports (open at the branch's tip, fixed on another branch):")
        for m in missing:
            out.append(f"  {printable(m.branch)}: {finding_line(m.finding)}")
            out.extend(f"    fixed by {line}" for line in fixed_in_text(m))
    for note in fleet.notes:
        out.append(f"note: {printable(note)}")
    out.append(fleet_summary_line(fleet))
    return "\n".join(out) + "\n"


def render_fleet_json(fleet: FleetResult) -> str:
    return json.dumps(json_safe(fleet.to_dict()), indent=2) + "\n"


FLEET_CSV_COLUMNS = ["branch", *CSV_COLUMNS, "fixed_in"]


def render_fleet_csv(fleet: FleetResult) -> str:
    """The one-range CSV's rows with the branch in front, then per branch a
    row for each finding open at its tip ("open") and each missing
    backport ("missing-backport", ``fixed_in``: the fixing commits and
    their branches)."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(FLEET_CSV_COLUMNS)
    for b in fleet.branches:
        name = b.branch.name
        for row in event_rows(b.result):
            w.writerow([name, *row, ""])
        tip = next((c for c in b.result.commits if c.sha == b.tip), None)
        base = [b.tip or "", tip.date if tip else "", tip.author if tip else "", tip.subject if tip else ""]

        def finding_row(f, change, fixed_in="", base=base, name=name):
            return [name, *base, *finding_cells(f, change), fixed_in]

        for f in b.open_at_tip or []:
            w.writerow(finding_row(f, "open"))
        for m in b.missing_backports:
            fixed = "; ".join(f"{x.commit.sha} ({', '.join(x.branches)})" for x in m.fixed_in)
            w.writerow(finding_row(m.finding, "missing-backport", fixed))
    return buf.getvalue()


def render_fleet_html(fleet: FleetResult, excerpt=None, diff_url: str | None = None, max_excerpts: int = 400) -> str:
    """One page: the fleet's summary, the missing backports, then each
    branch's report as the one-range page shows it (anchors prefixed with
    the branch's number, so a commit on two branches has two)."""
    budget = [max_excerpts]
    branches = []
    for i, b in enumerate(fleet.branches):
        prefix = f"b{i}-"
        branches.append(
            {
                "b": b,
                "anchor": f"b{i}",
                "line": branch_line(b),
                "range": range_context(b.result, excerpt, diff_url, budget, max_excerpts, prefix),
                "prefix": prefix,
            }
        )
    anchors = {b.branch.name: f"b{i}" for i, b in enumerate(fleet.branches)}
    template = environment().get_template("fleet.html.j2")
    return template.render(
        fleet=fleet,
        summary=fleet.summary(),
        branches=branches,
        anchors=anchors,
        missing=fleet.missing_backports(),
        summary_line=fleet_summary_line(fleet),
        generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        version=__version__,
    )


def print_fleet(fleet: FleetResult, console=None) -> None:
    """The fleet on a terminal: a row per branch, the missing backports."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    t = Table(title="Branches", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("branch", "range", "commits", "+", "-", "still open", "open at tip", "missing backports"):
        t.add_column(col, justify="left" if col in ("branch", "range") else "right", no_wrap=col != "range")
    for b in fleet.branches:
        s = b.summary()
        t.add_row(
            Text(printable(b.branch.name), style="bold"),
            Text(printable(b.branch.range_text)),
            str(s["commits"]),
            Text(str(s["introduced"] or ""), style="red"),
            Text(str(s["fixed"] or ""), style="green"),
            str(s["still_open"]),
            "?" if s["open_at_tip"] is None else str(s["open_at_tip"]),
            Text(str(s["missing_backports"] or ""), style="bold red"),
        )
    console.print(t)
    missing = fleet.missing_backports()
    if missing:
        console.print()
        console.print(Text("Missing backports (open at the branch's tip, fixed on another branch)", style="bold"))
        for m in missing:
            line = Text(f"  {printable(m.branch)}: ", style="bold")
            line.append(f"{printable(m.finding.path)}:{m.finding.line} ")
            line.append(f"{m.finding.rule_id} ", style="bold red" if m.finding.severity.value == "error" else "yellow")
            line.append(printable(m.finding.message))
            console.print(line, overflow="ellipsis", no_wrap=True)
            for fixed in fixed_in_text(m):
                console.print(Text(f"    fixed by {fixed}", style="green"), overflow="ellipsis", no_wrap=True)
    console.print()
    console.print(Text("Each branch's commits: --format text, json or csv, or --html.", style="dim"))
    for note in fleet.notes:
        console.print(Text(f"note: {printable(note)}", style="dim"))
    console.print(Text(fleet_summary_line(fleet), style="bold"))
