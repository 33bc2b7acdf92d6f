/*
 * pmy: a filesystem-DAX provider with struct pages. The dev_pagemap says
 * MEMORY_DEVICE_FS_DAX, so the page-free path can wake a filesystem waiting
 * for DMA to a DAX page to finish.
 */
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/memremap.h>
#include <linux/pfn_t.h>

struct pmy_device {
	struct request_queue *q;
	struct dax_device *dax_dev;
	struct dev_pagemap pgmap;
	phys_addr_t phys_addr;
	void *virt_addr;
	size_t size;
};

static long pmy_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				  long nr_pages, void **kaddr, pfn_t *pfn)
{
	struct pmy_device *pmy = dax_get_private(dax_dev);
	resource_size_t offset = PFN_PHYS(pgoff);

	*kaddr = pmy->virt_addr + offset;
	*pfn = phys_to_pfn_t(pmy->phys_addr + offset, PFN_DEV | PFN_MAP);
	return PHYS_PFN(pmy->size - offset);
}

static const struct dax_operations pmy_dax_ops = {
	.direct_access = pmy_dax_direct_access,
};

static int pmy_attach(struct device *dev, struct resource *res,
		      struct request_queue *q)
{
	struct pmy_device *pmy;

	pmy = devm_kzalloc(dev, sizeof(*pmy), GFP_KERNEL);
	if (!pmy)
		return -ENOMEM;
	pmy->q = q;
	pmy->phys_addr = res->start;
	pmy->size = resource_size(res);

	memcpy(&pmy->pgmap.res, res, sizeof(*res));
	pmy->pgmap.ref = &q->q_usage_counter;
	pmy->pgmap.altmap_valid = false;
	pmy->pgmap.type = MEMORY_DEVICE_FS_DAX;
	pmy->virt_addr = devm_memremap_pages(dev, &pmy->pgmap);
	if (IS_ERR(pmy->virt_addr))
		return PTR_ERR(pmy->virt_addr);

	pmy->dax_dev = alloc_dax(pmy, dev_name(dev), &pmy_dax_ops);
	if (!pmy->dax_dev)
		return -ENOMEM;
	return 0;
}
