/*
 * xipfs with execute-in-place: when the image sits in directly addressable
 * memory and a file's blocks are stored uncompressed and contiguous, mmap
 * maps them straight from the image. The image has no struct page; the
 * pfns are PFN_DEV and the mapping is VM_MIXEDMAP so that the tail of the
 * vma may still be populated from the page cache by the regular fault path.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

struct xipfs_sb_info {
	unsigned long linear_phys_addr;
	char *linear_virt_addr;
	unsigned long size;
};

static unsigned long xipfs_get_block_range(struct inode *inode, pgoff_t pgoff,
					   unsigned int *pages);

static int xipfs_physmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);
	struct xipfs_sb_info *sbi = inode->i_sb->s_fs_info;
	unsigned int pages, max_pages, offset;
	unsigned long address, pgoff = vma->vm_pgoff;
	int ret;

	ret = generic_file_readonly_mmap(file, vma);
	if (ret)
		return ret;

	/* Private writable mappings would need copy-on-write of ROM. */
	if (vma->vm_flags & VM_WRITE)
		return -EINVAL;

	max_pages = (inode->i_size + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (pgoff >= max_pages)
		return 0;
	pages = min(vma_pages(vma), max_pages - pgoff);

	offset = xipfs_get_block_range(inode, pgoff, &pages);
	if (!offset)
		return 0;	/* not mappable: the page cache handles it */

	address = sbi->linear_phys_addr + offset;

	/* Directly mapped and page-cache backed ptes live side by side. */
	vma->vm_flags |= VM_MIXEDMAP;
	for (unsigned int i = 0; i < pages; i++) {
		unsigned long off = i * PAGE_SIZE;
		pfn_t pfn = __pfn_to_pfn_t(PHYS_PFN(address + off), PFN_DEV);

		ret = vm_insert_mixed(vma, vma->vm_start + off, pfn);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct file_operations xipfs_physmem_fops = {
	.llseek = generic_file_llseek,
	.read_iter = generic_file_read_iter,
	.splice_read = generic_file_splice_read,
	.mmap = xipfs_physmem_mmap,
};
