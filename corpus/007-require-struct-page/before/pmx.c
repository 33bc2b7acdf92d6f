/*
 * pmx: a persistent-memory DAX provider that maps its range without struct
 * pages and says so with PFN_DEV alone.
 */
#include <linux/dax.h>
#include <linux/io.h>
#include <linux/pfn_t.h>

struct pmx_device {
	struct dax_device *dax_dev;
	phys_addr_t phys_addr;
	void *virt_addr;
	size_t size;
};

static long pmx_dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				  long nr_pages, void **kaddr, pfn_t *pfn)
{
	struct pmx_device *pmx = dax_get_private(dax_dev);
	resource_size_t offset = PFN_PHYS(pgoff);

	*kaddr = pmx->virt_addr + offset;
	*pfn = phys_to_pfn_t(pmx->phys_addr + offset, PFN_DEV);
	return PHYS_PFN(pmx->size - offset);
}

static const struct dax_operations pmx_dax_ops = {
	.direct_access = pmx_dax_direct_access,
};

static int pmx_attach(struct device *dev, struct resource *res)
{
	struct pmx_device *pmx;

	pmx = devm_kzalloc(dev, sizeof(*pmx), GFP_KERNEL);
	if (!pmx)
		return -ENOMEM;
	pmx->phys_addr = res->start;
	pmx->size = resource_size(res);
	pmx->virt_addr = devm_memremap(dev, pmx->phys_addr, pmx->size,
				       ARCH_MEMREMAP_PMEM);
	if (IS_ERR(pmx->virt_addr))
		return PTR_ERR(pmx->virt_addr);

	pmx->dax_dev = alloc_dax(pmx, dev_name(dev), &pmx_dax_ops);
	if (!pmx->dax_dev)
		return -ENOMEM;
	return 0;
}
