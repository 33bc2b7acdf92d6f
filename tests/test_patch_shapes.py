"""``daxlint patch`` on patch mails shaped like the ones DAX contributors
send (issue 16, items 1-4). Each test builds, in a scratch repository, C of
our own whose hunks have the shape of a real mail - where the hunk starts,
what its ``@@`` header shows (git's ``diff=cpp`` function line, as in a
kernel checkout), what is left out of view - and asserts the verdict three
ways where it matters: hunks alone (run outside any checkout), inside the
checkout the series applies to (used as ``--tree`` would be), and with
``--no-tree`` there. The real mails are cited by Message-ID in
docs/accuracy notes; none of their text is here."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from test_patch import GitRepo
from test_patch_tree import tree_state

from conftest import run_daxlint


def makefile(version: str) -> str:
    major, minor = version.split(".")
    return f"VERSION = {major}\nPATCHLEVEL = {minor}\nSUBLEVEL = 0\nEXTRAVERSION =\n"


def kernel_repo(path, version: str, files: dict[str, str]) -> GitRepo:
    """A repository laid out like a kernel checkout: top Makefile, the
    .gitattributes that makes git put C function lines in hunk headers."""
    repo = GitRepo(path)
    repo.write("Makefile", makefile(version))
    repo.write(".gitattributes", "*.[ch] diff=cpp\n")
    for rel, text in files.items():
        repo.write(rel, textwrap.dedent(text))
    repo.commit("base")
    return repo


def patch_json(*args, cwd, expect_rc=(0, 1)):
    rc, out, err = run_daxlint("patch", *args, "--format", "json", cwd=cwd)
    assert rc in expect_rc, err
    return json.loads(out)


def verdicts(data, rule_prefix: str = "DAX") -> set:
    return {
        (f["patch"], f["rule_id"], f["path"], f["line"], f["severity"]) for f in data["findings"] if f["rule_id"].startswith(rule_prefix)
    }


def line_in(repo: GitRepo, rel: str, needle: str, nth: int = 0) -> int:
    hits = [n for n, line in enumerate((repo.path / rel).read_text().splitlines(), 1) if needle in line]
    return hits[nth]


def headers(patch) -> list[str]:
    return [line for line in patch.read_text().splitlines() if line.startswith("@@")]


def series_of(repo: GitRepo, base: str, out) -> list:
    return repo.format_patch(f"{base}..HEAD", out)


# -- item 1: a DAX provider whose pages are outside the hunk ------------------------

DAX_KCONFIG = """\
    menuconfig DAX
    	tristate "DAX: direct access to differentiated memory"

    config DEV_DAX
    	tristate "Device DAX: direct access mapping device"
    	depends on DAX && ZONE_DEVICE
    """

DAX_MAKEFILE = """\
    obj-$(CONFIG_DAX) += dax.o
    obj-$(CONFIG_DEV_DAX) += device_dax.o

    dax-y := super.o
    dax-y += bus.o
    device_dax-y := device.o
    """

# The device-dax driver: pages are established at probe, in device.c.
DEVICE_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/memremap.h>
    #include "dax-private.h"

    static int dev_dax_probe(struct dev_dax *dev_dax)
    {
    	struct dev_pagemap *pgmap = dev_dax->pgmap;
    	void *addr;

    	pgmap->type = MEMORY_DEVICE_GENERIC;
    	addr = devm_memremap_pages(&dev_dax->dev, pgmap);
    	if (IS_ERR(addr))
    		return PTR_ERR(addr);
    	dev_dax->virt_addr = addr;
    	return 0;
    }
    """

BUS_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/dax.h>
    #include "dax-private.h"

    __weak phys_addr_t dax_pgoff_to_phys(struct dev_dax *dev_dax, pgoff_t pgoff,
    			      unsigned long size)
    {
    	struct dev_dax_range *dax_range = &dev_dax->ranges[0];
    	phys_addr_t phys;

    	phys = PFN_PHYS(pgoff - dax_range->pgoff) + dax_range->range.start;
    	if (phys + size - 1 <= dax_range->range.end)
    		return phys;
    	return -1;
    }
    EXPORT_SYMBOL_GPL(dax_pgoff_to_phys);

    static struct dev_dax *__devm_create_dev_dax(struct dev_dax_data *data)
    {
    	struct dev_dax *dev_dax;
    	struct dax_device *dax_dev;

    	dev_dax = kzalloc(sizeof(*dev_dax), GFP_KERNEL);
    	if (!dev_dax)
    		return ERR_PTR(-ENOMEM);

    	dax_dev = alloc_dax(dev_dax, NULL);
    	if (IS_ERR(dax_dev))
    		return ERR_CAST(dax_dev);
    	dev_dax->dax_dev = dax_dev;
    	return dev_dax;
    }
    """

# The ops block a famfs-style patch adds to bus.c: the direct_access hands out
# dev_dax->virt_addr, which device.c got from devm_memremap_pages().
BUS_OPS = """\

#if IS_ENABLED(CONFIG_DEV_DAX_IOMAP)
static void write_dax(void *pmem_addr, struct page *page, unsigned int off, unsigned int len)
{
	memcpy_flushcache(pmem_addr, page_address(page) + off, len);
}

static long __dev_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
			     long nr_pages, enum dax_access_mode mode, void **kaddr,
			     pfn_t *pfn)
{
	struct dev_dax *dev_dax = dax_get_private(dax_dev);
	size_t size = nr_pages << PAGE_SHIFT;
	void *virt_addr = dev_dax->virt_addr + (pgoff << PAGE_SHIFT);
	u64 flags = PFN_DEV | PFN_MAP;
	phys_addr_t phys = dax_pgoff_to_phys(dev_dax, pgoff, size);

	if (kaddr)
		*kaddr = virt_addr;
	if (pfn)
		*pfn = phys_to_pfn_t(phys, flags);
	return nr_pages;
}

static int dev_dax_zero_page_range(struct dax_device *dax_dev, pgoff_t pgoff, size_t nr_pages)
{
	return -EOPNOTSUPP;
}

static long dev_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
				  enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
{
	return __dev_dax_direct_access(dax_dev, pgoff, nr_pages, mode, kaddr, pfn);
}

