"""``daxlint audit`` over many branches (--refs, --since, several ranges):
per-branch introduced/fixed/open at the tip, the backports a branch is
missing, one walk over the union of the branches' commits, and the
outputs (JSON, CSV, text, HTML)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from audit_repo import ScratchRepo, mmap_clean, mmap_writer, without_volatile
from conftest import run_daxlint
from daxlint.audit.auditor import AuditOptions, Auditor
from daxlint.audit.fleet import plan_branches
from daxlint.audit.store import AuditStore
from daxlint.core.registry import select_rules
from daxlint.sources.git import GitRepo


@pytest.fixture(scope="module")
def fleet_repo(tmp_path_factory):
    """mainline fixes foo and adds baz; stable cherry-picks the foo fix;
    vendor did not take it, adds its own driver, fixes bar (which the
    others still carry) and copies foo into foo2 (same code, another file)."""
    r = ScratchRepo(tmp_path_factory.mktemp("fleet") / "linux")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.write("drivers/bar/bar.c", mmap_writer("bar_mmap", "VM_DONTEXPAND"))
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    r.git("tag", "v6.3")
    r.git("branch", "stable")
    r.git("branch", "vendor")
    r.write("drivers/misc/other.c", "int other; /* main */\n")
    r.commit("misc: unrelated on main")
    r.write("drivers/foo/foo.c", mmap_clean("foo_mmap"))
    r.fix = r.commit("foo: use vm_flags_set", author="Bob Fixer <bob@example.org>")
    r.write("drivers/baz/baz.c", mmap_writer("baz_mmap"))
    r.commit("baz: add mmap")
    r.checkout("stable")
    r.day += 1
    r.git("cherry-pick", "-x", r.fix)
    r.backport = r.head()
    r.checkout("vendor")
    r.write("drivers/vendor/v.c", mmap_writer("v_mmap"))
    r.commit("vendor: add a driver")
    r.write("drivers/bar/bar.c", mmap_clean("bar_mmap"))
    r.vendor_fix = r.commit("bar: use vm_flags_set")
    r.write("drivers/foo2/foo.c", mmap_writer("foo_mmap"))
    r.commit("foo2: a copy of foo")
    r.checkout("main")
    return r


def fleet_json(repo, *args, db=None):
    db_args = ["--db", str(db)] if db else ["--no-cache"]
    code, out, err = run_daxlint("audit", "--repo", str(repo.path), "--format", "json", "-j", "1", *db_args, *args)
    assert code in (0, 1), err
    return code, json.loads(out)


def events(branch: dict) -> list[tuple]:
    return [
        (c["subject"], change, f["rule_id"], f["path"], f["line"])
        for c in branch["commits"]
        for change in ("introduced", "fixed")
        for f in c[change]
    ]


def where(findings: list[dict]) -> list[tuple]:
    return [(f["rule_id"], f["path"], f["line"]) for f in findings]


def test_three_branches_report_the_missing_backport(fleet_repo):
    code, doc = fleet_json(fleet_repo, "--since", "v6.3", "main", "stable", "vendor")
    main, stable, vendor = doc["branches"]
    assert [b["name"] for b in doc["branches"]] == ["main", "stable", "vendor"]
    assert [b["range"] for b in doc["branches"]] == ["v6.3..main", "v6.3..stable", "v6.3..vendor"]
    assert main["tip"] == fleet_repo.head("main") and vendor["tip"] == fleet_repo.head("vendor")
    assert events(main) == [
        ("foo: use vm_flags_set", "fixed", "DAX301", "drivers/foo/foo.c", 3),
        ("baz: add mmap", "introduced", "DAX301", "drivers/baz/baz.c", 3),
    ]
    assert events(stable) == [("foo: use vm_flags_set", "fixed", "DAX301", "drivers/foo/foo.c", 3)]
    assert events(vendor) == [
        ("vendor: add a driver", "introduced", "DAX301", "drivers/vendor/v.c", 3),
        ("bar: use vm_flags_set", "fixed", "DAX301", "drivers/bar/bar.c", 3),
        ("foo2: a copy of foo", "introduced", "DAX301", "drivers/foo2/foo.c", 3),
    ]
    assert where(main["open_at_tip"]) == [("DAX301", "drivers/bar/bar.c", 3), ("DAX301", "drivers/baz/baz.c", 3)]
    assert where(stable["open_at_tip"]) == [("DAX301", "drivers/bar/bar.c", 3)]
    assert where(vendor["open_at_tip"]) == [
        ("DAX301", "drivers/foo/foo.c", 3),
        ("DAX301", "drivers/foo2/foo.c", 3),
        ("DAX301", "drivers/vendor/v.c", 3),
    ]
    # vendor lacks the foo fix that mainline made and stable backported;
    # foo2's copy of the code is another driver, not a missing backport.
    [missing] = vendor["missing_backports"]
    assert (missing["finding"]["rule_id"], missing["finding"]["path"], missing["finding"]["line"]) == ("DAX301", "drivers/foo/foo.c", 3)
    assert [(x["sha"], x["branches"], x["subject"]) for x in missing["fixed_in"]] == [
        (fleet_repo.fix, ["main"], "foo: use vm_flags_set"),
        (fleet_repo.backport, ["stable"], "foo: use vm_flags_set"),
    ]
    # The other way round: bar was fixed on vendor only.
    for b in (main, stable):
        [m] = b["missing_backports"]
        assert m["finding"]["path"] == "drivers/bar/bar.c" and [x["sha"] for x in m["fixed_in"]] == [fleet_repo.vendor_fix]
    assert [(m["branch"], m["finding"]["path"]) for m in doc["missing_backports"]] == [
        ("main", "drivers/bar/bar.c"),
        ("stable", "drivers/bar/bar.c"),
        ("vendor", "drivers/foo/foo.c"),
    ]
    fleet = doc["fleet"]
    assert (fleet["branches"], fleet["commits"], fleet["missing_backports"]) == (3, 7, 3)
    assert [(b["name"], b["introduced"], b["fixed"], b["open_at_tip"], b["missing_backports"]) for b in fleet["per_branch"]] == [
        ("main", 1, 1, 2, 1),
        ("stable", 0, 1, 1, 1),
        ("vendor", 2, 1, 3, 1),
    ]
    assert vendor["summary"]["still_open"] == 2 and "files_analysed" not in vendor["summary"]
    assert code == 1


def test_refs_pattern_and_its_merge_base(fleet_repo):
    _, by_since = fleet_json(fleet_repo, "--since", "v6.3", "main", "stable", "vendor")
    _, by_refs = fleet_json(fleet_repo, "--refs", "refs/heads/*")
    assert [b["name"] for b in by_refs["branches"]] == ["main", "stable", "vendor"]
    assert [b["ref"] for b in by_refs["branches"]] == ["refs/heads/main", "refs/heads/stable", "refs/heads/vendor"]
    base = fleet_repo.head("v6.3")
    assert by_refs["notes"] == [f"no --since: the branches' common base is {base[:12]}"]
    assert by_refs["branches"][0]["range"] == f"{base[:12]}..main"
    for a, b in zip(by_refs["branches"], by_since["branches"]):
        assert (events(a), a["open_at_tip"], a["missing_backports"]) == (events(b), b["open_at_tip"], b["missing_backports"])
    _, one = fleet_json(fleet_repo, "--since", "v6.3", "--refs", "refs/heads/vendor")
    assert [b["name"] for b in one["branches"]] == ["vendor"] and one["since"] == "v6.3"
    assert one["missing_backports"] == []  # nothing to compare with


def test_each_branch_reads_as_its_own_range(fleet_repo):
    """A branch's report is the one its range gives alone (plus what is open
    at its tip and the missing backports)."""
    _, doc = fleet_json(fleet_repo, "v6.3..main", "v6.3..vendor")
    assert [b["name"] for b in doc["branches"]] == ["v6.3..main", "v6.3..vendor"]
    for b in doc["branches"]:
        _, alone = fleet_json(fleet_repo, b["range"])
        mine = {k: v for k, v in b.items() if k not in ("name", "ref", "tip", "open_at_tip", "missing_backports")}
        mine["summary"] = {k: v for k, v in mine["summary"].items() if k not in ("open_at_tip", "missing_backports")}
        assert without_volatile(mine) == without_volatile(alone)


def test_one_walk_over_the_union(fleet_repo, tmp_path):
    """Commits shared by branches are audited once, every blob is analysed
    once, and a second run reads everything from the store."""
    r = fleet_repo
    r.git("branch", "-f", "vendor2", "vendor~1")  # shares two commits with vendor
    try:
        git = GitRepo(r.path)
        plan = plan_branches(git, ["main", "stable", "vendor", "vendor2"], [], "v6.3")
        analysed = Counter()
        db = tmp_path / "store.sqlite"
        store = AuditStore(db)
        auditor = Auditor(git, select_rules(), store, AuditOptions(jobs=2))
        real = auditor.blobs.remember

        def remember(path, oid, version, res):
            analysed[(path, oid, str(version))] += 1
            real(path, oid, version, res)

        auditor.blobs.remember = remember
        fleet = auditor.run_fleet(plan)
        store.close()
        assert (fleet.commits, fleet.analysed_commits, fleet.stored_commits) == (7, 7, 0)
        assert [len(b.result.commits) for b in fleet.branches] == [3, 1, 3, 2]
        assert analysed and max(analysed.values()) == 1, analysed.most_common(3)
        store = AuditStore(db)
        again = Auditor(git, select_rules(), store, AuditOptions(jobs=1)).run_fleet(
            plan_branches(git, ["main", "stable", "vendor", "vendor2"], [], "v6.3")
        )
        store.close()
        assert (again.analysed_commits, again.stored_commits, again.files_analysed) == (0, 7, 0)

        def stable_part(f):
            out = []
            for b in f.to_dict()["branches"]:
                b = without_volatile(b)
                for c in b["commits"]:
                    c.pop("from_store")
                for k in ("from_store", "analysed"):
                    b["summary"].pop(k)
                out.append(b)
            return out

        assert stable_part(again) == stable_part(fleet)
        assert all(c.from_store for b in again.branches for c in b.result.commits)
        vendor2 = again.branches[3]
        assert [(m.finding.path, [x.commit.sha for x in m.fixed_in]) for m in vendor2.missing_backports] == [
            ("drivers/foo/foo.c", [r.fix, r.backport])
        ]
    finally:
        r.git("branch", "-D", "vendor2")


def test_a_branch_that_reverted_the_fix_is_not_missing_it(tmp_path):
    """Not when another branch carries a cherry-pick of the fix either (a
    stable tree's deliberate revert); a branch that never had it is."""
    r = ScratchRepo(tmp_path / "linux")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("base")
    r.git("tag", "base")
    r.git("branch", "stable")
    r.git("branch", "vendor")
    r.write("drivers/foo/foo.c", mmap_clean("foo_mmap"))
    fix = r.commit("foo: use vm_flags_set")
    r.git("checkout", "-q", "-b", "reverted")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("Revert 'foo: use vm_flags_set'")
    r.checkout("stable")
    r.day += 1
    r.git("cherry-pick", "-x", fix)
    backport = r.head()
    r.git("checkout", "-q", "-b", "stable-reverted")
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("Revert 'foo: use vm_flags_set' (stable)")
    # A pick of its own (no other branch has that commit), reverted since.
    r.git("checkout", "-q", "-b", "own-pick", "base")
    r.day += 1
    r.git("cherry-pick", fix)
    r.write("drivers/foo/foo.c", mmap_writer("foo_mmap"))
    r.commit("Revert 'foo: use vm_flags_set' (own pick)")
    # An unrelated rework that took the write out and a revert that put it
    # back: the branch never had the fix.
    r.git("checkout", "-q", "-b", "reworked", "base")
    r.write("drivers/foo/foo.c", "/* foo: mmap reworked */\n")
    rework = r.commit("foo: rework mmap")
    r.git("revert", "--no-edit", rework)
    r.checkout("main")
    names = ["main", "reverted", "stable", "stable-reverted", "vendor", "own-pick", "reworked"]
    _, doc = fleet_json(r, "--since", "base", *names)
    by_name = dict(zip(names, doc["branches"]))
    for name in ("reverted", "stable-reverted", "own-pick", "reworked", "vendor"):
        assert where(by_name[name]["open_at_tip"]) == [("DAX301", "drivers/foo/foo.c", 3)], name
    assert [n for n in names if by_name[n]["missing_backports"]] == ["vendor", "reworked"]
    for name in ("vendor", "reworked"):
        ((missing,),) = [by_name[name]["missing_backports"]]
        assert [x["sha"] for x in missing["fixed_in"]] == [fix, backport]


def test_a_branch_without_commits_is_compared_at_its_tip(fleet_repo):
    fleet_repo.git("branch", "-f", "old", "v6.3")
    try:
        _, doc = fleet_json(fleet_repo, "--since", "v6.3", "main", "vendor", "old")
    finally:
        fleet_repo.git("branch", "-D", "old")
    old = doc["branches"][2]
    assert old["commits"] == [] and old["tip"] == fleet_repo.head("v6.3")
    assert "the range v6.3..old has no commits" in old["notes"]
    assert where(old["open_at_tip"]) == [("DAX301", "drivers/bar/bar.c", 3), ("DAX301", "drivers/foo/foo.c", 3)]
    assert [(m["finding"]["path"], [x["branches"] for x in m["fixed_in"]]) for m in old["missing_backports"]] == [
        ("drivers/bar/bar.c", [["vendor"]]),
        ("drivers/foo/foo.c", [["main"]]),
    ]


def test_csv_text_and_html(fleet_repo, tmp_path):
    args = ["--repo", str(fleet_repo.path), "--no-cache", "-j", "1", "--since", "v6.3", "main", "stable", "vendor"]
    code, out, err = run_daxlint("audit", "--format", "csv", *args)
    assert code == 1, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["branch"], r["change"], r["path"]) for r in rows if r["change"] in ("missing-backport",)] == [
        ("main", "missing-backport", "drivers/bar/bar.c"),
        ("stable", "missing-backport", "drivers/bar/bar.c"),
        ("vendor", "missing-backport", "drivers/foo/foo.c"),
    ]
    vendor_rows = [(r["change"], r["rule_id"], r["path"], r["line"]) for r in rows if r["branch"] == "vendor"]
    assert vendor_rows == [
        ("introduced", "DAX301", "drivers/vendor/v.c", "3"),
        ("fixed", "DAX301", "drivers/bar/bar.c", "3"),
        ("introduced", "DAX301", "drivers/foo2/foo.c", "3"),
        ("open", "DAX301", "drivers/foo/foo.c", "3"),
        ("open", "DAX301", "drivers/foo2/foo.c", "3"),
        ("open", "DAX301", "drivers/vendor/v.c", "3"),
        ("missing-backport", "DAX301", "drivers/foo/foo.c", "3"),
    ]
    missing = next(r for r in rows if r["branch"] == "vendor" and r["change"] == "missing-backport")
    assert missing["fixed_in"] == f"{fleet_repo.fix} (main); {fleet_repo.backport} (stable)"
    assert missing["sha"] == fleet_repo.head("vendor")

    html = tmp_path / "fleet.html"
    code, out, err = run_daxlint("audit", "--html", str(html), *args)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "== main (v6.3..main): 3 commits, 1 introduced, 1 fixed, 2 open at the tip, 1 missing backport"
    assert [line[:48] for line in lines if line.startswith("  vendor: ")] == ["  vendor: drivers/foo/foo.c:3:2: error[DAX301] d"]
    fix = fleet_repo.fix[:12]
    assert f"    fixed by {fix} 2024-01-04 Bob Fixer: foo: use vm_flags_set (in main)" in lines
    assert lines[-1].startswith("Audited 3 branches (7 distinct commits) in ")
    assert lines[-1].endswith(": 3 introduced, 3 fixed, 6 open at the tips, 3 missing backports.")
    page = html.read_text()
    assert "<h2>Missing backports</h2>" in page and 'id="b2"' in page and 'id="b2-c-' in page
    assert page.count(f'id="b0-c-{fix}"') == 1 and f'href="#b0-c-{fix}"' in page


