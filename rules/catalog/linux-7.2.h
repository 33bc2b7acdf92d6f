/* daxlint kernel API catalog, v7.2 (Debian linux-source-7.2): vm_area_desc without vm_flags, mmap_action, vm_ops->mapped; remap_pfn_range() sets flags without the vma lock; vm_flags_reset_once() gone.
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
typedef struct { unsigned long __vma_flags[1]; } vma_flags_t;
typedef int vma_flag_t;
struct page;
struct file;
struct inode;
struct device;
struct dax_device;
struct block_device;
struct mm_struct;
struct vm_fault;
struct range { u64 start; u64 end; };


/* include/linux/mm_types.h: vm_flags is const since bc292ab00f6c (v6.3) and
 * shares a union with the flags bitmap since 9ea35a25d51b (v6.19; before, the
 * private __vm_flags the wrappers wrote). */
struct vm_area_struct {
    unsigned long vm_start;
    unsigned long vm_end;
    struct mm_struct *vm_mm;
    unsigned long vm_page_prot;
    const vm_flags_t vm_flags;
    vma_flags_t flags;
    unsigned long vm_pgoff;
    struct file *vm_file;
    void *vm_private_data;
};
/* daxlint: vma-lock none */
void vm_flags_init(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock asserts */
void vm_flags_reset(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags);
/* daxlint: vma-lock takes */
void vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear);
/* daxlint: vma-lock none */
void __vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear);

/* include/linux/mm.h since 2b6a3f061f11 (v6.19): VMA flags by bit number,
 * enumerators of the sparse __bitwise type vma_flag_t (the VM_* masks are
 * 1 << these). */
enum vma_flag_bits {
    VMA_READ_BIT = 0,
    VMA_WRITE_BIT = 1,
    VMA_EXEC_BIT = 2,
    VMA_SHARED_BIT = 3,
    VMA_MAYREAD_BIT = 4,
    VMA_MAYWRITE_BIT = 5,
    VMA_MAYEXEC_BIT = 6,
    VMA_MAYSHARE_BIT = 7,
    VMA_GROWSDOWN_BIT = 8,
    VMA_UFFD_MISSING_BIT = 9,
    VMA_MAYOVERLAY_BIT = 9,
    VMA_PFNMAP_BIT = 10,
    VMA_MAYBE_GUARD_BIT = 11,
    VMA_UFFD_WP_BIT = 12,
    VMA_LOCKED_BIT = 13,
    VMA_IO_BIT = 14,
    VMA_SEQ_READ_BIT = 15,
    VMA_RAND_READ_BIT = 16,
    VMA_DONTCOPY_BIT = 17,
    VMA_DONTEXPAND_BIT = 18,
    VMA_LOCKONFAULT_BIT = 19,
    VMA_ACCOUNT_BIT = 20,
    VMA_NORESERVE_BIT = 21,
    VMA_HUGETLB_BIT = 22,
    VMA_SYNC_BIT = 23,
    VMA_ARCH_1_BIT = 24,
    VMA_WIPEONFORK_BIT = 25,
    VMA_DONTDUMP_BIT = 26,
    VMA_SOFTDIRTY_BIT = 27,
    VMA_MIXEDMAP_BIT = 28,
    VMA_HUGEPAGE_BIT = 29,
    VMA_NOHUGEPAGE_BIT = 30,
    VMA_MERGEABLE_BIT = 31,
    VMA_HIGH_ARCH_0_BIT = 32,
    VMA_HIGH_ARCH_1_BIT = 33,
    VMA_HIGH_ARCH_2_BIT = 34,
    VMA_HIGH_ARCH_3_BIT = 35,
    VMA_HIGH_ARCH_4_BIT = 36,
    VMA_HIGH_ARCH_5_BIT = 37,
    VMA_HIGH_ARCH_6_BIT = 38,
    VMA_ALLOW_ANY_UNCACHED_BIT = 39,
    VMA_DROPPABLE_BIT = 40,
    VMA_UFFD_MINOR_BIT = 41,
    VMA_SEALED_BIT = 42
};
/* include/linux/mm.h: the VMA flags bitmap API (v7.0 and v7.1; see
 * linux-7.1.h). Variadic macros of bit numbers are declared with a
 * vma_flag_t parameter and "..."; the _mask forms take a vma_flags_t. None
 * of them takes or asserts a lock ("appropriate locks must be held, this
 * function does not acquire them for you"). */
