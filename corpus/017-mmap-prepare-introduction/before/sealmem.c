/*
 * sealmem: a character device whose mappings hold secrets. Every mapping
 * must be shared, stays resident and is left out of core dumps; ->mmap
 * decides that on the vma the mm core hands it.
 */
#include <linux/fs.h>
#include <linux/mm.h>

static const struct vm_operations_struct sealmem_vm_ops;

static int sealmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;

	vm_flags_set(vma, VM_LOCKED | VM_DONTDUMP);
	vma->vm_ops = &sealmem_vm_ops;
	return 0;
}

static const struct file_operations sealmem_fops = {
	.owner = THIS_MODULE,
	.mmap = sealmem_mmap,
};
