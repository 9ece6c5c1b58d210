/* hal/hal.h - the whole contract between the generic memory manager and an
 * architecture. A new architecture writes:
 *   1. hal/<arch>/hal_arch.h : pte_t and the pure entry codec (static inline,
 *      no allocation, no globals, no asm; compiled on the host too);
 *   2. hal/<arch>/geometry.c : its table of geometries (pure);
 *   3. the privileged operations declared below (TLB, address-space switch),
 *      and a trap path that fills a hal_fault_t and calls mm_handle_fault();
 *   4. boot: a list of memory regions, the kernel image range, the command line.
 * Page-table memory is always allocated by the generic layer, never here.
 *
 * Levels are numbered from 1 (the table whose entries map 4 KiB pages) up to
 * geometry->levels (the root). Every level indexes 9 bits of the address. */
#pragma once

#include "mm/types.h"

#define HAL_MAX_LEVELS 5
#define HAL_BITS_PER_LEVEL 9
#define HAL_ENTRIES_PER_TABLE 512

typedef struct hal_geometry {
    const char *name;     /* "x86_64-4level", "x86_64-5level", "riscv64-sv39", ... */
    unsigned levels;      /* 3..5 */
    unsigned va_bits;     /* significant virtual-address bits: 39, 48, 57 */
    unsigned pa_bits;     /* physical-address bits an entry can encode */
    uint32_t leaf_levels; /* bit L set: level L may hold a leaf (bit 1: 4 KiB pages) */
} hal_geometry_t;

/* The arch's geometries; the first is the one the host uses by default. */
extern const hal_geometry_t hal_arch_geometries[];
extern const size_t hal_arch_geometry_count;
/* Finds a geometry of this arch by name; NULL if there is none. */
const hal_geometry_t *hal_geometry_find(const char *name);

static inline unsigned hal_level_shift(unsigned level) { return PAGE_SHIFT + HAL_BITS_PER_LEVEL * (level - 1); }
static inline uint64_t hal_level_span(unsigned level) { return (uint64_t)1 << hal_level_shift(level); }
static inline unsigned hal_level_index(unsigned level, ptr_t va) { return (unsigned)(va >> hal_level_shift(level)) & (HAL_ENTRIES_PER_TABLE - 1); }
static inline bool hal_level_may_leaf(const hal_geometry_t *g, unsigned level) { return (g->leaf_levels >> level) & 1; }

/* The canonical-address rule: bits above va_bits-1 copy bit va_bits-1. The
 * lower half [0, user_end) is the user half, the upper half
 * [kernel_start, 2^64) is the kernel half; between them is the hole. */
static inline ptr_t hal_user_end(const hal_geometry_t *g) { return (ptr_t)1 << (g->va_bits - 1); }
static inline ptr_t hal_kernel_start(const hal_geometry_t *g) { return ~(ptr_t)0 << (g->va_bits - 1); }
static inline bool hal_is_canonical(const hal_geometry_t *g, ptr_t va) { return va < hal_user_end(g) || va >= hal_kernel_start(g); }
static inline bool hal_is_user_addr(const hal_geometry_t *g, ptr_t va) { return va < hal_user_end(g); }
static inline pfn_t hal_max_pfn(const hal_geometry_t *g) { return ((pfn_t)1 << (g->pa_bits - PAGE_SHIFT)) - 1; }

#include "hal_arch.h" /* resolved by the include path to hal/<arch>/hal_arch.h */

/* The codec each arch provides in hal_arch.h (all static inline, pure):
 *   typedef uint64_t pte_t;
 *   HAL_VM_FLAGS_ENCODED                 vm_flags this arch can store in an entry
 *   int  hal_pte_make_leaf(unsigned level, pfn_t pfn, vm_flags f, pte_t *out)
 *        0, or -EINVAL when f cannot be encoded (no VM_READ, riscv W without R,
 *        pfn not aligned to the level's page size, pfn too wide)
 *   pte_t hal_pte_make_table(pfn_t table, bool user_half)
 *   bool hal_pte_present(pte_t e)
 *   bool hal_pte_is_leaf(unsigned level, pte_t e)      present and a leaf
 *   pfn_t hal_pte_pfn(unsigned level, pte_t e)         first frame the entry maps/points to
 *   vm_flags hal_pte_flags(unsigned level, pte_t e)    generic flags of a leaf
 *   int  hal_pte_set_flags(unsigned level, pte_t e, vm_flags f, pte_t *out)
 *        the same leaf with other flags; -EINVAL as for make_leaf */

/* ---- Privileged operations, supplied by the platform (kernel or host) ---- */

/* Invalidate translations for [start, end) in the address space whose root
 * table is `root`. Kernel-half ranges are invalidated whatever is active.
 * Only leaf translations need dropping (freed tables use the _all form).
 * The generic layer calls this once per contiguous range per operation;
 * end never wraps (the last page of the address space is never mapped). */
void hal_tlb_invalidate(pfn_t root, ptr_t start, ptr_t end);
/* Invalidate every translation of the address space `root`, global (kernel)
 * entries and cached intermediate entries included. The generic layer uses
 * it when an operation freed page-table pages (riscv's sfence.vma with an
 * address does not cover non-leaf entries) or for a whole address space. */
void hal_tlb_invalidate_all(pfn_t root);
/* Make `root` the active address space (CR3 / satp). */
void hal_mmu_activate(pfn_t root);
/* The root of the active address space. */
pfn_t hal_mmu_active_root(void);

/* ---- Faults ---- */
typedef enum hal_access {
    HAL_ACCESS_READ = 1,
    HAL_ACCESS_WRITE = 2,
    HAL_ACCESS_EXEC = 4,
} hal_access_t;

/* What the arch's trap code tells the generic fault handler. */
typedef struct hal_fault {
    ptr_t addr;          /* the faulting virtual address */
    ptr_t ip;            /* instruction pointer at the fault */
    hal_access_t access; /* what was attempted */
    bool user_mode;      /* the access came from user mode */
    int8_t present;      /* 1: a translation existed, 0: none, -1: the hardware does not say (riscv) */
    bool user_access;    /* kernel mode with access to user pages open (x86 RFLAGS.AC or no SMAP,
                            riscv sstatus.SUM): inside a copy helper */
} hal_fault_t;
