"""Project configuration: ``.daxlint.toml`` (top-level keys) or the
``[tool.daxlint]`` table of a ``pyproject.toml``, whichever is found first
walking up from the checked path. Command-line options win over it: a
``--select`` replaces its select and ignore, an ``--ignore`` narrows what
it selects (core/registry.resolve_selection(), as ruff resolves them).

    select = ["DAX1", "DAX3"]
    ignore = ["DAX304"]
    kernel-version = "6.1"        # or a range: "4.14..6.12"
    [per-file-ignores]            # [tool.daxlint.per-file-ignores]
    "drivers/s390/*" = ["DAX103"]
    [macros]                      # what the module's conftest decides
    HAVE_VM_FLAGS_SET = ">=6.3"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from daxlint.core.build import MacroSpec, parse_config_macro
from daxlint.errors import InputError
from daxlint.sources.tree import read_regular

MAX_CONFIG_BYTES = 1024 * 1024
KNOWN_KEYS = {"select", "ignore", "per-file-ignores", "kernel-version", "max-file-size", "macros"}


@dataclass
class Config:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    kernel_version: str | None = None
    max_file_size: int | None = None
    macros: dict[str, MacroSpec] = field(default_factory=dict)
    source: Path | None = None

    @property
    def name(self) -> str:
        """The config file, as messages name it."""
        return str(self.source) if self.source else "config"


def _load_table(path: Path) -> dict | None:
    try:
        data = tomllib.loads(read_regular(str(path), MAX_CONFIG_BYTES).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: invalid TOML ({e})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if path.name == "pyproject.toml":
        return data.get("tool", {}).get("daxlint")
    return data


def find_config(start: Path) -> tuple[Path, dict] | None:
    p = start.resolve() if start.exists() else start.absolute()
    if not p.is_dir():
        p = p.parent
    for d in (p, *p.parents):
        for name in (".daxlint.toml", "pyproject.toml"):
            f = d / name
            if f.is_symlink() or f.exists() and not f.is_dir():  # a link to a device is an error, not nothing
                table = _load_table(f)
                if table is not None:
                    return f, table
    return None


def _str_list(value, key: str, path: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: '{key}' must be a list of rule ids or prefixes")
    return value


def load_config(start: Path, explicit: Path | None = None) -> Config:
    if explicit is not None:
        if not explicit.is_file():
            raise InputError(f"{explicit}: config file not found")
        found = (explicit, _load_table(explicit) or {})
    else:
        found = find_config(start)
    if found is None:
        return Config()
    path, table = found
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise InputError(f"{path}: unknown daxlint setting(s): {', '.join(sorted(unknown))}")
    cfg = Config(source=path)
    cfg.select = _str_list(table.get("select", []), "select", path)
    cfg.ignore = _str_list(table.get("ignore", []), "ignore", path)
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise InputError(f"{path}: 'per-file-ignores' must be a table of glob = [rule ids]")
    cfg.per_file_ignores = {k: _str_list(v, f"per-file-ignores.{k}", path) for k, v in pfi.items()}
    kv = table.get("kernel-version")
    if kv is not None:
        if not isinstance(kv, str):
            # TOML reads 6.10 as the float 6.1: a quoted version cannot be misread.
            raise InputError(f'{path}: \'kernel-version\' must be quoted, as in "6.12" or "4.14..6.12" (to TOML, {kv!r} is a number)')
        cfg.kernel_version = kv
    macros = table.get("macros", {})
    if not isinstance(macros, dict):
        raise InputError(f"{path}: 'macros' must be a table of NAME = value or version constraint")
    cfg.macros = {name: parse_config_macro(name, value, str(path)) for name, value in macros.items()}
    mfs = table.get("max-file-size")
    if mfs is not None:
        if isinstance(mfs, bool) or not isinstance(mfs, int) or mfs <= 0:  # bool is an int to Python
            raise InputError(f"{path}: 'max-file-size' must be a positive number of bytes")
        cfg.max_file_size = mfs
    return cfg
