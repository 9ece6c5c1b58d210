/**
 * @file kmm.h
 * @brief The whole of kmm that a kernel embedding it includes: the paging
 * API (MOS's names), the options, and the platform services the kernel
 * supplies.
 *
 * This header defines no name a kernel commonly defines itself: no
 * PAGE_SIZE, MIN/MAX, errno values, ERR_PTR, pte_t nor spinlock. kmm's own
 * spellings of those live in its internal headers (mm/types.h, mm/lock.h,
 * hal/hal.h), which an embedder never includes; here they are prefixed
 * (KMM_PAGE_SIZE, KMM_EINVAL, kmm_is_err ...). Contexts and vmaps are
 * opaque. kmm's sources include this header too, so every declaration here
 * is checked against the definition.
 *
 * Locking: every declaration below says its rule. "Needs the lock" (every
 * *_locked function, the vmap_* calls and the mm_do_* layer): the caller
 * holds the mm_lock of each context it touches (mm_lock_ctx_pair takes
 * one or two) and the function asserts it. "Takes": the function takes the
 * locks itself, so the caller must not hold that context's lock. The
 * allocator (pmm_*) takes its own locks and may be called with or without
 * context locks held. Every lock masks interrupts through mm_irq_save.
 * Failed calls change nothing (what they made, they undo). docs/embedding.md
 * walks through adopting kmm; the detailed contracts (huge pages, TLB
 * batching, reference rules) are in the internal headers named per section.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** @name Vocabulary (MOS's names) */
/** @{ */
typedef uintptr_t ptr_t; /**< a virtual address */
typedef uint64_t pfn_t;  /**< a physical frame number (physical address >> KMM_PAGE_SHIFT) */

#define KMM_PAGE_SHIFT 12                           /**< log2 of the base page size */
#define KMM_PAGE_SIZE ((ptr_t)1 << KMM_PAGE_SHIFT) /**< the base page size, 4 KiB */

/** Access rights and cache attributes of a mapping or a vmap. */
typedef enum vm_flags {
    VM_NONE = 0,                  /**< nothing: a guard vmap */
    VM_READ = 1u << 0,            /**< readable (every mapping needs it) */
    VM_WRITE = 1u << 1,           /**< writable */
    VM_EXEC = 1u << 2,            /**< executable */
    VM_USER = 1u << 3,            /**< reachable from user mode */
    VM_WRITE_THROUGH = 1u << 4,   /**< write-through caching */
    VM_CACHE_DISABLED = 1u << 5,  /**< uncached (device memory) */
    VM_GLOBAL = 1u << 6,          /**< kept in the TLB across address-space switches */

    VM_RW = VM_READ | VM_WRITE,                /**< read and write */
    VM_RX = VM_READ | VM_EXEC,                 /**< read and execute */
    VM_RWX = VM_READ | VM_WRITE | VM_EXEC,     /**< everything */
    VM_USER_RO = VM_USER | VM_READ,            /**< user, read-only */
    VM_USER_RW = VM_USER | VM_RW,              /**< user, read and write */
    VM_USER_RX = VM_USER | VM_RX,              /**< user, read and execute */
    VM_USER_RWX = VM_USER | VM_RWX,            /**< user, everything */
} vm_flags;

/** Error numbers kmm returns, negated (Linux's values, which kmm's internal
 * EINVAL etc. equal): compare a result with -KMM_ENOMEM. */
enum kmm_errno {
    KMM_EPERM = 1,      /**< not permitted */
    KMM_ENOENT = 2,     /**< nothing there */
    KMM_ENOMEM = 12,    /**< out of memory */
    KMM_EFAULT = 14,    /**< bad address: the access is refused */
    KMM_EBUSY = 16,     /**< busy */
    KMM_EEXIST = 17,    /**< overlaps something that exists */
    KMM_EINVAL = 22,    /**< bad argument */
    KMM_ERANGE = 34,    /**< out of range */
    KMM_EOVERFLOW = 75, /**< a count would overflow */
    KMM_ENOTSUP = 95,   /**< not supported */
};

/** True if p, returned where kmm returns a pointer, carries an error. */
static inline bool kmm_is_err(const void *p) { return (uintptr_t)p >= (uintptr_t)-4095; }
/** The negative error number p carries (kmm_is_err(p) true). */
static inline long kmm_ptr_err(const void *p) { return (long)(intptr_t)p; }

/** No frame (what allocation returns when memory is exhausted). */
#define PMM_NO_FRAME ((pfn_t)-1)
/** @} */

