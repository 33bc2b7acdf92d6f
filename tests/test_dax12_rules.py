"""DAX1xx/DAX2xx beyond the ruleid/ok fixtures: severities (which the
annotations do not carry), what the messages say, the flag evaluator and
the Kconfig/kbuild readers, rules that need a kernel tree around the file,
and robustness on C that tree-sitter cannot parse cleanly."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from test_rule_fixtures import analyse_fixture

from conftest import FIXTURES, run_daxlint
from daxlint.analysis.pfn import Flags, pfn_analysis
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext
from daxlint.core.registry import all_rules, select_rules
from daxlint.core.source import SourceFile
from daxlint.kconfig.index import KconfigIndex, entry_guarantees
from daxlint.kconfig.makefile import makefile_objects
from daxlint.kconfig.parser import parse_kconfig_symbols
from daxlint.sources.tree import TreeReader
from daxlint.version import KernelVersion

RULES = FIXTURES / "rules"


def findings(relpath: str, rule: str, version: str | None = None) -> dict[int, object]:
    """line -> finding of ``rule`` in a fixture."""
    res = analyse_fixture(RULES / relpath, {rule}, {"kernel-version": version} if version else {})
    assert not res.errors, res.errors
    return {f.line: f for f in res.findings if f.rule_id == rule}


def line_of(relpath: str, needle: str) -> int:
    for n, line in enumerate((RULES / relpath).read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {relpath}")


# -- severities and messages ---------------------------------------------------------


def test_dax101_severity_follows_the_sink():
    flows = "DAX101/flows/pfn_flag_flows.c"
    got = findings(flows, "DAX101", "6.1")
    assert got[line_of(flows, "*pfn = phys_to_pfn_t(td->phys + PFN_PHYS(pgoff), flags);")].severity.value == "error"
    huge = got[line_of(flows, "pfn_t pfn = phys_to_pfn_t(td->phys, PFN_DEV);")]
    assert huge.severity.value == "error" and "vmf_insert_pfn_pmd()" in huge.message

    # Page-less by design (MMIO, framebuffers, XIP, the mm core): info, and
    # the message says nothing needs to change.
    pfnmap = findings("DAX101/pfnmap/toy_bar_mmap.c", "DAX101", "6.1")
    assert {f.severity.value for f in pfnmap.values()} == {"info"}
    messages = " ".join(f.message for f in pfnmap.values())
    assert "VM_PFNMAP" in messages and "vmf_insert_mixed()" in messages
    assert all("nothing needs to change" in f.message for f in pfnmap.values())
    core = pfnmap[line_of("DAX101/pfnmap/toy_bar_mmap.c", "return insert_pfn(vma, addr,")]
    assert f"built the same way at line {line_of('DAX101/pfnmap/toy_bar_mmap.c', 'track_pfn_insert(vma, &pgprot')}" in core.message

    limited = findings("DAX101/limited/toy_segment.c", "DAX101", "6.1")
    (special,) = limited.values()
    assert special.severity.value == "info"
    assert "FS_DAX_LIMITED" in special.message and "TOY_DCSS" in special.message


def test_dax101_messages_say_where_the_flags_came_from():
    flows = "DAX101/flows/pfn_flag_flows.c"
    got = findings(flows, "DAX101", "6.1")
    field = got[line_of(flows, "td->pfn_flags);")]
    assert "field 'pfn_flags'" in field.message and f"line {line_of(flows, 'td->pfn_flags = PFN_DEV;')}" in field.message
    assert "PFN_MAP" in field.message and "569d0365f571" in field.message
    macro = got[line_of(flows, "*pfn = phys_to_pfn_t(td->phys, TOY_DAX_FLAGS);")]
    assert "macro TOY_DAX_FLAGS" in macro.message
    local = got[line_of(flows, "*pfn = phys_to_pfn_t(td->phys + PFN_PHYS(pgoff), flags);")]
    assert "local variable 'flags'" in local.message
    param = got[line_of(flows, "return phys_to_pfn_t(phys, flags);")]
    assert "parameter 'flags' of toy_make_pfn()" in param.message


def test_dax101_version_awareness():
    old = findings("DAX101/old_kernel/before_4_15.c", "DAX101", "4.14")
    assert {f.severity.value for f in old.values()} == {"warning"}
    assert all("before v4.15" in f.message for f in old.values())
    new = findings("DAX101/removed_pfn_t/new_spelling.c", "DAX101", "6.17")
    (stale,) = new.values()
    assert "pfn_t no longer exists in v6.17" in stale.message
    # No flags to pass after pfn_t's removal: the fix asks for the pages.
    assert stale.fix == "map the memory with devm_memremap_pages() (MEMORY_DEVICE_FS_DAX dev_pagemap) and hand out the pfns of those pages"
    (before,) = findings("DAX101/removed_pfn_t/new_spelling.c", "DAX101", "6.16").values()
    assert before.fix.endswith("and pass PFN_DEV | PFN_MAP") and "no longer exists" not in before.message


def test_dax102_and_dax103_severities():
    xip = findings("DAX102/no_select/toy_xipblk.c", "DAX102", "6.1")
    assert {f.severity.value for f in xip.values()} == {"error"}
    assert all("FS_DAX_LIMITED" in f.message and "Kconfig" in f.message for f in xip.values())
    guards = "DAX103/pfn_t_to_page_guards.c"
    got = findings(guards, "DAX103", "6.1")
    # A DAX device's pfn is page-backed by policy: no finding at all.
    assert line_of(guards, "get_page(pfn_t_to_page(pfn));") not in got
    raw = got[line_of(guards, "pfn_t_to_page(raw)->index = 0;")]
    assert raw.severity.value == "error" and "with PFN_DEV" in raw.message
    # An origin out of view is info, and says what the caller owes.
    unknown = got[line_of(guards, "get_page(pfn_t_to_page(b));")]
    assert unknown.severity.value == "info" and "every caller passes a pfn with a struct page" in unknown.message
    bypass = got[line_of(guards, "get_page(pfn_to_page(pfn_t_to_pfn(raw) + i));")]
    assert bypass.severity.value == "error" and "bypasses pfn_t_to_page()'s has-page check" in bypass.message


def test_dax2_severities():
    old = findings("DAX201/old_kernel/toy_old.c", "DAX201", "4.14")
    assert {f.severity.value for f in old.values()} == {"warning"}
    new = findings("DAX201/new_spelling/toy_new.c", "DAX201", "6.17")
    assert {f.severity.value for f in new.values()} == {"error"}
    fallback = findings("DAX202/fallback/toy_fallback.c", "DAX202", "6.1")
    (info,) = fallback.values()
    assert info.severity.value == "info" and "fallback to devm_memremap_pages()" in info.message
    selects = findings("DAX204/select_fs_dax/Kconfig", "DAX204", "6.1")
    assert {f.severity.value for f in selects.values()} == {"error"}
    provider = findings("DAX204/provider/Kconfig", "DAX204", "6.1")
    (p,) = provider.values()
    assert p.severity.value == "warning" and "toy_provider.c" in p.message and p.snippet == "config TOY_PROVIDER"
    assert p.fix.startswith("add 'depends on ZONE_DEVICE' (or, for page-less fs-dax memory, 'select FS_DAX_LIMITED')")
    # device-dax: FS_DAX_LIMITED is no way out, and the advice does not offer it
    (dev,) = findings("DAX204/devdax/Kconfig", "DAX204", "6.1").values()
    assert dev.fix.startswith("add 'depends on ZONE_DEVICE' (select FS_DAX_LIMITED would not help")


# -- the flag evaluator --------------------------------------------------------------


def _constructions(code: str):
    src = SourceFile("t.c", textwrap.dedent(code).encode())
    return pfn_analysis(src).constructions


def test_flags_algebra():
    dev, mapped = Flags.of("PFN_DEV"), Flags.of("PFN_MAP")
    assert dev.always_pageless and dev.bit_or(mapped).always_has_page
    either = dev.either(dev.bit_or(mapped))
    assert not either.always_pageless and either.pageless_combos() and not either.always_has_page
    assert dev.bit_or(mapped).without(mapped).always_pageless
    assert not dev.bit_or(Flags.unknown_value()).always_pageless


@pytest.mark.parametrize(
    "body, pageless",
    [
        ("u64 f = PFN_DEV; g(__pfn_to_pfn_t(p, f));", True),
        ("u64 f = PFN_DEV; f |= PFN_MAP; g(__pfn_to_pfn_t(p, f));", False),
        ("u64 f = PFN_DEV; if (x) f |= PFN_MAP; g(__pfn_to_pfn_t(p, f));", False),
        ("u64 f; if (x) f = PFN_DEV; else f = PFN_DEV | PFN_SG_LAST; g(__pfn_to_pfn_t(p, f));", True),
        ("u64 f = PFN_DEV; mangle(&f); g(__pfn_to_pfn_t(p, f));", False),
        ("g(__pfn_to_pfn_t(p, (u64)(PFN_DEV)));", True),
        ("g(__pfn_to_pfn_t(p, 0));", False),
        ("g(__pfn_to_pfn_t(p, PFN_DEV | other_flags));", False),
        ("u64 f = PFN_DEV; g(__pfn_to_pfn_t(p, f)); f |= PFN_MAP;", True),
    ],
)
def test_local_flags(body, pageless):
    (c,) = _constructions(f"void t(unsigned long p, int x) {{ {body} }}")
    assert c.flags.always_pageless is pageless, c.flags


def test_macro_and_field_flags():
    code = """
    #define A_FLAGS (PFN_DEV)
    #define B_FLAGS (A_FLAGS | PFN_MAP)
    #define SELF (SELF | PFN_DEV)
    struct s { u64 fl; };
    void setup(struct s *s) { s->fl = A_FLAGS; }
    void late(struct s *s) { s->fl |= PFN_MAP; }
    void t(struct s *s, unsigned long p) {
        g(__pfn_to_pfn_t(p, A_FLAGS));
        g(__pfn_to_pfn_t(p, B_FLAGS));
        g(__pfn_to_pfn_t(p, SELF));
        g(__pfn_to_pfn_t(p, s->fl));
    }
    """
    a, b, selfref, field = _constructions(code)
    assert a.flags.always_pageless
    assert b.flags.always_has_page
    assert not selfref.flags.always_pageless  # a recursive macro is unknown, not a crash
    assert not field.flags.always_pageless  # PFN_MAP is ORed in by another function


# -- Kconfig and kbuild --------------------------------------------------------------


def test_kconfig_parser_keeps_if_and_menu_context_and_skips_help():
    text = textwrap.dedent(
        """\
        menu "DAX things"
        \tdepends on MMU

        if ZONE_DEVICE

        config A
        \tbool "a"
        \tdepends on X || \\
        \t\t   Y
        \tselect B if C
        \thelp
        \t  if you are unsure, say N
        \t  endif is just a word here

        endif

        config D
        \tbool
        endmenu
        """
    )
    syms, _ = parse_kconfig_symbols(text)
    a, d = syms
    assert a.context == ["MMU", "ZONE_DEVICE"]
    assert [d.replace(" ", "").replace("\t", "") for d in a.depends] == ["X||Y"]
    assert a.selects == [("B", "C")]
    assert d.context == ["MMU"]


def test_guarantees_follow_symbols_and_boolean_structure():
    text = textwrap.dedent(
        """\
        config PAGES
        \tbool
        \tdepends on ZONE_DEVICE
        config EITHER
        \tbool
        \tdepends on ZONE_DEVICE || FOO
        config USER1
        \tbool
        \tdepends on PAGES && BAR
        config USER2
        \tbool
        \tdepends on EITHER
        config USER3
        \tbool
        \tselect ZONE_DEVICE
        """
    )
    syms, _ = parse_kconfig_symbols(text)
    local = {s.name: [s] for s in syms}
    index = KconfigIndex(TreeReader(), None)
    verdict = {s.name: entry_guarantees(s, frozenset({"ZONE_DEVICE"}), index, local) for s in syms}
    assert verdict == {"PAGES": True, "EITHER": False, "USER1": True, "USER2": False, "USER3": True}


def test_makefile_objects_follow_composites():
    mk = textwrap.dedent(
        """\
        obj-$(CONFIG_FOO) += foo.o bar/
        obj-$(CONFIG_BAZ) += baz.o
        foo-y := foo_main.o \\
        \tfoo_util.o
        foo-$(CONFIG_FOO_EXTRA) += foo_extra.o
        ccflags-y += -DDEBUG
        """
    )
    objs = makefile_objects(mk, "d")
    assert objs["FOO"] == {"d/foo_main.c", "d/foo_util.c", "d/foo_extra.c"}
    assert objs["FOO_EXTRA"] == {"d/foo_extra.c"}
    assert objs["BAZ"] == {"d/baz.c"}


def test_makefile_objects_of_out_of_tree_modules():
    """obj-m objects are modules of their own, with their -y / -objs parts."""
    mk = "obj-m := toy.o other.o\ntoy-y := toy_main.o toy_alloc.o\nother-objs := other_a.o\n"
    objs = makefile_objects(mk, "d")
    assert objs["module:toy"] == {"d/toy_main.c", "d/toy_alloc.c"}
    assert objs["module:other"] == {"d/other_a.c"}


# -- rules that need a tree around the file --------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str], version=(6, 1)) -> Path:
    (tmp_path / "Makefile").write_text(f"VERSION = {version[0]}\nPATCHLEVEL = {version[1]}\nSUBLEVEL = 0\n")
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(content))
    return tmp_path


SEGMENT_C = """\
    static long seg_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
                                  enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
    {
            struct seg *s = dax_get_private(dax_dev);

            *pfn = __pfn_to_pfn_t(PFN_DOWN(s->start) + pgoff, PFN_DEV | PFN_SPECIAL);
            return nr_pages;
    }

    static const struct dax_operations seg_ops = {
            .direct_access = seg_direct_access,
    };
    """
SEGMENT_KCONFIG = """\
    config SEG
    \ttristate "segments"
    \tselect FS_DAX_LIMITED
    """


def test_dax102_select_of_a_symbol_the_tree_no_longer_defines(tmp_path):
    tree = _tree(
        tmp_path,
        {
            "Kconfig": 'source "drivers/seg/Kconfig"\nsource "fs/Kconfig"\n',
            "fs/Kconfig": "config FS_DAX\n\tbool\n\tdepends on ZONE_DEVICE\n",
            "drivers/seg/Kconfig": SEGMENT_KCONFIG,
            "drivers/seg/seg.c": SEGMENT_C,
        },
    )
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX1", "--format", "json", "drivers", cwd=tree)
    assert code == 1, err
    (f,) = json.loads(out)["findings"]
    assert (f["rule_id"], f["path"], f["line"], f["severity"]) == ("DAX102", "drivers/seg/seg.c", 6, "error")
    assert "no longer defines it" in f["message"]

    # With the symbol defined, the same driver is the sanctioned exception.
    (tree / "fs/Kconfig").write_text("config FS_DAX\n\tbool\nconfig FS_DAX_LIMITED\n\tbool\n")
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX1,DAX2", "--format", "json", "drivers", cwd=tree)
    assert code == 0, err  # info only: it fails a run only with --fail-on info
    (f,) = json.loads(out)["findings"]
    assert (f["rule_id"], f["line"], f["severity"]) == ("DAX101", 6, "info")


def test_dax204_follows_dependencies_across_the_tree(tmp_path):
    tree = _tree(
        tmp_path,
        {
            "Kconfig": 'source "fs/Kconfig"\nsource "drivers/Kconfig"\n',
            "fs/Kconfig": "config FS_DAX\n\tbool\n\tdepends on MMU\n\tdepends on ZONE_DEVICE || FS_DAX_LIMITED\n",
            "drivers/Kconfig": 'menu "Drivers"\nsource "drivers/toy/Kconfig"\nendmenu\n',
            "drivers/toy/Kconfig": "config TOY_FSUSER\n\tbool\n\tdepends on FS_DAX\nconfig TOY_SELECTOR\n\tbool\n\tselect FS_DAX\n",
            "drivers/toy/Makefile": "obj-$(CONFIG_TOY_FSUSER) += fsuser.o\n",
            "drivers/toy/fsuser.c": "int toy_fsuser;\n",
        },
    )
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX204", "--format", "json", ".", cwd=tree)
    assert code == 1, err
    got = [(f["path"], f["line"], f["snippet"]) for f in json.loads(out)["findings"]]
    assert got == [("drivers/toy/Kconfig", 4, "config TOY_SELECTOR")]


def test_clean_provider_exits_zero_and_pageless_provider_exits_one(tmp_path):
    provider = """\
        static long p_direct_access(struct dax_device *d, pgoff_t pgoff, long n,
                                    enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
        {
                struct p *p = dax_get_private(d);

                *kaddr = p->virt + PFN_PHYS(pgoff);
                *pfn = phys_to_pfn_t(p->phys + PFN_PHYS(pgoff), PFN_DEV | PFN_MAP);
                return n;
        }

        static const struct dax_operations p_ops = { .direct_access = p_direct_access };
        """
    tree = _tree(
        tmp_path,
        {"drivers/p/p.c": provider, "drivers/p/pages.c": "void f(struct p *p) { p->virt = devm_memremap_pages(p->dev, &p->pgmap); }\n"},
    )
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX1,DAX2", "drivers", cwd=tree)
    assert code == 0, out + err
    (tree / "drivers/p/pages.c").write_text("void f(struct p *p) { p->virt = devm_memremap(p->dev, p->phys, p->size, MEMREMAP_WB); }\n")
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX1,DAX2", "--format", "json", "drivers", cwd=tree)
    assert code == 1, err
    (f,) = json.loads(out)["findings"]
    assert (f["rule_id"], f["path"], f["line"]) == ("DAX201", "drivers/p/p.c", 11)
    assert f["fingerprint"]


# -- robustness and speed ----------------------------------------------------------------

BROKEN_C = """\
#define PFN_DEV_ALIAS PFN_DEV
#define BROKEN(x) __pfn_to_pfn_t(x,
static long weird_direct_access(struct dax_device *d, pgoff_t p, long n, void **kaddr, pfn_t *pfn)
{
	DEFINE_SOMETHING(x) {
	*pfn = __pfn_to_pfn_t(p, PFN_DEV_ALIAS
	#ifdef CONFIG_X
	| PFN_MAP
	#endif
	);
	pfn_t_to_page(*pfn)->index = 0;
	if (
	return n;
}
static const struct dax_operations weird_ops = { .direct_access = weird_direct_access, .direct_access = };
int tail(void) { return memremap(0, 0, 0) + ioremap( ; }
config NOT_KCONFIG
"""


def test_rules_survive_code_tree_sitter_cannot_parse():
    rules = select_rules(["DAX1", "DAX2"])
    engine = Engine(rules, KernelContext(None, KernelVersion(6, 1), "flag"), EngineOptions(jobs=1, use_cache=False))
    for data in (BROKEN_C.encode(), b"", b"PFN_DEV direct_access pfn_t_to_page MEMORY_DEVICE_ PFN_SPECIAL", BROKEN_C.encode() * 50):
        res = engine.analyze("broken.c", data, None)
        assert not res.errors, res.errors


def test_kconfig_rule_survives_odd_kconfig():
    rules = select_rules(["DAX204"])
    engine = Engine(rules, KernelContext(None, KernelVersion(6, 1), "flag"), EngineOptions(jobs=1, use_cache=False))
    odd = b'config\nif\nendif\nendif\nmenu "x"\nconfig A_DAX\n\tselect FS_DAX if (\n\tdepends on ((( ||\nsource\n'
    res = engine.analyze("Kconfig", odd, None)
    assert not res.errors, res.errors


def test_page_rules_prefilter_on_tokens():
    """Every DAX1/DAX2 rule names trigger tokens, so files without them are never parsed."""
    for rule in all_rules():
        if rule.id.startswith(("DAX1", "DAX2")):
            assert rule.tokens, rule.id
    engine = Engine(
        select_rules(["DAX1", "DAX2"]), KernelContext(None, KernelVersion(6, 1), "flag"), EngineOptions(jobs=1, use_cache=False)
    )
    res = engine.analyze("plain.c", b"int main(void) { return 0; }\n", None)
    assert not res.parsed
