import re

from daxlint.analysis.bits import BIT_RE, MASK_RE, bit_of, masks_of
from daxlint.analysis.locate import identifier_nodes
from daxlint.analysis.types import TypeResolver
from daxlint.core.catalog import catalog_for
from daxlint.core.directives import scan
from daxlint.core.rule import Rule
from daxlint.core.syntax import call_args, call_name, parent_of, text
from daxlint.model import UNSAFE, Edit, Fix, Severity

_BIT_BYTES = re.compile(rb"\bVMA_\w+_BIT\b")
_BIT_HELPERS = (b"vma_desc_", b"vma_set_flags", b"vma_clear_flags", b"vma_flags_", b"vma_test", b"mk_vma_flags", b"append_vma_flags")
_BIT_HELPER_BYTES = re.compile(
    rb"\b(?:vma_desc_\w+|vma_(?:set|clear)_flags\w*|vma_flags_\w+|vma_test\w*|mk_vma_flags|append_vma_flags)\s*\("
)
# Operators that combine flags: a bit number there is read as a mask.
_MASK_OPERATORS = frozenset({"|", "&", "^", "|=", "&=", "^=", "="})


class VmaFlagBitMaskConfusion(Rule):
    """
    ## What it does
    Flags a VMA flag spelled as a mask where the kernel expects a bit
    number, and the other way round, on kernels that number the VMA flags
    (`VMA_*_BIT`, v6.19 and later; the helpers that take them came in v7.0):

    - a `VM_*` mask (`VM_IO`, `VM_PFNMAP`, ...) as an argument that the
      kernel API catalog of the version declares a bit number (`vma_flag_t`):
      `vma_desc_set_flags()`, `vma_desc_clear_flags()`, `vma_desc_test*()`,
      `vma_set_flags()`, `vma_clear_flags()`, `vma_test*()`, `mk_vma_flags()`,
      `append_vma_flags()`, `vma_flags_set_flag()`, `vma_flags_set()`, ...
      (the variadic macros' every bit argument);
    - a `VMA_*_BIT` number where a mask (`vm_flags_t`) is expected: an
      argument of `vm_flags_set/clear/mod/init/reset()`, or an operand of
      `|`, `&`, `^`, `|=`, `&=`, `=` with a `vm_flags` field or a
      `vm_flags_t` variable.

    A macro of the file that stands for a mask or a bit (`#define
    TOY_FLAGS (VM_IO | VM_DONTEXPAND)`) is read as what it stands for.

    ## Why is this bad
    Both are integers to gcc, so the mix-up builds: `vma_desc_set_flags(desc,
    VM_IO)` asks for bit 16384 (`VM_IO` is `1 << 14`) of a 64-bit bitmap,
    and `__set_bit()` writes memory far past the descriptor. The other way,
    `vm_flags_set(vma, VMA_IO_BIT)` ORs in 14 - `VM_WRITE | VM_EXEC |
    VM_SHARED` - instead of `VM_IO`: a mapping made writable and executable
    that the driver meant as I/O. Only sparse's `__bitwise` check on
    `vma_flag_t` sees it, and few out-of-tree builds run sparse.

    ## Example
    ```c
    static int mydrv_mmap_prepare(struct vm_area_desc *desc)
    {
            vma_desc_set_flags(desc, VM_IO, VMA_DONTEXPAND_BIT);
            return 0;
    }
    ```

    ## Use instead
    ```c
    static int mydrv_mmap_prepare(struct vm_area_desc *desc)
    {
            vma_desc_set_flags(desc, VMA_IO_BIT, VMA_DONTEXPAND_BIT);
            return 0;
    }
    ```

    ## References
    - 2b6a3f061f11 "mm: declare VMA flags by bit" (v6.19): `vma_flag_t` is `typedef int __bitwise`, the `VM_*` masks are `1 << VMA_*_BIT`
    - bae0ba7c7c0a "mm: add basic VMA flag operation helper functions" (v7.0): the helpers that take bit numbers
    - Documentation/filesystems/mmap_prepare.rst (7.3): "reference flags by their bit number, defined as a `VMA_xxx_BIT` macro"
    """

    id = "DAX306"
    name = "vma-flag-bit-mask-confusion"
    severity = Severity.ERROR
    summary = "A VM_* mask where a VMA_*_BIT number is expected, or a bit number where a mask is expected (v6.19+)"
    fix_safety = "unsafe"
    fix_note = (
        "Each mask or bit becomes the other spelling of the same flag (`VM_IO` <-> `VMA_IO_BIT`) when every term of the "
        "argument has one; unsafe because the code then does what it says instead of what it did."
    )
    # A bit number, or a call of a helper that takes bit numbers.
    tokens = (b"VMA_", *_BIT_HELPERS)

    def could_apply(self, kernel):
        return catalog_for(kernel.whole_range.last).has_type("vma_flag_t")

    def could_match(self, data):
        if b"VMA_" in data and b"_BIT" in data and _BIT_BYTES.search(data) is not None:
            return True
        return any(h in data for h in _BIT_HELPERS) and _BIT_HELPER_BYTES.search(data) is not None

    def check(self, ctx):
        catalog = ctx.catalog
        if not catalog.has_type("vma_flag_t"):
            return  # no bit numbers before v6.19: the bit names do not exist
        data = ctx.source.data
        macros = {d.name: (d.value or "") for d in scan(data).defines if d.value is not None}
        self._calls(ctx, macros)
        self._operators(ctx, macros)

    # -- calls ---------------------------------------------------------------------

    def _calls(self, ctx, macros: dict[str, str]) -> None:
        catalog = ctx.catalog
        names = [n for n, info in catalog.functions.items() if n.encode() in ctx.source.data]
        wanted = {n: (catalog.bit_parameters(n), catalog.mask_parameters(n)) for n in names}
        wanted = {n: w for n, w in wanted.items() if w[0] is not None or w[1]}
        for ident in identifier_nodes(ctx.source.root, ctx.source.data, [n.encode() for n in wanted]):
            call = ident.parent
            if call is None or call.type != "call_expression" or call.child_by_field_name("function") != ident:
                continue
            name = call_name(call)
            bits, masks = wanted[name]
            for i, arg in enumerate(call_args(call)):
                is_bit = bits is not None and (i == bits[0] or (bits[1] and i > bits[0]))
                if is_bit:
                    self._mask_for_bit(ctx, name, arg, macros, variadic=bits[1])
                elif i in masks:
                    self._bit_for_mask(ctx, f"{name}()", arg, macros)

    def _mask_for_bit(self, ctx, function: str, arg, macros: dict[str, str], variadic: bool) -> None:
        code = _expanded(text(arg), macros)
        masks = MASK_RE.findall(code)
        if not masks or BIT_RE.search(code):
            return
        mask = f"VM_{masks[0]}"
        bit = bit_of(ctx.catalog, mask)
        known = f"{mask} is the mask 1 << {bit}" if bit is not None else f"{mask} is a mask"
        if bit is None:
            what = "gcc accepts it, and it is read as a bit number"
        elif 1 << bit >= 64:
            what = f"gcc accepts it, and it is bit {1 << bit} of the 64-bit flags bitmap, far past its end: memory beyond the flags"
        else:
            other = masks_of(ctx.catalog, 1 << (1 << bit))
            what = f"gcc accepts it, and it is bit {1 << bit} ({other[0] if other else 'another flag'}), not {mask}"
        fix, autofix = _fix(ctx.catalog, arg, code, to_bits=True, variadic=variadic)
        ctx.report(
            arg,
            f"{known} where {function}() takes a bit number (vma_flag_t): {what}; use {fix or 'the VMA_*_BIT number'}",
            fix=fix or f"VMA_{masks[0]}_BIT",
            autofix=autofix,
        )

    def _bit_for_mask(self, ctx, where: str, arg, macros: dict[str, str]) -> None:
        code = _expanded(text(arg), macros)
        found = BIT_RE.findall(code)
        if not found:
            return
        bit = ctx.catalog.constants.get(f"VMA_{found[0]}_BIT")
        instead = f": as a mask it is {' | '.join(masks_of(ctx.catalog, bit)) or '0'}, not VM_{found[0]}" if bit is not None else ""
        fix, autofix = _fix(ctx.catalog, arg, code, to_bits=False)
        ctx.report(
            arg,
            f"VMA_{found[0]}_BIT is a bit number where {where} takes a mask (vm_flags_t){instead}; use {fix or f'VM_{found[0]}'}",
            fix=fix or f"VM_{found[0]}",
            autofix=autofix,
        )

    # -- operators on vm_flags -----------------------------------------------------

    def _operators(self, ctx, macros: dict[str, str]) -> None:
        """A bit number combined with a vm_flags value: ``vma->vm_flags &
        VMA_IO_BIT``, ``flags |= VMA_DONTCOPY_BIT``."""
        data = ctx.source.data
        names = {m.group(0).encode() for m in BIT_RE.finditer(data.decode("utf-8", "replace"))}
        names |= {n.encode() for n, v in macros.items() if BIT_RE.search(v)}
        reported: set[int] = set()
        for ident in identifier_nodes(ctx.source.root, data, names):
            holder, parent = None, parent_of(ident)
            while parent is not None and (parent.type in ("parenthesized_expression", "unary_expression") or _combines(parent)):
                holder = parent if _combines(parent) else holder
                parent = parent_of(parent)
            if holder is None or holder.start_byte in reported or not _mentions_vm_flags(ctx, holder):
                continue
            reported.add(holder.start_byte)
            self._bit_for_mask(ctx, "a vm_flags value", ident, macros)


