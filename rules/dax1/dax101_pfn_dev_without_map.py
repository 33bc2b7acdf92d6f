from daxlint.analysis.kconfig_facts import fs_dax_limited_opt_in, kconfig_context_files
from daxlint.analysis.pfn import PFN_SPECIAL, includes_local_headers, page_required, pfn_analysis_of, pfn_t_exists, strongest
from daxlint.core.includes import module_header_files
from daxlint.core.rule import Rule
from daxlint.core.syntax import enclosing_function, text
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
        Severity.INFO,
        "passed to {detail}() for a VM_PFNMAP mapping of device memory: a special huge entry that "
        "get_user_pages refuses - right for MMIO such as a PCI BAR, so nothing needs to change; never for DAX memory",
    ),
    "mixed": (
        Severity.INFO,
        "passed to {detail}(): without a page the pte is special and get_user_pages cannot follow it - "
        "right for XIP flash or framebuffer memory on VM_MIXEDMAP, so nothing needs to change there; never for DAX",
    ),
    "pfnmap": (
        Severity.INFO,
        "passed to {detail}() (the VM_PFNMAP path of vmf_insert_pfn): page-less by design for device memory, "
        "which get_user_pages, fork and O_DIRECT cannot use - the mm core's own insert path, nothing needs to change",
    ),
}
_INFO_FIX = "nothing to change for MMIO, XIP or framebuffer memory; keep such pfns out of DAX paths"
_DEFAULT_SINK = (
    Severity.WARNING,
    "not seen reaching a DAX path in this file; whoever maps it gets memory that get_user_pages, fork and O_DIRECT cannot use",
)


# Calls that read a pfn_t's address and nothing else: x86 PAT looks up the
# cache mode of the range (track_pfn_insert). Not a use that needs a page.
_BOOKKEEPING = frozenset({"track_pfn_insert", "pfnmap_setup_cachemode_pfn", "pfn_t_to_phys", "pfn_t_to_pfn"})


def _bookkeeping(sink) -> bool:
    return sink.kind in ("call", "pfnmap") and sink.detail in _BOOKKEEPING


