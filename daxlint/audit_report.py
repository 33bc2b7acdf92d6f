"""Renderers for ``daxlint audit``: plain text, JSON, CSV, the rich terminal
view (commit table, per-family timeline, rule totals) and a self-contained
HTML report (inline CSS and SVG, no scripts or fonts from elsewhere)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime

from daxlint import __version__
from daxlint.audit import FAMILY_NAMES, AuditResult, CommitAudit, family
from daxlint.model import Finding
from daxlint.output.text import finding_line

FAMILY_COLOURS = {"DAX0": "#7f7f7f", "DAX1": "#d62728", "DAX2": "#1f77b4", "DAX3": "#e67e00"}
_EXTRA_COLOURS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
SPARK = "▁▂▃▄▅▆▇█"


def family_label(fam: str) -> str:
    name = FAMILY_NAMES.get(fam)
    return f"{fam}xx {name}" if name else f"{fam}xx"


def family_colour(fam: str, i: int = 0) -> str:
    return FAMILY_COLOURS.get(fam, _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)])


def changed_commits(result: AuditResult) -> list[CommitAudit]:
    return [c for c in result.commits if c.introduced or c.fixed or c.moved or c.skipped]


def summary_line(result: AuditResult) -> str:
    s = result.summary()
    if not result.commits:
        return f"No commits in {result.range_text}."
    head = ", ".join(h[:12] for h in result.heads) or "the end"
    stored = f", {s['from_store']} from the store" if s["from_store"] else ""
    skipped = f", {s['skipped']} skipped" if s["skipped"] else ""
    rate = f" ({s['commits_per_second']:g} commits/s)" if s["commits_per_second"] else ""
    return (
        f"Audited {s['commits']} commit{'s' if s['commits'] != 1 else ''} of {result.range_text}{stored}{skipped} "
        f"in {result.elapsed:.1f}s{rate}: {s['introduced']} introduced in {s['introducing_commits']} "
        f"commit{'s' if s['introducing_commits'] != 1 else ''}, {s['fixed']} fixed, {s['moved']} moved; "
        f"{s['still_open']} of those introduced still open at {head} ({s['open_at_end']} open in all)."
    )


# -- text / json / csv --------------------------------------------------------


def render_text(result: AuditResult) -> str:
    out = []
    for c in changed_commits(result):
        out.append(f"{c.sha[:12]} {c.date[:10]} {c.author}: {c.subject}")
        if c.skipped:
            out.append(f"  skipped: {c.skipped}")
        if c.compared_whole_tree:
            out.append(f"  (whole tree compared: {c.compared_whole_tree})")
        for f in c.introduced:
            out.append(f"  + {finding_line(f)}{' [still open]' if f.fingerprint in c.still_open else ''}")
        for f in c.fixed:
            out.append(f"  - {finding_line(f)}")
        for m in c.moved:
            out.append(f"  ~ {m['rule_id']} moved {m['from']['path']}:{m['from']['line']} -> {m['to']['path']}:{m['to']['line']}")
        for e in c.errors:
            out.append(f"  internal error in {e.rule_id or 'daxlint'} on {e.path}: {e.message}")
    for note in result.notes:
        out.append(f"note: {note}")
    out.append(summary_line(result))
    return "\n".join(out) + "\n"


def render_json(result: AuditResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


CSV_COLUMNS = ["sha", "date", "author", "subject", "change", "rule_id", "severity", "path", "line", "column", "message", "fingerprint", "still_open", "moved_from"]


def render_csv(result: AuditResult) -> str:
    """One row per event: a finding introduced, fixed or moved by a commit,
    or a commit that could not be audited."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in result.commits:
        base = [c.sha, c.date, c.author, c.subject]
        if c.skipped:
            w.writerow(base + ["skipped", "", "", "", "", "", c.skipped, "", "", ""])
        for f in c.introduced:
            w.writerow(base + ["introduced", f.rule_id, f.severity.value, f.path, f.line, f.column, f.message, f.fingerprint,
                               "yes" if f.fingerprint in c.still_open else "no", ""])
        for f in c.fixed:
            w.writerow(base + ["fixed", f.rule_id, f.severity.value, f.path, f.line, f.column, f.message, f.fingerprint, "", ""])
        for m in c.moved:
            w.writerow(base + ["moved", m["rule_id"], "", m["to"]["path"], m["to"]["line"], "", m["message"], m["to"]["fingerprint"], "",
                               f"{m['from']['path']}:{m['from']['line']}"])
    return buf.getvalue()


