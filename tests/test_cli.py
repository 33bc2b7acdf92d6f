"""The command line contracts shared by every command: exit codes, formats,
options, config, suppressions and bad input - end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import FIXTURES, run_daxlint

DIRECT_WRITE = textwrap.dedent("""\
    static int drv_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	vma->vm_flags |= VM_IO;
    	return 0;
    }
    """)
CLEAN = textwrap.dedent("""\
    static int drv_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	vm_flags_set(vma, VM_IO);
    	return 0;
    }
    """)


def make_tree(root: Path, version: tuple[int, int] = (6, 3), files: dict[str, str] | None = None) -> Path:
    """A minimal kernel tree: a top Makefile naming the version, and files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Makefile").write_text(f"# SPDX-License-Identifier: GPL-2.0\nVERSION = {version[0]}\nPATCHLEVEL = {version[1]}\nSUBLEVEL = 0\n")
    for rel, text in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "linux", files={"drivers/misc/drv.c": DIRECT_WRITE, "drivers/misc/ok.c": CLEAN})


def only_line_on_stderr(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version():
    rc, out, _ = run_daxlint("--version")
    assert rc == 0 and "daxlint" in out and "0." in out


def test_findings_exit_1_and_text_format(tree):
    rc, out, err = run_daxlint("check", ".", cwd=tree)
    assert rc == 1, err
    assert "drivers/misc/drv.c:3:2: error[DAX301]" in out
    assert "ok.c" not in out.split("Found")[0]
    assert "kernel 6.3" in out


def test_clean_exit_0(tree):
    rc, out, _ = run_daxlint("check", "drivers/misc/ok.c", cwd=tree)
    assert rc == 0
    assert "No findings" in out


def test_exit_zero(tree):
    rc, _, _ = run_daxlint("check", "--exit-zero", ".", cwd=tree)
    assert rc == 0


def test_fail_on_error_ignores_info(tree):
    (tree / "drivers/misc/ok.c").write_text(CLEAN.replace("vm_flags_set(vma, VM_IO);", "vm_flags_set(vma, VM_IO); /* daxlint: ignore */"))
    rc, out, _ = run_daxlint("check", "--fail-on", "error", "drivers/misc/ok.c", cwd=tree)
    assert "info[DAX001]" in out
    assert rc == 0
    # Like checkpatch's CHECK, an info finding never fails a run by default...
    rc, out, _ = run_daxlint("check", "drivers/misc/ok.c", cwd=tree)
    assert rc == 0 and "info[DAX001]" in out
    # ...unless asked.
    rc, _, _ = run_daxlint("check", "--fail-on", "info", "drivers/misc/ok.c", cwd=tree)
    assert rc == 1


def test_kernel_version_from_makefile_and_override(tmp_path):
    old = make_tree(tmp_path / "linux-6.1", (6, 1), {"mm/drv.c": DIRECT_WRITE})
    rc, out, _ = run_daxlint("check", "--select", "DAX301", ".", cwd=old)
    assert rc == 0, out
    assert "kernel 6.1" in out
    rc, out, _ = run_daxlint("check", "--select", "DAX301", "--kernel-version", "6.12", ".", cwd=old)
    assert rc == 1
    assert "mm/drv.c:3:2: error[DAX301]" in out


def test_json_contract(tree):
    rc, out, _ = run_daxlint("check", "--format", "json", ".", cwd=tree)
    assert rc == 1
    data = json.loads(out)
    [f] = [f for f in data["findings"] if f["rule_id"] == "DAX301"]
    for key in ("rule_id", "severity", "path", "line", "column", "message", "fingerprint"):
        assert key in f
    assert (f["path"], f["line"], f["column"], f["severity"]) == ("drivers/misc/drv.c", 3, 2, "error")
    assert f["function"] == "drv_mmap"
    assert "vm_flags_set" in f["message"]
    assert data["kernel_version"] == "6.3"
    assert data["skipped"] == []


def test_sarif_contract(tree):
    rc, out, _ = run_daxlint("check", "--format", "sarif", ".", cwd=tree)
    assert rc == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "## What it does" in rules["DAX301"]["help"]["markdown"]
    [res] = run["results"]
    assert res["ruleId"] == "DAX301"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "drivers/misc/drv.c"
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert res["partialFingerprints"]


def test_github_format(tree):
    rc, out, _ = run_daxlint("check", "--format", "github", ".", cwd=tree)
    assert rc == 1
    assert out.startswith("::error file=drivers/misc/drv.c,line=3,col=2,")
    assert "title=DAX301" in out


def test_checkpatch_format(tree):
    rc, out, _ = run_daxlint("check", "--format", "checkpatch", ".", cwd=tree)
    assert rc == 1
    lines = out.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("ERROR:DAX301: "))
    assert lines[i + 1] == "#3: FILE: drivers/misc/drv.c:3:"
    assert lines[i + 2] == "+vma->vm_flags |= VM_IO;"
    assert lines[-1] == "total: 1 errors, 0 warnings, 0 checks"
    rc, out, _ = run_daxlint("check", "--format", "checkpatch", "--terse", ".", cwd=tree)
    assert out.splitlines()[0] == "drivers/misc/drv.c:3: ERROR:DAX301: " + lines[i].split(": ", 1)[1]


