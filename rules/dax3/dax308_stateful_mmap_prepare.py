import re

from daxlint.analysis.callgraph import mmap_prepare_entries
from daxlint.analysis.module import model_of
from daxlint.analysis.prepare import first_release
from daxlint.analysis.prepare_body import Need
from daxlint.core.catalog import catalog_for
from daxlint.core.rule import Rule
from daxlint.core.syntax import call_name, function_name, text, walk
from daxlint.model import Severity

# What changes state outside the descriptor: memory the mapping would own,
# references and counts taken for it, entries put into shared structures.
STATE_CALLS = frozenset(
    {
        # allocations
        "kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "kvmalloc", "kvzalloc", "kvcalloc", "vmalloc", "vzalloc",
        "vmalloc_user", "kmem_cache_alloc", "kmem_cache_zalloc", "alloc_pages", "alloc_page", "__get_free_pages",
        "get_zeroed_page", "devm_kzalloc", "devm_kmalloc", "kstrdup", "kmemdup",
        # references and counts
        "get_device", "get_file", "kref_get", "kref_get_unless_zero", "refcount_inc", "refcount_inc_not_zero",
        "atomic_inc", "atomic_inc_return", "atomic_long_inc", "atomic64_inc", "get_page", "folio_get", "try_module_get",
        "__module_get", "mmget", "mmgrab", "kobject_get", "pm_runtime_get", "pm_runtime_get_sync",
        "pm_runtime_resume_and_get", "dget", "fget", "percpu_ref_get",
        # shared structures
        "list_add", "list_add_tail", "list_add_rcu", "list_add_tail_rcu", "hlist_add_head", "hlist_add_head_rcu",
        "xa_store", "xa_insert", "xa_alloc", "idr_alloc", "rb_insert_color", "radix_tree_insert",
    }
)  # fmt: skip


# The handlers this rule reads are registered in the file itself.
_REGISTERS_PREPARE = re.compile(rb"(?:\.|->)\s*mmap_prepare\s*=(?!=)")


class StatefulMmapPrepare(Rule):
    """
    ## What it does
    Flags state changed in a `.mmap_prepare` handler (and the functions of
    the file it calls): memory allocated (`kmalloc()` and kin), a reference
    or count taken (`get_device()`, `kref_get()`, `refcount_inc()`,
    `pm_runtime_get_sync()`, `x->count++` on an object other than a local),
    an entry inserted into a shared structure (`list_add()`, `xa_store()`,
    `idr_alloc()`), or the descriptor pointer kept beyond the call.

    ## Why is this bad
    `.mmap_prepare` runs before the mapping exists: "the mapping may either
    be merged, or fail to be mapped after the callback is complete", so the
    callback "should be treated as effectively stateless"
    (Documentation/filesystems/mmap_prepare.rst). Nothing undoes what it did
    when the mapping is merged into a neighbour or fails - a leak, or a
    count that never drops - and the descriptor is gone once it returns.
    Per-mapping state belongs in `vm_ops->mapped` (v7.1), which runs only
    once a new mapping exists and may fail it; before that release, a
    handler that needs state keeps `.mmap`.

    ## Example
    ```c
    static int mydrv_mmap_prepare(struct vm_area_desc *desc)
    {
            struct mydrv_map *map = kzalloc(sizeof(*map), GFP_KERNEL);

            desc->private_data = map;
            pm_runtime_get_sync(mydrv_dev);
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int mydrv_mapped(unsigned long start, unsigned long end, pgoff_t pgoff,
                            const struct file *file, void **vm_private_data)
    {
            struct mydrv_map *map = kzalloc(sizeof(*map), GFP_KERNEL);

            if (!map)
                    return -ENOMEM;
            *vm_private_data = map;
            pm_runtime_get_sync(mydrv_dev);
            return 0;
    }
    static const struct vm_operations_struct mydrv_vm_ops = {
            .mapped = mydrv_mapped,
            .close = mydrv_close,
    };
    static int mydrv_mmap_prepare(struct vm_area_desc *desc)
    {
            desc->vm_ops = &mydrv_vm_ops;
            return 0;
    }
    ```

    ## References
    - Documentation/filesystems/mmap_prepare.rst (7.3): "Mapped callback"
    - drivers/hwtracing/stm/core.c, drivers/staging/vme_user/vme_user.c, fs/afs/file.c (7.3): state moved from `.mmap` to `vm_ops->mapped` in their conversions
    """

    id = "DAX308"
    name = "stateful-mmap-prepare"
    severity = Severity.WARNING
    summary = "State changed in .mmap_prepare (allocation, reference, list insertion, the descriptor kept): move it to vm_ops->mapped"
    fix_note = "Moving state to a new `vm_ops->mapped` callback changes the driver's structure; see DAX310's conversion for the shapes upstream used."
    tokens = (b"mmap_prepare",)

    def could_apply(self, kernel):
        return catalog_for(kernel.whole_range.last).struct_field("file_operations", "mmap_prepare") is not None

    def could_match(self, data):
        return _REGISTERS_PREPARE.search(data) is not None

    def check(self, ctx):
        if ctx.catalog.struct_field("file_operations", "mmap_prepare") is None:
            return
        model = model_of(ctx)
        graph = model.graph
        mapped = Need("member", "vm_operations_struct.mapped")
        where = (
            "move it to vm_ops->mapped, which runs only once a new mapping exists"
            if mapped.met(ctx.catalog)
            else f"keep .mmap for a handler that needs state until the kernel has vm_ops->mapped (v{first_release(mapped)})"
        )
        for name, defs in graph.definitions.items():
            entries = mmap_prepare_entries(graph, name)
            if not entries:
                continue
            via = f"{entries[0].entry}(), the .mmap_prepare handler" + (f", calls {name}()" if entries[0].entry != name else "")
            for fn in defs:
                for node, what in _state_changes(fn):
                    ctx.report(
                        node,
                        f"{what} in {function_name(fn)}() ({via}): .mmap_prepare must stay stateless - the mapping may still be "
                        f"merged with a neighbour or fail after it returns, and nothing undoes this; {where}",
                        fix=where,
                    )


