/* daxlint kernel API catalog, v6.17: pfn_t.h is gone; ->direct_access returns unsigned long *pfn; generic_file_mmap_prepare().
 * Declarations written by the daxlint authors; see README.md. */

typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long pgoff_t;
typedef unsigned long long phys_addr_t;
typedef unsigned long long resource_size_t;
typedef unsigned long vm_flags_t;
typedef unsigned int vm_fault_t;
typedef unsigned int gfp_t;
typedef int bool;
typedef long loff_t;
typedef unsigned long pgprot_t;
struct page;
struct file;
struct inode;
struct device;
struct dax_device;
struct block_device;
struct mm_struct;
struct vm_fault;
struct range { u64 start; u64 end; };


/* include/linux/mm_types.h since bc292ab00f6c (v6.3): vm_flags is const and
 * only the wrappers below may change it (they write __vm_flags). */
struct vm_area_struct {
    unsigned long vm_start;
    unsigned long vm_end;
    struct mm_struct *vm_mm;
    unsigned long vm_page_prot;
    const vm_flags_t vm_flags;
    vm_flags_t __vm_flags;
    unsigned long vm_pgoff;
    struct file *vm_file;
    void *vm_private_data;
};
/* daxlint: vma-lock none */
void vm_flags_init(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock asserts */
void vm_flags_reset(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock asserts */
void vm_flags_reset_once(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear);
/* daxlint: vma-lock none */
void __vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear);

/* Other structs with a vm_flags member: writes to these are not vma writes. */
struct vm_region { vm_flags_t vm_flags; unsigned long vm_start; unsigned long vm_end; };
struct page_referenced_arg { int mapcount; int referenced; unsigned long vm_flags; };
struct vm_fault { struct vm_area_struct *vma; unsigned long address; pgoff_t pgoff; unsigned int flags; };
struct vm_operations_struct {
    void (*open)(struct vm_area_struct *area);
    void (*close)(struct vm_area_struct *area);
    vm_fault_t (*fault)(struct vm_fault *vmf);
    vm_fault_t (*huge_fault)(struct vm_fault *vmf, unsigned int order);
    vm_fault_t (*page_mkwrite)(struct vm_fault *vmf);
    vm_fault_t (*pfn_mkwrite)(struct vm_fault *vmf);
};
/* include/linux/mm_types.h since c84bf6dd2b83 (v6.16): what ->mmap_prepare
 * fills in before the vma exists; the mm core makes the vma from it. */
struct vm_area_desc {
    struct mm_struct *mm;
    unsigned long start;
    unsigned long end;
    pgoff_t pgoff;
    struct file *file;
    vm_flags_t vm_flags;
    pgprot_t page_prot;
    const struct vm_operations_struct *vm_ops;
    void *private_data;
};
struct file_operations {
    int (*mmap)(struct file *file, struct vm_area_struct *vma);
    long (*unlocked_ioctl)(struct file *file, unsigned int cmd, unsigned long arg);
    int (*open)(struct inode *inode, struct file *file);
    int (*release)(struct inode *inode, struct file *file);
    unsigned long (*get_unmapped_area)(struct file *file, unsigned long a, unsigned long b, unsigned long c, unsigned long d);
    int (*mmap_prepare)(struct vm_area_desc *desc);
};
void mmap_write_lock(struct mm_struct *mm);
void mmap_write_unlock(struct mm_struct *mm);
void mmap_assert_write_locked(struct mm_struct *mm);
bool vma_is_dax(struct vm_area_struct *vma);
/* Lookups that hand back a vma (their results' vm_flags are vma flags). */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr, struct vm_area_struct **pprev);
struct vm_area_struct *find_vma_intersection(struct mm_struct *mm, unsigned long start, unsigned long end);
struct vm_area_struct *vma_lookup(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *vm_area_alloc(struct mm_struct *mm);
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig);
struct mm_walk { struct mm_struct *mm; struct vm_area_struct *vma; void *private; };

