import re

from daxlint.analysis.module import model_of
from daxlint.analysis.prepare import deprecated_since, first_release, mmap_registrations, plan_conversions
from daxlint.core.catalog import catalog_for
from daxlint.core.rule import Rule
from daxlint.model import Severity

_MMAP_STORE = re.compile(rb"(?:\.|->)\s*mmap\s*=(?!=)")
_HOW_TO = "convert it by hand to .mmap_prepare (Documentation/filesystems/mmap_prepare.rst)"


class DeprecatedMmapHandler(Rule):
    """
    ## What it does
    Flags the `.mmap` of a `struct file_operations` (an initializer or an
    assignment) on kernels that have its successor `.mmap_prepare` (v6.16
    and later, by the kernel API catalog of the checked version), and
    converts the handler, as upstream converted about fifty of its own
    between v6.16 and v7.3:

    - `foo_mmap(struct file *file, struct vm_area_struct *vma)` becomes
      `foo_mmap_prepare(struct vm_area_desc *desc)`, with `struct file
      *file = desc->file;` first when the body uses the file, and the
      member `.mmap_prepare = foo_mmap_prepare`; static helpers the handler
      hands the vma to take the descriptor too;
    - `vma->vm_start/vm_end/vm_pgoff/vm_page_prot/vm_file/vm_ops/
      vm_private_data` are `desc->start/end/pgoff/page_prot/vm_file/vm_ops/
      private_data`, `vma->vm_end - vma->vm_start` `vma_desc_size(desc)`,
      `vma_pages(vma)` `vma_desc_pages(desc)`;
    - flag changes become `vma_desc_set_flags()`/`vma_desc_clear_flags()`
      with `VMA_*_BIT` numbers where the descriptor has the flags bitmap
      (v7.0+), `desc->vm_flags` writes where it has `vm_flags`; flag tests
      `vma_desc_test()`, `vma_desc_test_any()`, `vma_desc_test_all()`;
    - the final `remap_pfn_range()`, `io_remap_pfn_range()`,
      `vm_iomap_memory()`, `vm_map_pages()` or `vm_map_pages_zero()` becomes
      the matching `mmap_action_*()` (the remap forms since v6.19,
      `mmap_action_simple_ioremap()` and `mmap_action_map_kernel_pages*()`
      since v7.1) and the handler returns 0; an error the old code returned
      instead of the call's own is kept as `desc->action.error_override`
      (v7.2+; before, a failure went through a function, `error_hook`);
    - `generic_file_mmap` and `generic_file_readonly_mmap` - as the member
      or called from a wrapper - become their `_prepare` forms;
    - state taken per mapping (a reference, an allocation, a counter) moves
      to a new `vm_ops->mapped` callback of the vm_operations_struct the
      handler installs (v7.1+), as upstream did for stm and vme_user.

    When the checked range reaches kernels without something the new code
    uses, the old handler stays for them: the new definitions and the
    member go under `#if LINUX_VERSION_CODE >= KERNEL_VERSION(x, y, 0)`
    with the old ones in the `#else`.

    A handler the conversion cannot keep correct is reported with the
    reason and no fix: one that is defined in another file or is not
    static, maps twice or in a loop, uses the vma after the mapping call in
    a way the deferred mapping would change, calls a function that needs
    the vma itself (`remap_vmalloc_range()`, `vm_insert_page()`,
    `dma_mmap_coherent()`, its own helpers used elsewhere), keeps the vma
    pointer, or takes state per mapping that cannot move to
    `vm_ops->mapped` (taken in a branch, before a step that can fail, or
    on a kernel without the callback). The `.mmap` of v4l2, DRM GEM object,
    dma-buf and the other ops tables has no `.mmap_prepare` and is not
    flagged; neither is the old side of a conversion already guarded by a
    version test.

    ## Why is this bad
    `->mmap` hands a driver a half-built vma it can change at will, and
    the mm core has had to unwind what drivers did when the mapping then
    failed; it is deprecated in favour of `->mmap_prepare`, which fills in
    a descriptor before the vma exists and asks the mm core to perform the
    mapping (`desc->action`) once it does (Documentation/filesystems/
    mmap_prepare.rst, "a stability and security risk"). A file operations
    table with both hooks fails every mmap() with -ENODEV. Nothing is
    wrong today, so the finding is info; the conversion is the same
    mechanical change for every driver, which `--fix --unsafe-fixes` does.

    ## Example
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            struct mydrv *drv = file->private_data;

            vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
            vm_flags_set(vma, VM_DONTCOPY);
            return vm_iomap_memory(vma, drv->phys, drv->size);
    }

    static const struct file_operations mydrv_fops = {
            .mmap = mydrv_mmap,
    };
    ```

    ## Use instead
    ```c
    static int mydrv_mmap_prepare(struct vm_area_desc *desc)
    {
            struct file *file = desc->file;
            struct mydrv *drv = file->private_data;

            desc->page_prot = pgprot_noncached(desc->page_prot);
            vma_desc_set_flags(desc, VMA_DONTCOPY_BIT);
            mmap_action_simple_ioremap(desc, drv->phys, drv->size);
            return 0;
    }

    static const struct file_operations mydrv_fops = {
            .mmap_prepare = mydrv_mmap_prepare,
    };
    ```

    ## References
    - c84bf6dd2b83 "mm: introduce new .mmap_prepare() file callback" (v6.16)
    - Documentation/filesystems/mmap_prepare.rst (v7.3)
    - ac0a3fc9c07d "mm: add ability to take further action in vm_area_desc" (v6.19): `mmap_action_remap*()`, `mmap_action_ioremap*()`
    - a1b7fb40cb71 "mm: add mmap_action_simple_ioremap()", 62c65fd740e9 "mm: add mmap_action_map_kernel_pages[_full]()", c50ca15dd496 "mm: add vm_ops->mapped hook" (v7.1)
    - 4f5b8759262e "mm/vma: eliminate mmap_action->error_hook, introduce error_override" (v7.2)
    """

    id = "DAX310"
    name = "deprecated-mmap-handler"
    severity = Severity.INFO
    summary = "file_operations.mmap where the kernel has .mmap_prepare (v6.16+); --fix --unsafe-fixes converts the handler"
    fix_safety = "unsafe"
    fix_note = (
        "The handler, its static helpers, its prototypes and the member are rewritten for .mmap_prepare (state per mapping "
        "moved to vm_ops->mapped), under a version test when the checked range reaches kernels without what they use; "
        "unsafe because the mapping now happens after the handler returns - review the patch."
    )
    tokens = (b"mmap",)

    def could_apply(self, kernel):
        return catalog_for(kernel.whole_range.last).struct_field("file_operations", "mmap_prepare") is not None

    def could_match(self, data):
        return _MMAP_STORE.search(data) is not None

    def check(self, ctx):
        if ctx.catalog.struct_field("file_operations", "mmap_prepare") is None:
            return
        model = model_of(ctx)
        registrations = [r for r in mmap_registrations(model) if r.function != "NULL"]
        if not registrations:
            return
        plans = plan_conversions(model, ctx.kernel)
        since = deprecated_since()
        head = f"file_operations.mmap is deprecated since v{since}"
        for reg in registrations:
            outcome = plans.get(reg.node.start_byte)
            if outcome is None:
                continue  # the old kernels' side of a guarded conversion
            if outcome.fix is not None:
                if reg.function in model.graph.definitions:
                    what = f"converts {outcome.handler}() to {outcome.new_name}()"
                else:
                    what = f"makes it .mmap_prepare = {outcome.new_name}"
                if outcome.mapped:
                    what += f", its per-mapping state in vm_ops->mapped ({outcome.mapped}())"
                if outcome.guard:
                    what += f", keeping {outcome.handler}() for kernels before v{outcome.guard}"
                ctx.report(
                    reg.node,
                    f"{head} (->mmap_prepare sets a mapping up before the vma exists); `daxlint check --fix --unsafe-fixes` {what}",
                    fix=outcome.fix.description,
                    autofix=outcome.fix,
                )
                continue
            reason = outcome.reason or "daxlint cannot convert it"
            if outcome.line is not None and "line" not in reason:
                reason += f" (line {outcome.line})"
            if outcome.need is not None:
                came = first_release(outcome.need)
                if came is not None:
                    reason += f"; --fix converts it for v{came} and later"
            ctx.report(reg.node, f"{head}; no automatic conversion of {outcome.handler}(): {reason}", fix=_HOW_TO)
