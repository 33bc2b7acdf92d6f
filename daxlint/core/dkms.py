"""DKMS packaging of an out-of-tree module: ``dkms.conf`` may restrict the
kernels the module builds for with ``BUILD_EXCLUSIVE_KERNEL``, a regular
expression over the kernel release string. That is the version range to
check the module for when nothing else gives one."""

from __future__ import annotations

import re
from pathlib import Path

from daxlint.core.catalog import newest_catalog_version
from daxlint.core.config import MAX_CONFIG_BYTES
from daxlint.core.timelimit import FileTimeout, TimeLimit
from daxlint.errors import InputError
from daxlint.sources.tree import read_regular
from daxlint.version import KernelVersion, VersionRange, successor

_EXCLUSIVE = re.compile(r"""^\s*BUILD_EXCLUSIVE_KERNEL\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""", re.M)
_OLDEST = KernelVersion(3, 0)
_MATCH_SECONDS = 2.0  # a sane pattern takes microseconds for every release


def find_dkms_conf(start: Path) -> Path | None:
    """The dkms.conf at or above ``start`` (a module keeps it at its top)."""
    p = start.resolve() if start.exists() else start.absolute()
    if p.is_file():
        p = p.parent
    for d in (p, *p.parents):
        candidate = d / "dkms.conf"
        if candidate.is_symlink() or candidate.exists() and not candidate.is_dir():  # a link to a device is an error, not nothing
            return candidate
    return None


def dkms_range(conf: Path) -> VersionRange | None:
    """The releases BUILD_EXCLUSIVE_KERNEL admits, from 3.0 to the newest
    release the catalog knows; None when the file does not restrict them."""
    try:
        text = read_regular(str(conf), MAX_CONFIG_BYTES).decode("utf-8", "replace")
    except OSError as e:
        raise InputError(f"{conf}: cannot read ({e.strerror})") from None
    m = _EXCLUSIVE.search(text)
    if m is None:
        return None
    expr = next(g for g in m.groups() if g is not None)
    shown = expr if len(expr) <= 60 else expr[:57] + "..."
    last = newest_catalog_version()

    def admitted_versions() -> list:
        admitted, v = [], _OLDEST
        pattern = re.compile(expr)
        while v <= last:
            # Release strings as distributions spell them: 6.1.0-13-amd64, 6.12.5.
            if any(pattern.match(release) for release in (f"{v}.0", f"{v}.0-1-amd64", f"{v}.10")):
                admitted.append(v)
            v = successor(v)
        return admitted

    # The pattern is the module's to write, not ours to trust: Python's
    # backtracking engine can take exponential time on it (^(((.*)*)*)*X$),
    # and its parser raises on repeats and nesting past its limits.
    limit = TimeLimit(_MATCH_SECONDS)
    try:
        with limit:
            admitted = limit.run(admitted_versions)
    except (re.error, OverflowError, RecursionError) as e:
        why = "nested too deep" if isinstance(e, RecursionError) else str(e)
        raise InputError(f"{conf}: BUILD_EXCLUSIVE_KERNEL {shown!r} is not a regular expression daxlint can use ({why})") from None
    except FileTimeout:
        limit.close()
        raise InputError(
            f"{conf}: BUILD_EXCLUSIVE_KERNEL {shown!r} took longer than {_MATCH_SECONDS:g}s to match a release string "
            "(nested repeats backtrack exponentially); simplify it"
        ) from None
    if not admitted:
        raise InputError(f"{conf}: BUILD_EXCLUSIVE_KERNEL {expr!r} admits no kernel from {_OLDEST} to {last}")
    return VersionRange(admitted[0], admitted[-1])
