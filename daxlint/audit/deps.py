"""What a file's verdict read besides the file itself, and whether it still
holds in another tree. Keys: "f:path" (a file: its blob id), "d:path" (a
directory: a hash of its names), "s:SYMBOL" (the Kconfig definitions of a
symbol anywhere in the tree), "h:" (whether the tree has a Kconfig tree at
all). A file a verdict only tested (GitTreeReader.read_if) has a weak
token instead of its blob id: "~" and a digest of the test, whose
description is recorded under that token as its own key; such a file
holds while the same test still finds it irrelevant. The tree-wide Kconfig
index is built once per tree and shared by every file of it (TreeIndexes,
seen through an _IndexView per file)."""

from __future__ import annotations

import dataclasses
import hashlib

import pygit2

from daxlint.analysis.weak import weak_test
from daxlint.kconfig.index import KconfigIndex
from daxlint.kconfig.parser import parse_kconfig_symbols
from daxlint.sources.git import BLOB, VIRTUAL_ROOT, WEAK, WEAK_TESTS_APART, Change, GitTreeReader, lookup, tree_changes, tree_token


def dep_token(repo: pygit2.Repository, tree, key: str, indexes: TreeIndexes | None = None) -> str:
    """What a dependency looked like. Keys: "f:path" (a file: its blob id),
    "d:path" (a directory: a hash of its names), "s:SYMBOL" (the Kconfig
    definitions of a symbol anywhere in the tree), "h:" (whether the tree
    has a Kconfig tree at all); "-" when absent."""
    kind, rel = key[0], key[2:]
    if kind in ("s", "h"):
        if indexes is None:
            return "?"
        index = indexes.kconfig_index(repo, tree)
        return symbols_token(index.definitions(rel)) if kind == "s" else str(int(bool(index.has_tree)))
    return tree_token(tree, key)


def symbols_token(definitions) -> str:
    # Line numbers left out: an edit above a definition does not change it.
    plain = [dataclasses.replace(d, line=0) if dataclasses.is_dataclass(d) and hasattr(d, "line") else d for d in definitions]
    return hashlib.sha1(repr(plain).encode()).hexdigest()[:16]


def holds(repo: pygit2.Repository, tree, key: str, recorded: str, deps: dict[str, str], indexes: TreeIndexes | None = None) -> bool:
    """Whether one dependency of ``deps`` (``key`` -> ``recorded``) is the
    same in ``tree``."""
    if key.startswith(WEAK):
        return True  # the description of a test, not something read
    if recorded.startswith(WEAK):
        return _still_irrelevant(repo, tree, key[2:], deps.get(recorded), indexes.weak_answers if indexes is not None else None)
    return dep_token(repo, tree, key, indexes) == recorded


def _still_irrelevant(repo: pygit2.Repository, tree, rel: str, why: str | None, answers: dict | None = None) -> bool:
    obj = lookup(tree, rel)
    if why is None or obj is None or obj.type_str != "blob" or obj.filemode == pygit2.enums.FileMode.LINK:
        return False  # no test recorded, or no longer a file: read it again
    # The answer depends on the file's contents and the tests alone, and
    # most files stay the same over a walk of commits.
    memo = (obj.id, why)
    if answers is not None and memo in answers:
        return answers[memo]
    lines = why.split(WEAK_TESTS_APART)
    blobs = [line[len(BLOB) :] for line in lines if line.startswith(BLOB)]
    if len(blobs) == 1 and blobs[0] == str(obj.id):
        return True  # the contents the tests were made on
    # Every test the verdict made of the file, one per line, must still
    # find it irrelevant.
    tests = [weak_test(w) for w in lines if not w.startswith(BLOB)]
    if None in tests:
        return False  # a test this daxlint does not know
    try:
        data = obj.data
    except (KeyError, pygit2.GitError):
        return False
    answer = not any(test(data) for test in tests)
    if answers is not None:
        if len(answers) > 200000:
            answers.clear()
        answers[memo] = answer
    return answer


def deps_hold(repo: pygit2.Repository, tree, deps: dict[str, str], indexes: TreeIndexes | None = None, memo: dict | None = None) -> bool:
    """Whether what a result read is the same in ``tree``. ``memo`` keeps
    the answers for ``tree`` between calls: the files of a tree read many of
    the same headers and directories."""
    if memo is None:
        return all(holds(repo, tree, k, v, deps, indexes) for k, v in deps.items())
    for k, v in deps.items():
        if v.startswith(WEAK):
            # The test's answer depends on the test, not only the file.
            mk = (k, v)
            if mk not in memo:
                memo[mk] = holds(repo, tree, k, v, deps, indexes)
            if not memo[mk]:
                return False
            continue
        if k.startswith(WEAK):
            continue
        if k not in memo:
            memo[k] = dep_token(repo, tree, k, indexes)
        if memo[k] != v:
            return False
    return True


