/* hal/riscv64/geometry.c - riscv64 paging geometries Sv57, Sv48, Sv39.
 * Leaves at level 1 (4 KiB), 2 (2 MiB), 3 (1 GiB) and, in Sv48/Sv57,
 * level 4 (512 GiB). Sv57's 256 TiB level-5 leaves are not used. */
#include "hal/hal.h"

const hal_geometry_t hal_arch_geometries[] = {
    { .name = "riscv64-sv57", .levels = 5, .va_bits = 57, .pa_bits = 56, .leaf_levels = 0x1E },
    { .name = "riscv64-sv48", .levels = 4, .va_bits = 48, .pa_bits = 56, .leaf_levels = 0x1E },
    { .name = "riscv64-sv39", .levels = 3, .va_bits = 39, .pa_bits = 56, .leaf_levels = 0x0E },
};
const size_t hal_arch_geometry_count = ARRAY_SIZE(hal_arch_geometries);
