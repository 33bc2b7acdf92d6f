"""``daxlint patch`` without a tree: real series made with ``git format-patch``
in a temporary repository, checked as mbox, separate files and standard
input; findings are asserted by patch index, rule, file and line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import run_daxlint
from daxlint.patch.apply import declared_placements, map_line
from daxlint.patch.checker import SeriesChecker
from daxlint.patch.mail import PatchError, clean_subject, parse_series, repo_path
from daxlint.patch.partial import partial_text
from daxlint.patch.series import make_series

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dax Tester",
    "GIT_AUTHOR_EMAIL": "dax@example.org",
    "GIT_COMMITTER_NAME": "Dax Tester",
    "GIT_COMMITTER_EMAIL": "dax@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


class GitRepo:
    """A scratch repository to build series in."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        proc = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def write(self, rel: str, text: str | bytes) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)

    def edit(self, rel: str, old: str, new: str) -> None:
        p = self.path / rel
        text = p.read_text()
        assert old in text, (rel, old)
        p.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def format_patch(self, rev_range: str, outdir: Path, *extra: str) -> list[Path]:
        self.git("format-patch", "-q", "-M", "-o", str(outdir), *extra, rev_range)
        return sorted(outdir.glob("*.patch"))

    def mbox(self, rev_range: str) -> str:
        return self.git("format-patch", "-M", "--stdout", rev_range)


MAKEFILE = "VERSION = 6\nPATCHLEVEL = 3\nSUBLEVEL = 0\nEXTRAVERSION =\n"

BUS_C = textwrap.dedent("""\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/dax.h>

    static int helper(int x)
    {
    	return x + 1;
    }

    static long drv_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
    			      long nr_pages, enum dax_access_mode mode,
    			      void **kaddr, pfn_t *pfn)
    {
    	phys_addr_t phys = pgoff * PAGE_SIZE;
    	long avail = nr_pages;

    	if (kaddr)
    		*kaddr = NULL;
    	avail = helper(avail);
    	avail = helper(avail);
    	return avail;
    }
    """)

MMAP_C = textwrap.dedent("""\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/mm.h>

    static int drv_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	vma->vm_flags |= VM_IO | VM_DONTEXPAND;
    	return 0;
    }
    """)


def _steps(n: int, indent: str = "\t") -> str:
    return "".join(f"{indent}x = helper(x); /* step {i} */\n" for i in range(n))


