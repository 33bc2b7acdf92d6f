/*
 * pmchar: a device-dax style character device. Mappings must be shared and
 * aligned to the region's page size; ->mmap checks that, installs the
 * fault handlers and asks for huge pages. The same check runs again at
 * fault time, on the vma.
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

static int pmchar_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct pmchar_dev *pm = file->private_data;
	int id, rc;

	id = dax_read_lock();
	rc = pmchar_check_vma(pm, vma);
	dax_read_unlock(id);
	if (rc)
		return rc;

	vma->vm_ops = &pmchar_vm_ops;
	vm_flags_set(vma, VM_HUGEPAGE);
	return 0;
}

static const struct file_operations pmchar_fops = {
	.owner = THIS_MODULE,
	.mmap = pmchar_mmap,
};
