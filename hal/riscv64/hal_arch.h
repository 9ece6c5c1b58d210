/* hal/riscv64/hal_arch.h - riscv64 (Sv39/Sv48/Sv57) page-table entry codec
 * (pure, host-testable).
 *
 * RISC-V privileged spec, 4.4-4.6: bit 0 V, 1 R, 2 W, 3 X, 4 U, 5 G, 6 A,
 * 7 D, 8-9 RSW, 10..53 PPN. An entry with any of R/W/X is a leaf at any
 * level; V alone points to the next table (U, A, D clear). W without R is
 * reserved and refused here. A and D are set on every leaf so the hardware
 * never faults to have them set. Caching attributes need Svpbmt, which this
 * HAL does not assume: VM_WRITE_THROUGH and VM_CACHE_DISABLED are accepted
 * and not stored (physical memory attributes decide on QEMU virt). */
#pragma once

typedef uint64_t pte_t;

#define RV_PTE_V (1ull << 0)
#define RV_PTE_R (1ull << 1)
#define RV_PTE_W (1ull << 2)
#define RV_PTE_X (1ull << 3)
#define RV_PTE_U (1ull << 4)
#define RV_PTE_G (1ull << 5)
#define RV_PTE_A (1ull << 6)
#define RV_PTE_D (1ull << 7)
#define RV_PTE_PPN_SHIFT 10
#define RV_PTE_PPN_MASK ((1ull << 44) - 1)

#define HAL_ARCH_NAME "riscv64"
#define HAL_VM_FLAGS_ENCODED (VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_GLOBAL)
/* Where QEMU virt's RAM starts and how much of its start OpenSBI and the
 * kernel image take (2 MiB): the host platform lays its simulated RAM out
 * the same way. */
#define HAL_ARCH_RAM_BASE 0x80000000ull
#define HAL_ARCH_RAM_RESERVED 0x200000ull

static inline bool hal_pte_present(pte_t e) { return e & RV_PTE_V; }

static inline bool hal_pte_is_leaf(unsigned level, pte_t e)
{
    (void)level;
    return (e & RV_PTE_V) && (e & (RV_PTE_R | RV_PTE_W | RV_PTE_X));
}

static inline pfn_t hal_pte_pfn(unsigned level, pte_t e)
{
    (void)level;
    return (e >> RV_PTE_PPN_SHIFT) & RV_PTE_PPN_MASK;
}

static inline int hal_pte_make_leaf(unsigned level, pfn_t pfn, vm_flags f, pte_t *out)
{
    if (!(f & VM_READ) || (f & ~VM_ALL_FLAGS) || level < 1 || level > 5)
        return -EINVAL;
    pfn_t align = ((pfn_t)1 << (HAL_BITS_PER_LEVEL * (level - 1))) - 1;
    if ((pfn & align) || pfn > RV_PTE_PPN_MASK)
        return -EINVAL;
    pte_t e = RV_PTE_V | RV_PTE_R | RV_PTE_A | RV_PTE_D | ((pte_t)pfn << RV_PTE_PPN_SHIFT);
    if (f & VM_WRITE)
        e |= RV_PTE_W;
    if (f & VM_EXEC)
        e |= RV_PTE_X;
    if (f & VM_USER)
        e |= RV_PTE_U;
    if (f & VM_GLOBAL)
        e |= RV_PTE_G;
    *out = e;
    return 0;
}

static inline pte_t hal_pte_make_table(pfn_t table, bool user_half)
{
    (void)user_half;
    return RV_PTE_V | ((pte_t)table << RV_PTE_PPN_SHIFT);
}

static inline vm_flags hal_pte_flags(unsigned level, pte_t e)
{
    (void)level;
    unsigned f = 0;
    if (e & RV_PTE_R)
        f |= VM_READ;
    if (e & RV_PTE_W)
        f |= VM_WRITE;
    if (e & RV_PTE_X)
        f |= VM_EXEC;
    if (e & RV_PTE_U)
        f |= VM_USER;
    if (e & RV_PTE_G)
        f |= VM_GLOBAL;
    return (vm_flags)f;
}

/* A non-leaf entry grants nothing and withholds nothing: the leaf decides. */
static inline vm_flags hal_pte_table_allows(pte_t e)
{
    (void)e;
    return VM_ALL_FLAGS;
}

static inline int hal_pte_set_flags(unsigned level, pte_t e, vm_flags f, pte_t *out)
{
    if (!hal_pte_is_leaf(level, e))
        return -EINVAL;
    return hal_pte_make_leaf(level, hal_pte_pfn(level, e), f, out);
}
