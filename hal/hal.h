/* hal/hal.h - the whole contract between the generic memory manager and an
 * architecture: the memory manager's part of an arch (hal/<arch>/), which
 * includes nothing above this header and mm/types.h. A new architecture
 * writes:
 *   1. hal/<arch>/hal_arch.h : pte_t and the pure entry codec (static inline,
 *      no allocation, no asm, no globals but the layout flag of an arch whose
 *      geometries differ in descriptor layout (hal_codec_select); compiled
 *      on the host too), checked below against the contract at compile time;
 *   2. hal/<arch>/geometry.c : its table of geometries (pure), with the
 *      geometry flags its MMU needs (break-before-make, a separate kernel root);
 *   3. the privileged operations declared below (TLB, table-store barrier,
 *      address-space switch);
 *   4. a pure decoder of its fault registers into a hal_fault_t
 *      (hal/<arch>/fault_decode.h), host-tested.
 * The kernel that embeds the memory manager (the test kernel's arch/<arch>/
 * here) owns the trap path: it decodes a fault with (4) and hands the record
 * to mm_handle_fault (through kernel_handle_fault in the test kernel), and
 * it boots: memory regions, the kernel image range, the command line.
 * Page-table memory is always allocated by the generic layer, never here.
 *
 * Levels are numbered from 1 (the table whose entries map 4 KiB pages) up to
 * geometry->levels (the root). Every level below the root indexes 9 bits of
 * the address; the root indexes what va_bits leaves it, 9 bits or fewer
 * (aarch64's 52-bit geometry: its level -1 root indexes VA[51:48], 16
 * entries). */
#pragma once

#include "mm/types.h"

#define HAL_MAX_LEVELS 5
#define HAL_BITS_PER_LEVEL 9
#define HAL_ENTRIES_PER_TABLE 512

/** One paging geometry of an arch: how many levels, how wide, where leaves may sit. */
typedef struct hal_geometry {
    const char *name;     /**< "x86_64-4level", "x86_64-5level", "riscv64-sv39", ... */
    unsigned levels;      /**< 3..5 */
    unsigned va_bits;     /**< significant virtual-address bits: 39, 48, 52, 57; the root indexes
                               va_bits - hal_level_shift(levels) of them (1..9) */
    unsigned pa_bits;     /**< physical-address bits an entry can encode */
    uint32_t leaf_levels; /**< bit L set: level L may hold a leaf (bit 1: 4 KiB pages) */
    uint32_t flags;       /**< HAL_GEOMETRY_* below: what this MMU asks of the walker */
} hal_geometry_t;

/* Break-before-make (Arm's rule; x86_64 and riscv64 do not need it): a valid
 * entry whose output address, size or memory type changes (a huge leaf
 * split into a table, a huge leaf replacing a table, another frame under a
 * live mapping, VM_CACHE_DISABLED or VM_WRITE_THROUGH set or cleared on a
 * live leaf) is first made invalid and invalidated on every CPU that may
 * cache it; only then is the new entry stored (a change of permissions
 * alone is stored at once). Without the flag the walker
 * stores the new entry at once and invalidates once at the end. A
 * kernel-half break (which may cover the direct map the walker itself
 * uses) is one hal_break_make call where invalidations broadcast. */
#define HAL_GEOMETRY_BREAK_BEFORE_MAKE (1u << 0)
/* The kernel half is translated from a root of its own (aarch64's TTBR1,
 * or a kernel that embeds the memory manager without a shared higher half):
 * a context's root holds no kernel-half entry, kernel mappings live in the
 * kernel context's root alone, and hal_mmu_activate gets both roots.
 * Without the flag every root copies the kernel context's kernel-half
 * entries (x86_64's CR3 and riscv64's satp name one root). */
#define HAL_GEOMETRY_SEPARATE_KERNEL_ROOT (1u << 1)
/* Invalidations broadcast (aarch64's inner-shareable TLBI): one
 * hal_tlb_invalidate / hal_tlb_invalidate_all on any CPU drops the
 * translations from every CPU's TLB and returns when they are gone, so the
 * generic layer sends no shootdown (mm_tlb_shootdown is not called).
 * Without the flag each invalidation is local to the calling CPU and the
 * generic layer has every other CPU that may cache the range do it too. */
#define HAL_GEOMETRY_BROADCAST_INVALIDATION (1u << 2)
#define HAL_GEOMETRY_KNOWN_FLAGS                                                                                       \
    (HAL_GEOMETRY_BREAK_BEFORE_MAKE | HAL_GEOMETRY_SEPARATE_KERNEL_ROOT | HAL_GEOMETRY_BROADCAST_INVALIDATION)
static inline bool hal_break_before_make(const hal_geometry_t *g) { return g->flags & HAL_GEOMETRY_BREAK_BEFORE_MAKE; }
static inline bool hal_separate_kernel_root(const hal_geometry_t *g) { return g->flags & HAL_GEOMETRY_SEPARATE_KERNEL_ROOT; }
static inline bool hal_invalidation_broadcasts(const hal_geometry_t *g)
{
    return g->flags & HAL_GEOMETRY_BROADCAST_INVALIDATION;
}

