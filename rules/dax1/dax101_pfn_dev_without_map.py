from daxlint.analysis.kconfig_facts import fs_dax_limited_opt_in, kconfig_context_files
from daxlint.analysis.pfn import PFN_SPECIAL, page_required, pfn_analysis, pfn_t_exists, strongest
from daxlint.core.rule import Rule
from daxlint.model import Severity

# What each kind of sink means for a page-less pfn, and how bad it is.
_SINK_TEXT = {
    "direct_access": (
        Severity.ERROR,
        "returned from the ->direct_access implementation {detail}(): filesystem-DAX requires struct page "
        "since 569d0365f571, and a page-less DAX mapping cannot be forked, pinned by get_user_pages, "
        "or used for O_DIRECT, RDMA or splice",
    ),
    "dax_insert": (
        Severity.ERROR,
        "passed to {detail}() on a DAX fault path: a huge mapping of a page-less pfn cannot be pinned by get_user_pages",
    ),
    "dax_mixed": (
        Severity.ERROR,
        "passed to {detail}() in DAX code: without a page the pte is special, so get_user_pages, fork and "
        "O_DIRECT cannot use the DAX mapping",
    ),
    "pfnmap_huge": (
        Severity.WARNING,
        "passed to {detail}() for a VM_PFNMAP mapping of device memory: a special huge entry that "
        "get_user_pages refuses - fine for MMIO, never for DAX memory",
    ),
    "mixed": (
        Severity.WARNING,
        "passed to {detail}(): without a page the pte is special and get_user_pages cannot follow it - "
        "acceptable for XIP or framebuffer memory on VM_MIXEDMAP, not for DAX",
    ),
    "pfnmap": (
        Severity.WARNING,
        "passed to {detail}() (the VM_PFNMAP path of vmf_insert_pfn): page-less by design for device memory, "
        "which get_user_pages, fork and O_DIRECT cannot use",
    ),
}
_DEFAULT_SINK = (
    Severity.WARNING,
    "not seen reaching a DAX path in this file; whoever maps it gets memory that get_user_pages, fork and O_DIRECT cannot use",
)


def flags_source(c) -> str:
    """Where a construction's flags came from, for messages."""
    if c.flags.origins:
        return "from " + "; ".join(o.describe() for o in c.flags.origins[:3])
    if c.via_macro:
        return f"in macro {c.via_macro}"
    return "written inline"


