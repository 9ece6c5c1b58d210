/* arch/aarch64/cache.h - making instructions written through the data side
 * visible to instruction fetch (Arm ARM B2.4.4, "Concurrent modification
 * and execution of instructions"): clean the data cache lines to the point
 * of unification (DC CVAU), DSB ISH, invalidate the instruction cache lines
 * (IC IVAU, which reaches every CPU of the inner-shareable domain), DSB
 * ISH, ISB. CTR_EL0 gives the smallest line of each cache and says when a
 * step is not needed: IDC (no clean to PoU needed: a DSB ISH suffices), DIC
 * (no instruction-cache invalidation needed: the ISB suffices). QEMU keeps
 * fetch coherent with stores, so only real cores can tell a missing step;
 * the line counts are what the boot tests check. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

#define A64_CTR_IMINLINE_MASK 0xfull /* log2 of the smallest I-cache line, in 4-byte words */
#define A64_CTR_DMINLINE_SHIFT 16
#define A64_CTR_IDC (1ull << 28)
#define A64_CTR_DIC (1ull << 29)

static inline size_t a64_dcache_line(uint64_t ctr) { return (size_t)4 << ((ctr >> A64_CTR_DMINLINE_SHIFT) & 0xf); }
static inline size_t a64_icache_line(uint64_t ctr) { return (size_t)4 << (ctr & A64_CTR_IMINLINE_MASK); }

/* What a64_sync_icache did: how many lines it cleaned and invalidated. */
typedef struct a64_icache_sync {
    size_t dc_lines, ic_lines;
} a64_icache_sync_t;

/* Makes the instructions at [start, start + len) (addresses of the active
 * address space, readable at EL1) visible to every CPU's instruction fetch,
 * on a CPU whose CTR_EL0 reads ctr (a64_sysreg_read(ctr_el0); another value
 * only in tests, which then get the line counts of that CPU); len 0 does
 * nothing. arch_sync_icache_range (kernel/arch.h) is this with the real
 * CTR_EL0. */
a64_icache_sync_t a64_sync_icache(uint64_t ctr, ptr_t start, size_t len);

/* Calls of arch_sync_icache_range so far, and the bytes they covered (the
 * boot tests check that loading a program made its code visible). */
extern _Atomic uint64_t a64_icache_syncs, a64_icache_synced_bytes;
