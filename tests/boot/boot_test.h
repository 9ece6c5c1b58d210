/* tests/boot/boot_test.h - what every boot test includes: the KTEST runner,
 * the paging API, the arch services (arch_cpu_has, probes) and helpers to
 * build and tear down contexts. Arch-neutral: no test names an arch. */
#pragma once

#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/ktest.h"
#include "kernel/lib/string.h"
#include "kernel/printk.h"
#include "kernel/ptwalk.h"
#include "mm/paging.h"

/* A test window in the kernel half for kernel mappings: 1 GiB aligned, 16 GiB
 * below the kernel image, clear of the direct map and the image. */
ptr_t bt_kernel_window(void);

/* A fresh context made active (the fault path resolves in it). Returns NULL
 * and records a failure on error. */
mm_context_t *bt_enter_context(ktest_state_t *t);
/* Makes the kernel context active again and destroys ctx (NULL: nothing). */
void bt_leave_context(mm_context_t *ctx);

/* The byte expected at byte `off` of page `page` in a test with seed. */
static inline uint8_t bt_pattern(uint8_t seed, size_t page, size_t off)
{
    return (uint8_t)(seed + page * 7 + off * 13);
}
/* Fills npages frames from pfn with the pattern, through the direct map. */
void bt_fill_frames(pfn_t pfn, size_t npages, uint8_t seed);
/* Counts the bytes of the pattern that differ at page starts, middles and
 * ends of [va, +npages) read through the MMU (user or kernel probes); a
 * faulting read counts as a difference. */
size_t bt_check_mapped(ptr_t va, size_t npages, uint8_t seed, bool user);

/* Probes through the variant the half needs. 0 or -EFAULT. */
int bt_read(ptr_t va, bool user, uint8_t *out);
int bt_write(ptr_t va, bool user, uint8_t val);

/* Locked wrappers of the seed's *_locked calls, for tests that must not hold
 * the lock while touching memory (the fault path takes it). */
void bt_flag(mm_context_t *ctx, ptr_t va, size_t npages, vm_flags flags);
int bt_unmap_user(mm_context_t *ctx, ptr_t va, size_t npages);
