"""Where daxlint's own data lives: the rules directory (rules/ in a checkout,
daxlint/_rules in an installed wheel) and the user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def rules_dir() -> Path:
    override = os.environ.get("DAXLINT_RULES_DIR")
    if override:
        return Path(override)
    installed = _PACKAGE_DIR / "_rules"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "rules"


def cache_dir() -> Path:
    """The user cache directory (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "daxlint"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("daxlint"))
