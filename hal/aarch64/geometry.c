/* hal/aarch64/geometry.c - aarch64 paging geometry: 4 KiB granule, four
 * levels, 48-bit virtual and physical addresses. Leaves at level 1 (4 KiB),
 * 2 (2 MiB blocks) and 3 (1 GiB blocks). The kernel half is translated
 * through TTBR1_EL1 from a root of its own, and a live entry is never
 * replaced by another valid one without break-before-make (Arm ARM D8.16).
 * The boot code sets T0SZ = T1SZ = 16: both roots are indexed by VA[47:39]
 * as the generic layer indexes them, user addresses below 2^47 and kernel
 * addresses from 0xffff800000000000 (the halves' other 2^47 bytes stay
 * without entries). Invalidations use TLBI's inner-shareable forms, which
 * reach every CPU (hal/aarch64/mmu.c): no shootdowns. */
#include "hal/hal.h"

const hal_geometry_t hal_arch_geometries[] = {
    { .name = "aarch64-4level", .levels = 4, .va_bits = 48, .pa_bits = 48, .leaf_levels = 0x0E,
      .flags = HAL_GEOMETRY_BREAK_BEFORE_MAKE | HAL_GEOMETRY_SEPARATE_KERNEL_ROOT | HAL_GEOMETRY_BROADCAST_INVALIDATION },
};
const size_t hal_arch_geometry_count = ARRAY_SIZE(hal_arch_geometries);
