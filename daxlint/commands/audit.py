"""``daxlint audit RANGE``: when DAX policy findings came into a git history
and when they went out."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import click

from daxlint.commands._color import color_option, rich_console, use_color
from daxlint.commands._options import (
    check_strict,
    engine_options,
    load_settings,
    progress_printer,
    progress_wanted,
    rich_terminal,
    selection_options,
    strict_option,
    user_errors,
    version_note,
    write_text,
)
from daxlint.errors import EXIT_CLEAN, EXIT_FINDINGS, UserError
from daxlint.model import Severity

# What Dask's comms take: a scheme it knows, or host:port (tcp).
_SCHEDULER_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss|inproc)://\S+|[\w.\-\[\]:]+:\d+)$")


# What audit's progress display calls each kind of work it counts.
_PROGRESS_LABELS = {"commits": "commits", "tasks": "dask tasks", "snapshot": "base tree files"}


@click.command("audit")
@click.argument("revisions", nargs=-1, metavar="[RANGE]...")
@click.option(
    "--repo", "repo_dir", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="The git repository."
)
@click.option(
    "--refs",
    "ref_patterns",
    multiple=True,
    metavar="PATTERN",
    help="Audit every branch whose ref matches (git for-each-ref: 'refs/remotes/vendor/*'); repeatable.",
)
@click.option(
    "--since", metavar="REV", help="The branches' common base: each branch's range is REV..TIP (default with --refs: their merge base)."
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
@click.option("--quiet", "-q", "--no-progress", "quiet", is_flag=True, help="No progress bar.")
@color_option
@click.option(
    "--scheduler",
    envvar="DASK_SCHEDULER_ADDRESS",
    metavar="ADDRESS",
    help="Analyse on a Dask cluster: tcp://host:8786, or 'local' for a LocalCluster of --jobs processes "
    "(env DASK_SCHEDULER_ADDRESS; needs dask.distributed: pip install '.[dask]' in daxlint's checkout).",
)
@click.option("--worker-repo", metavar="PATH", help="The repository as the Dask workers see it (default: --repo's git directory).")
@click.option("--dashboard", is_flag=True, help="Print the Dask dashboard's address.")
@user_errors
def command(
    revisions,
    repo_dir,
    ref_patterns,
    since,
    all_parents,
    select,
    ignore,
    kernel_version,
    defines,
    undefines,
    config_path,
    no_suppressions,
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
    color,
    scheduler,
    worker_repo,
    dashboard,
):
    """Audit the commits of a git range: what each introduced and fixed.

    RANGE is anything git rev-list takes (v6.1..v6.2, origin/main..HEAD,
    A...B, ^A B). The first-parent history is walked unless --all-parents.
    Blobs are read from the object store; the work tree is never touched.
    Results are stored (--db), so an interrupted audit resumes, and a repeated
    or extended range analyses only commits not seen before.

    Many branches in one audit: several A..B ranges, or --refs PATTERN
    and/or branch tips with --since REV (each branch is REV..TIP). Their
    commits are walked once; each branch gets its report, what is open at
    its tip, and the backports it is missing (a finding open at its tip that
    another branch's commit fixed).

    Exit status: 1 when a commit in the range introduced a finding (at or
    above --fail-on) that is still open at the end of the range, or (many
    branches) a branch misses a backport of such a finding; 0 when not; 2
    on errors (bad range, not a repository, an unusable Dask cluster) and,
    with --strict, when a commit or file could not be audited.
    """
    from daxlint.audit.auditor import AuditOptions, Auditor
    from daxlint.audit.excerpt import diff_excerpt
    from daxlint.audit.fleet import plan_branches
    from daxlint.audit.store import AuditStore, StoreError
    from daxlint.paths import cache_dir
    from daxlint.sources.git import GitRepo

    if not repo_dir.is_dir():
        raise UserError(f"{repo_dir}: no such directory")
    if not revisions and not ref_patterns:
        raise UserError("give a RANGE (v6.1..HEAD) or --refs PATTERN")
    if no_cache and db_path is not None:
        # For an audit the store is the cache: --no-cache would silently drop it.
        raise UserError("--no-cache audits without a store, and --db names one: give one of them")
    if scheduler and scheduler != "local" and not _SCHEDULER_ADDRESS.match(scheduler):
        raise UserError(f"--scheduler {scheduler}: not a Dask scheduler address (tcp://host:8786, tls://..., host:port) or 'local'")
    if not scheduler and (worker_repo or dashboard):
        raise UserError("--worker-repo and --dashboard go with --scheduler (a Dask cluster)")
    git = GitRepo(repo_dir)
    planned = plan_branches(git, list(revisions), list(ref_patterns), since)
    cfg, rules, kernel = load_settings([repo_dir], config_path, select, ignore, kernel_version, defines, undefines)
    options = AuditOptions(
        jobs=jobs,
        kernel_version=kernel.checked if kernel.version_source not in ("Makefile", "default") else None,
        build=kernel.build,
        all_parents=all_parents,
        per_file_ignores=cfg.per_file_ignores,
        suppressions=not no_suppressions,
        scheduler=scheduler or None,
        worker_repo=worker_repo,
        dashboard=dashboard,
    )
    if cfg.max_file_size:
        options.max_bytes = cfg.max_file_size
    db = ":memory:" if no_cache else str(db_path or cache_dir() / "audit-v1.sqlite")
    try:
        store = AuditStore(db)
    except StoreError as e:
        raise UserError(str(e)) from None
    bar, update = progress_printer(progress_wanted(quiet), use_color(color, sys.stderr), _PROGRESS_LABELS)

    def notify(text: str) -> None:
        if bar is not None:
            bar.console.print(text)
        else:
            click.echo(text, err=True)

    try:
        auditor = Auditor(git, rules, store, options, progress=update, notify=notify)
        if planned is None:
            run = functools.partial(auditor.run, list(revisions))
        else:
            run = functools.partial(auditor.run_fleet, planned)
        if bar is not None:
            with bar:
                result = run()
        else:
            result = run()
    except StoreError as e:
        raise UserError(str(e)) from None
    finally:
        store.close()
    if kernel.version_source.endswith("dkms.conf"):
        result.notes.append(version_note(kernel))
    if scheduler and result.analysed_commits == 0:
        # A nightly job whose range is all in the store never reaches the
        # cluster: say so, or a broken cluster setup goes unnoticed.
        result.notes.append(f"every commit came from the store: the Dask cluster ({scheduler}) was not used")

    def excerpt(c, f, side):
        parent = c.parents[0] if c.parents else None
        return diff_excerpt(git, c.sha, parent, f.path, f.line, "new" if side == "new" else "old")

    floor = Severity.parse(fail_on)
    if planned is not None:
        from daxlint.output.audit import fleet as view

        commits = [c for br in result.branches for c in br.result.commits]
        failing = result.failing(floor)
        renderers = (view.print_fleet, view.render_fleet_text, view.render_fleet_json, view.render_fleet_csv, view.render_fleet_html)
    else:
        from daxlint.output.audit.csv_out import render_csv
        from daxlint.output.audit.html import render_html
        from daxlint.output.audit.rich_view import print_audit
        from daxlint.output.audit.text import render_json, render_text

        commits = result.commits
        failing = result.introduced_still_open(floor)
        renderers = (print_audit, render_text, render_json, render_csv, render_html)
    _emit(result, renderers, fmt, output, color, html_path, excerpt, diff_url)
    if strict:
        _check_audited(commits)
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def _emit(result, renderers, fmt: str, output, color: str, html_path, excerpt, diff_url) -> None:
    """Rich view on a colour terminal, else the chosen text format; the HTML report beside either."""
    print_rich, render_text, render_json, render_csv, render_html = renderers
    if rich_terminal(fmt, output, color):
        print_rich(result, rich_console(sys.stdout, True))
    else:
        render = {"text": render_text, "json": render_json, "csv": render_csv}[fmt]
        write_text(render(result), output)
    if html_path:
        write_text(render_html(result, excerpt=excerpt, diff_url=diff_url), html_path)


def _check_audited(commits) -> None:
    """--strict: every commit and file of the range was audited."""
    holes = {(f"commit {c.sha[:12]}", c.skipped) for c in commits if c.skipped}
    holes |= {(f"{c.sha[:12]}:{s.path}", s.reason) for c in commits for s in c.skipped_files}
    check_strict(sorted(holes), ("commit or file", "commits or files"))
