"""Preprocessor conditions: the three-valued evaluator, the views of a file
per build, headers' defines, shims, and the engine's per-version runs."""

from __future__ import annotations

import textwrap

import gcc_cpp
import pytest

from daxlint.core.build import BuildSetup, MacroSpec, compat_shims, parse_config_macro, views
from daxlint.core.directives import scan
from daxlint.core.engine import Engine, EngineOptions
from daxlint.core.kernel import KernelContext
from daxlint.core.preprocessor import UNKNOWN, Interval, evaluate, evaluate_file
from daxlint.core.registry import select_rules
from daxlint.errors import InputError
from daxlint.version import KernelVersion, VersionRange

V = KernelVersion
V612 = KernelVersion(6, 12)


def value_of(expr: str, version: KernelVersion = V612, macros: dict | None = None, sublevel: int | None = None):
    setup = BuildSetup({k: MacroSpec(v) for k, v in (macros or {}).items()}, sublevel=sublevel)
    lookup = setup.lookup(version)

    class M:
        def __init__(self):
            self.lookup = lookup

    return evaluate(expr, M())


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("0", 0),
        ("1", 1),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 / 3", 3),
        ("-7 % 3", -1),
        ("1 << 4 | 1", 17),
        ("0x10 == 16", 1),
        ("010 == 8", 1),
        ("!0 && !!5", 1),
        ("3 > 2 ? 7 : 9", 7),
        ("1 / 0", UNKNOWN),
        ("KERNEL_VERSION(6, 3, 0) == 0x060300", 1),
        ("KERNEL_VERSION(4, 14, 300) == KERNEL_VERSION(4, 14, 255)", 1),
        ("LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)", 1),
        ("LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)", 0),
        ("LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)", 1),
        ("LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 5)", UNKNOWN),  # the sublevel is not known
        ("LINUX_VERSION_CODE > KERNEL_VERSION(6, 12, 255)", 0),
        ("LINUX_VERSION_MAJOR == 6 && LINUX_VERSION_PATCHLEVEL >= 12", 1),
        ("LINUX_VERSION_SUBLEVEL > 300", 0),
        ("defined(CONFIG_X86_64)", UNKNOWN),
        ("IS_ENABLED(CONFIG_ZONE_DEVICE)", UNKNOWN),
        ("defined(CONFIG_X) || 1", 1),
        ("defined(CONFIG_X) && 0", 0),
        ("defined VM_RESERVED", 0),
        ("defined(VM_DONTDUMP)", 1),
        ("defined(PFN_SPECIAL)", 1),
        ("defined(HAVE_VM_FLAGS_SET)", UNKNOWN),
        ("TOY_UNKNOWN_MACRO > 2", UNKNOWN),
        ("RHEL_RELEASE_CODE >= RHEL_RELEASE_VERSION(9, 2)", UNKNOWN),
        ("defined(__KERNEL__)", 1),
        ("1 +", UNKNOWN),  # not C: undecided, never an error
    ],
)
def test_expressions(expr, expected):
    assert value_of(expr) == expected


def test_catalog_macros_follow_the_version():
    assert value_of("defined(VM_RESERVED)", V(3, 6)) == 1
    assert value_of("defined(VM_RESERVED)", V(3, 7)) == 0
    assert value_of("defined(PFN_SPECIAL)", V(4, 14)) == 0
    assert value_of("defined(PFN_DEV)", V(6, 17)) == 0


