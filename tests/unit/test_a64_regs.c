/* The aarch64 boot path's register values (hal/aarch64/mmu_regs.h): TCR_EL1
 * for each geometry, the geometry chosen from ID_AA64MMFR0_EL1, TTBR's
 * BADDR of a root above 2^48. Exact values, worked out from the Arm ARM's
 * field positions by hand. */
#include <criterion/criterion.h>

#include "hal/hal.h"
#include "mmu_regs.h"

/* ID_AA64MMFR0_EL1 with TGran4 and PARange set, the rest 0. */
static uint64_t mmfr0(unsigned tgran4, unsigned parange) { return (uint64_t)tgran4 << 28 | parange; }

Test(a64_regs, tcr_of_the_52_bit_geometry_sets_ds_and_starts_the_walk_at_level_minus_1)
{
    const hal_geometry_t *g = hal_geometry_find("aarch64-5level");
    cr_assert_not_null(g);
    uint64_t tcr = a64_tcr_value(g, mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_52));
    /* DS (59) | IPS 0b110 (34:32) | TG1 0b10 (31:30) | SH1 0b11 | ORGN1 01 |
     * IRGN1 01 | T1SZ 12 (21:16) | TG0 00 | SH0 0b11 | ORGN0 01 | IRGN0 01 | T0SZ 12 */
    cr_assert_eq(tcr, 0x08000006b50c350cull, "got %#llx", (unsigned long long)tcr);
    cr_assert_eq(tcr & 0x3f, 12, "T0SZ");
    cr_assert_eq((tcr >> 16) & 0x3f, 12, "T1SZ");
    cr_assert(tcr & (1ull << 59), "DS");
    cr_assert_eq((tcr >> 12) & 3, 3, "SH0 inner shareable: the leaves' shareability with DS");
    cr_assert_eq((tcr >> 28) & 3, 3, "SH1 inner shareable");
    /* a CPU with LPA2 but 48 physical bits: IPS says 48, DS stays */
    cr_assert_eq(a64_tcr_value(g, mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_48)), 0x08000005b50c350cull);
}

Test(a64_regs, tcr_of_the_48_bit_geometry_has_no_ds_and_caps_ips_at_48_bits)
{
    const hal_geometry_t *g = hal_geometry_find("aarch64-4level");
    cr_assert_not_null(g);
    cr_assert_eq(a64_tcr_value(g, mmfr0(A64_TGRAN4_4K, A64_PARANGE_48)), 0x00000005b5103510ull);
    /* a 52-bit PARange without DS: IPS 48 (0b110 needs DS with 4 KiB granules) */
    cr_assert_eq(a64_tcr_value(g, mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_52)), 0x00000005b5103510ull);
    /* a 40-bit PARange (0b0010) is kept as it is */
    cr_assert_eq(a64_tcr_value(g, mmfr0(A64_TGRAN4_4K, 2)) >> 32, 2);
}

Test(a64_regs, probe_picks_the_52_bit_geometry_only_with_lpa2)
{
    cr_assert_str_eq(a64_choose_geometry(mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_52), true)->name, "aarch64-5level");
    cr_assert_str_eq(a64_choose_geometry(mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_48), true)->name, "aarch64-5level",
                     "52-bit VA needs LPA2, not a 52-bit PARange");
    cr_assert_str_eq(a64_choose_geometry(mmfr0(A64_TGRAN4_LPA2, A64_PARANGE_52), false)->name, "aarch64-4level",
                     "capped");
    cr_assert_str_eq(a64_choose_geometry(mmfr0(A64_TGRAN4_4K, A64_PARANGE_52), true)->name, "aarch64-4level");
    cr_assert_null(a64_choose_geometry(mmfr0(0xf, A64_PARANGE_48), true), "no 4 KiB granule");
    cr_assert(a64_mmfr0_has_lpa2(0x0000000010000006ull) && !a64_mmfr0_has_lpa2(0x0000000000000006ull));
    cr_assert_eq(a64_parange_bits(A64_PARANGE_52), 52);
    cr_assert_eq(a64_parange_bits(A64_PARANGE_48), 48);
    cr_assert_eq(a64_parange_bits(0), 32);
    cr_assert_eq(a64_parange_bits(7), 0, "unknown");
}

Test(a64_regs, ttbr_carries_a_root_above_2_48_in_bits_5_2)
{
    pfn_t root = ((pfn_t)0xa << 36) | 0x12345; /* PA 0xa000012345000: bits 51 and 49 set */
    uint64_t ttbr = a64_ttbr_baddr(root);
    cr_assert_eq(ttbr, 0x0000000012345000ull | (0xaull << 2), "got %#llx", (unsigned long long)ttbr);
    cr_assert_eq(a64_ttbr_root(ttbr), root);
    cr_assert_eq(a64_ttbr_baddr(0x40000), 0x40000000ull, "a root below 2^48: BADDR as before");
    cr_assert_eq(a64_ttbr_root(0x40000000ull | (0xffull << 48)), 0x40000, "the ASID is not part of the root");
}
