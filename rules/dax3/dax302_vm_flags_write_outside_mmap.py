from daxlint.analysis.callgraph import ROLE_WHY, VMA_CLOSE, VMA_OPEN
from daxlint.analysis.vmflags import INIT_WRAPPERS, may_write_vm_flags, model_for
from daxlint.core.rule import Rule
from daxlint.model import Severity

# The vma's own ->open/->close run with the lock held for write (split, fork,
# munmap before any downgrade): wrong place, but no data race.
_WARNING_ROLES = frozenset({VMA_OPEN, VMA_CLOSE})


class VmFlagsWriteOutsideMmap(Rule):
    """
    ## What it does
    Flags a change of `vma->vm_flags` - a direct write or a
    `vm_flags_set/clear/mod/reset()` call - in code that runs after
    `->mmap()` returned and without the mmap lock held for write:

    - page-fault handlers (`vm_operations_struct.fault`, `huge_fault`,
      `page_mkwrite`, `pfn_mkwrite`, `map_pages`, `access`), which run with
      the lock held only for read or under the per-VMA lock;
    - ioctl handlers (`unlocked_ioctl`, `compat_ioctl`, any `*ioctl` member),
      a file's `->open`, `->release`, `->flush`, `read`/`write`/`poll`;
    - a `->post_mmap` hook (see DAX303) and any other registered hook that
      runs after `->mmap`;
    - code after `mmap_read_lock()` in the same function, or a helper called
      from there.

    Helpers count as the role of whatever calls them *in the same file*: a
    helper called from `->mmap` is inside `->mmap`, one called from a fault
    handler is in the fault path. Any version: before v6.3 these writes
    compile but race; since v6.3 the wrappers' `mmap_assert_write_locked()`
    catches them at run time, this rule catches them at review time.

    Not findings:
    - writes in `->mmap` implementations and the helpers they call (any
      member named `mmap` or `*_mmap`: `file_operations`, `proc_ops`,
      `fb_ops.fb_mmap`, `dma_buf_ops`, ...);
    - writes after the function took `mmap_write_lock*()` /
      `down_write(&mm->mmap_lock)`, or in a function that asserts it
      (`mmap_assert_write_locked()`, `vma_start_write()`,
      `lockdep_assert_held_write(&mm->mmap_lock)`), and helpers called under
      it: an ioctl that takes the lock and then changes a vma is fine;
    - `vm_flags_init()` and writes to a vma nobody can see yet: a struct
      object rather than a pointer (hugetlbfs' `pseudo_vma` on the stack, an
      arch's static `gate_vma` - real vmas always come from
      `vm_area_alloc()`), or one this function just got from
      `vm_area_alloc()`;
    - **functions no role in the file reaches.** Their callers live in other
      files, so the rule cannot see whether they hold the lock. This is
      where mm/ core code falls (mmap.c, mprotect.c, mlock.c, madvise.c,
      mremap.c, ...: the syscall that took `mmap_write_lock()` is in another
      function or file) together with exported helpers such as
      `remap_pfn_range()` or `vm_insert_page()` that drivers call from their
      `->mmap`. Flagging every such write would bury the few real ones -
      Debian 6.1 has about 280 direct writes, nearly all of them in `->mmap`
      or in mm/ under the write lock - so the rule reports only what the
      file itself proves to be outside the mmap path.

    Severity: error, except for a vma's own `->open`/`->close` (warning),
    which run with the lock held for write when a mapping is split or
    copied at fork but still change flags that `->mmap` already decided.

    ## Why is this bad
    Only `->mmap()` (and the mm core, under `mmap_write_lock()`) may decide
    a vma's flags: a fault handler holds the lock for read, so a concurrent
    fault, `get_user_pages()` or `/proc/pid/maps` reader sees the flags
    change under it; an ioctl or `->open` holds no lock at all. This is the
    problem the 2017 `->post_mmap` proposal ran into when a file's DAX mode
    could flip: Hellwig's answer was that the VM decides once, at mmap
    time, and nothing rewrites `vm_flags` afterwards.

    ## Example
    ```c
    static vm_fault_t mydrv_fault(struct vm_fault *vmf)
    {
            vmf->vma->vm_flags |= VM_IO;
            return mydrv_insert(vmf);
    }
    static const struct vm_operations_struct mydrv_vm_ops = {
            .fault = mydrv_fault,
    };
    ```

    ## Use instead
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vm_flags_set(vma, VM_IO);
            vma->vm_ops = &mydrv_vm_ops;
            return 0;
    }
    ```
    If flags really must change later, take `mmap_write_lock()` around the
    change (and re-check that the vma is still the one you mean).

    ## References
    - Ross Zwisler, proposed `file_operations->post_mmap()` (25 Sep 2017, never merged)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017
    - bc292ab00f6c "mm: introduce vma->vm_flags wrapper functions" (v6.3)
    - Documentation/filesystems/locking.rst, vm_operations_struct: `fault`, `page_mkwrite`, `access` hold mmap_lock for read, `open` for write, `close` read or write
    """

    id = "DAX302"
    name = "vm-flags-write-outside-mmap"
    severity = Severity.ERROR
    summary = "vm_flags changed outside ->mmap without the mmap write lock (fault, ioctl, open, post-mmap hook)"
    fix_note = "Moving the flags into `->mmap`, or taking the mmap write lock, changes the driver's locking and design."
    tokens = (b"vm_flags",)

    def could_match(self, data):
        return may_write_vm_flags(data)

    def check(self, ctx):
        model = model_for(ctx.source, ctx.catalog)
        for w in model.writes:
            if w.op in INIT_WRAPPERS or w.function is None or model.is_private_vma(w):
                continue
            c = model.context(w)
            if c.locked:
                continue
            fn = w.function_name
            what = w.what
            fix = "decide the flags once in ->mmap(), or take mmap_write_lock() around the change"
            if c.read_locked:
                ctx.report(
                    w.node,
                    f"{what} in {fn}() after mmap_read_lock(): vm_flags may only change with the mmap lock held for write",
                    fix="take mmap_write_lock() instead, or move the change into ->mmap()",
                )
                continue
            after = c.after_mmap
            if not after:
                continue
            first = after[0]
            severity = Severity.WARNING if all(x.role in _WARNING_ROLES for x in after) else Severity.ERROR
            also = ""
            roles = sorted({x.role for x in after} - {first.role})
            if roles:
                also = f" (also reached as {', '.join(roles)})"
            mmap_too = " It is called from ->mmap as well, but not only from there." if c.in_mmap else ""
            ctx.report(
                w.node,
                f"{what} in {fn}(), {ROLE_WHY[first.role]}: {first.describe()}{also}.{mmap_too}",
                severity=severity,
                fix=fix,
            )
