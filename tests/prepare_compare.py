"""daxlint's ``.mmap`` -> ``.mmap_prepare`` conversion (DAX310's fix)
measured against upstream's own: the handlers a newer tree registers as
``.mmap_prepare`` where an older one registered ``.mmap`` in the same
file's ``file_operations`` are found by comparing the two trees, the older
tree's files are converted with ``daxlint check --fix --unsafe-fixes``
for the newer version, and each converted function is compared with the
newer tree's.

A site is one old handler (or generic handler named as the member). It is
``identical`` when the two functions are the same token for token, comments
and white space aside and locals renamed in order of declaration;
``equivalent`` when they are the same once ``struct file *f =
desc->file;`` and ``desc->file`` are read alike, ``const`` on locals is
dropped, the leading declarations are taken in any order, and the
descriptor writes around an ``mmap_action_*()`` call in any order (the
action runs after the handler returns); ``different`` otherwise (the first
differing statements say where); ``refused`` when daxlint gives no
conversion (its reason).

``upstream_changed`` marks a site whose upstream function changed beyond
the conversion: a statement of the new function that neither names the
descriptor or the vma nor is one of the old function's statements (a
check added, a local folded, code removed) - what no conversion can
produce. Sites without it are the ones the conversion alone explains."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from daxlint.analysis.callgraph import CallGraph
from daxlint.analysis.locate import function_definitions
from daxlint.analysis.types import TypeResolver
from daxlint.core.catalog import catalog_for
from daxlint.core.source import SourceFile
from daxlint.core.syntax import declarator_name, function_declarator, function_name, parent_index, walk
from daxlint.version import KernelVersion

GENERIC = {"generic_file_mmap": "generic_file_mmap_prepare", "generic_file_readonly_mmap": "generic_file_readonly_mmap_prepare"}
IDENTICAL, EQUIVALENT, DIFFERENT, REFUSED = "identical", "equivalent", "different", "refused"


@dataclass
class Site:
    path: str  # the file, the same in both trees
    old: str  # the handler the old tree registers as .mmap
    new: str  # what the new tree registers as .mmap_prepare
    verdict: str = ""
    why: str = ""  # daxlint's reason (refused), or the first differing statements
    upstream_changed: bool = False
    elsewhere: bool = False  # the handler is defined in another file than the table
    ours: list[str] = field(default_factory=list)  # the converted definitions
    theirs: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return self.verdict in (IDENTICAL, EQUIVALENT)


def _registrations(data: bytes, version: KernelVersion) -> list[tuple[str, str]]:
    """(member, function) of every mmap/mmap_prepare of a file_operations."""
    with parent_index():
        src = SourceFile("x.c", data)
        graph = CallGraph(src.root, data, TypeResolver(src, catalog_for(version)), defined_only=False)
        return [
            (r.member, r.function) for r in graph.registrations if r.struct == "file_operations" and r.member in ("mmap", "mmap_prepare")
        ]


def upstream_conversions(old_root: Path, new_root: Path, old_version: KernelVersion, new_version: KernelVersion) -> list[Site]:
    """The handlers upstream converted between the two trees, found by
    their initializers: a file of both trees whose file_operations had
    ``.mmap = X`` and has ``.mmap_prepare = Y``."""
    found = subprocess.run(
        ["grep", "-rlE", "--include=*.c", r"\.mmap_prepare\s*=", "."], cwd=new_root, capture_output=True, text=True
    ).stdout.split()
    sites = []
    for rel in sorted(p[2:] for p in found):
        if rel.startswith("tools/") or not (old_root / rel).is_file():
            continue
        old = {f for m, f in _registrations((old_root / rel).read_bytes(), old_version) if m == "mmap" and f != "NULL"}
        new = {f for m, f in _registrations((new_root / rel).read_bytes(), new_version) if m == "mmap_prepare"}
        if not old or not new:
            continue
        for x in sorted(old):
            if f"{x}_prepare" in new:
                sites.append(Site(rel, x, f"{x}_prepare"))
            elif GENERIC.get(x) in new:
                sites.append(Site(rel, x, GENERIC[x]))
            elif len(old) == 1 and len(new) == 1:
                sites.append(Site(rel, x, next(iter(new))))
    return sites


def convert(sites: list[Site], old_root: Path, version: str, run_daxlint, scratch: Path) -> dict[str, bytes]:
    """The old tree's files of ``sites`` as daxlint converts them for
    ``version`` (a --dry-run patch applied to a scratch copy), and each
    site's refusal reason where daxlint has no conversion."""
    files = sorted({s.path for s in sites})
    check = ("check", "--no-cache", "--jobs", "2", "--kernel-version", version, "--select", "DAX310")
    code, out, err = run_daxlint(*check, "--format", "json", *files, cwd=old_root)
    findings = json.loads(out)["findings"]
    patch = scratch / "convert.patch"
    run_daxlint(*check, "--fix", "--dry-run", "--unsafe-fixes", "-o", str(patch), *files, cwd=old_root)
    for rel in files:
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(old_root / rel, scratch / rel)
    if patch.stat().st_size:
        subprocess.run(["git", "init", "-q", "."], cwd=scratch, check=True)
        subprocess.run(["git", "apply", str(patch)], cwd=scratch, check=True)
    for s in sites:
        mine = [f for f in findings if f["path"] == s.path and re.search(rf"\b{re.escape(s.old)}\b", f["snippet"])]
        if mine and not mine[0]["fix"]["edits"]:
            s.verdict, s.why = REFUSED, mine[0]["message"].split("no automatic conversion of ", 1)[-1]
        elif not mine:
            s.verdict, s.why = REFUSED, "not reported"
    return {rel: (scratch / rel).read_bytes() for rel in files}


