/* pmz: a DAX provider with ZONE_DEVICE pages, in the pfn_t API. */
#include <linux/dax.h>
#include <linux/memremap.h>
#include <linux/pfn_t.h>

struct pmz_device {
	struct dax_device *dax_dev;
	struct dev_pagemap pgmap;
	phys_addr_t phys_addr;
	void *virt_addr;
	size_t size;
};

static long pmz_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				  long nr_pages, enum dax_access_mode mode,
				  void **kaddr, pfn_t *pfn)
{
	struct pmz_device *pmz = dax_get_private(dax_dev);
	resource_size_t offset = PFN_PHYS(pgoff);

	if (kaddr)
		*kaddr = pmz->virt_addr + offset;
	if (pfn)
		*pfn = phys_to_pfn_t(pmz->phys_addr + offset, PFN_DEV | PFN_MAP);
	return PHYS_PFN(pmz->size - offset);
}

static const struct dax_operations pmz_dax_ops = {
	.direct_access = pmz_dax_direct_access,
};

static int pmz_attach(struct device *dev, struct range *range)
{
	struct pmz_device *pmz = devm_kzalloc(dev, sizeof(*pmz), GFP_KERNEL);

	if (!pmz)
		return -ENOMEM;
	pmz->pgmap.type = MEMORY_DEVICE_FS_DAX;
	pmz->pgmap.range = *range;
	pmz->pgmap.nr_range = 1;
	pmz->phys_addr = range->start;
	pmz->size = range_len(range);
	pmz->virt_addr = devm_memremap_pages(dev, &pmz->pgmap);
	if (IS_ERR(pmz->virt_addr))
		return PTR_ERR(pmz->virt_addr);
	pmz->dax_dev = alloc_dax(pmz, &pmz_dax_ops);
	return PTR_ERR_OR_ZERO(pmz->dax_dev);
}