OLD_NAME_C = (
    "// SPDX-License-Identifier: GPL-2.0\n"
    "static int helper(int x)\n{\n\treturn x;\n}\n\n"
    "static int named_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tint x = 0;\n\n" + _steps(14) + "\treturn x;\n}\n"
)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Base commit, then four patches:

    1. adds drivers/dax/mmap.c with a direct vm_flags write (DAX301, line 6)
    2. returns a page-less pfn from direct_access (DAX101, bus.c line 17)
    3. renames old_name.c to new_name.c adding a vm_flags write (DAX301,
       line 17, inside a function whose signature is outside the hunk),
       deletes a file, adds a binary file, changes a mode
    4. fixes patch 1's write and renames new_name.c again, dropping
       patch 3's write: both earlier findings are fixed by patch 4
    """
    root = tmp_path_factory.mktemp("series")
    repo = GitRepo(root / "linux")
    repo.write("Makefile", MAKEFILE)
    repo.write("drivers/dax/bus.c", BUS_C)
    repo.write("drivers/dax/old_name.c", OLD_NAME_C)
    repo.write("drivers/dax/obsolete.c", "int obsolete;\n")
    repo.write("Documentation/dax.rst", "DAX\n===\n")
    base = repo.commit("base")
    repo.write("drivers/dax/mmap.c", MMAP_C)
    repo.commit("dax: add mmap for the test device\n\nIt maps the device.")
    repo.edit("drivers/dax/bus.c", "\tif (kaddr)\n", "\tif (pfn)\n\t\t*pfn = phys_to_pfn_t(phys, PFN_DEV);\n\tif (kaddr)\n")
    repo.commit("dax: return a pfn from direct_access")
    repo.git("mv", "drivers/dax/old_name.c", "drivers/dax/new_name.c")
    repo.edit("drivers/dax/new_name.c", "/* step 5 */\n", "/* step 5 */\n\tvma->vm_flags &= ~VM_MAYWRITE;\n")
    repo.git("rm", "-q", "drivers/dax/obsolete.c")
    repo.write("drivers/dax/logo.bin", b"\x00\x89PNG\r\n\x1a\n\x00\x00")
    os.chmod(root / "linux" / "drivers/dax/bus.c", 0o755)
    repo.commit("dax: rename, drop obsolete code, add logo")
    repo.edit("drivers/dax/mmap.c", "\tvma->vm_flags |= VM_IO | VM_DONTEXPAND;\n", "\tvm_flags_set(vma, VM_IO | VM_DONTEXPAND);\n")
    repo.git("mv", "drivers/dax/new_name.c", "drivers/dax/final_name.c")
    repo.edit("drivers/dax/final_name.c", "\tvma->vm_flags &= ~VM_MAYWRITE;\n", "")
    repo.commit("dax: use vm_flags_set and settle the name")
    files = repo.format_patch(f"{base}..HEAD", root / "out")
    mbox = root / "series.mbox"
    mbox.write_text(repo.mbox(f"{base}..HEAD"))
    return {"repo": repo, "base": base, "files": files, "mbox": mbox, "root": root}


EXPECTED = {
    # (patch, rule, path, line, fixed_by)
    (1, "DAX301", "drivers/dax/mmap.c", 6, 4),
    (2, "DAX101", "drivers/dax/bus.c", 17, None),
    (3, "DAX301", "drivers/dax/new_name.c", 17, 4),
}
SUBJECTS = {
    1: "dax: add mmap for the test device",
    2: "dax: return a pfn from direct_access",
    3: "dax: rename, drop obsolete code, add logo",
    4: "dax: use vm_flags_set and settle the name",
}
ADDED_TEXT = {
    "DAX301": re.compile(r"^\+\tvma->vm_flags (\|=|&=)"),
    "DAX101": re.compile(r"^\+\t\t\*pfn = phys_to_pfn_t\(phys, PFN_DEV\);"),
}


def run_json(*args, cwd=None, stdin=None):
    rc, out, err = run_daxlint("patch", *args, "--format", "json", "--select", "DAX1,DAX3", cwd=cwd, stdin=stdin)
    assert rc in (0, 1), err
    return rc, json.loads(out)


def found(data) -> set:
    return {(f["patch"], f["rule_id"], f["path"], f["line"], f.get("fixed_by")) for f in data["findings"]}


def patch_line_of(path: Path, rule: str, nth: int = 0) -> int:
    """Line number, in a patch file, of the added line a rule must flag."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if ADDED_TEXT[rule].match(line)]
    return hits[nth]


def test_separate_patch_files(series):
    rc, data = run_json(*map(str, series["files"]), "--kernel-version", "6.3")
    assert rc == 1
    assert found(data) == EXPECTED
    for f in data["findings"]:
        assert f["subject"] == SUBJECTS[f["patch"]]
        source = series["files"][f["patch"] - 1]
        assert f["patch_line"] == patch_line_of(source, f["rule_id"])
    assert data["mode"] == "hunks"
    assert [p["index"] for p in data["patches"]] == [1, 2, 3, 4]
    statuses = {(fd["path"], fd["status"]) for p in data["patches"] for fd in p["files"]}
    assert {
        ("drivers/dax/new_name.c", "renamed"),
        ("drivers/dax/obsolete.c", "deleted"),
        ("drivers/dax/logo.bin", "added"),
        ("drivers/dax/final_name.c", "renamed"),
    } <= statuses


