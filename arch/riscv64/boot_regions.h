/* arch/riscv64/boot_regions.h - memory regions for boot_info_t from the
 * device tree (pure: also compiled on the host). */
#pragma once

#include "kernel/lib/fdt.h"
#include "kernel/boot.h"

/* Appends to bi: every /memory region as usable; every reserved region of
 * the tree; OpenSBI's 0x80000000-0x8007ffff unless the tree already reserves
 * 0x80000000 (then *firmware_default = false, else true); the device tree's
 * own pages at dtb_pa; the kernel image [kernel_phys_start, kernel_phys_end)
 * (set those first). Returns 0, or -ENOMEM when bi is full, with bi as it
 * was on entry. */
int rv_boot_regions(boot_info_t *bi, const fdt_info_t *dt, uint64_t dtb_pa, bool *firmware_default);
