/* Stand-in for kernel/boot.h (owned by the x86_64 branch): the boot_info_t
 * fixed in the common brief, for the riscv64 bring-up build only. */
#pragma once

#include "hal/hal.h"
#include "mm/pmm.h"

typedef struct boot_info {
    mm_region_t regions[128];
    size_t nregions;
    uint64_t kernel_phys_start, kernel_phys_end;
    const char *cmdline;
    const hal_geometry_t *geometry;
    ptr_t direct_map_base;
} boot_info_t;

void kmain(boot_info_t *bi);
