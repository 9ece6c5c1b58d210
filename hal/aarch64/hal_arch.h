/* hal/aarch64/hal_arch.h - aarch64 stage-1 page-table entry codec, 4 KiB
 * granule, 48-bit output addresses, or 52-bit ones with FEAT_LPA2 (pure,
 * host-testable; its one piece of state is the layout flag below).
 *
 * Arm ARM D8.3 (VMSAv8-64 descriptors). Levels here count from the leaf:
 * level 1 is Arm's level 3 (4 KiB pages), 2 its level 2 (2 MiB blocks), 3
 * its level 1 (1 GiB blocks), 4 its level 0 (tables; 512 GiB blocks too
 * with LPA2), 5 its level -1 (LPA2 only: tables, indexed by VA[51:48]).
 *   bits 1:0   0b11 a page at level 1 or a table above it; 0b01 a block
 *              at levels 2 and 3 (and 4 with LPA2); bit 0 clear: invalid
 *   bits 4:2   AttrIndx into MAIR_EL1 (A64_MAIR_VALUE below)
 *   bits 7:6   AP[2:1]: AP[1] EL0 may access, AP[2] read-only
 *   bits 9:8   without LPA2: SH, 0b11 inner shareable (every leaf); with
 *              LPA2 (TCR_EL1.DS = 1): OA[51:50] of a leaf or a table
 *              entry, shareability then comes from TCR_EL1.SH0 / SH1
 *   bit 10     AF: set on every leaf, so no access-flag fault is taken
 *   bit 11     nG: not global (the translation is tagged with the ASID)
 *   bits 47:12 output address (49:12 with LPA2: OA[49:12])
 *   bit 53     PXN, bit 54 UXN
 *   table entries: bit 59 PXNTable, 60 UXNTable, 61 APTable[0] (no EL0
 *   access below), 62 APTable[1] (no write below)
 * Reads cannot be withheld (every valid leaf is readable at EL1), so
 * VM_READ is required. A user page is never executable at EL1 (PXN) and a
 * kernel page never at EL0 (UXN). Caching, through MAIR: write-back normal
 * memory by default, write-through normal memory for VM_WRITE_THROUGH,
 * Device-nGnRE for VM_CACHE_DISABLED (with or without VM_WRITE_THROUGH,
 * two indices with the same attribute so the flags round-trip). Entries
 * without VM_GLOBAL get nG (the generic layer makes every user mapping
 * non-global). Kernel-half table entries withhold EL0 access and EL0
 * execution from everything below them (APTable[0], UXNTable).
 *
 * Which layout is in force is the geometry's (aarch64-5level: LPA2, pa_bits
 * 52): hal_codec_select sets a64_lpa2 from it (mm_init calls it; early boot
 * code that builds tables before mm_init calls it first). */
#pragma once

typedef uint64_t pte_t;

#define A64_PTE_VALID (1ull << 0)
#define A64_PTE_TABLE (1ull << 1) /* at level 1: a page; above it: a table (clear: a block) */
#define A64_PTE_ATTRINDX_SHIFT 2
#define A64_PTE_ATTRINDX_MASK (7ull << A64_PTE_ATTRINDX_SHIFT)
#define A64_PTE_AP_EL0 (1ull << 6) /* AP[1] */
#define A64_PTE_AP_RO (1ull << 7)  /* AP[2] */
#define A64_PTE_SH_INNER (3ull << 8)  /* without LPA2 */
#define A64_PTE_OA_HI (3ull << 8)     /* with LPA2: OA[51:50] */
#define A64_PTE_OA_HI_SHIFT 42        /* from bits 9:8 to bits 51:50 */
#define A64_PTE_AF (1ull << 10)
#define A64_PTE_NG (1ull << 11)
#define A64_PTE_ADDR 0x0000fffffffff000ull      /* OA[47:12], without LPA2 */
#define A64_PTE_ADDR_LPA2 0x0003fffffffff000ull /* OA[49:12], with LPA2 */
#define A64_PTE_PXN (1ull << 53)
#define A64_PTE_UXN (1ull << 54)
#define A64_TABLE_PXN (1ull << 59)
#define A64_TABLE_UXN (1ull << 60)
#define A64_TABLE_AP_NO_EL0 (1ull << 61)
#define A64_TABLE_AP_RO (1ull << 62)

/* MAIR_EL1 attribute indices and the register value (Arm ARM D19, MAIR_EL1):
 * 0 normal write-back (0xff), 1 normal write-through (0xbb: inner and outer
 * write-through non-transient, read- and write-allocate), 2 and 3
 * Device-nGnRE (0x04). The index is (CD ? 2 : 0) | (WT ? 1 : 0). */
#define A64_ATTR_WB 0ull
#define A64_ATTR_WT 1ull
#define A64_ATTR_DEVICE 2ull
#define A64_ATTR_DEVICE_WT 3ull
#define A64_MAIR_VALUE 0x0404bbffull

#define HAL_ARCH_NAME "aarch64"
#define HAL_VM_FLAGS_ENCODED (VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_WRITE_THROUGH | VM_CACHE_DISABLED | VM_GLOBAL)
/* Where QEMU virt's RAM starts and what its start holds for a bare-metal
 * image (the device tree, then the image): 2 MiB. The host platform lays its
 * simulated RAM out the same way. */
#define HAL_ARCH_RAM_BASE 0x40000000ull
#define HAL_ARCH_RAM_RESERVED 0x200000ull

/* The descriptor layout in force: true with FEAT_LPA2 (TCR_EL1.DS = 1),
 * set by hal_codec_select (hal/aarch64/geometry.c defines it). */
extern bool a64_lpa2;