vma_flags_t mk_vma_flags(vma_flag_t bit, ...);
vma_flags_t append_vma_flags(vma_flags_t flags, vma_flag_t bit, ...);
void vma_flags_set_flag(vma_flags_t *flags, vma_flag_t bit);
void vma_flags_set(vma_flags_t *flags, vma_flag_t bit, ...);
void vma_flags_clear(vma_flags_t *flags, vma_flag_t bit, ...);
void vma_flags_set_mask(vma_flags_t *flags, vma_flags_t to_set);
void vma_flags_clear_mask(vma_flags_t *flags, vma_flags_t to_clear);
/* daxlint: changes-vma-flags set */
/* daxlint: vma-lock none */
void vma_set_flags(struct vm_area_struct *vma, vma_flag_t bit, ...);
/* daxlint: changes-vma-flags clear */
/* daxlint: vma-lock none */
void vma_clear_flags(struct vm_area_struct *vma, vma_flag_t bit, ...);
/* daxlint: changes-vma-flags set */
/* daxlint: vma-lock none */
void vma_set_flags_mask(struct vm_area_struct *vma, vma_flags_t flags);
/* daxlint: changes-vma-flags clear */
/* daxlint: vma-lock none */
void vma_clear_flags_mask(struct vm_area_struct *vma, vma_flags_t flags);
/* daxlint: changes-vma-flags set */
void vma_desc_set_flags(struct vm_area_desc *desc, vma_flag_t bit, ...);
/* daxlint: changes-vma-flags clear */
void vma_desc_clear_flags(struct vm_area_desc *desc, vma_flag_t bit, ...);
/* daxlint: changes-vma-flags set */
void vma_desc_set_flags_mask(struct vm_area_desc *desc, vma_flags_t flags);
/* daxlint: changes-vma-flags clear */
void vma_desc_clear_flags_mask(struct vm_area_desc *desc, vma_flags_t flags);
vm_flags_t vma_flags_to_legacy(vma_flags_t flags);
vma_flags_t legacy_to_vma_flags(vm_flags_t flags);
/* The tests, renamed by "mm: rename VMA flag helpers to be more readable". */
bool vma_flags_test(const vma_flags_t *flags, vma_flag_t bit);
bool vma_flags_test_any(const vma_flags_t *flags, vma_flag_t bit, ...);
bool vma_flags_test_all(const vma_flags_t *flags, vma_flag_t bit, ...);
bool vma_test(const struct vm_area_struct *vma, vma_flag_t bit);
bool vma_test_any(const struct vm_area_struct *vma, vma_flag_t bit, ...);
bool vma_test_all(const struct vm_area_struct *vma, vma_flag_t bit, ...);
bool vma_desc_test(const struct vm_area_desc *desc, vma_flag_t bit);
bool vma_desc_test_any(const struct vm_area_desc *desc, vma_flag_t bit, ...);
bool vma_desc_test_all(const struct vm_area_desc *desc, vma_flag_t bit, ...);
/* Only the bits VM_ATOMIC_SET_ALLOWED lists (MAYBE_GUARD), under any lock. */
void vma_set_atomic_flag(struct vm_area_struct *vma, vma_flag_t bit);
/* daxlint: changes-vma-flags reset */
/* daxlint: vma-lock none */
void vma_flags_reset_once(struct vm_area_struct *vma, vma_flags_t *flags);

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
    int (*mapped)(unsigned long start, unsigned long end, pgoff_t pgoff, const struct file *file, void **vm_private_data);
};
/* include/linux/mm_types.h in v7.2: the descriptor has only the bitmap
 * (vma_flags; no vm_flags since v7.0), the file it maps (vm_file) and the
 * action the mm core performs once the vma exists, whose failure is now
 * error_override (4f5b8759262e; error_hook before). */
struct mmap_action {
    int type;
    int error_override;
};
struct vm_area_desc {
    struct mm_struct *mm;
    struct file *file;
    unsigned long start;
    unsigned long end;
    pgoff_t pgoff;
    struct file *vm_file;
    vma_flags_t vma_flags;
    pgprot_t page_prot;
    const struct vm_operations_struct *vm_ops;
    void *private_data;
    struct mmap_action action;
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
/* daxlint: vma-lock none */
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
/* include/linux/mm.h: the descriptor's size in bytes and pages (54c58a2f5fa1, v6.19). */
unsigned long vma_desc_size(const struct vm_area_desc *desc);
unsigned long vma_desc_pages(const struct vm_area_desc *desc);
/* What ->mmap_prepare calls where ->mmap called the vma forms: /dev/zero's
 * private mapping, the nommu sharing test, and the DAX sync-mapping check
 * (which takes the inode since the descriptor has no vma). */
void vma_desc_set_anonymous(struct vm_area_desc *desc);
bool is_nommu_shared_vma_flags(const vma_flags_t *flags);
bool daxdev_mapping_supported(const struct vm_area_desc *desc, const struct inode *inode, struct dax_device *dax_dev);

/* include/linux/mm.h: what ->mmap_prepare asks the mm core to do once the
 * vma is set up (desc->action); each replaces a call of the ->mmap days. */
void mmap_action_remap(struct vm_area_desc *desc, unsigned long start, unsigned long start_pfn, unsigned long size);
void mmap_action_remap_full(struct vm_area_desc *desc, unsigned long start_pfn);
void mmap_action_ioremap(struct vm_area_desc *desc, unsigned long start, unsigned long start_pfn, unsigned long size);
void mmap_action_ioremap_full(struct vm_area_desc *desc, unsigned long start_pfn);
void mmap_action_simple_ioremap(struct vm_area_desc *desc, phys_addr_t start_phys_addr, unsigned long size);
void mmap_action_map_kernel_pages(struct vm_area_desc *desc, unsigned long start, struct page **pages, unsigned long nr_pages);
void mmap_action_map_kernel_pages_full(struct vm_area_desc *desc, struct page **pages);
int mmap_action_prepare(struct vm_area_desc *desc);
int mmap_action_complete(struct vm_area_struct *vma, struct mmap_action *action, bool is_compat);

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