static const struct dax_operations dev_dax_ops = {
	.direct_access = dev_dax_direct_access,
	.zero_page_range = dev_dax_zero_page_range,
};
#endif
"""


@pytest.fixture
def famfs_bus(tmp_path):
    """dev_dax_iomap-style: dax_operations added to drivers/dax/bus.c while the
    pages are set up in device.c, a sibling the patch never shows."""
    files = {
        "drivers/dax/Kconfig": DAX_KCONFIG,
        "drivers/dax/Makefile": DAX_MAKEFILE,
        "drivers/dax/bus.c": BUS_C,
        "drivers/dax/device.c": DEVICE_C,
        "drivers/dax/super.c": "// SPDX-License-Identifier: GPL-2.0\nint dax_super;\n",
    }
    repo = kernel_repo(tmp_path / "linux", "6.12", files)
    base = repo.git("rev-parse", "HEAD").strip()
    repo.edit("drivers/dax/bus.c", "EXPORT_SYMBOL_GPL(dax_pgoff_to_phys);\n", "EXPORT_SYMBOL_GPL(dax_pgoff_to_phys);\n" + BUS_OPS)
    repo.edit(
        "drivers/dax/bus.c",
        "\tdax_dev = alloc_dax(dev_dax, NULL);\n",
        "\tif (IS_ENABLED(CONFIG_DEV_DAX_IOMAP))\n\t\tdax_dev = alloc_dax(dev_dax, &dev_dax_ops);\n"
        "\telse\n\t\tdax_dev = alloc_dax(dev_dax, NULL);\n",
    )
    repo.commit("dev_dax_iomap: Add dax_operations for use by fs-dax on devdax")
    (patch,) = series_of(repo, base, tmp_path / "out")
    return repo, base, patch


def test_provider_with_pages_in_a_sibling_hunks_only(famfs_bus, tmp_path):
    repo, _, patch = famfs_bus
    hdrs = headers(patch)
    assert hdrs[0].endswith("@@ __weak phys_addr_t dax_pgoff_to_phys(struct dev_dax *dev_dax, pgoff_t pgoff,")
    assert hdrs[1].endswith("@@ static struct dev_dax *__devm_create_dev_dax(struct dev_dax_data *data)")
    data = patch_json(str(patch), cwd=tmp_path)
    assert data["mode"] == "hunks" and data["tree"] is None
    # The provider hands out PFN_DEV | PFN_MAP: it claims pages; nothing to say.
    assert verdicts(data) == set()


def test_provider_with_pages_in_a_sibling_in_its_checkout(famfs_bus):
    repo, base, patch = famfs_bus
    repo.git("checkout", "-q", base)
    before = tree_state(repo.path)
    data = patch_json(str(patch), cwd=repo.path)
    assert data["mode"] == "tree" and data["tree"] == {"path": str(repo.path), "from": "checkout"}
    assert any("checked against the git checkout" in n for n in data["notes"])
    assert data["patches"][0]["applied"] is True
    assert verdicts(data) == set()  # device.c, built with the driver, establishes the pages
    assert tree_state(repo.path) == before


def test_provider_whose_pages_are_out_of_view_is_info(famfs_bus, tmp_path):
    """The same patch with flags that say nothing (the v6.17 spelling has no
    PFN flags at all): DAX201 cannot see device.c or the rest of bus.c, so it
    says so as info - and says nothing once the checkout shows device.c."""
    repo, base, _ = famfs_bus
    repo.git("checkout", "-q", "-b", "noflags", base)
    repo.write("Makefile", makefile("6.19"))
    repo.commit("Linux 6.19")
    base2 = repo.git("rev-parse", "HEAD").strip()
    ops = BUS_OPS.replace("pfn_t *pfn)", "unsigned long *pfn)").replace("\tu64 flags = PFN_DEV | PFN_MAP;\n", "")
    ops = ops.replace("*pfn = phys_to_pfn_t(phys, flags);", "*pfn = PHYS_PFN(phys);")
    repo.edit("drivers/dax/bus.c", "EXPORT_SYMBOL_GPL(dax_pgoff_to_phys);\n", "EXPORT_SYMBOL_GPL(dax_pgoff_to_phys);\n" + ops)
    repo.commit("dax: Add dax_operations for use by fs-dax on devdax")
    (patch,) = series_of(repo, base2, tmp_path / "out2")
    data = patch_json(str(patch), cwd=tmp_path)
    line = line_in(repo, "drivers/dax/bus.c", ".direct_access = dev_dax_direct_access,")
    assert verdicts(data) == {(1, "DAX201", "drivers/dax/bus.c", line, "info")}
    (f,) = data["findings"]
    assert "could not see the rest of bus.c" in f["message"] and "drivers/dax/Kconfig" in f["message"]
    assert "--tree" in f["message"]
    repo.git("checkout", "-q", base2)
    assert verdicts(patch_json(str(patch), cwd=repo.path)) == set()
    nt = patch_json(str(patch), "--no-tree", cwd=repo.path)
    assert nt["mode"] == "hunks" and verdicts(nt) == {(1, "DAX201", "drivers/dax/bus.c", line, "info")}


FSDEV_C = """\
    // SPDX-License-Identifier: GPL-2.0
    /*
     * fs-dax on a character dax device: the device's memory gets fsdax
     * pages at probe time.
     */
    #include <linux/dax.h>
    #include <linux/memremap.h>
    #include "dax-private.h"

    static void fsdev_kill(void *dev_dax)
    {
    	kill_dev_dax(dev_dax);
    }

    static int fsdev_dax_probe(struct dev_dax *dev_dax)
    {
    	struct dax_device *dax_dev = dev_dax->dax_dev;
    	struct dev_pagemap *pgmap;
    	void *addr;
    	int rc;

    	pgmap = devm_kzalloc(&dev_dax->dev, sizeof(*pgmap), GFP_KERNEL);
    	if (!pgmap)
    		return -ENOMEM;
    	pgmap->nr_range = 1;
    	pgmap->range = dev_dax->ranges[0].range;

    	/*
    	 * The pages must be MEMORY_DEVICE_FS_DAX: fs-dax tracks their
    	 * references so truncate can wait for pinned blocks.
    	 */
    	pgmap->type = MEMORY_DEVICE_FS_DAX;
    	addr = devm_memremap_pages(&dev_dax->dev, pgmap);
    	if (IS_ERR(addr))
    		return PTR_ERR(addr);
    	dev_dax->virt_addr = addr;

    	rc = devm_add_action_or_reset(&dev_dax->dev, fsdev_kill, dev_dax);
    	return rc;
    }
    """

FSDEV_OPS = """\