def _locals(fn) -> set[str]:
    """Names the function declares (parameters and locals)."""
    out: set[str] = set()
    for decl in walk(fn, {"parameter_declaration", "declaration"}):
        for ident in walk(decl, {"identifier"}):
            out.add(text(ident))
    return out


def _state_changes(fn):
    """(node, words) for each change of state outside the descriptor."""
    body = fn.child_by_field_name("body")
    if body is None:
        return
    local, descs = _locals(fn), _desc_names(fn)
    for n in walk(body, {"call_expression", "update_expression", "assignment_expression"}):
        if n.type == "call_expression":
            name = call_name(n)
            if name in STATE_CALLS:
                yield n, f"{name}()"
            continue
        target = n.child_by_field_name("argument") if n.type == "update_expression" else n.child_by_field_name("left")
        if target is None:
            continue
        base = _base_name(target)
        op = n.child_by_field_name("operator")
        op_text = text(op) if op is not None else ""
        if n.type == "update_expression" or op_text in ("+=", "-="):
            # A member of an object (the descriptor's own aside), or a
            # variable that is not the function's: a count kept elsewhere.
            shared = base not in descs if target.type != "identifier" else base not in local
            if base is not None and shared:
                yield n, f"the count '{' '.join(text(n).split())}'"
            continue
        value = n.child_by_field_name("right")
        if value is not None and value.type == "identifier" and text(value) in descs and base not in local:
            yield n, "the descriptor pointer stored"


def _base_name(node) -> str | None:
    """The variable at the root of ``a->b.c`` (or ``x`` itself)."""
    while node is not None and node.type in ("field_expression", "subscript_expression", "parenthesized_expression", "pointer_expression"):
        node = node.child_by_field_name("argument") or (node.named_children[0] if node.named_children else None)
    return text(node) if node is not None and node.type == "identifier" else None


def _desc_names(fn) -> tuple[str, ...]:
    """The function's struct vm_area_desc parameters."""
    out = []
    for p in walk(fn.child_by_field_name("declarator") or fn, {"parameter_declaration"}):
        if "vm_area_desc" in text(p.child_by_field_name("type")):
            for ident in walk(p, {"identifier"}):
                out.append(text(ident))
    return tuple(out)
