/* mm/pmm.c - physical frames: a binary buddy allocator over one frame
 * array, per-CPU caches of free frames in front of it, an atomic reference
 * count per frame, free-frame counters.
 *
 * The frame array covers [base_pfn, end_pfn), the span of usable memory,
 * and lives in usable memory itself (its frames are reserved). Free blocks
 * of 2^order frames sit on per-order doubly linked lists threaded through
 * the frame array by index. Every allocation is handed out as independent
 * order-0 frames (a block's frames can be freed one by one), and freeing
 * merges buddies again.
 *
 * Single frames come and go through the calling CPU's cache (mm_cpu_id()):
 * a list of at most PMM_CACHE_MAX free frames threaded through the frame
 * array, refilled from the buddy lists PMM_CACHE_BATCH frames at a time
 * and spilled back to them in the same way, so that CPUs allocating and
 * freeing at once take the allocator's lock once per batch instead of once
 * per frame (measured: scripts/bench.sh, README "Benchmark"). A cached frame
 * is free for every purpose but merging: it counts in the free-frame
 * figures, is not allocated (freeing it again panics), and when the buddy
 * lists cannot satisfy a request every cache is drained into them and the
 * request tried again, so an allocation never fails while frames sit in
 * some CPU's cache.
 *
 * Memory added after start-up (pmm_add_region) lies outside that span: each
 * added region keeps its own frame records in its first frames, and frame
 * indices continue past the span (region r's frames are indices [first,
 * first + its frames)), so the lists and caches link frames of every region
 * alike. The initial span stays the fast path: a pfn or index inside it
 * costs one comparison more than a plain array access; only frames of
 * added regions search the (small, append-only) region table. Buddies never
 * merge across the bounds of a span or region.
 *
 * Locks: a cache's own lock (threads of the host may share a CPU id; in a
 * kernel nobody but its CPU takes it, but a drain), then the allocator's
 * lock; never two cache locks at once. */
#include "mm/pmm.h"

#include "mm/lock.h"
#include "mm/platform.h"

enum frame_state {
    FRAME_RESERVED = 0, /* not usable RAM, or the frame array */
    FRAME_FREE,         /* head of a free block of 2^order frames */
    FRAME_FREE_TAIL,    /* inside a free block */
    FRAME_ALLOCATED,
    FRAME_CACHED,       /* free, in a CPU's cache (linked by next) */
};

#define NO_INDEX UINT32_MAX

typedef struct frame {
    _Atomic uint32_t refcount;
    uint32_t next, prev; /* free-list links (frame indices); a cache uses next */
    _Atomic uint8_t state; /* relaxed: a cache changes its frames' state under its own lock only, while the
                              buddy lists' merge reads any frame's (a cached one is never FRAME_FREE) */
    uint8_t order;
} frame_t;

static struct {
    spinlock_t lock;
    frame_t *frames;
    uint64_t frames_paddr; /* where the array lives */
    pfn_t base_pfn, end_pfn;
    uint32_t free_head[PMM_MAX_ORDER + 1];
    size_t free_frames; /* on the buddy lists; the caches hold more (cache_t.count) */
    size_t managed_frames, reserved_frames, array_frames;
    size_t referenced_frames; /* frames whose count is not 0 (atomic: pmm_ref/unref change it without the lock) */
    size_t fail_countdown; /* fault injection: fail when it reaches 1 */
    pfn_t span;            /* end_pfn - base_pfn: indices below it are the initial span's */
    /* Regions added after start-up, append-only: an entry is complete before
     * nregions counts it (release; lookups without the lock acquire). */
    struct added_region {
        pfn_t base, end;       /* the region's frames, its records' included */
        pfn_t first;           /* index of base */
        frame_t *frames;       /* records of [base, end), in the region's first frames */
        size_t array_frames;   /* frames holding them */
    } regions[PMM_MAX_REGIONS];
    _Atomic size_t nregions;
    pfn_t next_index;      /* index the next added region starts at */
    pfn_t max_pfn;         /* the highest frame an entry can encode (pmm_set_max_pfn) */
} pmm = { .max_pfn = PMM_NO_FRAME };

