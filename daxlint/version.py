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
        major, minor = int(m.group(1)), int(m.group(2))
        last = _LAST_MINOR.get(major)
        if last is not None and minor > last:
            raise ValueError(f"invalid kernel version {text!r}: there is no {major}.{minor} ({major}.{last} was followed by {major + 1}.0)")
        return cls(major, minor)

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


# The last minor release of each closed major series; ranges count through
# them (4.20 is followed by 5.0, 6.19 by 7.0). 2.6 stands for the whole
# 2.6.x series. A range into a series after the last one closed here could
# never be counted through: VersionRange.parse() refuses it.
_LAST_MINOR = {2: 6, 3: 19, 4: 20, 5: 19, 6: 19}


def successor(v: KernelVersion) -> KernelVersion:
    """The release after ``v`` (5.19 -> 6.0)."""
    last = _LAST_MINOR.get(v.major)
    return KernelVersion(v.major + 1, 0) if last is not None and v.minor >= last else KernelVersion(v.major, v.minor + 1)


def predecessor(v: KernelVersion) -> KernelVersion:
    """The release before ``v`` (6.0 -> 5.19)."""
    if v.minor > 0:
        return KernelVersion(v.major, v.minor - 1)
    return KernelVersion(v.major - 1, _LAST_MINOR.get(v.major - 1, 0))


@dataclass(frozen=True)
class VersionRange:
    """The kernels a piece of code is built for: ``4.14..6.12`` (both ends
    included), or one version."""

    first: KernelVersion
    last: KernelVersion

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        first, sep, last = (text or "").partition("..")
        try:
            a = KernelVersion.parse(first)
            b = KernelVersion.parse(last) if sep else a
        except ValueError as e:
            _, _, why = str(e).partition(": ")  # a release that does not exist says which
            raise ValueError(
                f"invalid kernel version {text!r}" + (f": {why}" if why else " (expected X.Y or a range A.B..C.D, e.g. 6.1 or 4.14..6.12)")
            ) from None
        if b < a:
            raise ValueError(f"invalid kernel version range {text!r}: {b} comes before {a}")
        if a.major != b.major and any(m not in _LAST_MINOR for m in range(a.major, b.major)):
            open_series = next(m for m in range(a.major, b.major) if m not in _LAST_MINOR)
            raise ValueError(f"invalid kernel version range {text!r}: the last {open_series}.x release is not known yet")
        return cls(a, b)

    @classmethod
    def single(cls, v: KernelVersion) -> VersionRange:
        return cls(v, v)

    @property
    def is_single(self) -> bool:
        return self.first == self.last

    def __contains__(self, v: KernelVersion) -> bool:
        return self.first <= v <= self.last

    def __iter__(self):
        v = self.first
        while v <= self.last:
            yield v
            v = successor(v)

    def __str__(self) -> str:
        return str(self.first) if self.is_single else f"{self.first}..{self.last}"


def spans(versions: list[KernelVersion]) -> list[VersionRange]:
    """Consecutive releases of a sorted list as ranges."""
    out: list[VersionRange] = []
    for v in versions:
        if out and successor(out[-1].last) == v:
            out[-1] = VersionRange(out[-1].first, v)
        else:
            out.append(VersionRange.single(v))
    return out


def describe_versions(versions: list[KernelVersion]) -> str:
    """``versions`` (sorted releases of ``checked``) as JSON says them:
    "6.3..6.12", "4.14..6.2, 6.8..6.12"."""
    return ", ".join(str(s) for s in spans(versions))


def short_versions(versions: str | None, checked: str | None) -> str:
    """A finding's versions ("6.3..6.12", as JSON has them) short, for text
    reports, against the checked range: " (v6.3+)" when they run to its
    end, " (up to v6.2)" from its start, " (v4.19..6.2)" else; "" when the
    finding applies to every checked version or no range was checked."""
    if not versions or not checked or ".." not in checked:
        return ""
    whole = VersionRange.parse(checked)
    parts = []
    for text in versions.split(","):
        s = VersionRange.parse(text.strip())
        if s == whole:
            return ""
        if s.last == whole.last:
            parts.append(f"v{s.first}+")
        elif s.first == whole.first:
            parts.append(f"up to v{s.last}")
        else:
            parts.append(f"v{s}")
    return f" ({', '.join(parts)})"