static long fsdev_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
				    enum dax_access_mode mode, void **kaddr, unsigned long *pfn)
{
	struct dev_dax *dev_dax = dax_get_private(dax_dev);
	phys_addr_t phys = dax_pgoff_to_phys(dev_dax, pgoff, nr_pages << PAGE_SHIFT);

	if (kaddr)
		*kaddr = dev_dax->virt_addr + (pgoff << PAGE_SHIFT);
	if (pfn)
		*pfn = PHYS_PFN(phys);
	return nr_pages;
}

static const struct dax_operations dev_dax_ops = {
	.direct_access = fsdev_dax_direct_access,
};
"""


def test_fsdev_headerless_hunk_is_info_without_tree_and_clean_with_it(tmp_path):
    """fsdev-style: the first hunk follows the file's top comment (a bare
    ``@@ -a,b +c,d @@``), the post-pfn_t signature spells no PFN flags; the
    probe hunk's context mentions MEMORY_DEVICE_FS_DAX in a comment but the
    devm_memremap_pages() call is below it, out of view."""
    repo = kernel_repo(tmp_path / "linux", "6.19", {"drivers/dax/fsdev.c": FSDEV_C, "drivers/dax/Kconfig": DAX_KCONFIG})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.edit("drivers/dax/fsdev.c", '#include "dax-private.h"\n', '#include "dax-private.h"\n' + FSDEV_OPS)
    repo.edit(
        "drivers/dax/fsdev.c",
        "\tpgmap->range = dev_dax->ranges[0].range;\n",
        "\tpgmap->range = dev_dax->ranges[0].range;\n\tdax_set_ops(dax_dev, &dev_dax_ops);\n",
    )
    repo.commit("dax: Add dax_operations for use by fs-dax on fsdev dax")
    (patch,) = series_of(repo, base, tmp_path / "out")
    hdrs = headers(patch)
    assert hdrs[0].endswith("@@") and hdrs[1].endswith("@@ static int fsdev_dax_probe(struct dev_dax *dev_dax)")
    assert "MEMORY_DEVICE_FS_DAX" in patch.read_text() and "devm_memremap_pages" not in patch.read_text()
    line = line_in(repo, "drivers/dax/fsdev.c", ".direct_access = fsdev_dax_direct_access,")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX201", "drivers/dax/fsdev.c", line, "info")}
    repo.git("checkout", "-q", base)
    assert verdicts(patch_json(str(patch), cwd=repo.path)) == set()


def test_file_created_earlier_in_the_series_is_known_whole(tmp_path):
    """dax_set_ops()-style: patch 1 creates fsdev.c with its pages, patch 2
    adds the ops table and registers it at probe. Patch 2's fsdev.c is known
    whole (patch 1 made it), so no tree is needed to see the pages; alone,
    patch 2 gets the info."""
    repo = kernel_repo(tmp_path / "linux", "6.19", {"drivers/dax/Kconfig": DAX_KCONFIG})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.write("drivers/dax/fsdev.c", textwrap.dedent(FSDEV_C))
    repo.commit("dax: add fsdev.c driver for fs-dax on character dax")
    repo.edit("drivers/dax/fsdev.c", '#include "dax-private.h"\n', '#include "dax-private.h"\n' + FSDEV_OPS)
    repo.edit(
        "drivers/dax/fsdev.c", "\trc = devm_add_action_or_reset", "\tdax_set_ops(dax_dev, &dev_dax_ops);\n\trc = devm_add_action_or_reset"
    )
    repo.commit("dax: Add dax_set_ops() for setting dax_operations at bind time")
    patches = series_of(repo, base, tmp_path / "out")
    data = patch_json(*map(str, patches), cwd=tmp_path)
    assert data["mode"] == "hunks" and verdicts(data) == set()
    alone = patch_json(str(patches[1]), cwd=tmp_path)
    line = line_in(repo, "drivers/dax/fsdev.c", ".direct_access = fsdev_dax_direct_access,")
    assert verdicts(alone) == {(1, "DAX201", "drivers/dax/fsdev.c", line, "info")}


VIRTIO_FS_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/dax.h>
    #include <linux/memremap.h>

    static void virtio_fs_cleanup_vqs(struct virtio_device *vdev)
    {
    	vdev->config->del_vqs(vdev);
    }

    static int virtio_fs_probe(struct virtio_device *vdev)
    {
    	return 0;
    }
    """

VIRTIO_FS_DAX = """\

static long virtio_fs_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				    long nr_pages, enum dax_access_mode mode,
				    void **kaddr, pfn_t *pfn)
{
	struct virtio_fs *fs = dax_get_private(dax_dev);
	phys_addr_t offset = PFN_PHYS(pgoff);
	size_t max_nr_pages = fs->window_len / PAGE_SIZE - pgoff;

	if (kaddr)
		*kaddr = fs->window_kaddr + offset;
	if (pfn)
		*pfn = phys_to_pfn_t(fs->window_phys_addr + offset, PFN_DEV | PFN_MAP);
	return nr_pages > max_nr_pages ? max_nr_pages : nr_pages;
}

static const struct dax_operations virtio_fs_dax_ops = {
	.direct_access = virtio_fs_direct_access,
};

static int virtio_fs_setup_dax(struct virtio_device *vdev, struct virtio_fs *fs)
{
	struct dev_pagemap *pgmap;

	pgmap = devm_kzalloc(&vdev->dev, sizeof(*pgmap), GFP_KERNEL);
	if (!pgmap)
		return -ENOMEM;
	pgmap->type = MEMORY_DEVICE_FS_DAX;
	pgmap->range = (struct range) { .start = fs->window_phys_addr, .end = fs->window_phys_addr + fs->window_len - 1 };
	pgmap->nr_range = 1;
	fs->window_kaddr = devm_memremap_pages(&vdev->dev, pgmap);
	if (IS_ERR(fs->window_kaddr))
		return PTR_ERR(fs->window_kaddr);
	fs->dax_dev = alloc_dax(fs, &virtio_fs_dax_ops);
	return PTR_ERR_OR_ZERO(fs->dax_dev);
}
"""


