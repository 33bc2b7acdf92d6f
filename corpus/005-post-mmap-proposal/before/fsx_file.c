/*
 * fsx: a filesystem's file operations. Whether a file is accessed with DAX
 * is decided once, in ->mmap, from the inode's S_DAX flag.
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
	struct inode *inode = file_inode(file);

	file_accessed(file);
	if (IS_DAX(inode)) {
		vma->vm_ops = &fsx_dax_vm_ops;
		vma->vm_flags |= VM_HUGEPAGE;
	} else {
		vma->vm_ops = &fsx_file_vm_ops;
	}
	return 0;
}

const struct file_operations fsx_file_operations = {
	.llseek = generic_file_llseek,
	.read_iter = generic_file_read_iter,
	.mmap = fsx_file_mmap,
	.open = generic_file_open,
	.fsync = noop_fsync,
};