def compare(sites: list[Site], converted: dict[str, bytes], old_root: Path, new_root: Path) -> None:
    for s in sites:
        old = _functions((old_root / s.path).read_bytes(), s.old)
        theirs = _functions((new_root / s.path).read_bytes(), s.new)
        s.elsewhere = not old and s.old not in GENERIC
        moved = _mapped_statements((new_root / s.path).read_bytes())
        s.upstream_changed = bool(theirs) and bool(old) and _beyond_conversion(old, theirs, moved) or (not theirs and bool(old))
        if s.verdict == REFUSED:
            continue
        if s.old in GENERIC or not theirs and s.new in GENERIC.values():
            registered = {f for m, f in _registrations(converted[s.path], KernelVersion(7, 3)) if m == "mmap_prepare"}
            s.verdict = IDENTICAL if s.new in registered else DIFFERENT
            s.why = "" if s.verdict == IDENTICAL else f"daxlint registers {sorted(registered)}"
            continue
        ours = _functions(converted[s.path], f"{s.old}_prepare")
        s.ours, s.theirs = ours, theirs
        if not ours or len(ours) != len(theirs):
            s.verdict, s.why = DIFFERENT, f"{len(ours)} converted definitions, upstream has {len(theirs)} of {s.new}()"
            continue
        pairs = list(zip(ours, theirs))
        if all(tokens(a) == tokens(b) for a, b in pairs):
            s.verdict = IDENTICAL
        elif all(_equivalent_form(a) == _equivalent_form(b) for a, b in pairs):
            s.verdict = EQUIVALENT
        else:
            s.verdict = DIFFERENT
            a, b = next((a, b) for a, b in pairs if _equivalent_form(a) != _equivalent_form(b))
            s.why = _first_difference(_equivalent_form(a), _equivalent_form(b))