def test_mbox_numbers_lines_in_the_mbox(series):
    rc, data = run_json(str(series["mbox"]), "--kernel-version", "6.3")
    assert rc == 1
    assert found(data) == EXPECTED
    by_rule = {(f["rule_id"], f["patch"]): f["patch_line"] for f in data["findings"]}
    assert by_rule[("DAX301", 1)] == patch_line_of(series["mbox"], "DAX301", 0)
    assert by_rule[("DAX301", 3)] == patch_line_of(series["mbox"], "DAX301", 1)
    assert by_rule[("DAX101", 2)] == patch_line_of(series["mbox"], "DAX101", 0)


def test_stdin(series):
    rc, data = run_json("-", "--kernel-version", "6.3", stdin=series["mbox"].read_text())
    assert found(data) == EXPECTED


def test_cover_letter_is_skipped_and_indices_stay(series, tmp_path):
    files = series["repo"].format_patch(f"{series['base']}..HEAD", tmp_path / "cl", "--cover-letter")
    assert files[0].name.startswith("0000-")
    rc, data = run_json(*map(str, files), "--kernel-version", "6.3")
    assert found(data) == EXPECTED
    assert any("no patch in this mail" in n for n in data["notes"])


def test_kernel_version_decides_dax301(series):
    rc, data = run_json(str(series["mbox"]), "--kernel-version", "6.1")
    assert {f["rule_id"] for f in data["findings"]} == {"DAX101"}


def test_checkpatch_format(series):
    files = series["files"]
    rc, out, err = run_daxlint("patch", *map(str, files), "--kernel-version", "6.3", "--select", "DAX1,DAX3", "--format", "checkpatch")
    assert rc == 1, err
    first = str(files[0])
    assert out.startswith("-" * len(first) + "\n" + first + "\n" + "-" * len(first) + "\n")
    n = patch_line_of(files[0], "DAX301")
    assert "ERROR:DAX301: direct write '|=' to vma->vm_flags" in out
    assert (
        f"\n#{n}: FILE: drivers/dax/mmap.c:6:\n+\tvma->vm_flags |= VM_IO | VM_DONTEXPAND;\n(removed again by patch 4 of this series)\n"
        in out
    )
    n = patch_line_of(files[1], "DAX101")
    assert f"\n#{n}: FILE: drivers/dax/bus.c:17:\n" in out
    assert "WARNING:DAX101:" in out
    # one "total:" per patch, with the hunk lines checkpatch counts
    totals = re.findall(r"^total: (\d+) errors, (\d+) warnings, (\d+) lines checked$", out, re.M)
    assert [t[:2] for t in totals] == [("1", "0"), ("0", "1"), ("1", "0"), ("0", "0")]
    assert all(int(t[2]) > 0 for t in totals)
    assert f"{files[3]} has no obvious DAX policy problems." in out
    assert f"{first} has DAX policy problems, please review." in out


def test_checkpatch_terse(series):
    rc, out, _ = run_daxlint(
        "patch", str(series["mbox"]), "--kernel-version", "6.3", "--select", "DAX1,DAX3", "--format", "checkpatch", "--terse", "--showfile"
    )
    lines = [ln for ln in out.splitlines() if not ln.startswith("total:")]
    assert lines[0].startswith("drivers/dax/mmap.c:6: ERROR:DAX301: ")
    assert lines[1].startswith("drivers/dax/bus.c:17: WARNING:DAX101: ")
    assert lines[2].startswith("drivers/dax/new_name.c:17: ERROR:DAX301: ")
    assert len(lines) == 3
    # patch 4 is clean: quiet, no total for it
    assert len(re.findall(r"^total:", out, re.M)) == 3


def test_checkpatch_terse_positions_in_the_input(series):
    """Without --showfile, checkpatch's terse lines give the input's name
    and the line of the patch in it (an editor's compile mode opens the
    mail there); "-" for standard input."""
    mbox = series["mbox"]
    args = ("--kernel-version", "6.3", "--select", "DAX3", "--terse")  # --terse alone picks the checkpatch format
    _rc, out, _ = run_daxlint("patch", str(mbox), *args)
    n = patch_line_of(mbox, "DAX301")
    assert out.splitlines()[0].startswith(f"{mbox}:{n}: ERROR:DAX301: direct write")
    _rc, out, _ = run_daxlint("patch", "-", *args, stdin=mbox.read_text())
    assert out.splitlines()[0].startswith(f"-:{n}: ERROR:DAX301: direct write")


