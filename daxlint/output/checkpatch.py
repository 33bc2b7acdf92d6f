"""checkpatch.pl's report shape, so kernel developers read it without
thinking: ``ERROR:TYPE: message`` then ``#N: FILE: path:line:`` and the line,
and a closing ``total:`` line. Info findings print as CHECK."""

from __future__ import annotations

from itertools import groupby

from daxlint.model import Report, Severity
from daxlint.output.escape import printable
from daxlint.output.text import fix_hint, fix_lines
from daxlint.version import short_versions

_LEVEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "CHECK"}


def _one(f, terse: bool, show_types: bool, checked: str | None = None, input_name: str | None = None, showfile: bool = False) -> list[str]:
    """One finding. In patch mode checkpatch gives positions in its input
    (``input_name``: ``-`` for standard input, or the mail file), so a terse
    line starts ``-:12:``; with ``showfile`` both forms start with the
    patched file's position and the ``#N: FILE:`` line goes."""
    kind = f"{_LEVEL[f.severity]}:{f.rule_id}:" if show_types else f"{_LEVEL[f.severity]}:"
    path, message = printable(f.path), printable(f.message + short_versions(f.versions, checked))
    hint = fix_hint(f)
    lineno = f.patch_line if getattr(f, "patch_line", None) else f.line
    if terse:
        where = f"{printable(input_name)}:{lineno}" if input_name is not None and not showfile else f"{path}:{f.line}"
        return [f"{where}: {kind} {message}" + (f" (fix: {printable(hint)})" if hint else "")]
    if showfile:
        out = [f"{path}:{f.line}: {kind} {message}"]
    else:
        out = [f"{kind} {message}", f"#{lineno}: FILE: {path}:{f.line}:"]
    if f.diff_lines:  # patch mode: the patch's own lines, with their prefixes and indentation
        out.extend(printable(ln) for ln in f.diff_lines)
    elif f.snippet:
        out.append(f"+{printable(f.snippet)}")
    if hint:
        out.extend(fix_lines(hint, ""))
    if f.fixed_by:
        out.append(f"(removed again by patch {f.fixed_by} of this series)")
    out.append("")
    return out


def _notes(report: Report) -> list[str]:
    """Skipped files and internal errors: a file daxlint could not analyse
    is never silent."""
    out = [f"NOTE: skipped {printable(s.path)}: {printable(s.reason)}" for s in report.skipped]
    out += [f"NOTE: internal error in {e.rule_id or 'daxlint'} on {printable(e.path)}: {printable(e.message)}" for e in report.errors]
    return out


def totals(findings, suppressed: int = 0) -> str:
    e = sum(f.severity is Severity.ERROR for f in findings)
    w = sum(f.severity is Severity.WARNING for f in findings)
    c = sum(f.severity is Severity.INFO for f in findings)
    return f"total: {e} errors, {w} warnings, {c} checks" + (f", {suppressed} suppressed" if suppressed else "")


def _series_totals(findings, lines_checked: int, suppressed: int = 0) -> str:
    e = sum(f.severity is Severity.ERROR for f in findings)
    w = sum(f.severity is Severity.WARNING for f in findings)
    c = sum(f.severity is Severity.INFO for f in findings)
    checks = f"{c} checks, " if c else ""
    silenced = f"{suppressed} suppressed, " if suppressed else ""
    return f"total: {e} errors, {w} warnings, {checks}{silenced}{lines_checked} lines checked"


def _input_name(p: dict) -> str:
    """checkpatch's name for the input a patch came from: ``-`` for
    standard input, the commit for ``--git``, else the file."""
    source = p.get("source") or "-"
    if source == "<stdin>":
        return "-"
    return source.split()[1] if source.startswith("Commit ") else source


def render_series(
    report: Report,
    patches: list[dict],
    terse: bool = False,
    show_types: bool = True,
    quiet: bool = False,
    summary: bool = True,
    mailback: bool = False,
    showfile: bool = False,
) -> str:
    """One section per patch, as checkpatch.pl prints several files or a
    ``--git`` range: a dashed header with the patch's name (its file, or
    ``Commit <sha12> ("subject")``) when there is more than one, the
    findings, ``total: ... lines checked`` and a verdict. checkpatch's
    output options: ``terse`` keeps one line per finding and implies
    ``quiet``, which drops the notes, the verdicts and the totals of clean
    patches; ``summary=False`` drops every ``total:`` line; ``mailback``
    prints nothing for a clean patch; ``showfile`` gives the patched
    file's positions instead of the input's (see _one()). Input with no
    patch at all (a cover letter or a reply given alone) prints its notes,
    except with ``mailback`` (checkpatch is silent there too)."""
    out: list[str] = []
    quiet = quiet or terse
    if not patches and not mailback:
        out += [f"NOTE: {printable(note)}" for note in report.notes]
    shown = [p for p in patches if not mailback or any(f.patch == p["index"] for f in report.findings)]
    many = len(shown) > 1
    for p in shown:
        found = [f for f in report.findings if f.patch == p["index"]]
        name = printable(p["name"])
        if many and not terse:
            out += ["-" * len(name), name, "-" * len(name)]
        for f in found:
            out.extend(_one(f, terse, show_types, report.kernel_version, _input_name(p), showfile))
        if not quiet:
            for note in p.get("notes", []):
                out += [f"NOTE: {printable(note)}", ""]
        if summary and (found or not quiet):
            silenced = sum(f.patch == p["index"] for f in report.suppressed)
            out.append(_series_totals(found, p.get("lines_checked", 0), silenced))
        if not quiet:
            out.append("")
            incomplete = any(x.patch == p["index"] for x in (*report.skipped, *report.errors))
            if found:
                verdict = "has DAX policy problems, please review."
            elif incomplete:
                verdict = "was not checked completely (see the notes): no verdict."
            else:
                verdict = "has no obvious DAX policy problems."
            out += [f"{name} {verdict}", ""]
    out.extend(_notes(report))
    text = "\n".join(out).rstrip("\n")
    return text + "\n" if text else ""


def render(
    report: Report,
    terse: bool = False,
    show_types: bool = True,
    lines_checked: int | None = None,
    patches: list[dict] | None = None,
    patch_style: dict | None = None,
) -> str:
    """The report; ``patches`` (patch mode) gives one section per patch,
    shaped by ``patch_style`` (render_series()' checkpatch options)."""
    if patches is not None:  # patch mode
        return render_series(report, patches, terse, show_types, **(patch_style or {}))
    out: list[str] = []
    patched = any(f.patch for f in report.findings)
    if patched:
        for (idx, subject), group in groupby(
            sorted(report.findings, key=lambda f: (f.patch or 0, f.path, f.line)), key=lambda f: (f.patch, f.subject)
        ):
            group = list(group)
            if not terse:
                out.append(f'Patch {idx} ("{printable(subject or "")}")')
            for f in group:
                out.extend(_one(f, terse, show_types, report.kernel_version))
            if not terse:
                out.append(totals(group))
                out.append("")
    else:
        for f in report.findings:
            out.extend(_one(f, terse, show_types, report.kernel_version))
    out.extend(_notes(report))
    if not terse or not report.findings:
        tail = totals(report.findings, len(report.suppressed))
        if lines_checked is not None:
            tail += f", {lines_checked} lines checked"
        out.append(tail)
    return "\n".join(out) + "\n"
