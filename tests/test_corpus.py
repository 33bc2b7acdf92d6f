"""The historical corpus (corpus/) and ``daxlint corpus``.

The shipped corpus is run end to end and judged entry by entry against the
expectations its entries write down (which come from the policy). An entry
whose only shortfall is a rule that does not exist yet is an expected
failure naming that rule; everything else must match exactly. Small corpora
and a throw-away git repository built here exercise exit codes, bad input and
``--kernel-git``."""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path

import pygit2
import pytest

from conftest import REPO, run_daxlint
from daxlint.core.registry import all_rules
from daxlint.corpus.entries import STATES, load_corpus

CORPUS = REPO / "corpus"
ENTRY_IDS = sorted(p.name for p in CORPUS.iterdir() if (p / "entry.toml").is_file())


@pytest.fixture(scope="module")
def corpus_json():
    code, out, err = run_daxlint("corpus", "--format", "json")
    assert code in (0, 1), err
    doc = json.loads(out)
    assert code == (0 if all(e["status"] == "match" for e in doc["entries"]) else 1)
    return {e["id"]: e for e in doc["entries"]}


# -- the shipped corpus ---------------------------------------------------


def test_corpus_covers_the_history_the_policy_names():
    entries = load_corpus(CORPUS)
    assert len(entries) >= 15
    commits = {e.upstream_commit[:12] for e in entries}
    required_commits = (
        "34c0fd540e79",
        "569d0365f571",
        "785a3fab4adb",
        "e1fb4a086495",
        "bc292ab00f6c",
        # the 6.13-7.3 history: .mmap_prepare, its conversions, the VMA flags bitmap, FS_DAX_LIMITED's end
        "c84bf6dd2b83",
        "8e18a7f43557",
        "5bd2c0650a90",
        "d8bc7934db0c",
        "653d7825c149",
        "9d5403b1036c",
        "4995c67d4ed3",
    )
    for required in required_commits:
        assert required in commits, f"no corpus entry for {required}"
    by_id = {e.id: e for e in entries}
    for proposal in ("005-post-mmap-proposal", "025-unlocked-vma-set-flags"):
        assert by_id[proposal].pseudo and not by_id[proposal].merged
    topics = ("per-file-dax", "cramfs", "dcssblk", "device-dax", "virtio-fs", "pfn-t-removal")
    topics += ("mmap-prepare-introduction", "devdax-mmap-prepare", "vma-flags-bitmap", "dcssblk-dax-broken", "zone-device")
    for topic in topics:
        assert any(topic in e.id for e in entries), f"no entry about {topic}"
    families = {r[:4] for e in entries for s in STATES for r in e.expected[s]}
    assert {"DAX1", "DAX2", "DAX3"} <= families
    # The 7.x rules are held to real history too: the state each one must report.
    assert "DAX310" in by_id["018-devdax-mmap-prepare"].expected["before"]
    assert "DAX308" in by_id["023-stateful-mmap-prepare"].expected["after"]
    assert "DAX307" in by_id["025-unlocked-vma-set-flags"].expected["after"]
    for complying in ("017-mmap-prepare-introduction", "019-vma-flags-bitmap-users", "024-mmap-prepare-mapped-hook"):
        assert not by_id[complying].expected["after"], complying
    assert {"violates", "fixes"} <= {e.side for e in entries}
    assert any(not e.expected["before"] and not e.expected["after"] for e in entries)
    assert any(e.expected["before"] and not e.expected["after"] for e in entries)


def test_corpus_code_is_ours():
    """Entries reproduce patterns in our own C: no kernel file headers."""
    for path in CORPUS.rglob("*"):
        if path.is_file() and (path.suffix in (".c", ".h") or path.name.startswith("Kconfig")):
            text = path.read_text()
            assert "SPDX-License-Identifier" not in text and "Copyright" not in text, path


