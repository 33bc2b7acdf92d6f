import re

from daxlint.analysis.callgraph import FAULT
from daxlint.analysis.dax import driver_source_files
from daxlint.analysis.flow import exclusive_branches
from daxlint.analysis.locate import identifier_nodes
from daxlint.analysis.module import model_of
from daxlint.analysis.vmfix import drop_flag_fix
from daxlint.analysis.vmflags import initialized_variable, may_write_vm_flags
from daxlint.core.rule import Rule
from daxlint.core.syntax import function_name, text
from daxlint.model import Severity
from daxlint.version import KernelVersion

MIXEDMAP = "VM_MIXEDMAP"
# e1fb4a086495 "dax: remove VM_MIXEDMAP for fsdax and device dax" (v4.19):
# before it the mm still relied on VM_MIXEDMAP to recognise DAX vmas.
FIRST_VERSION = KernelVersion(4, 19)
# Calls that only a DAX fault path makes: fs-dax and device-dax.
DAX_FAULT_CALLS = frozenset(
    {
        "dax_iomap_fault",
        "dax_finish_sync_fault",
        "dax_insert_pfn_mkwrite",
        "dax_pgoff_to_phys",
        "dax_iomap_pmd_fault",
        "dax_iomap_pte_fault",
    }
)
_DAX_FAULT_NAMES = frozenset(n.encode() for n in DAX_FAULT_CALLS)
_VM_OPS_STORE_RE = re.compile(rb"(?:->|\.)\s*(vm_ops)\s*=(?!=)")


class MixedmapOnDax(Rule):
    """
    ## What it does
    Warns when `VM_MIXEDMAP` is set (`vma->vm_flags |= VM_MIXEDMAP`,
    `vm_flags_set(vma, ... VM_MIXEDMAP ...)`, `vm_flags_mod()` or a reset
    that includes it, directly or through a local holding the flags) on a mapping that is fs-dax or device-dax by the
    file's own evidence:

    - the write runs only for DAX files - under `if (IS_DAX(inode))`,
      `vma_is_dax(vma)`, `S_DAX`, a local computed from them, after an early
      `if (!IS_DAX(inode)) return ...;`, or as `IS_DAX(i) ? VM_MIXEDMAP : 0`;
    - or the same function installs `vm_ops` whose fault handlers (followed
      through the file's call graph) end in a DAX fault path:
      `dax_iomap_fault()`, `dax_finish_sync_fault()`, device-dax's
      `dax_pgoff_to_phys()`.

    `VM_MIXEDMAP` on other memory (cramfs XIP, drm and binder buffers,
    `vm_insert_page()`) is not a finding, nor is a write that runs only for
    non-DAX files. Checked on v4.19 and later, the first kernel where the
    mm no longer needed the flag for DAX.

    ## Why is this bad
    e1fb4a086495 removed `VM_MIXEDMAP` from fs-dax and device-dax: DAX
    memory has `struct page` (ZONE_DEVICE), the mm recognises DAX vmas with
    `vma_is_dax()` and `pte_devmap()`, and - the point of the 2017 thread -
    nobody needs to rewrite `vm_flags` when a file's DAX mode changes,
    because the flags no longer depend on it. Setting it again reintroduces
    a DAX-mode-dependent flag and sends `vm_normal_page()` down the
    mixed-map path for memory that has pages.

    ## Example
    ```c
    static int myfs_dax_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vma->vm_ops = &myfs_dax_vm_ops;   /* .fault calls dax_iomap_fault() */
            vm_flags_set(vma, VM_MIXEDMAP | VM_HUGEPAGE);
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int myfs_dax_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vma->vm_ops = &myfs_dax_vm_ops;
            vm_flags_set(vma, VM_HUGEPAGE);
            return 0;
    }
    ```

    ## References
    - e1fb4a086495 "dax: remove VM_MIXEDMAP for fsdax and device dax" (v4.19)
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017
    """

    id = "DAX305"
    name = "mixedmap-on-dax"
    severity = Severity.WARNING
    confidence = "medium"
    summary = "VM_MIXEDMAP set on an fs-dax or device-dax mapping (unneeded since e1fb4a086495)"
    tokens = (b"VM_MIXEDMAP",)
    version_thresholds = (FIRST_VERSION,)
    fix_safety = "unsafe"
    fix_note = (
        "The fix drops `VM_MIXEDMAP` from the flags set on the DAX path (the `| VM_MIXEDMAP` term, or the "
        "statement when it sets nothing else). It is right only where every pfn the mapping inserts is "
        "page-backed (ZONE_DEVICE), which daxlint cannot prove from the file: `vm_normal_page()` then takes "
        "the normal path for these pages. So it is unsafe, applied only with --unsafe-fixes; a flag chosen by "
        "`?:` or set through `vm_flags_mod()` gets no fix."
    )

    def context_files(self, path):
        return driver_source_files(path)

    def could_match(self, data):
        return may_write_vm_flags(data)

    def check(self, ctx):
        if ctx.version < FIRST_VERSION:
            return
        model = model_of(ctx)
        dax_ops: dict[str, str] | None = None
        for w in model.writes:
            if MIXEDMAP not in w.set_flags or w.function is None or w.kind == "helper":
                continue
            dep = model.dax_dependence(w, MIXEDMAP)
            if dep is not None and dep.polarity < 0:
                continue  # set only for non-DAX files
            evidence = None
            if dep is not None and dep.polarity > 0:
                evidence = f"the flag is chosen by '{dep.text}'" if dep.in_value else f"it is set only when '{dep.text}'"
            else:
                if dax_ops is None:
                    dax_ops = _dax_vm_ops(model)
                evidence = _installs_dax_vm_ops(w, dax_ops)
            if evidence is None:
                continue
            ctx.report(
                w.node,
                f"VM_MIXEDMAP set on a DAX mapping ({evidence}): unneeded since e1fb4a086495 (v4.19) - DAX memory "
                "has struct pages and the mm recognises DAX vmas by vma_is_dax(); the flag only ties vm_flags to "
                "the file's DAX mode",
                fix="drop VM_MIXEDMAP from the flags set on the DAX path",
                autofix=drop_flag_fix(
                    model,
                    w,
                    MIXEDMAP,
                    "Drop VM_MIXEDMAP from the flags: unsafe, right only where the mapping's pfns all have struct pages",
                ),
                construct=w.change_key,
            )


