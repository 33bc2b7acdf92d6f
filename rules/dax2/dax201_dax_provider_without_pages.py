import os
import re

from daxlint.analysis.dax import directory_facts, driver_context_files, facts_for, may_assign_direct_access, out_of_view
from daxlint.analysis.kconfig_facts import display_path, fs_dax_limited_opt_in
from daxlint.analysis.pfn import page_required, pfn_analysis, pfn_t_exists
from daxlint.core.catalog import api_history
from daxlint.core.rule import Rule
from daxlint.core.syntax import enclosing_function, function_name
from daxlint.model import Severity


class DaxProviderWithoutPages(Rule):
    """
    ## What it does
    Finds a DAX provider - a `->direct_access` implementation that hands
    out memory (it fills `*kaddr` / `*pfn`, itself or through a helper)
    and so, normally, an ops table given to `alloc_dax()` - in a file whose
    driver never establishes struct pages: no `devm_memremap_pages()` /
    `memremap_pages()` in the file or in another C file of its driver
    (with an fsdax or devdax `dev_pagemap` type, when the type is set
    there; the driver is the files of the directory that its Makefile
    builds under the same Kconfig symbol, or one that depends on it or
    that it depends on - another driver's pages in the same directory do
    not count), no `select FS_DAX_LIMITED` in the driver's Kconfig, and no
    `PFN_SPECIAL` (whose missing opt-in DAX102 reports).

    Not findings: forwarders whose `direct_access` only passes the request
    on to another dax device (`dax_direct_access()`, `ti->type->direct_access()`:
    the device-mapper targets), implementations that only fail
    (`return -EIO;`), and `alloc_dax(x, NULL)` (device-dax, which has no
    `direct_access`). Works the same on kernels after the pfn_t removal,
    where `->direct_access` returns `unsigned long *pfn`.

    On a patch read without its tree (`daxlint patch` outside a checkout
    the series applies to, or a patch that does not apply) the rule
    concludes from an absence only what it can see: when the rest of the
    file, the driver's other files or its Kconfig are out of view, a
    provider is an **info** that names what could not be checked - unless
    the patch itself shows page-less memory behind it (`devm_memremap()`
    into the fields it reads, `PFN_DEV` without `PFN_MAP`), which keeps
    the error. A provider whose visible pfns carry `PFN_MAP` (or no
    `PFN_DEV`) claims pages and is left to DAX101. A file an earlier patch
    of the series created is known whole, and a `devm_memremap_pages()`
    call that the series' hunks have shown in the file or its directory
    counts.

    ## Why is this bad
    Since 569d0365f571 (v4.15) filesystem-DAX requires `struct page`: a
    DAX device whose memory has none cannot have its mappings forked,
    pinned by get_user_pages, used for O_DIRECT, RDMA, sendfile or
    splice. ZONE_DEVICE - `devm_memremap_pages()` with a
    `MEMORY_DEVICE_FS_DAX` `dev_pagemap` - is how a DAX driver gives its
    memory pages (pmem, virtio-fs, device-dax); the only exception is the
    FS_DAX_LIMITED opt-in (785a3fab4adb) of s390 dcssblk. Before v4.15 the
    rule reports a warning.

    ## Example
    ```c
    static const struct dax_operations mydax_ops = {
            .direct_access = mydax_direct_access,   /* memory from devm_memremap() */
    };
    ```

    ## Use instead
    ```c
    md->pgmap.type = MEMORY_DEVICE_FS_DAX;
    md->virt = devm_memremap_pages(dev, &md->pgmap);
    md->dax_dev = alloc_dax(md, &mydax_ops);
    ```

    ## References
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (FS_DAX_LIMITED, v4.15)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017
    - drivers/nvdimm/pmem.c, drivers/dax/, fs/fuse/virtio_fs.c (providers with pages); drivers/md/dm-linear.c (a forwarder)
    """

    id = "DAX201"
    name = "dax-provider-without-pages"
    severity = Severity.ERROR
    confidence = "medium"
    summary = "DAX provider (->direct_access / alloc_dax) whose driver never establishes struct pages"
    fix_note = (
        "Establishing struct pages (`devm_memremap_pages()` with a MEMORY_DEVICE_FS_DAX pagemap) changes how the driver maps its memory."
    )
    tokens = (b"direct_access",)

    def could_match(self, data):
        # PFN_SPECIAL anywhere in the file means an opt-in DAX102 judges.
        return b"PFN_SPECIAL" not in data and may_assign_direct_access(data)

    def context_files(self, path):
        return driver_context_files(path)

    def check(self, ctx):
        facts = facts_for(ctx.source)
        providers = facts.providers
        if not providers or facts.establishes_pages or b"PFN_SPECIAL" in ctx.source.data:
            return
        if fs_dax_limited_opt_in(ctx.kernel, ctx.abspath) is not None:
            return
        if ctx.abspath is not None:
            sibling = directory_facts(ctx.kernel, os.path.dirname(ctx.abspath)).establishes_dax_pages(exclude=ctx.abspath)
            if sibling is not None:
                return
        level = Severity.ERROR if page_required(ctx.catalog) else Severity.WARNING
        backing = [m for m in facts.pageless_maps if m.field_targets & facts.fields_read_by_providers]
        where = f"; its memory comes from {backing[0].callee}() at line {backing[0].line}" if backing else ""
        unseen = out_of_view(ctx.kernel, ctx.abspath, ctx.source.path, ctx.partial)
        if unseen and _series_shows_pages(ctx):
            return  # an earlier patch (or another file of this one) showed the pages being set up
        if unseen:
            # A patch read without its tree: the pages may be set up where
            # the patch does not show. Only what is in view may decide.
            claims = _visible_pfn_claims(ctx.source, facts)
            if claims == "pages":
                return  # the provider hands out PFN_MAP (or flag-less) pfns: it says it has pages
            if not backing and claims != "pageless":
                self._report_unseen(ctx, providers, unseen)
                return
            where += f" (not in view: {'; '.join(unseen)})"
        # Out of view, only what is in view may be claimed: the pfns it
        # hands out, not the absence of pages elsewhere in the driver.
        said_by_pfns = bool(unseen) and not backing
        for impl in providers:
            allocs = [c for c, ops in facts.alloc_dax_calls if ops is not None]
            registered = f" (registered with alloc_dax() at line {allocs[0].start_point[0] + 1})" if allocs else ""
            if said_by_pfns:
                why = f"hands out page-less pfns (PFN_DEV without PFN_MAP, in view), whatever the rest of its driver sets up{where}"
            else:
                opt_in = (
                    " and no select FS_DAX_LIMITED"
                    if api_history().kconfig["FS_DAX_LIMITED"].exists_in(ctx.kernel.effective_version)
                    else ""
                )
                why = (
                    "establishes no struct pages: no devm_memremap_pages()/memremap_pages() in this file or the other "
                    f"files of its driver ({_shown_dir(ctx)}){opt_in}{where}"
                )
            ctx.report(
                impl.site,
                f"DAX provider '.direct_access = {impl.name}'{registered} {why}; filesystem-DAX requires struct page "
                "(569d0365f571), without it the mapping cannot be forked, pinned by get_user_pages or used for O_DIRECT"
                + ("" if level == Severity.ERROR else " (allowed before v4.15)"),
                severity=level,
                fix=_pages_fix(ctx.catalog),
            )

    @staticmethod
    def _report_unseen(ctx, providers, unseen: list[str]) -> None:
        for impl in providers:
            ctx.report(
                impl.site,
                f"DAX provider '.direct_access = {impl.name}': no devm_memremap_pages()/memremap_pages() in view, "
                f"but this check could not see {'; '.join(unseen)}; filesystem-DAX requires struct page "
                "(569d0365f571), so make sure the driver maps this memory with devm_memremap_pages() "
                "(run daxlint patch --tree on the checkout to check the whole driver)",
                severity=Severity.INFO,
                fix="check with --tree, or show where the driver establishes its pages",
            )


