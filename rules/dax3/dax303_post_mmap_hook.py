import re

from daxlint.analysis.callgraph import POST_MMAP
from daxlint.analysis.dax import driver_source_files
from daxlint.analysis.flow import exclusive_branches
from daxlint.analysis.locate import identifier_nodes
from daxlint.analysis.module import model_of
from daxlint.analysis.vmflags import INIT_WRAPPERS, may_write_vm_flags
from daxlint.core.rule import Rule
from daxlint.core.syntax import declarator_name, parent_of, text
from daxlint.model import Severity


class PostMmapHook(Rule):
    """
    ## What it does
    Flags hooks that run after `->mmap()` to rewrite a vma's flags:

    - a `post_mmap` member in an ops-structure initializer
      (`.post_mmap = foo_post_mmap` in a `file_operations`, or an assignment
      `fops->post_mmap = ...`), and a `post_mmap` function pointer declared
      in a struct - the hook proposed for `file_operations` in 2017;
    - in a stacking `->mmap` registered in the same file (overlayfs, coda,
      ecryptfs style) that hands the vma to the lower file with
      `call_mmap()` / `vfs_mmap()` / `file->f_op->mmap()`, a change of
      `vm_flags` *after* that call (not in the other arm of an `if`): it
      overrides what the lower file's `->mmap` decided. The mm core's own
      `mmap_region()`, which calls `->mmap` and then finishes the vma, is
      no registered `->mmap` and stays quiet.

    The writes inside a `post_mmap` hook are reported by DAX302 as well.

    ## Why is this bad
    The "final straw" in the 2017 DAX discussion was a proposed
    `file_operations->post_mmap()`, needed to fix up `vma->vm_flags` after
    `->mmap()` when a file's DAX mode could change. Hellwig's answer, which
    upstream followed: the VM decides IS_DAX exactly once, at mmap time, and
    nothing rewrites the flags afterwards (e1fb4a086495 then removed
    VM_MIXEDMAP from DAX so there was nothing left to rewrite). A later
    hook sees a vma that faults may already be using, and the flags it
    writes no longer match what `->mmap` set up (`vm_ops`, pgprot, pfn
    tracking).

    ## Example
    ```c
    static const struct file_operations myfs_file_ops = {
            .mmap      = myfs_mmap,
            .post_mmap = myfs_post_mmap,
    };
    ```

    ## Use instead
    ```c
    static int myfs_mmap(struct file *file, struct vm_area_struct *vma)
    {
            if (IS_DAX(file_inode(file)))
                    vm_flags_set(vma, VM_HUGEPAGE);
            vma->vm_ops = &myfs_vm_ops;
            return 0;
    }
    static const struct file_operations myfs_file_ops = {
            .mmap = myfs_mmap,
    };
    ```

    ## References
    - Ross Zwisler, proposed `file_operations->post_mmap()` (25 Sep 2017, never merged)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017 (the seed: "the final straw")
    - e1fb4a086495 "dax: remove VM_MIXEDMAP for fsdax and device dax" (v4.19)
    """

    id = "DAX303"
    name = "post-mmap-hook"
    severity = Severity.ERROR
    summary = "A hook that rewrites vm_flags after ->mmap() (post_mmap, or a stacked ->mmap overriding the lower file)"
    fix_note = "The flags belong in the lower file's `->mmap`; a hook cannot be removed mechanically."
    tokens = (b"post_mmap", b"call_mmap", b"vfs_mmap", b"->mmap(")

    def context_files(self, path):
        return driver_source_files(path)

    def could_match(self, data):
        # A post_mmap member, or a vm_flags write after a nested ->mmap().
        return b"post_mmap" in data or may_write_vm_flags(data)

    def check(self, ctx):
        model = model_of(ctx)
        if b"post_mmap" in ctx.source.data:
            self._post_mmap_members(ctx, model)
        self._writes_after_nested_mmap(ctx, model)

    def _post_mmap_members(self, ctx, model):
        writers = {w.function_name: w for w in model.writes if w.function is not None}
        for reg in model.graph.registrations:
            if reg.role != POST_MMAP:
                continue
            where = f"{reg.struct}.post_mmap" if reg.struct else ".post_mmap"
            reached = [
                name for name in writers if any(c.role == POST_MMAP and c.entry == reg.function for c in model.graph.contexts_of(name))
            ]
            writes = ""
            if reached:
                w = writers[reached[0]]
                writes = f"; it changes vm_flags ({reached[0]}() line {w.node.start_point[0] + 1})"
            ctx.report(
                reg.node,
                f"{where} = {reg.function}: a hook run after ->mmap() to fix up vm_flags is the design rejected "
                f"in 2017 - the VM decides the DAX mode once, in ->mmap(){writes}",
                fix="drop the hook and decide the flags in ->mmap()",
            )
        for ident in identifier_nodes(model.root, ctx.source.data, (b"post_mmap",)):
            fd = parent_of(ident)
            while fd is not None and fd.type in ("pointer_declarator", "parenthesized_declarator", "function_declarator"):
                fd = parent_of(fd)
            if fd is None or fd.type != "field_declaration":
                continue
            for d in fd.children_by_field_name("declarator"):
                if declarator_name(d) == "post_mmap" and "(" in text(d):
                    ctx.report(
                        fd,
                        "post_mmap function pointer: ops that run after ->mmap() to rewrite vm_flags are the design "
                        "rejected in 2017 (the VM decides the DAX mode once, in ->mmap())",
                        fix="remove the member; decide the flags in ->mmap()",
                    )

    def _writes_after_nested_mmap(self, ctx, model):
        for w in model.writes:
            if w.function is None or w.op in INIT_WRAPPERS or w.kind == "helper" or w.on_desc:
                continue
            c = model.context(w)
            if not c.in_mmap:
                continue
            nested = _first_nested_mmap(w.function)
            if nested is None or nested.start_byte > w.node.start_byte or exclusive_branches(nested, w.node):
                continue
            ctx.report(
                w.node,
                f"{w.function_name}() changes vm_flags after handing the vma to the lower file's ->mmap() "
                f"(line {nested.start_point[0] + 1}): a post-mmap fix-up that overrides the decision the "
                "lower file made",
                fix="set the flags before the nested ->mmap() call, or leave them to the lower file",
                construct=w.change_key,
            )


_NESTED_MMAP_RE = re.compile(rb"\b(call_mmap|vfs_mmap)\s*\(|->\s*(mmap)\s*\(")


def _first_nested_mmap(fn):
    """The first call in ``fn`` that runs another file's ->mmap() on the vma."""
    code = fn.text or b""
    for m in _NESTED_MMAP_RE.finditer(code):
        group = 1 if m.group(1) else 2
        start = fn.start_byte + m.start(group)
        node = fn.descendant_for_byte_range(start, fn.start_byte + m.end(group))
        call = parent_of(node) if node is not None else None
        if call is not None and call.type == "field_expression":
            call = parent_of(call)
        if call is not None and call.type == "call_expression":
            return call
    return None
