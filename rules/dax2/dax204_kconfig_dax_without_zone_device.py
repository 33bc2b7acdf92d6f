import os
import re

from daxlint.analysis.dax import config_gates, directory_facts, gates_by_function, read_facts
from daxlint.analysis.pfn import page_required
from daxlint.core.catalog import api_history
from daxlint.core.rule import Rule
from daxlint.kconfig.index import entry_guarantees, kconfig_index, symbol_guarantees
from daxlint.kconfig.makefile import makefile_objects
from daxlint.kconfig.parser import FS_DAX_DEPENDS_SINCE_4_15, Symbol, parse_kconfig_symbols
from daxlint.model import Severity

_SYMBOL = re.compile(r"\b[A-Z][A-Z0-9_]*\b")
PAGE_BACKING = frozenset({"ZONE_DEVICE", "FS_DAX_LIMITED"})
# devm_memremap_pages() itself needs ZONE_DEVICE: FS_DAX_LIMITED is the
# fs-dax opt-in to page-less memory and does nothing for device-dax.
PAGEMAP_BACKING = frozenset({"ZONE_DEVICE"})
_FSDAX = "it can be built without struct pages for its memory, and filesystem-DAX needs them since 569d0365f571"
_STUB = "without ZONE_DEVICE {call}() is the stub that WARNs and returns -ENXIO, so the configuration builds and the device fails to probe"


def _listdir(d: str) -> list[str]:
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []


