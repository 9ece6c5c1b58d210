/* kernel/boot.c - helpers for the arch boot code filling boot_info_t. */
#include "kernel/boot.h"

const hal_geometry_t *kernel_geometry;

int boot_add_region(boot_info_t *bi, uint64_t base, uint64_t size, bool usable)
{
    if (size == 0)
        return 0;
    if (bi->nregions >= BOOT_MAX_REGIONS)
        return -ENOMEM;
    bi->regions[bi->nregions++] = (mm_region_t){ .base = base, .size = size, .usable = usable };
    return 0;
}