class PfnDevWithoutMap(Rule):
    """
    ## What it does
    Finds a `pfn_t` built with `PFN_DEV` but without `PFN_MAP` - a page
    frame that, by its own flags, has no `struct page` behind it - whether
    the flags are written inline, kept in a local variable, in a struct
    field assigned elsewhere in the file, in a macro defined in the file,
    or passed in by a caller in the same file. A flags value that gets
    `PFN_MAP` on some paths (pmem ORs it in only when it mapped pages) is
    not a finding: the rule reports only pfns that are page-less on every
    path.

    Severity follows where the pfn goes:
    - **error**: returned from a `->direct_access` implementation, or
      passed to a DAX fault insert (`vmf_insert_pfn_pmd/pud`,
      `dax_insert_*`, or `vmf_insert_mixed` in DAX code);
    - **warning**: into `vmf_insert_mixed()` or the VM_PFNMAP paths of
      non-DAX memory (cramfs XIP, framebuffers, MMIO), where page-less
      pfns are legitimate but still cannot be pinned;
    - **info**: `PFN_DEV | PFN_SPECIAL` in a driver whose Kconfig selects
      `FS_DAX_LIMITED` (s390 dcssblk), the one sanctioned page-less DAX.
      Without that select, DAX102 reports it instead.

    ## Why is this bad
    `pfn_t_has_page()` is false for such a pfn, so `pfn_t_to_page()`
    returns NULL and every path that needs a page - fork of the mapping,
    get_user_pages, O_DIRECT, RDMA, splice - fails or falls back to a
    special pte. pfn_t was added (34c0fd540e79, v4.5) so that I/O paths
    could carry page-less memory; DaveM's objection that all memory the
    kernel operates on should have a struct page led to ZONE_DEVICE, and
    569d0365f571 (v4.15) made filesystem-DAX require struct page: DAX
    memory is mapped with `devm_memremap_pages()` and its pfns carry
    `PFN_DEV | PFN_MAP`. Before v4.15 the rule reports DAX sinks as
    warnings. Kernels after the pfn_t removal (about v6.17) have no flags
    to check; code still spelled with them is reported with a note.

    ## Example
    ```c
    static long mydax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
                                    long nr_pages, enum dax_access_mode mode,
                                    void **kaddr, pfn_t *pfn)
    {
            struct mydax *md = dax_get_private(dax_dev);

            md->pfn_flags = PFN_DEV;        /* never gets PFN_MAP */
            *pfn = phys_to_pfn_t(md->phys + PFN_PHYS(pgoff), md->pfn_flags);
            return nr_pages;
    }
    ```

    ## Use instead
    ```c
    /* at probe: md->pgmap.type = MEMORY_DEVICE_FS_DAX; devm_memremap_pages(dev, &md->pgmap); */
    *pfn = phys_to_pfn_t(md->phys + PFN_PHYS(pgoff), PFN_DEV | PFN_MAP);
    ```

    ## References
    - 34c0fd540e79 "mm, dax, pmem: introduce pfn_t" (v4.5)
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (FS_DAX_LIMITED, v4.15)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017
    - Documentation/filesystems/dax.rst
    """

    id = "DAX101"
    name = "pfn-dev-without-map"
    severity = Severity.ERROR
    summary = "pfn_t built with PFN_DEV but without PFN_MAP (no struct page); severity follows where it goes"
    fix_note = (
        "Whether the memory gets struct pages (PFN_MAP, with `devm_memremap_pages"
        "()` behind it) or stays page-less on purpose (FS_DAX_LIMITED, VM_PFNMAP MMIO) is the drive"
        "r's design; the message says which sink makes it wrong."
    )
    tokens = (b"PFN_DEV",)

    def context_files(self, path):
        return kconfig_context_files(path)

    def check(self, ctx):
        analysis = pfn_analysis(ctx.source)
        required = page_required(ctx.catalog)
        note = ""
        if ctx.kernel.version is not None and not pfn_t_exists(ctx.catalog):
            note = f" (pfn_t no longer exists in v{ctx.version}: this code is written for an older kernel)"
        opt_in = None
        for c in analysis.constructions:
            flags = c.flags
            if not flags.always_pageless:
                continue
            pageless = flags.pageless_combos()
            ctor = c.via_macro or c.name
            if all(PFN_SPECIAL in combo for combo in pageless):
                if opt_in is None:
                    opt_in = fs_dax_limited_opt_in(ctx.kernel, ctx.abspath) or False
                if not opt_in or not opt_in.symbol_exists:
                    continue  # DAX102: PFN_SPECIAL without the FS_DAX_LIMITED opt-in
                ctx.report(
                    c.call,
                    f"{ctor}() builds a page-less pfn_t: flags {flags.spelled()} ({flags_source(c)}) are the FS_DAX_LIMITED "
                    f"exception ({opt_in.symbol} selects FS_DAX_LIMITED); fs-dax on this memory cannot support fork "
                    f"of MAP_SHARED mappings, get_user_pages or O_DIRECT (785a3fab4adb){note}",
                    severity=Severity.INFO,
                )
                continue
            sink = strongest(analysis.sinks(c.call))
            level, template = _SINK_TEXT.get(sink.kind, _DEFAULT_SINK) if sink is not None else _DEFAULT_SINK
            if level is Severity.ERROR and not required:
                level = Severity.WARNING
                template += " (allowed before v4.15, an error from 569d0365f571 on)"
            ctx.report(
                c.call,
                f"{ctor}() builds a page-less pfn_t: flags {flags.spelled()} ({flags_source(c)}) lack PFN_MAP; "
                f"{template.format(detail=sink.detail if sink else '')}{note}",
                severity=level,
                fix="map the memory with devm_memremap_pages() (MEMORY_DEVICE_FS_DAX dev_pagemap) and pass PFN_DEV | PFN_MAP"
                if level is Severity.ERROR
                else "if the memory has no struct page, keep it out of DAX and GUP paths; otherwise give it pages and add PFN_MAP",
            )