/* Helpers that change a vma's flags themselves (include/linux/mm.h,
 * mm/memory.c, mm/vmalloc.c). "daxlint: sets-vm-flags" lists the flags a
 * helper always ORs into vm_flags; "sets-vm-flags-unless-set" the ones it
 * sets only when the vma does not have them yet (vm_insert_page() sets
 * VM_MIXEDMAP unless ->mmap already did - then it needs no lock);
 * "vma-lock" how it locks the vma while it does (see README.md). A caller
 * outside ->mmap without the write lock changes the flags through them. */
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock takes */
int remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock takes */
int io_remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock takes */
int vm_iomap_memory(struct vm_area_struct *vma, phys_addr_t start, unsigned long len);
/* daxlint: sets-vm-flags VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int remap_vmalloc_range_partial(struct vm_area_struct *vma, unsigned long uaddr, void *kaddr, unsigned long pgoff, unsigned long size);
/* daxlint: sets-vm-flags VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int remap_vmalloc_range(struct vm_area_struct *vma, void *addr, unsigned long pgoff);
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int vm_insert_page(struct vm_area_struct *vma, unsigned long addr, struct page *page);
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock takes */
int remap_pfn_range_notrack(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int vm_insert_pages(struct vm_area_struct *vma, unsigned long addr, struct page **pages, unsigned long *num);
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int vm_map_pages(struct vm_area_struct *vma, struct page **pages, unsigned long num);
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock takes */
int vm_map_pages_zero(struct vm_area_struct *vma, struct page **pages, unsigned long num);

/* mm/filemap.c: the ->mmap_prepare forms of the generic handlers (the
 * file system conversions of v6.17; generic_file_mmap() stays). */
int generic_file_mmap(struct file *file, struct vm_area_struct *vma);
int generic_file_readonly_mmap(struct file *file, struct vm_area_struct *vma);
int generic_file_mmap_prepare(struct vm_area_desc *desc);
int generic_file_readonly_mmap_prepare(struct vm_area_desc *desc);

/* include/linux/ksm.h: writes the new flags through its last argument. */
int ksm_madvise(struct vm_area_struct *vma, unsigned long start, unsigned long end, int advice, unsigned long *vm_flags);

/* include/linux/memremap.h */
enum memory_type {
    MEMORY_DEVICE_PRIVATE = 1,
    MEMORY_DEVICE_COHERENT = 2,
    MEMORY_DEVICE_FS_DAX = 3,
    MEMORY_DEVICE_GENERIC = 4,
    MEMORY_DEVICE_PCI_P2PDMA = 5
};
struct dev_pagemap_ops;
struct dev_pagemap {
    struct range range;
    int nr_range;
    enum memory_type type;
    unsigned int flags;
    const struct dev_pagemap_ops *ops;
    void *owner;
};
void *devm_memremap_pages(struct device *dev, struct dev_pagemap *pgmap);
void *memremap_pages(struct dev_pagemap *pgmap, int nid);
void *devm_memremap(struct device *dev, resource_size_t offset, size_t size, unsigned long flags);
void *memremap(resource_size_t offset, size_t size, unsigned long flags);

/* include/linux/dax.h after the pfn_t removal: ->direct_access hands back a
 * plain pfn; the page requirement still holds. */
enum dax_access_mode { DAX_ACCESS = 0, DAX_RECOVERY_WRITE = 1 };
struct dax_operations {
    long (*direct_access)(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages, enum dax_access_mode mode, void **kaddr, unsigned long *pfn);
    int (*zero_page_range)(struct dax_device *dax_dev, pgoff_t pgoff, size_t nr_pages);
    size_t (*recovery_write)(struct dax_device *dax_dev, pgoff_t pgoff, void *addr, size_t bytes, void *iter);
};
struct dax_device *alloc_dax(void *private, const struct dax_operations *ops);
int dax_add_host(struct dax_device *dax_dev, void *disk);
long dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages, enum dax_access_mode mode, void **kaddr, unsigned long *pfn);
vm_fault_t vmf_insert_folio_pmd(struct vm_fault *vmf, void *folio, bool write);
vm_fault_t vmf_insert_pfn_pmd(struct vm_fault *vmf, unsigned long pfn, bool write);
vm_fault_t vmf_insert_mixed(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn);
vm_fault_t vmf_insert_pfn(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn);