def _dax_vm_ops(model) -> dict[str, str]:
    """vm_operations_struct variables whose fault handlers reach a DAX fault
    call: {variable: 'handler() calls dax_iomap_fault()'}."""
    graph = model.graph
    dax_functions: dict[str, str] = {}
    for ident in identifier_nodes(model.root, model.source.data, _DAX_FAULT_NAMES):
        call = ident.parent
        fn = graph.function_at(ident.start_byte)
        if call is not None and call.type == "call_expression" and fn is not None:
            dax_functions.setdefault(function_name(fn), text(ident))
    out: dict[str, str] = {}
    if not dax_functions:
        return out
    for reg in graph.registrations:
        if reg.role != FAULT or reg.node.type != "initializer_pair":
            continue
        variable = initialized_variable(reg.node)
        if variable is None:
            continue
        for name, ctxs in graph.contexts().items():
            if name in dax_functions and any(c.role == FAULT and c.entry == reg.function for c in ctxs):
                out.setdefault(variable, f"{reg.function}() reaches {dax_functions[name]}()")
    return out


def _installs_dax_vm_ops(w, dax_ops: dict[str, str]) -> str | None:
    """Evidence that the function writing the flags gives the same vma DAX
    fault handlers: ``vma->vm_ops = &dax_vm_ops`` not in another branch."""
    if not dax_ops:
        return None
    code = w.function.text or b""
    for m in _VM_OPS_STORE_RE.finditer(code):
        start = w.function.start_byte + m.start(1)
        fld = w.function.descendant_for_byte_range(start, start + len(b"vm_ops"))
        fe = fld.parent if fld is not None else None
        asg = fe.parent if fe is not None else None
        if asg is None or asg.type != "assignment_expression":
            continue
        left = asg.child_by_field_name("left")
        right = asg.child_by_field_name("right")
        if left is None or right is None or left.type != "field_expression":
            continue
        if text(left.child_by_field_name("field")) != "vm_ops":
            continue
        ref = right.child_by_field_name("argument") if right.type == "pointer_expression" else right
        variable = text(ref) if ref is not None else ""
        if variable in dax_ops and not exclusive_branches(asg, w.node):
            return f"{w.function_name}() installs {variable}, whose {dax_ops[variable]}"
    return None
