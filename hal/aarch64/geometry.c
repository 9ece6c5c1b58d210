/* hal/aarch64/geometry.c - aarch64 paging geometries, 4 KiB granule:
 * aarch64-4level (48-bit virtual and physical addresses) and, where the CPU
 * has FEAT_LPA2 (a64_probe_geometry), aarch64-5level (52-bit virtual and
 * physical addresses, TCR_EL1.DS = 1). Leaves at level 1 (4 KiB), 2 (2 MiB
 * blocks) and 3 (1 GiB blocks), and with LPA2 at level 4 (Arm's level 0:
 * 512 GiB blocks). The kernel half is translated through TTBR1_EL1 from a
 * root of its own, and a live entry is never replaced by another valid one
 * without break-before-make (Arm ARM D8.16).
 * The boot code sets T0SZ = T1SZ = 64 - va_bits (a64_tcr_value): both roots
 * are indexed by VA[va_bits-1 : root shift] as the generic layer indexes
 * them (hal_level_index): aarch64-4level's root by VA[47:39], 512 entries;
 * aarch64-5level's (Arm's level -1) by VA[51:48], 16 entries. User
 * addresses sit below 2^(va_bits-1) (root entries 0..255, or 0..7) and
 * kernel addresses from the sign-extended 2^(va_bits-1) up (entries
 * 256..511 of TTBR1's root, or 8..15): the halves' other half stays
 * without entries. Invalidations use TLBI's inner-shareable forms, which
 * reach every CPU (hal/aarch64/mmu.c): no shootdowns. */
#include "hal/hal.h"

#define A64_FLAGS (HAL_GEOMETRY_BREAK_BEFORE_MAKE | HAL_GEOMETRY_SEPARATE_KERNEL_ROOT | HAL_GEOMETRY_BROADCAST_INVALIDATION)

const hal_geometry_t hal_arch_geometries[] = {
    { .name = "aarch64-4level", .levels = 4, .va_bits = 48, .pa_bits = 48, .leaf_levels = 0x0E, .flags = A64_FLAGS },
    { .name = "aarch64-5level", .levels = 5, .va_bits = 52, .pa_bits = 52, .leaf_levels = 0x1E, .flags = A64_FLAGS },
};
const size_t hal_arch_geometry_count = ARRAY_SIZE(hal_arch_geometries);

bool a64_lpa2;