/* A CPU's cache of free frames, on a cache line of its own. */
typedef struct cache {
    spinlock_t lock;
    uint32_t head;          /* frame index; NO_INDEX when empty */
    _Atomic uint32_t count; /* changes under lock (and pmm.lock when frames move to or from the buddy lists) */
} __attribute__((aligned(64))) cache_t;

static cache_t caches[MM_MAX_CPUS];

/* ---- pfn and index to frame record ---- */

static const struct added_region *region_of_pfn(pfn_t pfn)
{
    size_t n = atomic_load_explicit(&pmm.nregions, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (pfn - pmm.regions[i].base < pmm.regions[i].end - pmm.regions[i].base)
            return &pmm.regions[i];
    return NULL;
}

static const struct added_region *region_of_index(pfn_t idx)
{
    size_t n = atomic_load_explicit(&pmm.nregions, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (idx - pmm.regions[i].first < pmm.regions[i].end - pmm.regions[i].base)
            return &pmm.regions[i];
    return NULL;
}

/* The record of pfn, or NULL for a frame of no span or region. */
static inline frame_t *frame_lookup(pfn_t pfn)
{
    if (__builtin_expect(pfn - pmm.base_pfn < pmm.span, 1))
        return &pmm.frames[pfn - pmm.base_pfn];
    const struct added_region *r = region_of_pfn(pfn);
    return r ? &r->frames[pfn - r->base] : NULL;
}

/* The record, index and frame of what the caller knows is a frame of the
 * allocator (from a list, a cache, an allocation). */
static inline frame_t *frame_of(pfn_t pfn) { return frame_lookup(pfn); }

static inline frame_t *frame_at(uint32_t idx)
{
    if (__builtin_expect(idx < pmm.span, 1))
        return &pmm.frames[idx];
    const struct added_region *r = region_of_index(idx);
    return &r->frames[idx - r->first];
}

static inline uint32_t index_of(pfn_t pfn)
{
    if (__builtin_expect(pfn - pmm.base_pfn < pmm.span, 1))
        return (uint32_t)(pfn - pmm.base_pfn);
    const struct added_region *r = region_of_pfn(pfn);
    return (uint32_t)(r->first + (pfn - r->base));
}

static inline pfn_t pfn_at(uint32_t idx)
{
    if (__builtin_expect(idx < pmm.span, 1))
        return pmm.base_pfn + idx;
    const struct added_region *r = region_of_index(idx);
    return r->base + (idx - r->first);
}

/* The bounds [*lo, *hi) of the span or added region holding pfn (a frame
 * of the allocator): buddies merge inside them only. */
static inline void bounds_of(pfn_t pfn, pfn_t *lo, pfn_t *hi)
{
    if (__builtin_expect(pfn - pmm.base_pfn < pmm.span, 1)) {
        *lo = pmm.base_pfn, *hi = pmm.end_pfn;
        return;
    }
    const struct added_region *r = region_of_pfn(pfn);
    *lo = r->base, *hi = r->end;
}

static inline unsigned state_of(frame_t *f) { return atomic_load_explicit(&f->state, memory_order_relaxed); }
static inline void set_state(frame_t *f, unsigned st) { atomic_store_explicit(&f->state, (uint8_t)st, memory_order_relaxed); }

static void list_push(unsigned order, uint32_t idx)
{
    frame_t *f = frame_at(idx);
    set_state(f, FRAME_FREE);
    f->order = (uint8_t)order;
    f->prev = NO_INDEX;
    f->next = pmm.free_head[order];
    if (f->next != NO_INDEX)
        frame_at(f->next)->prev = idx;
    pmm.free_head[order] = idx;
}

static void list_remove(unsigned order, uint32_t idx)
{
    frame_t *f = frame_at(idx);
    if (f->prev != NO_INDEX)
        frame_at(f->prev)->next = f->next;
    else
        pmm.free_head[order] = f->next;
    if (f->next != NO_INDEX)
        frame_at(f->next)->prev = f->prev;
}

__attribute__((weak)) void mm_platform_frame_freed(pfn_t pfn, unsigned order)
{
    (void)pfn;
    (void)order;
}

__attribute__((weak)) void mm_spin_wait(void) {}

__attribute__((weak)) ptr_t mm_kernel_address_of(const void *p) { return (ptr_t)p; }

__attribute__((weak)) mm_irq_state_t mm_irq_save(void) { return 0; }

__attribute__((weak)) void mm_irq_restore(mm_irq_state_t state) { (void)state; }

/* Puts a free block on the buddy lists with the lock held, merging with
 * free buddies. */
static void buddy_insert_locked(pfn_t pfn, unsigned order)
{
    pmm.free_frames += (size_t)1 << order;
    pfn_t lo, hi;
    bounds_of(pfn, &lo, &hi);
    while (order < PMM_MAX_ORDER) {
        pfn_t buddy = pfn ^ ((pfn_t)1 << order);
        if (buddy < lo || buddy + ((pfn_t)1 << order) > hi)
            break;
        frame_t *b = frame_of(buddy);
        if (state_of(b) != FRAME_FREE || b->order != order)
            break;
        list_remove(order, index_of(buddy));
        set_state(b, FRAME_FREE_TAIL);
        pfn = pfn < buddy ? pfn : buddy;
        order++;
    }
    for (pfn_t p = pfn + 1; p < pfn + ((pfn_t)1 << order); p++)
        set_state(frame_of(p), FRAME_FREE_TAIL);
    list_push(order, index_of(pfn));
}

/* Frees a block a caller gave back, with the lock held. */
static void free_block_locked(pfn_t pfn, unsigned order)
{
    mm_platform_frame_freed(pfn, order);
    buddy_insert_locked(pfn, order);
}

/* ---- bring-up ---- */

static bool range_usable(const mm_region_t *r, size_t n, uint64_t a, uint64_t b)
{
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (r[i].usable && r[i].base <= a && b <= r[i].base + r[i].size)
            inside = true;
        if (!r[i].usable && a < r[i].base + r[i].size && r[i].base < b)
            return false;
    }
    return inside;
}

int pmm_init(const mm_region_t *regions, size_t n)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (!regions[i].usable || regions[i].size < PAGE_SIZE)
            continue;
        if (regions[i].base + regions[i].size < regions[i].base)
            return -EINVAL;
        lo = MIN(lo, ALIGN_UP(regions[i].base, PAGE_SIZE));
        hi = MAX(hi, ALIGN_DOWN(regions[i].base + regions[i].size, PAGE_SIZE));
    }
    if (lo >= hi)
        return -EINVAL;
    pfn_t base = lo >> PAGE_SHIFT, end = hi >> PAGE_SHIFT;
    if (end - base >= NO_INDEX || end - 1 > pmm.max_pfn)
        return -EINVAL; /* 32-bit frame indices; frames no entry could map */
    uint64_t array_bytes = ALIGN_UP((end - base) * sizeof(frame_t), PAGE_SIZE);

    /* Place the array at the first usable spot: a usable region's start or
     * the end of a reserved one. */
    uint64_t at = UINT64_MAX;
    for (size_t i = 0; i < n && at == UINT64_MAX; i++) {
        for (size_t j = 0; j <= n && at == UINT64_MAX; j++) {
            uint64_t cand = j == n ? regions[i].base : regions[j].base + regions[j].size;
            cand = ALIGN_UP(cand, PAGE_SIZE);
            if (regions[i].usable && (j == n || !regions[j].usable) && range_usable(regions, n, cand, cand + array_bytes))
                at = cand;
        }
    }
    if (at == UINT64_MAX)
        return -ENOMEM;

    pmm.lock = (spinlock_t)SPINLOCK_INIT;
    pmm.frames = mm_phys_to_virt(at);
    pmm.frames_paddr = at;
    pmm.base_pfn = base;
    pmm.end_pfn = end;
    pmm.span = end - base;
    atomic_store_explicit(&pmm.nregions, 0, memory_order_relaxed);
    pmm.next_index = pmm.span;
    pmm.free_frames = pmm.managed_frames = pmm.reserved_frames = pmm.referenced_frames = 0;
    pmm.array_frames = array_bytes >> PAGE_SHIFT;
    pmm.fail_countdown = 0;
    for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
        pmm.free_head[o] = NO_INDEX;
    for (unsigned c = 0; c < MM_MAX_CPUS; c++) {
        caches[c].lock = (spinlock_t)SPINLOCK_INIT;
        caches[c].head = NO_INDEX;
        atomic_store_explicit(&caches[c].count, 0, memory_order_relaxed);
    }
    for (pfn_t p = base; p < end; p++)
        *frame_of(p) = (frame_t){ .state = FRAME_RESERVED, .next = NO_INDEX, .prev = NO_INDEX };

    /* Every usable page outside reserved regions and the array is free. */
    for (pfn_t p = base; p < end;) {
        uint64_t pa = (uint64_t)p << PAGE_SHIFT;
        bool in_array = pa >= at && pa < at + array_bytes;
        if (in_array || !range_usable(regions, n, pa, pa + PAGE_SIZE)) {
            pmm.reserved_frames += !in_array;
            p++;
            continue;
        }
        /* Largest aligned block starting here that is wholly usable. */
        unsigned order = 0;
        while (order < PMM_MAX_ORDER && !(p & (((pfn_t)1 << (order + 1)) - 1)) && p + ((pfn_t)2 << order) <= end &&
               !(at < pa + (PAGE_SIZE << (order + 1)) && pa < at + array_bytes) &&
               range_usable(regions, n, pa, pa + (PAGE_SIZE << (order + 1))))
            order++;
        pmm.managed_frames += (size_t)1 << order;
        buddy_insert_locked(p, order);
        p += (pfn_t)1 << order;
    }
    return 0;
}

