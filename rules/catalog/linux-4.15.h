/* daxlint kernel API catalog, v4.15: 569d0365f571 requires struct page for fs-dax; 785a3fab4adb adds PFN_SPECIAL for FS_DAX_LIMITED.
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
struct page;
struct file;
struct inode;
struct device;
struct dax_device;
struct block_device;
struct mm_struct;
struct vm_fault;
struct range { u64 start; u64 end; };

/* include/linux/pfn_t.h: pfn_t and its flags (macros in the kernel). */
typedef struct { u64 val; } pfn_t;
enum pfn_t_flags {
    PFN_SG_CHAIN = 0x8000000000000000,
    PFN_SG_LAST = 0x4000000000000000,
    PFN_DEV = 0x2000000000000000,
    PFN_MAP = 0x1000000000000000,
    PFN_SPECIAL = 0x0800000000000000
};
pfn_t __pfn_to_pfn_t(unsigned long pfn, u64 flags);
pfn_t pfn_to_pfn_t(unsigned long pfn);
pfn_t phys_to_pfn_t(phys_addr_t addr, u64 flags);
pfn_t page_to_pfn_t(struct page *page);
bool pfn_t_has_page(pfn_t pfn);
unsigned long pfn_t_to_pfn(pfn_t pfn);
struct page *pfn_t_to_page(pfn_t pfn);
phys_addr_t pfn_t_to_phys(pfn_t pfn);
bool pfn_t_devmap(pfn_t pfn);
bool pfn_t_special(pfn_t pfn);

/* include/linux/mm_types.h */
struct vm_area_struct {
    unsigned long vm_start;
    unsigned long vm_end;
    struct mm_struct *vm_mm;
    unsigned long vm_page_prot;
    vm_flags_t vm_flags;
    unsigned long vm_pgoff;
    struct file *vm_file;
    void *vm_private_data;
};

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
struct file_operations {
    int (*mmap)(struct file *file, struct vm_area_struct *vma);
    long (*unlocked_ioctl)(struct file *file, unsigned int cmd, unsigned long arg);
    int (*open)(struct inode *inode, struct file *file);
    int (*release)(struct inode *inode, struct file *file);
    unsigned long (*get_unmapped_area)(struct file *file, unsigned long a, unsigned long b, unsigned long c, unsigned long d);
};
void mmap_write_lock(struct mm_struct *mm);
void mmap_write_unlock(struct mm_struct *mm);
void mmap_assert_write_locked(struct mm_struct *mm);
bool vma_is_dax(struct vm_area_struct *vma);
/* Lookups that hand back a vma (their results' vm_flags are vma flags). */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr, struct vm_area_struct **pprev);
struct vm_area_struct *find_vma_intersection(struct mm_struct *mm, unsigned long start, unsigned long end);
struct vm_area_struct *find_extend_vma(struct mm_struct *mm, unsigned long addr);
struct mm_walk { struct mm_struct *mm; struct vm_area_struct *vma; void *private; };

/* Helpers that change a vma's flags themselves (include/linux/mm.h,
 * mm/memory.c, mm/vmalloc.c). "daxlint: sets-vm-flags" lists the flags a
 * helper always ORs into vm_flags; "sets-vm-flags-unless-set" the ones it
 * sets only when the vma does not have them yet (vm_insert_page() sets
 * VM_MIXEDMAP unless ->mmap already did - then it needs no lock);
 * "vma-lock" how it locks the vma while it does (see README.md). A caller
 * outside ->mmap without the write lock changes the flags through them. */
typedef unsigned long pgprot_t;
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock none */
int remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock none */
int io_remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);
/* daxlint: sets-vm-flags VM_IO VM_PFNMAP VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: vma-lock none */
int vm_iomap_memory(struct vm_area_struct *vma, phys_addr_t start, unsigned long len);
/* daxlint: sets-vm-flags VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock none */
int remap_vmalloc_range_partial(struct vm_area_struct *vma, unsigned long uaddr, void *kaddr, unsigned long pgoff, unsigned long size);
/* daxlint: sets-vm-flags VM_DONTEXPAND VM_DONTDUMP */
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock none */
int remap_vmalloc_range(struct vm_area_struct *vma, void *addr, unsigned long pgoff);
/* daxlint: sets-vm-flags-unless-set VM_MIXEDMAP */
/* daxlint: vma-lock none */
int vm_insert_page(struct vm_area_struct *vma, unsigned long addr, struct page *page);

/* include/linux/ksm.h: writes the new flags through its last argument. */
int ksm_madvise(struct vm_area_struct *vma, unsigned long start, unsigned long end, int advice, unsigned long *vm_flags);

/* include/linux/memremap.h */
enum memory_type {
    MEMORY_DEVICE_PRIVATE = 1,
    MEMORY_DEVICE_HOST = 0,
    MEMORY_DEVICE_PUBLIC = 2
};
struct dev_pagemap_ops;
struct dev_pagemap {
    struct range res;
    enum memory_type type;
    unsigned int flags;
    const struct dev_pagemap_ops *ops;
    void *owner;
};
void *devm_memremap_pages(struct device *dev, struct dev_pagemap *pgmap);
void *memremap_pages(struct dev_pagemap *pgmap, int nid);
void *devm_memremap(struct device *dev, resource_size_t offset, size_t size, unsigned long flags);
void *memremap(resource_size_t offset, size_t size, unsigned long flags);

/* include/linux/dax.h */
struct dax_operations {
    long (*direct_access)(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages, void **kaddr, pfn_t *pfn);
};
struct dax_device *alloc_dax(void *private, const char *host, const struct dax_operations *ops);
long dax_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages, void **kaddr, pfn_t *pfn);
int vm_insert_mixed(struct vm_area_struct *vma, unsigned long addr, pfn_t pfn);
int vmf_insert_pfn_pmd(struct vm_area_struct *vma, unsigned long addr, void *pmd, pfn_t pfn, bool write);
