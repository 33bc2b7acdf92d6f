from daxlint.analysis.callgraph import FAULT, POST_MMAP, ROLE_WHY, VMA_CLOSE, VMA_OPEN
from daxlint.analysis.dax import driver_source_files
from daxlint.analysis.module import calls_module_helpers_after_mmap, mmap_presets, model_of, module_may_change_flags
from daxlint.analysis.relock import called, called_where, move_before_release, read_lock_before, release_before
from daxlint.analysis.vmflags import INIT_WRAPPERS, may_call_flag_helper_after_mmap, may_write_vm_flags
from daxlint.core.catalog import catalog_for, catalog_versions
from daxlint.core.includes import module_header_files
from daxlint.core.rule import Rule
from daxlint.model import Severity
from daxlint.version import KernelVersion

# The vma's own ->open/->close run with the lock held for write (split, fork,
# munmap before any downgrade): wrong place, but no data race.
_WARNING_ROLES = frozenset({VMA_OPEN, VMA_CLOSE})


def _dax_reason(ctx, model, w) -> str:
    """DAX304's reason for the same change, when DAX304 runs too: one
    finding that names both (DAX304 then stays quiet on it)."""
    if "DAX304" not in ctx.enabled:
        return ""
    dep = model.dax_dependence(w)
    if dep is None:
        return ""
    return (
        f" It also depends on the DAX mode ('{dep.text}', DAX304): the DAX mode must be decided once, at mmap time, "
        "and a mapping's flags must not follow a later mode change"
    )


def _how_helpers_change(kernel, helper: str) -> str:
    """How the kernels checked make a helper's flag change, as their
    catalogs say it locks (vma-lock): what goes wrong when it runs unlocked.
    One finding stands for the releases of a range it applies to, and the
    newest of them words it: the releases from the range's first up to this
    one that do it differently are said for each part ("before v6.3 ...;
    from v6.3 ...")."""
    first, mine = kernel.whole_range.first, kernel.effective_version
    starts = [first] + [v for v in catalog_versions() if first < v <= mine]
    parts: list[tuple[KernelVersion, str]] = []
    for v in starts:
        words = _how_one_release(catalog_for(v), helper)
        if not parts or parts[-1][1] != words:
            parts.append((v, words))
    if len(parts) == 1:
        return parts[0][1]
    out = [f"before v{parts[1][0]} {parts[0][1]}"]
    out += [f"from v{v} {words}" for v, words in parts[1:]]
    return "; ".join(out)


def _how_one_release(catalog, helper: str) -> str:
    lock = catalog.vma_locks.get(helper)
    if lock == "takes":
        return "it does so through vm_flags_set(), whose vma_start_write() asserts the mmap write lock"
    if catalog.has_function("vm_flags_set"):
        # 7.2+: vma_set_flags_mask(), which takes no lock and asserts none.
        return (
            "it does so with vma_set_flags_mask(), which takes no lock and asserts none: nothing catches it at run time, "
            "and the store races with page faults under the per-VMA lock and with get_user_pages()"
        )
    return "a store under the read lock that races with concurrent faults and get_user_pages()"


def _read_locked(model, w) -> str:
    """Where the read lock the change runs under was taken, in words."""
    taker = read_lock_before(model, w)
    return f"after {called_where(taker)}" if taker is not None else "under the mmap read lock"


