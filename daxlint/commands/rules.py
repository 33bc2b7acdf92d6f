"""``daxlint rules`` and ``daxlint explain``."""

from __future__ import annotations

import json
import sys

import click

from daxlint.commands._color import color_option, rich_console, use_color
from daxlint.core.registry import all_rules, rule_by_id
from daxlint.errors import UserError


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@color_option
def rules_command(fmt, color):
    """List every rule: id, name, severity, summary."""
    rules = all_rules()
    if fmt == "json":
        click.echo(json.dumps([r.metadata() for r in rules], indent=2))
        return 0
    from daxlint.output.rich_text import rule_line

    console = rich_console(sys.stdout, use_color(color, sys.stdout))
    width = max(len(r.name) for r in rules)
    for r in rules:
        console.print(rule_line(r, width), soft_wrap=True)
    return 0


def _corpus_section(rule_id: str) -> str:
    """The corpus entries (historical changes) whose expectations name the
    rule, as a Markdown section; empty when there are none. A broken corpus
    must not break explain, so load errors leave the section out."""
    from daxlint.corpus.entries import CorpusError, entries_for_rule

    try:
        hits = entries_for_rule(rule_id)
    except CorpusError:
        return ""
    if not hits:
        return ""
    lines = ["## In the corpus", "", f"Historical changes where the policy expects {rule_id} (`daxlint corpus ENTRY` runs one):", ""]
    for entry, states in hits:
        merged = "" if entry.merged else ", never merged"
        lines.append(
            f'- `{entry.id}`: {entry.short_commit} "{entry.subject}" ({entry.version_label}{merged}), expected {" and ".join(states)}'
        )
    return "\n".join(lines)


@click.command("explain")
@click.argument("rule_id")
@click.option("--plain", is_flag=True, help="Print the Markdown source instead of rendering it.")
@color_option
def explain_command(rule_id, plain, color):
    """Print a rule's documentation (e.g. daxlint explain DAX301)."""
    cls = rule_by_id(rule_id)
    if cls is None:
        raise UserError(f"unknown rule {rule_id!r} (see 'daxlint rules')")
    summary = cls.summary.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    header = f"# {cls.id}: {cls.name}\n\n{summary}\n\nSeverity: {cls.severity.value}, confidence: {cls.confidence}\n\n"
    text = header + cls.doc() + "\n\n" + cls.fix_section()
    extra = getattr(cls, "explain_extra", None)
    if callable(extra):
        more = extra()
        if more:
            text += "\n\n" + more
    history = _corpus_section(cls.id)
    if history:
        text += "\n\n" + history
    if plain:
        click.echo(text)
        return 0
    from rich.markdown import Markdown

    rich_console(sys.stdout, use_color(color, sys.stdout)).print(Markdown(text))
    return 0