/* ---- allocation ---- */

/* Takes a block of 2^order frames off the buddy lists (lock held), marked
 * allocated with count 0; NO_INDEX if there is none. */
static uint32_t buddy_take_locked(unsigned order)
{
    unsigned o = order;
    while (o <= PMM_MAX_ORDER && pmm.free_head[o] == NO_INDEX)
        o++;
    if (o > PMM_MAX_ORDER)
        return NO_INDEX;
    uint32_t idx = pmm.free_head[o];
    list_remove(o, idx);
    while (o > order) { /* give the upper halves back */
        o--;
        list_push(o, idx + ((uint32_t)1 << o));
    }
    for (uint32_t i = idx; i < idx + ((uint32_t)1 << order); i++) {
        frame_t *f = frame_at(i);
        set_state(f, FRAME_ALLOCATED);
        f->order = 0;
        atomic_store_explicit(&f->refcount, 0, memory_order_relaxed);
    }
    pmm.free_frames -= (size_t)1 << order;
    return idx;
}

static void cache_push(cache_t *c, uint32_t idx)
{
    frame_t *f = frame_at(idx);
    set_state(f, FRAME_CACHED);
    f->next = c->head;
    c->head = idx;
    atomic_store_explicit(&c->count, atomic_load_explicit(&c->count, memory_order_relaxed) + 1, memory_order_relaxed);
}