def test_everything_in_one_hunk_is_judged_on_what_it_shows(tmp_path):
    """virtio_fs-style: one hunk adds the provider, the ops, a
    MEMORY_DEVICE_FS_DAX pagemap and devm_memremap_pages(): nothing to say.
    The same hunk with devm_memremap() and PFN_DEV alone shows page-less
    memory behind the provider: that stays an error without a tree."""
    repo = kernel_repo(tmp_path / "linux", "6.1", {"fs/fuse/virtio_fs.c": VIRTIO_FS_C})
    base = repo.git("rev-parse", "HEAD").strip()
    anchor = "\tvdev->config->del_vqs(vdev);\n}\n"
    repo.edit("fs/fuse/virtio_fs.c", anchor, anchor + VIRTIO_FS_DAX)
    repo.commit("virtio_fs, dax: Set up virtio_fs dax_device")
    (good,) = series_of(repo, base, tmp_path / "good")
    assert headers(good)[0].endswith("@@ static void virtio_fs_cleanup_vqs(struct virtio_device *vdev)")
    assert verdicts(patch_json(str(good), cwd=tmp_path)) == set()

    repo.git("reset", "-q", "--hard", base)
    bad = VIRTIO_FS_DAX.replace("PFN_DEV | PFN_MAP", "PFN_DEV")
    bad = bad.replace("\tpgmap->type = MEMORY_DEVICE_FS_DAX;\n", "").replace(
        "devm_memremap_pages(&vdev->dev, pgmap)", "devm_memremap(&vdev->dev, fs->window_phys_addr, fs->window_len, MEMREMAP_WB)"
    )
    repo.edit("fs/fuse/virtio_fs.c", anchor, anchor + bad)
    repo.commit("virtio_fs, dax: map the window without pages")
    (patch,) = series_of(repo, base, tmp_path / "bad")
    rel = "fs/fuse/virtio_fs.c"
    got = verdicts(patch_json(str(patch), cwd=tmp_path))
    assert got == {
        (1, "DAX101", rel, line_in(repo, rel, "phys_to_pfn_t(fs->window_phys_addr + offset, PFN_DEV)"), "error"),
        (1, "DAX201", rel, line_in(repo, rel, ".direct_access = virtio_fs_direct_access,"), "error"),
        # a devm_memremap_pages() path for the same window could be out of view
        (1, "DAX202", rel, line_in(repo, rel, "fs->window_kaddr = devm_memremap("), "warning"),
    }


# -- item 2: pfn_t_to_page() where the pfn comes from out of view -------------------

HUGE_MEMORY_C = """\
    // SPDX-License-Identifier: GPL-2.0-only
    #include <linux/mm.h>
    #include <linux/pfn_t.h>

    vm_fault_t vmf_insert_pfn_pmd(struct vm_fault *vmf, pfn_t pfn, bool write)
    {
    	unsigned long addr = vmf->address & PMD_MASK;
    	struct vm_area_struct *vma = vmf->vma;
    	pgprot_t pgprot = vma->vm_page_prot;

    	if (addr < vma->vm_start || addr >= vma->vm_end)
    		return VM_FAULT_SIGBUS;
    	return insert_pfn_pmd(vma, addr, vmf->pmd, pfn, pgprot, write);
    }
    EXPORT_SYMBOL_GPL(vmf_insert_pfn_pmd);
    """

DAX_INSERT_PFN_PMD = """\

vm_fault_t dax_insert_pfn_pmd(struct vm_fault *vmf, pfn_t pfn, bool write)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr = vmf->address & PMD_MASK;
	struct mm_struct *mm = vma->vm_mm;
	struct page *page;
	spinlock_t *ptl;
	pmd_t entry;

	ptl = pmd_lock(mm, vmf->pmd);
	entry = pmd_mkhuge(pfn_t_pmd(pfn, vma->vm_page_prot));
	entry = pmd_mkdevmap(entry);
	page = pfn_t_to_page(pfn);
	folio_get(page_folio(page));
	set_pmd_at(mm, addr, vmf->pmd, entry);
	spin_unlock(ptl);
	return VM_FAULT_NOPAGE;
}
EXPORT_SYMBOL_GPL(dax_insert_pfn_pmd);
"""

