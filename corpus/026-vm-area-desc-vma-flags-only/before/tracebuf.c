/*
 * tracebuf: a read-only trace buffer a driver maps to user space, set up
 * in ->mmap_prepare the way v6.16 to v6.19 allow - the descriptor's
 * vm_flags decides the new mapping's flags: no writable mapping, never
 * copied on fork, never grown by mremap().
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
