import os
import re

from daxlint.analysis.fileindex import index_for
from daxlint.analysis.kconfig_facts import display_path, driver_kconfig_dir, fs_dax_limited_opt_in, kconfig_context_files
from daxlint.analysis.pfn import PFN_SPECIAL, pfn_analysis_of, sink_severity, strongest
from daxlint.core.rule import Rule
from daxlint.core.syntax import parent_of, text
from daxlint.model import Severity

# A macro body that is a flags expression: names, |, parentheses, casts.
_FLAGS_BODY = re.compile(r"^[\s()|\w]*$")
_TESTS = frozenset({"&", "==", "!="})
_DEFINITIONS = frozenset({"preproc_def", "preproc_function_def", "preproc_ifdef", "preproc_defined", "preproc_elifdef"})


def _is_flag_test(ident) -> bool:
    """``x & PFN_SPECIAL`` and comparisons read the flag, they do not set it."""
    n = parent_of(ident)
    while n is not None and n.type in ("parenthesized_expression", "binary_expression"):
        if n.type == "binary_expression":
            op = n.child_by_field_name("operator")
            if op is not None and text(op) in _TESTS:
                return True
        n = parent_of(n)
    return False


class PfnSpecialWithoutFsDaxLimited(Rule):
    """
    ## What it does
    Finds `PFN_SPECIAL` pfns (built inline, through locals, fields,
    macros or parameters, as DAX101 follows them) in a driver whose
    Kconfig - the one in the file's directory, or the nearest parent's -
    has no entry that does `select FS_DAX_LIMITED`. Also reports a
    `select FS_DAX_LIMITED` in a tree that no longer defines the symbol.
    A `PFN_SPECIAL` set outside any pfn_t constructor (an object-like
    macro, `pfn.val |= PFN_SPECIAL`) is reported where it is set; tests
    such as `pfn.val & PFN_SPECIAL` are not findings.

    ## Why is this bad
    `PFN_SPECIAL` exists for one purpose: the `FS_DAX_LIMITED` exception
    of 785a3fab4adb, the opt-in by which a driver (s390 dcssblk) says its
    DAX memory has no struct page and filesystems must live without
    get_user_pages, fork of MAP_SHARED mappings and O_DIRECT on it. Since
    569d0365f571 fs-dax accepts a page-less device only when the kernel is
    built with FS_DAX_LIMITED; a driver that hands out `PFN_SPECIAL` pfns
    without selecting it either has DAX refused on every kernel that lacks
    the option, or relies on another driver having selected it - and
    silently gets page-less semantics it never declared.

    ## Example
    ```c
    /* drivers/foo/Kconfig: config FOO_BLK ... select DAX  (no FS_DAX_LIMITED) */
    *pfn = __pfn_to_pfn_t(PFN_DOWN(base + off), PFN_DEV | PFN_SPECIAL);
    ```

    ## Use instead
    ```
    config FOO_BLK
            select DAX
            select FS_DAX_LIMITED
    ```
    or, better, give the memory struct pages with `devm_memremap_pages()`
    and use `PFN_DEV | PFN_MAP`.

    ## References
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (v4.15)
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - drivers/s390/block/Kconfig (DCSSBLK, the one user of FS_DAX_LIMITED)
    """

    id = "DAX102"
    name = "pfn-special-without-fs-dax-limited"
    severity = Severity.ERROR
    summary = "PFN_SPECIAL pfn in a driver whose Kconfig does not select FS_DAX_LIMITED"
    fix_note = (
        "No automatic fix: `select FS_DAX_LIMITED` in the driver's Kconfig, or giving the memory st"
        "ruct pages instead, is a decision for the driver's author."
    )
    tokens = (b"PFN_SPECIAL",)

    def context_files(self, path):
        return kconfig_context_files(path)

    def check(self, ctx):
        opt_in = fs_dax_limited_opt_in(ctx.kernel, ctx.abspath)
        if opt_in is not None and opt_in.symbol_exists:
            return
        if opt_in is not None:
            why = (
                f"{opt_in.symbol} selects FS_DAX_LIMITED ({os.path.basename(opt_in.kconfig)}:{opt_in.line}) "
                "but this tree no longer defines it, so the page-less exception is gone"
            )
        else:
            kdir = driver_kconfig_dir(ctx.kernel, ctx.abspath)
            where = display_path(ctx.kernel, os.path.join(kdir, "Kconfig")) if kdir else "no Kconfig was found for this driver"
            why = f"no entry selects FS_DAX_LIMITED ({where})"
        analysis = pfn_analysis_of(ctx)
        reported = False
        for c in analysis.constructions:
            if c.kind != "call" or not c.flags.may_have(PFN_SPECIAL):
                continue
            sink = strongest(analysis.sinks(c.call))
            ctx.report(
                c.call,
                f"{c.via_macro or c.name}() marks the pfn PFN_SPECIAL (flags {c.flags.spelled()}) but {why}: PFN_SPECIAL "
                "is only honoured as the FS_DAX_LIMITED exception (785a3fab4adb), a declared opt-in to DAX memory "
                "that fork, get_user_pages and O_DIRECT cannot use",
                severity=sink_severity(sink),
                fix="add 'select FS_DAX_LIMITED' to the driver's Kconfig entry, or give the memory struct pages "
                "(devm_memremap_pages) and use PFN_DEV | PFN_MAP",
            )
            reported = True
        if reported:
            return
        for node, line in self._flag_settings(ctx):
            ctx.report(
                node,
                f"PFN_SPECIAL is set here but {why}: PFN_SPECIAL is only honoured as the FS_DAX_LIMITED exception (785a3fab4adb)",
                line=line,
                severity=Severity.WARNING,
                fix="add 'select FS_DAX_LIMITED' to the driver's Kconfig entry",
            )
            return

    @staticmethod
    def _flag_settings(ctx):
        """PFN_SPECIAL set outside a constructor: identifiers in code, and
        flags macros defined in the file."""
        index = index_for(ctx.source)
        for ident in index.identifiers.get(PFN_SPECIAL, []):
            if ident.parent is not None and ident.parent.type in _DEFINITIONS:
                continue  # `#define PFN_SPECIAL ...`, `#ifdef PFN_SPECIAL`: names the flag, sets nothing
            if not _is_flag_test(ident):
                yield ident, None
        for macro in index.macros.values():
            if macro.name == PFN_SPECIAL or macro.params is not None:
                continue
            if re.search(r"\bPFN_SPECIAL\b", macro.body) and _FLAGS_BODY.match(macro.body) and "&" not in macro.body:
                yield macro.node, macro.line
