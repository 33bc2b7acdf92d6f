/* fsx: DAX decides the mapping's flags once, in ->mmap, with direct writes. */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

static const struct vm_operations_struct fsx_dax_vm_ops;
static const struct vm_operations_struct fsx_file_vm_ops;

static int fsx_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);

	if (IS_DAX(inode) && !daxdev_mapping_supported(vma, fsx_dax_dev(inode)))
		return -EOPNOTSUPP;

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
	.read_iter = generic_file_read_iter,
	.mmap = fsx_file_mmap,
};