def test_known_sublevel_and_configuration():
    assert value_of("LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 5)", sublevel=9) == 1
    assert value_of("LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 5)", sublevel=2) == 0
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO_MODULE": "1"}) == 1
    assert value_of("IS_BUILTIN(CONFIG_FOO)", macros={"CONFIG_FOO_MODULE": "1"}) == UNKNOWN
    # -U CONFIG_FOO (or -D CONFIG_FOO=0, which Kconfig's "defined as 1" test
    # reads as off) decides IS_ENABLED(): nothing said of CONFIG_FOO_MODULE.
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": None}) == 0
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": "0"}) == 0
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": "y"}) == 0  # as gcc reads autoconf's test
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": "1"}) == 1
    assert value_of("IS_MODULE(CONFIG_FOO)", macros={"CONFIG_FOO": None}) == 0
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": None, "CONFIG_FOO_MODULE": "1"}) == 1
    assert value_of("IS_ENABLED(CONFIG_FOO)", macros={"CONFIG_FOO": ""}) == 1
    complete = BuildSetup({"CONFIG_FOO": MacroSpec("1")}, config_complete=True)
    assert evaluate("defined(CONFIG_BAR) || IS_ENABLED(CONFIG_BAR)", _lookup(complete)) == 0
    assert evaluate("IS_ENABLED(CONFIG_FOO) && !defined(CONFIG_BAR)", _lookup(complete)) == 1


def _lookup(setup: BuildSetup, version=V612):
    class M:
        lookup = staticmethod(setup.lookup(version))

    return M()


def test_macro_values_expand():
    assert value_of("TOY_LEVEL * 2 == 6", macros={"TOY_LEVEL": "3"}) == 1
    assert value_of("TOY_A", macros={"TOY_A": "TOY_B + 1", "TOY_B": "4"}) == 5
    assert value_of("TOY_SELF", macros={"TOY_SELF": "TOY_SELF + 1"}) == UNKNOWN  # no endless expansion


def test_interval_comparisons():
    assert isinstance(value_of("LINUX_VERSION_CODE"), Interval)
    assert value_of("LINUX_VERSION_CODE != KERNEL_VERSION(6, 1, 0)") == 1


def dead_lines(code: str, version=V612, setup: BuildSetup | None = None, included=None) -> list[int]:
    data = textwrap.dedent(code).encode()
    ev = evaluate_file(scan(data), (setup or BuildSetup()).lookup(version), included)
    lines = set()
    for start, end in ev.dead_spans():
        first = data.count(b"\n", 0, start) + 1
        last = data.count(b"\n", 0, max(start, end - 1)) + 1
        lines.update(range(first, last + 1))
    return sorted(lines)


def test_dead_branches_and_decided_directives():
    code = """\
        #if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
        new();
        #else
        old();
        #endif
        #ifdef CONFIG_X
        maybe();
        #endif
        """
    # Lines 1-5 are a decided group: its directives go, the #else body too;
    # the CONFIG_X group is unknown and stays as it is.
    assert dead_lines(code) == [1, 3, 4, 5]
    assert dead_lines(code, V(6, 1)) == [1, 2, 3, 5]


def test_elif_chain_and_nesting():
    code = """\
        #if 0
        a();
        #elif LINUX_VERSION_CODE < KERNEL_VERSION(5, 0, 0)
        b();
        #elif defined(CONFIG_Y)
        c();
        #else
        #if 1
        d();
        #endif
        #endif
        """
    # At v6.12: a and b dead; CONFIG_Y unknown, so c and the #else may run.
    assert dead_lines(code) == [2, 4, 8, 10]
    assert dead_lines(code, V(4, 19)) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]


def test_defines_in_the_file_count_from_where_they_are():
    code = """\
        #ifdef TOY_FEATURE
        early();
        #endif
        #define TOY_FEATURE 1
        #ifdef TOY_FEATURE
        late();
        #endif
        #undef TOY_FEATURE
        #if TOY_FEATURE
        after();
        #endif
        """
    assert dead_lines(code) == [5, 7, 9, 10, 11]


def test_a_define_under_an_unknown_condition_is_unknown():
    code = """\
        #ifdef CONFIG_X
        #define TOY_ON 1
        #endif
        #if TOY_ON
        x();
        #endif
        """
    assert dead_lines(code) == []


