from daxlint.analysis.layout import alone_on_lines, indent_of, line_span
from daxlint.analysis.module import model_of
from daxlint.core.catalog import catalog_for
from daxlint.core.rule import Rule
from daxlint.model import SAFE, Edit, Fix, Severity


class UnlockedVmaFlagsBitmapWrite(Rule):
    """
    ## What it does
    Flags `vma_set_flags()`, `vma_clear_flags()`, `vma_set_flags_mask()`,
    `vma_clear_flags_mask()` and `vma_flags_reset_once()` - the v7.x
    bitmap helpers that, as the kernel API catalog records, take no lock and
    assert none - on a vma other code can already see, where the function
    has not write-locked it with `vma_start_write()` first:

    - under the mmap write lock the function takes itself
      (`mmap_write_lock()`) but without `vma_start_write()`: page faults that
      run under the per-VMA lock, without the mmap lock, read the flags
      meanwhile;
    - with no write lock at all (a fault handler, an ioctl, code after an
      unlock or under the read lock), when DAX302 is not enabled - DAX302
      reports those changes, naming the helper.

    Not findings: the helpers inside `->mmap` and the functions it calls (the
    vma is not in the mm's tree yet - hugetlbfs' `hugetlbfs_file_mmap()`),
    on a vma nobody can see yet (a stack or static object, a fresh
    `vm_area_alloc()`), after `vma_start_write()` or a `vm_flags_set/clear/
    mod()` call (which write-locks the vma until the mmap write lock is
    dropped), in functions that only assert the mmap write lock (their caller
    took it, and may have write-locked the vma), and in functions whose
    callers live in other files (their lock is not in view). A static
    function that only callers of its file run, each with the mmap write
    lock held and no vma write-locked yet (mm/mseal.c's `do_mseal()` calling
    `mseal_apply()`), is judged as if it took the lock itself.

    ## Why is this bad
    `vm_flags_set()` calls `vma_start_write()`, which waits for the page
    faults that hold the vma's per-VMA read lock and keeps new ones out until
    the mmap write lock is dropped. The bitmap helpers do none of that:
    "appropriate locks must be held, this function does not acquire them
    for you" (include/linux/mm.h, 7.3). Without `vma_start_write()` a fault
    under the per-VMA lock sees the flags change under it - the rewrite
    behind the mm's back the 2017 `->post_mmap` discussion rejected, and
    nothing asserts it at run time.

    ## Example
    ```c
    mmap_write_lock(mm);
    vma = vma_lookup(mm, addr);
    vma_set_flags(vma, VMA_DONTCOPY_BIT);
    mmap_write_unlock(mm);
    ```

    ## Use instead
    ```c
    mmap_write_lock(mm);
    vma = vma_lookup(mm, addr);
    vma_start_write(vma);
    vma_set_flags(vma, VMA_DONTCOPY_BIT);
    mmap_write_unlock(mm);
    ```
    (or `vm_flags_set(vma, VM_DONTCOPY)`, which does both).

    ## References
    - include/linux/mm.h (7.3), `vma_set_flags_mask()`: "Note: appropriate locks must be held, this function does not acquire them for you."
    - mm/mseal.c, mm/mlock.c, mm/mprotect.c (7.3): `vma_start_write()` before `vma_set_flags()` / `vma_flags_reset_once()`
    - Documentation/mm/process_addrs.rst: VMA write locks and the per-VMA lock
    """

    id = "DAX307"
    name = "unlocked-vma-flags-bitmap-write"
    severity = Severity.ERROR
    summary = "vma_set_flags() and the other lock-free bitmap helpers on a live vma without vma_start_write() (v7.0+)"
    fix_safety = "safe"
    fix_note = (
        "Under the mmap write lock, `vma_start_write(vma);` goes on its own line before the helper, as mm/ does; "
        "without the write lock there is no fix (DAX302 says where the change runs)."
    )
    tokens = (b"vma_set_flags", b"vma_clear_flags", b"vma_flags_reset_once")

    def could_apply(self, kernel):
        return bool(catalog_for(kernel.whole_range.last).flag_changes)

    def check(self, ctx):
        if not any(lock == "none" for name, lock in ctx.catalog.vma_locks.items() if name in ctx.catalog.flag_changes):
            return
        model = model_of(ctx)
        # The first unlocked change of each vma in a function: one
        # vma_start_write() before it serves the ones after it.
        first: dict[tuple[int, str], object] = {}
        for w in model.writes:
            if w.kind != "bitmap" or w.function is None or ctx.catalog.vma_locks.get(w.op) != "none" or model.is_private_vma(w):
                continue
            locks = model.graph.locks(w.function)
            if locks.vma_locked_before(w.node.start_byte):
                continue
            c = model.context(w)
            unlocked = model.reported_after_mmap(w)
            if unlocked and "DAX302" in ctx.enabled:
                continue  # DAX302 reports the change and where it runs
            # The function took the mmap write lock itself, or runs only
            # under its static callers' lock: the vma it looked up is not
            # write-locked unless it does it. (An assertion says a caller
            # elsewhere holds the lock - and may have locked the vma: not in
            # view.)
            by_callers = not c.locked and model.graph.write_locked_by_callers(w.function_name)
            if (c.locked or by_callers) and not locks.asserts_write and not (c.in_mmap and not c.after_mmap):
                first.setdefault((w.function.start_byte, w.vma_text), w)
                held = "its callers hold the mmap write lock" if by_callers else "the mmap write lock is held"
                ctx.report(
                    w.node,
                    f"{w.op}() in {w.function_name}() changes the flags of a vma other code can see without write-locking it: "
                    f"{held}, but page faults under the per-VMA lock still read the flags, and the helper "
                    f"takes no lock of its own; call vma_start_write({w.vma_text}) first (vm_flags_*() do)",
                    fix=f"vma_start_write({w.vma_text}); before {w.op}()",
                    autofix=_start_write_before(model, w, first.get((w.function.start_byte, w.vma_text), w)),
                )
            elif unlocked:
                ctx.report(
                    w.node,
                    f"{w.op}() in {w.function_name}() changes a vma's flags with no write lock held (see DAX302 for where it runs), "
                    "and the helper takes no lock of its own",
                    fix="make the change in ->mmap/->mmap_prepare, or under mmap_write_lock() after vma_start_write()",
                )


def _start_write_before(model, w, first) -> Fix | None:
    """``vma_start_write(vma);`` on a line of its own before the first
    unlocked change of the vma in the function (``first``), when it is a
    statement of the block that holds ``w`` too."""
    stmt, mine = first.node.parent, w.node.parent
    data = model.source.original
    if stmt is None or mine is None or stmt.type != "expression_statement" or not alone_on_lines(data, stmt):
        return None
    if stmt.parent is None or stmt.parent.type != "compound_statement" or mine.parent != stmt.parent:
        return None
    at = line_span(data, stmt.start_byte, stmt.end_byte)[0]
    newline = "\r\n" if b"\r\n" in data[stmt.end_byte : stmt.end_byte + 2] else "\n"
    code = f"{indent_of(data, stmt.start_byte)}vma_start_write({first.vma_text});{newline}"
    return Fix(f"Write-lock the vma with vma_start_write({first.vma_text}) first", SAFE, (Edit(at, at, code),))
