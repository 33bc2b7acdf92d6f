"""``daxlint patch --tree`` against a real kernel tree (Debian's 6.1 sources):
a patch made with git format-patch on one of its files applies to an
in-memory copy, the rules see the whole file, and the tree is untouched."""

from __future__ import annotations

import hashlib
import os

import pytest
from test_patch import GitRepo, found, run_json

from conftest import kernel_tree_or_skip

DRM_GEM = "drivers/gpu/drm/drm_gem.c"
# In drm_gem_mmap_obj(), whose signature takes two lines: the hunk header
# shows only the first, without the vma parameter.
ANCHOR = "\t\tvma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;\n"
ADDED = "\t\tvma->vm_flags |= VM_LOCKED;\n"


def _fingerprint(path) -> tuple:
    st = os.stat(path)
    if os.path.isdir(path):
        return st.st_mtime_ns, sorted(os.listdir(path))
    with open(path, "rb") as fh:
        return st.st_mtime_ns, st.st_size, hashlib.sha1(fh.read()).hexdigest()


@pytest.mark.slow
def test_patch_against_linux_6_1(tmp_path):
    tree = kernel_tree_or_skip("6.1")
    original = (tree / DRM_GEM).read_text()
    line = original[: original.index(ANCHOR)].count("\n") + 1
    repo = GitRepo(tmp_path / "work")
    repo.write(".gitattributes", "*.c diff=cpp\n")  # function headers as in a kernel checkout
    repo.write(DRM_GEM, original)
    base = repo.commit("base")
    repo.edit(DRM_GEM, ANCHOR, ANCHOR + ADDED)
    repo.commit("drm/gem: lock the mapping")
    (patch,) = repo.format_patch(f"{base}..HEAD", tmp_path / "out")
    assert "@@ int drm_gem_mmap_obj(struct drm_gem_object *obj, unsigned long obj_size," in patch.read_text()

    before = (_fingerprint(tree / DRM_GEM), _fingerprint(tree / "drivers/gpu/drm"))
    rc, data = run_json("--tree", str(tree), str(patch), "--kernel-version", "6.3")
    assert found(data) == {(1, "DAX301", DRM_GEM, line + 1, None)}
    assert data["patches"][0]["applied"] is True
    assert data["findings"][0]["function"] == "drm_gem_mmap_obj"
    # the tree's own version: vm_flags may still be written directly in 6.1
    rc, data = run_json("--tree", str(tree), str(patch))
    assert data["kernel_version"] == "6.1"
    assert not [f for f in data["findings"] if f["rule_id"] == "DAX301"]
    after = (_fingerprint(tree / DRM_GEM), _fingerprint(tree / "drivers/gpu/drm"))
    assert after == before