def _same_constructions(constructions) -> dict[int, list]:
    """id(construction) -> the constructions of its function built with the
    same call text (vmf_insert_pfn_prot() builds its pfn twice, once for
    track_pfn_insert() and once for insert_pfn()): one logical pfn."""
    by_key: dict[tuple, list] = {}
    for c in constructions:
        fn = enclosing_function(c.call)
        key = (fn.start_byte if fn is not None else -1, " ".join(text(c.call).split()))
        by_key.setdefault(key, []).append(c)
    return {id(c): group for group in by_key.values() for c in group}


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
    field assigned elsewhere in the file, in a macro defined in the file or
    in a header it includes (`#include "drv.h"`, read from the tree),
    returned by a helper of the file, or passed in by a caller in the same
    file; and a pfn made page-less after it was built (`p.val |=
    PFN_DEV`). Path by path: `PFN_MAP` set on the path that maps the memory
    without pages (`devm_memremap()`) while the path with
    `devm_memremap_pages()` leaves it out is an error at the `PFN_MAP`
    write - the flag claims pages that are not there. A flags value that gets
    `PFN_MAP` on some paths (pmem ORs it in only when it mapped pages) is
    not a finding: the rule reports only pfns that are page-less on every
    path.

    Severity follows where the pfn goes:
    - **error**: returned from a `->direct_access` implementation, or
      passed to a DAX fault insert (`vmf_insert_pfn_pmd/pud`,
      `dax_insert_*`, or `vmf_insert_mixed` in DAX code);
    - **warning**: not seen reaching any insert in the file (stored,
      passed on): whoever maps it gets memory GUP cannot use;
    - **info**, saying nothing needs to change: page-less by design -
      `vmf_insert_mixed()` of XIP flash or framebuffers on VM_MIXEDMAP,
      the VM_PFNMAP inserts of MMIO (a PCI BAR's huge faults), the mm
      core's own `vmf_insert_pfn_prot()`; and `PFN_DEV | PFN_SPECIAL` in a
      driver whose Kconfig selects `FS_DAX_LIMITED` (s390 dcssblk), the
      one sanctioned page-less DAX. Without that select, DAX102 reports
      it instead.

    One finding per construct: the same construction repeated in a
    function (`vmf_insert_pfn_prot()` builds its pfn once for
    `track_pfn_insert()` and once for `insert_pfn()`) is reported once,
    where it reaches its strongest sink. `track_pfn_insert()` is x86 PAT
    bookkeeping that only reads the address: no sink at all.

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
    # PFN_DEV, or a constructor whose flags may come from an included header.
    tokens = (b"PFN_DEV", b"pfn_to_pfn_t", b"phys_to_pfn_t")

    def could_match(self, data):
        return b"PFN_DEV" in data or includes_local_headers(data)

    def context_files(self, path):
        # The Kconfig (FS_DAX_LIMITED) and the headers beside the file, whose
        # macros may carry the flags.
        return kconfig_context_files(path) + module_header_files(path)

    def check(self, ctx):
        self._constructions(ctx)
        analysis = pfn_analysis_of(ctx)
        for w, pageless_at, pages_at in analysis.misplaced_map_flags:
            ctx.report(
                w.node,
                f"PFN_MAP is set here, on the path that establishes no struct pages (line {pageless_at.start_point[0] + 1}), "
                f"while the path that calls {text(pages_at.child_by_field_name('function'))}() (line "
                f"{pages_at.start_point[0] + 1}) does not set it: the flag claims pages this path does not have, so "
                "get_user_pages and the DAX fault code will take page references on memory without a memmap",
                severity=Severity.ERROR if page_required(ctx.catalog) else Severity.WARNING,
                fix="set PFN_MAP on the path that mapped the memory with devm_memremap_pages(), and only there",
            )

    def _constructions(self, ctx):
        analysis = pfn_analysis_of(ctx)
        required = page_required(ctx.catalog)
        note = ""
        if ctx.kernel.version is not None and not pfn_t_exists(ctx.catalog):
            note = f" (pfn_t no longer exists in v{ctx.version}: this code is written for an older kernel)"
        opt_in = None
        groups = _same_constructions(analysis.constructions)
        for c in analysis.constructions:
            flags = c.flags
            if not flags.always_pageless:
                continue
            group = groups[id(c)]
            if group[0] is not c:
                continue  # one finding per construct: reported with the first of its group
            pageless = flags.pageless_combos()
            if all(PFN_SPECIAL in combo for combo in pageless):
                if opt_in is None:
                    opt_in = fs_dax_limited_opt_in(ctx.kernel, ctx.abspath) or False
                if not opt_in or not opt_in.symbol_exists:
                    continue  # DAX102: PFN_SPECIAL without the FS_DAX_LIMITED opt-in
                ctx.report(
                    c.call,
                    f"{c.what}: flags {flags.spelled()} ({flags_source(c)}) are the FS_DAX_LIMITED "
                    f"exception ({opt_in.symbol} selects FS_DAX_LIMITED); fs-dax on this memory cannot support fork "
                    f"of MAP_SHARED mappings, get_user_pages or O_DIRECT (785a3fab4adb){note}",
                    severity=Severity.INFO,
                )
                continue
            per_member = [(g, analysis.construction_sinks(g)) for g in group]
            sinks = [s for _, ss in per_member for s in ss]
            used = [s for s in sinks if not _bookkeeping(s)]
            if sinks and not used:
                continue  # only PAT bookkeeping reads it (track_pfn_insert): no use that needs a page
            sink = strongest(used)
            at = next((g for g, ss in per_member if any(s is sink for s in ss)), c)
            level, template = _SINK_TEXT.get(sink.kind, _DEFAULT_SINK) if sink is not None else _DEFAULT_SINK
            if level is Severity.ERROR and not required:
                level = Severity.WARNING
                template += " (allowed before v4.15, an error from 569d0365f571 on)"
            others = [g.line for g in group if g is not at]
            same = f" (built the same way at line {', '.join(map(str, others))})" if others else ""
            # After pfn_t's removal the fix cannot name its flags: the pages
            # themselves are what the kernel of the checked release asks for.
            add_map = "add PFN_MAP" if not note else "hand out the pfns of those pages"
            if level is Severity.ERROR:
                fix = f"map the memory with devm_memremap_pages() (MEMORY_DEVICE_FS_DAX dev_pagemap) and {'pass PFN_DEV | PFN_MAP' if not note else add_map}"
            elif level is Severity.INFO:
                fix = _INFO_FIX
            else:
                fix = f"if the memory has no struct page, keep it out of DAX and GUP paths; otherwise give it pages and {add_map}"
            ctx.report(
                at.call,
                f"{at.what}: flags {flags.spelled()} ({flags_source(at)}) lack PFN_MAP; "
                f"{template.format(detail=sink.detail if sink else '')}{same}{note}",
                severity=level,
                fix=fix,
            )
