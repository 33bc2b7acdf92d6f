/*
 * pmchar on ->mmap_prepare: the checks run on the descriptor's flags and
 * range before the vma exists, and the fault handlers and VM_HUGEPAGE go
 * into the descriptor. The fault-time check still reads the vma.
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

struct pmchar_dev {
	struct dax_device *dax_dev;
	unsigned long align;
};

static vm_fault_t pmchar_insert(struct pmchar_dev *pm, struct vm_fault *vmf,
				unsigned int order);

static int pmchar_check_range(struct pmchar_dev *pm, unsigned long start,
			      unsigned long end)
{
	unsigned long mask = pm->align - 1;

	if (!dax_alive(pm->dax_dev))
		return -ENXIO;
	if ((start & mask) || (end & mask))
		return -EINVAL;
	return 0;
}

static int pmchar_check_vma(struct pmchar_dev *pm, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	return pmchar_check_range(pm, vma->vm_start, vma->vm_end);
}

static vm_fault_t pmchar_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct pmchar_dev *pm = vmf->vma->vm_file->private_data;

	if (pmchar_check_vma(pm, vmf->vma))
		return VM_FAULT_SIGBUS;
	return pmchar_insert(pm, vmf, order);
}

static vm_fault_t pmchar_fault(struct vm_fault *vmf)
{
	return pmchar_huge_fault(vmf, 0);
}

static const struct vm_operations_struct pmchar_vm_ops = {
	.fault = pmchar_fault,
	.huge_fault = pmchar_huge_fault,
};

static int pmchar_mmap_prepare(struct vm_area_desc *desc)
{
	struct file *file = desc->file;
	struct pmchar_dev *pm = file->private_data;
	int id, rc;

	if (!(desc->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	id = dax_read_lock();
	rc = pmchar_check_range(pm, desc->start, desc->end);
	dax_read_unlock(id);
	if (rc)
		return rc;

	desc->vm_ops = &pmchar_vm_ops;
	desc->vm_flags |= VM_HUGEPAGE;
	return 0;
}

static const struct file_operations pmchar_fops = {
	.owner = THIS_MODULE,
	.mmap_prepare = pmchar_mmap_prepare,
};