FS_DAX_C = """\
    // SPDX-License-Identifier: GPL-2.0-only
    #include <linux/dax.h>
    #include <linux/pfn_t.h>

    static vm_fault_t dax_fault_iter(struct vm_fault *vmf,
    		const struct iomap_iter *iter, pfn_t *pfnp,
    		struct xa_state *xas, void **entry, bool pmd)
    {
    	const struct iomap *iomap = &iter->iomap;
    	size_t size = pmd ? PMD_SIZE : PAGE_SIZE;
    	loff_t pos = (loff_t)xas->xa_index << PAGE_SHIFT;
    	bool write = iter->flags & IOMAP_WRITE;
    	unsigned long entry_flags = pmd ? DAX_PMD : 0;
    	int err = 0;
    	pfn_t pfn;
    	void *kaddr;

    	if (!pmd && vmf->cow_page)
    		return dax_fault_cow_page(vmf, iter);

    	/* if we are reading UNWRITTEN and HOLE, return a hole. */
    	if (!write &&
    	    (iomap->type == IOMAP_UNWRITTEN || iomap->type == IOMAP_HOLE)) {
    		if (!pmd)
    			return dax_load_hole(xas, vmf, iter, entry);
    		return dax_pmd_load_hole(xas, vmf, iter, entry);
    	}

    	if (iomap->type != IOMAP_MAPPED && !(iomap->flags & IOMAP_F_SHARED)) {
    		WARN_ON_ONCE(1);
    		return pmd ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
    	}

    	err = dax_iomap_direct_access(iomap, pos, size, &kaddr, &pfn);
    	if (err)
    		return pmd ? VM_FAULT_FALLBACK : dax_fault_return(err);

    	*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, entry_flags);

    	if (write && iomap->flags & IOMAP_F_SHARED) {
    		err = dax_iomap_copy_around(pos, size, size, iter, kaddr);
    		if (err)
    			return dax_fault_return(err);
    	}

    	if (dax_fault_is_synchronous(iter, vmf->vma))
    		return dax_fault_synchronous_pfnp(pfnp, pfn);

    	/* insert PMD pfn */
    	if (pmd)
    		return vmf_insert_pfn_pmd(vmf, pfn, write);

    	/* insert PTE pfn */
    	if (write)
    		return vmf_insert_mixed_mkwrite(vmf->vma, vmf->address, pfn);
    	return vmf_insert_mixed(vmf->vma, vmf->address, pfn);
    }

    static vm_fault_t
    dax_insert_pfn_mkwrite(struct vm_fault *vmf, pfn_t pfn, unsigned int order)
    {
    	struct address_space *mapping = vmf->vma->vm_file->f_mapping;
    	XA_STATE_ORDER(xas, &mapping->i_pages, vmf->pgoff, order);
    	void *entry;
    	vm_fault_t ret;

    	xas_lock_irq(&xas);
    	entry = get_unlocked_entry(&xas, order);
    	xas_set_mark(&xas, PAGECACHE_TAG_DIRTY);
    	dax_lock_entry(&xas, entry);
    	xas_unlock_irq(&xas);
    	ret = vmf_insert_mixed_mkwrite(vmf->vma, vmf->address, pfn);
    	dax_unlock_entry(&xas, entry);
    	return ret;
    }

    static vm_fault_t dax_load_hole(struct xa_state *xas, struct vm_fault *vmf,
    		const struct iomap_iter *iter, void **entry)
    {
    	struct inode *inode = iter->inode;
    	unsigned long vaddr = vmf->address;
    	pfn_t pfn = pfn_to_pfn_t(my_zero_pfn(vaddr));
    	vm_fault_t ret;

    	*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, DAX_ZERO_PAGE);
    	ret = vmf_insert_mixed(vmf->vma, vaddr, pfn);
    	trace_dax_load_hole(inode, vmf, ret);
    	return ret;
    }
    """


def test_new_mm_helper_taking_a_pfn_is_info(tmp_path):
    """huge_memory-style: a new exported helper with an unguarded
    pfn_t_to_page() of its parameter, under a header naming the function
    before it. Whoever calls it must pass a page-backed pfn: info."""
    repo = kernel_repo(tmp_path / "linux", "6.12", {"mm/huge_memory.c": HUGE_MEMORY_C})
    base = repo.git("rev-parse", "HEAD").strip()
    anchor = "EXPORT_SYMBOL_GPL(vmf_insert_pfn_pmd);\n"
    repo.edit("mm/huge_memory.c", anchor, anchor + DAX_INSERT_PFN_PMD)
    repo.commit("huge_memory: Allow mappings of PMD sized pages")
    (patch,) = series_of(repo, base, tmp_path / "out")
    assert headers(patch)[0].endswith("@@ vm_fault_t vmf_insert_pfn_pmd(struct vm_fault *vmf, pfn_t pfn, bool write)")
    line = line_in(repo, "mm/huge_memory.c", "page = pfn_t_to_page(pfn);")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX103", "mm/huge_memory.c", line, "info")}
    assert "make sure every caller passes a pfn with a struct page" in data["findings"][0]["message"]


def test_fs_dax_pfn_filled_between_hunks(tmp_path):
    """fs/dax.c-style refcounting patch: hunk 1 shows only dax_fault_iter's
    declarations, hunk 2 takes a page reference after the synchronous-fault
    return - the dax_iomap_direct_access() that fills the pfn is between
    the two, out of view (info); the checkout shows it, and a DAX device's
    pfn has pages by policy (no finding). The XFS-style
    dax_insert_pfn_mkwrite() hunk converts its parameter (info either way),
    and dax_load_hole() converts a pfn_to_pfn_t() zero page (never)."""
    repo = kernel_repo(tmp_path / "linux", "6.12", {"fs/dax.c": FS_DAX_C})
    base = repo.git("rev-parse", "HEAD").strip()
    rel = "fs/dax.c"
    repo.edit(rel, "\tpfn_t pfn;\n\tvoid *kaddr;\n", "\tstruct page *page;\n\tpfn_t pfn;\n\tvoid *kaddr;\n")
    repo.edit(rel, "\t/* insert PMD pfn */\n", "\tpage = pfn_t_to_page(pfn);\n\tpage_ref_inc(page);\n\n\t/* insert PMD pfn */\n")
    repo.edit(
        rel,
        "\txas_set_mark(&xas, PAGECACHE_TAG_DIRTY);\n",
        "\txas_set_mark(&xas, PAGECACHE_TAG_DIRTY);\n\tpage_ref_inc(pfn_t_to_page(pfn));\n",
    )
    repo.edit(
        rel,
        "\tvm_fault_t ret;\n\n\t*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, DAX_ZERO_PAGE);\n",
        "\tstruct page *page = pfn_t_to_page(pfn);\n\tvm_fault_t ret;\n\n\tpage_ref_inc(page);\n"
        "\t*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, DAX_ZERO_PAGE);\n",
    )
    repo.commit("fs/dax: Properly refcount fs dax pages")
    (patch,) = series_of(repo, base, tmp_path / "out")
    hdrs = headers(patch)
    assert hdrs[0].endswith("@@ static vm_fault_t dax_fault_iter(struct vm_fault *vmf,")
    assert any(h.endswith("@@ dax_insert_pfn_mkwrite(struct vm_fault *vmf, pfn_t pfn, unsigned int order)") for h in hdrs)
    assert "dax_iomap_direct_access" not in patch.read_text()
    iter_line = line_in(repo, rel, "page = pfn_t_to_page(pfn);")
    mkwrite_line = line_in(repo, rel, "page_ref_inc(pfn_t_to_page(pfn));")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX103", rel, iter_line, "info"), (1, "DAX103", rel, mkwrite_line, "info")}
    repo.git("checkout", "-q", base)
    data = patch_json(str(patch), cwd=repo.path)
    assert data["mode"] == "tree"
    assert verdicts(data) == {(1, "DAX103", rel, mkwrite_line, "info")}


