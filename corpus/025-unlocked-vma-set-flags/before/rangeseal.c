/*
 * rangeseal: seals the vmas of an address range against later changes.
 * Under the mmap write lock it splits or merges each vma to the range and
 * sets VM_SEALED on the result with vm_flags_set(), which write-locks the
 * vma first.
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

		if (!(vma->vm_flags & VM_SEALED)) {
			vm_flags_t vm_flags = vma->vm_flags | VM_SEALED;

			vma = vma_modify_flags(&vmi, prev, vma, curr_start,
					       curr_end, &vm_flags);
			if (IS_ERR(vma)) {
				ret = PTR_ERR(vma);
				break;
			}
			vm_flags_set(vma, VM_SEALED);
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