/* The arch's geometries; the first is the one the host uses by default. */
extern const hal_geometry_t hal_arch_geometries[];
extern const size_t hal_arch_geometry_count;
/* Finds a geometry of this arch by name; NULL if there is none. */
const hal_geometry_t *hal_geometry_find(const char *name);

static inline unsigned hal_level_shift(unsigned level) { return PAGE_SHIFT + HAL_BITS_PER_LEVEL * (level - 1); }
static inline uint64_t hal_level_span(unsigned level) { return (uint64_t)1 << hal_level_shift(level); }
/* Entries of a level-`level` table of g: 512, but at the root 2^(va_bits -
 * hal_level_shift(levels)) (16 for aarch64-5level; the rest of the root's
 * page stays zero). */
static inline unsigned hal_level_entries(const hal_geometry_t *g, unsigned level)
{
    return level == g->levels ? 1u << (g->va_bits - hal_level_shift(level)) : HAL_ENTRIES_PER_TABLE;
}
/* The index of va in a level-`level` table of g: the address bits that
 * level translates, never the sign-extension bits above va_bits (a kernel
 * address's root index of aarch64-5level is 8..15, not 504..511). */
static inline unsigned hal_level_index(const hal_geometry_t *g, unsigned level, ptr_t va)
{
    return (unsigned)(va >> hal_level_shift(level)) & (hal_level_entries(g, level) - 1);
}
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

/* ---- The entry codec each arch provides in hal_arch.h ----
 * All static inline and pure. The checks below make the contract code: an
 * arch whose hal_arch.h lacks one of these, or declares it with another
 * signature, does not compile. tests/unit/test_codec.c is the conformance
 * suite every arch's codec passes on the host, in each of its geometries.
 *   pte_t                                 an unsigned 64-bit entry
 *   HAL_ARCH_NAME                         "x86_64", "riscv64", ...
 *   HAL_VM_FLAGS_ENCODED                  the vm_flags an entry can store
 *   hal_pte_make_leaf(level, pfn, f, &out)
 *        0, or -EINVAL when f cannot be encoded (no VM_READ, riscv W without R),
 *        pfn not aligned to the level's page size, or pfn too wide; out untouched then
 *   hal_pte_make_table(table, user_half)  an entry pointing to the next table
 *   hal_pte_present(e)                    the valid bit
 *   hal_pte_is_leaf(level, e)             present and a leaf
 *   hal_pte_pfn(level, e)                 first frame the entry maps / points to
 *   hal_pte_flags(level, e)               generic flags of a leaf
 *   hal_pte_set_flags(level, e, f, &out)  the same leaf with other flags; -EINVAL as for make_leaf
 *   hal_pte_table_allows(e)               the vm_flags a present table entry lets the levels
 *                                         below grant (x86 checks U/S, R/W and XD at every
 *                                         level; riscv's table entries restrict nothing):
 *                                         the host's software MMU applies it on each walk */
#ifndef HAL_ARCH_NAME
#error "hal_arch.h must define HAL_ARCH_NAME"
#endif
#ifndef HAL_VM_FLAGS_ENCODED
#error "hal_arch.h must define HAL_VM_FLAGS_ENCODED"
#endif
#define HAL_CHECK_SIGNATURE(fn, type) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&fn), type), #fn ": not the signature hal/hal.h asks for")
_Static_assert(sizeof(pte_t) == 8 && (pte_t)-1 > 0, "pte_t must be an unsigned 64-bit integer");
_Static_assert((HAL_VM_FLAGS_ENCODED & ~VM_ALL_FLAGS) == 0 && (HAL_VM_FLAGS_ENCODED & VM_READ),
               "HAL_VM_FLAGS_ENCODED: generic flags, VM_READ among them");
HAL_CHECK_SIGNATURE(hal_pte_make_leaf, int (*)(unsigned, pfn_t, vm_flags, pte_t *));
HAL_CHECK_SIGNATURE(hal_pte_make_table, pte_t (*)(pfn_t, bool));
HAL_CHECK_SIGNATURE(hal_pte_present, bool (*)(pte_t));
HAL_CHECK_SIGNATURE(hal_pte_is_leaf, bool (*)(unsigned, pte_t));
HAL_CHECK_SIGNATURE(hal_pte_pfn, pfn_t (*)(unsigned, pte_t));
HAL_CHECK_SIGNATURE(hal_pte_flags, vm_flags (*)(unsigned, pte_t));
HAL_CHECK_SIGNATURE(hal_pte_set_flags, int (*)(unsigned, pte_t, vm_flags, pte_t *));
HAL_CHECK_SIGNATURE(hal_pte_table_allows, vm_flags (*)(pte_t));

