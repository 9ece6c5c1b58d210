/* tests/unit/fixture.h - shared setup for the generic suites: a fresh
 * generic layer over simulated RAM in the geometry named by $KMM_GEOMETRY. */
#pragma once

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hal/host/kmm_host.h"

#define TEST_RAM_MIB 64

typedef struct baseline {
    size_t free_frames;
    size_t table_pages;
} baseline_t;

static inline baseline_t take_baseline(void)
{
    mm_stats_t s;
    mm_get_stats(&s);
    return (baseline_t){ pmm_free_frames(), s.table_pages };
}

static inline void fixture_setup(void)
{
    int err = kmm_host_init(TEST_RAM_MIB, NULL);
    cr_assert_eq(err, 0, "kmm_host_init failed: %d", err);
}

static inline const hal_geometry_t *G(void) { return mm_geometry; }

/* A user context, created by the test. */
static inline mm_context_t *new_ctx(void)
{
    mm_context_t *c = mm_create_context();
    cr_assert(!IS_ERR(c), "mm_create_context: %ld", PTR_ERR(c));
    return c;
}

/* npages fresh frames (count 0) as a contiguous run. */
static inline pfn_t alloc_run(size_t npages)
{
    unsigned order = 0;
    while (((size_t)1 << order) < npages)
        order++;
    pfn_t p = pmm_alloc_order(order);
    cr_assert_neq(p, PMM_NO_FRAME, "out of frames for %zu pages", npages);
    for (size_t i = npages; i < ((size_t)1 << order); i++)
        pmm_free(p + i);
    return p;
}

#define KBASE() (hal_kernel_start(G()) + ((ptr_t)64 << 30)) /* a kernel-half test area */
#define USER_VA ((ptr_t)0x40000000)

/* A 64-bit word written / read from user mode through the software MMU
 * (faults resolved as the hardware would take them); fails the test on error. */
static inline void put64(mm_context_t *ctx, ptr_t va, uint64_t v)
{
    int err = softmmu_write(ctx, va, &v, sizeof v, true);
    cr_assert_eq(err, 0, "write at %#lx: %d", (unsigned long)va, err);
}

static inline uint64_t get64(mm_context_t *ctx, ptr_t va)
{
    uint64_t v = 0;
    int err = softmmu_read(ctx, va, &v, sizeof v, true);
    cr_assert_eq(err, 0, "read at %#lx: %d", (unsigned long)va, err);
    return v;
}

/* Expect no missed invalidation in the model TLB. */
#define ASSERT_TLB_CLEAN() cr_assert_eq(softmmu_stale_entries(), 0, "stale TLB entries: a change was not invalidated")
