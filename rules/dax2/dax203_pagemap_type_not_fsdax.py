import os

from daxlint.analysis.dax import (
    DEVDAX_PGMAP_TYPES,
    FSDAX_PGMAP_TYPES,
    directory_facts,
    driver_context_files,
    facts_for,
    may_assign_pgmap_type,
)
from daxlint.core.rule import Rule
from daxlint.model import Severity

_WHY_NOT = {
    "MEMORY_DEVICE_PRIVATE": "device-private pages are not CPU-addressable: the CPU faults them back with migrate_to_ram()",
    "MEMORY_DEVICE_COHERENT": "device-coherent pages belong to a device driver's migration scheme, not to a filesystem",
    "MEMORY_DEVICE_PCI_P2PDMA": "P2PDMA pages are for peer-to-peer DMA and are never mapped for filesystem I/O",
    "MEMORY_DEVICE_GENERIC": "generic (device-dax) pages are not tracked by fs-dax: no DAX-aware refcounting, no wakeup "
    "of truncate waiting for pinned pages",
    "MEMORY_DEVICE_DEVDAX": "device-dax pages are not tracked by fs-dax: no DAX-aware refcounting, no wakeup "
    "of truncate waiting for pinned pages",
    "MEMORY_DEVICE_PUBLIC": "the HMM public type (removed in v5.1) was for device memory migration, not DAX",
    "MEMORY_DEVICE_HOST": "the pre-v4.15 host type has no fs-dax page semantics",
}


class PagemapTypeNotFsdax(Rule):
    """
    ## What it does
    Checks the `type` written to a `struct dev_pagemap` (an assignment
    `pgmap->type = MEMORY_DEVICE_*` or a designated initializer, also
    through a variable initialised with the enumerator) in DAX code. In a file that implements a `->direct_access` provider the pages
    serve filesystem-DAX and must be `MEMORY_DEVICE_FS_DAX`. In other DAX
    code - device-dax, where the file or another C file of its driver (the
    files its directory's Makefile builds under the same or a dependent
    Kconfig symbol) calls `alloc_dax()` - `MEMORY_DEVICE_GENERIC` (and its v5.3-v5.9 name
    `MEMORY_DEVICE_DEVDAX`) is right as well. Private, coherent and P2PDMA
    types are never right for DAX. Files that are not DAX code (GPU
    migration, P2PDMA, Xen) are not checked. fsdax and devdax pagemaps
    need neither `ops` nor `owner` in any kernel so far (the kernel
    requires them only for device-private and coherent memory), so the
    rule checks the type only.

    ## Why is this bad
    The pagemap type decides what the core mm does with the pages:
    fs-dax pages (569d0365f571 made them mandatory for filesystem-DAX) are
    the ones whose refcount drop wakes a truncate waiting on a pinned DAX
    block (`dax_layout_busy_page()`) and whose memory failures are routed
    to the filesystem. Pages of another type give the driver struct pages
    on paper but break those paths: truncate races with DMA, poisoned pages
    kill the wrong processes, or the CPU cannot even address the memory.

    ## Example
    ```c
    md->pgmap.type = MEMORY_DEVICE_GENERIC;     /* in a driver with ->direct_access */
    md->virt = devm_memremap_pages(dev, &md->pgmap);
    ```

    ## Use instead
    ```c
    md->pgmap.type = MEMORY_DEVICE_FS_DAX;
    md->virt = devm_memremap_pages(dev, &md->pgmap);
    ```

    ## References
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - include/linux/memremap.h (enum memory_type), drivers/nvdimm/pmem.c, drivers/dax/device.c
    """

    id = "DAX203"
    name = "pagemap-type-not-fsdax"
    severity = Severity.ERROR
    confidence = "medium"
    summary = "dev_pagemap type in DAX code that cannot serve fsdax (or devdax)"
    fix_note = "The pagemap type follows from what the memory is for; the message names the type fs-dax needs."
    # Without the underscore: hyperscan's one pass over every file of the
    # tree is measurably slower with a 14-byte literal among the others;
    # could_match() looks for the MEMORY_DEVICE_ enumerators themselves.
    tokens = (b"MEMORY_DEVICE",)

    def could_match(self, data):
        return may_assign_pgmap_type(data)

    def context_files(self, path):
        return driver_context_files(path)

    def check(self, ctx):
        facts = facts_for(ctx.source)
        types = facts.pgmap_types
        if not types:
            return
        if facts.providers:
            allowed, what = FSDAX_PGMAP_TYPES, f"filesystem-DAX (this file implements ->direct_access: {facts.providers[0].name}())"
        elif facts.dax_context or (
            ctx.abspath is not None and directory_facts(ctx.kernel, os.path.dirname(ctx.abspath)).dax_context(exclude=ctx.abspath)
        ):
            allowed, what = DEVDAX_PGMAP_TYPES, "DAX (this driver calls alloc_dax())"
        else:
            return
        for t in types:
            if t.value in allowed:
                continue
            reason = _WHY_NOT.get(t.value, "it is not a DAX pagemap type")
            held = f" (from '{t.via}')" if t.via else ""
            ctx.report(
                t.node,
                f"dev_pagemap type {t.value}{held} in code that serves {what}: {reason}; use "
                f"{' or '.join(sorted(allowed & {'MEMORY_DEVICE_FS_DAX', 'MEMORY_DEVICE_GENERIC'}))}",
                fix="MEMORY_DEVICE_FS_DAX",
            )