static uint32_t cache_pop(cache_t *c)
{
    uint32_t idx = c->head;
    c->head = frame_at(idx)->next;
    atomic_store_explicit(&c->count, atomic_load_explicit(&c->count, memory_order_relaxed) - 1, memory_order_relaxed);
    return idx;
}

/* Moves up to n frames from c (its lock held) to the buddy lists. */
static void cache_spill(cache_t *c, uint32_t n)
{
    spinlock_acquire(&pmm.lock);
    while (n-- && c->head != NO_INDEX)
        buddy_insert_locked(pfn_at(cache_pop(c)), 0);
    spinlock_release(&pmm.lock);
}

/* Empties every CPU's cache into the buddy lists (memory runs short). */
static void drain_caches(void)
{
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        cache_t *c = &caches[cpu];
        if (!atomic_load_explicit(&c->count, memory_order_relaxed))
            continue;
        spinlock_acquire(&c->lock);
        cache_spill(c, UINT32_MAX);
        spinlock_release(&c->lock);
    }
}

/* Frames free anywhere: the buddy lists and every cache (pmm.lock held, so
 * no frame is between the two). */
static size_t free_frames_locked(void)
{
    size_t n = pmm.free_frames;
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        n += atomic_load_explicit(&caches[cpu].count, memory_order_relaxed);
    return n;
}

/* One frame from the calling CPU's cache, refilled from the buddy lists when
 * empty; NO_INDEX when neither has one. */