def summary(sites: list[Site]) -> dict:
    counts = Counter(s.verdict for s in sites)
    alone = [s for s in sites if not s.upstream_changed]
    return {
        "sites": len(sites),
        **{k: counts.get(k, 0) for k in (IDENTICAL, EQUIVALENT, DIFFERENT, REFUSED)},
        "agreeing": sum(s.agrees for s in sites),
        "conversion_alone": len(alone),
        "agreeing_of_conversion_alone": sum(s.agrees for s in alone),
    }


def report(sites: list[Site]) -> str:
    lines = []
    for s in sites:
        mark = " (upstream changed more)" if s.upstream_changed else ""
        lines.append(f"{s.verdict:10} {s.path} {s.old} -> {s.new}{mark}" + (f": {s.why}" if s.why else ""))
    return "\n".join(lines)


# -- functions as tokens -------------------------------------------------------------------


def _functions(data: bytes, name: str) -> list[str]:
    with parent_index():
        src = SourceFile("x.c", data)
        out = []
        for fn in function_definitions(src.root):
            if function_name(fn) == name:
                out.append(data[fn.start_byte : fn.end_byte].decode("utf-8", "surrogateescape"))
        return out


def _parse(text: str):
    src = SourceFile("x.c", text.encode("utf-8", "surrogateescape"))
    fns = function_definitions(src.root)
    return src, fns[0] if fns else None


def tokens(text: str, rename: bool = True) -> list[str]:
    """The function's tokens, comments dropped, its parameters and locals
    renamed in order of declaration."""
    with parent_index():
        src, fn = _parse(text)
        if fn is None:
            return text.split()
        names = _declared(fn) if rename else []
        renamed = {n: f"_v{i}" for i, n in enumerate(names) if n != "desc"}
        return [renamed.get(t, t) if kind == "identifier" else t for kind, t in _leaves(fn)]


def _leaves(node) -> list[tuple[str, str]]:
    """(type, text) of the tokens under ``node``, a string literal as one
    token, comments left out."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "comment":
            continue
        if n.child_count == 0 or n.type in ("string_literal", "char_literal", "concatenated_string"):
            out.append((n.type, n.text.decode("utf-8", "surrogateescape")))
            continue
        stack.extend(reversed(n.children))
    return out


def _declared(fn) -> list[str]:
    names = []
    d = function_declarator(fn)
    plist = d.child_by_field_name("parameters") if d is not None else None
    for p in plist.named_children if plist is not None else []:
        if p.type == "parameter_declaration":
            names.append(declarator_name(p.child_by_field_name("declarator")) or "")
    for decl in walk(fn.child_by_field_name("body"), {"declaration"}):
        for c in decl.named_children:
            if c.type in ("init_declarator", "identifier", "pointer_declarator", "array_declarator"):
                name = declarator_name(c.child_by_field_name("declarator") if c.type == "init_declarator" else c)
                if name and name not in names:
                    names.append(name)
    return names


def _equivalent_form(text: str) -> list[str]:
    """The function's top-level statements as token strings, read the way
    the equivalence allows (see the module doc)."""
    toks = " ".join(tokens(_without_file_alias(text)))
    toks = re.sub(r"\bconst ", "", toks)
    body = toks[toks.index("{") + 1 : toks.rindex("}")] if "{" in toks else toks
    stmts = _split(body)
    decls = [s for s in stmts if re.match(r"(?:struct \w+ \*?|unsigned long |int |size_t |phys_addr_t |u64 |bool |pgprot_t |loff_t )", s)]
    rest = [s for s in stmts if s not in decls]
    out = sorted(decls)
    run: list[str] = []
    for s in rest + [""]:
        if s.startswith("desc -> ") or s.startswith("mmap_action_"):
            run.append(s)
            continue
        out += sorted(run)
        run = []
        if s:
            out.append(s)
    return out


def _without_file_alias(text: str, name: str = "desc -> file") -> str:
    """The function with ``struct file *f = desc->file;`` taken out and
    ``f`` read as ``name``."""
    toks = " ".join(tokens(text, rename=False))
    alias = re.search(r"(?:const )?struct file \* (\w+) = desc -> file ;", toks)
    if alias:
        toks = toks.replace(alias.group(0), "")
        toks = re.sub(rf"(?<!-> )\b{alias.group(1)}\b", name, toks)
    if name != "desc -> file":
        toks = toks.replace("desc -> file", name)
    return toks


def _split(body: str) -> list[str]:
    """Top-level statements of a body's tokens (braces kept together)."""
    out, cur, depth = [], [], 0
    for tok in body.split():
        cur.append(tok)
        depth += tok in ("{", "(") and 1 or 0
        depth -= tok in ("}", ")") and 1 or 0
        if depth == 0 and tok in (";", "}"):
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return [s for s in out if s]


