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

#define PMM_MAX_ORDER 10 /* largest block: 2^10 frames = 4 MiB */
/* Each CPU keeps up to PMM_CACHE_MAX free frames of its own and moves
 * PMM_CACHE_BATCH at a time between them and the shared buddy lists (one
 * lock acquisition per batch). Cached frames count as free everywhere, and
 * every cache is drained before an allocation fails (mm/pmm.c). */
#define PMM_CACHE_MAX 64
#define PMM_CACHE_BATCH 16

/* mm_region_t and PMM_NO_FRAME: mm/kmm.h. */

/* Brings the allocator up over the usable regions minus the reserved ones
 * (any order, may overlap). The frame array is carved from usable memory.
 * Returns 0, -EINVAL for no usable memory or usable memory beyond
 * pmm_set_max_pfn's limit, -ENOMEM if the array does not fit. */
int pmm_init(const mm_region_t *regions, size_t n);
/* The highest frame a page-table entry of the geometry in force can encode
 * (mm_init sets it before pmm_init; until then every frame): pmm_init and
 * pmm_add_region refuse memory beyond it. */
void pmm_set_max_pfn(pfn_t max_pfn);

/* Locking: the allocator takes its own locks (the calling CPU's cache, the
 * buddy lists), after any context lock the caller holds; a cross-CPU call
 * served while a CPU spins must not allocate or free frames (that CPU may
 * hold its cache's lock). */

/* One frame, count 0, or PMM_NO_FRAME when memory is exhausted (every
 * CPU's cache is drained first: a frame cached anywhere is handed out). */
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

/* Deferred freeing. An operation that removes translations must not let a
 * frame go (nor let its count drop, which another holder would read as
 * "last holder, reuse in place") while any CPU may still cache one of those
 * translations. It gathers what it releases and lets it go after the TLB
 * invalidation that covers it (Linux's mmu_gather does the same):
 * - tables and frames whose last reference it dropped itself join a list
 *   linked through the frame array (pmm_unref_gather), which needs no memory;
 * - references to frames others may hold too (a user page) are kept until
 *   pmm_gather_release (pmm_gather_defer_unref), in an inline array and then
 *   in batch pages taken from the allocator (never from fault injection). */
#define PMM_GATHER_INLINE 32
#define PMM_GATHER_MAX_PAGES 256 /* batch pages: 511 references each */
typedef struct pmm_gather {
    pfn_t head;   /* frames at count 0, linked through the frame array; PMM_NO_FRAME when empty */
    size_t count;
    size_t nrefs; /* deferred references: refs[] first, then the batch pages */
    pfn_t refs[PMM_GATHER_INLINE];
    pfn_t batch_head, batch_tail; /* batch pages: word 0 links the next, words 1..511 hold references */
    size_t batch_pages;
} pmm_gather_t;
/* Makes g empty. Only the counters are set: refs[] is read below nrefs
 * alone, so an empty gather costs no clearing of the array (every
 * operation, every copy-on-write fault starts one). */
static inline void pmm_gather_init(pmm_gather_t *g)
{
    g->head = PMM_NO_FRAME;
    g->count = 0;
    g->nrefs = 0;
    g->batch_head = g->batch_tail = PMM_NO_FRAME;
    g->batch_pages = 0;
}
/* As pmm_unref, but a frame reaching zero joins g instead of being freed. */
uint32_t pmm_unref_gather(pfn_t pfn, pmm_gather_t *g);
/* Keeps the caller's reference on pfn in g, to be dropped by
 * pmm_gather_release. False, with nothing kept, when g is full (no memory for
 * another batch page, or PMM_GATHER_MAX_PAGES reached): the caller then
 * invalidates what it gathered so far, releases g and tries again. */
bool pmm_gather_defer_unref(pmm_gather_t *g, pfn_t pfn);
/* Drops every deferred reference and frees every frame that reaches zero,
 * the gathered ones and the batch pages included; g is empty afterwards. */