/** @name Types of the paging API (opaque where the caller needs no field) */
/** @{ */
typedef struct mm_context mm_context_t;     /**< an address space (opaque) */
typedef struct vmap vmap_t;                 /**< a virtual memory area of a user half (opaque) */
typedef struct hal_geometry hal_geometry_t; /**< a paging geometry of the arch (opaque) */

/** How a vmap is copied by fork. */
typedef enum vmap_type {
    VMAP_TYPE_PRIVATE = 1 << 0, /**< copied on fork (copy-on-write) */
    VMAP_TYPE_SHARED = 1 << 1,  /**< the same frames in parent and child */
} vmap_type_t;

/** What a vmap holds (recorded, not interpreted). */
typedef enum vmap_content {
    VMAP_UNKNOWN = 0, /**< unspecified */
    VMAP_STACK,       /**< a stack */
    VMAP_FILE,        /**< a file's pages */
    VMAP_MMAP,        /**< anonymous memory */
    VMAP_DMA,         /**< device memory */
} vmap_content_t;

/** Placement flags (MOS's mmap_flags). */
typedef enum mmap_flags {
    MMAP_DEFAULT = 0,  /**< anywhere at or above the hint */
    MMAP_EXACT = 1 << 0, /**< exactly at the address */
} mmap_flags_t;

/** Placement flags of the vmap-creating calls. */
typedef enum valloc_flags {
    VALLOC_DEFAULT = 0,        /**< Default allocation flags. */
    VALLOC_EXACT = MMAP_EXACT, /**< Allocate pages at the exact address. */
    /** kmm's addition: anonymous memory gets every frame at creation
     * (-ENOMEM, nothing left behind, when memory is short; a vmap without
     * VM_WRITE maps the shared zero page instead); other calls refuse it
     * (-EINVAL). */
    VALLOC_POPULATE = 1 << 1,
} valloc_flags;

/** The kind of an access. */
typedef enum hal_access {
    HAL_ACCESS_READ = 1,  /**< a load */
    HAL_ACCESS_WRITE = 2, /**< a store */
    HAL_ACCESS_EXEC = 4,  /**< an instruction fetch */
} hal_access_t;

/** A page fault as the kernel's trap path decoded it (hal/ARCH/fault_decode.h). */
typedef struct hal_fault {
    ptr_t addr;          /**< the faulting virtual address */
    ptr_t ip;            /**< instruction pointer at the fault */
    hal_access_t access; /**< what was attempted */
    bool user_mode;      /**< the access came from user mode */
    int8_t present;      /**< 1: a translation existed, 0: none, -1: the hardware does not say */
    bool user_access;    /**< kernel mode inside a copy helper (user pages open: SMAP off, SUM set) */
} hal_fault_t;

/** A range of physical memory handed to mm_init. */
typedef struct mm_region {
    uint64_t base; /**< physical address */
    uint64_t size; /**< bytes */
    bool usable;   /**< false: reserved, punches a hole in usable regions */
} mm_region_t;

/** What mm_init needs. */
typedef struct mm_boot_info {
    const hal_geometry_t *geometry; /**< from hal_geometry_find */
    const mm_region_t *regions;     /**< usable RAM and reserved holes (kernel image, boot data ...) */
    size_t nregions;                /**< entries in regions */
    /** The kernel keeps its own kernel page table, or lives in the low half:
     * user roots get no kernel half and nothing is pinned for one. */
    bool separate_kernel_root;
} mm_boot_info_t;

/** Options of mm_clone_context_opts. */
typedef struct mm_clone_opts {
    /** Fail with -ENOMEM unless this many frames stay free once the child is
     * made (checked before the parent is touched). */
    size_t reserve_frames;
} mm_clone_opts_t;

/** Global counters (mm/mm.h says exactly what each counts). */
typedef struct mm_stats {
    size_t table_pages;  /**< page-table pages in use */
    size_t contexts;     /**< live contexts, the kernel's included */
    size_t vmaps;        /**< live vmaps */
    size_t object_pages; /**< frames holding kmm's objects */
    size_t user_pages;   /**< frames of user memory */
    size_t shootdowns;   /**< invalidation requests sent to other CPUs */
} mm_stats_t;

/** Lowest user address a vmap may start at (a null pointer plus an offset faults). */
#define MM_USER_MIN ((ptr_t)0x10000)
/** @} */

/** @name Start-up (mm/mm.h) */
/** @{ */
/** The arch's geometry called name ("riscv64-sv39", "x86_64-4level" ...), or NULL. No lock. */
const hal_geometry_t *hal_geometry_find(const char *name);
/** Brings kmm up; once, on one CPU, before any other call. 0, -EINVAL (bad
 * geometry or regions, usable RAM beyond the physical addresses the
 * geometry's entries can encode), -ENOMEM (too little memory). No lock. */
