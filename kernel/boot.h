/* kernel/boot.h - what the arch boot code hands the generic kernel. */
#pragma once

#include "hal/hal.h"
#include "mm/pmm.h"

#define BOOT_MAX_REGIONS 128

typedef struct boot_info {
    mm_region_t regions[BOOT_MAX_REGIONS]; size_t nregions; /* usable RAM and reserved holes (pmm.h) */
    uint64_t kernel_phys_start, kernel_phys_end;           /* physical range of the kernel image */
    const char *cmdline;                                   /* kernel command line ("" if none) */
    const hal_geometry_t *geometry;                        /* paging mode in force (chosen by the arch boot) */
    ptr_t direct_map_base;                                 /* virtual address of physical 0 */
    ptr_t stack_guard_start, stack_guard_end;              /* optional: a page range inside the image's data,
                                                              below the kernel stack, left unmapped (0, 0: none) */
} boot_info_t;

/* Adds a region to bi. Returns 0, or -ENOMEM when the table is full
 * (bi unchanged). Empty regions are ignored. */
int boot_add_region(boot_info_t *bi, uint64_t base, uint64_t size, bool usable);

/* The generic kernel's entry, called once by the arch boot code with the
 * early tables active (direct map of low memory, the kernel image). */
_Noreturn void kmain(boot_info_t *bi);

/* Linker symbols, page aligned, on every arch. */
extern char _kernel_start[], _text_start[], _text_end[], _rodata_start[], _rodata_end[], _data_start[], _kernel_end[];

/* The paging geometry in force, set by kmain (from boot_info) before traps
 * are enabled. */
extern const hal_geometry_t *kernel_geometry;

/* Virtual address of physical 0 (mm_phys_to_virt), set by kmain. */
extern ptr_t kernel_direct_map_base;