# -- terminal (rich) --------------------------------------------------------------


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
            who = [c.author] if with_author else []
            if c.skipped:
                t.add_row(c.sha[:12], c.date[:10], *who, Text(f"skipped: {c.skipped}", style="magenta"), "", "", "")
                continue
            t.add_row(c.sha[:12], c.date[:10], *who, c.subject, str(len(c.introduced) or ""), str(len(c.fixed) or ""),
                      str(sum(c.open_after.values())))
        console.print(t)
        if len(changed) > len(shown):
            console.print(Text(f"({len(changed) - len(shown)} earlier commits not shown; --format json or --html has them all)", style="dim"))
        for c in shown:
            for f in c.introduced:
                line = Text(f"  {c.sha[:12]} ", style="dim")
                line.append("+ ", style="red")
                line.append(f"{f.path}:{f.line} ", style="bold")
                line.append(f"{f.rule_id} ", style="bold red" if f.severity.value == "error" else "yellow")
                line.append(f.message)
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
            rt.add_row(rid, cls.name if cls else "", str(row["introduced"]), str(row["fixed"]), str(row["moved"]), str(row["still_open"]), str(row["open_at_end"]))
        console.print(rt)
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    console.print(summary_line(result), style="bold")


# -- HTML ---------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> int:
    raw = max(1.0, span / ticks)
    mag = 10 ** int(len(str(int(raw))) - 1)
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)


def chart_svg(result: AuditResult, width: int = 960, height: int = 300) -> str:
    """Open findings per family after each commit: step lines, one per
    family, with a mark under every commit that introduced findings."""
    from markupsafe import escape

    points = result.timeline()
    fams = result.families()
    if len(points) < 2 or not fams:
        return ""
    left, right, top, bottom = 48, 16, 44, 58
    pw, ph = width - left - right, height - top - bottom
    n = len(points)
    ymax = max(1, max(p["open"].get(f, 0) for p in points for f in fams))
    step = _nice_step(ymax)
    ytop = ((ymax + step - 1) // step) * step

    def x(i: int) -> float:
        return left + (pw * i / (n - 1))

    def y(v: float) -> float:
        return top + ph - ph * v / ytop

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="Open findings per family over the audited commits" class="chart">']
    for v in range(0, ytop + 1, step):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v}</text>')
    ticks = min(n, 7)
    seen: set[int] = set()
    labels: set[str] = set()
    for k in range(ticks):
        i = round(k * (n - 1) / max(1, ticks - 1))
        label = points[i]["date"][:10]
        if i in seen or label in labels:
            continue
        seen.add(i)
        labels.add(label)
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        out.append(f'<text x="{x(i):.1f}" y="{top + ph + 34}" class="tick" text-anchor="{anchor}">{escape(label)}</text>')
    for fi, fam in enumerate(fams):
        colour = family_colour(fam, fi)
        d = []
        prev = None
        for i, p in enumerate(points):
            v = p["open"].get(fam, 0)
            if prev is None:
                d.append(f"M{x(i):.1f},{y(v):.1f}")
            else:
                d.append(f"H{x(i):.1f}V{y(v):.1f}")
            prev = v
        out.append(f'<path d="{"".join(d)}" fill="none" stroke="{colour}" stroke-width="2.2" class="series"/>')
        # Hover targets at the points where this family's count changed.
        for i in range(1, n):
            if points[i]["open"].get(fam, 0) != points[i - 1]["open"].get(fam, 0):
                p = points[i]
                tip = f"{p['sha'][:12]} {p['date'][:10]} {p['subject']}\n{family_label(fam)}: {points[i - 1]['open'].get(fam, 0)} → {p['open'].get(fam, 0)}"
                out.append(f'<a href="#c-{p["sha"][:12]}"><circle cx="{x(i):.1f}" cy="{y(p["open"].get(fam, 0)):.1f}" r="3.5" fill="{colour}">'
                           f"<title>{escape(tip)}</title></circle></a>")
    for i in range(1, n):
        p = points[i]
        c = next((c for c in result.commits if c.sha == p["sha"]), None)
        if c is not None and c.introduced:
            tip = f"{c.sha[:12]} {c.date[:10]} {c.subject}\nintroduced {len(c.introduced)}"
            out.append(f'<a href="#c-{c.sha[:12]}"><path d="M{x(i):.1f},{top + ph + 6} l-4,8 h8 z" class="mark"><title>{escape(tip)}</title></path></a>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>')
    lx = left
    for fi, fam in enumerate(fams):
        out.append(f'<rect x="{lx}" y="8" width="12" height="12" rx="2" fill="{family_colour(fam, fi)}"/>')
        label = family_label(fam)
        out.append(f'<text x="{lx + 17}" y="18" class="legend">{escape(label)}</text>')
        lx += 30 + 7 * len(label)
    out.append(f'<path d="M{lx + 6},{9} l-5,10 h10 z" class="mark"/><text x="{lx + 16}" y="18" class="legend">commit that introduced findings</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" class="tick" text-anchor="middle">commits, oldest to newest ({n - 1})</text>')
    out.append("</svg>")
    return "".join(out)


