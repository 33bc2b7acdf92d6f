/*
 * rfs on ->mmap_prepare with vm_ops->mapped: the descriptor only gets the
 * vm_ops; the count and the list insertion happen in ->mapped, which the mm
 * core calls once the new mapping exists (never for a merge), and
 * ->open/->close keep the count for split and copied vmas as before.
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

static int rfs_mapped(unsigned long start, unsigned long end, pgoff_t pgoff,
		      const struct file *file, void **vm_private_data)
{
	rfs_add_open_mmap(RFS_I(file_inode(file)));
	return 0;
}

static const struct vm_operations_struct rfs_vm_ops = {
	.mapped = rfs_mapped,
	.open = rfs_vm_open,
	.close = rfs_vm_close,
	.fault = filemap_fault,
	.page_mkwrite = filemap_page_mkwrite,
};

static int rfs_file_mmap_prepare(struct vm_area_desc *desc)
{
	int ret;

	ret = generic_file_mmap_prepare(desc);
	if (ret)
		return ret;

	desc->vm_ops = &rfs_vm_ops;
	return 0;
}

const struct file_operations rfs_file_operations = {
	.read_iter = generic_file_read_iter,
	.mmap_prepare = rfs_file_mmap_prepare,
};
