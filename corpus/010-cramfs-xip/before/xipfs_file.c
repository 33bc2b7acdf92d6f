/*
 * xipfs: a read-only compressed filesystem. Before XIP, regular files are
 * read through the page cache like any other; mmap is the generic one.
 */
#include <linux/fs.h>
#include <linux/mm.h>

static int xipfs_readpage(struct file *file, struct page *page);

static const struct address_space_operations xipfs_aops = {
	.readpage = xipfs_readpage,
};

static const struct file_operations xipfs_file_operations = {
	.llseek = generic_file_llseek,
	.read_iter = generic_file_read_iter,
	.splice_read = generic_file_splice_read,
	.mmap = generic_file_readonly_mmap,
};
