/* mm/pmm.h - physical frames: a buddy allocator over a frame array, one
 * atomic reference count per frame, a free-frame counter.
 *
 * Reference counts follow MOS: pmm_alloc() hands out a frame with count 0
 * that the caller owns; every mapping or holder takes a reference
 * (pmm_ref); pmm_unref() frees the frame when the count drops to zero. An
 * allocated frame nobody referenced is given back with pmm_free().
 * Callers outside mm/ drop what they own with pmm_release(), which does the
 * right one of the two (the rules are in mm/paging.h). */
#pragma once

#include "mm/types.h"

#define PMM_NO_FRAME ((pfn_t)-1)
#define PMM_MAX_ORDER 10 /* largest block: 2^10 frames = 4 MiB */

typedef struct mm_region {
    uint64_t base; /* physical address */
    uint64_t size; /* bytes */
    bool usable;   /* false: reserved, punches a hole in usable regions */
} mm_region_t;

/* Brings the allocator up over the usable regions minus the reserved ones
 * (any order, may overlap). The frame array is carved from usable memory.
 * Returns 0, -EINVAL for no usable memory, -ENOMEM if the array does not fit. */
int pmm_init(const mm_region_t *regions, size_t n);

/* One frame, count 0, or PMM_NO_FRAME when memory is exhausted. */
pfn_t pmm_alloc(void);
/* 2^order contiguous, naturally aligned frames, or PMM_NO_FRAME. */
pfn_t pmm_alloc_order(unsigned order);
/* As pmm_alloc, with the frame's bytes cleared. */
pfn_t pmm_alloc_zeroed(void);
/* Give back an allocated frame (block of 2^order) whose count is 0. */
void pmm_free(pfn_t pfn);
void pmm_free_order(pfn_t pfn, unsigned order);

/* Take a reference; panics on a frame that is free or not managed, and on
 * count overflow. Returns the new count. */
uint32_t pmm_ref(pfn_t pfn);
/* Drop a reference; the frame returns to the allocator at zero. Returns the
 * new count. Panics if the count was already zero. */
uint32_t pmm_unref(pfn_t pfn);
uint32_t pmm_refcount(pfn_t pfn);
/* Drops what the caller owns of the allocated frame pfn: its reference
 * (pmm_unref: freed at zero), or, when the count is 0, the frame itself
 * (pmm_free: an allocation nothing referenced). Returns the count left (0:
 * the frame went back). Panics on a frame that is not allocated. The caller
 * must own something of pfn: a frame handed over to a mapping without a
 * reference of its own is not the caller's to drop. */
uint32_t pmm_release(pfn_t pfn);

/* Deferred freeing: frames whose last reference goes while their old
 * translations may still be cached are gathered, and freed together after
 * the TLB invalidation that covers them. */
typedef struct pmm_gather {
    pfn_t head;   /* linked through the frame array; PMM_NO_FRAME when empty */
    size_t count;
} pmm_gather_t;
#define PMM_GATHER_INIT { PMM_NO_FRAME, 0 }
/* As pmm_unref, but a frame reaching zero joins g instead of being freed. */
uint32_t pmm_unref_gather(pfn_t pfn, pmm_gather_t *g);
/* Frees every gathered frame; g is empty afterwards. */
void pmm_gather_release(pmm_gather_t *g);

/* True if pfn is a frame this allocator manages (usable RAM, free or not). */
bool pmm_is_managed(pfn_t pfn);
/* True if the managed frame pfn is currently allocated. */
bool pmm_is_allocated(pfn_t pfn);

typedef struct pmm_stats {
    pfn_t base_pfn, end_pfn; /* span covered by the frame array */
    size_t managed_frames;   /* usable frames, free or allocated */
    size_t free_frames;
    size_t reserved_frames;  /* frames in the span that are not usable */
    size_t array_frames;     /* frames holding the frame array itself */
} pmm_stats_t;
void pmm_get_stats(pmm_stats_t *out);
size_t pmm_free_frames(void);

/* Fault injection for tests: the Nth allocation from now (frames and
 * objects alike) fails, 1 being the next one; 0 turns it off. */
void pmm_fail_after(size_t nth);
/* Consumes one step of the injection countdown; true when this allocation
 * must fail. Every allocator of the generic layer calls it. */
bool pmm_injected_failure(void);
