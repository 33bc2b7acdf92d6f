/*
 * hpm: a huge-page memory device. Its PMD fault maps 2MiB of device memory
 * at once; the memory has no struct page, so the pmd is page-less and
 * get_user_pages() cannot pin anything in it.
 */
#include <linux/huge_mm.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct hpm_dev {
	phys_addr_t base;
	size_t size;
};

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

	return vmf_insert_pfn_pmd(vma, pmd_addr, pmd, phys_to_pfn_t(phys, PFN_DEV),
				  flags & FAULT_FLAG_WRITE);
}

static const struct vm_operations_struct hpm_vm_ops = {
	.pmd_fault = hpm_pmd_fault,
};