int mm_init(const mm_boot_info_t *info);
/** The kernel's context. No lock. */
mm_context_t *mm_kernel_context(void);
/** The shared zero page (never written, never freed). No lock. */
pfn_t mm_zero_page(void);
/** Fills *out with the global counters. Takes the allocator's lock only (each a recent value while others run). */
void mm_get_stats(mm_stats_t *out);
/** @} */

/** @name Contexts (mm/mm.h) */
/** @{ */
/** A new context with an empty user half, or ERR_PTR(-ENOMEM). Takes no context lock. */
mm_context_t *mm_create_context(void);
/** Destroys ctx (not active, not loaded on any CPU by mm_context_loaded, not the kernel's: each panics): every
 * vmap, table and reference. Takes its lock (the caller must not hold it). */
void mm_destroy_context(mm_context_t *ctx);
/** Makes ctx the calling CPU's address space. Takes no context lock; call with interrupts masked. */
void mm_switch_context(mm_context_t *ctx);
/** The calling CPU's context, NULL before the first switch. No lock. */
mm_context_t *mm_active_context(void);
/** The frame of ctx's root table (fixed for its life), for a kernel that
 * loads user roots itself (a trampoline writing satp / CR3) instead of
 * through mm_switch_context: it must then flush the CPU's TLB when it loads
 * the root and when it stops using it (mm/platform.h). No lock. */
pfn_t mm_context_root(const mm_context_t *ctx);
/** For a kernel that loads roots itself (mm_context_root): counts the
 * calling CPU among those that may cache ctx's translations, so that every
 * later change to ctx's tables that removes or weakens a translation
 * invalidates this CPU too (mm_tlb_shootdown), as mm_switch_context does.
 * Call it on the CPU, interrupts masked, before it loads ctx's root (before
 * it first runs ctx's user code). Panics for NULL or the kernel's context.
 * No lock. */
void mm_context_loaded(mm_context_t *ctx);
/** Undoes mm_context_loaded(ctx) on the calling CPU; call it only after the
 * CPU stopped using ctx's root and flushed its TLB (a trampoline's flush on
 * the way back to the kernel's root). Until then the CPU keeps receiving
 * ctx's shootdowns, which is always safe (also across mm_switch_context
 * to ctx and away). Panics for NULL, the kernel's context, or the context
 * this CPU is switched to (mm_switch_context). No lock. */
void mm_context_unloaded(mm_context_t *ctx);
/** Locks ctx1 and (unless NULL or ctx1) ctx2, in one global order. The caller holds neither. */
void mm_lock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2);
/** Releases what mm_lock_ctx_pair(ctx1, ctx2) took, in the reverse order. */
void mm_unlock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2);
/** @} */

/** @name vmaps (mm/mm.h; all need mmctx's lock) */
/** @{ */
/** An empty (guard) vmap at [vaddr, +npages pages), or ERR_PTR(-EINVAL / -EEXIST / -ENOMEM). Needs the lock. */
vmap_t *vmap_create(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/** Unmaps and removes vmap. Needs its context's lock. */
void vmap_destroy(vmap_t *vmap);
/** The vmap containing vaddr, or ERR_PTR(-ENOENT). Needs the lock. */
vmap_t *vmap_obtain(mm_context_t *mmctx, ptr_t vaddr, size_t *out_offset);
/** Number of vmaps of mmctx. Needs the lock. */
size_t mm_vmap_count(mm_context_t *mmctx);
/** @} */

/** @name The paging API (mm/paging.h) */
/** @{ */
/** An empty vmap of n_pages at a free address (or exactly base_vaddr). Needs the lock. */
vmap_t *mm_get_free_vaddr_locked(mm_context_t *mmctx, size_t n_pages, ptr_t base_vaddr, valloc_flags flags);
/** Maps kernel-half pages (no references taken). Takes the kernel context's lock; panics on failure. */
void mm_map_kernel_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);
/** Maps managed frames into a new user vmap, one reference each. Takes mm_lock. */
vmap_t *mm_map_user_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags,
                          valloc_flags vaflags, vmap_type_t type, vmap_content_t content);
