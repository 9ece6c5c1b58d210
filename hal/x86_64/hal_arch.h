/* hal/x86_64/hal_arch.h - x86_64 page-table entry codec (pure, host-testable).
 *
 * Intel SDM vol. 3A, 4.5: bit 0 P, 1 R/W, 2 U/S, 3 PWT, 4 PCD, 5 A, 6 D,
 * 7 PS in level-2/3 entries (PAT in level-1 entries), 8 G, 12 PAT in huge
 * leaves, 12..51 address, 63 XD (NX). Reads cannot be withheld on x86, so
 * every leaf is readable and VM_READ is required to encode one. Table entries
 * are permissive (P, R/W, and U/S on the user half): the leaf decides. */
#pragma once

typedef uint64_t pte_t;

#define X86_PTE_P (1ull << 0)
#define X86_PTE_RW (1ull << 1)
#define X86_PTE_US (1ull << 2)
#define X86_PTE_PWT (1ull << 3)
#define X86_PTE_PCD (1ull << 4)
#define X86_PTE_A (1ull << 5)
#define X86_PTE_D (1ull << 6)
#define X86_PTE_PS (1ull << 7)
#define X86_PTE_G (1ull << 8)
#define X86_PTE_PAT_HUGE (1ull << 12)
#define X86_PTE_NX (1ull << 63)
#define X86_PTE_ADDR 0x000ffffffffff000ull
#define X86_PTE_ADDR_HUGE 0x000fffffffffe000ull

#define HAL_ARCH_NAME "x86_64"
#define HAL_VM_FLAGS_ENCODED (VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_WRITE_THROUGH | VM_CACHE_DISABLED | VM_GLOBAL)
/* Where a PC's RAM starts and how much of it the firmware and the boot
 * loader keep (the first MiB): the host platform lays its simulated RAM out
 * the same way. */
#define HAL_ARCH_RAM_BASE 0x0ull
#define HAL_ARCH_RAM_RESERVED 0x100000ull

static inline bool hal_pte_present(pte_t e) { return e & X86_PTE_P; }

static inline bool hal_pte_is_leaf(unsigned level, pte_t e)
{
    if (!(e & X86_PTE_P))
        return false;
    return level == 1 || ((level == 2 || level == 3) && (e & X86_PTE_PS));
}

static inline pfn_t hal_pte_pfn(unsigned level, pte_t e)
{
    bool huge = level > 1 && (e & X86_PTE_PS);
    return (e & (huge ? X86_PTE_ADDR_HUGE : X86_PTE_ADDR)) >> 12;
}

static inline pte_t x86_pte_flag_bits(vm_flags f)
{
    pte_t e = X86_PTE_P | X86_PTE_A | X86_PTE_D;
    if (f & VM_WRITE)
        e |= X86_PTE_RW;
    if (f & VM_USER)
        e |= X86_PTE_US;
    if (f & VM_WRITE_THROUGH)
        e |= X86_PTE_PWT;
    if (f & VM_CACHE_DISABLED)
        e |= X86_PTE_PCD;
    if (f & VM_GLOBAL)
        e |= X86_PTE_G;
    if (!(f & VM_EXEC))
        e |= X86_PTE_NX;
    return e;
}

static inline int hal_pte_make_leaf(unsigned level, pfn_t pfn, vm_flags f, pte_t *out)
{
    if (!(f & VM_READ) || (f & ~VM_ALL_FLAGS) || level < 1 || level > 3)
        return -EINVAL;
    pfn_t align = ((pfn_t)1 << (HAL_BITS_PER_LEVEL * (level - 1))) - 1;
    if ((pfn & align) || pfn > (X86_PTE_ADDR >> 12))
        return -EINVAL;
    pte_t e = x86_pte_flag_bits(f) | ((pte_t)pfn << 12);
    if (level > 1)
        e |= X86_PTE_PS;
    *out = e;
    return 0;
}

static inline pte_t hal_pte_make_table(pfn_t table, bool user_half)
{
    return X86_PTE_P | X86_PTE_RW | X86_PTE_A | (user_half ? X86_PTE_US : 0) | ((pte_t)table << 12);
}

static inline vm_flags hal_pte_flags(unsigned level, pte_t e)
{
    (void)level;
    unsigned f = VM_READ;
    if (e & X86_PTE_RW)
        f |= VM_WRITE;
    if (e & X86_PTE_US)
        f |= VM_USER;
    if (e & X86_PTE_PWT)
        f |= VM_WRITE_THROUGH;
    if (e & X86_PTE_PCD)
        f |= VM_CACHE_DISABLED;
    if (e & X86_PTE_G)
        f |= VM_GLOBAL;
    if (!(e & X86_PTE_NX))
        f |= VM_EXEC;
    return (vm_flags)f;
}

/* x86 checks U/S, R/W and XD at every level of a walk: a table entry
 * without U/S, without R/W or with XD withholds that right below it. */
static inline vm_flags hal_pte_table_allows(pte_t e)
{
    unsigned f = VM_ALL_FLAGS;
    if (!(e & X86_PTE_US))
        f &= ~VM_USER;
    if (!(e & X86_PTE_RW))
        f &= ~VM_WRITE;
    if (e & X86_PTE_NX)
        f &= ~VM_EXEC;
    return (vm_flags)f;
}

static inline int hal_pte_set_flags(unsigned level, pte_t e, vm_flags f, pte_t *out)
{
    if (!hal_pte_is_leaf(level, e))
        return -EINVAL;
    return hal_pte_make_leaf(level, hal_pte_pfn(level, e), f, out);
}
