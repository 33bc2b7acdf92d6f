"""What a verdict's weak dependencies test: a file a verdict read only to
find it irrelevant (KernelContext.read_if), or only for a fact of its bytes
(KernelContext.read_fact), is recorded with the test or the fact, in words;
an audit of another tree reads the words back and asks the other tree's
file the same question instead of comparing bytes."""

from __future__ import annotations

from daxlint.analysis import driver
from daxlint.analysis.module import flag_helper_definitions, lock_helper_definitions
from daxlint.sources.git import FACT, fact_description

# The facts read_fact() records, by the name it gives them.
_FACTS = {f.__name__: f for f in (flag_helper_definitions, lock_helper_definitions)}


def weak_test(why: str):
    """The test a ``why`` of read_if() or read_fact() describes: data ->
    whether the verdict must read it again; None for one not made by the
    analyses."""
    if why.startswith(FACT):
        name = why[len(FACT) :].split(" = ", 1)[0]
        fact = _FACTS.get(name)
        return None if fact is None else (lambda data: fact_description(name, fact(data)) != why)
    return driver.weak_test(why)