@pytest.mark.parametrize("entry_id", ENTRY_IDS)
def test_corpus_entry(entry_id, corpus_json):
    meta = tomllib.loads((CORPUS / entry_id / "entry.toml").read_text())
    got = corpus_json[entry_id]
    assert got["upstream_commit"] == meta["upstream_commit"]
    assert got["subject"] == " ".join(meta["subject"].split())
    assert got["kernel_version"] == meta["kernel_version"]
    registered = {r.id for r in all_rules()}
    not_yet = []
    for state in got["states"]:
        expected = sorted(set(meta[f"expected_{state['state']}"]))
        assert state["expected"] == expected
        assert not state["errors"], f"{entry_id} {state['state']}: a rule crashed: {state['errors']}"
        where = [f"{f['path']}:{f['line']} {f['rule_id']}" for f in state["findings"]]
        # Every rule that exists must agree exactly with the policy.
        assert [r for r in state["actual"] if r in registered] == [r for r in expected if r in registered], (
            f"{entry_id} {state['state']}: expected {expected}, reported {where}"
        )
        not_yet += [r for r in expected if r not in registered]
    if not_yet:
        assert got["status"] == "mismatch"
        pytest.xfail(f"rules not written yet: {', '.join(sorted(set(not_yet)))}")
    assert got["status"] == "match"


# -- small corpora: behaviour of the command ------------------------------

DIRECT_WRITE = """\
static int drv_mmap(struct file *file, struct vm_area_struct *vma)
{
	vma->vm_flags |= VM_IO | VM_DONTEXPAND;
	return 0;
}
"""
WRAPPER = """\
static int drv_mmap(struct file *file, struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_IO | VM_DONTEXPAND);
	return 0;
}
"""


def make_entry(
    root: Path,
    name: str,
    *,
    commit="bc292ab00f6c",
    before=DIRECT_WRITE,
    after=WRAPPER,
    expected_before=("DAX301",),
    expected_after=(),
    version="6.3",
    extra="",
) -> Path:
    entry = root / name
    for state, code in (("before", before), ("after", after)):
        if code is not None:
            (entry / state).mkdir(parents=True)
            (entry / state / "drv.c").write_text(code)
    (entry / "entry.toml").write_text(
        textwrap.dedent(f"""\
        upstream_commit = "{commit}"
        subject = "test: {name}"
        kernel_version = "{version}"
        side = "fixes"
        summary = "A test entry."
        expected_before = {json.dumps(list(expected_before))}
        expected_after = {json.dumps(list(expected_after))}
        """)
        + extra
    )
    return entry


def test_matching_corpus_exits_0(tmp_path):
    make_entry(tmp_path, "001-wrappers")
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json")
    assert code == 0, err
    entry = json.loads(out)["entries"][0]
    assert entry["status"] == "match"
    assert entry["expected"] == ["DAX301"] and entry["actual"] == ["DAX301"]
    before = entry["states"][0]
    assert before["state"] == "before" and before["kernel_version"] == "6.3"
    assert [(f["rule_id"], f["path"], f["line"]) for f in before["findings"]] == [("DAX301", "before/drv.c", 3)]


def test_mismatch_exits_1_and_says_what_differs(tmp_path):
    make_entry(tmp_path, "001-wrong", expected_before=(), expected_after=("DAX301",))
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json")
    assert code == 1, err
    entry = json.loads(out)["entries"][0]
    assert entry["status"] == "mismatch"
    before, after = entry["states"]
    assert before["unexpected"] == ["DAX301"] and before["status"] == "mismatch"
    assert after["missing"] == ["DAX301"] and after["status"] == "mismatch"


def test_version_per_state(tmp_path):
    # The same direct write is legal as v6.2 and a finding as v6.3.
    make_entry(
        tmp_path,
        "001-versions",
        after=DIRECT_WRITE,
        expected_before=(),
        expected_after=("DAX301",),
        extra='kernel_version_before = "6.2"\n',
    )
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json")
    assert code == 0, err
    states = json.loads(out)["entries"][0]["states"]
    assert [(s["kernel_version"], s["actual"]) for s in states] == [("6.2", []), ("6.3", ["DAX301"])]