static uint32_t cache_alloc(void)
{
    cache_t *c = &caches[mm_cpu_id()];
    spinlock_acquire(&c->lock);
    if (c->head == NO_INDEX) {
        spinlock_acquire(&pmm.lock);
        for (unsigned i = 0; i < PMM_CACHE_BATCH; i++) {
            uint32_t idx = buddy_take_locked(0);
            if (idx == NO_INDEX)
                break;
            cache_push(c, idx);
        }
        spinlock_release(&pmm.lock);
    }
    uint32_t idx = NO_INDEX;
    if (c->head != NO_INDEX) {
        idx = cache_pop(c);
        frame_t *f = frame_at(idx);
        set_state(f, FRAME_ALLOCATED); /* order is 0 already: a cached frame is a single one */
        atomic_store_explicit(&f->refcount, 0, memory_order_relaxed);
    }
    spinlock_release(&c->lock);
    return idx;
}

static pfn_t alloc_order(unsigned order, bool inject)
{
    if (order > PMM_MAX_ORDER)
        return PMM_NO_FRAME;
    if (inject && pmm_injected_failure())
        return PMM_NO_FRAME;
    uint32_t idx = NO_INDEX;
    if (order == 0)
        idx = cache_alloc();
    else {
        spinlock_acquire(&pmm.lock);
        idx = buddy_take_locked(order);
        spinlock_release(&pmm.lock);
    }
    /* Memory runs short: what the caches hold goes back to the buddy lists
     * (merging), and the request is tried there. A single frame is tried
     * again while any cache still holds one (a CPU freed into its cache
     * after the drain passed it); a block, once. */
    while (idx == NO_INDEX) {
        drain_caches();
        spinlock_acquire(&pmm.lock);
        idx = buddy_take_locked(order);
        size_t left = free_frames_locked();
        spinlock_release(&pmm.lock);
        if (idx == NO_INDEX && (order > 0 || left == 0))
            return PMM_NO_FRAME;
    }
    return pfn_at(idx);
}

pfn_t pmm_alloc_order(unsigned order) { return alloc_order(order, true); }

pfn_t pmm_alloc(void) { return pmm_alloc_order(0); }

pfn_t pmm_alloc_zeroed(void)
{
    pfn_t pfn = pmm_alloc_order(0);
    if (pfn != PMM_NO_FRAME)
        __builtin_memset(pfn_va(pfn), 0, PAGE_SIZE);
    return pfn;
}

/* Gives back frames of count 0 into the calling CPU's cache: pfn alone
 * (list false) or the list linked through the frame array from pfn (a
 * gather's). A single frame meeting a full cache first spills
 * PMM_CACHE_BATCH of it to the buddy lists; a list meeting it puts its rest
 * there, under one acquisition of the lock. */
static void free_frames(pfn_t pfn, bool list)
{
    cache_t *c = &caches[mm_cpu_id()];
    spinlock_acquire(&c->lock);
    while (pfn != PMM_NO_FRAME) {
        uint32_t next = list ? frame_of(pfn)->next : NO_INDEX;
        if (atomic_load_explicit(&c->count, memory_order_relaxed) >= PMM_CACHE_MAX) {
            if (list)
                break;
            cache_spill(c, PMM_CACHE_BATCH);
        }
        mm_platform_frame_freed(pfn, 0);
        cache_push(c, index_of(pfn));
        pfn = next == NO_INDEX ? PMM_NO_FRAME : pfn_at(next);
    }
    if (pfn != PMM_NO_FRAME) {
        spinlock_acquire(&pmm.lock);
        while (pfn != PMM_NO_FRAME) {
            uint32_t next = frame_of(pfn)->next; /* the buddy lists reuse it */
            free_block_locked(pfn, 0);
            pfn = next == NO_INDEX ? PMM_NO_FRAME : pfn_at(next);
        }
        spinlock_release(&pmm.lock);
    }
    spinlock_release(&c->lock);
}

static void check_allocated(const char *func, pfn_t pfn)
{
    frame_t *f = frame_lookup(pfn);
    if (__builtin_expect(!f || state_of(f) != FRAME_ALLOCATED, 0))
        mm_panic_at(func, "frame %#llx is not an allocated frame (span %#llx-%#llx, %zu added regions, state %d)",
                    (unsigned long long)pfn, (unsigned long long)pmm.base_pfn, (unsigned long long)pmm.end_pfn,
                    atomic_load(&pmm.nregions), f ? (int)state_of(f) : -1);
}

