"""``daxlint corpus``: run the historical corpus and show how daxlint judges
each change (rich on a terminal, plain text otherwise, or JSON)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click

from daxlint.commands._color import color_option, rich_console, use_color
from daxlint.commands._options import rich_terminal, user_errors, write_text
from daxlint.corpus.entries import load_corpus, select_entries
from daxlint.corpus.results import EntryResult, StateResult, rule_summary, to_json
from daxlint.corpus.runner import run_corpus
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS
from daxlint.output.escape import plain, printable

_VERDICT_STYLE = {"match": "bold green", "mismatch": "bold red"}
_SIDE_STYLE = {"violates": "red", "fixes": "green", "sanctioned": "cyan", "complies": "blue"}


def _ids(ids) -> str:
    return " ".join(ids) if ids else "-"


def _state_verdict(st: StateResult):
    from rich.text import Text

    if not st.present:
        return Text("n/a (added by the change)", style="dim")
    t = Text(st.status, style=_VERDICT_STYLE[st.status])
    details = []
    if st.missing:
        details.append("missing " + ", ".join(st.missing))
    if st.unexpected:
        details.append("unexpected " + ", ".join(st.unexpected))
    if st.errors:
        details.append(f"{len(st.errors)} internal error(s)")
    if details:
        t.append(printable(" (" + "; ".join(details) + ")"), style="red")
    return t


def _entries_table(results: list[EntryResult], wide: bool = True, width: int = 80):
    """One row per checked state. ``wide``: entry, commit, landed and side
    in columns of their own. Otherwise (a narrow terminal) they are stacked
    in the entry cell and the other cells wrap at their words, with widths
    fixed so that no column is squeezed to nothing."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="daxlint corpus: historical DAX changes", title_justify="left", show_lines=False, expand=False)
    if wide:
        table.add_column("entry", no_wrap=True)
        table.add_column("commit", no_wrap=True)
        table.add_column("landed", no_wrap=True)
        table.add_column("side", no_wrap=True)
        table.add_column("state (checked as)", no_wrap=True)
        for name in ("expected", "actual", "verdict"):
            table.add_column(name, overflow="fold")
    else:
        # Borders and padding of five columns take 16 cells; a rule id is 6,
        # "before"/"after" and a version fit in 6.
        entry = min(max((len(r.entry.id) for r in results), default=5), max(12, width - 16 - 6 - 8 - 8 - 10))
        table.add_column("entry", width=entry, overflow="fold")
        table.add_column("state", width=6, overflow="fold")
        table.add_column("expected", width=8, overflow="fold")
        table.add_column("actual", width=8, overflow="fold")
        table.add_column("verdict", overflow="fold", min_width=max(10, width - 16 - entry - 6 - 8 - 8))
    for res in results:
        e = res.entry
        for i, st in enumerate(res.states):
            first = i == 0
            if wide:
                head = [
                    plain(e.id, "bold") if first else "",
                    plain(e.short_commit, "yellow") if first else "",
                    plain(e.version_label) if first else "",
                    plain(e.side, _SIDE_STYLE[e.side]) if first else "",
                ]
                state = plain(f"{st.state} (v{st.kernel_version})")
            else:
                head = [
                    Text.assemble(
                        plain(e.id, "bold"),
                        "\n",
                        plain(e.short_commit, "yellow"),
                        " ",
                        plain(e.version_label),
                        " ",
                        plain(e.side, _SIDE_STYLE[e.side]),
                    )
                    if first
                    else ""
                ]
                state = plain(f"{st.state} v{st.kernel_version}")
            table.add_row(
                *head,
                state,
                plain(_ids(st.expected)),
                plain(_ids(st.actual) if st.present else "-"),
                _state_verdict(st),
                end_section=i == len(res.states) - 1,
            )
    return table


def _fitting_entries_table(results: list[EntryResult], console):
    """The wide table when it fits the console, else the stacked one."""
    from rich.measure import Measurement

    table = _entries_table(results, wide=True)
    if Measurement.get(console, console.options.update_width(1 << 16), table).maximum <= console.width:
        return table
    return _entries_table(results, wide=False, width=console.width)