def touches_kconfig(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("Kconfig")


class TreeIndexes:
    """Objects that rule helpers build once for a whole tree - the Kconfig
    symbol index (daxlint.kconfig.index), which parses every Kconfig
    file. Kept for the last few trees of this process; a new tree re-parses
    only the Kconfig files whose text it has not seen."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self._indexes: dict[str, tuple[object, GitTreeReader]] = {}
        self._parsed: dict[tuple[bytes, str], object] = {}
        self._blobs: dict[str, bytes] = {}  # Kconfig files by blob id
        # Whether a file is still irrelevant to a verdict's tests, by its
        # blob id and the tests (_still_irrelevant).
        self.weak_answers: dict[tuple, bool] = {}

    def parse(self, text: str, path: str):
        """parse_kconfig_symbols, remembered by text and path."""
        memo = (hashlib.sha1(text.encode("utf-8", "surrogateescape")).digest(), path)
        if memo not in self._parsed:
            self._parsed[memo] = parse_kconfig_symbols(text, path)
        return self._parsed[memo]

    def changed_symbols(self, repo: pygit2.Repository, changes: list[Change]) -> set[str] | None:
        """Names of the symbols whose definitions differ between the old and
        new versions of changed Kconfig files; None when the change could
        alter which Kconfig files the tree reads (a file added or removed, a
        ``source`` line changed)."""
        names: set[str] = set()
        for c in changes:
            if c.old is None or c.new is None:
                return None
            try:
                old_text, new_text = (repo[o].data.decode("utf-8", "replace") for o in (c.old, c.new))
            except (KeyError, ValueError, pygit2.GitError):
                return None
            path = f"{VIRTUAL_ROOT}/{c.path}"
            (old_syms, old_src), (new_syms, new_src) = self.parse(old_text, path), self.parse(new_text, path)
            if old_src != new_src:
                return None
            before, after = {}, {}
            for syms, into in ((old_syms, before), (new_syms, after)):
                for sym in syms:
                    into.setdefault(sym.name, []).append(sym)
            names.update(n for n in before.keys() | after.keys() if symbols_token(before.get(n, [])) != symbols_token(after.get(n, [])))
        return names

    def kconfig_index(self, repo: pygit2.Repository, tree):
        return self.kconfig_index_and_reads(repo, tree)[0]

    def kconfig_index_and_reads(self, repo: pygit2.Repository, tree) -> tuple[object, GitTreeReader]:
        key = str(tree.id)
        if key not in self._indexes:
            # Most commits change no Kconfig file: an index built for a
            # recent tree serves if no file it read, and no directory it
            # listed, differs between that tree and this one.
            distinct = {id(entry[0]): entry for entry in self._indexes.values()}
            for index, reader in reversed(list(distinct.values())):
                changes = tree_changes(reader.tree, tree)
                if not any(
                    "f:" + c.path in reader.deps
                    or ((c.old is None) != (c.new is None) and any("d:" + d in reader.deps for d in ancestors(c.path)))
                    for c in changes
                ):
                    self._remember(key, (index, reader))
                    return index, reader
            reader = GitTreeReader(repo, tree, self._blobs)
            # The index reads every Kconfig file once, and consecutive
            # commits share nearly all: parse through the memo.
            index = KconfigIndex(reader, VIRTUAL_ROOT, parse=self.parse)
            _ = index.has_tree  # load now
            if len(self._parsed) > 40000 or len(self._blobs) > 20000:
                self._parsed.clear()
                self._blobs.clear()
            self._remember(key, (index, reader))
        return self._indexes[key]

    def _remember(self, key: str, entry: tuple[object, GitTreeReader]) -> None:
        while len(self._indexes) >= self.keep:
            self._indexes.pop(next(iter(self._indexes)))
        self._indexes[key] = entry


class _IndexView:
    """What a file's rules see in place of the tree's Kconfig index: the
    shared index, recording which symbols were looked up (and what their
    definitions were) as that file's dependencies. Anything else asked of
    the index makes the file depend on every Kconfig file it read."""

    def __init__(self, indexes: TreeIndexes, repo, tree, deps: dict[str, str]):
        self._indexes, self._repo, self._tree, self._deps = indexes, repo, tree, deps

    def _index(self):
        return self._indexes.kconfig_index(self._repo, self._tree)

    def definitions(self, name: str):
        found = self._index().definitions(name)
        self._deps["s:" + name] = symbols_token(found)
        return found

    def defines(self, name: str) -> bool:
        return bool(self.definitions(name))

    @property
    def has_tree(self) -> bool:
        found = bool(self._index().has_tree)
        self._deps["h:"] = str(int(found))
        return found

    def __getattr__(self, name):
        index, reads = self._indexes.kconfig_index_and_reads(self._repo, self._tree)
        self._deps.update(reads.deps)
        return getattr(index, name)


def touched_keys(changes) -> set[str]:
    """The dependency keys a commit's changes make stale: each changed file,
    and each directory above a file added or deleted (its listing changed)."""
    added_or_gone = {c.path for c in changes if (c.old is None) != (c.new is None)}
    return {"f:" + c.path for c in changes} | {"d:" + d for p in added_or_gone for d in ancestors(p)}


def ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]