void pmm_gather_release(pmm_gather_t *g);
/* True if g holds nothing to release. */
static inline bool pmm_gather_empty(const pmm_gather_t *g) { return g->head == PMM_NO_FRAME && g->nrefs == 0; }

/* Frames shared with the embedding kernel's own allocator. mm_init's
 * regions fix the span the frame array covers: RAM the embedder may give
 * kmm later is declared usable there and, for now, reserved (a reserved
 * region over it). Then:
 * pmm_give_frames hands [pfn, +n) to kmm: each frame becomes free and
 * managed. 0, or -EINVAL with nothing given when n is 0 or a frame is
 * outside the span, is managed already, or holds the frame array.
 * pmm_take_frame takes one free frame out of kmm for good (it is no longer
 * managed: the embedder owns it, and a user mapping of it is refused), or
 * PMM_NO_FRAME when none is free. Both take the allocator's lock. */
int pmm_give_frames(pfn_t pfn, size_t n);
pfn_t pmm_take_frame(void);

/* RAM outside the span mm_init declared, added after start-up (hot-added
 * memory, or a block the embedder's own allocator gives up): [base,
 * +size), page-aligned. The region keeps the records of its own frames in
 * its first frames (16 bytes a frame: one frame of records per 256), so
 * adding allocates nothing; the rest becomes free and managed at once.
 * mm_phys_to_virt must reach the whole region from now on. 0, or, with
 * nothing changed: -EINVAL (unaligned, empty, wrapping, too small to hold
 * its records and one frame, a frame beyond pmm_set_max_pfn's limit, or
 * more frames than 32-bit frame indices leave), -EEXIST (overlaps the initial span, reserved holes included, or
 * an added region), -ENOMEM (PMM_MAX_REGIONS added already). A region
 * stays for good; its frames can be taken out one by one (pmm_take_frame)
 * and given back (pmm_give_frames). Takes the allocator's lock. Frames of
 * the initial span keep the fast path; those of added regions cost a
 * search of the region table. */
int pmm_add_region(uint64_t base, uint64_t size);
/* Span i of frames the allocator knows: 0 the initial one (mm_init's),
 * 1.. the added regions in the order they were added; false past the last. */
bool pmm_span(size_t i, pfn_t *base, pfn_t *end);

/* True if pfn is a frame this allocator manages (usable RAM, free or not). */
bool pmm_is_managed(pfn_t pfn);
/* True if the managed frame pfn is currently allocated. */
bool pmm_is_allocated(pfn_t pfn);
/* The physical address of pfn's record in the frame array (the array lives
 * in RAM, behind the direct map: tests that remap the direct map put it in
 * the range they change), or 0 for a pfn outside the array's span. */
uint64_t pmm_frame_record_paddr(pfn_t pfn);

typedef struct pmm_stats {
    pfn_t base_pfn, end_pfn; /* span covered by the frame array (mm_init's; added regions lie outside) */
    size_t managed_frames;   /* usable frames, free or allocated (added regions' included) */
    size_t free_frames;      /* the per-CPU caches' frames included */
    size_t cached_frames;    /* of those, the ones in per-CPU caches */
    size_t reserved_frames;  /* frames in the span that are not usable */
    size_t array_frames;     /* frames holding the frame records (the array, and each added region's) */
    size_t added_regions;    /* regions added by pmm_add_region */
    size_t referenced_frames; /* allocated frames whose reference count is not 0 */
} pmm_stats_t;
void pmm_get_stats(pmm_stats_t *out);
/* Free frames, the ones in the per-CPU caches included: exact whenever no
 * allocation or free runs at the same time. */
size_t pmm_free_frames(void);

/* Fault injection for tests: the Nth allocation from now (frames and
 * objects alike) fails, 1 being the next one; 0 turns it off. */
void pmm_fail_after(size_t nth);
/* Consumes one step of the injection countdown; true when this allocation
 * must fail. Every allocator of the generic layer calls it. */
bool pmm_injected_failure(void);