def test_headers_defines_count():
    header = b"#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)\n#define TOY_HAVE_WRAPPERS 1\n#endif\n"
    code = """\
        #include "compat.h"
        #ifndef TOY_HAVE_WRAPPERS
        old();
        #endif
        """

    asked = []

    def header_defines(inc):
        asked.append(inc.name)
        assert inc.name == "compat.h" and not inc.angled
        return evaluate_file(scan(header), BuildSetup().lookup(V(6, 12))).defines

    assert dead_lines(code, included=header_defines) == [2, 3, 4]
    # Headers are read only when a condition asks for a name they may define.
    asked.clear()
    assert dead_lines('#include "compat.h"\n#if LINUX_VERSION_CODE > 0\nx();\n#endif\n', included=header_defines) == [2, 4]
    assert asked == []


def test_unbalanced_directives_of_a_hunk_are_ignored():
    assert dead_lines("#else\nx();\n#endif\n#if 0\ny();\n") == [5]


def test_compat_shims_are_function_definitions_only():
    data = textwrap.dedent("""\
        void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);
        static inline void vm_flags_set(struct vm_area_struct *vma,
                                        vm_flags_t flags)
        {
                /* a } in a comment */
                vma->vm_flags |= flags;
        }
        static int user(struct vm_area_struct *vma) { vm_flags_set(vma, 1); return 0; }
        """).encode()
    [(name, start, end)] = compat_shims(data, ["vm_flags_set", "vm_flags_clear"])
    assert name == "vm_flags_set"
    assert data[start:end].startswith(b"static inline") and data[start:end].endswith(b"}")
    assert b"user" not in data[start:end]


def test_views_share_runs_and_parse_each_view_once():
    data = textwrap.dedent("""\
        #if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
        a();
        #else
        b();
        #endif
        """).encode()
    out = views(data, list(VersionRange.parse("6.1..6.12")), BuildSetup(), set())
    assert len(out) == 2  # before and after v6.3
    old, new = out
    assert [str(v) for v in old.runs[0][1]] == ["6.1", "6.2"]
    # v6.3..6.12 is one view, run once per catalog file it spans.
    assert [[str(v) for v in served] for _, served in new.runs] == [[f"6.{m}" for m in range(3, 13)]]
    plain = views(b"int x;\n", list(VersionRange.parse("4.14..6.12")), BuildSetup(), set())
    assert len(plain) == 1 and [str(v) for v, _ in plain[0].runs] == ["4.14", "4.15", "6.1", "6.3"]  # one run per catalog


def test_config_macro_values():
    assert parse_config_macro("HAVE_X", ">=6.3", "cfg").at(V(6, 3)) == (True, "1")
    assert parse_config_macro("HAVE_X", ">=6.3", "cfg").at(V(6, 2)) == (False, None)
    assert parse_config_macro("HAVE_X", "<6.3", "cfg").at(V(5, 19)) == (True, "1")
    assert parse_config_macro("HAVE_X", "4.14..5.4", "cfg").at(V(5, 10)) == (False, None)
    assert parse_config_macro("HAVE_X", True, "cfg").at(V(4, 14)) == (True, "1")
    assert parse_config_macro("HAVE_X", False, "cfg").at(V(4, 14)) == (False, None)
    assert parse_config_macro("TOY_LEVEL", 3, "cfg").at(V(4, 14)) == (True, "3")
    with pytest.raises(InputError):
        parse_config_macro("not a name", "1", "cfg")


def check(code: str, kernel: KernelContext, rules=("DAX3",)):
    engine = Engine(select_rules(list(rules)), kernel, EngineOptions(jobs=1, use_cache=False))
    return engine.analyze("drv.c", textwrap.dedent(code).encode(), None)