void pmm_free_order(pfn_t pfn, unsigned order)
{
    for (pfn_t p = pfn; p < pfn + ((pfn_t)1 << order); p++) {
        check_allocated(__func__, p);
        uint32_t rc = atomic_load(&frame_of(p)->refcount);
        MM_ASSERT(rc == 0, "frame %#llx still has %u references", (unsigned long long)p, rc);
    }
    if (order == 0)
        return free_frames(pfn, false);
    spinlock_acquire(&pmm.lock); /* a block goes back whole, to merge */
    for (pfn_t p = pfn; p < pfn + ((pfn_t)1 << order); p++)
        free_block_locked(p, 0);
    spinlock_release(&pmm.lock);
}

void pmm_free(pfn_t pfn) { pmm_free_order(pfn, 0); }

/* ---- reference counts ---- */

uint32_t pmm_ref(pfn_t pfn)
{
    check_allocated(__func__, pfn);
    uint32_t old = atomic_fetch_add_explicit(&frame_of(pfn)->refcount, 1, memory_order_relaxed);
    MM_ASSERT(old != UINT32_MAX, "refcount overflow on frame %#llx", (unsigned long long)pfn);
    if (old == 0)
        __atomic_fetch_add(&pmm.referenced_frames, 1, __ATOMIC_RELAXED);
    return old + 1;
}

uint32_t pmm_unref(pfn_t pfn)
{
    check_allocated(__func__, pfn);
    uint32_t old = atomic_fetch_sub_explicit(&frame_of(pfn)->refcount, 1, memory_order_acq_rel);
    MM_ASSERT(old != 0, "frame %#llx has no reference to drop", (unsigned long long)pfn);
    if (old == 1) {
        __atomic_fetch_sub(&pmm.referenced_frames, 1, __ATOMIC_RELAXED);
        free_frames(pfn, false);
    }
    return old - 1;
}

uint32_t pmm_release(pfn_t pfn)
{
    check_allocated(__func__, pfn);
    /* The caller owns a count-0 frame alone (nobody else can take a
     * reference to it meanwhile), and a reference it holds keeps the count
     * above 0 until it drops it: the load decides without a race. */
    if (atomic_load_explicit(&frame_of(pfn)->refcount, memory_order_acquire) == 0) {
        pmm_free(pfn);
        return 0;
    }
    return pmm_unref(pfn);
}

uint32_t pmm_unref_gather(pfn_t pfn, pmm_gather_t *g)
{
    check_allocated(__func__, pfn);
    uint32_t old = atomic_fetch_sub_explicit(&frame_of(pfn)->refcount, 1, memory_order_acq_rel);
    MM_ASSERT(old != 0, "frame %#llx has no reference to drop", (unsigned long long)pfn);
    if (old == 1) {
        __atomic_fetch_sub(&pmm.referenced_frames, 1, __ATOMIC_RELAXED);
        frame_of(pfn)->next = g->head == PMM_NO_FRAME ? NO_INDEX : index_of(g->head);
        g->head = pfn;
        g->count++;
    }
    return old - 1;
}

#define BATCH_SLOTS (PAGE_SIZE / sizeof(pfn_t) - 1)

bool pmm_gather_defer_unref(pmm_gather_t *g, pfn_t pfn)
{
    check_allocated(__func__, pfn);
    if (g->nrefs < PMM_GATHER_INLINE) {
        g->refs[g->nrefs++] = pfn;
        return true;
    }
    size_t slot = (g->nrefs - PMM_GATHER_INLINE) % BATCH_SLOTS;
    if (slot == 0) {
        if (g->batch_pages == PMM_GATHER_MAX_PAGES)
            return false;
        pfn_t page = alloc_order(0, false);
        if (page == PMM_NO_FRAME)
            return false;
        ((pfn_t *)pfn_va(page))[0] = PMM_NO_FRAME;
        if (g->batch_tail == PMM_NO_FRAME)
            g->batch_head = page;
        else
            ((pfn_t *)pfn_va(g->batch_tail))[0] = page;
        g->batch_tail = page;
        g->batch_pages++;
    }
    ((pfn_t *)pfn_va(g->batch_tail))[1 + slot] = pfn;
    g->nrefs++;
    return true;
}

