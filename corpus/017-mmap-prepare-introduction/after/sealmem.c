/*
 * sealmem with ->mmap_prepare: the same decisions, made on the descriptor
 * before the vma exists. desc->vm_flags is the field the callback fills in;
 * the mm core copies it into the vma it creates afterwards.
 */
#include <linux/fs.h>
#include <linux/mm.h>

static const struct vm_operations_struct sealmem_vm_ops;

static int sealmem_mmap_prepare(struct vm_area_desc *desc)
{
	if (!(desc->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;

	desc->vm_flags |= VM_LOCKED | VM_DONTDUMP;
	desc->vm_ops = &sealmem_vm_ops;
	return 0;
}

static const struct file_operations sealmem_fops = {
	.owner = THIS_MODULE,
	.mmap_prepare = sealmem_mmap_prepare,
};
