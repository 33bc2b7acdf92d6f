"""daxlint on an out-of-tree driver's history, as its maintainer runs it:
no kernel top Makefile, compat branches under version guards, a compat
shim, conftest macros, a version range - through check, patch and audit."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import textwrap

import pytest

from audit_repo import ScratchRepo
from conftest import run_daxlint
from daxlint.core.catalog import newest_catalog_version

HEADER = "#include <linux/version.h>\n#include <linux/mm.h>\n\n"

DIRECT = HEADER + textwrap.dedent("""\
    static int toy_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	vma->vm_flags |= VM_IO | VM_DONTEXPAND;
    	return 0;
    }
    """)

COMPAT_ELSE = HEADER + textwrap.dedent("""\
    static int toy_mmap(struct file *file, struct vm_area_struct *vma)
    {
    #if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
    	vm_flags_set(vma, VM_IO | VM_DONTEXPAND);
    #else
    	vma->vm_flags |= VM_IO | VM_DONTEXPAND;
    #endif
    	return 0;
    }
    """)

SHIM = HEADER + textwrap.dedent("""\
    #ifndef HAVE_VM_FLAGS_SET	/* set by the module's conftest for >= 6.3 */
    static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
    {
    	vma->vm_flags |= flags;
    }
    #endif

    static int toy_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	vm_flags_set(vma, VM_IO | VM_DONTEXPAND);
    	return 0;
    }
    """)

GUARDED_CALL = SHIM.replace(
    "\treturn 0;\n}\n",
    "#ifdef HAVE_VM_FLAGS_SET\n\tvm_flags_clear(vma, VM_MAYWRITE);\n#else\n\tvma->vm_flags &= ~VM_MAYWRITE;\n#endif\n\treturn 0;\n}\n",
)

REGRESSION = GUARDED_CALL.replace("\treturn 0;\n}\n", "\tvma->vm_flags |= VM_DONTDUMP;\n\treturn 0;\n}\n")


@pytest.fixture
def driver(tmp_path):
    """An out-of-tree module's history: a direct write, then a compat #else
    branch, then a shim, then a conftest-guarded call, then a regression."""
    r = ScratchRepo(tmp_path / "toy-dkms", version=None)
    r.write("README", "toy out-of-tree driver\n")
    r.commit("initial import")
    steps = [("toy: mmap the device", DIRECT), ("toy: build on 6.3+", COMPAT_ELSE), ("toy: compat shim for vm_flags_set", SHIM),
             ("toy: clear VM_MAYWRITE", GUARDED_CALL), ("toy: keep core dumps small", REGRESSION)]  # fmt: skip
    r.shas = {}
    for subject, text in steps:
        r.write("toy.c", text)
        r.shas[subject] = r.commit(subject)
    r.first = r.head("HEAD~5")
    return r


def audit(repo, *args):
    code, out, err = run_daxlint(
        "audit", "--repo", str(repo.path), "--format", "json", "-j", "1", "--no-cache", f"{repo.first}..HEAD", *args
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def events(doc):
    return [
        (c["subject"], change, f["rule_id"], f["line"], f.get("versions"))
        for c in doc["commits"]
        for change in ("introduced", "fixed")
        for f in c[change]
    ]


def test_audit_one_version(driver):
    code, doc = audit(driver, "--kernel-version", "6.12")
    assert events(doc) == [
        ("toy: mmap the device", "introduced", "DAX301", 6, None),
        ("toy: build on 6.3+", "fixed", "DAX301", 6, None),
        # The conftest macro is unknown: the #else of the guarded call is
        # judged (and would be fine with -D HAVE_VM_FLAGS_SET).
        ("toy: clear VM_MAYWRITE", "introduced", "DAX301", 17, None),
        ("toy: keep core dumps small", "introduced", "DAX301", 19, None),
    ]
    assert code == 1


def test_audit_with_the_conftest_macro(driver):
    code, doc = audit(driver, "--kernel-version", "6.12", "-D", "HAVE_VM_FLAGS_SET")
    assert events(doc) == [
        ("toy: mmap the device", "introduced", "DAX301", 6, None),
        ("toy: build on 6.3+", "fixed", "DAX301", 6, None),
        ("toy: keep core dumps small", "introduced", "DAX301", 19, None),
    ]
    assert doc["open_at_end"] == {"DAX301": 1} and code == 1


def test_audit_range_with_version_dependent_macro(driver, tmp_path):
    (driver.path / ".daxlint.toml").write_text('kernel-version = "4.14..6.12"\n[macros]\nHAVE_VM_FLAGS_SET = ">=6.3"\n')
    code, out, err = run_daxlint("audit", "--format", "json", "-j", "1", "--no-cache", f"{driver.first}..HEAD", cwd=driver.path)
    assert code == 1, err
    doc = json.loads(out)
    assert events(doc) == [
        ("toy: mmap the device", "introduced", "DAX301", 6, "6.3..6.12"),
        ("toy: build on 6.3+", "fixed", "DAX301", 6, "6.3..6.12"),
        ("toy: keep core dumps small", "introduced", "DAX301", 19, "6.3..6.12"),
    ]
    assert {c["kernel_version"] for c in doc["commits"]} == {"4.14..6.12"}
    # Text and CSV say it too: "(v6.3+)", and a versions column.
    code, out, err = run_daxlint("audit", "--format", "text", "-j", "1", "--no-cache", f"{driver.first}..HEAD", cwd=driver.path)
    assert [(ln.split(": ", 1)[0], "(v6.3+)" in ln) for ln in out.splitlines() if ln.startswith(("  + ", "  - "))] == [
        ("  + toy.c:6:2", True),
        ("  - toy.c:6:2", True),
        ("  + toy.c:19:2", True),
    ]
    code, out, err = run_daxlint("audit", "--format", "csv", "-j", "1", "--no-cache", f"{driver.first}..HEAD", cwd=driver.path)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["change"], r["line"], r["versions"]) for r in rows] == [
        ("introduced", "6", "6.3..6.12"),
        ("fixed", "6", "6.3..6.12"),
        ("introduced", "19", "6.3..6.12"),
    ]


def test_audit_without_a_version_says_what_it_assumed(driver):
    code, out, err = run_daxlint("audit", "--repo", str(driver.path), "--format", "json", "-j", "1", "--no-cache", f"{driver.first}..HEAD")
    doc = json.loads(out)
    assert any("no kernel top Makefile" in n and f"assumed v{newest_catalog_version()}" in n for n in doc["notes"]), doc["notes"]


def patches(driver, tmp_path):
    out = tmp_path / "series"
    driver.git("format-patch", "-q", "-o", str(out), f"{driver.first}..HEAD")
    return sorted(out.glob("*.patch"))


@pytest.mark.parametrize("version, versions", [("6.12", None), ("4.14..6.12", "6.3..6.12")])
def test_patch_mode_verdicts(driver, tmp_path, version, versions):
    files = patches(driver, tmp_path)
    verdicts = []
    for p in files:  # each patch alone, read without its tree, as on a list
        code, out, err = run_daxlint("patch", "--format", "json", "--kernel-version", version, str(p), cwd=tmp_path)
        doc = json.loads(out)
        verdicts.append((code, [(f["rule_id"], f["line"], f.get("versions")) for f in doc["findings"]]))
    assert verdicts == [
        (1, [("DAX301", 6, versions)]),  # the direct write
        (0, []),  # moving it under a guard that excludes 6.3+ is a fix, not a new finding
        (0, []),  # the shim's body is not a finding: built only without vm_flags_set()
        # The conftest macro is unknown: the #else beside the wrapper is the
        # old side of a compat switch - info with the hint to declare it.
        (0, [("DAX301", 17, versions)]),
        (1, [("DAX301", 19, versions)]),  # the regression
    ]
    code, out, _ = run_daxlint(
        "patch", "--format", "json", "--kernel-version", version, "-D", "HAVE_VM_FLAGS_SET", *map(str, files), cwd=tmp_path
    )
    doc = json.loads(out)
    assert [(f["patch"], f["rule_id"], f["line"], f.get("fixed_by")) for f in doc["findings"]] == [
        (1, "DAX301", 6, 2),
        (5, "DAX301", 19, None),
    ]


def test_check_without_makefile_notes_the_version(tmp_path):
    (tmp_path / "toy.c").write_text(DIRECT)
    code, out, _ = run_daxlint("check", "--no-cache", "--format", "json", str(tmp_path))
    doc = json.loads(out)
    assert doc["kernel_version"] == str(newest_catalog_version())
    assert any("no kernel Makefile found" in n and f"assuming v{newest_catalog_version()}" in n for n in doc["notes"])
    code, out, _ = run_daxlint("patch", "--format", "json", "-", stdin=_diff_of(DIRECT), cwd=tmp_path)
    assert any("no kernel Makefile found" in n for n in json.loads(out)["notes"])


def _diff_of(text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{ln}\n" for ln in lines)
    return f"diff --git a/toy.c b/toy.c\nnew file mode 100644\n--- /dev/null\n+++ b/toy.c\n@@ -0,0 +1,{len(lines)} @@\n{body}"


def test_dkms_conf_gives_the_range(tmp_path):
    (tmp_path / "dkms.conf").write_text('PACKAGE_NAME="toy"\nBUILD_EXCLUSIVE_KERNEL="^(5\\.(1[5-9])|6\\.([0-9]|1[0-2]))\\."\n')
    (tmp_path / "toy.c").write_text(DIRECT)
    code, out, _ = run_daxlint("check", "--no-cache", "--format", "json", str(tmp_path))
    doc = json.loads(out)
    assert doc["kernel_version"] == "5.15..6.12"
    assert [(f["line"], f["versions"]) for f in doc["findings"]] == [(6, "6.3..6.12")]
    assert any("BUILD_EXCLUSIVE_KERNEL admits" in n and "dkms.conf" in n for n in doc["notes"])
    # The flag still wins over dkms.conf.
    code, out, _ = run_daxlint("check", "--no-cache", "--format", "json", "--kernel-version", "6.1", str(tmp_path))
    assert json.loads(out)["findings"] == []
    # The dry run says it too (the range decides plain or guarded fixes),
    # and so does an audit of the module's history.
    code, _, err = run_daxlint("check", "--no-cache", "--fix", "--dry-run", str(tmp_path))
    assert code == 1 and f"daxlint: checking v5.15..6.12, the kernels BUILD_EXCLUSIVE_KERNEL admits in {tmp_path}/dkms.conf" in err
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "toy"]):
        subprocess.run(["git", *args], cwd=tmp_path, env={**os.environ, **env}, check=True)
    code, out, err = run_daxlint("audit", "--repo", str(tmp_path), "--no-cache", "--format", "json", "HEAD")
    assert code in (0, 1), err
    assert any("BUILD_EXCLUSIVE_KERNEL admits" in n for n in json.loads(out)["notes"])


def test_range_in_every_format(tmp_path):
    (tmp_path / "toy.c").write_text(DIRECT)
    args = ("check", "--no-cache", "--kernel-version", "4.14..6.12", str(tmp_path / "toy.c"))
    code, out, _ = run_daxlint(*args)
    assert code == 1 and f"{tmp_path}/toy.c:6:2: error[DAX301]" in out and out.splitlines()[0].endswith("(v6.3+)")
    code, out, _ = run_daxlint(*args, "--format", "checkpatch")
    assert out.splitlines()[0].startswith("ERROR:DAX301: ") and out.splitlines()[0].endswith("(v6.3+)")
    code, out, _ = run_daxlint(*args, "--format", "github")
    assert out.startswith("::error ") and "(v6.3+)" in out.splitlines()[0]
    code, out, _ = run_daxlint(*args, "--format", "sarif")
    [result] = json.loads(out)["runs"][0]["results"]
    assert result["properties"]["versions"] == "6.3..6.12"


def test_defines_and_undefines_on_the_command_line(tmp_path):
    (tmp_path / "toy.c").write_text(GUARDED_CALL)
    base = ("check", "--no-cache", "--format", "json", "--kernel-version", "6.12", str(tmp_path / "toy.c"))
    lines = lambda out: [f["line"] for f in json.loads(out)["findings"]]  # noqa: E731
    assert lines(run_daxlint(*base)[1]) == [17]
    assert lines(run_daxlint(*base, "-D", "HAVE_VM_FLAGS_SET")[1]) == []
    assert lines(run_daxlint(*base, "-D", "HAVE_VM_FLAGS_SET", "-U", "HAVE_VM_FLAGS_SET")[1]) == [17]
    (tmp_path / ".daxlint.toml").write_text('[macros]\nHAVE_VM_FLAGS_SET = ">=6.3"\n')
    assert lines(run_daxlint(*base)[1]) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("--kernel-version", "6.12..4.14"), "comes before"),
        (("--kernel-version", "6.x"), "expected X.Y or a range"),
        (("-D", "1BAD"), "not a macro name"),
    ],
)
def test_bad_versions_and_macros_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "toy.c").write_text(DIRECT)
    code, out, err = run_daxlint("check", "--no-cache", *args, str(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_declared_compat_macro_decides_the_switch(tmp_path):
    """A compat switch whose macro is declared ([macros], with the versions
    its conftest defines it for) is decided: the old side is not judged for
    the kernels that have the wrapper, and the info about it is gone."""
    src = (
        "#include <linux/mm.h>\n"
        "static int toy_mmap(struct file *file, struct vm_area_struct *vma)\n{\n"
        "#ifdef TOY_VM_FLAGS_NOT_CONSTANT\n\tvma->vm_flags |= VM_IO;\n#else\n\tvm_flags_set(vma, VM_IO);\n#endif\n\treturn 0;\n}\n"
    )
    (tmp_path / "toy.c").write_text(src)
    code, out, _ = run_daxlint("check", "--no-cache", "--format", "json", "--kernel-version", "6.1..7.3", str(tmp_path))
    assert [(f["rule_id"], f["line"], f["severity"]) for f in json.loads(out)["findings"]] == [("DAX301", 5, "info")]
    (tmp_path / ".daxlint.toml").write_text('[macros]\nTOY_VM_FLAGS_NOT_CONSTANT = "<6.3"\n')
    code, out, _ = run_daxlint("check", "--no-cache", "--format", "json", "--kernel-version", "6.1..7.3", str(tmp_path))
    assert code == 0 and json.loads(out)["findings"] == []


SPLIT_SWITCH = (
    "#include <linux/mm.h>\n"
    "static int toy_mmap(struct file *file, struct vm_area_struct *vma)\n{\n"
    "#if defined(TOY_HAVE_VM_FLAGS_SET)\n\tvm_flags_set(vma, VM_IO);\n\tvm_flags_set(vma, VM_DONTEXPAND);\n"
    "#else\n\tvma->vm_flags |= VM_IO | VM_DONTEXPAND;\n#endif\n\treturn 0;\n}\n"
)
DESC_SWITCH = (
    "#include <linux/mm.h>\n"
    "static int toy_mmap_prepare(struct vm_area_desc *desc)\n{\n"
    "#ifdef TOY_HAVE_VMA_DESC_SET_FLAGS\n\tvma_desc_set_flags(desc, VMA_IO_BIT, VMA_DONTEXPAND_BIT);\n"
    "#else\n\tdesc->vm_flags |= VM_IO | VM_DONTEXPAND;\n#endif\n\treturn 0;\n}\n"
    "static const struct file_operations toy_fops = { .mmap_prepare = toy_mmap_prepare, };\n"
)


@pytest.mark.parametrize(
    "src,line,macro,versions",
    [(SPLIT_SWITCH, 8, "TOY_HAVE_VM_FLAGS_SET", ">=6.3"), (DESC_SWITCH, 7, "TOY_HAVE_VMA_DESC_SET_FLAGS", ">=7.0")],
    ids=["wrappers-split-differently", "bitmap-helpers-of-the-descriptor"],
)
def test_a_compat_switch_is_one_however_its_sides_spell_the_change(tmp_path, src, line, macro, versions):
    """The sides of a conftest switch that make the same change - the same
    flags of the same vma, in one statement or several, with masks or with
    the bitmap helpers' bit numbers - are a compat switch: the old side is
    info naming the macro to declare, --fix leaves it alone, and declaring
    the macro as hinted decides it."""
    (tmp_path / "toy.c").write_text(src)
    code, out, _ = run_daxlint(
        "check", "--no-cache", "--format", "json", "--select", "DAX301", "--kernel-version", "6.1..7.3", str(tmp_path)
    )
    (finding,) = json.loads(out)["findings"]
    assert (finding["line"], finding["severity"], code) == (line, "info", 0)
    assert f'[macros] {macro} = "{versions}"' in finding["fix"]["description"]
    run_daxlint("check", "--no-cache", "--fix", "--select", "DAX301", "--kernel-version", "6.1..7.3", str(tmp_path))
    assert (tmp_path / "toy.c").read_text() == src
    (tmp_path / ".daxlint.toml").write_text(f'[macros]\n{macro} = "{versions}"\n')
    code, out, _ = run_daxlint(
        "check", "--no-cache", "--format", "json", "--select", "DAX301", "--kernel-version", "6.1..7.3", str(tmp_path)
    )
    assert code == 0 and json.loads(out)["findings"] == []