# Where a flag-setting helper (remap_pfn_range() and kin) is reported: code
# that holds the mmap lock only for read - fault handlers and post-mmap hooks
# (read-locked code is reported wherever it is).
HELPER_ROLES = frozenset({FAULT, POST_MMAP})


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
    handler is in the fault path. A function that is not static takes the
    roles another file of its driver registers it in (`.fault = gru_fault`
    in grufile.c for grumain.c's `gru_fault()`; the driver is the files the
    directory's Makefile builds with it, see DAX201).

    A change is a direct write, a `vm_flags_*()` call, `&vma->vm_flags`
    handed to a function that writes through it (`ksm_madvise()`), or - in
    fault handlers, post-mmap hooks and read-locked code - a call of a
    helper that sets flags itself, as the kernel API catalog of the version
    says: `remap_pfn_range()`, `io_remap_pfn_range()`, `vm_iomap_memory()`
    and `remap_vmalloc_range*()` always (VM_IO | VM_PFNMAP | ..., on v6.3+
    through `vm_flags_set()`, which asserts the write lock),
    `vm_insert_page(s)()` and `vm_map_pages*()` unless the `->mmap` that
    installs the handler set `VM_MIXEDMAP` first (a warning when that
    `->mmap` is not in the file). When the change also depends on the DAX
    mode, the finding says so and DAX304 does not repeat it. Any version: before v6.3 these writes
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
    change (and re-check that the vma is still the one you mean). A fault
    handler maps with `vmf_insert_pfn()` / `vmf_insert_page()` (and
    `huge_fault` for large pages), which change no flags, instead of
    `remap_pfn_range()` - the fix vfio-pci took.

    ## References
    - Ross Zwisler, proposed `file_operations->post_mmap()` (25 Sep 2017, never merged)
    - Dan Williams, "dax: require 'struct page' for filesystem dax", 1 Oct 2017
    - bc292ab00f6c "mm: introduce vma->vm_flags wrapper functions" (v6.3)
    - Documentation/filesystems/locking.rst, vm_operations_struct: `fault`, `page_mkwrite`, `access` hold mmap_lock for read, `open` for write, `close` read or write
    - Yan Zhao, "vfio/pci: take mmap write lock for io_remap_pfn_range" (8 May 2023): remap_pfn_range() from a fault handler trips vm_flags_set()'s lock assertion
    """

    id = "DAX302"
    name = "vm-flags-write-outside-mmap"
    severity = Severity.ERROR
    summary = "vm_flags changed outside ->mmap without the mmap write lock (fault, ioctl, open, post-mmap hook)"
    fix_safety = "safe"
    fix_note = (
        "A change made right after the code dropped the write lock (`mmap_write_unlock()`, or a wrapper of it) moves "
        "back before the unlock, when it is a statement of its own and nothing in between sets what it reads or names "
        "its vma. Other findings have no automatic fix: moving the flags into `->mmap`, or taking the mmap write lock, "
        "changes the driver's locking and design."
    )
    # vm_flags for the writes; the helpers' names (substrings cover
    # io_remap_pfn_range, remap_pfn_range_notrack, vm_insert_pages, ...).
    tokens = (b"vm_flags", b"remap_pfn_range", b"vm_iomap_memory", b"remap_vmalloc_range", b"vm_insert_page", b"vm_map_pages")
    module_tokens = (b"vma",)

    def context_files(self, path):
        return driver_source_files(path) + module_header_files(path)

    def could_match(self, data):
        return may_write_vm_flags(data) or may_call_flag_helper_after_mmap(data)

    def could_need_module(self, data):
        return calls_module_helpers_after_mmap(data)

    def could_match_in(self, data, kernel, abspath):
        return module_may_change_flags(kernel, abspath, data)

    def check(self, ctx):
        model = model_of(ctx)
        for w in model.writes:
            if w.op in INIT_WRAPPERS or w.function is None or w.on_desc or model.is_private_vma(w):
                continue
            c = model.context(w)
            if c.locked:
                continue
            if w.kind == "helper" and not w.setter.direct:
                self._helper(ctx, model, w, c)
                continue
            fn = w.function_name
            what = w.what
            fix = "decide the flags once in ->mmap(), or take mmap_write_lock() around the change"
            if c.released:
                self._released(ctx, model, w)
                continue
            if c.read_locked:
                dax = _dax_reason(ctx, model, w)
                ctx.report(
                    w.node,
                    f"{what} in {fn}() {_read_locked(model, w)}: vm_flags may only change with the mmap lock held for write{dax}",
                    fix="take mmap_write_lock() instead, or move the change into ->mmap()",
                    construct=w.change_key,
                )
                continue
            after = c.after_mmap
            if not after:
                continue
            dax = _dax_reason(ctx, model, w)
            # One site, one voice: the role that decides the severity is the
            # one the message names (a helper reached from ->open and from
            # .fault is an error because of the fault). A role known by the
            # signature alone (a patch's hunks) is likely, not certain.
            first = next((x for x in after if x.role not in _WARNING_ROLES and not x.by_signature), after[0])
            severity = Severity.WARNING if all(x.role in _WARNING_ROLES or x.by_signature for x in after) else Severity.ERROR
            also = ""
            roles = sorted({x.role for x in after} - {first.role})
            if roles:
                also = f" (also reached as {', '.join(roles)})"
            mmap_too = " It is called from ->mmap as well, but not only from there." if c.in_mmap else ""
            ctx.report(
                w.node,
                f"{what} in {fn}(), {ROLE_WHY[first.role]}: {first.describe()}{also}.{mmap_too}{dax}",
                severity=severity,
                fix=fix if not dax else "decide the DAX-dependent flags once, in ->mmap()",
                construct=w.change_key,
            )

    @staticmethod
    def _released(ctx, model, w) -> None:
        """A change after the function dropped the write lock on every path
        to it: no lock is held, whatever role the function plays."""
        release = release_before(model, w)
        name = called(release) if release is not None else "the unlock"
        where = called_where(release) if release is not None else name
        autofix, why = move_before_release(model, w)
        dax = _dax_reason(ctx, model, w)
        ctx.report(
            w.node,
            f"{w.what} in {w.function_name}() after {where} dropped the mmap write lock: nothing holds it here, so the change "
            f"races with page faults and other mmap users, and on v6.3+ the vm_flags_*() wrappers' lock assertion fires{dax}",
            fix=f"make the change before {name}()" + ("" if autofix is not None else f" (not done automatically: {why})"),
            autofix=autofix,
            construct=w.change_key,
        )

    @staticmethod
    def _helper(ctx, model, w, c) -> None:
        """A helper that sets flags itself (remap_pfn_range() and kin), called
        where only the read lock is held: a fault handler or read-locked code."""
        setter = w.setter
        fn = w.function_name
        how = _how_helpers_change(ctx.kernel, setter.via or w.op)
        fix = (
            "set up the mapping in ->mmap(), or insert single pfns/pages from the fault handler with "
            "vmf_insert_pfn()/vmf_insert_page(), which change no flags"
        )
        if c.read_locked:
            condition, severity, confidence = "", Severity.ERROR, None
            if not setter.always:
                # vm_insert_page() and kin: a change only when the vma lacks
                # the flag; the vmas this code sees are the module's own.
                flags = frozenset(setter.unless_set)
                preset = mmap_presets(ctx.kernel, ctx.abspath, None, flags)
                if preset:
                    return
                severity, confidence = Severity.WARNING, "medium"
                condition = (
                    f"; it changes the flags unless every ->mmap of the module sets {' | '.join(setter.unless_set)} (not all in view)"
                )
            ctx.report(
                w.node,
                f"{w.what} in {fn}() {_read_locked(model, w)}{condition}: {how}",
                fix=fix,
                severity=severity,
                confidence=confidence,
                construct=w.change_key,
            )
            return
        if c.released and setter.always:
            VmFlagsWriteOutsideMmap._released(ctx, model, w)
            return
        # ->access runs under the read lock too, but takes no struct vm_fault
        # and maps nothing: helpers are looked for in the other fault handlers.
        faults = [x for x in c.contexts if x.role in HELPER_ROLES and not (x.registration and x.registration.member == "access")]
        if not faults:
            return
        first = faults[0]
        severity, confidence, condition = Severity.ERROR, None, ""
        if not setter.always:
            # vm_insert_page() and kin set VM_MIXEDMAP only when ->mmap did not.
            preset = mmap_presets(ctx.kernel, ctx.abspath, first.registration, frozenset(setter.unless_set))
            flags = " | ".join(setter.unless_set)
            if preset:
                return
            if preset is None:
                severity, confidence = Severity.WARNING, "medium"
                condition = f"; it changes the flags unless the ->mmap that installs the handler set {flags} first (not in view)"
            else:
                condition = f"; the ->mmap that installs the handler does not set {flags} first"
        ctx.report(
            w.node,
            f"{w.what} in {fn}(), {ROLE_WHY[first.role]}: {first.describe()}{condition}; {how}",
            severity=severity,
            fix=fix,
            confidence=confidence,
            construct=w.change_key,
        )