/** Replaces the user page at vaddr by pfn. Needs mm_lock; panics on failure. */
void mm_replace_page_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags);
/** Copies src_vmap's mappings as they are into dst_ctx. Needs both locks. */
vmap_t *mm_clone_vmap_locked(vmap_t *src_vmap, mm_context_t *dst_ctx);
/** A reserved vmap: the kernel's supervisor-only pages in a user half, on any
 * frames (no reference), never overlapped, never copied by fork. Needs mm_lock. */
vmap_t *mm_map_reserved_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);
/** True if vaddr is mapped. Needs mm_lock. */
bool mm_get_is_mapped_locked(mm_context_t *mmctx, ptr_t vaddr);
/** Sets the flags of present pages (copy-on-write kept). Needs mm_lock; panics on failure. */
void mm_flag_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);
/** The physical address vaddr translates to, or 0. Takes mm_lock. */
ptr_t mm_get_phys_addr(mm_context_t *ctx, ptr_t vaddr);
/** Maps [vaddr, +npages) to pfn..: 0 or -errno. Needs the lock of the context owning the range. */
int mm_do_map(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);
/** Unmaps present pages of [vaddr, +npages) (tables only): 0 or -errno. Needs the lock. */
int mm_do_unmap(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/** As mm_flag_pages_locked: 0 or -errno. Needs the lock. */
int mm_do_flag(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);
/** Physical address and flags at vaddr: 0, -ENOENT, -EINVAL. Needs the lock of the context owning vaddr
 * while its tables may change (not asserted: mm/paging.h). */
int mm_do_translate(mm_context_t *mmctx, ptr_t vaddr, uint64_t *paddr, vm_flags *flags);
/** As mm_replace_page_locked: 0 or -errno. Needs mm_lock. */
int mm_do_replace(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags);
/** munmap: vmaps in the range destroyed or trimmed. Needs mm_lock. 0, -EINVAL, -ENOMEM. */
int mm_unmap_user_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/** @} */

/** @name Faults and user memory (mm/paging.h) */
/** @{ */
/** Resolves a decoded fault: 0 (retry), -EFAULT (refuse), -ENOMEM. Takes ctx's lock. */
int mm_handle_fault(mm_context_t *ctx, const hal_fault_t *f);
/** A kernel-mode fault at the kernel-half addr that nothing maps (break-before-make
 * geometries): true means retry the access, because a window over addr was open (waited
 * for) or because the fault may have come from a window that closed before the call (once
 * per CPU, address and window count); false on other geometries, for a user address, when
 * no window was ever opened, for a second fault after such a retry, and for the calling
 * CPU's own open window (a bug: report the fault). Call first, before touching the direct
 * map. No lock. */
bool mm_break_window_retry(ptr_t addr);
/** True while a kernel-half break-before-make window is open, with its range. */
bool mm_break_window_open(ptr_t *lo, ptr_t *hi);
/** Resolves access to the user page at vaddr as user mode would and pins its frame
 * (one reference for the caller, dropped with pmm_release): 0, -EINVAL, -EFAULT, -ENOMEM.
 * Takes ctx's lock. For copy-in / copy-out through physical addresses. */
int mm_get_user_page(mm_context_t *ctx, ptr_t vaddr, hal_access_t access, pfn_t *out_pfn);
/** @} */

/** @name Anonymous memory and fork (mm/cow.h) */
/** @{ */
/** Zero-filled-on-demand private memory (VALLOC_POPULATE: filled now). Needs mm_lock. */
vmap_t *cow_allocate_zeroed_pages(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags);
/** Anonymous memory, private or shared. Needs mm_lock. */
vmap_t *mm_map_anonymous_locked(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags,
                                vmap_type_t type);
/** Clones source_vmap into target_mmctx copy-on-write. Needs both locks. */
vmap_t *cow_clone_vmap_locked(mm_context_t *target_mmctx, vmap_t *source_vmap);
/** Fork: a copy-on-write clone of parent, or ERR_PTR(-ENOMEM) with parent unchanged. Takes both locks. */
mm_context_t *mm_clone_context(mm_context_t *parent);
/** mm_clone_context with options (NULL: none), the fork reserve among them. Takes both locks. */
mm_context_t *mm_clone_context_opts(mm_context_t *parent, const mm_clone_opts_t *opts);
/** mprotect: 0, -EINVAL, -ENOMEM. Needs mm_lock. */
int mm_protect_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);
/** @} */