/* ---- A descriptor layout per geometry (optional) ----
 * hal_codec_select(g) puts the codec in geometry g's entry layout, before
 * any entry of g is made or read: aarch64's 52-bit geometry (FEAT_LPA2,
 * TCR_EL1.DS = 1) carries OA[51:50] in bits 9:8, where the 48-bit one has
 * its shareability. mm_init calls it with the geometry it is given; code
 * that uses the codec before mm_init (early boot tables) calls it first.
 * An arch whose layout is the same in every geometry keeps this no-op; one
 * whose layout differs defines HAL_ARCH_CODEC_SELECT and supplies it (the
 * one store of a run-time flag, the only state its codec reads). */
#ifndef HAL_ARCH_CODEC_SELECT
static inline void hal_codec_select(const hal_geometry_t *g) { (void)g; }
#endif
HAL_CHECK_SIGNATURE(hal_codec_select, void (*)(const hal_geometry_t *));

/* ---- Entry loads and stores ----
 * Every read and write of a page-table entry, in mm/ and in the host's
 * software MMU, goes through this pair (Linux's ptep_get / set_pte), so
 * that an arch adds its barriers in one place and a table walker on another
 * CPU (the hardware's, or the host's model on another thread) never sees a
 * torn entry: each is one atomic 64-bit access, relaxed (ordering comes
 * from hal_tables_sync and the TLB operations). An arch may define
 * HAL_ARCH_PTE_ACCESSORS and supply both itself, with these signatures. */
#ifndef HAL_ARCH_PTE_ACCESSORS
static inline pte_t hal_pte_load(const pte_t *slot) { return __atomic_load_n(slot, __ATOMIC_RELAXED); }
static inline void hal_pte_store(pte_t *slot, pte_t e) { __atomic_store_n(slot, e, __ATOMIC_RELAXED); }
#endif
HAL_CHECK_SIGNATURE(hal_pte_load, pte_t (*)(const pte_t *));
HAL_CHECK_SIGNATURE(hal_pte_store, void (*)(pte_t *, pte_t));

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
/* Orders the entry stores made before it before any use of the
 * translations they make, on this CPU and (through the invalidations that
 * follow, if any) the others: aarch64's DSB ISHST (and ISB where a new
 * translation is used at once). The generic layer calls it once per
 * operation that stored entries, after the last store and before its
 * invalidation (and, under break-before-make, between the break and its
 * invalidation). x86_64 and riscv64 need no instruction here (x86's walker
 * sees stores in order; riscv's sfence.vma orders them for the
 * invalidations, and a fresh entry the walker has not seen yet is a
 * spurious fault the generic layer retries): a compiler barrier. */
void hal_tables_sync(void);
/* Break-before-make of one kernel-half entry, as one sequence the calling
 * CPU runs with interrupts masked: store 0 in the valid entry *slot, make
 * it visible, invalidate [start, end) (everything with all: a table went)
 * on every CPU and wait for that, store e in *slot, make it visible
 * (hal_tables_sync). The generic layer calls it for every kernel-half
 * break in a geometry whose invalidations broadcast (nothing to shoot down
 * from inside), with the break window published (mm_break_window_open):
 * the broken range may cover the direct map through which slot itself is
 * reached, the frame array, the context, anything the generic code would
 * touch. So between the two stores the calling CPU must touch no memory
 * through a translation of [start, end): nothing but registers, code and
 * the make store, which goes through a mapping of the slot's frame that no
 * break of the direct map removes (aarch64: a fixmap page outside it,
 * hal/aarch64/mmu.c). The default, for an arch that breaks nothing in the
 * kernel half or cannot have a direct-map leaf over its own tables, is the
 * plain sequence through *slot; an arch supplies its own by defining
 * HAL_ARCH_BREAK_MAKE (the host platform always does: it records each
 * call). `root` is the kernel context's root, for the invalidation. */
#if defined(HAL_ARCH_BREAK_MAKE) || defined(KMM_HOST)
void hal_break_make(pfn_t root, pte_t *slot, pte_t e, ptr_t start, ptr_t end, bool all);
#else
static inline void hal_break_make(pfn_t root, pte_t *slot, pte_t e, ptr_t start, ptr_t end, bool all)
{
    hal_pte_store(slot, 0);
    hal_tables_sync();
    if (all)
        hal_tlb_invalidate_all(root);
    else
        hal_tlb_invalidate(root, start, end);
    hal_pte_store(slot, e);
    hal_tables_sync();
}
#endif
/* Make `root` the active address space (CR3 / satp). With
 * HAL_GEOMETRY_SEPARATE_KERNEL_ROOT the kernel half is translated from
 * `kernel_root` (aarch64: TTBR0 = root, TTBR1 = kernel_root); without it
 * root's own kernel-half entries are the kernel context's and kernel_root
 * is ignored. */
void hal_mmu_activate(pfn_t root, pfn_t kernel_root);
/* The root of the active address space. */
pfn_t hal_mmu_active_root(void);

/* ---- Faults ----
 * hal_access_t and hal_fault_t, the neutral record of a fault, are public:
 * mm/kmm.h. */
