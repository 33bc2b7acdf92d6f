/*
 * fsx with per-file DAX: dax=always|never|inode at mount time, and with
 * dax=inode the on-disk FS_XFLAG_DAX of each file. The flag is read when the
 * inode is set up; changing it only marks the inode so that it is evicted
 * soon, and the new mode applies to the next incarnation of the inode.
 */
#include <linux/dax.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/mm.h>

#define FSX_MOUNT_DAX_ALWAYS	(1U << 0)
#define FSX_MOUNT_DAX_NEVER	(1U << 1)
#define FSX_DIFLAG_DAX		(1U << 0)

struct fsx_mount {
	unsigned int m_flags;
	struct dax_device *m_dax_dev;
};

struct fsx_inode {
	struct inode vfs_inode;
	unsigned int di_flags;
};

static inline struct fsx_inode *FSX_I(struct inode *inode)
{
	return container_of(inode, struct fsx_inode, vfs_inode);
}

static const struct vm_operations_struct fsx_dax_vm_ops;
static const struct vm_operations_struct fsx_file_vm_ops;

static bool fsx_inode_should_dax(struct fsx_mount *mp, struct inode *inode)
{
	if (!S_ISREG(inode->i_mode) || !mp->m_dax_dev)
		return false;
	if (mp->m_flags & FSX_MOUNT_DAX_NEVER)
		return false;
	if (mp->m_flags & FSX_MOUNT_DAX_ALWAYS)
		return true;
	return FSX_I(inode)->di_flags & FSX_DIFLAG_DAX;
}

/* Called once, while the inode is being set up: S_DAX never changes later. */
static void fsx_setup_inode_flags(struct fsx_mount *mp, struct inode *inode)
{
	if (fsx_inode_should_dax(mp, inode))
		inode->i_flags |= S_DAX;
	else
		inode->i_flags &= ~S_DAX;
}

static int fsx_ioctl_set_dax(struct file *file, struct dentry *dentry, bool dax)
{
	struct inode *inode = file_inode(file);
	struct fsx_inode *fi = FSX_I(inode);

	if (dax == !!(fi->di_flags & FSX_DIFLAG_DAX))
		return 0;
	if (dax)
		fi->di_flags |= FSX_DIFLAG_DAX;
	else
		fi->di_flags &= ~FSX_DIFLAG_DAX;
	mark_inode_dirty(inode);
	/* The mode switches when this inode is evicted and read back. */
	d_mark_dontcache(inode);
	return 0;
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