def test_checkpatch_output_options(series):
    """checkpatch.pl's -q, --no-summary, --mailback and --showfile, which b4
    and scripts pass to a per-patch check command."""
    files = series["files"]
    args = ("--kernel-version", "6.3", "--select", "DAX1,DAX3")
    # --mailback: a clean patch prints nothing (and passes)
    assert run_daxlint("patch", str(files[3]), *args, "--mailback") == (0, "", "")
    rc, out, _ = run_daxlint("patch", str(files[0]), *args, "--mailback")
    assert rc == 1 and "ERROR:DAX301:" in out
    # ... and in a series, only the patches with findings have a section
    _rc, out, _ = run_daxlint("patch", *map(str, files), *args, "--mailback")
    assert str(files[3]) not in out and str(files[0]) in out
    # -q: no verdicts or notes, and no total for the clean patch
    _rc, out, _ = run_daxlint("patch", *map(str, files), *args, "-q")
    assert "DAX policy problems" not in out and "NOTE:" not in out
    assert len(re.findall(r"^total: ", out, re.M)) == 3
    # --no-summary: no total line at all
    _rc, out, _ = run_daxlint("patch", *map(str, files), *args, "--no-summary")
    assert "total:" not in out and f"{files[3]} has no obvious DAX policy problems." in out
    # --showfile: the patched file's position leads, the #N: FILE: line goes
    _rc, out, _ = run_daxlint("patch", str(files[0]), *args, "--showfile", "--no-summary")
    assert out.startswith("drivers/dax/mmap.c:6: ERROR:DAX301: direct write '|=' to vma->vm_flags")
    assert "\n+\tvma->vm_flags |= VM_IO | VM_DONTEXPAND;\n" in out and "FILE:" not in out
    # b4's command line: one line per finding, nothing else
    rc, out, err = run_daxlint(
        "patch", "-q", "--terse", "--no-summary", "--mailback", "--showfile", "-", *args, stdin=series["mbox"].read_text()
    )
    assert rc == 1 and err == ""
    assert [ln.split(": ", 2)[:2] for ln in out.splitlines()] == [
        ["drivers/dax/mmap.c:6", "ERROR:DAX301"],
        ["drivers/dax/bus.c:17", "WARNING:DAX101"],
        ["drivers/dax/new_name.c:17", "ERROR:DAX301"],
    ]
    # --format wins over the checkpatch options' choice
    rc, out, _ = run_daxlint("patch", str(files[0]), *args, "--terse", "--format", "json")
    assert json.loads(out)["findings"][0]["rule_id"] == "DAX301"


@pytest.mark.parametrize("fmt", ["text", "sarif", "github"])
def test_other_formats(series, fmt):
    rc, out, err = run_daxlint("patch", str(series["mbox"]), "--kernel-version", "6.3", "--format", fmt)
    assert rc == 1, err
    assert "drivers/dax/mmap.c" in out
    if fmt == "text":
        assert "drivers/dax/mmap.c:6:2: error[DAX301]" in out
        assert "(patch 1: dax: add mmap for the test device) [removed again by patch 4]" in out
    if fmt == "sarif":
        results = json.loads(out)["runs"][0]["results"]
        assert {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results} >= {
            ("DAX301", 6),
            ("DAX101", 17),
        }


def test_exit_zero_and_fail_on(series):
    rc, _, _ = run_daxlint("patch", str(series["mbox"]), "--kernel-version", "6.3", "--exit-zero")
    assert rc == 0
    rc, _, _ = run_daxlint("patch", str(series["files"][1]), "--select", "DAX101", "--fail-on", "error")
    assert rc == 0  # DAX101 here is a warning


