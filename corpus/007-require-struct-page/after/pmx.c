/*
 * pmx with struct pages: the range is added to the memmap as ZONE_DEVICE
 * memory and every pfn handed out says PFN_DEV|PFN_MAP.
 */
#include <linux/dax.h>
#include <linux/memremap.h>
#include <linux/percpu-refcount.h>
#include <linux/pfn_t.h>

struct pmx_device {
	struct dax_device *dax_dev;
	struct percpu_ref ref;
	struct resource res;
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
	*pfn = phys_to_pfn_t(pmx->phys_addr + offset, PFN_DEV | PFN_MAP);
	return PHYS_PFN(pmx->size - offset);
}

static const struct dax_operations pmx_dax_ops = {
	.direct_access = pmx_dax_direct_access,
};

static void pmx_release_queue(struct percpu_ref *ref)
{
	struct pmx_device *pmx = container_of(ref, struct pmx_device, ref);

	pr_debug("pmx %pa: memmap reference released\n", &pmx->phys_addr);
}

static int pmx_attach(struct device *dev, struct resource *res)
{
	struct pmx_device *pmx;
	int rc;

	pmx = devm_kzalloc(dev, sizeof(*pmx), GFP_KERNEL);
	if (!pmx)
		return -ENOMEM;
	pmx->res = *res;
	pmx->phys_addr = res->start;
	pmx->size = resource_size(res);

	rc = percpu_ref_init(&pmx->ref, pmx_release_queue, 0, GFP_KERNEL);
	if (rc)
		return rc;
	/* ZONE_DEVICE pages for the whole range: GUP, fork and DMA work. */
	pmx->virt_addr = devm_memremap_pages(dev, &pmx->res, &pmx->ref, NULL);
	if (IS_ERR(pmx->virt_addr))
		return PTR_ERR(pmx->virt_addr);

	pmx->dax_dev = alloc_dax(pmx, dev_name(dev), &pmx_dax_ops);
	if (!pmx->dax_dev)
		return -ENOMEM;
	return 0;
}