void pmm_gather_release(pmm_gather_t *g)
{
    size_t n = g->nrefs < PMM_GATHER_INLINE ? g->nrefs : PMM_GATHER_INLINE;
    for (size_t i = 0; i < n; i++)
        pmm_unref_gather(g->refs[i], g);
    size_t left = g->nrefs - n;
    for (pfn_t page = g->batch_head; page != PMM_NO_FRAME;) {
        const pfn_t *b = pfn_va(page);
        size_t k = left < BATCH_SLOTS ? left : BATCH_SLOTS;
        for (size_t i = 0; i < k; i++)
            pmm_unref_gather(b[1 + i], g);
        left -= k;
        pfn_t next = b[0];
        frame_of(page)->next = g->head == PMM_NO_FRAME ? NO_INDEX : index_of(g->head);
        g->head = page; /* count 0 already: the batch page goes with the rest */
        page = next;
    }
    if (g->head != PMM_NO_FRAME)
        free_frames(g->head, true);
    pmm_gather_init(g);
}

uint32_t pmm_refcount(pfn_t pfn)
{
    frame_t *f = frame_lookup(pfn);
    if (!f)
        return 0;
    /* acquire: a holder that reads 1 and then writes the frame (copy-on-write
     * reuse) must see the other holders' accesses finished; they drop their
     * references with release (pmm_unref is acq_rel). */
    return atomic_load_explicit(&f->refcount, memory_order_acquire);
}

bool pmm_is_managed(pfn_t pfn)
{
    frame_t *f = frame_lookup(pfn);
    return f && state_of(f) != FRAME_RESERVED;
}

bool pmm_is_allocated(pfn_t pfn)
{
    frame_t *f = frame_lookup(pfn);
    return f && state_of(f) == FRAME_ALLOCATED;
}

uint64_t pmm_frame_record_paddr(pfn_t pfn)
{
    if (pfn - pmm.base_pfn < pmm.span)
        return pmm.frames_paddr + (pfn - pmm.base_pfn) * sizeof(frame_t);
    const struct added_region *r = region_of_pfn(pfn);
    return r ? ((uint64_t)r->base << PAGE_SHIFT) + (pfn - r->base) * sizeof(frame_t) : 0;
}

/* ---- frames shared with the embedder's allocator ---- */

int pmm_give_frames(pfn_t pfn, size_t n)
{
    /* [pfn, +n) lies in the initial span or in one added region, clear of
     * the frame records there. */
    pfn_t end, array, array_frames;
    if (pfn - pmm.base_pfn < pmm.span) {
        end = pmm.end_pfn, array = pmm.frames_paddr >> PAGE_SHIFT, array_frames = pmm.array_frames;
    } else {
        const struct added_region *r = region_of_pfn(pfn);
        if (!r)
            return -EINVAL;
        end = r->end, array = r->base, array_frames = r->array_frames;
    }
    if (n == 0 || n > end - pfn)
        return -EINVAL;
    if (pfn < array + array_frames && array < pfn + n)
        return -EINVAL;
    spinlock_acquire(&pmm.lock);
    for (pfn_t p = pfn; p < pfn + n; p++) {
        if (state_of(frame_of(p)) != FRAME_RESERVED) {
            spinlock_release(&pmm.lock);
            return -EINVAL;
        }
    }
    for (pfn_t p = pfn; p < pfn + n; p++) {
        pmm.reserved_frames--;
        pmm.managed_frames++;
        free_block_locked(p, 0);
    }
    spinlock_release(&pmm.lock);
    return 0;
}

pfn_t pmm_take_frame(void)
{
    pfn_t p = pmm_alloc();
    if (p == PMM_NO_FRAME)
        return p;
    spinlock_acquire(&pmm.lock);
    set_state(frame_of(p), FRAME_RESERVED);
    pmm.managed_frames--;
    pmm.reserved_frames++;
    spinlock_release(&pmm.lock);
    return p;
}

/* ---- memory added after start-up ---- */

void pmm_set_max_pfn(pfn_t max_pfn) { pmm.max_pfn = max_pfn; }

