from daxlint.analysis.bits import bit_names
from daxlint.analysis.module import model_of, uses_header_flag_macros
from daxlint.analysis.pfn import includes_local_headers
from daxlint.analysis.relock import move_before_release
from daxlint.analysis.vmfix import BITS, CONFTEST, GUARD, SHIM, declare_hint, plan_fixes
from daxlint.analysis.vmflags import build_fix, compat_pair, may_write_vm_flags
from daxlint.core.catalog import catalog_for, first_version_where
from daxlint.core.includes import module_header_files
from daxlint.core.rule import Rule
from daxlint.core.syntax import text as text_of
from daxlint.model import SAFE, Edit, Fix, Severity


class DirectVmFlagsWrite(Rule):
    """
    ## What it does
    Flags direct writes to a `struct vm_area_struct`'s flags - `=`, `|=`,
    `&=`, `^=`, `++`, `--`, `WRITE_ONCE()`, a store through a cast pointer
    to the field, or a store to the private `__vm_flags` - on kernels where
    `vm_flags` is const behind the `vm_flags_*()` wrappers (v6.3 and later,
    bc292ab00f6c). The kernel API catalog of the checked version decides
    whether the field is writable, so on v6.2 and older the rule is silent
    (DAX302 still checks *where* those writes happen).

    The written object must be a vma: the rule resolves its type through
    parameter and local declarations (block scoped), `vmf->vma`, aliases such
    as `struct vm_area_struct *area = vmf->vma`, casts, `container_of()`,
    and vma lookups such as `find_vma()`. Writes to the other structs with
    a `vm_flags` member (`vm_region`, `page_referenced_arg`, trace-event
    `__entry`, s390 `ccw`), designated initializers (`.vm_flags = ...`),
    locals named `vm_flags`, and files that `#define vm_flags` to something
    else are never findings. An expression whose type cannot be resolved is
    not reported.

    Each finding carries the wrapper call that replaces it as its fix:
    `|= X` -> `vm_flags_set(vma, X)`, `&= ~X` -> `vm_flags_clear(vma, X)`,
    `= (vma->vm_flags & ~A) | B` -> `vm_flags_mod(vma, B, A)`, `= X` ->
    `vm_flags_reset(vma, X)` (or `vm_flags_init()` for a vma that is not
    visible yet), `WRITE_ONCE()` -> `vm_flags_reset_once()`. A
    function-like macro of the file whose body writes a parameter's flags
    is reported where it is used on a vma. Passing
    `&vma->vm_flags` to a function whose parameter is a non-const pointer
    (`ksm_madvise()`, by the catalog or the file's own prototype) is a
    write too: copy the flags, pass the copy, then `vm_flags_reset()`.

    ## Why is this bad
    Since v6.3 vma flags may only change through `vm_flags_set/clear/mod/
    init/reset`: set/clear/mod write-lock the vma (`vma_start_write()`,
    which asserts the mmap write lock) and keep per-VMA locking correct,
    reset asserts the lock, and init - for a vma nobody can see yet - takes
    none. A direct write bypasses both: it does not compile against a
    mainline kernel, and a backport that forces it through (casting away
    the const or writing `__vm_flags`) races with page faults running
    under the per-VMA lock - exactly the "flags rewritten behind the mm's
    back" that the 2017 DAX discussion rejected with `->post_mmap`.

    ## Example
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vma->vm_flags |= VM_IO | VM_DONTEXPAND;
            vma->vm_flags &= ~VM_MAYWRITE;
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int mydrv_mmap(struct file *file, struct vm_area_struct *vma)
    {
            vm_flags_mod(vma, VM_IO | VM_DONTEXPAND, VM_MAYWRITE);
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
    fix_safety = "safe"
    fix_note = (
        "Each form becomes its wrapper call as upstream converted it in v6.3: `|=` `vm_flags_set()`, `&= ~` "
        "`vm_flags_clear()`, `= (f & ~A) | B` `vm_flags_mod()`, `=` `vm_flags_reset()` (`vm_flags_init()` for a "
        "vma nobody can see yet), `WRITE_ONCE()` `vm_flags_reset_once()`, `&= VM_LOCKED_CLEAR_MASK` "
        "`vm_flags_clear(vma, VM_LOCKED_MASK)`; writes to one vma in consecutive statements fold into one call "
        "where that is the same (a clear and a set into `vm_flags_mod()`, sets into one `vm_flags_set()`, an "
        "assignment and the clear after it into the assigned value). Only the expression changes: indentation, "
        "comments and continuation lines stay. When the checked range reaches kernels before v6.3 the call goes "
        "under the file's own version test (or `#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)`, adding "
        "`<linux/version.h>`) with the old write kept for older kernels, or - `--fix-style shim` - once per "
        "file after the includes come compat definitions of the wrappers; a wrapper the file already defines is "
        "called as it is. Flags a version lacks are replaced by what took their place, or the write is not "
        "fixed. `++`/`--`, writes inside a larger expression, writes spread over `#if` branches or with a "
        "comment in the replaced part get no fix; a chained `a = vma->vm_flags |= X;` is split in two "
        "statements only as an unsafe fix. Note that `vm_flags_reset()` asserts that the vma is write-locked "
        "from v6.4 on: where the vma is not yet locked (outside `->mmap`), add `vma_start_write(vma)` before it, "
        "as upstream did in mm/."
    )
    tokens = (b"vm_flags",)
    # A file that uses its header's flag macro (TOY_SET_IO(vma)) need not
    # spell the field: its module brings it back (could_match_in).
    module_tokens = (b"vma",)

    def could_match(self, data):
        return may_write_vm_flags(data)

    def could_need_module(self, data):
        return includes_local_headers(data)

    def could_match_in(self, data, kernel, abspath):
        return includes_local_headers(data) and uses_header_flag_macros(kernel, abspath, data)

    def could_apply(self, kernel):
        return catalog_for(kernel.whole_range.last).field_is_const("vm_area_struct", "vm_flags")

    def context_files(self, path):
        # A compat.h beside the file may shim the wrappers: the fix calls it.
        return module_header_files(path)

    def check(self, ctx):
        if ctx.catalog.structs.get("vm_area_desc") and not ctx.catalog.struct_field("vm_area_desc", "vm_flags"):
            self._desc_writes(ctx)
        if not ctx.catalog.field_is_const("vm_area_struct", "vm_flags"):
            return  # before v6.3 a write under the mmap write lock is legal (DAX302 covers where)
        # tools/ is userspace: tools/testing/vma builds mock vmas and must set
        # their private __vm_flags itself; the wrappers rule is for kernel code.
        userspace = ctx.tree_relpath.startswith("tools/")
        model = model_of(ctx)
        plan = plan_fixes(model, ctx.kernel, ctx.kernel.fix_style, ctx.abspath)
        for w in model.writes:
            if not w.is_direct or (userspace and w.field == "__vm_flags"):
                continue
            planned = plan.get(w.node.start_byte)
            if planned is not None:
                call, fix, autofix, style = planned.call, planned.text, planned.fix, planned.style
            else:
                call, fix = build_fix(model, w, ctx.kernel)
                autofix, style = None, GUARD if fix != call else ""
            target = f"{w.vma_text}->{w.field}" if not model.vma_pointer_text(w).startswith("&") else f"{w.vma_text}.{w.field}"
            if w.field == "__vm_flags":
                what = f"write '{w.op}' to the private {target}, behind the vm_flags_*() wrappers' back"
            elif w.kind == "pointer":
                what = f"write '{w.op}' to {target} through a pointer that casts away its const"
            elif w.kind == "write_once":
                what = f"WRITE_ONCE() to {target}"
            elif w.kind == "address":
                what = f"&{target} passed to {w.op}(), which writes the flags through it"
            elif w.macro is not None:
                what = f"direct write '{w.op}' to {target} in the body of macro {w.macro}()"
            else:
                what = f"direct write '{w.op}' to {target}"
            if model.context(w).released:
                # The code dropped the lock just before: the wrapper call goes
                # back under it, or there is no fix (DAX302 says where).
                moved, why = move_before_release(model, w, call) if planned is not None and not style else (None, "")
                if moved is None and not why:
                    why = "the checked range needs the call under a version guard" if style else "the write has no plain wrapper form"
                ctx.report(
                    w.node,
                    f"{what}: vm_flags is const since v6.3 (bc292ab00f6c) and only the vm_flags_*() wrappers may change it, "
                    f"but {call} asserts the mmap write lock, which is no longer held here: make the change before the unlock",
                    fix=f"{call}, before the unlock" + ("" if moved is not None else f" (not done automatically: {why})"),
                    autofix=moved,
                )
                continue
            if model.wrappers_would_trip(w):
                # The wrapper asserts the mmap write lock, which this code
                # does not hold (a fault handler, read-locked code: DAX302
                # says where it runs), so calling it is no fix.
                ctx.report(
                    w.node,
                    f"{what}: vm_flags is const since v6.3 (bc292ab00f6c) and only the vm_flags_*() wrappers may change it, "
                    f"but {call} would trip their mmap write lock assertion here: {w.function_name}() does not hold "
                    "the mmap lock for write (see DAX302)",
                    fix=_NO_WRAPPER_HERE,
                )
                continue
            ctx.report(
                w.node,
                f"{what}: vm_flags is const since v6.3 (bc292ab00f6c) and only "
                f"the vm_flags_*() wrappers may change it; use {call}{_what_it_checks(call)}"
                + _range_note(style, ctx.kernel.whole_range)
                + _bitmap_note(ctx, w, style),
                fix=fix,
                autofix=autofix,
                # The old side of a compat switch the build may never compile
                # on v6.3+: info until its macro is declared, never an error.
                severity=Severity.INFO if style == CONFTEST else None,
            )

    @staticmethod
    def _desc_writes(ctx) -> None:
        """``desc->vm_flags`` in ->mmap_prepare on releases whose struct
        vm_area_desc has only the vma_flags bitmap (53f1d9364451, v7.0): it
        no longer builds; the bitmap helpers take bit numbers."""
        model = model_of(ctx)
        assumed = ctx.kernel.version_source == "default"
        for w in model.writes:
            if not w.on_desc or w.node.type == "call_expression":
                continue
            desc = w.vma_text
            pair = compat_pair(model.source.data, w, model.writes, str(_desc_flags_gone()))
            if pair is not None:
                # The old side of a switch between the bitmap helpers and
                # the member: info until its macro is declared, never rewritten.
                ctx.report(
                    w.node,
                    f"write '{w.op}' to {desc}->vm_flags, which struct vm_area_desc does not have since v{_desc_flags_gone()} "
                    "- if this branch is compiled there at all, which daxlint cannot tell: it is the old side of a compat switch "
                    "whose macro nobody declared (see fix)",
                    severity=Severity.INFO,
                    fix=declare_hint(*pair),
                )
                continue
            helper = {"|=": "vma_desc_set_flags", "&=": "vma_desc_clear_flags"}.get(w.op)
            cleared = w.value is not None and w.op == "&=" and text_of(w.value).lstrip("( ").startswith("~")
            flags = (bit_names(ctx.catalog, w.value) if w.value is not None else None) if helper and (w.op == "|=" or cleared) else None
            call = f"{helper}({desc}, {', '.join(flags)})" if flags else None
            use = call or f"vma_desc_set_flags({desc}, VMA_..._BIT, ...) / vma_desc_clear_flags() with bit numbers"
            autofix = None
            if call is not None and not assumed and ctx.kernel.whole_range.first >= ctx.catalog.version:
                autofix = Fix(f"Replace the write with {call}", SAFE, (Edit(w.node.start_byte, w.node.end_byte, call),))
            ctx.report(
                w.node,
                f"write '{w.op}' to {desc}->vm_flags, which struct vm_area_desc does not have since v{_desc_flags_gone()} "
                f"(its flags are the vma_flags bitmap, set by bit number): use {use}"
                + (" - if the patch is for an earlier kernel, say which with --kernel-version" if assumed else ""),
                severity=Severity.INFO if assumed else Severity.ERROR,
                fix=use,
                autofix=autofix,
            )


_NO_WRAPPER_HERE = "decide the flags once in ->mmap(), or take mmap_write_lock() around the change"


def _desc_flags_gone():
    """The first release whose struct vm_area_desc has no vm_flags (53f1d9364451)."""
    return first_version_where(lambda cat: cat.structs.get("vm_area_desc") and cat.struct_field("vm_area_desc", "vm_flags") is None)


def _what_it_checks(fix: str) -> str:
    """What the suggested wrapper does about locking - vm_flags_init() does
    nothing, and the message must not claim otherwise."""
    if fix.startswith("vm_flags_init("):
        return " (it takes and asserts no lock: right only for a vma nobody else can see yet, like this one)"
    if fix.startswith(("vm_flags_set(", "vm_flags_clear(", "vm_flags_mod(")):
        return " (it write-locks the vma with vma_start_write(), which asserts the mmap write lock)"
    if fix.startswith("vm_flags_reset"):
        return " (it asserts that the vma is write-locked: call vma_start_write() first where it is not)"
    return ""


def _bitmap_note(ctx, w, style: str) -> str:
    """On kernels with the VMA flags bitmap helpers, their spelling of the
    same change, which --fix-style bits writes (a clear needs
    vma_clear_flags(), which came a release after vma_set_flags())."""
    if style == BITS or not ctx.catalog.has_function("vma_set_flags") or w.value is None or w.op not in ("|=", "&="):
        return ""
    bits = bit_names(ctx.catalog, w.value)
    if bits is None or (w.op == "&=" and not text_of(w.value).lstrip("( ").startswith("~")):
        return ""
    helper = "vma_set_flags" if w.op == "|=" else "vma_clear_flags"
    if not ctx.catalog.has_function(helper):
        return ""
    vma = model_of(ctx).vma_pointer_text(w)
    return f"; with the VMA flags bitmap: vma_start_write({vma}); {helper}({vma}, {', '.join(bits)}) (--fix-style bits)"


def _range_note(style: str, checked) -> str:
    """How the fix keeps building on the kernels of the range that lack the wrapper."""
    if style == CONFTEST:
        return (
            " - if this branch is compiled on v6.3+ at all, which daxlint cannot tell: it is the old side of a compat switch "
            "whose macro nobody declared (see fix)"
        )
    if style == GUARD:
        return f" (under a version guard: the checked range {checked} reaches kernels without it)"
    if style == SHIM:
        return f" (with a compat shim: the checked range {checked} reaches kernels without it)"
    return ""