def test_text_report(tmp_path):
    make_entry(tmp_path, "001-wrappers")
    make_entry(tmp_path, "002-wrong", expected_before=())
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path))
    assert code == 1, err
    assert "001-wrappers" in out and "bc292ab00f6c" in out and "v6.3" in out
    assert "unexpected DAX301" in out
    assert "before/drv.c:3" in out  # the finding behind a mismatch is shown
    assert "per rule" in out and "direct-vm-flags-write" in out
    assert "2 entries: 1 match, 1 mismatch" in out


def test_entry_without_before_state(tmp_path):
    make_entry(tmp_path, "001-new-driver", before=None, expected_before=(), after=WRAPPER)
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json")
    assert code == 0, err
    before = json.loads(out)["entries"][0]["states"][0]
    assert before["present"] is False and before["status"] == "match"


def test_selection_and_list(tmp_path):
    make_entry(tmp_path, "001-wrappers")
    make_entry(tmp_path, "002-other", commit="569d0365f571")
    code, out, _ = run_daxlint("corpus", "--corpus", str(tmp_path), "--list")
    assert code == 0 and "001-wrappers" in out and "002-other" in out
    code, out, _ = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json", "569d0365f571")
    assert [e["id"] for e in json.loads(out)["entries"]] == ["002-other"]
    code, out, _ = run_daxlint("corpus", "--corpus", str(tmp_path), "--format", "json", "001")
    assert [e["id"] for e in json.loads(out)["entries"]] == ["001-wrappers"]
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path), "nothing-like-this")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nothing-like-this" in err


