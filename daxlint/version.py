"""Kernel versions: parsing ``X.Y`` and reading VERSION/PATCHLEVEL from a
kernel's top Makefile (on disk or as the bytes of a git blob)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from pathlib import Path

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.\d+)?\s*$")
_MAKEFILE_FIELD = re.compile(rb"^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$", re.M)


@total_ordering
@dataclass(frozen=True)
class KernelVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        m = _VERSION_RE.match(text or "")
        if not m:
            raise ValueError(f"invalid kernel version {text!r} (expected X.Y, e.g. 6.1)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: KernelVersion) -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def read_makefile_version(makefile: Path) -> KernelVersion | None:
    """VERSION/PATCHLEVEL from a kernel top Makefile, or None if it is not one."""
    try:
        with open(makefile, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    return makefile_version(head)


def makefile_version(data: bytes) -> KernelVersion | None:
    """VERSION/PATCHLEVEL from the bytes of a top Makefile (e.g. a git blob)."""
    fields = dict((k.decode(), int(v)) for k, v in _MAKEFILE_FIELD.findall(data[:4096]))
    if "VERSION" in fields and "PATCHLEVEL" in fields:
        return KernelVersion(fields["VERSION"], fields["PATCHLEVEL"])
    return None
