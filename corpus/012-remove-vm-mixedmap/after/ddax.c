/*
 * ddax: a device-DAX style character device; its pfns have pages and its
 * mappings are ordinary shared mappings (VM_HUGEPAGE only).
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

struct ddax_dev {
	struct dax_device *dax_dev;
	unsigned long align;
};

static vm_fault_t ddax_huge_fault(struct vm_fault *vmf, enum page_entry_size pe_size);

static vm_fault_t ddax_fault(struct vm_fault *vmf)
{
	return ddax_huge_fault(vmf, PE_SIZE_PTE);
}

static const struct vm_operations_struct ddax_vm_ops = {
	.fault = ddax_fault,
	.huge_fault = ddax_huge_fault,
};

static int ddax_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ddax_dev *ddev = filp->private_data;

	if (!dax_alive(ddev->dax_dev))
		return -ENXIO;
	if ((vma->vm_flags & VM_MAYSHARE) != VM_MAYSHARE)
		return -EINVAL;

	vma->vm_ops = &ddax_vm_ops;
	vma->vm_flags |= VM_HUGEPAGE;
	return 0;
}

static const struct file_operations ddax_fops = {
	.owner = THIS_MODULE,
	.mmap = ddax_mmap,
};
