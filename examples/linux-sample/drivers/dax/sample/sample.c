// SPDX-License-Identifier: GPL-2.0
/*
 * A made-up DAX driver that breaks the 2017 DAX policy in the ways daxlint
 * knows about. Run: daxlint check examples/linux-sample
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct sample_dev {
	struct dax_device *dax_dev;
	void *virt;
	phys_addr_t phys;
};

static long sample_direct_access(struct dax_device *dax_dev, pgoff_t pgoff,
				 long nr_pages, enum dax_access_mode mode,
				 void **kaddr, pfn_t *pfn)
{
	struct sample_dev *sdev = dax_get_private(dax_dev);

	*kaddr = sdev->virt + PFN_PHYS(pgoff);
	/* memory from devm_memremap(): there is no struct page behind it */
	*pfn = phys_to_pfn_t(sdev->phys + PFN_PHYS(pgoff), PFN_DEV);
	return nr_pages;
}

static const struct dax_operations sample_dax_ops = {
	.direct_access = sample_direct_access,
};

static int sample_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* v6.3 made vm_flags const: this must be vm_flags_set() */
	vma->vm_flags |= VM_MIXEDMAP | VM_HUGEPAGE;
	return 0;
}

static const struct file_operations sample_fops = {
	.mmap = sample_mmap,
};

static int sample_probe(struct device *dev, struct resource *res)
{
	struct sample_dev *sdev = devm_kzalloc(dev, sizeof(*sdev), GFP_KERNEL);

	if (!sdev)
		return -ENOMEM;
	sdev->phys = res->start;
	sdev->virt = devm_memremap(dev, res->start, resource_size(res), MEMREMAP_WB);
	sdev->dax_dev = alloc_dax(sdev, &sample_dax_ops);
	return PTR_ERR_OR_ZERO(sdev->dax_dev);
}
