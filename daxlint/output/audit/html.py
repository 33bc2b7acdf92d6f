"""``daxlint audit --html``: a self-contained page (inline CSS and SVG)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from daxlint import __version__
from daxlint.audit.results import AuditResult, CommitAudit, family
from daxlint.model import Finding
from daxlint.output.audit import family_colour, family_label, summary_line
from daxlint.output.escape import printable_lines


def _nice_step(span: float, ticks: int = 5) -> int:
    raw = max(1.0, span / ticks)
    mag = 10 ** int(len(str(int(raw))) - 1)
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)


def chart_svg(result: AuditResult, width: int = 960, height: int = 300, prefix: str = "") -> str:
    """Open findings per family after each commit: step lines, one per
    family, with a mark under every commit that introduced findings.
    ``prefix`` goes before the commits' anchors (one chart per branch)."""
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

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Open findings per family over the audited commits" class="chart">'
    ]
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
                out.append(
                    f'<a href="#{prefix}c-{p["sha"][:12]}"><circle cx="{x(i):.1f}" cy="{y(p["open"].get(fam, 0)):.1f}" r="3.5" fill="{colour}">'
                    f"<title>{escape(tip)}</title></circle></a>"
                )
    for i in range(1, n):
        p = points[i]
        c = next((c for c in result.commits if c.sha == p["sha"]), None)
        if c is not None and c.introduced:
            tip = f"{c.sha[:12]} {c.date[:10]} {c.subject}\nintroduced {len(c.introduced)}"
            out.append(
                f'<a href="#{prefix}c-{c.sha[:12]}"><path d="M{x(i):.1f},{top + ph + 6} l-4,8 h8 z" class="mark"><title>{escape(tip)}</title></path></a>'
            )
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>')
    lx = left
    for fi, fam in enumerate(fams):
        out.append(f'<rect x="{lx}" y="8" width="12" height="12" rx="2" fill="{family_colour(fam, fi)}"/>')
        label = family_label(fam)
        out.append(f'<text x="{lx + 17}" y="18" class="legend">{escape(label)}</text>')
        lx += 30 + 7 * len(label)
    out.append(
        f'<path d="M{lx + 6},{9} l-5,10 h10 z" class="mark"/><text x="{lx + 16}" y="18" class="legend">commit that introduced findings</text>'
    )
    out.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 6}" class="tick" text-anchor="middle">commits, oldest to newest ({n - 1})</text>'
    )
    out.append("</svg>")
    return "".join(out)


def diff_link(template: str | None, sha: str, path: str, line: int) -> str | None:
    """An external link from ``template`` ({sha}, {path}, {line},
    {path_sha256} - GitHub's diff anchors hash the path)."""
    if not template:
        return None
    return template.format(sha=sha, path=path, line=line, path_sha256=hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest())


def environment():
    """The Jinja environment of the audit pages."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("daxlint.output.audit", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        # Every value a page shows: no terminal controls or bidi overrides
        # from a subject or a file (someone will cat the report).
        finalize=_shown,
    )


def _shown(value):
    """What a page shows of a value: printable_lines(), keeping markup
    (the chart) markup."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return Markup(printable_lines(str(value)))
    return printable_lines(value) if isinstance(value, str) else value


def range_context(result: AuditResult, excerpt, diff_url: str | None, budget: list[int], max_excerpts: int, prefix: str = "") -> dict:
    """What the template's range_body() shows of one range. ``budget`` is
    the diff excerpts still allowed (shared by the ranges of one page);
    ``prefix`` keeps anchors apart when a page shows several ranges."""
    from markupsafe import Markup

    from daxlint.core.registry import rule_by_id

    def event(c: CommitAudit, f: Finding, side: str, n: int) -> dict:
        ex = None
        if excerpt is not None and budget[0] > 0:
            ex = excerpt(c, f, side)
            budget[0] -= 1
        return {
            "f": f,
            "anchor": f"{prefix}x-{c.sha[:12]}-{side}-{n}",
            "still_open": f.fingerprint in c.still_open,
            "excerpt": ex,
            "url": diff_link(diff_url, c.sha, f.path, f.line) if side == "new" else None,
            "rule_name": (rule_by_id(f.rule_id).name if rule_by_id(f.rule_id) else ""),
        }

    commits = []
    for c in result.commits:
        if not (c.introduced or c.fixed or c.moved):
            continue
        commits.append(
            {
                "c": c,
                "anchor": f"{prefix}c-{c.sha[:12]}",
                "introduced": [event(c, f, "new", i) for i, f in enumerate(c.introduced)],
                "fixed": [event(c, f, "old", i) for i, f in enumerate(c.fixed)],
                "open_total": sum(c.open_after.values()),
                "url": diff_url.split("#", 1)[0].format(sha=c.sha, path="", line="", path_sha256="") if diff_url else None,
            }
        )
    totals = []
    for rid, row in result.rule_totals().items():
        cls = rule_by_id(rid)
        totals.append({"id": rid, "name": cls.name if cls else "", "family": family_label(family(rid)), **row})
    fams = result.families()
    points = result.timeline()
    family_rows = [
        {
            "label": family_label(f),
            "colour": family_colour(f, i),
            "start": points[0]["open"].get(f, 0) if points else 0,
            "end": points[-1]["open"].get(f, 0) if points else 0,
        }
        for i, f in enumerate(fams)
    ]
    return {
        "result": result,
        "summary": result.summary(),
        "chart": Markup(chart_svg(result, prefix=prefix)),
        "commits": commits,
        "totals": totals,
        "families": family_rows,
        "skipped": [c for c in result.commits if c.skipped],
        "excerpts_capped": budget[0] <= 0 and excerpt is not None,
        "max_excerpts": max_excerpts,
    }


def render_html(result: AuditResult, excerpt=None, diff_url: str | None = None, max_excerpts: int = 400) -> str:
    """The HTML report. ``excerpt(commit, finding, side)`` returns the diff
    lines around a finding (see daxlint.audit.diff_excerpt) or None."""
    template = environment().get_template("audit.html.j2")
    return template.render(
        result=result,
        range=range_context(result, excerpt, diff_url, [max_excerpts], max_excerpts),
        summary_line=summary_line(result),
        generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        version=__version__,
    )