def _combines(node) -> bool:
    if node.type not in ("binary_expression", "assignment_expression"):
        return False
    op = node.child_by_field_name("operator")
    return op is not None and text(op) in _MASK_OPERATORS


def _mentions_vm_flags(ctx, node) -> bool:
    """Whether an operand of ``node`` is a vm_flags field or a vm_flags_t variable."""
    if re.search(r"(?:->|\.)\s*vm_flags\b", text(node)):
        return True
    resolver = ctx.source.shared(TypeResolver, ctx.catalog)
    declared = [resolver.variable_type(c) for c in node.named_children if c.type == "identifier"]
    return any(t is not None and re.search(r"\bvm_flags_t\b", t) for t in declared)


def _expanded(code: str, macros: dict[str, str]) -> str:
    """``code`` with the file's object-like macros that stand for flags
    replaced by their bodies (one level)."""
    return re.sub(r"\b([A-Z][A-Z0-9_]*)\b", lambda m: macros.get(m.group(1), m.group(1)), code)


def _fix(catalog, arg, code: str, to_bits: bool, variadic: bool = False) -> tuple[str | None, Fix | None]:
    """The argument respelled, and the edit when the argument itself holds
    the flags (a macro of the file that stands for them is respelled in
    words only: its other users may want it as it is)."""
    fix = _respelled(catalog, code, to_bits, variadic)
    if fix is None:
        return None, None
    if code != text(arg):
        return f"{fix} (in place of {text(arg)})", None
    return fix, Fix(f"Use {fix}", UNSAFE, (Edit(arg.start_byte, arg.end_byte, fix),))


def _respelled(catalog, code: str, to_bits: bool, variadic: bool = False) -> str | None:
    """The argument with every flag in the other spelling, when each one
    has it in the catalog and the argument is only flag names and ``|``/
    ``,``; None otherwise."""
    if not re.fullmatch(r"[\sA-Z0-9_|,()]+", code):
        return None
    pattern = MASK_RE if to_bits else BIT_RE
    failed = False

    def swap(m: re.Match) -> str:
        nonlocal failed
        name = m.group(1)
        if to_bits:
            if name.endswith("_BIT") or bit_of(catalog, f"VM_{name}") is None:
                failed = True
            return f"VMA_{name}_BIT"
        if f"VMA_{name}_BIT" not in catalog.constants:
            failed = True
        return f"VM_{name}"

    out, swapped = pattern.subn(swap, code)
    if failed or not swapped or (to_bits and "|" in out and not variadic):
        return None  # several bits where one bit number goes
    return re.sub(r"\s*\|\s*", ", ", out.strip("() ")) if to_bits else out
