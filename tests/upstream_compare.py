"""Site-by-site comparison of ``daxlint check --fix`` on a 6.1 tree (checked
as v6.3) with what upstream wrote at the same place by 6.12.

A site is one DAX301 finding: its file, its function and the call the fix
puts there (a write folded with another shares the folded call). Upstream's
side is every ``vm_flags_*()`` call in the function of the same name in
the same file of the 6.12 tree - or, when the function moved, in another
file of the same directory. The site agrees when upstream has a call with
the same wrapper, the same vma and the same flags: set and clear as sets
of ``|``-terms (``VM_LOCKED_MASK`` standing for its two flags), the value
of a reset or init with white space and outer parentheses ignored.
Calls are matched one to one: two calls where upstream has one leave
one site without a match. Sites whose function is gone from 6.12 are not
counted.

Between 6.1 and 6.12 upstream changed more than the flags' spelling in many
of these functions (other flags, other code around them): a disagreement
there says little about the fixer. ``conversion_only()`` keeps the sites
whose function differs between the trees by the conversion alone - the same
statements once every change of vm_flags is set aside, and the same flags
changed - which is what the fixer is measured on."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from daxlint.core.source import parser
from daxlint.core.syntax import function_name, walk

WRAPPERS = ("vm_flags_set", "vm_flags_clear", "vm_flags_mod", "vm_flags_init", "vm_flags_reset", "vm_flags_reset_once", "__vm_flags_mod")
_CALL = re.compile(r"\b(" + "|".join(WRAPPERS) + r")\s*\(")
ALIASES = {"VM_LOCKED_MASK": ("VM_LOCKED", "VM_LOCKONFAULT")}


@dataclass(frozen=True)
class Call:
    wrapper: str
    vma: str
    sets: frozenset[str] = frozenset()
    clears: frozenset[str] = frozenset()
    value: str = ""


@dataclass
class Site:
    path: str
    line: int
    function: str | None
    snippet: str | None
    call: Call | None
    edit: tuple | None = None  # the fix's main edit: sites folded into one call share it
    upstream: list[Call] | None = None  # None: the function is gone
    upstream_path: str | None = None
    agrees: bool = False


@dataclass
class Comparison:
    sites: list[Site] = field(default_factory=list)

    @property
    def kept(self) -> list[Site]:
        return [s for s in self.sites if s.upstream is not None]

    @property
    def agreeing(self) -> list[Site]:
        return [s for s in self.kept if s.agrees]

    @property
    def rate(self) -> float:
        return len(self.agreeing) / len(self.kept) if self.kept else 0.0


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [a.strip() for a in out]


def _strip_parens(e: str) -> str:
    e = e.strip()
    while e.startswith("(") and e.endswith(")"):
        depth = 0
        for i, ch in enumerate(e):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(e) - 1:
                return e
        e = e[1:-1].strip()
    return e


def _norm(e: str) -> str:
    e = re.sub(r"/\*.*?\*/", " ", e, flags=re.S)
    return re.sub(r"\s+", "", _strip_parens(e))


def _terms(e: str) -> frozenset[str]:
    e = _strip_parens(e)
    terms, depth, cur = [], 0, ""
    for ch in e:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    out: set[str] = set()
    for t in terms:
        t = _norm(t)
        out.update(ALIASES.get(t, (t,)))
    return frozenset(t for t in out if t)


def parse_call(text: str) -> Call | None:
    """The first vm_flags_*() call in ``text``."""
    m = _CALL.search(text)
    if not m:
        return None
    i, depth = m.end(), 1
    j = i
    while j < len(text) and depth:
        depth += text[j] == "("
        depth -= text[j] == ")"
        j += 1
    args = _split_args(text[i : j - 1])
    wrapper, vma = m.group(1), _norm(args[0]).lstrip("&") if args else ""
    if wrapper == "vm_flags_set" and len(args) > 1:
        return Call(wrapper, vma, sets=_terms(args[1]))
    if wrapper == "vm_flags_clear" and len(args) > 1:
        return Call(wrapper, vma, clears=_terms(args[1]))
    if wrapper in ("vm_flags_mod", "__vm_flags_mod") and len(args) > 2:
        return Call("vm_flags_mod", vma, sets=_terms(args[1]), clears=_terms(args[2]))
    return Call(wrapper, vma, value=_norm(args[1]) if len(args) > 1 else "")


def functions_calls(data: bytes) -> dict[str, list[Call]]:
    """The vm_flags_*() calls of each function of a file."""
    tree = parser().parse(data)
    out: dict[str, list[Call]] = {}
    for fn in walk(tree.root_node, {"function_definition"}):
        name = function_name(fn)
        if not name:
            continue
        body = (fn.text or b"").decode("utf-8", "replace")
        calls = []
        for m in _CALL.finditer(body):
            c = parse_call(body[m.start() :])
            if c is not None:
                calls.append(c)
        out.setdefault(name, []).extend(calls)
    return out


class UpstreamTree:
    def __init__(self, root: str):
        self.root = root
        self._files: dict[str, dict[str, list[Call]] | None] = {}
        self._flag_files: list[str] | None = None

    def calls(self, rel: str) -> dict[str, list[Call]] | None:
        if rel not in self._files:
            try:
                with open(os.path.join(self.root, rel), "rb") as fh:
                    self._files[rel] = functions_calls(fh.read())
            except OSError:
                self._files[rel] = None
        return self._files[rel]

    def find(self, rel: str, function: str) -> tuple[str, list[Call]] | None:
        """The function's calls in the same file, else in a file of the same directory."""
        here = self.calls(rel)
        if here is not None and function in here:
            return rel, here[function]
        directory = os.path.dirname(rel)
        try:
            names = sorted(os.listdir(os.path.join(self.root, directory)))
        except OSError:
            return None
        for name in names:
            other = os.path.join(directory, name)
            if other == rel or not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(self.root, other), "rb") as fh:
                if function.encode() not in fh.read():
                    continue
            found = self.calls(other)
            if found is not None and function in found:
                return other, found[function]
        # Moved further (drivers/misc -> drivers/accel, fs/ -> mm/): the one
        # file of the tree that changes vm_flags and defines it.
        homes = [p for p in self.flag_files() if function.encode() in self._bytes(p) and function in (self.calls(p) or {})]
        if len(homes) == 1:
            return homes[0], self.calls(homes[0])[function]
        return None

    def flag_files(self) -> list[str]:
        if self._flag_files is None:
            proc = subprocess.run(
                ["grep", "-rl", "--include=*.c", "--include=*.h", "vm_flags_", "."], cwd=self.root, capture_output=True, text=True
            )
            self._flag_files = sorted(p[2:] for p in proc.stdout.split())
        return self._flag_files

    def _bytes(self, rel: str) -> bytes:
        with open(os.path.join(self.root, rel), "rb") as fh:
            return fh.read()


