/*
 * blobdev: exposes a firmware-provided blob of reserved memory. A shared
 * mapping must stay read-only for good; every mapping is write-combined,
 * not inherited across fork and not dumped. ->mmap adjusts the vma and
 * maps the range with vm_iomap_memory().
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/mm.h>

struct blobdev {
	phys_addr_t base;
	size_t size;
};

static int blobdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct blobdev *blob = file->private_data;

	if (vma->vm_flags & VM_MAYSHARE) {
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		vm_flags_clear(vma, VM_MAYWRITE);
	}

	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTDUMP);
	return vm_iomap_memory(vma, blob->base, blob->size);
}

static const struct file_operations blobdev_fops = {
	.owner = THIS_MODULE,
	.mmap = blobdev_mmap,
};
