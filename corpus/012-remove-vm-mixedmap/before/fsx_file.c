/*
 * fsx: DAX mappings are marked VM_MIXEDMAP so that the VM treats their ptes
 * as possibly page-less.
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

static vm_fault_t fsx_dax_fault(struct vm_fault *vmf);

static const struct vm_operations_struct fsx_dax_vm_ops = {
	.fault = fsx_dax_fault,
	.page_mkwrite = fsx_dax_fault,
	.pfn_mkwrite = fsx_dax_fault,
};

static int fsx_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);

	file_accessed(file);
	if (IS_DAX(inode)) {
		vma->vm_ops = &fsx_dax_vm_ops;
		vma->vm_flags |= VM_MIXEDMAP | VM_HUGEPAGE;
	} else {
		vma->vm_ops = &generic_file_vm_ops;
	}
	return 0;
}

const struct file_operations fsx_file_operations = {
	.read_iter = generic_file_read_iter,
	.mmap = fsx_file_mmap,
	.open = generic_file_open,
};
