"""What a verdict's weak dependencies test: a file a verdict read only to
find it irrelevant (KernelContext.read_if) is recorded with the test that
found it so, in words; an audit of another tree reads the words back and
asks the other tree's file the same question instead of comparing bytes."""

from __future__ import annotations

from daxlint.analysis import driver
from daxlint.analysis.module import LOCK_HELPERS, defines_lock_helper
from daxlint.analysis.vmflags import CHANGES_FLAGS, changes_flags


def weak_test(why: str):
    """The test a ``why`` of read_if() describes: data -> whether the
    verdict must read it; None for one not made by the analyses."""
    if why == CHANGES_FLAGS:
        return changes_flags
    if why == LOCK_HELPERS:
        return defines_lock_helper
    return driver.weak_test(why)