def test_conditions_inside_a_function_tree_sitter_cannot_parse():
    # Each branch opens a block the other closes: as written, tree-sitter
    # puts the function in an ERROR node; the view for one build is plain C.
    code = """\
        static int drv_mmap(struct file *file, struct vm_area_struct *vma)
        {
        #if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
                if (file->f_flags & O_SYNC) {
                        vm_flags_set(vma, VM_IO);
        #else
                if (file->f_flags & O_SYNC) {
                        vma->vm_flags |= VM_IO;
        #endif
                        vma->vm_flags |= VM_DONTDUMP;
                }
                return 0;
        }
        """
    res = check(code, KernelContext(None, V(6, 12), "flag"))
    assert [(f.rule_id, f.line) for f in res.findings] == [("DAX301", 10)]
    old = check(code, KernelContext(None, V(6, 1), "flag"))
    assert old.findings == []


def test_a_range_reports_versions_and_one_finding_per_construct():
    code = """\
        static int drv_mmap(struct file *file, struct vm_area_struct *vma)
        {
                vma->vm_flags |= VM_IO;
                return 0;
        }
        """
    kernel = KernelContext(None, None, "flag", versions=VersionRange.parse("4.14..6.12"))
    res = check(code, kernel)
    assert [(f.rule_id, f.line, f.versions) for f in res.findings] == [("DAX301", 3, "6.3..6.12")]
    single = check(code, KernelContext(None, V(6, 12), "flag"))
    assert [(f.rule_id, f.line, f.versions) for f in single.findings] == [("DAX301", 3, None)]


def test_ranges_count_through_closed_series_and_refuse_open_ones():
    """4.20 -> 5.0, 5.19 -> 6.0 and 6.19 -> 7.0 (a range into 7.0 counted
    6.20, 6.21, ... for ever and timed the file out into a pass); a range
    past a series whose last release is not known is a usage error."""
    assert [str(v) for v in VersionRange.parse("6.18..7.1")] == ["6.18", "6.19", "7.0", "7.1"]
    assert [str(v) for v in VersionRange.parse("4.19..5.1")] == ["4.19", "4.20", "5.0", "5.1"]
    with pytest.raises(ValueError, match="the last 7.x release is not known yet"):
        VersionRange.parse("6.12..8.0")
    # 6.20 never existed: a range to it would stop at 6.19 without a word.
    with pytest.raises(ValueError, match=r"'6.12..6.20': there is no 6.20 \(6.19 was followed by 7.0\)"):
        VersionRange.parse("6.12..6.20")


# -- C's integer arithmetic in #if, checked against gcc ------------------------------

