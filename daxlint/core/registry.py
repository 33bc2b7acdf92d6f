"""Discovers the rules under the rules directory: every ``*.py`` file (not
starting with ``_``) is imported and its Rule subclasses are registered. A
rule is added by adding its file; nothing else lists it."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

from daxlint import __version__
from daxlint.core.rule import Rule, rule_classes_in
from daxlint.paths import rules_dir

_ID_RE = re.compile(r"^DAX\d{3}$")


class RuleSelectionError(ValueError):
    pass


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return "daxlint_rules." + ".".join(re.sub(r"\W", "_", p) for p in rel.parts)


@cache
def _load(root: Path) -> tuple[type[Rule], ...]:
    found: dict[str, type[Rule]] = {}
    for path in sorted(root.rglob("*.py")):
        if path.name.startswith("_") or "catalog" in path.relative_to(root).parts:
            continue
        name = _module_name(path, root)
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # before exec, so dataclasses/pickle can find it
            spec.loader.exec_module(module)
        for cls in rule_classes_in(module):
            if not _ID_RE.match(cls.id):
                raise RuntimeError(f"{path}: rule id {cls.id!r} is not of the form DAXnnn")
            if cls.id in found:
                raise RuntimeError(f"{path}: rule id {cls.id} is defined twice")
            found[cls.id] = cls
    return tuple(found[k] for k in sorted(found))


def all_rules() -> tuple[type[Rule], ...]:
    return _load(rules_dir())


def rule_by_id(ident: str) -> type[Rule] | None:
    ident_u = ident.upper()
    for cls in all_rules():
        if cls.id == ident_u or ident in cls.aliases or ident.upper() in cls.aliases or cls.name == ident:
            return cls
    return None


def _matches(cls: type[Rule], selector: str) -> bool:
    s = selector.strip()
    if not s:
        return False
    if s.upper() == "ALL":
        return True
    if cls.name == s:
        return True
    su = s.upper()
    return cls.id.startswith(su) or any(a.upper().startswith(su) for a in cls.aliases)


def validate_selectors(selectors: list[str]) -> None:
    for s in selectors:
        if not any(_matches(c, s) for c in all_rules()):
            raise RuleSelectionError(f"unknown rule or prefix {s!r} (see 'daxlint rules')")


def select_rules(select: list[str] | None = None, ignore: list[str] | None = None) -> list[type[Rule]]:
    """Rules enabled by ``select`` (default: all) minus ``ignore``. Ids,
    prefixes (DAX3), names and aliases are accepted."""
    select = [s for s in (select or []) if s.strip()]
    ignore = [s for s in (ignore or []) if s.strip()]
    validate_selectors(select + ignore)
    out = []
    for cls in all_rules():
        if select and not any(_matches(cls, s) for s in select):
            continue
        if any(_matches(cls, s) for s in ignore):
            continue
        out.append(cls)
    return out


def _specificity(selector: str) -> int:
    """How narrowly a selector names rules, as ruff ranks them: ALL, then
    id prefixes by their length (DAX < DAX3 < DAX30 < DAX301), then names
    and aliases (one rule)."""
    s = selector.strip().upper()
    if s == "ALL":
        return 0
    if any(cls.id.startswith(s) for cls in all_rules()):
        return len(s)
    return 100


def resolve_selection(levels: list[tuple[str, list[str] | None, list[str]]]) -> list[type[Rule]]:
    """The rules enabled by selections applied in order - the config's,
    then the command line's: (where, select or None, ignore) - as ruff
    resolves them: a level's ``select`` replaces what the levels before it
    enabled (their ignores included), its ``ignore`` narrows; within a
    level the more specific selector wins (``--select DAX301 --ignore
    DAX3`` keeps DAX301). A selection that leaves no rule is an error: a
    run of no rules would say "No findings" of anything."""
    enabled = set(all_rules())
    for _where, select, ignore in levels:
        validate_selectors(list(select or []) + list(ignore))
        verdict: dict[type[Rule], tuple[int, bool]] = {}
        for selectors, on in ((select or [], True), (ignore, False)):
            for s in selectors:
                rank = _specificity(s)
                for cls in all_rules():
                    # at equal specificity the ignore wins, as it comes second
                    if _matches(cls, s) and (cls not in verdict or rank >= verdict[cls][0]):
                        verdict[cls] = (rank, on)
        if select:
            enabled = {cls for cls, (_rank, on) in verdict.items() if on}
        else:
            enabled -= {cls for cls, (_rank, on) in verdict.items() if not on}
    if not enabled:
        given = "; ".join(
            f"{where}: " + ", ".join(f"{name} {','.join(v)}" for name, v in (("select", select or []), ("ignore", ignore)) if v)
            for where, select, ignore in levels
            if select or ignore
        )
        raise RuleSelectionError(f"no rules selected ({given}): nothing would be checked (see 'daxlint rules')")
    return [cls for cls in all_rules() if cls in enabled]


def rule_matches(rule_id: str, selectors: list[str]) -> bool:
    cls = rule_by_id(rule_id)
    if cls is None:
        return any(rule_id.startswith(s.upper()) for s in selectors)
    return any(_matches(cls, s) for s in selectors)


@cache
def ruleset_signature() -> str:
    """Changes whenever a rule, the catalog or daxlint changes:
    part of every cache key."""
    h = hashlib.sha256(__version__.encode())
    root = rules_dir()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".h", ".toml"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:20]