def test_bad_fleet_input_is_one_line(fleet_repo):
    for args, words in (
        (["--refs", "refs/heads/nosuch*"], "matches no ref"),
        (["--since", "nosuch", "main"], "bad revision 'nosuch'"),
        (["--since", "v6.3", "v6.3..main"], "give branch tips, not ranges"),
        (["--refs", "refs/heads/*", "main"], "a RANGE must be A..B"),
        ([], "give a RANGE"),
        (["--dashboard", "v6.3..main"], "go with --scheduler"),
    ):
        code, out, err = run_daxlint("audit", "--repo", str(fleet_repo.path), "--no-cache", *args)
        assert code == 2 and out == "", (args, err)
        assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, (args, err)


def test_terminal_view(fleet_repo):
    from rich.console import Console

    from daxlint.output.audit.fleet import print_fleet

    git = GitRepo(fleet_repo.path)
    fleet = Auditor(git, select_rules(), AuditStore(":memory:"), AuditOptions(jobs=1)).run_fleet(
        plan_branches(git, ["main", "stable", "vendor"], [], "v6.3")
    )
    console = Console(record=True, width=160, force_terminal=False, color_system=None, file=io.StringIO())
    print_fleet(fleet, console)
    text = console.export_text()
    rows = [
        [cell.strip() for cell in line.split("│")] for line in text.splitlines() if line.split()[:1] in (["main"], ["stable"], ["vendor"])
    ]
    # branch, range, commits, +, -, still open, open at tip, missing backports (zero as an empty cell)
    assert rows == [
        ["main", "v6.3..main", "3", "1", "1", "1", "2", "1"],
        ["stable", "v6.3..stable", "1", "", "1", "0", "1", "1"],
        ["vendor", "v6.3..vendor", "3", "2", "1", "2", "3", "1"],
    ]
    assert "  vendor: drivers/foo/foo.c:3 DAX301 direct write" in text
    assert f"    fixed by {fleet_repo.fix[:12]} 2024-01-04 Bob Fixer: foo: use vm_flags_set (in main)" in text
    assert text.rstrip().splitlines()[-1].startswith("Audited 3 branches (7 distinct commits)")
