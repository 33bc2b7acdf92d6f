/*
 * hostwin: a paravirtual filesystem device whose shared-memory window (a PCI
 * BAR backed by host page cache) is used for DAX. The window is given struct
 * pages, so DAX mappings of it behave like any other fsdax memory.
 */
#include <linux/dax.h>
#include <linux/memremap.h>
#include <linux/pfn_t.h>
#include <linux/uio.h>
#include <linux/virtio.h>

struct hostwin_fs {
	struct dax_device *dax_dev;
	void *window_kaddr;
	phys_addr_t window_phys_addr;
	size_t window_len;
};

static long hostwin_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				  long nr_pages, void **kaddr, pfn_t *pfn)
{
	struct hostwin_fs *fs = dax_get_private(dax_dev);
	phys_addr_t offset = PFN_PHYS(pgoff);
	size_t max_nr_pages = fs->window_len / PAGE_SIZE - pgoff;

	if (kaddr)
		*kaddr = fs->window_kaddr + offset;
	if (pfn)
		*pfn = phys_to_pfn_t(fs->window_phys_addr + offset,
				     PFN_DEV | PFN_MAP);
	return nr_pages > max_nr_pages ? max_nr_pages : nr_pages;
}

static size_t hostwin_copy_from_iter(struct dax_device *dax_dev, pgoff_t pgoff,
				     void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_from_iter(addr, bytes, i);
}

static size_t hostwin_copy_to_iter(struct dax_device *dax_dev, pgoff_t pgoff,
				   void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_to_iter(addr, bytes, i);
}

static const struct dax_operations hostwin_dax_ops = {
	.direct_access = hostwin_direct_access,
	.copy_from_iter = hostwin_copy_from_iter,
	.copy_to_iter = hostwin_copy_to_iter,
};

static int hostwin_setup_dax(struct virtio_device *vdev, struct hostwin_fs *fs,
			     phys_addr_t addr, size_t len)
{
	struct dev_pagemap *pgmap;

	pgmap = devm_kzalloc(&vdev->dev, sizeof(*pgmap), GFP_KERNEL);
	if (!pgmap)
		return -ENOMEM;

	/* fs/dax.c needs struct pages for the window: make it ZONE_DEVICE. */
	pgmap->type = MEMORY_DEVICE_FS_DAX;
	pgmap->range = (struct range) {
		.start = (phys_addr_t)addr,
		.end = (phys_addr_t)addr + len - 1,
	};
	pgmap->nr_range = 1;

	fs->window_kaddr = devm_memremap_pages(&vdev->dev, pgmap);
	if (IS_ERR(fs->window_kaddr))
		return PTR_ERR(fs->window_kaddr);
	fs->window_phys_addr = addr;
	fs->window_len = len;

	fs->dax_dev = alloc_dax(fs, NULL, &hostwin_dax_ops, 0);
	if (IS_ERR(fs->dax_dev))
		return PTR_ERR(fs->dax_dev);
	return 0;
}
