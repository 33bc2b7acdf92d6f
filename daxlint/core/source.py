"""One C file as the rules see it: its bytes, its text and its tree-sitter
tree, parsed once and shared by every rule."""

from __future__ import annotations

from functools import cached_property

import tree_sitter
import tree_sitter_c

from daxlint.core.syntax import index_tree
from daxlint.lines import split_lines

C_LANGUAGE = tree_sitter.Language(tree_sitter_c.language())
_parser: _Parser | None = None


class _Parser:
    """tree-sitter's C parser; every tree it makes is indexed for parent()."""

    def __init__(self):
        self._ts = tree_sitter.Parser(C_LANGUAGE)

    def parse(self, data: bytes) -> tree_sitter.Tree:
        tree = self._ts.parse(data)
        index_tree(tree.root_node)
        return tree


def parser() -> _Parser:
    global _parser
    if _parser is None:
        _parser = _Parser()
    return _parser


class SourceFile:
    def __init__(self, path: str, data: bytes, text: str | None = None, original: bytes | None = None):
        self.path = path  # as shown in reports
        self.data = data  # as the checked build sees it (dead branches blanked)
        self.original = data if original is None else original  # as written
        self._text = text
        self._shared: dict = {}

    def shared(self, factory, *args):
        """``factory(self, *args)``, built once per file: analyses that several
        rules consult (pfn flags, vm_flags writes, DAX facts) live as long as
        the file does and are computed by whichever rule asks first."""
        key = (factory, *(id(a) for a in args))
        value = self._shared.get(key)
        if value is None:
            value = self._shared[key] = factory(self, *args)
        return value

    @cached_property
    def text(self) -> str:
        return self._text if self._text is not None else self.data.decode("utf-8", errors="replace")

    @cached_property
    def tree(self) -> tree_sitter.Tree:
        return parser().parse(self.data)

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.text)

    def line_text(self, line: int) -> str:
        """1-based line, '' past the end."""
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def node_text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
