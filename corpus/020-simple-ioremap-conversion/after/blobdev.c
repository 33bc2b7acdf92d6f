/*
 * blobdev on ->mmap_prepare: the same policy on the descriptor, flags by
 * bit number, and the mapping itself left to the mm core, which performs
 * the simple ioremap action once the vma exists.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/mm.h>

struct blobdev {
	phys_addr_t base;
	size_t size;
};

static int blobdev_mmap_prepare(struct vm_area_desc *desc)
{
	struct file *file = desc->file;
	struct blobdev *blob = file->private_data;

	if (vma_desc_test(desc, VMA_MAYSHARE_BIT)) {
		if (vma_desc_test(desc, VMA_WRITE_BIT))
			return -EPERM;
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
	}

	desc->page_prot = pgprot_writecombine(desc->page_prot);
	vma_desc_set_flags(desc, VMA_DONTCOPY_BIT, VMA_DONTDUMP_BIT);
	mmap_action_simple_ioremap(desc, blob->base, blob->size);
	return 0;
}

static const struct file_operations blobdev_fops = {
	.owner = THIS_MODULE,
	.mmap_prepare = blobdev_mmap_prepare,
};
