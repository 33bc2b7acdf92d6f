"""The comparison the whole-tree tests make (tests/realtree.py), on made-up
findings: what fails, what is only listed."""

from __future__ import annotations

from realtree import judge


def verdict(function="f", snippet="vma->vm_flags |= VM_IO;", verdict="true", severity="error", line=10):
    return {
        "rule": "DAX301",
        "path": "a.c",
        "line": line,
        "function": function,
        "snippet": snippet,
        "severity": severity,
        "verdict": verdict,
    }


def finding(function="f", snippet="vma->vm_flags  |=  VM_IO;", severity="error", line=99):
    return {
        "rule_id": "DAX301",
        "path": "a.c",
        "line": line,
        "function": function,
        "snippet": snippet,
        "severity": severity,
        "message": "m",
    }


def test_lines_and_white_space_do_not_matter():
    assert judge([finding(line=400)], [verdict(line=10)]).failures == []


def test_a_lost_true_finding_fails_and_a_new_one_is_listed():
    j = judge([finding(function="g")], [verdict()])
    assert [e["function"] for e in j.lost] == ["f"]
    assert [f["function"] for f in j.unjudged] == ["g"]
    # The failure names the lost construct (rule, file, function), and the
    # new finding is listed, never a failure of its own.
    lost = [f for f in j.failures if "no longer reported" in f]
    assert lost and all("DAX301" in f and "a.c" in f and "f()" in f for f in lost)
    assert not any("g()" in f for f in j.failures)


def test_severity_change_fails():
    j = judge([finding(severity="warning")], [verdict()])
    assert j.severity_changed and any("severity changed to warning" in f and "f()" in f for f in j.failures)


def test_a_false_construct_that_comes_back_fails():
    assert judge([], [verdict(verdict="false")]).failures == []
    j = judge([finding()], [verdict(verdict="false")])
    assert j.came_back and any("reported again" in f and "f()" in f for f in j.failures)


def test_the_same_construct_twice_is_counted():
    two = [verdict(), verdict()]
    j = judge([finding(), finding(), finding()], two)
    assert j.failures == []
    # A third copy of a construct judged twice is new: listed by its
    # construct (rule, file, function), never a failure.
    assert [(f["rule_id"], f["path"], f["function"]) for f in j.unjudged] == [("DAX301", "a.c", "f")]
    # One copy left of two: the other is lost, and the failure names it.
    j = judge([finding()], two)
    assert [(e["rule"], e["path"], e["function"]) for e in j.lost] == [("DAX301", "a.c", "f")]
    assert any("no longer reported" in f and "DAX301" in f and "f()" in f for f in j.failures)
