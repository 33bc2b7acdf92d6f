"""Every C fixture under tests/fixtures/rules is both example and test: the
lines annotated ``ruleid`` must be flagged by that rule, ``ok`` lines must
not be, and the annotated rules may flag nothing else in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotations import parse_expectations
from conftest import FIXTURES
from daxlint.core.build import BuildSetup, parse_define
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import all_rules, select_rules
from daxlint.version import VersionRange

# C fixtures, and Kconfig fixtures for the Kconfig rules (they need annotations too).
FIXTURE_FILES = sorted(p for p in (FIXTURES / "rules").rglob("*") if p.is_file() and (p.suffix == ".c" or p.name.startswith("Kconfig")))


def analyse_fixture(path: Path, rule_ids: set[str], config: dict[str, str]):
    """The findings of the annotated rules on a fixture, for the kernel
    version (or range) and the macros its config line gives."""
    rules = select_rules(sorted(rule_ids))
    kv = config.get("kernel-version")
    versions = VersionRange.parse(kv) if kv else None
    build = BuildSetup(dict(parse_define(d) for d in config.get("define", "").split(",") if d))
    kernel = KernelContext(None, versions.last if versions else None, "flag" if versions else "default", versions=versions, build=build)
    engine = Engine(rules, kernel, EngineOptions(jobs=1, use_cache=False))
    return engine.analyze(str(path), path.read_bytes(), str(path))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[str(p.relative_to(FIXTURES / "rules")) for p in FIXTURE_FILES])
def test_fixture(path: Path):
    exp = parse_expectations(path)
    assert exp.rules, f"{path} has no ruleid/ok annotations"
    res = analyse_fixture(path, exp.rules, exp.config)
    assert not res.errors, res.errors
    got = {(f.rule_id, f.line) for f in res.findings if f.rule_id in exp.rules}
    missing = sorted(exp.flagged - got)
    unexpected = sorted(got - exp.flagged)
    wrongly_flagged = sorted(exp.clean & got)
    assert not missing, f"expected findings not reported: {missing}"
    assert not wrongly_flagged, f"lines marked ok were flagged: {wrongly_flagged}"
    assert not unexpected, f"findings without a ruleid annotation: {unexpected}"
    versions = {(f.rule_id, f.line): f.versions for f in res.findings if (f.rule_id, f.line) in exp.versions}
    assert versions == exp.versions, "findings apply to other versions than annotated"


def _findings_text(path: Path) -> str:
    exp = parse_expectations(path)
    res = analyse_fixture(path, exp.rules, exp.config)
    rows = [
        f"{f.line}:{f.column} {f.severity.value} {f.rule_id}{f' [{f.versions}]' if f.versions else ''} {f.message}"
        + (f"\n    fix: {f.fix}".replace("\n", "\n    ") if f.fix and "\n" in f.fix else "")
        for f in res.findings
        if f.rule_id in exp.rules
    ]
    return "\n".join(rows) if rows else "(no findings)"


@pytest.mark.parametrize("rule_id", [r.id for r in all_rules()])
def test_rule_snapshot(rule_id: str, snapshot):
    """Every finding of a rule's fixtures with its line, column, severity and
    message: a change of wording or severity shows as a snapshot diff to
    review (``pytest --snapshot-update`` records the new one)."""
    paths = [p for p in FIXTURE_FILES if p.relative_to(FIXTURES / "rules").parts[0] == rule_id]
    text = "\n\n".join(f"== {p.relative_to(FIXTURES / 'rules')}\n{_findings_text(p)}" for p in paths)
    assert text == snapshot


def test_every_rule_has_a_fixture():
    annotated = set()
    for p in FIXTURE_FILES:
        annotated |= {rid for rid, _ in parse_expectations(p).flagged}
    missing = [r.id for r in all_rules() if r.id not in annotated]
    assert not missing, f"rules without a fixture line that they must flag: {missing}"


C_FIXTURES = [p for p in FIXTURE_FILES if p.suffix == ".c"]


@pytest.mark.parametrize("path", C_FIXTURES, ids=[str(p.relative_to(FIXTURES / "rules")) for p in C_FIXTURES])
def test_fixture_with_crlf_line_ends(path: Path, tmp_path: Path):
    """The same findings when the fixture and the files beside and below it
    (headers, siblings, Kconfig) have CRLF line ends, as files edited on Windows or
    checked out with core.autocrlf do: macro bodies continue over
    backslash-CRLF, directives end at CR."""
    exp = parse_expectations(path)
    # The whole module: a source in a subdirectory has its Kbuild above.
    module = next((d for d in (path.parent, path.parent.parent) if (d / "Kbuild").exists() or (d / "Makefile").exists()), path.parent)
    copy = tmp_path / module.name
    for f in module.rglob("*"):
        if f.is_file():
            target = copy / f.relative_to(module)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    lf = analyse_fixture(path, exp.rules, exp.config)
    crlf = analyse_fixture(copy / path.relative_to(module), exp.rules, exp.config)
    assert not crlf.errors, crlf.errors
    assert sorted((f.rule_id, f.line, f.severity.value) for f in crlf.findings) == sorted(
        (f.rule_id, f.line, f.severity.value) for f in lf.findings
    )