def diff_link(template: str | None, sha: str, path: str, line: int) -> str | None:
    """An external link from ``template`` ({sha}, {path}, {line},
    {path_sha256} - GitHub's diff anchors hash the path)."""
    if not template:
        return None
    return template.format(sha=sha, path=path, line=line, path_sha256=hashlib.sha256(path.encode()).hexdigest())


def render_html(result: AuditResult, excerpt=None, diff_url: str | None = None, max_excerpts: int = 400) -> str:
    """The HTML report. ``excerpt(commit, finding, side)`` returns the diff
    lines around a finding (see daxlint.audit.diff_excerpt) or None."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    from markupsafe import Markup

    from daxlint.core.registry import rule_by_id

    env = Environment(loader=PackageLoader("daxlint", "templates"), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    budget = [max_excerpts]

    def event(c: CommitAudit, f: Finding, side: str, n: int) -> dict:
        ex = None
        if excerpt is not None and budget[0] > 0:
            ex = excerpt(c, f, side)
            budget[0] -= 1
        return {
            "f": f,
            "anchor": f"x-{c.sha[:12]}-{side}-{n}",
            "still_open": f.fingerprint in c.still_open,
            "excerpt": ex,
            "url": diff_link(diff_url, c.sha, f.path, f.line) if side == "new" else None,
            "rule_name": (rule_by_id(f.rule_id).name if rule_by_id(f.rule_id) else ""),
        }

    commits = []
    for c in result.commits:
        if not (c.introduced or c.fixed or c.moved):
            continue
        commits.append({
            "c": c,
            "anchor": f"c-{c.sha[:12]}",
            "introduced": [event(c, f, "new", i) for i, f in enumerate(c.introduced)],
            "fixed": [event(c, f, "old", i) for i, f in enumerate(c.fixed)],
            "open_total": sum(c.open_after.values()),
            "url": diff_url.split("#", 1)[0].format(sha=c.sha, path="", line="", path_sha256="") if diff_url else None,
        })
    totals = []
    for rid, row in result.rule_totals().items():
        cls = rule_by_id(rid)
        totals.append({"id": rid, "name": cls.name if cls else "", "family": family_label(family(rid)), **row})
    fams = result.families()
    points = result.timeline()
    family_rows = [{"label": family_label(f), "colour": family_colour(f, i),
                    "start": points[0]["open"].get(f, 0) if points else 0, "end": points[-1]["open"].get(f, 0) if points else 0}
                   for i, f in enumerate(fams)]
    template = env.get_template("audit.html.j2")
    return template.render(
        result=result,
        summary=result.summary(),
        summary_line=summary_line(result),
        chart=Markup(chart_svg(result)),
        commits=commits,
        totals=totals,
        families=family_rows,
        skipped=[c for c in result.commits if c.skipped],
        excerpts_capped=budget[0] <= 0 and excerpt is not None,
        max_excerpts=max_excerpts,
        generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        version=__version__,
    )
