/*
 * segblk: a block device over a segment of host memory that the kernel never
 * gave struct pages. ->direct_access reports the memory as PFN_DEV|PFN_SPECIAL
 * under the FS_DAX_LIMITED opt-in its Kconfig selects.
 */
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/pfn_t.h>

struct segblk_info {
	struct gendisk *gd;
	struct dax_device *dax_dev;
	unsigned long start;
	unsigned long end;
};

static long segblk_map(struct segblk_info *info, pgoff_t pgoff, long nr_pages,
		       void **kaddr, pfn_t *pfn)
{
	resource_size_t offset = pgoff * PAGE_SIZE;
	unsigned long dev_size = info->end - info->start + 1;

	if (kaddr)
		*kaddr = __va(info->start + offset);
	if (pfn)
		*pfn = __pfn_to_pfn_t(PFN_DOWN(info->start + offset),
				      PFN_DEV | PFN_SPECIAL);
	return (dev_size - offset) / PAGE_SIZE;
}

static long segblk_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				     long nr_pages, enum dax_access_mode mode,
				     void **kaddr, pfn_t *pfn)
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

	dax_dev = alloc_dax(info, &segblk_dax_ops);
	if (IS_ERR(dax_dev))
		return PTR_ERR(dax_dev);
	info->dax_dev = dax_dev;
	return dax_add_host(dax_dev, info->gd);
}