def site_call(finding: dict) -> tuple[Call | None, tuple | None]:
    """The call the finding's fix puts at its site (a fold's call for each
    of the writes it folds) and the edit that puts it there."""
    fix = finding.get("fix") or {}
    for edit in fix.get("edits", []):
        if edit["replacement"].strip():
            return parse_call(edit["replacement"].split(";")[0]), (edit["path"], edit["start"], edit["end"])
    return None, None


def compare(findings: list[dict], tree_root: str, upstream_root: str) -> Comparison:
    """``findings``: DAX301 findings (JSON, paths below ``tree_root``) with their fixes."""
    upstream = UpstreamTree(upstream_root)
    out = Comparison()
    for f in findings:
        rel = os.path.relpath(os.path.abspath(os.path.join(tree_root, f["path"])), tree_root)
        fn = f.get("function")
        site = Site(rel, f["line"], fn, f.get("snippet"), *site_call(f))
        found = upstream.find(rel, fn) if fn else None
        if found is not None:
            site.upstream_path, site.upstream = found
        out.sites.append(site)
    # One to one, per function: each of our calls takes an equal upstream call.
    left: dict[tuple, list[Call]] = {}
    taken: dict[tuple, bool] = {}
    for site in out.kept:
        key = (site.upstream_path, site.function)
        pool = left.setdefault(key, list(site.upstream))
        mine = site.edit or (site.path, site.line)
        if mine not in taken:
            taken[mine] = site.call is not None and site.call in pool
            if taken[mine]:
                pool.remove(site.call)
        site.agrees = taken[mine]
    return out


# A statement that changes a vma's flags, in either tree: a direct write, a
# wrapper call, the vma write lock some conversions added before a reset.
_FLAG_CHANGE = re.compile(r"vm_flags\s*(?:[|&^]?=)(?!=)|\bvm_flags_\w+\s*\(|\bvma_start_write\s*\(|WRITE_ONCE\s*\([^;]*vm_flags")
_FLAG = re.compile(r"\bVM_[A-Z0-9_]+\b")
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_MASKS = {**ALIASES, "VM_LOCKED_CLEAR_MASK": ALIASES["VM_LOCKED_MASK"]}


def _statements(body: str) -> tuple[list[str], set[str]]:
    """A function's statements without white space, the ones that change
    vm_flags set aside, and the flags those name."""
    kept, flags = [], set()
    for part in re.split(r"[;{}]", _COMMENTS.sub(" ", body)):
        if _FLAG_CHANGE.search(part):
            for name in _FLAG.findall(part):
                flags.update(_MASKS.get(name, (name,)))
        elif part.strip():
            kept.append(re.sub(r"\s+", "", part))
    return kept, flags


def same_but_for_the_conversion(old: str, new: str) -> bool:
    """Whether two versions of a function differ only in how they change
    vm_flags, not in what else they do or which flags they change."""
    return _statements(old) == _statements(new)


def _function_texts(path: str) -> dict[str, list[str]]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return {}
    out: dict[str, list[str]] = {}
    for fn in walk(parser().parse(data).root_node, {"function_definition"}):
        name = function_name(fn)
        if name:
            out.setdefault(name, []).append((fn.text or b"").decode("utf-8", "replace"))
    return out


def conversion_only(sites: list[Site], tree_root: str, upstream_root: str) -> list[Site]:
    """The sites (with an upstream function) whose function is defined once
    in each tree and differs only by the conversion."""
    files: dict[str, dict[str, list[str]]] = {}

    def only(root: str, rel: str, name: str) -> str | None:
        path = os.path.join(root, rel)
        if path not in files:
            files[path] = _function_texts(path)
        found = files[path].get(name, [])
        return found[0] if len(found) == 1 else None

    out = []
    for s in sites:
        old = only(tree_root, s.path, s.function) if s.function else None
        new = only(upstream_root, s.upstream_path, s.function) if old is not None and s.upstream_path else None
        if old is not None and new is not None and same_but_for_the_conversion(old, new):
            out.append(s)
    return out
