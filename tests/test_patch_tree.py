"""``daxlint patch --tree DIR``: each patch applied in turn to an in-memory
copy of the tree so rules see whole files - and the tree, its index and
HEAD are left exactly as they were."""

from __future__ import annotations

import hashlib
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from test_patch import EXPECTED, MAKEFILE, GitRepo, _steps, found, one_error_line, run_json, series  # noqa: F401

from conftest import run_daxlint


def tree_state(root: Path) -> dict:
    """Everything a check could disturb: every file's bytes and times, the
    git index and HEAD."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            content = (
                hashlib.sha1(p.read_bytes()).hexdigest()
                if p.is_file() and not p.is_symlink()
                else os.readlink(p)
                if p.is_symlink()
                else None
            )
            state[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, content)
    return state


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def checkout_at(series, rev: str, dest: Path) -> Path:
    """A clone of the series' repository with ``rev`` checked out."""
    subprocess.run(["git", "clone", "-q", str(series["repo"].path), str(dest)], check=True)
    subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", rev], cwd=dest, check=True)
    return dest


def export_tree(repo: GitRepo, rev: str, dest: Path) -> Path:
    """The tree at ``rev`` as plain files, no git."""
    dest.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=repo.path, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def export_at(series, rev: str, dest: Path) -> Path:
    return export_tree(series["repo"], rev, dest)


@pytest.mark.parametrize("kind", ["git", "plain"])
def test_tree_at_the_base(series, tmp_path, kind):
    tree = (checkout_at if kind == "git" else export_at)(series, series["base"], tmp_path / "linux")
    before = tree_state(tree)
    head = git_out(tree, "rev-parse", "HEAD") if kind == "git" else None
    rc, data = run_json("--tree", str(tree), *map(str, series["files"]))  # version from the tree's Makefile
    assert rc == 1
    assert found(data) == EXPECTED
    assert data["mode"] == "tree" and data["kernel_version"] == "6.3"
    assert [p["applied"] for p in data["patches"]] == [True, True, True, True]
    assert tree_state(tree) == before
    if kind == "git":
        assert git_out(tree, "rev-parse", "HEAD") == head
        assert git_out(tree, "status", "--porcelain") == ""


def test_own_branch_checked_against_its_checkout(series):
    """The series is already committed in the tree: the pre-images come
    from the blobs the patches name, as git am -3 finds them."""
    repo = series["repo"].path
    before = tree_state(repo)
    rc, data = run_json("--tree", str(repo), str(series["mbox"]))
    assert found(data) == EXPECTED
    assert all(p["applied"] for p in data["patches"])
    assert tree_state(repo) == before


def test_tree_version_decides(series, tmp_path):
    tree = export_at(series, series["base"], tmp_path / "linux")
    (tree / "Makefile").write_text(MAKEFILE.replace("PATCHLEVEL = 3", "PATCHLEVEL = 1"))
    rc, data = run_json("--tree", str(tree), str(series["mbox"]))
    assert data["kernel_version"] == "6.1"
    assert {f["rule_id"] for f in data["findings"]} == {"DAX101"}
    rc, data = run_json("--tree", str(tree), str(series["mbox"]), "--kernel-version", "6.3")
    assert found(data) == EXPECTED


def test_patch_that_does_not_apply_is_reported_and_the_rest_checked(series, tmp_path):
    tree = export_at(series, series["base"], tmp_path / "linux")
    bus = tree / "drivers/dax/bus.c"
    bus.write_text(bus.read_text().replace("\tif (kaddr)\n\t\t*kaddr = NULL;\n", "\tif (!kaddr)\n\t\treturn -EINVAL;\n"))
    rc, data = run_json("--tree", str(tree), *map(str, series["files"]))
    assert rc == 1
    assert found(data) == EXPECTED  # patch 2 is still checked, on its hunks
    applied = {p["index"]: p["applied"] for p in data["patches"]}
    assert applied == {1: True, 2: False, 3: True, 4: True}
    note = data["patches"][1]["notes"][0]
    assert "does not apply" in note and "drivers/dax/bus.c" in note and "hunk #1" in note
    assert any(n.startswith('patch 2 ("dax: return a pfn from direct_access") does not apply') for n in data["notes"])
    rc, out, _ = run_daxlint("patch", "--tree", str(tree), *map(str, series["files"]), "--format", "checkpatch")
    assert "NOTE: does not apply: drivers/dax/bus.c: hunk #1" in out


def test_whole_files_let_rules_see_a_split_signature(tmp_path):
    """The hunk header carries only the first line of a signature that goes
    on over two; with the tree the parameter's type is known."""
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE)
    text = (
        "static int helper(int x)\n{\n\treturn x;\n}\n\n"
        "static int split_mmap(struct file *file,\n\t\t      struct vm_area_struct *area)\n{\n\tint x = 0;\n\n"
        + _steps(20)
        + "\treturn x;\n}\n"
    )
    repo.write("drivers/s.c", text)
    base = repo.commit("base")
    repo.edit("drivers/s.c", "/* step 15 */\n", "/* step 15 */\n\tarea->vm_flags |= VM_IO;\n")
    repo.commit("s: set flags")
    (patch,) = repo.format_patch(f"{base}..HEAD", tmp_path / "out")
    assert "@@ static int split_mmap(struct file *file," in patch.read_text()
    tree = tmp_path / "plain"
    tree.mkdir()
    (tree / "drivers").mkdir()
    (tree / "Makefile").write_text(MAKEFILE)
    (tree / "drivers/s.c").write_text(text)
    rc, data = run_json("--tree", str(tree), str(patch))
    assert found(data) == {(1, "DAX301", "drivers/s.c", 27, None)}


