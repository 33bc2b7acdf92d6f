/* regwin: maps a device's register window into user space. */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/mm.h>

struct regwin {
	phys_addr_t base;
	size_t size;
	bool read_only;
};

static int regwin_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct regwin *rw = file->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;

	if (size > rw->size)
		return -EINVAL;

	vma->vm_flags |= VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	if (rw->read_only)
		vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	return io_remap_pfn_range(vma, vma->vm_start, rw->base >> PAGE_SHIFT,
				  size, vma->vm_page_prot);
}

static const struct file_operations regwin_fops = {
	.owner = THIS_MODULE,
	.mmap = regwin_mmap,
};
