"""Report renderers. Each turns a Report into text; none touches a terminal
(the CLI decides where the text goes and whether rich draws it)."""

from __future__ import annotations

from daxlint.output import checkpatch, github, json_out, sarif, text

FORMATS = ("text", "json", "sarif", "github", "checkpatch")


def render(report, fmt: str, **kw) -> str:
    if fmt == "text":
        return text.render(report)
    if fmt == "json":
        return json_out.render(report, **{k: v for k, v in kw.items() if k == "extra"})
    if fmt == "sarif":
        return sarif.render(report)
    if fmt == "github":
        return github.render(report)
    if fmt == "checkpatch":
        return checkpatch.render(
            report,
            terse=kw.get("terse", False),
            show_types=kw.get("show_types", True),
            lines_checked=kw.get("lines_checked"),
            patches=kw.get("patches"),
            patch_style=kw.get("patch_style"),
        )
    raise ValueError(f"unknown format {fmt!r}")