@pytest.mark.parametrize(
    "toml_extra, message",
    [
        ('kernel_version_after = "six"\n', "kernel_version_after"),
        ("expected_typo = []\n", "unknown key"),
    ],
)
def test_bad_entry_is_a_usage_error(tmp_path, toml_extra, message):
    make_entry(tmp_path, "001-bad", extra=toml_extra)
    code, out, err = run_daxlint("corpus", "--corpus", str(tmp_path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_bad_rule_id_and_bad_commit(tmp_path):
    make_entry(tmp_path, "001-bad", expected_before=("DAX3O1",))
    code, _, err = run_daxlint("corpus", "--corpus", str(tmp_path))
    assert code == 2 and "DAX3O1" in err
    other = tmp_path / "other"
    make_entry(other, "001-bad", commit="not-a-commit")
    code, _, err = run_daxlint("corpus", "--corpus", str(other))
    assert code == 2 and "not-a-commit" in err


def test_missing_corpus_dir(tmp_path):
    code, _, err = run_daxlint("corpus", "--corpus", str(tmp_path / "absent"))
    assert code == 2 and "absent" in err


def test_output_file(tmp_path):
    corpus = tmp_path / "c"
    make_entry(corpus, "001-wrappers")
    target = tmp_path / "report.json"
    code, out, err = run_daxlint("corpus", "--corpus", str(corpus), "--format", "json", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["summary"] == {"entries": 1, "match": 1, "mismatch": 0}


def test_explain_links_rules_to_the_corpus():
    code, out, err = run_daxlint("explain", "DAX301", "--plain")
    assert code == 0, err
    assert "## In the corpus" in out
    assert "015-vm-flags-wrappers" in out and "bc292ab00f6c" in out
    code, out, err = run_daxlint("explain", "DAX308", "--plain")
    assert code == 0, err
    assert "023-stateful-mmap-prepare" in out and "9d5403b1036c" in out


# -- --kernel-git -----------------------------------------------------------


def _commit(repo: pygit2.Repository, files: dict[str, str], message: str, parents: list) -> pygit2.Oid:
    """A commit whose tree holds exactly ``files`` (nested paths allowed)."""

    def build(entries: dict) -> pygit2.Oid:
        tb = repo.TreeBuilder()
        for name, value in sorted(entries.items()):
            if isinstance(value, dict):
                tb.insert(name, build(value), pygit2.GIT_FILEMODE_TREE)
            else:
                tb.insert(name, repo.create_blob(value.encode()), pygit2.GIT_FILEMODE_BLOB)
        return tb.write()

    nested: dict = {}
    for path, text in files.items():
        *dirs, leaf = path.split("/")
        node = nested
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = text
    sig = pygit2.Signature("Corpus Test", "corpus@example.invalid", 1700000000, 0)
    return repo.create_commit("refs/heads/main", sig, sig, message, build(nested), parents)


MAKEFILE = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\n"


@pytest.fixture
def kernel_clone(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "linux"), bare=False)
    first = _commit(repo, {"Makefile": MAKEFILE, "drivers/x/drv.c": DIRECT_WRITE, "README": "x\n"}, "drv: add driver\n", [])
    second = _commit(
        repo,
        {"Makefile": MAKEFILE, "drivers/x/drv.c": WRAPPER, "README": "y\n"},
        "drv: use vm_flags_set()\n\nConvert the driver to the wrappers.\n",
        [first],
    )
    return tmp_path / "linux", str(first), str(second)


def test_kernel_git_found_missing_and_pseudo(tmp_path, kernel_clone):
    clone, first, second = kernel_clone
    corpus = tmp_path / "corpus"
    make_entry(corpus, "001-found", commit=second[:12])
    make_entry(corpus, "002-not-there", commit="0123456789ab")
    make_entry(corpus, "003-pseudo", commit="pseudo:proposal", extra="merged = false\n")
    make_entry(corpus, "004-root-commit", commit=first)
    code, out, err = run_daxlint("corpus", "--corpus", str(corpus), "--kernel-git", str(clone), "--format", "json")
    assert code == 0, err  # the upstream check informs; the corpus itself matches
    entries = {e["id"]: e for e in json.loads(out)["entries"]}

    found = entries["001-found"]["upstream"]
    assert found["status"] == "checked"
    assert found["commit"] == second and found["subject"] == "drv: use vm_flags_set()"
    assert found["before"]["kernel_version"] == "6.3" and found["before"]["files"] == 1
    assert found["before"]["rule_ids"] == ["DAX301"]
    assert [(f["path"], f["line"]) for f in found["before"]["findings"]] == [("drivers/x/drv.c", 3)]
    assert found["after"]["rule_ids"] == []

    missing = entries["002-not-there"]["upstream"]
    assert missing["status"] == "missing" and "0123456789ab" in missing["note"]

    pseudo = entries["003-pseudo"]["upstream"]
    assert pseudo["status"] == "skipped" and "never merged" in pseudo["note"]

    root = entries["004-root-commit"]["upstream"]
    assert root["status"] == "missing" and "parent" in root["note"]


def test_kernel_git_text_report(tmp_path, kernel_clone):
    clone, _first, second = kernel_clone
    corpus = tmp_path / "corpus"
    make_entry(corpus, "001-found", commit=second[:12])
    make_entry(corpus, "002-not-there", commit="0123456789ab")
    code, out, err = run_daxlint("corpus", "--corpus", str(corpus), "--kernel-git", str(clone))
    assert code == 0, err
    assert f"upstream {second[:12]}: before (v6.3, 1 file) DAX301; after (v6.3, 1 file) -" in out
    assert "upstream: missing: commit 0123456789ab is not in" in out


def test_kernel_git_not_a_repository(tmp_path):
    corpus = tmp_path / "corpus"
    make_entry(corpus, "001-found")
    (tmp_path / "plain").mkdir()
    code, _, err = run_daxlint("corpus", "--corpus", str(corpus), "--kernel-git", str(tmp_path / "plain"))
    assert code == 2 and "not a git repository" in err and len(err.strip().splitlines()) == 1