_ESTABLISH_RE = re.compile(r"\b(?:devm_)?memremap_pages\s*\(")


def _pages_fix(catalog) -> str:
    """How to give the memory pages, in the kernel's spelling of the pfns
    ->direct_access hands out: pfn_t flags while pfn_t exists, plain pfns
    of the pages after its removal."""
    fix = "map the memory with devm_memremap_pages() and a MEMORY_DEVICE_FS_DAX dev_pagemap"
    if pfn_t_exists(catalog):
        return fix + ", and hand out PFN_DEV | PFN_MAP pfns"
    return fix + ", and hand out the pfns of those pages"


def _series_shows_pages(ctx) -> bool:
    """Whether the hunks the series has shown of this file or of the other
    files of its directory call devm_memremap_pages()/memremap_pages()."""
    if ctx.abspath is None:
        return False
    d = os.path.dirname(ctx.abspath)
    for path in [ctx.abspath] + [os.path.join(d, n) for n in ctx.kernel.listdir(d) if n.endswith(".c")]:
        text = ctx.kernel.shown(path)
        if text and _ESTABLISH_RE.search(_STRINGS_AND_COMMENTS.sub(" ", text)):
            return True
    return False


_STRINGS_AND_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|/\*.*?\*/|//[^\n]*', re.S)


def _shown_dir(ctx) -> str:
    if ctx.abspath is None:
        return "unknown"
    if ctx.kernel.knows(ctx.abspath) and ctx.kernel.knows_directory(os.path.dirname(ctx.abspath)):
        return display_path(ctx.kernel, os.path.dirname(ctx.abspath))
    return os.path.dirname(ctx.source.path) or "."


def _visible_pfn_claims(source, facts) -> str | None:
    """What the pfns the providers build say, where that can be seen:
    "pages" when every one has PFN_MAP or no PFN_DEV (pfn_t_has_page() is
    true), "pageless" when one is PFN_DEV without PFN_MAP, None otherwise."""
    analysis = pfn_analysis(source)
    mine = []
    for c in analysis.constructions:
        fn = enclosing_function(c.call)
        if fn is not None and function_name(fn) in facts.provider_functions:
            mine.append(c)
    if any(c.flags.always_pageless for c in mine):
        return "pageless"
    if mine and all(c.flags.always_has_page for c in mine):
        return "pages"
    return None
