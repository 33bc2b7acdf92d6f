import re

from daxlint.analysis.callgraph import ROLE_WHY
from daxlint.analysis.dax import driver_source_files
from daxlint.analysis.module import model_of
from daxlint.analysis.vmflags import DAX_PREDICATE_BYTES_RE, INIT_WRAPPERS, may_write_vm_flags
from daxlint.core.rule import Rule
from daxlint.model import Severity

# Exported ->mmap helpers live in one file and are registered in another
# (fuse_dax_mmap, generic_file_mmap, drm_gem_mmap_obj): a function that no
# role in its file reaches but is named like an mmap implementation is
# taken to be one.
_MMAP_NAME = re.compile(r"mmap", re.I)


class DaxModeDependentVmFlags(Rule):
    """
    ## What it does
    Flags a change of `vma->vm_flags` (direct or through a `vm_flags_*()`
    wrapper) that depends on the DAX mode - it sits under a condition on
    `IS_DAX()`, `S_DAX`, `vma_is_dax()`, a per-file DAX flag
    (`FS_XFLAG_DAX`, `*_DAX_FL`), a local computed from one of them, a
    small helper of the file that only returns such a test, or
    behind an early `if (!IS_DAX(inode)) return ...;` - when it happens
    anywhere but in `->mmap`:

    - in a fault handler, ioctl, `->open`, release, read/write or
      `->post_mmap` hook of the same file (see DAX302 for how roles are
      found through the file's call graph);
    - in a function that no `->mmap` of the file reaches and whose name
      does not say it implements one, when the DAX test alone decides
      whether the write runs (medium confidence: such a function, e.g. one
      that walks `mapping->i_mmap` when an inode's DAX flag is changed, is
      the post-mmap fix-up the DAX policy forbids).

    When DAX302 runs too and reports the same change (after `->mmap`
    without the write lock), the two are one finding: DAX302's, whose
    message names the DAX dependence; this rule then stays quiet on it
    (suppress it with `daxlint: ignore[DAX302]`).

    Not findings:
    - deciding once inside `->mmap` or a helper it calls - ext4 and xfs set
      `VM_HUGEPAGE` under `IS_DAX()` in their `->mmap`, which is exactly
      what upstream asked for;
    - outside any role of the file, a guard that lists the DAX test among
      unrelated refusals: `if (newflags == oldflags || ... ||
      vma_is_dax(vma) || vma_is_secretmem(vma)) goto out;` in 6.1's
      mm/mlock.c `mlock_fixup()` keeps mlock away from several kinds of
      vma; the flags it then writes do not encode the DAX mode.

    ## Why is this bad
    A file's DAX mode is decided when its inode is loaded; since per-file
    DAX (`dax=inode`, `FS_XFLAG_DAX`, about v5.8) a change takes effect only
    once the inode is evicted, so no mapping outlives a mode change - as
    long as the mapping's flags were decided in `->mmap`. Flags that are
    recomputed from `IS_DAX()` later (in a fault, an ioctl, a post-mmap
    hook) need the very `->post_mmap` machinery that was rejected in 2017,
    and they race with faults on the vma. Hellwig: the VM should decide
    IS_DAX exactly once.

    ## Example
    ```c
    static long myfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
    {
            struct vm_area_struct *vma = find_vma(current->mm, arg);

            if (vma && IS_DAX(file_inode(file)))
                    vm_flags_set(vma, VM_HUGEPAGE);
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int myfs_mmap(struct file *file, struct vm_area_struct *vma)
    {
            if (IS_DAX(file_inode(file)))
                    vm_flags_set(vma, VM_HUGEPAGE);
            return 0;
    }
    ```

    ## References
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017 (Hellwig: decide IS_DAX once)
    - Ross Zwisler, proposed `file_operations->post_mmap()` (25 Sep 2017, never merged)
    - e1fb4a086495 "dax: remove VM_MIXEDMAP for fsdax and device dax" (v4.19)
    - Documentation/filesystems/dax.rst, "Enabling DAX on xfs and ext4" (per-file DAX, inode eviction)
    """

    id = "DAX304"
    name = "dax-mode-dependent-vm-flags"
    severity = Severity.ERROR
    summary = "vm_flags changed after ->mmap based on IS_DAX() / S_DAX / vma_is_dax()"
    fix_note = "Deciding the flags once in `->mmap`, whatever the DAX mode, is a design change."
    # Every change of vm_flags spells "vm_flags"; the DAX predicates are
    # checked on the bytes before anything is analysed. (vm_flags is the token
    # DAX301/302 use, so running the family together parses no extra file.)
    tokens = (b"vm_flags",)

    def context_files(self, path):
        return driver_source_files(path)

    def could_match(self, data):
        # Every DAX test spells DAX or dax: those literals first, the
        # pattern (tried at every byte) only where one occurs.
        return may_write_vm_flags(data) and (b"DAX" in data or b"dax" in data) and DAX_PREDICATE_BYTES_RE.search(data) is not None

    def check(self, ctx):
        model = model_of(ctx)
        for w in model.writes:
            if w.op in INIT_WRAPPERS or w.function is None or w.kind == "helper" or w.on_desc or model.is_private_vma(w):
                continue
            dep = model.dax_dependence(w)
            if dep is None:
                continue
            if "DAX302" in ctx.enabled and model.reported_after_mmap(w):
                continue  # DAX302's finding on this change names the DAX dependence too
            c = model.context(w)
            after = c.after_mmap
            cond = dep.text
            what = w.what
            fix = "decide the DAX-dependent flags once, in ->mmap()"
            if after:
                first = after[0]
                ctx.report(
                    w.node,
                    f"{what} depends on the DAX mode ('{cond}') in {w.function_name}(), {ROLE_WHY[first.role]}: "
                    f"{first.describe()}. The DAX mode must be decided once, at mmap time",
                    fix=fix,
                    construct=w.change_key,
                )
                continue
            if c.in_mmap or _MMAP_NAME.search(w.function_name or ""):
                continue  # decided once, inside ->mmap: upstream practice
            if dep.polarity == 0:
                # `if (a || vma_is_dax(vma) || b) goto out;`: the DAX test is one
                # of several refusals (mm/mlock.c in 6.1), not a DAX decision.
                continue
            ctx.report(
                w.node,
                f"{what} depends on the DAX mode ('{cond}') in {w.function_name}(), which no ->mmap in this file "
                "reaches: flags changed after mmap from IS_DAX() need a post-mmap fix-up",
                fix=fix,
                confidence="medium",
                construct=w.change_key,
            )
