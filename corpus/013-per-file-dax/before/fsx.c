/*
 * fsx with a mount-wide DAX switch: "-o dax" makes every regular file DAX.
 */
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/mm.h>

#define FSX_MOUNT_DAX	(1U << 0)

struct fsx_mount {
	unsigned int m_flags;
	struct dax_device *m_dax_dev;
};

static const struct vm_operations_struct fsx_dax_vm_ops;
static const struct vm_operations_struct fsx_file_vm_ops;

static void fsx_setup_inode_flags(struct fsx_mount *mp, struct inode *inode)
{
	if ((mp->m_flags & FSX_MOUNT_DAX) && S_ISREG(inode->i_mode))
		inode->i_flags |= S_DAX;
	else
		inode->i_flags &= ~S_DAX;
}

static int fsx_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	if (IS_DAX(file_inode(file))) {
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
