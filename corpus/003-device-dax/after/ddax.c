/*
 * ddax: a device-DAX style character device. The region is given struct
 * pages when it is set up, so every pfn it hands out is PFN_DEV|PFN_MAP and
 * get_user_pages(), fork and O_DIRECT work on its mappings.
 */
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct ddax_region {
	struct resource res;
	struct percpu_ref ref;
	void *base;
	unsigned long align;
};

struct ddax_dev {
	struct ddax_region *region;
	struct cdev cdev;
	bool alive;
};

static int ddax_region_setup(struct device *dev, struct ddax_region *region)
{
	/* ZONE_DEVICE: the range gets a memmap, hence struct pages. */
	region->base = devm_memremap_pages(dev, &region->res, &region->ref, NULL);
	if (IS_ERR(region->base))
		return PTR_ERR(region->base);
	return 0;
}

static phys_addr_t ddax_pgoff_to_phys(struct ddax_dev *ddev, pgoff_t pgoff,
				      unsigned long size)
{
	struct ddax_region *region = ddev->region;
	phys_addr_t phys = region->res.start + ((phys_addr_t)pgoff << PAGE_SHIFT);

	if (phys + size > region->res.end + 1)
		return -1;
	return phys;
}

static int ddax_pte_fault(struct ddax_dev *ddev, struct vm_area_struct *vma,
			  struct vm_fault *vmf)
{
	unsigned long addr = (unsigned long)vmf->virtual_address;
	struct page *page;
	phys_addr_t phys;
	pfn_t pfn;
	int rc;

	phys = ddax_pgoff_to_phys(ddev, vmf->pgoff, PAGE_SIZE);
	if (phys == -1)
		return VM_FAULT_SIGBUS;

	pfn = phys_to_pfn_t(phys, PFN_DEV | PFN_MAP);

	/* The page exists by construction; check anyway before touching it. */
	if (!pfn_t_has_page(pfn))
		return VM_FAULT_SIGBUS;
	page = pfn_t_to_page(pfn);
	if (PageReserved(page))
		return VM_FAULT_SIGBUS;

	rc = vm_insert_mixed(vma, addr, pfn);
	if (rc && rc != -EBUSY)
		return VM_FAULT_SIGBUS;
	return VM_FAULT_NOPAGE;
}

static int ddax_pmd_fault(struct vm_area_struct *vma, unsigned long addr,
			  pmd_t *pmd, unsigned int flags)
{
	struct ddax_dev *ddev = vma->vm_file->private_data;
	pgoff_t pgoff = linear_page_index(vma, addr & PMD_MASK);
	phys_addr_t phys;

	phys = ddax_pgoff_to_phys(ddev, pgoff, PMD_SIZE);
	if (phys == -1)
		return VM_FAULT_SIGBUS;

	/* Huge mappings are only GUP-able because the pfn has a page. */
	return vmf_insert_pfn_pmd(vma, addr, pmd,
				  phys_to_pfn_t(phys, PFN_DEV | PFN_MAP),
				  flags & FAULT_FLAG_WRITE);
}

static int ddax_fault(struct vm_area_struct *vma, struct vm_fault *vmf)
{
	struct ddax_dev *ddev = vma->vm_file->private_data;

	if (!ddev->alive)
		return VM_FAULT_SIGBUS;
	return ddax_pte_fault(ddev, vma, vmf);
}

static const struct vm_operations_struct ddax_vm_ops = {
	.fault = ddax_fault,
	.pmd_fault = ddax_pmd_fault,
};

static int ddax_mmap(struct file *filp, struct vm_area_struct *vma)
{
	/* Private mappings would need copy-on-write of device memory: refuse. */
	if ((vma->vm_flags & VM_MAYSHARE) != VM_MAYSHARE)
		return -EINVAL;

	vma->vm_ops = &ddax_vm_ops;
	vma->vm_flags |= VM_HUGEPAGE;
	return 0;
}

static const struct file_operations ddax_fops = {
	.owner = THIS_MODULE,
	.mmap = ddax_mmap,
	.llseek = noop_llseek,
};