def _details(console, results: list[EntryResult], verbose: bool) -> None:
    """Subjects for every entry; findings for mismatches (all with -v)."""
    from rich.text import Text

    for res in results:
        e = res.entry
        show_findings = verbose or res.status == "mismatch"
        head = Text()
        head.append(f"{printable(e.id)} ", style="bold")
        head.append(f"{printable(e.short_commit)} ", style="yellow")
        head.append(printable(f'"{e.subject}"'))
        head.append(f"  {e.version_label}, {e.side}", style=_SIDE_STYLE[e.side])
        if not e.merged:
            head.append("  (never merged)", style="magenta")
        head.append("  ")
        head.append(res.status, style=_VERDICT_STYLE[res.status])
        console.print(head)
        if verbose:
            console.print(plain(f"    {e.summary}", "dim"))
            if e.version_note:
                console.print(plain(f"    {e.version_note}", "dim italic"))
        if show_findings:
            for st in res.states:
                for f in st.findings:
                    mark = "" if f.rule_id in st.expected else "  <- not expected"
                    console.print(
                        plain(
                            f"    {st.state}: {f.path}:{f.line}:{f.column} {f.rule_id} {f.severity.value}: {f.message}{mark}",
                            "red" if mark else "",
                        )
                    )
                for rid in st.missing:
                    note = " (no such rule yet)" if rid in st.unregistered else ""
                    console.print(plain(f"    {st.state}: expected {rid}, not reported{note}", "red"))
                for err in st.errors:
                    console.print(
                        plain(f"    {st.state}: internal error in {err.rule_id or 'daxlint'} on {err.path}: {err.message}", "bold magenta")
                    )
                for sk in st.skipped:
                    console.print(plain(f"    {st.state}: skipped {sk.path}: {sk.reason}", "magenta"))
        up = res.upstream
        if up is not None:
            if up.status == "checked":
                line = plain(f"    upstream {up.commit[:12]}: ", "cyan")
                for name in ("before", "after"):
                    side = up.sides[name]
                    ver = f"v{side.kernel_version}" if side.kernel_version else "v?"
                    files = f"{side.files} file{'' if side.files == 1 else 's'}"
                    line.append(printable(f"{name} ({ver}, {files}) {_ids(side.rule_ids)}; "))
                console.print(line)
                if verbose:
                    for name in ("before", "after"):
                        for f in up.sides[name].findings:
                            console.print(plain(f"      {name}: {f.path}:{f.line} {f.rule_id}: {f.message}", "dim"))
            else:
                console.print(plain(f"    upstream: {up.status}: {up.note}", "dim"))
            if up.note and up.status == "checked":
                console.print(plain(f"    note: {up.note}", "dim"))


def _rules_table(results: list[EntryResult]):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="per rule", title_justify="left")
    table.add_column("rule", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("expected", justify="right")
    table.add_column("matched", justify="right")
    table.add_column("missed", justify="right")
    table.add_column("unexpected", justify="right")
    for row in rule_summary(results):
        name = plain(row.name) if row.registered else Text("(not a daxlint rule yet)", style="magenta")
        table.add_row(
            row.rule_id,
            name,
            str(row.expected),
            Text(str(row.matched), style="green" if row.matched else ""),
            Text(str(row.missed), style="red" if row.missed else ""),
            Text(str(row.unexpected), style="red" if row.unexpected else ""),
        )
    return table


def render_rich(results: list[EntryResult], console, verbose: bool = False) -> None:
    from rich.text import Text

    console.print(_fitting_entries_table(results, console))
    console.print()
    _details(console, results, verbose)
    console.print()
    console.print(_rules_table(results))
    matched = sum(r.status == "match" for r in results)
    noun = "entry" if len(results) == 1 else "entries"
    summary = Text(
        f"{len(results)} {noun}: {matched} match, {len(results) - matched} mismatch",
        style="bold green" if matched == len(results) else "bold red",
    )
    console.print(summary)


def _list_entries(entries) -> None:
    for e in entries:
        click.echo(f"{e.id:<28} {e.short_commit:<28} {e.version_label:<12} {e.side:<10} {e.subject}")


@click.command("corpus")
@click.argument("entries", nargs=-1)
@click.option(
    "--corpus",
    "corpus_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Corpus directory (default: the one shipped with daxlint).",
)
@click.option("--kernel-git", metavar="DIR", help="Also check each entry's real upstream commit in this local kernel clone.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report to FILE instead of stdout.")
@click.option("--list", "list_only", is_flag=True, help="List the entries and exit.")
@click.option("--verbose", "-v", is_flag=True, help="Show every entry's summary and findings, not only mismatches.")
@color_option
@user_errors
def command(entries, corpus_path, kernel_git, fmt, output, list_only, verbose, color):
    """Run the historical corpus: each upstream DAX change, reproduced before
    and after, checked against what the policy says the rules must find.

    ENTRIES select entries by id, id prefix (007), a word of the id
    (vm-flags) or a commit id prefix. Exit status 1 when any entry does not
    match its expectations.
    """
    selected = select_entries(load_corpus(corpus_path), entries)
    if list_only:
        _list_entries(selected)
        return EXIT_CLEAN
    results = run_corpus(selected, kernel_git)
    status = EXIT_CLEAN if all(r.status == "match" for r in results) else EXIT_FINDINGS

    if fmt == "json":
        write_text(json.dumps(to_json(results), indent=2) + "\n", output)
        return status
    if rich_terminal("text", output, color) and sys.stdout.isatty():
        render_rich(results, rich_console(sys.stdout, True), verbose)
        return status
    # Not a terminal: a width that keeps the tables readable in logs.
    colored = use_color(color, sys.stdout if output is None else None)
    buf = io.StringIO()
    render_rich(results, rich_console(buf, colored, width=160), verbose)
    write_text(buf.getvalue(), output, colored)
    return status