def test_only_added_lines_count(tmp_path):
    """A violation already in the file (a context line) is not the patch's;
    a multi-line call whose flags the patch changes on its second line is."""
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE)
    repo.write(
        "drivers/x.c",
        textwrap.dedent("""\
        static int old_mmap(struct file *file, struct vm_area_struct *vma)
        {
        	vma->vm_flags |= VM_IO;
        	return 0;
        }

        static long da(struct dax_device *d, pgoff_t pgoff, pfn_t *pfn)
        {
        	*pfn = phys_to_pfn_t(pgoff << PAGE_SHIFT,
        			     PFN_DEV | PFN_MAP);
        	return 1;
        }
        """),
    )
    base = repo.commit("base")
    repo.edit("drivers/x.c", "\treturn 0;\n", '\tpr_debug("mapped\\n");\n\treturn 0;\n')
    repo.edit("drivers/x.c", "PFN_DEV | PFN_MAP);", "PFN_DEV);")
    repo.commit("x: debug and drop PFN_MAP")
    (patch,) = repo.format_patch(f"{base}..HEAD", tmp_path / "out")
    rc, data = run_json(str(patch), "--kernel-version", "6.3")
    # The finding rests on the line the patch added inside the flagged call
    # (line 11), not on the call's first line, which it did not touch.
    assert found(data) == {(1, "DAX101", "drivers/x.c", 11, None)}
    f = data["findings"][0]
    assert (f["column"], f["snippet"]) == (9, "PFN_DEV);")
    lines = patch.read_text().splitlines()
    assert lines[f["patch_line"] - 1] == "+\t\t\t     PFN_DEV);"
    # checkpatch prints the patch's own lines: the context line with its
    # space, the added one with its "+", tabs kept.
    rc, out, _ = run_daxlint("patch", str(patch), "--kernel-version", "6.3", "--format", "checkpatch")
    assert f"#{f['patch_line']}: FILE: drivers/x.c:11:\n \t*pfn = phys_to_pfn_t(pgoff << PAGE_SHIFT,\n+\t\t\t     PFN_DEV);\n" in out


def test_hunk_header_function_gives_rules_the_parameters(tmp_path):
    """Far from its signature a vma write is still known to be one: the
    hunk header's function line is put back above the hunk."""
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE)
    repo.write(
        "drivers/y.c",
        "static int helper(int x)\n{\n\treturn x;\n}\n\n"
        "static int far_mmap(struct file *file, struct vm_area_struct *vma)\n{\n\tint x = 0;\n\n" + _steps(20) + "\treturn x;\n}\n",
    )
    base = repo.commit("base")
    repo.edit("drivers/y.c", "/* step 15 */\n", "/* step 15 */\n\tvma->vm_flags |= VM_LOCKED;\n")
    repo.commit("y: lock")
    (patch,) = repo.format_patch(f"{base}..HEAD", tmp_path / "out")
    assert "@@ static int far_mmap(struct file *file, struct vm_area_struct *vma)" in patch.read_text()
    rc, data = run_json(str(patch), "--kernel-version", "6.3")
    assert found(data) == {(1, "DAX301", "drivers/y.c", 26, None)}
    assert data["findings"][0]["function"] == "far_mmap"


def test_partial_text_layout():
    patches, _ = parse_series(
        [
            (
                "p.diff",
                textwrap.dedent("""\
        --- a/drivers/z.c
        +++ b/drivers/z.c
        @@ -40,3 +40,4 @@ static int z_mmap(struct file *file,
         	a();
        +	vma->vm_flags |= VM_IO;
         	b();
         }
        @@ -90,2 +91,3 @@ static const struct dax_operations z_ops = {
         	.owner = THIS_MODULE,
        +	.direct_access = z_direct_access,
         };
        """).encode(),
            )
        ]
    )
    (fd,) = patches[0].files
    text = partial_text(fd, declared_placements(fd)).decode()
    lines = text.splitlines()
    assert lines[38] == "static int z_mmap(struct file *file) {"  # an unfinished signature is closed
    assert lines[40] == "\tvma->vm_flags |= VM_IO;"  # new line 41 stays line 41
    assert lines[89] == "static const struct dax_operations z_ops = {"
    assert lines[91] == "\t.direct_access = z_direct_access,"
    assert all(not ln.strip() for ln in lines[43:89])


