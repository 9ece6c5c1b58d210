/* hal/aarch64/mmu_regs.h - the register values a boot path sets for a
 * geometry, and the choice of geometry from what the CPU reports (pure:
 * host-tested in tests/unit/test_a64_regs.c; a64_probe_geometry in a64.h
 * reads the register on the CPU). Arm ARM D19: TCR_EL1, TTBRn_EL1,
 * ID_AA64MMFR0_EL1.
 *
 * TCR_EL1 for geometry g: T0SZ = T1SZ = 64 - va_bits (16: walks start at
 * Arm's level 0; 12: at level -1, which only FEAT_LPA2 with DS = 1 allows),
 * 4 KiB granules for both halves (TG0 = 0b00, TG1 = 0b10), table walks
 * inner-shareable and write-back cacheable (SH, IRGN, ORGN), IPS from the
 * CPU's PARange (capped at 48 bits without DS: a 52-bit IPS needs it), DS
 * = 1 for the 52-bit geometry. With DS = 1 the descriptors have no SH field
 * (bits 9:8 are OA[51:50], hal_arch.h): every leaf's shareability is
 * SH0 / SH1, inner-shareable, as the 48-bit descriptors say for themselves.
 * EPD0 / EPD1, A1 (ASID from TTBR0) and the top-byte-ignore bits stay 0. */
#pragma once

#include "hal/hal.h"

#define A64_TCR_T0SZ_SHIFT 0
#define A64_TCR_IRGN0_WBWA (1ull << 8)
#define A64_TCR_ORGN0_WBWA (1ull << 10)
#define A64_TCR_SH0_INNER (3ull << 12)
#define A64_TCR_TG0_4K (0ull << 14)
#define A64_TCR_T1SZ_SHIFT 16
#define A64_TCR_IRGN1_WBWA (1ull << 24)
#define A64_TCR_ORGN1_WBWA (1ull << 26)
#define A64_TCR_SH1_INNER (3ull << 28)
#define A64_TCR_TG1_4K (2ull << 30)
#define A64_TCR_IPS_SHIFT 32
#define A64_TCR_DS (1ull << 59) /* FEAT_LPA2: 52-bit addresses with 4 KiB granules */

/* ID_AA64MMFR0_EL1: PARange in bits 3:0 (0b0101 48 bits, 0b0110 52 bits);
 * TGran4 in bits 31:28: 0b0000 4 KiB granules, 0b0001 4 KiB granules with
 * 52-bit input and output addresses (FEAT_LPA2), 0b1111 no 4 KiB granule. */
#define A64_MMFR0_PARANGE_MASK 0xfull
#define A64_PARANGE_48 5u
#define A64_PARANGE_52 6u
#define A64_MMFR0_TGRAN4_SHIFT 28
#define A64_TGRAN4_4K 0u
#define A64_TGRAN4_LPA2 1u

/* Physical-address bits of a PARange value, 0 for a value this code does not know. */
static inline unsigned a64_parange_bits(unsigned parange)
{
    static const unsigned char bits[] = { 32, 36, 40, 42, 44, 48, 52 };
    return parange < sizeof(bits) ? bits[parange] : 0;
}

static inline unsigned a64_mmfr0_tgran4(uint64_t mmfr0) { return (unsigned)(mmfr0 >> A64_MMFR0_TGRAN4_SHIFT) & 0xf; }

/* The CPU has FEAT_LPA2 for 4 KiB granules: 52-bit VA and PA, level -1. */
static inline bool a64_mmfr0_has_lpa2(uint64_t mmfr0) { return a64_mmfr0_tgran4(mmfr0) == A64_TGRAN4_LPA2; }

/* The geometry to boot in: aarch64-5level where the CPU has LPA2 and
 * allow_lpa2 (a command-line cap can say no), else aarch64-4level; NULL if
 * the CPU has no 4 KiB granule. The PARange does not choose: a CPU with
 * LPA2 and less than 52 physical bits still walks 52-bit virtual addresses
 * (its TCR_EL1.IPS says how many physical ones). */
static inline const hal_geometry_t *a64_choose_geometry(uint64_t mmfr0, bool allow_lpa2)
{
    unsigned t = a64_mmfr0_tgran4(mmfr0);
    if (t != A64_TGRAN4_4K && t != A64_TGRAN4_LPA2)
        return NULL;
    return hal_geometry_find(t == A64_TGRAN4_LPA2 && allow_lpa2 ? "aarch64-5level" : "aarch64-4level");
}

/* TCR_EL1 for geometry g (one of hal_arch_geometries) on a CPU whose
 * ID_AA64MMFR0_EL1 reads mmfr0 (see the header comment). */
static inline uint64_t a64_tcr_value(const hal_geometry_t *g, uint64_t mmfr0)
{
    bool ds = g->pa_bits > 48;
    uint64_t tsz = 64 - g->va_bits;
    uint64_t ips = mmfr0 & A64_MMFR0_PARANGE_MASK, max_ips = ds ? A64_PARANGE_52 : A64_PARANGE_48;
    if (ips > max_ips)
        ips = max_ips;
    return tsz << A64_TCR_T0SZ_SHIFT | tsz << A64_TCR_T1SZ_SHIFT | A64_TCR_IRGN0_WBWA | A64_TCR_ORGN0_WBWA |
           A64_TCR_SH0_INNER | A64_TCR_TG0_4K | A64_TCR_IRGN1_WBWA | A64_TCR_ORGN1_WBWA | A64_TCR_SH1_INNER |
           A64_TCR_TG1_4K | ips << A64_TCR_IPS_SHIFT | (ds ? A64_TCR_DS : 0);
}

/* TTBRn_EL1's BADDR for a root table: PA[47:12] in place and, for 52-bit
 * output addresses, PA[51:48] in bits 5:2 (the same for 48-bit ones, whose
 * PA[51:48] are 0). The ASID (bits 63:48) and CnP stay 0. */
#define A64_TTBR_ADDR 0x0000fffffffff000ull
#define A64_TTBR_ADDR_HI 0x3cull
static inline uint64_t a64_ttbr_baddr(pfn_t root)
{
    uint64_t pa = (uint64_t)root << PAGE_SHIFT;
    return (pa & A64_TTBR_ADDR) | ((pa >> 46) & A64_TTBR_ADDR_HI);
}
static inline pfn_t a64_ttbr_root(uint64_t ttbr)
{
    return ((ttbr & A64_TTBR_ADDR) | ((ttbr & A64_TTBR_ADDR_HI) << 46)) >> PAGE_SHIFT;
}
