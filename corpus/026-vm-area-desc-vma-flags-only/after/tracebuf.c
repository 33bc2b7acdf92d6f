/*
 * tracebuf, unchanged, on a kernel with 53f1d9364451: struct vm_area_desc
 * has only the vma_flags bitmap, so the writes to desc->vm_flags no longer
 * build; vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT) and
 * vma_desc_set_flags(desc, VMA_DONTCOPY_BIT, VMA_DONTEXPAND_BIT) say it now.
 */
#include <linux/fs.h>
#include <linux/mm.h>

static const struct vm_operations_struct tracebuf_vm_ops;

static int tracebuf_mmap_prepare(struct vm_area_desc *desc)
{
	if (desc->vm_flags & VM_WRITE)
		return -EPERM;

	desc->vm_flags &= ~VM_MAYWRITE;
	desc->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND;
	desc->vm_ops = &tracebuf_vm_ops;
	return 0;
}

static const struct file_operations tracebuf_fops = {
	.owner = THIS_MODULE,
	.mmap_prepare = tracebuf_mmap_prepare,
};
