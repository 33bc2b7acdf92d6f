/*
 * rangeseal on the VMA flags bitmap, as the v2 conversion wrote it: the
 * flags are tested and built by bit number, and the seal is set with
 * vma_set_flags() - which, unlike vm_flags_set(), takes no vma lock.
 */
#include <linux/mm.h>
#include <linux/mmap_lock.h>

/* Runs under the mmap write lock its caller, rangeseal(), takes. */
static int rangeseal_apply(struct mm_struct *mm, unsigned long start,
			   unsigned long end)
{
	struct vm_area_struct *vma, *prev;
	VMA_ITERATOR(vmi, mm, start);
	unsigned long curr_start = start;
	int ret = 0;

	vma = vma_iter_load(&vmi);
	prev = vma_prev(&vmi);
	if (start > vma->vm_start)
		prev = vma;

	for_each_vma_range(vmi, vma, end) {
		unsigned long curr_end = min(vma->vm_end, end);

		if (!vma_test(vma, VMA_SEALED_BIT)) {
			vma_flags_t vma_flags = vma->flags;

			vma_flags_set(&vma_flags, VMA_SEALED_BIT);
			vma = vma_modify_flags(&vmi, prev, vma, curr_start,
					       curr_end, &vma_flags);
			if (IS_ERR(vma)) {
				ret = PTR_ERR(vma);
				break;
			}
			vma_set_flags(vma, VMA_SEALED_BIT);
		}
		prev = vma;
		curr_start = curr_end;
	}
	return ret;
}

int rangeseal(unsigned long start, unsigned long end)
{
	struct mm_struct *mm = current->mm;
	int ret;

	if (mmap_write_lock_killable(mm))
		return -EINTR;
	ret = rangeseal_apply(mm, start, end);
	mmap_write_unlock(mm);
	return ret;
}
