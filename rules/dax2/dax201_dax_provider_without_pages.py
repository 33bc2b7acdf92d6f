import os

from daxlint.analysis.dax import directory_facts, driver_context_files, facts_for, may_assign_direct_access
from daxlint.analysis.kconfig_facts import display_path, fs_dax_limited_opt_in
from daxlint.analysis.pfn import page_required
from daxlint.core.rule import Rule
from daxlint.model import Severity


class DaxProviderWithoutPages(Rule):
    """
    ## What it does
    Finds a DAX provider - a `->direct_access` implementation that hands
    out memory (it fills `*kaddr` / `*pfn`, itself or through a helper)
    and so, normally, an ops table given to `alloc_dax()` - in a file whose
    driver never establishes struct pages: no `devm_memremap_pages()` /
    `memremap_pages()` in the file or in another C file of its directory
    (with an fsdax or devdax `dev_pagemap` type, when the type is set
    there), no `select FS_DAX_LIMITED` in the driver's Kconfig, and no
    `PFN_SPECIAL` (whose missing opt-in DAX102 reports).

    Not findings: forwarders whose `direct_access` only passes the request
    on to another dax device (`dax_direct_access()`, `ti->type->direct_access()`:
    the device-mapper targets), implementations that only fail
    (`return -EIO;`), and `alloc_dax(x, NULL)` (device-dax, which has no
    `direct_access`). Works the same on kernels after the pfn_t removal,
    where `->direct_access` returns `unsigned long *pfn`.

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
        for impl in providers:
            allocs = [c for c, ops in facts.alloc_dax_calls if ops is not None]
            registered = f" (registered with alloc_dax() at line {allocs[0].start_point[0] + 1})" if allocs else ""
            ctx.report(
                impl.site,
                f"DAX provider '.direct_access = {impl.name}'{registered} establishes no struct pages: no "
                f"devm_memremap_pages()/memremap_pages() in this file or its directory "
                f"({display_path(ctx.kernel, os.path.dirname(ctx.abspath)) if ctx.abspath else 'unknown'}) and no "
                f"select FS_DAX_LIMITED{where}; filesystem-DAX requires struct page (569d0365f571), without it "
                "the mapping cannot be forked, pinned by get_user_pages or used for O_DIRECT"
                + ("" if level == Severity.ERROR else " (allowed before v4.15)"),
                severity=level,
                fix="map the memory with devm_memremap_pages() and a MEMORY_DEVICE_FS_DAX dev_pagemap, and hand out PFN_DEV | PFN_MAP pfns",
            )
