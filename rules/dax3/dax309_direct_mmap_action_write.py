import re

from daxlint.analysis.callgraph import in_mmap_prepare
from daxlint.analysis.locate import identifier_nodes
from daxlint.analysis.module import model_of
from daxlint.analysis.types import TypeResolver
from daxlint.core.catalog import catalog_for
from daxlint.core.rule import Rule
from daxlint.core.syntax import enclosing_function, function_name, parent_of, text
from daxlint.model import Severity

# A store into something's action member: ``x->action.type =``, ``x->action =``.
_ACTION_STORE = re.compile(rb"desc\w*\s*->\s*action\b[\w.\s\[\]]*=(?!=)")
# What an mmap_action_*() helper sets: the type and the parts the type
# reads. The other members are the caller's to set: the error mmap()
# returns when the action fails (error_override since v7.2, which /dev/mem
# sets; error_hook and success_hook before) and the rmap option.
_HELPER_SET = frozenset({"type", "remap", "simple_ioremap", "map_kernel"})


class DirectMmapActionWrite(Rule):
    """
    ## What it does
    Flags a store into `desc->action` (the whole struct, its `type`, or the
    members of its `remap`, `simple_ioremap` and `map_kernel` parts) in
    `.mmap_prepare` code, where an `mmap_action_*()` helper exists:
    `mmap_action_remap()`, `mmap_action_remap_full()`,
    `mmap_action_ioremap()`, `mmap_action_ioremap_full()`,
    `mmap_action_simple_ioremap()`, `mmap_action_map_kernel_pages()`,
    `mmap_action_map_kernel_pages_full()` (the remap forms since v6.19, the
    others since v7.1). The members the helpers leave to the caller are not
    findings: `desc->action.error_override` (the error mmap() returns if the
    action fails, which /dev/mem sets; v7.2), `error_hook` and
    `success_hook` (v6.19 to v7.1, which /dev/mem and /dev/zero set).

    ## Why is this bad
    "The `action` field should never normally be manipulated directly,
    rather you ought to use one of these helpers"
    (Documentation/filesystems/mmap_prepare.rst). Each helper sets the type
    together with every field that type reads (the page protection taken
    from `desc->page_prot`, the page count of the whole descriptor); a
    field left unset or a type that does not match them maps the wrong
    range or protection once the vma exists, after the point where the
    driver could still fail cleanly.

    ## Example
    ```c
    desc->action.type = MMAP_REMAP_PFN;
    desc->action.remap.start = desc->start;
    desc->action.remap.start_pfn = pfn;
    desc->action.remap.size = vma_desc_size(desc);
    ```

    ## Use instead
    ```c
    mmap_action_remap_full(desc, pfn);
    ```

    ## References
    - Documentation/filesystems/mmap_prepare.rst (7.3), "Actions"
    - include/linux/mm.h (7.3): the `mmap_action_*()` helpers
    """

    id = "DAX309"
    name = "direct-mmap-action-write"
    severity = Severity.WARNING
    summary = "desc->action written directly instead of through an mmap_action_*() helper"
    fix_note = "Which helper replaces a set of stores (and with which arguments) is the driver author's call: no automatic fix."
    tokens = (b"action",)

    def could_apply(self, kernel):
        return catalog_for(kernel.whole_range.last).struct_field("vm_area_desc", "action") is not None

    def could_match(self, data):
        return b"desc" in data and _ACTION_STORE.search(data) is not None

    def check(self, ctx):
        if ctx.catalog.struct_field("vm_area_desc", "action") is None:
            return
        model = model_of(ctx)
        resolver = ctx.source.shared(TypeResolver, ctx.catalog)
        for field in identifier_nodes(ctx.source.root, ctx.source.data, (b"action",)):
            fe = field.parent
            if field.type != "field_identifier" or fe is None or fe.type != "field_expression":
                continue
            base = fe.child_by_field_name("argument")
            if base is None or resolver.struct_of(base) != "vm_area_desc":
                continue
            # Climb the member chain to the store, if any: desc->action.remap.start = x
            node, member, parent = fe, None, parent_of(fe)
            while parent is not None and parent.type == "field_expression" and parent.child_by_field_name("argument") == node:
                member = member or text(parent.child_by_field_name("field"))
                node, parent = parent, parent_of(parent)
            if parent is None or parent.type != "assignment_expression" or parent.child_by_field_name("left") != node:
                continue
            fn = enclosing_function(parent)
            if (member is not None and member not in _HELPER_SET) or fn is None or not in_mmap_prepare(model.graph, function_name(fn)):
                continue  # the mm core's own setup of actions (mm/util.c) is the implementation
            ctx.report(
                parent,
                f"direct store to {text(node)}: the mmap_action_*() helpers (mmap_action_remap(), mmap_action_ioremap(), "
                "mmap_action_simple_ioremap(), mmap_action_map_kernel_pages(), ...) set the action's type together with "
                "every field it reads; use the one that does what this sets up",
                fix="an mmap_action_*() call in place of the stores",
            )