C_INTEGER_EDGES = [
    # the issue's three: gcc takes each branch
    ("-1 > 0u", 1),
    ("(0u - 1) > 0", 1),
    ("0x7fffffffffffffff + 1 < 0", 1),
    # the usual arithmetic conversions: either operand unsigned makes the operation unsigned
    ("-1 < 0u", 0),
    ("-1u == 18446744073709551615", 1),
    ("0u - 1 == 0xffffffffffffffff", 1),
    ("-1 / 2u > 0", 1),
    ("(-1 | 0u) >> 63 == 1", 1),
    ("1 ? -1 : 0u", 18446744073709551615),
    ("(1 ? -1 : 0u) > 0", 1),
    ("(0 ? 0u : -1) > 0", 1),
    # literals: a decimal or hex constant past INTMAX_MAX is unsigned; suffixes
    ("18446744073709551615 == -1", 1),
    ("9223372036854775808 > 0", 1),
    ("0x8000000000000000 > 0", 1),
    ("9223372036854775807 > 0", 1),
    ("1l + 2L + 3ll + 4LL + 5ul + 6LLU + 7uLL + 8Lu", 36),
    ("0b101 == 5", 1),
    ("010 == 8", 1),
    ("1lL", UNKNOWN),  # invalid suffix: an error for gcc
    ("08", UNKNOWN),  # invalid octal digit
    ("1.0", UNKNOWN),  # a floating constant
    ("18446744073709551616 == 0", UNKNOWN),  # too large: gcc truncates, clang refuses
    # signed overflow wraps as gcc computes it (it warns)
    ("9223372036854775807 + 1 == -9223372036854775807 - 1", 1),
    ("(-9223372036854775807 - 1) / -1 < 0", 1),
    ("(-9223372036854775807 - 1) % -1 == 0", 1),
    ("-(-9223372036854775807 - 1) < 0", 1),
    ("4611686018427387904 * 2 < 0", 1),
    ("~0 == -1", 1),
    ("~0u > 0", 1),
    # division and remainder truncate toward zero; by zero: an error, undecided
    ("-7 / 2", -3),
    ("-7 % 2", -1),
    ("7 % -2", 1),
    ("9223372036854775807 / 3", 3074457345618258602),
    ("1 / 0", UNKNOWN),
    ("1 % 0", UNKNOWN),
    ("0 && 1 / 0", 0),
    ("1 || 1 / 0", 1),
    # shifts: the left operand's type; negative counts shift the other way; past the width
    ("1 << 63 < 0", 1),
    ("1u << 63 > 0", 1),
    ("1 << 64", 0),
    ("1 << 64u", 0),
    ("-1 >> 70", -1),
    ("-1 >> 1", -1),
    ("4 << -1", 2),
    ("4 >> -1", 8),
    ("1 << 1u == 2", 1),
    ("-8 >> 1u", -4),
    ("(1u << 63) >> 63", 1),
    # character constants: escapes, several characters, and char's signedness (the build's)
    ("'a' == 97", 1),
    ("'\\n' == 10", 1),
    ("'\\0' == 0", 1),
    ("'\\x41' == 65", 1),
    ("'\\101' == 65", 1),
    ("'\\\\' == 92", 1),
    ("'ab' == 24930", 1),
    ("'abcd' - 'abce' < 0", 1),
    ("'a' - 'b' < 0", UNKNOWN),  # signed char: true; -funsigned-char (the kernel since v6.2): false
    ("'\\377' < 0", UNKNOWN),
    ("'\\377' != 0", 1),
    # comparisons and logic give a signed int
    ("(0u < 1) - 2 < 0", 1),
    ("!0u - 2 < 0", 1),
    ("2, 3", 3),
    ("(1, 0u) - 1 > 0", 1),
]


@pytest.mark.parametrize("expr, expected", C_INTEGER_EDGES)
def test_c_integer_arithmetic(expr, expected):
    value = value_of(expr)
    assert value == expected or (value is expected is UNKNOWN)


@pytest.mark.skipif(gcc_cpp.GCC is None, reason="gcc is not installed")
def test_c_integer_arithmetic_is_gccs():
    """Every decided value of the table is the one gcc -E computes - value,
    signedness, branch taken - with signed and with unsigned char; UNKNOWN
    only where gcc refuses the condition or the two char modes differ."""
    assert gcc_cpp.disagreements([expr for expr, _ in C_INTEGER_EDGES]) == []


def test_a_branch_only_c_arithmetic_takes_is_analysed():
    """Code under a condition C's intmax_t/uintmax_t arithmetic makes true
    (and Python's integers make false) is compiled, so it is checked."""
    code = """\
        static int drv_mmap(struct file *file, struct vm_area_struct *vma)
        {
        #if -1 > 0u
                vma->vm_flags |= VM_IO;
        #endif
        #if (0u - 1) > 0
                vma->vm_flags |= VM_DONTEXPAND;
        #endif
        #if 0x7fffffffffffffff + 1 < 0
                vma->vm_flags |= VM_DONTDUMP;
        #endif
                return 0;
        }
        """
    res = check(code, KernelContext(None, V(6, 12), "flag"))
    assert [(f.rule_id, f.line) for f in res.findings] == [("DAX301", 4), ("DAX301", 7), ("DAX301", 10)]
