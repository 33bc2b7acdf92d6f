/*
 * gemx: a GPU buffer object driver that maps contiguous carve-out memory
 * (no struct page) into user space one pte at a time.
 */
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct gemx_object {
	phys_addr_t dma_addr;
	size_t size;
};

static vm_fault_t gemx_fault_contig(struct gemx_object *obj,
				    struct vm_area_struct *vma,
				    struct vm_fault *vmf)
{
	pgoff_t pgoff = (vmf->address - vma->vm_start) >> PAGE_SHIFT;
	unsigned long pfn = (obj->dma_addr >> PAGE_SHIFT) + pgoff;

	return vmf_insert_mixed(vma, vmf->address,
				__pfn_to_pfn_t(pfn, PFN_DEV));
}

static vm_fault_t gemx_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct gemx_object *obj = vma->vm_private_data;

	return gemx_fault_contig(obj, vma, vmf);
}

static const struct vm_operations_struct gemx_vm_ops = {
	.fault = gemx_fault,
};
