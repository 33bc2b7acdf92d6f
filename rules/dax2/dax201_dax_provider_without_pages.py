import os

from daxlint.analysis.c import walk, text
from daxlint.model import Severity
from daxlint.rule import Rule

PAGE_ESTABLISHERS = (b"devm_memremap_pages", b"memremap_pages")


class DaxProviderWithoutPages(Rule):
    """
    ## What it does
    Finds a driver that provides DAX - a `dax_operations` with a
    `.direct_access` method, or a call to `alloc_dax()` - but never
    establishes struct pages for the memory: no `devm_memremap_pages()` /
    `memremap_pages()` in the file or its directory, and no opt-in to the
    page-less `FS_DAX_LIMITED` mode. Forwarders whose `direct_access` only
    calls `dax_direct_access()` on another device (device-mapper targets)
    are not findings.

    ## Why is this bad
    Since 569d0365f571 filesystem-DAX requires `struct page`; page-less DAX
    memory cannot be forked, pinned by get_user_pages, used for O_DIRECT or
    RDMA. ZONE_DEVICE (`devm_memremap_pages()` with a `MEMORY_DEVICE_FS_DAX`
    `dev_pagemap`) is how a DAX driver gives its memory pages.

    ## Example
    ```c
    static const struct dax_operations mydax_ops = {
            .direct_access = mydax_direct_access,   /* memory from devm_memremap() */
    };
    ```

    ## Use instead
    ```c
    pgmap->type = MEMORY_DEVICE_FS_DAX;
    addr = devm_memremap_pages(dev, pgmap);
    ```

    ## References
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (FS_DAX_LIMITED)
    - drivers/nvdimm/pmem.c, drivers/dax/ (providers with pages)
    """

    id = "DAX201"
    name = "dax-provider-without-pages"
    severity = Severity.ERROR
    confidence = "medium"
    summary = "DAX provider (direct_access / alloc_dax) that never establishes struct pages"
    tokens = (b"direct_access", b"alloc_dax")

    def context_files(self, path):
        d = os.path.dirname(path)
        return [os.path.join(d, n) for n in self._listdir(d) if n.endswith(".c") or n == "Kconfig"]

    @staticmethod
    def _listdir(d):
        try:
            return sorted(os.listdir(d))
        except OSError:
            return []

    def _directory_has_pages(self, ctx) -> bool:
        if ctx.abspath is None:
            return False
        d = os.path.dirname(ctx.abspath)
        for name in ctx.kernel.listdir(d):
            p = os.path.join(d, name)
            if p == ctx.abspath or not name.endswith(".c"):
                continue
            data = ctx.kernel.read(p)
            if data is not None and any(t in data for t in PAGE_ESTABLISHERS):
                return True
        return ctx.kernel.directory_selects(d, "FS_DAX_LIMITED")

    def check(self, ctx):
        data = ctx.source.data
        if any(t in data for t in PAGE_ESTABLISHERS) or b"PFN_SPECIAL" in data or b"FS_DAX_LIMITED" in data:
            return
        sites = []
        for init in walk(ctx.source.root, {"initializer_pair"}):
            designator = init.child_by_field_name("designator")
            value = init.child_by_field_name("value")
            if designator is not None and text(designator).endswith("direct_access") and value is not None:
                sites.append((init, text(value)))
        if not sites:
            return
        impls = {}
        for fn in walk(ctx.source.root, {"function_definition"}):
            from daxlint.analysis.c import function_name

            impls[function_name(fn)] = fn
        providers = []
        for init, impl in sites:
            fn = impls.get(impl)
            if fn is not None and b"dax_direct_access" in ctx.source.data[fn.start_byte:fn.end_byte]:
                continue  # a forwarder: the device it forwards to owns the pages
            providers.append((init, impl))
        if not providers or self._directory_has_pages(ctx):
            return
        for init, impl in providers:
            ctx.report(
                init,
                f"DAX provider '.direct_access = {impl}' but neither this file nor its directory maps the memory "
                "with devm_memremap_pages()/memremap_pages(), and FS_DAX_LIMITED is not selected: "
                "filesystem-DAX requires struct page",
                fix="establish ZONE_DEVICE pages with devm_memremap_pages() (MEMORY_DEVICE_FS_DAX pgmap)",
            )