def test_page_less_pfn_into_pfn_t_to_page_stays_an_error(tmp_path):
    repo = kernel_repo(tmp_path / "linux", "6.1", {"drivers/misc/toy.c": "// SPDX-License-Identifier: GPL-2.0\n#include <linux/mm.h>\n"})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.write(
        "drivers/misc/toy.c",
        "// SPDX-License-Identifier: GPL-2.0\n#include <linux/mm.h>\n\n"
        "static void toy_pin(phys_addr_t phys)\n{\n\tpfn_t pfn = phys_to_pfn_t(phys, PFN_DEV);\n\n"
        "\tget_page(pfn_t_to_page(pfn));\n}\n",
    )
    repo.commit("toy: pin the window")
    (patch,) = series_of(repo, base, tmp_path / "out")
    got = verdicts(patch_json(str(patch), cwd=tmp_path), "DAX103")
    assert got == {(1, "DAX103", "drivers/misc/toy.c", 8, "error")}


# -- items 3 and 4: the checkout, and XFS-style function headers --------------------

XFS_FILE_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include "demofs.h"

    STATIC int
    demofs_file_open(
    	struct inode	*inode,
    	struct file	*file)
    {
    	return generic_file_open(inode, file);
    }

    STATIC int
    demofs_file_mmap(
    	struct file		*file,
    	struct vm_area_struct	*vma)
    {
    	struct inode		*inode = file_inode(file);

    	file_accessed(file);
    	vma->vm_ops = &demofs_file_vm_ops;
    	if (IS_DAX(inode))
    		vma->vm_flags |= VM_MIXEDMAP;
    	return 0;
    }

    const struct file_operations demofs_file_operations = {
    	.open		= demofs_file_open,
    	.mmap		= demofs_file_mmap,
    };
    """


@pytest.fixture
def xfs_repo(tmp_path):
    repo = kernel_repo(tmp_path / "linux", "6.3", {"fs/demofs/demofs_file.c": XFS_FILE_C})
    return repo, repo.git("rev-parse", "HEAD").strip()


def _one_patch(repo, base, tmp_path, name, *extra):
    (patch,) = repo.format_patch(f"{base}..HEAD", tmp_path / name, *extra)
    return patch


def test_xfs_style_header_name_only(xfs_repo, tmp_path):
    """The hunk sits in the body: git's header is the bare ``name(`` line,
    so the vma parameter is out of view. Kernel convention types ``vma``."""
    repo, base = xfs_repo
    rel = "fs/demofs/demofs_file.c"
    repo.edit(rel, "\t\tvma->vm_flags |= VM_MIXEDMAP;\n", "\t\tvma->vm_flags |= VM_HUGEPAGE;\n")
    repo.commit("demofs: stop using VM_MIXEDMAP for dax")
    patch = _one_patch(repo, base, tmp_path, "a")
    assert headers(patch)[0].endswith("@@ demofs_file_mmap(")
    line = line_in(repo, rel, "vma->vm_flags |= VM_HUGEPAGE;")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX301", rel, line, "error")}
    assert data["findings"][0]["function"] == "demofs_file_mmap"
    assert data["findings"][0]["fix"]["text"] == "vm_flags_set(vma, VM_HUGEPAGE)"


def test_xfs_style_header_is_the_return_type(xfs_repo, tmp_path):
    """The hunk starts at the ``name(`` line (more context, -U5), so git's
    header is ``STATIC int``: the hunk itself holds the parameters."""
    repo, base = xfs_repo
    rel = "fs/demofs/demofs_file.c"
    repo.edit(
        rel,
        "\tstruct inode\t\t*inode = file_inode(file);\n",
        "\tstruct inode\t\t*inode = file_inode(file);\n\tvma->vm_flags |= VM_NOHUGEPAGE;\n",
    )
    repo.commit("demofs: no huge pages")
    patch = _one_patch(repo, base, tmp_path, "b", "-U5")
    text = patch.read_text()
    assert headers(patch)[0].endswith("@@ STATIC int") and "\n demofs_file_mmap(\n" in text
    line = line_in(repo, rel, "vma->vm_flags |= VM_NOHUGEPAGE;")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX301", rel, line, "error")}
    assert data["findings"][0]["function"] == "demofs_file_mmap"


def test_xfs_style_header_names_the_previous_function(xfs_repo, tmp_path):
    """A hunk that starts on the blank line above ``STATIC int`` gets the
    previous function in its header; the finding names the function the
    changed line is in, from the hunk."""
    repo, base = xfs_repo
    rel = "fs/demofs/demofs_file.c"
    repo.edit(rel, "STATIC int\ndemofs_file_mmap(", "static int\ndemofs_file_mmap(")
    repo.edit(
        rel,
        "\tstruct inode\t\t*inode = file_inode(file);\n",
        "\tstruct inode\t\t*inode = file_inode(file);\n\tvma->vm_flags |= VM_NOHUGEPAGE;\n",
    )
    repo.commit("demofs: static mmap, no huge pages")
    patch = _one_patch(repo, base, tmp_path, "c")
    assert headers(patch)[0].endswith("@@ demofs_file_open(")
    line = line_in(repo, rel, "vma->vm_flags |= VM_NOHUGEPAGE;")
    data = patch_json(str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX301", rel, line, "error")}
    assert data["findings"][0]["function"] == "demofs_file_mmap"


def test_post_mmap_split_keeps_the_context_write(xfs_repo, tmp_path):
    """The rejected ->post_mmap shape: added lines close the mmap function
    early and open a post_mmap hook, so an unchanged context line - the
    DAX-dependent vm_flags write - now sits in the hook, which a second
    hunk registers. The registration is the patch's finding (DAX303); the
    write line is context and not this patch's to report."""
    repo, base = xfs_repo
    rel = "fs/demofs/demofs_file.c"
    repo.edit(
        rel,
        "\tvma->vm_ops = &demofs_file_vm_ops;\n",
        "\tvma->vm_ops = &demofs_file_vm_ops;\n\treturn 0;\n}\n\nSTATIC void\ndemofs_file_post_mmap(\n"
        "\tstruct file\t\t*file,\n\tstruct vm_area_struct\t*vma)\n{\n\tstruct inode\t\t*inode = file_inode(file);\n\n",
    )
    repo.edit(
        rel,
        "\tif (IS_DAX(inode))\n\t\tvma->vm_flags |= VM_MIXEDMAP;\n\treturn 0;\n",
        "\tif (IS_DAX(inode))\n\t\tvma->vm_flags |= VM_MIXEDMAP;\n",
    )
    repo.edit(rel, "\t.mmap\t\t= demofs_file_mmap,\n", "\t.mmap\t\t= demofs_file_mmap,\n\t.post_mmap\t= demofs_file_post_mmap,\n")
    repo.commit("mm, fs: introduce file_operations->post_mmap()")
    patch = _one_patch(repo, base, tmp_path, "d")
    line = line_in(repo, rel, ".post_mmap\t= demofs_file_post_mmap,")
    data = patch_json(str(patch), "--select", "DAX3", cwd=tmp_path)
    assert (1, "DAX303", rel, line, "error") in verdicts(data)
    assert {f["rule_id"] for f in data["findings"]} == {"DAX303"}


def test_checkout_is_used_only_when_the_series_applies(xfs_repo, tmp_path):
    repo, base = xfs_repo
    rel = "fs/demofs/demofs_file.c"
    repo.edit(rel, "\t\tvma->vm_flags |= VM_MIXEDMAP;\n", "\t\tvma->vm_flags |= VM_HUGEPAGE;\n")
    repo.commit("demofs: stop using VM_MIXEDMAP for dax")
    patch = _one_patch(repo, base, tmp_path, "e")
    line = line_in(repo, rel, "vma->vm_flags |= VM_HUGEPAGE;")
    # Inside the checkout at the series' base: used as --tree, and left alone.
    repo.git("checkout", "-q", base)
    before = tree_state(repo.path)
    data = patch_json(str(patch), cwd=repo.path / "fs")
    assert data["mode"] == "tree" and data["tree"]["from"] == "checkout"
    assert verdicts(data) == {(1, "DAX301", rel, line, "error")}
    assert tree_state(repo.path) == before
    # A checkout the series does not apply to (another tree, without the
    # pre-image blob the patch names): hunks, and the note says why.
    other = kernel_repo(
        tmp_path / "other", "6.3", {rel: XFS_FILE_C.replace("file_accessed(file);", 'file_accessed(file);\n\tpr_debug("mmap\\n");')}
    )
    data = patch_json(str(patch), cwd=other.path)
    assert data["mode"] == "hunks" and data["tree"] is None
    assert any(n.startswith("not checked against the git checkout") and "does not apply" in n for n in data["notes"])
    assert verdicts(data) == {(1, "DAX301", rel, line, "error")}
    # --no-tree, and its conflicts.
    repo.git("checkout", "-q", base)
    assert patch_json(str(patch), "--no-tree", cwd=repo.path)["mode"] == "hunks"
    rc, _, err = run_daxlint("patch", str(patch), "--no-tree", "--tree", str(repo.path))
    assert rc == 2 and "--no-tree" in err


def test_unrelated_checkout_is_not_used(tmp_path):
    """A series of new files "applies" to any repository: a checkout that
    has none of its directories is not the series' tree."""
    repo = kernel_repo(tmp_path / "linux", "6.3", {"fs/demofs/demofs_file.c": XFS_FILE_C})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.write(
        "drivers/newdrv/newdrv.c",
        "static int newdrv_mmap(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n",
    )
    repo.commit("newdrv: add")
    patch = _one_patch(repo, base, tmp_path, "f")
    other = GitRepo(tmp_path / "other")
    other.write("README", "not a kernel\n")
    other.commit("init")
    data = patch_json(str(patch), cwd=other.path)
    assert data["mode"] == "hunks"
    assert any("only adds files in directories the checkout does not have" in n for n in data["notes"])
    assert verdicts(data) == {(1, "DAX301", "drivers/newdrv/newdrv.c", 3, "error")}


TOYDEV_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/dax.h>
    #include "dax-private.h"

    static int toydev_setup(struct dev_dax *dev_dax)
    {
    	return 0;
    }

    static int toydev_probe(struct dev_dax *dev_dax)
    {
    	struct dev_pagemap *pgmap = dev_dax->pgmap;
    	int rc;

    	rc = toydev_setup(dev_dax);
    	if (rc)
    		return rc;
    	return 0;
    }
    """


def test_pages_an_earlier_patch_showed_count(tmp_path):
    """A two-patch series on a file the tree already has: patch 1 sets up
    the pages in probe, patch 2 adds the ops table in another hunk. Without
    a tree, patch 2's file is hunks only - but the series showed the
    devm_memremap_pages() call, so there is nothing to say; alone, patch 2
    gets the info."""
    repo = kernel_repo(tmp_path / "linux", "6.19", {"drivers/dax/toydev.c": TOYDEV_C})
    base = repo.git("rev-parse", "HEAD").strip()
    rel = "drivers/dax/toydev.c"
    repo.edit(
        rel,
        "\tif (rc)\n\t\treturn rc;\n\treturn 0;\n",
        "\tif (rc)\n\t\treturn rc;\n\tpgmap->type = MEMORY_DEVICE_FS_DAX;\n"
        "\tdev_dax->virt_addr = devm_memremap_pages(&dev_dax->dev, pgmap);\n\treturn PTR_ERR_OR_ZERO(dev_dax->virt_addr);\n",
    )
    repo.commit("toydev: map the range with struct pages")
    repo.edit(rel, '#include "dax-private.h"\n', '#include "dax-private.h"\n' + FSDEV_OPS.replace("fsdev", "toydev"))
    repo.commit("toydev: add dax_operations")
    patches = series_of(repo, base, tmp_path / "out")
    assert "devm_memremap_pages" not in patches[1].read_text()
    assert verdicts(patch_json(*map(str, patches), cwd=tmp_path)) == set()
    line = line_in(repo, rel, ".direct_access = toydev_dax_direct_access,")
    assert verdicts(patch_json(str(patches[1]), cwd=tmp_path)) == {(1, "DAX201", rel, line, "info")}


# -- a fault handler whose registration is out of the hunk ------------------------

BAR_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/mm.h>

    static vm_fault_t bar_vm_fault(struct vm_fault *vmf)
    {
    	struct vm_area_struct *vma = vmf->vma;
    	struct bar_dev *bar = vma->vm_private_data;
    	unsigned long pfn = bar->base_pfn + vmf->pgoff;
    	vm_fault_t ret;

    	mutex_lock(&bar->lock);
    	ret = vmf_insert_pfn(vma, vmf->address, pfn);
    	mutex_unlock(&bar->lock);
    	return ret;
    }

    static void bar_vm_close(struct vm_area_struct *vma)
    {
    	struct bar_dev *bar = vma->vm_private_data;

    	bar->mapped = false;
    }

    static const struct vm_operations_struct bar_vm_ops = {
    	.fault = bar_vm_fault,
    	.close = bar_vm_close,
    };
    """


def test_fault_handler_by_its_signature_when_the_registration_is_out_of_view(tmp_path):
    """ocxl/cxl shape: vm_flags_set() added to a ->fault whose .fault = line
    is far below the hunk. Hunks alone: the signature (vm_fault_t, struct
    vm_fault *) makes it a likely fault handler - a DAX302 warning saying
    so; with the tree the registration is seen - an error."""
    repo = kernel_repo(tmp_path / "linux", "6.12", {"drivers/misc/bar/bar_main.c": BAR_C})
    base = repo.git("rev-parse", "HEAD").strip()
    anchor = "\tvm_fault_t ret;\n\n"
    repo.edit("drivers/misc/bar/bar_main.c", anchor, anchor + "\tvm_flags_set(vma, VM_IO | VM_PFNMAP);\n")
    repo.commit("misc/bar: mark the vma as PFNMAP on first fault")
    (patch,) = series_of(repo, base, tmp_path / "out")
    assert headers(patch)[0].endswith("@@ static vm_fault_t bar_vm_fault(struct vm_fault *vmf)")
    line = line_in(repo, "drivers/misc/bar/bar_main.c", "vm_flags_set(vma")
    data = patch_json("--no-tree", str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX302", "drivers/misc/bar/bar_main.c", line, "warning")}
    assert (
        "has a page-fault handler's signature (vm_fault_t, struct vm_fault *); its registration is not in view"
        in data["findings"][0]["message"]
    )
    data = patch_json("--tree", str(repo.path), str(patch), cwd=tmp_path)
    assert verdicts(data) == {(1, "DAX302", "drivers/misc/bar/bar_main.c", line, "error")}


CONT_C = """\
    #include <linux/mm.h>

    static int cont_mmap(struct file *file, struct vm_area_struct *vma)
    {
    	if (vma->vm_pgoff)
    		return -EINVAL;

    	vma->vm_flags |= VM_IO | VM_PFNMAP |
    			 VM_DONTEXPAND;
    	vma->vm_ops = &cont_vm_ops;
    	return 0;
    }
    """


@pytest.mark.parametrize("tree", [False, True])
def test_editing_a_continuation_line_of_a_direct_write_is_the_patch_s(tmp_path, tree):
    """Adding a flag on the second line of a multi-line direct write is as
    much the patch's as editing its first line: reported on the edited line.
    A patch that leaves the statement as it was (an edit beside it) is not."""
    repo = kernel_repo(tmp_path / "linux", "6.12", {"drivers/misc/cont.c": CONT_C})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.edit("drivers/misc/cont.c", "\t\t\t VM_DONTEXPAND;\n", "\t\t\t VM_DONTEXPAND | VM_MIXEDMAP;\n")
    repo.commit("misc/cont: map mixed")
    repo.edit("drivers/misc/cont.c", "\t\treturn -EINVAL;\n", "\t\treturn -ENXIO;\n")
    repo.commit("misc/cont: say ENXIO")
    first, second = series_of(repo, base, tmp_path / "out")
    line = line_in(repo, "drivers/misc/cont.c", "VM_MIXEDMAP;")
    args = ["--tree", str(tmp_path / "pre")] if tree else ["--no-tree"]
    if tree:
        subprocess.run(["git", "clone", "-q", str(repo.path), str(tmp_path / "pre")], check=True)
        subprocess.run(["git", "-C", str(tmp_path / "pre"), "checkout", "-q", base], check=True)
    data = patch_json(*args, str(first), str(second), cwd=tmp_path)
    assert verdicts(data, "DAX301") == {(1, "DAX301", "drivers/misc/cont.c", line, "error")}


QRAM_C = """\
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/dax.h>

    struct qram {
    	phys_addr_t phys;
    	void *virt;
    };

    static int qram_probe(struct platform_device *pdev)
    {
    	return 0;
    }
    """
QRAM_DAX = """\

static long qram_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
				   enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
{
	struct qram *q = dax_get_private(dax_dev);

	*kaddr = q->virt + PFN_PHYS(pgoff);
	*pfn = phys_to_pfn_t(q->phys + PFN_PHYS(pgoff), PFN_DEV);
	return nr_pages;
}

static const struct dax_operations qram_dax_ops = {
	.direct_access = qram_dax_direct_access,
};
"""


def test_pageless_provider_out_of_context_claims_only_what_it_sees(tmp_path):
    """A new ->direct_access handing out PFN_DEV-only pfns, by hunks alone:
    DAX201 says it hands out page-less pfns - what the hunk shows - and not
    that the driver's other files lack devm_memremap_pages(), which it did
    not read."""
    repo = kernel_repo(tmp_path / "linux", "6.1", {"drivers/nvdimm/qram.c": QRAM_C})
    base = repo.git("rev-parse", "HEAD").strip()
    repo.edit("drivers/nvdimm/qram.c", "\treturn 0;\n}\n", "\treturn 0;\n}\n" + QRAM_DAX)
    repo.commit("nvdimm/qram: add dax support")
    (patch,) = series_of(repo, base, tmp_path / "out")
    data = patch_json("--no-tree", str(patch), cwd=tmp_path)
    line = line_in(repo, "drivers/nvdimm/qram.c", ".direct_access = qram_dax_direct_access")
    (f,) = [f for f in data["findings"] if f["rule_id"] == "DAX201"]
    assert (f["line"], f["severity"]) == (line, "error")
    assert "hands out page-less pfns (PFN_DEV without PFN_MAP, in view), whatever the rest of its driver sets up" in f["message"]
    assert "in this file or the other files of its driver" not in f["message"]
