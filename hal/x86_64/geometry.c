/* hal/x86_64/geometry.c - x86_64 paging geometries: 4-level (48-bit) and
 * 5-level (LA57, 57-bit). Leaves at level 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
#include "hal/hal.h"

const hal_geometry_t hal_arch_geometries[] = {
    { .name = "x86_64-5level", .levels = 5, .va_bits = 57, .pa_bits = 52, .leaf_levels = 0xE },
    { .name = "x86_64-4level", .levels = 4, .va_bits = 48, .pa_bits = 52, .leaf_levels = 0xE },
};
const size_t hal_arch_geometry_count = ARRAY_SIZE(hal_arch_geometries);