def _first_difference(a: list[str], b: list[str]) -> str:
    for x, y in zip(a, b):
        if x != y:
            return f"daxlint: {x[:120]} | upstream: {y[:120]}"
    if len(a) != len(b):
        longer, who = (a, "daxlint") if len(a) > len(b) else (b, "upstream")
        return f"{who} has more: {longer[min(len(a), len(b))][:120]}"
    return ""


_CONVERTED = re.compile(r"\bdesc\b|\bvma\b|mmap_action|VMA_\w+_BIT|vm_area|_prepare\b|\bvm_\w+|VM_\w+")


def _beyond_conversion(old: list[str], new: list[str], moved: set[str]) -> bool:
    """Whether upstream changed its function beyond the conversion: a
    statement that touches nothing the conversion does (the file read as
    the old parameter's name) was added, or one of the old function's went
    away other than into a ``->mapped`` callback (``moved``)."""
    old_stmts: set[str] = set()
    file_name = "file"
    for o in old:
        old_stmts |= set(_statements(o))
        m = re.search(r"\(\s*struct file \*\s*(\w+)", o)
        file_name = m.group(1) if m else file_name
    new_stmts: set[str] = set()
    for n in new:
        new_stmts |= set(_statements(_without_file_alias(n, file_name)))
    # The conversion adds "return 0;" after a mapping call it turns into an action.
    added = {s for s in new_stmts - old_stmts if not _CONVERTED.search(s) and s != "return 0 ;"}
    removed = {s for s in old_stmts - new_stmts - moved if not _CONVERTED.search(s)}
    return bool(added or removed)


def _mapped_statements(data: bytes) -> set[str]:
    """The statements of a file's ``->mapped`` callbacks."""
    out: set[str] = set()
    with parent_index():
        src = SourceFile("x.c", data)
        for fn in function_definitions(src.root):
            if (function_name(fn) or "").endswith("mapped"):
                out |= set(_statements(data[fn.start_byte : fn.end_byte].decode("utf-8", "surrogateescape")))
    return out


_LEAF_STATEMENTS = frozenset(
    {"expression_statement", "return_statement", "declaration", "goto_statement", "break_statement", "continue_statement"}
)


def _statements(text: str) -> list[str]:
    """The function's leaf statements and its conditions, each as its
    tokens (names as written); those under a condition that names what the
    conversion touches (``if (remap_pfn_range(vma, ...)) return -EAGAIN;``)
    are the conversion's and left out."""
    with parent_index():
        src, fn = _parse(text)
        if fn is None:
            return []
        out = []
        stack = [fn.child_by_field_name("body")]
        while stack:
            n = stack.pop()
            if n.type in _LEAF_STATEMENTS:
                out.append(" ".join(t for _, t in _leaves(n)))
                continue
            cond = None
            if n.type in ("if_statement", "while_statement", "switch_statement", "for_statement"):
                cond = n.child_by_field_name("condition")
                cond_text = " ".join(t for _, t in _leaves(cond)) if cond is not None else ""
                if _CONVERTED.search(cond_text):
                    continue
                if cond_text:
                    out.append(cond_text)
            stack.extend(c for c in n.children if c.type != "comment" and (cond is None or c.id != cond.id))
        return out
