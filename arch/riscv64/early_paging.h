/* arch/riscv64/early_paging.h - the boot-time page tables of riscv64 and the
 * choice of the paging mode. */
#pragma once

#include "kernel/lib/fdt.h"
#include "hal/hal.h"
#include "riscv.h"

/* Kernel virtual address <-> physical address inside the image. */
#define RV_KVA_TO_PA(va) ((uint64_t)(uintptr_t)(va) - RV_KERNEL_OFFSET)

/* Build, for Sv57, Sv48 and Sv39 in turn, tables that map every /memory
 * region of `dt` at RV_DIRECT_MAP_BASE + physical (1 GiB, 2 MiB or 4 KiB
 * leaves as alignment allows), the sifive_test page likewise, and the kernel
 * image at its linked address; try each mode by writing satp and reading it
 * back (an unsupported mode leaves satp unchanged). Then activate the highest
 * supported mode not above `cap` (a geometry name, NULL for no cap) and
 * return its geometry. The boot identity map is gone afterwards. Panics if
 * no mode works, if RAM does not fit the direct map or the table pool runs
 * out. Runs once, on the boot hart, in the higher half. */
const hal_geometry_t *rv_paging_init(const fdt_info_t *dt, const char *cap);

/* Whether the hart accepted this satp mode at boot ("sv39", "sv48", "sv57"). */
bool rv_paging_mode_supported(const char *name);

/* The root (frame number) of the early tables chosen by rv_paging_init, 0
 * before it; they stay valid for the life of the kernel (they live in its
 * .bss). */
pfn_t rv_early_root(void);

/* Map [va, va + size) to [pa, pa + size) in the early tables of the chosen
 * mode with the largest leaves alignment allows, tables from the early pool.
 * Returns 0, or -EEXIST if any page is already mapped (nothing is changed
 * then); panics if the pool cannot hold the tables. The caller invalidates
 * the TLB for a range it remaps. For boot and bring-up code only. */
int rv_early_map(ptr_t va, uint64_t pa, uint64_t size, vm_flags flags);
