"""The lines around a finding as a commit changed them, for the HTML report."""

from __future__ import annotations

import pygit2

from daxlint.lines import split_lines
from daxlint.sources.git import GitRepo


def diff_excerpt(git: GitRepo, sha: str, parent: str | None, path: str, line: int, side: str = "new", context: int = 3) -> dict:
    """The lines of ``path`` around ``line`` as commit ``sha`` changed them
    (``side`` "new" for an introduced finding, "old" for a fixed one):
    {"lines": [[origin, old_no, new_no, text], ...], "target": index, "note": str | None}."""
    commit = git.commit(sha)
    pcommit = git.commit(parent) if parent else None
    if commit is None:
        return {"lines": [], "target": None, "note": f"commit {sha[:12]} is not in the repository"}
    new_oid = git.blob_id(commit.tree, path)
    old_oid = git.blob_id(pcommit.tree, path) if pcommit is not None else None
    want_new = side == "new"
    try:
        if old_oid and new_oid and old_oid != new_oid:
            patch = git.repo[old_oid].diff(git.repo[new_oid], context_lines=context)
            for hunk in patch.hunks:
                hl = hunk.lines
                for i, dl in enumerate(hl):
                    if (dl.new_lineno if want_new else dl.old_lineno) == line and dl.origin in ("+", "-", " "):
                        lo, hi = max(0, i - context - 2), min(len(hl), i + context + 3)
                        rows = [
                            [
                                d.origin,
                                d.old_lineno if d.old_lineno > 0 else None,
                                d.new_lineno if d.new_lineno > 0 else None,
                                d.content.rstrip("\n"),
                            ]
                            for d in hl[lo:hi]
                            if d.origin in ("+", "-", " ")
                        ]
                        target = next(j for j, r in enumerate(rows) if (r[2] if want_new else r[1]) == line)
                        return {"lines": rows, "target": target, "note": None}
        oid = new_oid if want_new else old_oid
        if oid is None:
            return {"lines": [], "target": None, "note": f"{path} is not in {'the commit' if want_new else 'its parent'}"}
        text = split_lines(git.repo[oid].data.decode("utf-8", "replace"))
    except (KeyError, ValueError, pygit2.GitError) as e:
        return {"lines": [], "target": None, "note": f"cannot read {path}: {e}"}
    whole_file = (old_oid is None) if want_new else (new_oid is None)
    origin = ("+" if want_new else "-") if whole_file else " "
    lo, hi = max(1, line - context), min(len(text), line + context)
    rows = [[origin, None if want_new else n, n if want_new else None, text[n - 1]] for n in range(lo, hi + 1)]
    target = line - lo if rows else None
    note = (
        None
        if whole_file
        else "this line is not part of the commit's diff: the verdict changed with another file (a Kconfig, a sibling) or the kernel version"
    )
    return {"lines": rows, "target": target, "note": note}
