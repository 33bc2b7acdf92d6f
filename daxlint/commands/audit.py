"""``daxlint audit RANGE``: when DAX policy findings came into a git history
and when they went out."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from daxlint.commands._options import check_strict, engine_options, load_settings, selection_options, strict_option, user_errors, write_text
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, UserError
from daxlint.model import Severity


def _progress_printer(enabled: bool):
    """A rich progress bar on stderr (a no-op when stderr is not a terminal)."""
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(kind: str, done: int, total: int, detail=None):
        label = "commits" if kind == "commits" else "base tree files"
        if kind not in tasks:
            tasks[kind] = progress.add_task(label, total=total)
        if kind == "snapshot" and detail:
            progress.update(tasks[kind], description=f"tree of {str(detail)[:12]}")
        progress.update(tasks[kind], completed=done, total=total)

    return progress, update


@click.command("audit")
@click.argument("revisions", nargs=-1, required=True, metavar="RANGE")
@click.option(
    "--repo", "repo_dir", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="The git repository."
)
@click.option("--all-parents", is_flag=True, help="Also walk the other sides of merges (default: first-parent history).")
@selection_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report to FILE.")
@click.option(
    "--diff-url", metavar="TEMPLATE", help="Link findings in the HTML report to a web diff: {sha}, {path}, {line}, {path_sha256}."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit store (default: audit-v1.sqlite in the user cache directory).",
)
@engine_options
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the range introduced findings that are still open.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="warning",
    show_default=True,
    help="Lowest severity that makes the exit status 1 (info findings only with --fail-on info).",
)
@strict_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors
def command(
    revisions,
    repo_dir,
    all_parents,
    select,
    ignore,
    kernel_version,
    defines,
    undefines,
    config_path,
    fmt,
    output,
    html_path,
    diff_url,
    db_path,
    jobs,
    no_cache,
    exit_zero,
    fail_on,
    strict,
    quiet,
):
    """Audit the commits of a git range: what each introduced and fixed.

    RANGE is anything git rev-list takes (v6.1..v6.2, origin/main..HEAD,
    A...B, ^A B). The first-parent history is walked unless --all-parents.
    Blobs are read from the object store; the work tree is never touched.
    Results are stored (--db), so an interrupted audit resumes, and a repeated
    or extended range analyses only commits not seen before.

    Exit status: 1 when a commit in the range introduced a finding (at or
    above --fail-on) that is still open at the end of the range, 0 when
    not, 2 on errors (bad range, not a repository) and, with --strict, when
    a commit or file could not be audited.
    """
    from daxlint.audit.auditor import AuditOptions, Auditor
    from daxlint.audit.excerpt import diff_excerpt
    from daxlint.audit.store import AuditStore, StoreError
    from daxlint.output.audit.csv_out import render_csv
    from daxlint.output.audit.html import render_html
    from daxlint.output.audit.rich_view import print_audit
    from daxlint.output.audit.text import render_json, render_text
    from daxlint.paths import cache_dir
    from daxlint.sources.git import GitRepo

    if not repo_dir.is_dir():
        raise UserError(f"{repo_dir}: no such directory")
    git = GitRepo(repo_dir)
    cfg, rules, kernel = load_settings([repo_dir], config_path, select, ignore, kernel_version, defines, undefines)
    options = AuditOptions(
        jobs=jobs,
        kernel_version=kernel.checked if kernel.version_source not in ("Makefile", "default") else None,
        build=kernel.build,
        all_parents=all_parents,
        per_file_ignores=cfg.per_file_ignores,
    )
    if cfg.max_file_size:
        options.max_bytes = cfg.max_file_size
    db = ":memory:" if no_cache else str(db_path or cache_dir() / "audit-v1.sqlite")
    try:
        store = AuditStore(db)
    except StoreError as e:
        raise UserError(str(e)) from None
    bar, update = _progress_printer(not quiet and sys.stderr.isatty())
    try:
        auditor = Auditor(git, rules, store, options, progress=update)
        if bar is not None:
            with bar:
                result = auditor.run(list(revisions))
        else:
            result = auditor.run(list(revisions))
    except StoreError as e:
        raise UserError(str(e)) from None
    finally:
        store.close()

    if fmt == "text" and output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        print_audit(result)
    else:
        render = {"text": render_text, "json": render_json, "csv": render_csv}[fmt]
        write_text(render(result), output)
    if html_path:

        def excerpt(c, f, side):
            parent = c.parents[0] if c.parents else None
            return diff_excerpt(git, c.sha, parent, f.path, f.line, "new" if side == "new" else "old")

        write_text(render_html(result, excerpt=excerpt, diff_url=diff_url), html_path)
    if strict:
        holes = [(f"commit {c.sha[:12]}", c.skipped) for c in result.commits if c.skipped]
        holes += [(f"{c.sha[:12]}:{s.path}", s.reason) for c in result.commits for s in c.skipped_files]
        check_strict(holes, ("commit or file", "commits or files"))
    if exit_zero:
        return EXIT_CLEAN
    floor = Severity.parse(fail_on)
    return EXIT_FINDINGS if result.introduced_still_open(floor) else EXIT_CLEAN