def test_partial_kconfig_gets_its_entry_back():
    patches, _ = parse_series(
        [
            (
                "k.diff",
                textwrap.dedent("""\
        --- a/drivers/dax/Kconfig
        +++ b/drivers/dax/Kconfig
        @@ -20,3 +20,4 @@ config DEV_DAX_PMEM
         	tristate "PMEM DAX"
         	depends on LIBNVDIMM
        +	depends on FS_DAX
         	default DEV_DAX
        """).encode(),
            )
        ]
    )
    (fd,) = patches[0].files
    lines = partial_text(fd, declared_placements(fd)).decode().splitlines()
    assert lines[18:22] == ["config DEV_DAX_PMEM", '\ttristate "PMEM DAX"', "\tdepends on LIBNVDIMM", "\tdepends on FS_DAX"]


def test_partial_text_reopens_blocks_and_comments():
    """A hunk that closes an if-block it does not show, or ends a comment
    it does not show, is laid out so the parser sees a function body."""
    patches, _ = parse_series(
        [
            (
                "p.diff",
                textwrap.dedent("""\
        --- a/drivers/w.c
        +++ b/drivers/w.c
        @@ -50,6 +50,7 @@ w_mmap(struct file *file, struct vm_area_struct *vma)
         		 * still inside a comment
         		 */
         		return -EINVAL;
         	}
        +	vma->vm_flags |= VM_IO;
         	return 0;
         }
        """).encode(),
            )
        ]
    )
    (fd,) = patches[0].files
    lines = partial_text(fd, declared_placements(fd)).decode().splitlines()
    assert lines[48] == "int w_mmap(struct file *file, struct vm_area_struct *vma) { { /*"
    assert lines[53] == "\tvma->vm_flags |= VM_IO;"


def test_map_line_follows_and_removes():
    patches, _ = parse_series(
        [
            (
                "p.diff",
                textwrap.dedent("""\
        --- a/f.c
        +++ b/f.c
        @@ -3,3 +3,4 @@
         c
        +new
         d
         e
        @@ -10,3 +11,2 @@
         j
        -k
         l
        """).encode(),
            )
        ]
    )
    pl = declared_placements(patches[0].files[0])
    assert map_line(pl, 1) == 1
    assert map_line(pl, 4) == 5
    assert map_line(pl, 11) is None
    assert map_line(pl, 12) == 12
    assert map_line(pl, 40) == 40


def test_subjects_and_paths():
    assert clean_subject("[PATCH v2 3/7] mm: fix  it") == "mm: fix it"
    assert clean_subject("Re: [RFC PATCH] dax: x") == "dax: x"
    assert repo_path("a/drivers/x.c") == "drivers/x.c"
    for bad in ("a/../x.c", "/etc/passwd", "a//etc/passwd", "b/drivers/../../x"):
        with pytest.raises(PatchError):
            repo_path(bad, "p:1")


def test_library_api_in_process(series):
    from daxlint.core.kernel import KernelContext
    from daxlint.core.registry import select_rules
    from daxlint.version import KernelVersion

    sources = [(str(p), p.read_bytes()) for p in series["files"]]
    patches, _ = parse_series(sources)
    kernel = KernelContext(None, KernelVersion(6, 3), "flag")
    result = SeriesChecker(select_rules(["DAX1", "DAX3"]), kernel).check(patches, make_series(None))
    got = {(f.patch, f.rule_id, f.path, f.line, f.fixed_by) for f in result.report.findings}
    assert got == EXPECTED
    assert result.lines_checked == sum(p.lines_checked for p in patches)