def test_sibling_files_are_read_from_the_patched_copy(tmp_path):
    """DAX201 looks for pages in the directory's other files: a series that
    adds a provider and, in a later patch, the file that maps its pages
    is judged on the tree as each patch leaves it."""
    repo = GitRepo(tmp_path / "linux")
    repo.write("Makefile", MAKEFILE)
    repo.write("drivers/nd/core.c", "int core;\n")
    base = repo.commit("base")
    repo.write(
        "drivers/nd/prov.c",
        textwrap.dedent("""\
        static long prov_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
        			       enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
        {
        	struct prov_dev *pdev = dax_get_private(dax_dev);

        	*kaddr = pdev->virt + PFN_PHYS(pgoff);
        	return nr_pages;
        }

        static const struct dax_operations prov_ops = {
        	.direct_access = prov_direct_access,
        };

        static int prov_probe(struct device *dev, struct resource *res)
        {
        	struct prov_dev *pdev = devm_kzalloc(dev, sizeof(*pdev), GFP_KERNEL);

        	pdev->virt = devm_memremap(dev, res->start, resource_size(res), MEMREMAP_WB);
        	pdev->dax_dev = alloc_dax(pdev, &prov_ops);
        	return 0;
        }
        """),
    )
    repo.commit("nd: add a DAX provider")
    repo.write(
        "drivers/nd/pages.c", "int map(struct dev_pagemap *pgmap)\n{\n\treturn PTR_ERR_OR_ZERO(devm_memremap_pages(NULL, pgmap));\n}\n"
    )
    repo.commit("nd: map the pages")
    files = repo.format_patch(f"{base}..HEAD", tmp_path / "out")
    tree = export_tree(repo, base, tmp_path / "plain")
    rc, data = run_json("--tree", str(tree), *map(str, files), "--select", "DAX201")
    assert found(data) == {(1, "DAX201", "drivers/nd/prov.c", 11, None)}
    # the same pages file already in the tree: the provider is fine
    (tree / "drivers/nd/pages.c").write_text((repo.path / "drivers/nd/pages.c").read_text())
    rc, data = run_json("--tree", str(tree), str(files[0]), "--select", "DAX201")
    assert found(data) == set()


def test_symlink_out_of_the_tree_is_refused(series, tmp_path):
    outside = tmp_path / "outside"
    (outside / "dax").mkdir(parents=True)
    secret = outside / "dax" / "bus.c"
    secret.write_text((series["repo"].path / "drivers/dax/bus.c").read_text())
    tree = export_at(series, series["base"], tmp_path / "linux")
    os.rename(tree / "drivers", tree / "drivers.orig")
    os.symlink(outside, tree / "drivers")
    rc, out, err = run_daxlint("patch", "--tree", str(tree), str(series["files"][1]))
    assert rc == 2 and out == ""
    line = one_error_line(err)
    assert "refusing 'drivers/dax/bus.c'" in line and "symbolic link" in line and "outside the tree" in line


def test_symlink_created_by_the_series_is_followed_only_inside(tmp_path):
    """Patch 1 creates a link pointing out of the tree; patch 2 writes
    through it: refused."""
    series_text = textwrap.dedent("""\
        diff --git a/drivers/out b/drivers/out
        new file mode 120000
        index 0000000..1111111
        --- /dev/null
        +++ b/drivers/out
        @@ -0,0 +1 @@
        +../../etc
        \\ No newline at end of file
        diff --git a/drivers/out/x.c b/drivers/out/x.c
        new file mode 100644
        index 0000000..2222222
        --- /dev/null
        +++ b/drivers/out/x.c
        @@ -0,0 +1 @@
        +int x;
        """)
    p = tmp_path / "link.patch"
    p.write_text(series_text)
    tree = tmp_path / "linux"
    tree.mkdir()
    (tree / "Makefile").write_text(MAKEFILE)
    (tree / "drivers").mkdir()
    for args in (("--tree", str(tree)), ()):
        rc, out, err = run_daxlint("patch", *args, str(p))
        assert rc == 2, (args, out)
        assert "drivers/out is a symbolic link to '../../etc', outside the tree" in one_error_line(err)
    assert sorted(os.listdir(tree / "drivers")) == []


def test_missing_tree_is_a_usage_error(series, tmp_path):
    rc, _, err = run_daxlint("patch", "--tree", str(tmp_path / "nope"), str(series["mbox"]))
    assert rc == 2 and "does not exist" in one_error_line(err)
