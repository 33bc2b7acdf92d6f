/*
 * pmb: a persistent-memory block device in the shape drivers had before
 * pfn_t. ->direct_access returns a raw page frame number: nothing in its type
 * says the range was mapped with devm_memremap() and has no struct page.
 */
#include <linux/blkdev.h>
#include <linux/io.h>
#include <linux/module.h>

struct pmb_device {
	struct gendisk *disk;
	phys_addr_t phys_addr;
	void *virt_addr;
	size_t size;
};

static long pmb_direct_access(struct block_device *bdev, sector_t sector,
			      void **kaddr, unsigned long *pfn)
{
	struct pmb_device *pmb = bdev->bd_disk->private_data;
	resource_size_t offset = (resource_size_t)sector << 9;

	*kaddr = pmb->virt_addr + offset;
	*pfn = (pmb->phys_addr + offset) >> PAGE_SHIFT;
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
	/* A plain kernel mapping: the range gets no struct page. */
	pmb->virt_addr = devm_memremap(dev, pmb->phys_addr, pmb->size,
				       MEMREMAP_WB);
	if (IS_ERR(pmb->virt_addr))
		return PTR_ERR(pmb->virt_addr);
	dev_set_drvdata(dev, pmb);
	return 0;
}
