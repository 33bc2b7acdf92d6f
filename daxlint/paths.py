"""Where daxlint's own data lives: the rules directory (rules/ in a checkout,
daxlint/_rules in an installed wheel), the historical corpus (corpus/ or
daxlint/_corpus) and the user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(env_var: str, checkout_name: str, wheel_name: str) -> Path:
    """A data directory that sits at the top of a checkout and travels inside
    the package in a wheel (see pyproject.toml package-dir); ``env_var``
    overrides both."""
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    installed = _PACKAGE_DIR / wheel_name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / checkout_name


def rules_dir() -> Path:
    return _bundled("DAXLINT_RULES_DIR", "rules", "_rules")


def corpus_dir() -> Path:
    """The historical corpus (daxlint corpus)."""
    return _bundled("DAXLINT_CORPUS_DIR", "corpus", "_corpus")


def cache_dir() -> Path:
    """The user cache directory (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "daxlint"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("daxlint"))
