/* arch/aarch64/early_paging.h - the boot-time page tables of aarch64. */
#pragma once

#include "cpu.h"
#include "hal/hal.h"
#include "kernel/lib/fdt.h"

/* Kernel virtual address <-> physical address inside the image. */
#define A64_KVA_TO_PA(va) ((uint64_t)(uintptr_t)(va) - A64_KERNEL_OFFSET)

/* The devices the kernel maps at A64_DEVICE_BASE + physical, in the early
 * tables and in the kernel context (arch_map_kernel_devices). */
typedef struct a64_device {
    const char *name;
    uint64_t phys, size;
} a64_device_t;
extern const a64_device_t a64_devices[];
extern const size_t a64_device_count;

/* Builds the early kernel root (TTBR1_EL1) in geometry g (one of
 * hal_arch_geometries, which the CPU must support: a64_choose_geometry)
 * with the codec of hal_arch.h, after hal_codec_select(g): every /memory
 * region of `dt` at A64_DIRECT_MAP_BASE + physical (1 GiB, 2 MiB or 4 KiB
 * leaves as alignment allows), the devices as Device memory, the image at
 * its linked address (RWX, the stack guard left out); activates it with an
 * empty user root (TTBR0_EL1) and TCR_EL1 = a64_tcr_value(g, ...) through
 * a64_mmu_switch, so entry.S's identity map is gone. Panics if RAM does
 * not fit the direct map or the table pool runs out. Runs once, on the
 * boot CPU, on entry.S's boot tables. */
void a64_paging_init(const fdt_info_t *dt, const hal_geometry_t *g);

/* TTBR0_EL1 of a root (in the chosen geometry's layout) that maps only
 * entry.S's a64_mmu_switch at its physical address, for the instructions
 * after the MMU goes on again; set by a64_paging_init, used by the other
 * CPUs' start (entry.S) the same way. */
extern uint64_t a64_idmap_ttbr;

/* The early kernel root (frame number), 0 before a64_paging_init. */
pfn_t a64_early_root(void);
