/*
 * hpm with struct pages: the device memory is ZONE_DEVICE memory, the pfn
 * says PFN_DEV|PFN_MAP, and the huge mapping is a devmap pmd that
 * get_user_pages() can follow.
 */
#include <linux/huge_mm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct hpm_dev {
	struct resource res;
	struct percpu_ref ref;
	phys_addr_t base;
	size_t size;
	void *kaddr;
};

static int hpm_setup(struct device *dev, struct hpm_dev *hdev)
{
	hdev->kaddr = devm_memremap_pages(dev, &hdev->res, &hdev->ref, NULL);
	return PTR_ERR_OR_ZERO(hdev->kaddr);
}

static int hpm_pmd_fault(struct vm_area_struct *vma, unsigned long addr,
			 pmd_t *pmd, unsigned int flags)
{
	struct hpm_dev *hdev = vma->vm_file->private_data;
	unsigned long pmd_addr = addr & PMD_MASK;
	phys_addr_t phys;

	if (pmd_addr < vma->vm_start || pmd_addr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;

	phys = hdev->base + ((pmd_addr - vma->vm_start) + (vma->vm_pgoff << PAGE_SHIFT));
	if (phys + PMD_SIZE > hdev->base + hdev->size)
		return VM_FAULT_SIGBUS;

	return vmf_insert_pfn_pmd(vma, pmd_addr, pmd,
				  phys_to_pfn_t(phys, PFN_DEV | PFN_MAP),
				  flags & FAULT_FLAG_WRITE);
}

static const struct vm_operations_struct hpm_vm_ops = {
	.pmd_fault = hpm_pmd_fault,
};
