from daxlint.analysis.c import call_args, call_name, identifiers, text
from daxlint.model import Severity
from daxlint.rule import Rule

PFN_CONSTRUCTORS = {"__pfn_to_pfn_t": 1, "phys_to_pfn_t": 1}  # name -> index of the flags argument


class PfnDevWithoutMap(Rule):
    """
    ## What it does
    Finds a `pfn_t` built with `PFN_DEV` but without `PFN_MAP`: a page
    frame that, by its own flags, has no `struct page` behind it.

    ## Why is this bad
    `pfn_t_has_page()` is false for such a pfn, so `pfn_t_to_page()` returns
    NULL and every path that needs a page - fork of the mapping,
    get_user_pages, O_DIRECT, RDMA, splice - fails or falls back to a special
    pte. Since 569d0365f571 filesystem-DAX requires struct page: DAX memory
    is mapped with `devm_memremap_pages()` (ZONE_DEVICE) and its pfns carry
    `PFN_DEV|PFN_MAP`.

    ## Example
    ```c
    *pfn = phys_to_pfn_t(phys, PFN_DEV);
    ```

    ## Use instead
    ```c
    /* the range was mapped with devm_memremap_pages() */
    *pfn = phys_to_pfn_t(phys, PFN_DEV | PFN_MAP);
    ```

    ## References
    - 34c0fd540e79 "mm, dax, pmem: introduce pfn_t" (v4.5)
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - Documentation/filesystems/dax.rst
    """

    id = "DAX101"
    name = "pfn-dev-without-map"
    severity = Severity.ERROR
    summary = "pfn_t built with PFN_DEV but without PFN_MAP (no struct page)"
    tokens = (b"PFN_DEV",)
    query = "(call_expression function: (identifier) @fn) @call"

    def check(self, ctx):
        for call in ctx.captures.get("call", []):
            name = call_name(call)
            if name not in PFN_CONSTRUCTORS:
                continue
            args = call_args(call)
            idx = PFN_CONSTRUCTORS[name]
            if len(args) <= idx:
                continue
            flags = set(identifiers(args[idx]))
            if "PFN_DEV" in flags and "PFN_MAP" not in flags and "PFN_SPECIAL" not in flags:
                ctx.report(
                    call,
                    f"{name}() with flags '{text(args[idx])}': PFN_DEV without PFN_MAP makes a page-less pfn "
                    "(pfn_t_to_page() returns NULL; fork, GUP and DMA cannot use it)",
                    fix="map the range with devm_memremap_pages() and pass PFN_DEV | PFN_MAP",
                )
