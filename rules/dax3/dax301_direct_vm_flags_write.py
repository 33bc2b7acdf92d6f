from daxlint.analysis.c import text
from daxlint.analysis.types import TypeResolver
from daxlint.model import Severity
from daxlint.rule import Rule

_WRAPPER_FOR_OP = {
    "=": "vm_flags_init(vma, flags) (new vma) or vm_flags_reset(vma, flags)",
    "|=": "vm_flags_set(vma, flags)",
    "&=": "vm_flags_clear(vma, flags) (pass the bits to clear, not the mask)",
    "^=": "vm_flags_mod(vma, set, clear)",
}


class DirectVmFlagsWrite(Rule):
    """
    ## What it does
    Flags direct writes to `vm_area_struct.vm_flags` (`=`, `|=`, `&=`, `^=`,
    `++`, `--`) on kernels where the field is const behind the
    `vm_flags_*()` wrappers (v6.3 and later, bc292ab00f6c). The kernel API
    catalog decides per version whether the field is writable; writes to
    other structs with a `vm_flags` member (`vm_region`,
    `page_referenced_arg`, trace-event `__entry`) are not findings.

    ## Why is this bad
    Since v6.3 vma flags may only change through `vm_flags_set/clear/mod/
    init/reset`, which assert the mmap write lock and keep per-VMA locking
    correct. A direct write bypasses both: it does not compile against a
    mainline kernel, and a backport that forces it through (casting away
    the const or writing `__vm_flags`) races with page faults running
    under the per-VMA lock - exactly the "flags rewritten behind the mm's
    back" that the 2017 DAX discussion rejected with `->post_mmap`.

    ## Example
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vma->vm_flags |= VM_IO | VM_DONTEXPAND;
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vm_flags_set(vma, VM_IO | VM_DONTEXPAND);
            return 0;
    }
    ```

    ## References
    - bc292ab00f6c "mm: introduce vma->vm_flags wrapper functions" (v6.3)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017 (the `->post_mmap` straw)
    """

    id = "DAX301"
    name = "direct-vm-flags-write"
    severity = Severity.ERROR
    summary = "Direct write to vma->vm_flags where the kernel requires vm_flags_*() wrappers"
    tokens = (b"vm_flags",)
    query = """
    (assignment_expression left: (field_expression field: (field_identifier) @field) @lhs) @write
    (update_expression argument: (field_expression field: (field_identifier) @field) @lhs) @write
    """

    def check(self, ctx):
        if not ctx.catalog.field_is_const("vm_area_struct", "vm_flags"):
            return  # before v6.3 a write under the mmap write lock is legal (DAX302 covers where)
        resolver = TypeResolver(ctx.source, ctx.catalog)
        writes = ctx.captures.get("write", [])
        for write in writes:
            lhs = write.child_by_field_name("left") or write.child_by_field_name("argument")
            if lhs is None or lhs.type != "field_expression":
                continue
            field = lhs.child_by_field_name("field")
            if text(field) != "vm_flags":
                continue
            base = lhs.child_by_field_name("argument")
            if resolver.struct_of(base) != "vm_area_struct":
                continue
            op_node = write.child_by_field_name("operator")
            op = text(op_node) if op_node is not None else "++"
            wrapper = _WRAPPER_FOR_OP.get(op, "vm_flags_mod(vma, set, clear)")
            ctx.report(
                write,
                f"direct write '{op}' to {text(base)}->vm_flags: vm_flags is const since v6.3 "
                f"(checking v{ctx.version}); use {wrapper}",
                fix=wrapper,
            )
