/*
 * rfs: a network filesystem that must hear about callbacks for every inode
 * that is mmapped. ->mmap counts the mapping on the vnode and, for the
 * first one, puts the vnode on the volume's list of open mappings; the
 * vm_ops ->open/->close keep the count for split and copied vmas.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/rwsem.h>

struct rfs_volume {
	struct rw_semaphore open_mmaps_lock;
	struct list_head open_mmaps;
};

struct rfs_vnode {
	struct inode inode;
	struct rfs_volume *volume;
	atomic_t nr_mmap;
	struct list_head mmap_link;
};

#define RFS_I(inode) container_of(inode, struct rfs_vnode, inode)

static void rfs_add_open_mmap(struct rfs_vnode *vnode)
{
	if (atomic_inc_return(&vnode->nr_mmap) == 1) {
		down_write(&vnode->volume->open_mmaps_lock);
		if (list_empty(&vnode->mmap_link))
			list_add_tail(&vnode->mmap_link, &vnode->volume->open_mmaps);
		up_write(&vnode->volume->open_mmaps_lock);
	}
}

static void rfs_drop_open_mmap(struct rfs_vnode *vnode)
{
	if (atomic_add_unless(&vnode->nr_mmap, -1, 1))
		return;
	down_write(&vnode->volume->open_mmaps_lock);
	if (atomic_dec_and_test(&vnode->nr_mmap))
		list_del_init(&vnode->mmap_link);
	up_write(&vnode->volume->open_mmaps_lock);
}

static void rfs_vm_open(struct vm_area_struct *vma)
{
	rfs_add_open_mmap(RFS_I(file_inode(vma->vm_file)));
}

static void rfs_vm_close(struct vm_area_struct *vma)
{
	rfs_drop_open_mmap(RFS_I(file_inode(vma->vm_file)));
}

static const struct vm_operations_struct rfs_vm_ops = {
	.open = rfs_vm_open,
	.close = rfs_vm_close,
	.fault = filemap_fault,
	.page_mkwrite = filemap_page_mkwrite,
};

static int rfs_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rfs_vnode *vnode = RFS_I(file_inode(file));
	int ret;

	rfs_add_open_mmap(vnode);

	ret = generic_file_mmap(file, vma);
	if (ret == 0)
		vma->vm_ops = &rfs_vm_ops;
	else
		rfs_drop_open_mmap(vnode);
	return ret;
}

const struct file_operations rfs_file_operations = {
	.read_iter = generic_file_read_iter,
	.mmap = rfs_file_mmap,
};