# -- bad input -----------------------------------------------------------------


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_truncated_hunk_names_patch_and_line(series, tmp_path):
    text = series["files"][2].read_text()
    cut = text[: text.index("+\tvma->vm_flags &= ~VM_MAYWRITE;")]
    bad = tmp_path / "0003-cut.patch"
    bad.write_text(cut)
    rc, out, err = run_daxlint("patch", str(series["files"][0]), str(bad))
    assert rc == 2 and out == ""
    line = one_error_line(err)
    n = cut.count("\n")
    assert f"{bad}:{n}: malformed diff" in line
    assert SUBJECTS[3] in line and "@@ -" in line


def test_hunk_counts_that_lie(series, tmp_path):
    text = series["files"][1].read_text()
    bad = tmp_path / "bad.patch"
    bad.write_text(re.sub(r"@@ -(\d+),6 \+(\d+),8 @@", r"@@ -\1,6 +\2,12 @@", text))
    rc, _, err = run_daxlint("patch", str(bad))
    assert rc == 2
    assert re.search(rf"{re.escape(str(bad))}:\d+: malformed diff .*hunk @@ -\d+,6 \+\d+,12 @@", one_error_line(err))


def test_broken_base64_mail(tmp_path):
    mail = tmp_path / "b64.eml"
    mail.write_text(
        "From: a@example.org\nSubject: [PATCH] x\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "ZGlmZiAtLWdpdCBh*L3guYyBiL3guYwo=x\n"
    )
    rc, _, err = run_daxlint("patch", str(mail))
    assert rc == 2
    assert "not valid base64" in one_error_line(err)


@pytest.mark.parametrize(
    "content,message",
    [
        ("just some text\n", "no diff found"),
        ("\x00\x01binary", "binary data"),
    ],
)
def test_not_a_patch(tmp_path, content, message):
    p = tmp_path / "x.patch"
    p.write_bytes(content.encode())
    rc, _, err = run_daxlint("patch", str(p))
    assert rc == 2 and message in one_error_line(err)


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "no patches given"),
        (("missing.patch",), "missing.patch: no such file"),
        (("-", "-"), "more than once"),
        (("x.patch", "--git", "HEAD"), "not both"),
        (("x.patch", "--kernel-version", "six"), "invalid kernel version"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    (tmp_path / "x.patch").write_text("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    rc, _, err = run_daxlint("patch", *args, cwd=tmp_path, stdin="")
    assert rc == 2 and message in one_error_line(err)


@pytest.mark.parametrize("old,new", [("a/drivers/dax/bus.c", "a/../bus.c"), ("b/drivers/dax/bus.c", "b//etc/bus.c")])
def test_paths_leaving_the_tree_are_refused(series, tmp_path, old, new):
    bad = tmp_path / "evil.patch"
    bad.write_text(series["files"][1].read_text().replace(old, new))
    rc, out, err = run_daxlint("patch", str(bad))
    assert rc == 2 and out == ""
    assert "refusing" in one_error_line(err) and str(bad) in err


def test_bare_diff_and_quoted_printable_mail(tmp_path):
    diff = textwrap.dedent("""\
        --- a/drivers/q.c
        +++ b/drivers/q.c
        @@ -0,0 +1,4 @@
        +static int q_mmap(struct file *f, struct vm_area_struct *vma)
        +{
        +	vma->vm_flags |= VM_IO;
        +}
        """)
    (tmp_path / "q.diff").write_text(diff)
    rc, data = run_json(str(tmp_path / "q.diff"), "--kernel-version", "6.3")
    assert found(data) == {(1, "DAX301", "drivers/q.c", 3, None)}
    assert data["findings"][0]["patch_line"] == 6
    qp = diff.replace("\t", "=09")
    (tmp_path / "qp.eml").write_text(
        "From: a@example.org\nSubject: [PATCH] q: add\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + qp
    )
    rc, data = run_json(str(tmp_path / "qp.eml"), "--kernel-version", "6.3")
    assert found(data) == {(1, "DAX301", "drivers/q.c", 3, None)}
    assert data["findings"][0]["subject"] == "q: add"
