/*
 * pmb after pfn_t: ->direct_access now returns a pfn_t, and its flags tell
 * the truth about the memory - PFN_DEV (not in the system memmap) without
 * PFN_MAP (no driver-established struct page). pfn_t_to_page() of such a pfn
 * is NULL: the type now carries what fork, GUP and DMA will trip over.
 */
#include <linux/blkdev.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pfn_t.h>

struct pmb_device {
	struct gendisk *disk;
	phys_addr_t phys_addr;
	void *virt_addr;
	size_t size;
};

static long pmb_direct_access(struct block_device *bdev, sector_t sector,
			      void **kaddr, pfn_t *pfn)
{
	struct pmb_device *pmb = bdev->bd_disk->private_data;
	resource_size_t offset = (resource_size_t)sector << 9;

	*kaddr = pmb->virt_addr + offset;
	*pfn = phys_to_pfn_t(pmb->phys_addr + offset, PFN_DEV);
	return pmb->size - offset;
}

static const struct block_device_operations pmb_fops = {
	.owner = THIS_MODULE,
	.direct_access = pmb_direct_access,
};

static int pmb_attach(struct device *dev, struct resource *res)
{
	struct pmb_device *pmb;

	pmb = devm_kzalloc(dev, sizeof(*pmb), GFP_KERNEL);
	if (!pmb)
		return -ENOMEM;
	pmb->phys_addr = res->start;
	pmb->size = resource_size(res);
	pmb->virt_addr = devm_memremap(dev, pmb->phys_addr, pmb->size,
				       MEMREMAP_WB);
	if (IS_ERR(pmb->virt_addr))
		return PTR_ERR(pmb->virt_addr);
	dev_set_drvdata(dev, pmb);
	return 0;
}
