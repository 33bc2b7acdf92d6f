"""The kernel API catalog: C declarations under rules/catalog/, one file per
kernel version, parsed with pycparser. Rules ask it type questions instead of
hard-coding version numbers."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pycparser import c_ast, c_generator, c_parser

from daxlint.paths import rules_dir
from daxlint.version import KernelVersion

_FILE_RE = re.compile(r"^linux-(\d+)\.(\d+)\.h$")
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# ``/* daxlint: sets-vm-flags VM_IO VM_PFNMAP */`` above a declaration: what a
# helper writes into vm_flags; ``vma-lock takes|asserts|none``: how it locks
# the vma while it changes its flags; ``changes-vma-flags set|clear|reset``:
# a bitmap helper that changes a vma's (or a descriptor's) flags - kernel
# behaviour no C declaration can say.
_ANNOTATION_RE = re.compile(r"/\*\s*daxlint:\s*(sets-vm-flags(?:-unless-set)?|vma-lock|changes-vma-flags)\s+([A-Za-z0-9_ ]+?)\s*\*/")
VMA_LOCKS = ("takes", "asserts", "none")
FLAG_CHANGES = ("set", "clear", "reset")
_DECLARED_NAME_RE = re.compile(r"\s*(?:/\*.*?\*/\s*)*[^;/]*?\b(\w+)\s*\(", re.S)


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str  # C spelling, e.g. "const vm_flags_t"
    const: bool


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    returns: str
    params: tuple[tuple[str, str], ...]  # (name, type)
    variadic: bool = False  # ends in "...": a kernel macro taking a list (bit numbers)


@dataclass(frozen=True)
class VmFlagSetter:
    """A helper that ORs flags into the vma it is given (remap_pfn_range()
    sets VM_IO | VM_PFNMAP | ...): a change of vm_flags at its call."""

    name: str
    always: tuple[str, ...]  # set on every call (in the kernel's order)
    unless_set: tuple[str, ...]  # set only when the vma does not have them yet
    vma_index: int  # which argument is the vma
    # A helper of the checked module (a header's static inline, a sibling
    # file's function) rather than the kernel's: where it is defined, and
    # whether it changes the flags itself (a store or a vm_flags_*() call:
    # a change wherever it runs, as if written at the call).
    defined_at: str | None = None
    direct: bool = False
    via: str | None = None  # the kernel helper a module helper changes the flags with
    through_fault: bool = False  # the argument is a vm_fault: the change is to its ->vma

    @property
    def flags(self) -> frozenset[str]:
        return frozenset(self.always + self.unless_set)


@dataclass
class Catalog:
    version: KernelVersion
    path: Path
    structs: dict[str, dict[str, FieldInfo]] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    typedefs: set[str] = field(default_factory=set)
    constants: dict[str, int] = field(default_factory=dict)
    vm_flag_setters: dict[str, VmFlagSetter] = field(default_factory=dict)
    # How a function that changes vma flags locks the vma: "takes"
    # (vma_start_write(), which asserts the mmap write lock), "asserts" (the
    # vma must be write-locked already) or "none".
    vma_locks: dict[str, str] = field(default_factory=dict)
    # Bitmap helpers that change a vma's or descriptor's flags: "set",
    # "clear" or "reset".
    flag_changes: dict[str, str] = field(default_factory=dict)

    def struct_field(self, struct: str, name: str) -> FieldInfo | None:
        return self.structs.get(struct, {}).get(name)

    def field_is_const(self, struct: str, name: str) -> bool:
        f = self.struct_field(struct, name)
        return bool(f and f.const)

    def has_function(self, name: str) -> bool:
        return name in self.functions

    def has_type(self, name: str) -> bool:
        return name in self.typedefs or name in self.structs

    def bit_parameters(self, function: str) -> tuple[int, bool] | None:
        """Where ``function`` takes VMA flag bit numbers (``vma_flag_t``):
        the index of the first such parameter and whether the ones after it
        (``...``) are bit numbers too; None when it takes none."""
        info = self.functions.get(function)
        if info is None:
            return None
        for i, (_, t) in enumerate(info.params):
            if t.split()[-1:] == ["vma_flag_t"]:
                return i, info.variadic
        return None

    def mask_parameters(self, function: str) -> list[int]:
        """The parameters of ``function`` that take legacy VM_* masks (``vm_flags_t``)."""
        info = self.functions.get(function)
        return [i for i, (_, t) in enumerate(info.params) if t.split()[-1:] == ["vm_flags_t"]] if info is not None else []

    def writes_through(self, function: str, index: int) -> bool:
        """Whether ``function`` may store through its ``index``-th argument:
        a pointer parameter that is not const-qualified."""
        info = self.functions.get(function)
        if info is None or index >= len(info.params):
            return False
        t = info.params[index][1].strip()
        return "*" in t and not t.startswith("const ") and "const *" not in t


def _type_string(node) -> str:
    return c_generator.CGenerator().visit(node).strip()


def _is_const(decl_type) -> bool:
    quals = getattr(decl_type, "quals", None) or []
    return "const" in quals


def _params(funcdecl: c_ast.FuncDecl) -> tuple[tuple[str, str], ...]:
    out = []
    for p in funcdecl.args.params if funcdecl.args else []:
        if isinstance(p, (c_ast.Typename, c_ast.EllipsisParam)):  # (void), ...
            continue
        out.append((p.name or "", _type_string(p.type)))
    return tuple(out)


def _variadic(funcdecl: c_ast.FuncDecl) -> bool:
    params = funcdecl.args.params if funcdecl.args else []
    return bool(params) and isinstance(params[-1], c_ast.EllipsisParam)


def parse_catalog(path: Path, version: KernelVersion) -> Catalog:
    # pycparser expects preprocessed input; comments are all our files have
    # of the preprocessor, so blank them out (keeping newlines for coords).
    text = _COMMENT_RE.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())
    ast = c_parser.CParser().parse(text, filename=str(path))
    cat = Catalog(version=version, path=path)
    for ext in ast.ext:
        if isinstance(ext, c_ast.Typedef):
            cat.typedefs.add(ext.name)
        if isinstance(ext, c_ast.Decl):
            t = ext.type
            if isinstance(t, c_ast.FuncDecl):
                cat.functions[ext.name] = FunctionInfo(ext.name, _type_string(t.type), _params(t), _variadic(t))
                continue
            if isinstance(t, c_ast.Enum) and t.values:
                for e in t.values.enumerators:
                    cat.constants[e.name] = int(e.value.value.rstrip("uUlL"), 0) if e.value else 0
                continue
            if isinstance(t, c_ast.Struct) and t.decls is not None:
                fields = {}
                for d in t.decls:
                    fields[d.name] = FieldInfo(d.name, _type_string(d.type), _is_const(d.type))
                cat.structs[t.name] = fields
    _annotations(path.read_text(), cat)
    return cat


def _annotations(text: str, cat: Catalog) -> None:
    """Read the ``daxlint:`` annotation comments into ``cat``."""
    found: dict[str, dict[str, list[str]]] = {}
    for m in _ANNOTATION_RE.finditer(text):
        decl = _DECLARED_NAME_RE.match(text, m.end())
        if decl is None:
            raise ValueError(f"{cat.path}: '{m.group(0)}' is not followed by a declaration")
        name, kind, words = decl.group(1), m.group(1), m.group(2).split()
        if cat.functions.get(name) is None:
            raise ValueError(f"{cat.path}: annotation for {name}, which the catalog does not declare as a function")
        if kind == "vma-lock":
            if words[0] not in VMA_LOCKS:
                raise ValueError(f"{cat.path}: {m.group(0)}: the lock is one of {', '.join(VMA_LOCKS)}")
            cat.vma_locks[name] = words[0]
            continue
        if kind == "changes-vma-flags":
            if words[0] not in FLAG_CHANGES:
                raise ValueError(f"{cat.path}: {m.group(0)}: the change is one of {', '.join(FLAG_CHANGES)}")
            cat.flag_changes[name] = words[0]
            continue
        kinds = found.setdefault(name, {"sets-vm-flags": [], "sets-vm-flags-unless-set": []})
        kinds[kind].extend(f for f in words if f not in kinds[kind])
    for name, kinds in found.items():
        info = cat.functions[name]
        vma = next((i for i, (_, t) in enumerate(info.params) if "vm_area_struct" in t), 0)
        cat.vm_flag_setters[name] = VmFlagSetter(name, tuple(kinds["sets-vm-flags"]), tuple(kinds["sets-vm-flags-unless-set"]), vma)


def _available() -> list[tuple[KernelVersion, Path]]:
    out = []
    for p in (rules_dir() / "catalog").glob("linux-*.h"):
        m = _FILE_RE.match(p.name)
        if m:
            out.append((KernelVersion(int(m.group(1)), int(m.group(2))), p))
    return sorted(out)


def newest_catalog_version() -> KernelVersion:
    return _available()[-1][0]


def catalog_versions() -> list[KernelVersion]:
    """The releases a catalog file starts at, oldest first: between two of
    them every release has the same catalog."""
    return [v for v, _ in _available()]


def first_version_where(holds) -> KernelVersion | None:
    """The first release from which the catalog of every release satisfies
    ``holds(catalog)`` (None when the newest one does not)."""
    found = None
    for v in reversed(catalog_versions()):
        if not holds(catalog_for(v)):
            break
        found = v
    return found


@cache
def catalog_for(version: KernelVersion) -> Catalog:
    """The catalog of the newest file not above ``version`` (the oldest file
    for kernels older than any we describe)."""
    avail = _available()
    if not avail:
        raise RuntimeError(f"no kernel API catalog under {rules_dir() / 'catalog'}")
    chosen = avail[0]
    for v, p in avail:
        if v <= version:
            chosen = (v, p)
    return parse_catalog(chosen[1], chosen[0])


@dataclass(frozen=True)
class Lifetime:
    since: KernelVersion | None
    until: KernelVersion | None  # the first release without it
    replaced_by: str | None = None
    commit: str | None = None

    def exists_in(self, version: KernelVersion) -> bool:
        return (self.since is None or self.since <= version) and (self.until is None or version < self.until)


@dataclass(frozen=True)
class ApiHistory:
    """rules/catalog/history.toml: when kernel macros and functions came and
    went. Unlisted names are unknown (None), not absent."""

    macros: dict[str, Lifetime]
    functions: dict[str, Lifetime]
    kconfig: dict[str, Lifetime] = field(default_factory=dict)

    def macro_defined(self, name: str, version: KernelVersion) -> bool | None:
        life = self.macros.get(name)
        return None if life is None else life.exists_in(version)

    def has_function(self, name: str, version: KernelVersion) -> bool | None:
        life = self.functions.get(name)
        return None if life is None else life.exists_in(version)


@cache
def api_history() -> ApiHistory:
    path = rules_dir() / "catalog" / "history.toml"
    with open(path, "rb") as fh:
        data = tomllib.load(fh)

    def lifetimes(table: dict) -> dict[str, Lifetime]:
        out = {}
        for name, entry in table.items():
            since, until = entry.get("since"), entry.get("until")
            out[name] = Lifetime(
                KernelVersion.parse(since) if since else None,
                KernelVersion.parse(until) if until else None,
                entry.get("replaced_by"),
                entry.get("commit"),
            )
        return out

    return ApiHistory(lifetimes(data.get("macros", {})), lifetimes(data.get("functions", {})), lifetimes(data.get("kconfig", {})))
