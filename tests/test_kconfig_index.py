"""The lazy Kconfig symbol index must answer exactly what parsing every
Kconfig file of the tree would: the same source graph, the same definitions
in the same order, the same has_tree."""

from __future__ import annotations

import os
import random

from daxlint.kconfig.index import KconfigIndex, _KconfigFile, _plain_sources
from daxlint.kconfig.parser import parse_kconfig_symbols
from daxlint.sources.tree import TreeReader

# Lines chosen to sit on the edges of the cheap scan: source statements in
# help text, indented, continued, on odd line breaks; entry lines split by a
# continuation; keywords glued to their argument.
_LINES = [
    "config FOO",
    "menuconfig BAR",
    "config BAZ # trailing",
    "\tconfig INDENTED",
    "config \\",
    "QUX",
    "menu\\",
    "config NOT_AN_ENTRY",
    "\tdepends on FOO && !BAR",
    "\tselect ZONE_DEVICE if FOO",
    '\tbool "prompt"',
    "\thelp",
    "  ---help---",
    '\t  Some help that says source "help/Kconfig" in passing.',
    '\t  source "help/indented"',
    "\t  ends with a backslash \\",
    'source "top/Kconfig"',
    'source  "spaced/Kconfig"',
    'source\t"tabbed/Kconfig"',
    '\tsource "indented/Kconfig"',
    '  rsource "rel/Kconfig"',
    'rsource "rel/Kconfig"',
    'osource "optional/Kconfig"',
    'orsource "optrel/Kconfig"',
    'source "continued/Kconfig" \\',
    'source"glued"',
    'xsource "not/a/statement"',
    'or source "two/words"',
    'source "unterminated',
    'source "formfeed"\x0c',
    'source "carriage"\r',
    '\u00a0source "nbsp"',
    "if FOO",
    "endif",
    'menu "m"',
    "endmenu",
    "choice",
    "endchoice",
    'comment "c"',
    "",
    "\t",
    "   ",
]


def _random_texts(n: int, seed: int = 20240610):
    rng = random.Random(seed)
    for _ in range(n):
        lines = [rng.choice(_LINES) for _ in range(rng.randint(0, 14))]
        yield "\n".join(lines) + rng.choice(["", "\n", "\\"])


def test_cheap_source_scan_agrees_with_the_parser_or_declines():
    declined = agreed = 0
    for text in _random_texts(6000):
        symbols, sources = parse_kconfig_symbols(text, "K")
        plain = _plain_sources(text)
        if plain is None:
            declined += 1
        else:
            agreed += 1
            assert plain == sources, text
        unparsed = _KconfigFile.__new__(_KconfigFile)
        unparsed.path, unparsed.text, unparsed._symbols = "K", text, None
        assert {s.name for s in symbols} <= unparsed.names(), text
    # Both paths are exercised.
    assert declined > 100 and agreed > 100


def _write(root, rel: str, text: str) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _reference(root: str) -> dict[str, list]:
    """Every reachable Kconfig file parsed in full, in the index's reading order."""
    reader = TreeReader()
    arches = reader.listdir(os.path.join(root, "arch"))
    symbols: dict[str, list] = {}
    seen: set[str] = set()
    todo = [os.path.join(root, "Kconfig")]
    while todo:
        path = os.path.normpath(todo.pop())
        if path in seen:
            continue
        seen.add(path)
        data = reader.read(path)
        if data is None:
            continue
        syms, sources = parse_kconfig_symbols(data.decode("utf-8", "replace"), path)
        for s in syms:
            symbols.setdefault(s.name, []).append(s)
        for kind, src in sources:
            base = os.path.dirname(path) if kind in ("rsource", "orsource") else root
            variants = [src.replace("$(SRCARCH)", a) for a in arches] if "$(SRCARCH)" in src else [src]
            todo += [os.path.join(base, v) for v in variants if "$" not in v]
    return symbols


def test_lazy_index_matches_parsing_every_file(tmp_path):
    root = str(tmp_path)
    _write(root, "Kconfig", 'mainmenu "t"\nsource "arch/$(SRCARCH)/Kconfig"\nsource "drivers/Kconfig"\nsource "fs/Kconfig"\n')
    for arch in ("alpha", "beta"):
        _write(
            root, f"arch/{arch}/Kconfig", f"config MMU\n\tdef_bool y\n\tdepends on {arch.upper()}\nconfig {arch.upper()}\n\tdef_bool y\n"
        )
    _write(
        root,
        "drivers/Kconfig",
        'menu "Drivers"\nsource "drivers/dax/Kconfig"\n\tsource "drivers/nvdimm/Kconfig"\nendmenu\n'
        'config HELPFUL\n\tbool\n\thelp\n\t  source "drivers/never/Kconfig" is only prose\n',
    )
    _write(
        root,
        "drivers/dax/Kconfig",
        'menuconfig DAX\n\ttristate\nif DAX\nconfig DEV_DAX\n\tdepends on ZONE_DEVICE\nendif\nrsource "Kconfig.more"\n',
    )
    _write(root, "drivers/dax/Kconfig.more", "config DEV_DAX_EXTRA\n\tdepends on DEV_DAX && \\\n\t\tMMU\n")
    _write(root, "drivers/nvdimm/Kconfig", "config LIBNVDIMM\n\tdepends on MMU\nconfig \\\nSPLIT_ENTRY\n\tbool\n")
    _write(root, "drivers/never/Kconfig", "config NEVER_READ\n\tbool\n")
    _write(root, "fs/Kconfig", "config FS_DAX\n\tdepends on MMU && (ZONE_DEVICE || FS_DAX_LIMITED)\nconfig DAX\n\tbool\n")
    expected = _reference(root)
    assert "NEVER_READ" not in expected and "SPLIT_ENTRY" in expected
    index = KconfigIndex(TreeReader(), root)
    assert index.has_tree
    for name in sorted(expected) + ["NEVER_READ", "ZONE_DEVICE", "config"]:
        assert index.definitions(name) == expected.get(name, []), name
    assert [s.path for s in index.definitions("MMU")] == [s.path for s in expected["MMU"]]


def test_index_without_symbols_has_no_tree(tmp_path):
    _write(str(tmp_path), "Kconfig", 'mainmenu "empty"\n\thelp\n\t  config NOT_REALLY\n')
    index = KconfigIndex(TreeReader(), str(tmp_path))
    assert not index.has_tree
    assert index.definitions("NOT_REALLY") == []