#define HAL_ARCH_CODEC_SELECT
/* hal_break_make is hal/aarch64/mmu.c's: the make store of a kernel-half
 * break goes through a fixmap alias (a64.h, a64_set_break_alias). */
#define HAL_ARCH_BREAK_MAKE
static inline void hal_codec_select(const hal_geometry_t *g) { a64_lpa2 = g->pa_bits > 48; }

/* The output-address field of an entry for frame pfn (fits: see a64_max_pfn). */
static inline pte_t a64_oa_field(pfn_t pfn)
{
    pte_t pa = (pte_t)pfn << 12;
    if (!a64_lpa2)
        return pa & A64_PTE_ADDR;
    return (pa & A64_PTE_ADDR_LPA2) | ((pa >> A64_PTE_OA_HI_SHIFT) & A64_PTE_OA_HI);
}

static inline pfn_t a64_max_pfn(void) { return a64_lpa2 ? ((pfn_t)1 << 40) - 1 : ((pfn_t)1 << 36) - 1; }

static inline bool hal_pte_present(pte_t e) { return e & A64_PTE_VALID; }

static inline bool hal_pte_is_leaf(unsigned level, pte_t e)
{
    if (!(e & A64_PTE_VALID))
        return false;
    if (level == 1)
        return e & A64_PTE_TABLE;
    return (level == 2 || level == 3 || (level == 4 && a64_lpa2)) && !(e & A64_PTE_TABLE);
}

static inline pfn_t hal_pte_pfn(unsigned level, pte_t e)
{
    (void)level;
    if (!a64_lpa2)
        return (e & A64_PTE_ADDR) >> 12;
    return ((e & A64_PTE_ADDR_LPA2) | ((e & A64_PTE_OA_HI) << A64_PTE_OA_HI_SHIFT)) >> 12;
}

static inline int hal_pte_make_leaf(unsigned level, pfn_t pfn, vm_flags f, pte_t *out)
{
    if (!(f & VM_READ) || (f & ~VM_ALL_FLAGS) || level < 1 || level > (a64_lpa2 ? 4u : 3u))
        return -EINVAL;
    pfn_t align = ((pfn_t)1 << (HAL_BITS_PER_LEVEL * (level - 1))) - 1;
    if ((pfn & align) || pfn > a64_max_pfn())
        return -EINVAL;
    pte_t e = A64_PTE_VALID | A64_PTE_AF | (a64_lpa2 ? 0 : A64_PTE_SH_INNER) | a64_oa_field(pfn);
    if (level == 1)
        e |= A64_PTE_TABLE;
    pte_t attr = ((f & VM_CACHE_DISABLED) ? A64_ATTR_DEVICE : A64_ATTR_WB) | ((f & VM_WRITE_THROUGH) ? A64_ATTR_WT : 0);
    e |= attr << A64_PTE_ATTRINDX_SHIFT;
    if (!(f & VM_WRITE))
        e |= A64_PTE_AP_RO;
    if (f & VM_USER)
        e |= A64_PTE_AP_EL0 | A64_PTE_PXN | ((f & VM_EXEC) ? 0 : A64_PTE_UXN);
    else
        e |= A64_PTE_UXN | ((f & VM_EXEC) ? 0 : A64_PTE_PXN);
    if (!(f & VM_GLOBAL))
        e |= A64_PTE_NG;
    *out = e;
    return 0;
}

static inline pte_t hal_pte_make_table(pfn_t table, bool user_half)
{
    pte_t e = A64_PTE_VALID | A64_PTE_TABLE | a64_oa_field(table);
    if (!user_half)
        e |= A64_TABLE_AP_NO_EL0 | A64_TABLE_UXN;
    return e;
}

static inline vm_flags hal_pte_flags(unsigned level, pte_t e)
{
    (void)level;
    unsigned f = VM_READ;
    if (!(e & A64_PTE_AP_RO))
        f |= VM_WRITE;
    if (e & A64_PTE_AP_EL0) {
        f |= VM_USER;
        if (!(e & A64_PTE_UXN))
            f |= VM_EXEC;
    } else if (!(e & A64_PTE_PXN)) {
        f |= VM_EXEC;
    }
    pte_t attr = (e & A64_PTE_ATTRINDX_MASK) >> A64_PTE_ATTRINDX_SHIFT;
    if (attr & A64_ATTR_WT)
        f |= VM_WRITE_THROUGH;
    if (attr & A64_ATTR_DEVICE)
        f |= VM_CACHE_DISABLED;
    if (!(e & A64_PTE_NG))
        f |= VM_GLOBAL;
    return (vm_flags)f;
}

/* APTable and the XN-table bits limit every level below: APTable[0] takes
 * EL0 access away, APTable[1] write access; execution goes only when both
 * PXNTable and UXNTable are set (one alone withholds it from one exception
 * level, which the generic flags cannot say: the leaf's PXN/UXN decide). */
static inline vm_flags hal_pte_table_allows(pte_t e)
{
    unsigned f = VM_ALL_FLAGS;
    if (e & A64_TABLE_AP_NO_EL0)
        f &= ~VM_USER;
    if (e & A64_TABLE_AP_RO)
        f &= ~VM_WRITE;
    if ((e & A64_TABLE_PXN) && (e & A64_TABLE_UXN))
        f &= ~VM_EXEC;
    return (vm_flags)f;
}

static inline int hal_pte_set_flags(unsigned level, pte_t e, vm_flags f, pte_t *out)
{
    if (!hal_pte_is_leaf(level, e))
        return -EINVAL;
    return hal_pte_make_leaf(level, hal_pte_pfn(level, e), f, out);
}