def test_output_file(tree, tmp_path):
    target = tmp_path / "report.json"
    rc, out, _ = run_daxlint("check", "--format", "json", "--output", str(target), ".", cwd=tree)
    assert rc == 1 and out == ""
    assert json.loads(target.read_text())["findings"][0]["rule_id"] == "DAX301"


def test_file_list_on_stdin(tree):
    rc, out, _ = run_daxlint("check", "-", cwd=tree, stdin="drivers/misc/ok.c\ndrivers/misc/drv.c\n")
    assert rc == 1
    assert "drivers/misc/drv.c:3:2: error[DAX301]" in out


def test_select_and_ignore_prefixes(tree):
    rc, out, _ = run_daxlint("check", "--ignore", "DAX3", ".", cwd=tree)
    assert rc == 0, out
    rc, out, _ = run_daxlint("check", "--select", "DAX1,DAX2", ".", cwd=tree)
    assert rc == 0, out
    rc, out, _ = run_daxlint("check", "--select", "direct-vm-flags-write", ".", cwd=tree)
    assert rc == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["check", "no/such/path.c"], "no/such/path.c: no such file or directory"),
        (["check", "--select", "DAX999", "."], "unknown rule or prefix 'DAX999'"),
        (["check", "--kernel-version", "six", "."], "invalid kernel version 'six'"),
        (["check", "--format", "xml", "."], "'xml' is not one of"),
        (["check", "--bogus"], "No such option '--bogus'"),
        (["explain", "DAX999"], "unknown rule 'DAX999'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tree, args, needle):
    rc, out, err = run_daxlint(*args, cwd=tree)
    assert rc == 2
    assert needle in only_line_on_stderr(err)


def test_config_file_select_ignore_and_per_file_ignores(tree):
    (tree / ".daxlint.toml").write_text('ignore = ["DAX3"]\n')
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0, out
    (tree / ".daxlint.toml").write_text('[per-file-ignores]\n"drivers/misc/drv.c" = ["DAX301"]\n')
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0, out
    (tree / ".daxlint.toml").write_text('kernel-version = "6.1"\n')
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0 and "kernel 6.1" in out


@pytest.mark.parametrize("where", ["subdirectory", "absolute path from the subdirectory", "absolute path from elsewhere"])
def test_per_file_ignores_are_paths_below_the_config(tree, tmp_path, where):
    """As ruff's: the patterns name paths below the config's directory,
    wherever daxlint runs from - and --fix leaves the exempted file alone."""
    (tree / ".daxlint.toml").write_text('[per-file-ignores]\n"drivers/misc/*" = ["DAX301"]\n')
    cwd, path = {
        "subdirectory": (tree / "drivers" / "misc", "."),
        "absolute path from the subdirectory": (tree / "drivers" / "misc", str(tree / "drivers" / "misc")),
        "absolute path from elsewhere": (tmp_path, str(tree / "drivers" / "misc")),
    }[where]
    rc, out, err = run_daxlint("check", "--no-cache", path, cwd=cwd)
    assert rc == 0 and "No findings" in out, out + err
    rc, out, err = run_daxlint("check", "--no-cache", "--fix", "--dry-run", path, cwd=cwd)
    assert (rc, out) == (0, ""), err


def test_pyproject_tool_table(tree):
    (tree / "pyproject.toml").write_text('[tool.daxlint]\nselect = ["DAX1"]\n')
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0, out


def test_cli_select_overrides_config(tree):
    (tree / ".daxlint.toml").write_text('select = ["DAX1"]\n')
    rc, _, _ = run_daxlint("check", "--select", "DAX3", ".", cwd=tree)
    assert rc == 1


@pytest.mark.parametrize(
    "content, needle",
    [
        ("select = [", "invalid TOML"),
        ("colour = 1", "unknown daxlint setting(s): colour"),
        # TOML's float 6.10 is 6.1: checked as 6.1 the DAX301 would vanish.
        ("kernel-version = 6.10", '\'kernel-version\' must be quoted, as in "6.12" or "4.14..6.12" (to TOML, 6.1 is a number)'),
        ("max-file-size = true", "'max-file-size' must be a positive number of bytes"),
    ],
)
def test_bad_config_exits_2(tree, content, needle):
    (tree / ".daxlint.toml").write_text(content)
    rc, _, err = run_daxlint("check", ".", cwd=tree)
    assert rc == 2
    assert needle in only_line_on_stderr(err)


def test_inline_suppression(tree):
    (tree / "drivers/misc/drv.c").write_text(DIRECT_WRITE.replace("VM_IO;", "VM_IO; /* daxlint: ignore[DAX301] */"))
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0, out
    (tree / "drivers/misc/drv.c").write_text(DIRECT_WRITE.replace("\tvma->vm_flags", "\t/* daxlint: ignore */\n\tvma->vm_flags"))
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert rc == 0, out


def test_suppression_for_other_rule_does_not_silence(tree):
    (tree / "drivers/misc/drv.c").write_text(DIRECT_WRITE.replace("VM_IO;", "VM_IO; /* daxlint: ignore[DAX101] */"))
    rc, out, _ = run_daxlint("check", ".", cwd=tree)
    assert "drivers/misc/drv.c:3:2: error[DAX301]" in out
    assert "drivers/misc/drv.c:3:26: info[DAX001]" in out


def test_bad_files_are_skipped_with_a_note(tree):
    # Each would interest a DAX3xx rule (a vm_flags write), so each skip matters.
    (tree / "drivers/misc/binary.c").write_bytes(b"vma->vm_flags |= 1;\x00\x01\x02")
    (tree / "drivers/misc/latin1.c").write_bytes("/* caf\xe9 */ void f(struct vm_area_struct *v) { v->vm_flags = 0; }".encode("latin-1"))
    (tree / "drivers/misc/huge.c").write_text("void f(struct vm_area_struct *v) { v->vm_flags = 0; }\n" * 10)
    (tree / ".daxlint.toml").write_text("max-file-size = 300\n")
    os.symlink("loop.c", tree / "drivers/misc/loop.c")
    rc, out, err = run_daxlint("check", "--format", "json", ".", cwd=tree)
    assert rc == 1, err
    data = json.loads(out)
    reasons = {s["path"]: s["reason"] for s in data["skipped"]}
    assert reasons["drivers/misc/binary.c"].startswith("binary file")
    assert reasons["drivers/misc/huge.c"].startswith("too large")
    assert "symlink" in reasons["drivers/misc/loop.c"]
    # A Latin-1 comment is no reason to skip a file: it is analysed.
    assert "drivers/misc/latin1.c" not in reasons
    assert [(f["path"], f["rule_id"]) for f in data["findings"]] == [("drivers/misc/drv.c", "DAX301"), ("drivers/misc/latin1.c", "DAX301")]


def test_never_writes_into_the_checked_tree(tree):
    def snapshot():
        return sorted((str(p), p.stat().st_mtime_ns) for p in tree.rglob("*"))

    before = snapshot()
    for fmt in ("text", "json", "sarif", "checkpatch", "github"):
        run_daxlint("check", "--format", fmt, ".", cwd=tree)
    assert snapshot() == before


def test_cache_is_used_and_invalidated(tree, tmp_path):
    cache = tmp_path / "xdg"
    env = {"XDG_CACHE_HOME": str(cache)}
    rc1, out1, _ = run_daxlint("check", "--format", "json", ".", cwd=tree, env=env)
    assert (cache / "daxlint" / "results-v2.sqlite").is_file()
    rc2, out2, _ = run_daxlint("check", "--format", "json", ".", cwd=tree, env=env)
    assert (rc1, json.loads(out1)["findings"]) == (rc2, json.loads(out2)["findings"])
    (tree / "drivers/misc/drv.c").write_text(CLEAN)
    rc3, out3, _ = run_daxlint("check", "--format", "json", ".", cwd=tree, env=env)
    assert rc3 == 0 and json.loads(out3)["findings"] == []


def test_no_cache_writes_no_cache(tree, tmp_path):
    cache = tmp_path / "xdg2"
    run_daxlint("check", "--no-cache", ".", cwd=tree, env={"XDG_CACHE_HOME": str(cache)})
    assert not cache.exists()


def test_rules_and_explain():
    rc, out, _ = run_daxlint("rules")
    assert rc == 0
    assert any(ln.startswith("DAX301  direct-vm-flags-write") for ln in out.splitlines())
    rc, out, _ = run_daxlint("explain", "DAX301")
    assert rc == 0
    for heading in ("What it does", "Why is this bad", "Example", "Use instead", "References"):
        assert heading in out
    rc, out2, _ = run_daxlint("explain", "direct-vm-flags-write")
    assert out2 == out


def test_cache_notices_changed_context_files(tmp_path):
    """DAX201 looks at sibling files: a cached verdict must not outlive them."""
    provider = (FIXTURES / "rules" / "DAX201" / "no_pages" / "pageless_dax.c").read_text()
    tree = make_tree(tmp_path / "linux", (6, 1), {"drivers/pageless/main.c": provider})
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    rc, out, _ = run_daxlint("check", "--select", "DAX201", ".", cwd=tree, env=env)
    assert rc == 1 and "drivers/pageless/main.c" in out
    (tree / "drivers/pageless/pages.c").write_text("void setup(void) { devm_memremap_pages(dev, pgmap); }\n")
    rc, out, _ = run_daxlint("check", "--select", "DAX201", ".", cwd=tree, env=env)
    assert rc == 0, out


def test_userspace_tools_may_set_mock_vmas_private_flags(tmp_path):
    mock = "static void setup(struct vm_area_struct *vma, vm_flags_t flags)\n{\n\tvma->__vm_flags = flags;\n}\n"
    tree = make_tree(tmp_path / "linux", (6, 12), {"tools/testing/vma/vma.c": mock, "mm/bad.c": mock})
    rc, out, _ = run_daxlint("check", "--select", "DAX301", "--format", "json", ".", cwd=tree)
    assert rc == 1
    assert [(f["path"], f["line"]) for f in json.loads(out)["findings"]] == [("mm/bad.c", 3)]


def test_huge_file_without_trigger_tokens_passes_quietly(tree):
    (tree / "drivers/misc/regs.h").write_text("#define REG_A 0x1\n" * 40)
    (tree / ".daxlint.toml").write_text("max-file-size = 300\n")
    rc, out, _ = run_daxlint("check", "--format", "json", "drivers/misc/regs.h", cwd=tree)
    assert rc == 0 and json.loads(out)["skipped"] == []


# -- issue 28, item 4: file names come after "--"; an ambiguous argument is refused


def _dash_named_tree(tmp_path: Path) -> Path:
    """A file named like an option (``--config=cfg.c``) with a finding, and
    ``cfg.c``, a TOML that would ignore every rule if read as the config."""
    root = make_tree(tmp_path / "linux", files={"--config=cfg.c": DIRECT_WRITE, "cfg.c": 'ignore = ["DAX"]\n'})
    return root


def test_file_names_after_double_dash_are_files(tmp_path):
    root = _dash_named_tree(tmp_path)
    rc, out, err = run_daxlint("check", "--format", "json", "--", "--config=cfg.c", "cfg.c", cwd=root)
    assert rc == 1, err
    assert [(f["rule_id"], f["path"], f["line"]) for f in json.loads(out)["findings"]] == [("DAX301", "--config=cfg.c", 3)]


@pytest.mark.parametrize("command", ["check", "patch"])
def test_an_option_that_names_a_file_is_refused_as_ambiguous(tmp_path, command):
    """Without "--", an argument that reads as an option and names an
    existing file is refused, as git refuses an ambiguous argument - never
    taken as the option (a hook that appends staged file names without
    "--" would otherwise hand the run a config that ignores every rule)."""
    root = _dash_named_tree(tmp_path)
    rc, out, err = run_daxlint(command, "--format", "json", "--config=cfg.c", "cfg.c", cwd=root)
    assert rc == 2, out + err
    assert only_line_on_stderr(err) == (
        f"daxlint {command}: error: '--config=cfg.c' is both an option and a file name: put file names after '--' "
        f"(daxlint {command} [OPTIONS] -- FILE...)"
    )
    # An option's value is not an option, whatever it is named.
    (root / "-report.json").write_text("")
    rc, out, err = run_daxlint("check", "--format", "json", "-o", "-report.json", "--", "--config=cfg.c", cwd=root)
    assert rc == 1, err
    assert [f["path"] for f in json.loads((root / "-report.json").read_text())["findings"]] == ["--config=cfg.c"]