int pmm_add_region(uint64_t base, uint64_t size)
{
    if ((base | size) & PAGE_MASK || size == 0 || base + size < base)
        return -EINVAL;
    pfn_t lo = base >> PAGE_SHIFT, hi = (base + size) >> PAGE_SHIFT, n = hi - lo;
    size_t array_frames = ALIGN_UP(n * sizeof(frame_t), PAGE_SIZE) >> PAGE_SHIFT;
    if (n <= array_frames)
        return -EINVAL; /* no room for a frame beside its records */
    if (hi - 1 > pmm.max_pfn)
        return -EINVAL; /* frames no entry could map */
    spinlock_acquire(&pmm.lock);
    int err = 0;
    size_t nr = atomic_load_explicit(&pmm.nregions, memory_order_relaxed);
    if (lo < pmm.end_pfn && pmm.base_pfn < hi)
        err = -EEXIST;
    for (size_t i = 0; i < nr && !err; i++)
        if (lo < pmm.regions[i].end && pmm.regions[i].base < hi)
            err = -EEXIST;
    if (!err && nr == PMM_MAX_REGIONS)
        err = -ENOMEM;
    if (!err && n >= NO_INDEX - pmm.next_index)
        err = -EINVAL; /* frame indices are 32-bit */
    if (err) {
        spinlock_release(&pmm.lock);
        return err;
    }
    struct added_region *r = &pmm.regions[nr];
    *r = (struct added_region){
        .base = lo, .end = hi, .first = pmm.next_index, .frames = mm_phys_to_virt(base), .array_frames = array_frames
    };
    for (pfn_t i = 0; i < n; i++)
        r->frames[i] = (frame_t){ .state = FRAME_RESERVED, .next = NO_INDEX, .prev = NO_INDEX };
    pmm.next_index += n;
    atomic_store_explicit(&pmm.nregions, nr + 1, memory_order_release);
    /* Every frame past the records is free, in the largest aligned blocks
     * that fit in the region. */
    for (pfn_t p = lo + array_frames; p < hi;) {
        unsigned order = 0;
        while (order < PMM_MAX_ORDER && !(p & (((pfn_t)1 << (order + 1)) - 1)) && p + ((pfn_t)2 << order) <= hi)
            order++;
        pmm.managed_frames += (size_t)1 << order;
        buddy_insert_locked(p, order);
        p += (pfn_t)1 << order;
    }
    spinlock_release(&pmm.lock);
    return 0;
}

bool pmm_span(size_t i, pfn_t *base, pfn_t *end)
{
    if (i == 0) {
        *base = pmm.base_pfn, *end = pmm.end_pfn;
        return true;
    }
    if (i > atomic_load_explicit(&pmm.nregions, memory_order_acquire))
        return false;
    *base = pmm.regions[i - 1].base, *end = pmm.regions[i - 1].end;
    return true;
}

/* ---- statistics and fault injection ---- */

void pmm_get_stats(pmm_stats_t *out)
{
    spinlock_acquire(&pmm.lock);
    size_t nr = atomic_load_explicit(&pmm.nregions, memory_order_relaxed), region_array_frames = 0;
    for (size_t i = 0; i < nr; i++)
        region_array_frames += pmm.regions[i].array_frames;
    *out = (pmm_stats_t){
        .base_pfn = pmm.base_pfn,
        .end_pfn = pmm.end_pfn,
        .managed_frames = pmm.managed_frames,
        .free_frames = free_frames_locked(),
        .cached_frames = free_frames_locked() - pmm.free_frames,
        .reserved_frames = pmm.reserved_frames,
        .array_frames = pmm.array_frames + region_array_frames,
        .added_regions = nr,
        .referenced_frames = __atomic_load_n(&pmm.referenced_frames, __ATOMIC_RELAXED),
    };
    spinlock_release(&pmm.lock);
}

size_t pmm_free_frames(void)
{
    spinlock_acquire(&pmm.lock); /* frames move between the caches and the buddy lists under it */
    size_t n = free_frames_locked();
    spinlock_release(&pmm.lock);
    return n;
}

bool pmm_injected_failure(void)
{
    size_t n = __atomic_load_n(&pmm.fail_countdown, __ATOMIC_RELAXED);
    while (n) {
        if (__atomic_compare_exchange_n(&pmm.fail_countdown, &n, n - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return n == 1;
    }
    return false;
}

void pmm_fail_after(size_t nth)
{
    __atomic_store_n(&pmm.fail_countdown, nth, __ATOMIC_RELAXED);
}
