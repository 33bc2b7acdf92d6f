/*
 * fsx with the proposed ->post_mmap hook: ->mmap still runs first, then the
 * VM calls ->post_mmap, where the filesystem looks at S_DAX again - which may
 * have flipped in between - and rewrites the vma's flags to match.
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

static int fsx_dax_fault(struct vm_fault *vmf);
static int fsx_dax_huge_fault(struct vm_fault *vmf, enum page_entry_size pe_size);

static const struct vm_operations_struct fsx_dax_vm_ops = {
	.fault = fsx_dax_fault,
	.huge_fault = fsx_dax_huge_fault,
	.page_mkwrite = fsx_dax_fault,
	.pfn_mkwrite = fsx_dax_fault,
};

static const struct vm_operations_struct fsx_file_vm_ops = {
	.fault = filemap_fault,
	.map_pages = filemap_map_pages,
};

static int fsx_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	vma->vm_ops = &fsx_file_vm_ops;
	return 0;
}

/* Called after ->mmap() with the final vma; the DAX mode may have changed. */
static void fsx_file_post_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);

	if (IS_DAX(inode)) {
		vma->vm_ops = &fsx_dax_vm_ops;
		vma->vm_flags |= VM_HUGEPAGE;
	} else {
		vma->vm_ops = &fsx_file_vm_ops;
		vma->vm_flags &= ~VM_HUGEPAGE;
	}
}

const struct file_operations fsx_file_operations = {
	.llseek = generic_file_llseek,
	.read_iter = generic_file_read_iter,
	.mmap = fsx_file_mmap,
	.post_mmap = fsx_file_post_mmap,
	.open = generic_file_open,
	.fsync = noop_fsync,
};
