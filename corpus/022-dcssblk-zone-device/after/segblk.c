/*
 * segblk on ZONE_DEVICE: the segment gets struct pages from
 * devm_memremap_pages() with an fs-dax pagemap before the DAX device is
 * created, so the pfns ->direct_access hands out have pages behind them.
 */
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/memremap.h>

struct segblk_info {
	struct device dev;
	struct gendisk *gd;
	struct dax_device *dax_dev;
	struct dev_pagemap pgmap;
	unsigned long start;
	unsigned long end;
};

static long segblk_map(struct segblk_info *info, pgoff_t pgoff, long nr_pages,
		       void **kaddr, unsigned long *pfn)
{
	resource_size_t offset = pgoff * PAGE_SIZE;
	unsigned long dev_size = info->end - info->start + 1;

	if (kaddr)
		*kaddr = __va(info->start + offset);
	if (pfn)
		*pfn = PFN_DOWN(info->start + offset);
	return (dev_size - offset) / PAGE_SIZE;
}

static long segblk_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				     long nr_pages, enum dax_access_mode mode,
				     void **kaddr, unsigned long *pfn)
{
	struct segblk_info *info = dax_get_private(dax_dev);

	return segblk_map(info, pgoff, nr_pages, kaddr, pfn);
}

static const struct dax_operations segblk_dax_ops = {
	.direct_access = segblk_dax_direct_access,
};

static int segblk_add(struct segblk_info *info)
{
	struct dax_device *dax_dev;
	void *addr;

	info->pgmap.type = MEMORY_DEVICE_FS_DAX;
	info->pgmap.range.start = info->start;
	info->pgmap.range.end = info->end;
	info->pgmap.nr_range = 1;
	addr = devm_memremap_pages(&info->dev, &info->pgmap);
	if (IS_ERR(addr))
		return PTR_ERR(addr);

	dax_dev = alloc_dax(info, &segblk_dax_ops);
	if (IS_ERR(dax_dev))
		return PTR_ERR(dax_dev);
	info->dax_dev = dax_dev;
	return dax_add_host(dax_dev, info->gd);
}