/** @name Frames (mm/pmm.h; the allocator takes its own locks) */
/** @{ */
/** One frame the caller owns (count 0), or PMM_NO_FRAME. */
pfn_t pmm_alloc(void);
/** As pmm_alloc, cleared. */
pfn_t pmm_alloc_zeroed(void);
/** Takes a reference; returns the new count. */
uint32_t pmm_ref(pfn_t pfn);
/** The reference count of pfn. */
uint32_t pmm_refcount(pfn_t pfn);
/** Drops what the caller owns of pfn (its reference, or the unreferenced frame); the count left. */
uint32_t pmm_release(pfn_t pfn);
/** True if kmm's allocator manages pfn. */
bool pmm_is_managed(pfn_t pfn);
/** Free frames, per-CPU caches included. */
size_t pmm_free_frames(void);
/** Hands [pfn, +n) to kmm: frames mm_init's regions reserved inside the
 * usable span, or frames taken out with pmm_take_frame (from that span or
 * an added region). 0, or -EINVAL with nothing given (a frame outside
 * every span, managed already, or holding kmm's frame records). */
int pmm_give_frames(pfn_t pfn, size_t n);
/** Takes one free frame out of kmm for the embedder, for good; PMM_NO_FRAME if none. */
pfn_t pmm_take_frame(void);
/** At most this many regions can be added after start-up (pmm_add_region). */
#define PMM_MAX_REGIONS 8
/** Gives kmm RAM outside the span mm_init declared, after start-up (memory
 * the embedder's own allocator gives up, or hot-added RAM): [base, +size)
 * in physical addresses, page-aligned, reachable through mm_phys_to_virt
 * from now on. The region holds the records of its own frames in its first
 * frames (16 bytes a frame: one frame per 256), so nothing is allocated;
 * the rest of it is free and managed on return, for good (single frames
 * can still be taken out with pmm_take_frame). Returns 0, or, with nothing
 * changed: -EINVAL (unaligned, empty, wrapping, too small to hold its
 * records and one frame, a frame beyond the physical addresses the
 * geometry's entries can encode, or more frames than 32-bit frame indices
 * leave),
 * -EEXIST (overlaps mm_init's span, its reserved holes included, or a
 * region added before), -ENOMEM (PMM_MAX_REGIONS added already). Takes the
 * allocator's lock. Frames of mm_init's span keep the fastest lookup;
 * those of added regions search the region table. */
int pmm_add_region(uint64_t base, uint64_t size);
/** @} */

/** @name What the embedding kernel supplies (mm/platform.h has the full contract)
 * Required: mm_phys_to_virt, mm_lock_owner_token, mm_panic_at, mm_cpu_id,
 * mm_cpus_online, mm_tlb_shootdown. Optional (kmm has weak defaults):
 * mm_irq_save, mm_irq_restore, mm_spin_wait, mm_platform_frame_freed,
 * mm_kernel_address_of, memset, memcpy (mm/freestanding.c). The MMU operations of hal/hal.h come
 * with hal/ARCH/mmu.c. */
/** @{ */
#define MM_MAX_CPUS 64          /**< CPU indices are below this */
typedef uint64_t mm_cpumask_t;  /**< bit i: CPU i */
typedef uintptr_t mm_irq_state_t; /**< what mm_irq_save returns */

/** One TLB invalidation request for other CPUs. */
typedef struct mm_shootdown {
    pfn_t root;       /**< the address space's root table */
    ptr_t start;      /**< first address of the range, unless all */
    ptr_t end;        /**< end of the range (exclusive), unless all */
    bool all;         /**< everything of root */
} mm_shootdown_t;

/** A pointer through which kmm reads and writes physical address paddr. */
void *mm_phys_to_virt(uint64_t paddr);
/** A non-zero token naming the running thread or CPU (a lock's owner). */
uintptr_t mm_lock_owner_token(void);
/** Stops the machine with a report (printf-like: %s %u %lu %llx %\#llx %zu %p). */
_Noreturn void mm_panic_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The calling CPU's index, below MM_MAX_CPUS. */
unsigned mm_cpu_id(void);
/** Every running CPU. */
mm_cpumask_t mm_cpus_online(void);
/** Runs req on every CPU of cpus (never the caller) and waits for each. */
void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req);
/** Optional: masks interrupts around each kmm lock, returning the previous state. */
mm_irq_state_t mm_irq_save(void);
/** Optional: restores what mm_irq_save returned. */
void mm_irq_restore(mm_irq_state_t state);
/** Optional: called while spinning on a lock (serve cross-CPU requests here). */
void mm_spin_wait(void);
/** Optional: called for every block of 2^order frames given back to the allocator. */
void mm_platform_frame_freed(pfn_t pfn, unsigned order);
/** Optional: the kernel-half address the MMU translates for kmm's pointer p (default: p). */
ptr_t mm_kernel_address_of(const void *p);
/** @} */
