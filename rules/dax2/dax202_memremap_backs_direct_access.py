from daxlint.analysis.dax import PAGELESS_MAPPERS, facts_for, may_assign_direct_access, out_of_view
from daxlint.analysis.fileindex import declared_in, index_for
from daxlint.analysis.kconfig_facts import fs_dax_limited_opt_in, kconfig_context_files
from daxlint.analysis.pfn import page_required
from daxlint.core.rule import Rule
from daxlint.model import Severity


class MemremapBacksDirectAccess(Rule):
    """
    ## What it does
    Finds `devm_memremap()`, `memremap()`, `ioremap*()` and
    `devm_ioremap*()` calls whose result is the memory a `->direct_access`
    implementation of the same file hands out: the address is stored
    (directly or through a local) in a struct field or file-scope variable
    that the implementation, or a helper it passes `kaddr`/`pfn` to, reads
    - or the call sits in the implementation (or such a helper) itself,
    mapping on every access (synthetic: no upstream instance as of 6.12).

    When the same address is assigned from `devm_memremap_pages()` on
    another path (pmem maps pages when the namespace has a memmap and falls
    back to `devm_memremap()` when it has none) the finding is **info**:
    the page-less path is legitimate only if DAX is not advertised on it
    (pmem sets the DAX queue flag only when its pfn flags have PFN_MAP).
    Drivers that select FS_DAX_LIMITED are page-less by declaration and not
    reported. On a patch read without its tree, where such a
    `devm_memremap_pages()` path may sit outside the hunks, the finding is
    a warning that says so.

    ## Why is this bad
    These mappings give the kernel an address but no `struct page`, so
    what `->direct_access` returns is page-less: since 569d0365f571 fs-dax
    requires struct page, and without it the DAX mapping cannot be forked,
    pinned by get_user_pages, or used for O_DIRECT, RDMA or splice. The
    memory must be mapped with `devm_memremap_pages()` (ZONE_DEVICE)
    instead, which both maps it and creates its memmap.

    ## Example
    ```c
    md->virt = devm_memremap(dev, res->start, resource_size(res), MEMREMAP_WB);
    ...
    *kaddr = md->virt + PFN_PHYS(pgoff);      /* in mydax_direct_access() */
    ```

    ## Use instead
    ```c
    md->pgmap.range = (struct range) { .start = res->start, .end = res->end };
    md->pgmap.nr_range = 1;
    md->pgmap.type = MEMORY_DEVICE_FS_DAX;
    md->virt = devm_memremap_pages(dev, &md->pgmap);
    ```

    ## References
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - drivers/nvdimm/pmem.c (pages with a memmap, devm_memremap() fallback without DAX)
    - Documentation/filesystems/dax.rst
    """

    id = "DAX202"
    name = "memremap-backs-direct-access"
    severity = Severity.ERROR
    confidence = "medium"
    summary = "devm_memremap()/memremap()/ioremap*() range handed out by ->direct_access (no struct page)"
    fix_note = "Replacing `devm_memremap()` by `devm_memremap_pages()` needs a `dev_pagemap` and changes the driver's setup."
    tokens = (b"direct_access",)

    def could_match(self, data):
        return any(name.encode() in data for name in PAGELESS_MAPPERS) and may_assign_direct_access(data)

    def context_files(self, path):
        return kconfig_context_files(path)

    def check(self, ctx):
        data = ctx.source.data
        if not any(name.encode() in data for name in PAGELESS_MAPPERS):
            return
        facts = facts_for(ctx.source)
        if not facts.providers or not facts.pageless_maps:
            return
        if fs_dax_limited_opt_in(ctx.kernel, ctx.abspath) is not None:
            return
        index = index_for(ctx.source)
        read_fields = facts.fields_read_by_providers
        read_names = set()
        for name in facts.provider_functions:
            fn = index.function(name)
            if fn is not None:
                read_names |= {n for n, ids in index.identifiers.items() if any(fn.start_byte <= i.start_byte < fn.end_byte for i in ids)}
        impl_names = ", ".join(sorted({p.name for p in facts.providers}))
        for m in facts.pageless_maps:
            if m.function in facts.provider_functions:
                # Mapped inside ->direct_access itself, on every access.
                ctx.report(
                    m.call,
                    f"{m.callee}() inside {m.function}(), which ->direct_access ({impl_names}) runs on every access: "
                    "it maps the memory it hands out without struct pages; filesystem-DAX requires struct page "
                    "(569d0365f571), and a page-less DAX mapping cannot be forked, pinned by get_user_pages or used "
                    "for O_DIRECT, RDMA or splice" + ("" if page_required(ctx.catalog) else " (allowed before v4.15)"),
                    severity=Severity.ERROR if page_required(ctx.catalog) else Severity.WARNING,
                    fix="map the range once at probe with devm_memremap_pages() (MEMORY_DEVICE_FS_DAX) and hand out "
                    "addresses inside that mapping",
                )
                continue
            fields = m.field_targets & read_fields
            globals_ = {t for t in m.targets if t in read_names and not self._local_to(index, m, t)}
            if not fields and not globals_:
                continue
            via = sorted(fields)[0] if fields else sorted(globals_)[0]
            alternatives = [p for p in facts.page_maps if (p.field_targets | p.targets) & (m.field_targets | m.targets)]
            if alternatives:
                ctx.report(
                    m.call,
                    f"{m.callee}() maps the memory that {impl_names}() hands out (through '{via}') without struct pages; "
                    f"it is the fallback to devm_memremap_pages() at line {alternatives[0].line}, so on this path the "
                    "device is page-less and must not be offered for filesystem-DAX",
                    severity=Severity.INFO,
                )
                continue
            level = Severity.ERROR if page_required(ctx.catalog) else Severity.WARNING
            unseen = out_of_view(ctx.kernel, ctx.abspath, ctx.source.path, ctx.partial) if ctx.partial else []
            note = ""
            if unseen:
                # A devm_memremap_pages() path for the same memory (pmem's) may
                # sit outside the hunks: then this is the page-less fallback.
                level = Severity.WARNING
                note = (
                    f"; unless the driver maps the same memory with devm_memremap_pages() on another path, where this "
                    f"check cannot see (not in view: {'; '.join(unseen)})"
                )
            ctx.report(
                m.call,
                f"{m.callee}() maps the memory that {impl_names}() hands out (through '{via}') without struct pages: "
                "filesystem-DAX requires struct page (569d0365f571), and a page-less DAX mapping cannot be forked, "
                "pinned by get_user_pages or used for O_DIRECT, RDMA or splice"
                + ("" if page_required(ctx.catalog) else " (allowed before v4.15)")
                + note,
                severity=level,
                fix="map the range with devm_memremap_pages() and a MEMORY_DEVICE_FS_DAX dev_pagemap",
            )

    @staticmethod
    def _local_to(index, m, name: str) -> bool:
        """Whether ``name`` is a local of the function that maps (not a file-scope variable)."""
        fn = index.function(m.function or "")
        if fn is None:
            return False
        return declared_in(fn, name) or name in index.parameter_names(fn)
