"""Corpus entries: ``entry.toml`` files loaded, validated and selected."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from daxlint.paths import corpus_dir
from daxlint.version import KernelVersion

STATES = ("before", "after")
SIDES = ("violates", "fixes", "sanctioned", "complies")
PSEUDO_PREFIX = "pseudo:"

_COMMIT_RE = re.compile(r"^[0-9a-f]{7,40}$")
_RULE_ID_RE = re.compile(r"^DAX\d{3}$")
_REQUIRED = ("upstream_commit", "subject", "kernel_version", "side", "summary", "expected_before", "expected_after")
_KNOWN_KEYS = set(_REQUIRED) | {
    "kernel_version_approximate",
    "merged",
    "kernel_version_before",
    "kernel_version_after",
    "version_note",
    "related",
}


class CorpusError(ValueError):
    """A corpus directory or entry that cannot be used (bad input: exit 2)."""


@dataclass(frozen=True)
class Entry:
    id: str  # the directory name, e.g. "007-require-struct-page"
    path: Path
    upstream_commit: str  # hex id, or "pseudo:NAME"
    subject: str
    kernel_version: KernelVersion
    kernel_version_approximate: bool
    side: str
    merged: bool
    summary: str
    expected: dict[str, tuple[str, ...]]  # state -> sorted rule ids
    check_versions: dict[str, KernelVersion]  # state -> version the state is checked as
    version_note: str = ""
    related: tuple[str, ...] = ()

    @property
    def pseudo(self) -> bool:
        return self.upstream_commit.startswith(PSEUDO_PREFIX)

    @property
    def short_commit(self) -> str:
        return self.upstream_commit if self.pseudo else self.upstream_commit[:12]

    @property
    def version_label(self) -> str:
        return f"{'about ' if self.kernel_version_approximate else ''}v{self.kernel_version}"

    def state_dir(self, state: str) -> Path:
        return self.path / state

    def has_state(self, state: str) -> bool:
        return self.state_dir(state).is_dir()

    def states_involving(self, rule_id: str) -> list[str]:
        return [s for s in STATES if rule_id in self.expected[s]]


def _version(value, where: str) -> KernelVersion:
    if not isinstance(value, str):
        raise CorpusError(f'{where}: expected a version string like "4.15", got {value!r}')
    try:
        return KernelVersion.parse(value)
    except ValueError as e:
        raise CorpusError(f"{where}: {e}") from None


def _rule_list(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorpusError(f"{where}: expected a list of rule ids")
    bad = [v for v in value if not _RULE_ID_RE.match(v)]
    if bad:
        raise CorpusError(f"{where}: not rule ids: {', '.join(bad)}")
    return tuple(sorted(set(value)))


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string")
    return " ".join(value.split())


def load_entry(path: Path) -> Entry:
    """One entry directory. Raises CorpusError naming the file and key."""
    meta_path = path / "entry.toml"
    try:
        with open(meta_path, "rb") as fh:
            meta = tomllib.load(fh)
    except OSError as e:
        raise CorpusError(f"{meta_path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise CorpusError(f"{meta_path}: invalid TOML ({e})") from None
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise CorpusError(f"{meta_path}: missing {', '.join(missing)}")
    unknown = sorted(set(meta) - _KNOWN_KEYS)
    if unknown:
        raise CorpusError(f"{meta_path}: unknown key(s) {', '.join(unknown)}")

    commit = str(meta["upstream_commit"]).strip()
    if not (commit.startswith(PSEUDO_PREFIX) and len(commit) > len(PSEUDO_PREFIX)) and not _COMMIT_RE.match(commit):
        raise CorpusError(f"{meta_path}: upstream_commit {commit!r} is neither a commit id nor 'pseudo:NAME'")
    side = meta["side"]
    if side not in SIDES:
        raise CorpusError(f"{meta_path}: side {side!r} is not one of {', '.join(SIDES)}")
    version = _version(meta["kernel_version"], f"{meta_path}: kernel_version")
    expected = {s: _rule_list(meta[f"expected_{s}"], f"{meta_path}: expected_{s}") for s in STATES}
    check_versions = {
        s: _version(meta[f"kernel_version_{s}"], f"{meta_path}: kernel_version_{s}") if f"kernel_version_{s}" in meta else version
        for s in STATES
    }
    if not (path / "after").is_dir():
        raise CorpusError(f"{path}: no after/ directory")
    for s in STATES:
        if not (path / s).is_dir() and expected[s]:
            raise CorpusError(f"{path}: expected_{s} lists rules but there is no {s}/ directory")
    related = meta.get("related", [])
    if not isinstance(related, list) or not all(isinstance(r, str) for r in related):
        raise CorpusError(f"{meta_path}: related must be a list of strings")
    return Entry(
        id=path.name,
        path=path,
        upstream_commit=commit,
        subject=_text(meta["subject"], f"{meta_path}: subject"),
        kernel_version=version,
        kernel_version_approximate=bool(meta.get("kernel_version_approximate", False)),
        side=side,
        merged=bool(meta.get("merged", True)),
        summary=_text(meta["summary"], f"{meta_path}: summary"),
        expected=expected,
        check_versions=check_versions,
        version_note=_text(meta.get("version_note", ""), f"{meta_path}: version_note"),
        related=tuple(related),
    )


def load_corpus(root: Path | None = None) -> list[Entry]:
    """Every entry under ``root`` (default: the shipped corpus), by id."""
    root = Path(root) if root is not None else corpus_dir()
    if not root.is_dir():
        raise CorpusError(f"{root}: no such corpus directory")
    entries = [load_entry(p) for p in sorted(root.iterdir()) if p.is_dir() and (p / "entry.toml").is_file()]
    if not entries:
        raise CorpusError(f"{root}: no corpus entries (directories with an entry.toml)")
    return entries


def select_entries(entries: list[Entry], selectors: Iterable[str]) -> list[Entry]:
    """Entries matching any selector: an id or id prefix ("007"), a word of
    the id ("vm-flags"), or a commit id prefix. No selector: all."""
    selectors = [s.strip() for s in selectors if s.strip()]
    if not selectors:
        return list(entries)
    chosen: list[Entry] = []
    for sel in selectors:
        low = sel.lower()
        hits = [
            e
            for e in entries
            if e.id.startswith(sel)
            or low in e.id.lower()
            or (not e.pseudo and len(low) >= 7 and (e.upstream_commit.startswith(low) or low.startswith(e.upstream_commit)))
        ]
        if not hits:
            raise CorpusError(f"no corpus entry matches {sel!r} (see 'daxlint corpus --list')")
        chosen.extend(h for h in hits if h not in chosen)
    return [e for e in entries if e in chosen]


def entries_for_rule(rule_id: str, entries: list[Entry] | None = None) -> list[tuple[Entry, list[str]]]:
    """(entry, states whose expected list names ``rule_id``), for explain."""
    entries = load_corpus() if entries is None else entries
    out = []
    for e in entries:
        states = e.states_involving(rule_id)
        if states:
            out.append((e, states))
    return out