class KconfigDaxWithoutZoneDevice(Rule):
    """
    ## What it does
    Reads Kconfig files and finds entries for DAX drivers that can be
    enabled without ZONE_DEVICE (the kernel's struct pages for device
    memory) and without the FS_DAX_LIMITED opt-in. An entry is a DAX
    driver entry when it `select`s FS_DAX, depends on FS_DAX in a kernel
    where FS_DAX itself does not require ZONE_DEVICE, or builds (per the
    directory's kbuild Makefile) a C file that provides DAX
    (`->direct_access` handing out memory) or maps DAX memory with
    `devm_memremap_pages()`. Dependencies are followed through the whole
    tree's Kconfig (`if` blocks, `menu ... depends on`, other symbols'
    dependencies); `A || B` counts only if both sides do. A driver whose
    C code tests `IS_ENABLED(CONFIG_X)` / `#ifdef CONFIG_X` for an X that
    guarantees ZONE_DEVICE (pmem's `pmem_should_map_pages()`, virtio-fs's
    `CONFIG_FUSE_DAX`) falls back at run time and is not reported.

    ## Why is this bad
    569d0365f571 (v4.15) made FS_DAX depend on `ZONE_DEVICE ||
    FS_DAX_LIMITED`, because filesystem-DAX needs struct pages. A driver
    entry that `select`s FS_DAX bypasses that dependency (select ignores
    the selected symbol's own dependencies), and a DAX driver that maps
    pages with `devm_memremap_pages()` but can be built without
    ZONE_DEVICE gets the stub, which warns and fails at probe time. Either
    way the configuration builds and the DAX device silently is not one.

    ## Example
    ```
    config MYDAX
            tristate "My DAX device"
            select DAX
            select FS_DAX
    ```

    ## Use instead
    ```
    config MYDAX
            tristate "My DAX device"
            depends on ZONE_DEVICE
            select DAX
    ```
    A device-dax driver (pages from `devm_memremap_pages()`, no fs-dax
    provider) needs `depends on ZONE_DEVICE` itself: `select
    FS_DAX_LIMITED` is the fs-dax opt-in to page-less memory and does not
    give `devm_memremap_pages()` anything - the message says which applies.

    ## References
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15, fs/Kconfig)
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (FS_DAX_LIMITED)
    - include/linux/memremap.h (the devm_memremap_pages() stub without ZONE_DEVICE)
    - Documentation/kbuild/kconfig-language.rst ("select should be used with care")
    """

    id = "DAX204"
    name = "kconfig-dax-without-zone-device"
    severity = Severity.WARNING
    confidence = "medium"
    summary = "Kconfig entry of a DAX driver that can be built without ZONE_DEVICE (or FS_DAX_LIMITED)"
    fix_note = "Which `depends on` (or `select`) the entry needs is the driver's Kconfig design; the message says what is missing."
    tokens = (b"DAX",)
    file_kinds = ("kconfig",)

    def context_files(self, path):
        # The C files and Makefiles the entries build (one directory level
        # down too); the Kconfig files elsewhere in the tree are not listed.
        d = os.path.dirname(path)
        out = []
        for sub in [d] + [os.path.join(d, n) for n in _listdir(d) if os.path.isdir(os.path.join(d, n))]:
            out += [os.path.join(sub, n) for n in _listdir(sub) if n.endswith(".c") or n == "Makefile"]
        return out

    def check(self, ctx):
        path = ctx.abspath or ctx.source.path
        directory = os.path.dirname(os.path.abspath(path))
        symbols, _ = parse_kconfig_symbols(ctx.source.text, path)
        if not symbols:
            return
        objects = self._objects(ctx, directory)
        roles = [(sym, self._dax_role(ctx, sym, objects.get(sym.name, set()), directory)) for sym in symbols]
        roles = [(sym, role) for sym, role in roles if role[0] is not None]
        if not roles:
            return  # no DAX driver here: the tree's Kconfig need not be read
        index = kconfig_index(ctx.kernel)
        local: dict[str, list[Symbol]] = {}
        for s in symbols:
            local.setdefault(s.name, []).append(s)
        if "FS_DAX" not in local and not (ctx.kernel.root is not None and index.has_tree) and page_required(ctx.catalog):
            # No tree to read fs/Kconfig from: FS_DAX's dependency since v4.15.
            local["FS_DAX"] = [Symbol("FS_DAX", "fs/Kconfig", 0, depends=[FS_DAX_DEPENDS_SINCE_4_15])]
        for sym, (reason, level, consequence) in roles:
            fsdax = consequence == _FSDAX
            backing = PAGE_BACKING if fsdax else PAGEMAP_BACKING
            if entry_guarantees(sym, backing, index, local):
                continue
            if level != Severity.ERROR and self._gated(ctx, sym, objects, directory, index, local, backing):
                continue
            # FS_DAX_LIMITED, the page-less fs-dax opt-in, is gone since the
            # release history.toml dates: from then on only ZONE_DEVICE backs fs-dax.
            life = api_history().kconfig["FS_DAX_LIMITED"]
            limited = life.exists_in(ctx.kernel.effective_version)
            if fsdax and limited:
                needs = "ZONE_DEVICE (or selects FS_DAX_LIMITED)"
                fix = "add 'depends on ZONE_DEVICE' (or, for page-less fs-dax memory, 'select FS_DAX_LIMITED')"
            elif limited:
                needs = "ZONE_DEVICE"
                fix = (
                    "add 'depends on ZONE_DEVICE' (select FS_DAX_LIMITED would not help: it is the fs-dax opt-in to "
                    "page-less memory, and devm_memremap_pages() needs ZONE_DEVICE)"
                )
            elif life.until is not None and ctx.kernel.effective_version >= life.until:
                needs = "ZONE_DEVICE"
                fix = (
                    f"add 'depends on ZONE_DEVICE' (since v{life.until} no fs-dax memory goes without struct pages: FS_DAX_LIMITED is gone)"
                )
            else:
                needs = "ZONE_DEVICE"
                fix = "add 'depends on ZONE_DEVICE'"
            ctx.report(
                None,
                f"config {sym.name} {reason}, but nothing in its dependencies requires {needs}: {consequence}; {fix}",
                line=sym.line,
                column=1,
                severity=level,
                fix=fix,
            )

    # -- what the entry builds ----------------------------------------------------

    @staticmethod
    def _objects(ctx, directory: str) -> dict[str, set[str]]:
        """CONFIG symbol -> C files, from the Makefile of the Kconfig's
        directory and of its subdirectories one level down."""
        out: dict[str, set[str]] = {}
        dirs = [directory] + [os.path.join(directory, n) for n in ctx.kernel.listdir(directory) if "." not in n and n != "Kconfig"]
        for d in dirs:
            data = ctx.kernel.read(os.path.join(d, "Makefile"))
            if data is None:
                continue
            for sym, files in makefile_objects(data.decode("utf-8", "replace"), d).items():
                out.setdefault(sym, set()).update(files)
        return out

    def _dax_role(self, ctx, sym: Symbol, files: set[str], directory: str) -> tuple[str | None, Severity, str]:
        """Why ``sym`` is a DAX driver entry (None when it is not one), how bad
        missing page backing is for it, and what goes wrong without it."""
        if any(sel == "FS_DAX" for sel, _ in sym.selects):
            return f"selects FS_DAX (select ignores FS_DAX's own {_fs_dax_depends(ctx)})", Severity.ERROR, _FSDAX
        if any(re.search(r"\bFS_DAX\b", d) for d in sym.depends):
            return "depends on FS_DAX", Severity.WARNING, _FSDAX
        for path in sorted(files):
            facts = read_facts(ctx.kernel, path)
            if facts is None:
                continue
            name = os.path.basename(path)
            if facts.providers:
                return f"builds {name}, a DAX provider (->direct_access {facts.providers[0].name}())", Severity.WARNING, _FSDAX
            if facts.page_maps and (facts.dax_context or directory_facts(ctx.kernel, os.path.dirname(path)).dax_context(exclude=path)):
                call = facts.page_maps[0]
                return (
                    f"builds {name}, which maps DAX memory with {call.callee}() (line {call.line})",
                    Severity.WARNING,
                    _STUB.format(call=call.callee),
                )
        return None, Severity.WARNING, ""

    @staticmethod
    def _gated(ctx, sym: Symbol, objects: dict[str, set[str]], directory: str, index, local, backing=PAGE_BACKING) -> bool:
        """Whether the driver's C code enables its DAX part only under a
        CONFIG_ option that itself requires ZONE_DEVICE: a test in the files
        the entry builds, or in a function of a symbol it depends on that
        those files call (pmem.c calls libnvdimm's pmem_should_map_pages(),
        which tests ZONE_DEVICE) - not a test of a symbol that depends on it
        (7.x DEV_DAX_FSDEV's fsdev.c gates nothing of DEV_DAX's device.c),
        nor one of an unrelated function (super.c's FS_DAX part)."""
        own = sorted(objects.get(sym.name, set()))
        if not own:
            own = [os.path.join(directory, n) for n in ctx.kernel.listdir(directory) if n.endswith(".c")]
        texts = [d for d in (ctx.kernel.read(p) for p in own) if d is not None]
        gates = {g for data in texts for g in config_gates(data)}
        deps = {n for expr in sym.all_depends for n in _SYMBOL.findall(expr)} - {sym.name}
        for path in sorted(set().union(*(objects.get(n, set()) for n in deps)) - set(own)):
            data = ctx.kernel.read(path)
            for function, tested in gates_by_function(data).items() if data is not None else ():
                if function is not None and any(function.encode() in t for t in texts):
                    gates |= tested
        return any(symbol_guarantees(g, backing, index, local) for g in gates)


def _fs_dax_depends(ctx) -> str:
    """FS_DAX's dependency on backing in the checked release: page-less
    memory through FS_DAX_LIMITED while that exists (v4.15 on), ZONE_DEVICE
    alone after its removal."""
    life = api_history().kconfig["FS_DAX_LIMITED"]
    version = ctx.kernel.effective_version
    if life.exists_in(version):
        return "'depends on ZONE_DEVICE || FS_DAX_LIMITED'"
    if life.until is not None and version >= life.until:
        return "'depends on ZONE_DEVICE'"
    return "dependencies"
