/* The frame allocator's per-CPU caches of free frames (mm/pmm.c): cached
 * frames count as free and are not allocated, a cache is bounded, every
 * cache is drained before an allocation (a frame or a block) fails, and
 * CPUs allocating and freeing at once never hand a frame out twice nor lose
 * one. Each thread is a CPU of the host platform (kmm_host_cpu_set). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "fixture.h"

TestSuite(pmm_cache, .init = fixture_setup);

static size_t cached_frames(void)
{
    pmm_stats_t s;
    pmm_get_stats(&s);
    return s.cached_frames;
}

/* Runs fn(arg) on a thread that is CPU `cpu`, and waits for it. */
typedef struct on_cpu {
    unsigned cpu;
    void (*fn)(void *arg);
    void *arg;
} on_cpu_t;

static void *on_cpu_thread(void *p)
{
    on_cpu_t *o = p;
    kmm_host_cpu_set(o->cpu);
    o->fn(o->arg);
    return NULL;
}

static void run_on_cpu(unsigned cpu, void (*fn)(void *), void *arg)
{
    on_cpu_t o = { cpu, fn, arg };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, on_cpu_thread, &o), 0);
    pthread_join(t, NULL);
}

typedef struct frames {
    pfn_t *pfn;
    size_t n;
} frames_t;

static void alloc_frames(void *p)
{
    frames_t *f = p;
    for (size_t i = 0; i < f->n; i++)
        f->pfn[i] = pmm_alloc();
}

static void free_frames(void *p)
{
    frames_t *f = p;
    for (size_t i = 0; i < f->n; i++)
        pmm_free(f->pfn[i]);
}

Test(pmm_cache, freed_frame_waits_in_the_cpu_cache_counted_free_and_comes_back_first)
{
    size_t before = pmm_free_frames();
    pfn_t p = pmm_alloc();
    cr_assert_neq(p, PMM_NO_FRAME);
    cr_assert_eq(pmm_free_frames(), before - 1);
    size_t cached0 = cached_frames(); /* what a refill left */
    pmm_free(p);
    cr_assert_eq(pmm_free_frames(), before, "a cached frame must count as free");
    pmm_stats_t s;
    pmm_get_stats(&s);
    cr_assert_eq(s.free_frames, before);
    cr_assert_eq(s.cached_frames, cached0 + 1);
    cr_assert(!pmm_is_allocated(p));
    cr_assert(pmm_is_managed(p));
    cr_assert_eq(pmm_refcount(p), 0);
    cr_assert_eq(pmm_alloc(), p, "the CPU's cache hands out the frame it got last");
    cr_assert_eq(pmm_free_frames(), before - 1);
    cr_assert_eq(cached_frames(), cached0);
    pmm_free(p);
}

Test(pmm_cache, freeing_a_cached_frame_again_panics, .signal = SIGABRT)
{
    pfn_t p = pmm_alloc();
    pmm_free(p);
    pmm_free(p);
}

Test(pmm_cache, last_unref_puts_the_frame_in_the_cache)
{
    size_t before = pmm_free_frames();
    pfn_t p = pmm_alloc();
    size_t cached0 = cached_frames();
    pmm_ref(p);
    cr_assert_eq(pmm_unref(p), 0);
    cr_assert_eq(pmm_free_frames(), before);
    cr_assert_eq(cached_frames(), cached0 + 1);
}

Test(pmm_cache, a_cpu_cache_never_holds_more_than_PMM_CACHE_MAX_frames)
{
    enum { N = 1000 };
    size_t before = pmm_free_frames(), cpu0 = cached_frames(); /* CPU 1's cache is empty */
    pfn_t pfn[N];
    frames_t f = { pfn, N };
    run_on_cpu(1, alloc_frames, &f);
    for (size_t i = 0; i < N; i++)
        cr_assert_neq(pfn[i], PMM_NO_FRAME);
    cr_assert_eq(pmm_free_frames(), before - N);
    /* refills of PMM_CACHE_BATCH: what the last one left */
    size_t expect = (PMM_CACHE_BATCH - N % PMM_CACHE_BATCH) % PMM_CACHE_BATCH;
    cr_assert_eq(cached_frames() - cpu0, expect);
    run_on_cpu(1, free_frames, &f);
    cr_assert_eq(pmm_free_frames(), before);
    /* each free into a full cache first spills PMM_CACHE_BATCH frames */
    for (size_t i = 0; i < N; i++) {
        if (expect >= PMM_CACHE_MAX)
            expect -= PMM_CACHE_BATCH;
        expect++;
    }
    size_t cpu1 = cached_frames() - cpu0;
    cr_assert_eq(cpu1, expect, "CPU 1 caches %zu frames, expected %zu", cpu1, expect);
    cr_assert_leq(cpu1, PMM_CACHE_MAX);
}

Test(pmm_cache, allocation_takes_the_frames_other_cpus_cache_before_it_fails)
{
    size_t before = pmm_free_frames();
    pfn_t mine[40];
    frames_t f = { mine, 40 };
    run_on_cpu(1, alloc_frames, &f);
    run_on_cpu(1, free_frames, &f); /* 40 frames now wait in CPU 1's cache */
    cr_assert_geq(cached_frames(), 40);
    pfn_t *got = malloc(before * sizeof(pfn_t));
    size_t n = 0;
    pfn_t p;
    while ((p = pmm_alloc()) != PMM_NO_FRAME)
        got[n++] = p;
    cr_assert_eq(n, before, "%zu frames handed out of %zu free: the others stayed in a cache", n, before);
    cr_assert_eq(pmm_free_frames(), 0);
    cr_assert_eq(cached_frames(), 0);
    for (size_t i = 0; i < n; i++)
        pmm_free(got[i]);
    cr_assert_eq(pmm_free_frames(), before);
    free(got);
}

Test(pmm_cache, block_allocation_drains_the_caches_so_cached_frames_merge)
{
    size_t before = pmm_free_frames();
    pfn_t *got = malloc(before * sizeof(pfn_t));
    size_t n = 0;
    pfn_t p;
    while ((p = pmm_alloc()) != PMM_NO_FRAME)
        got[n++] = p;
    cr_assert_eq(n, before);
    /* An aligned block of 8 frames this test got, every one of them. */
    pmm_stats_t s;
    pmm_get_stats(&s);
    uint8_t *mine = calloc(s.end_pfn - s.base_pfn, 1);
    for (size_t i = 0; i < n; i++)
        mine[got[i] - s.base_pfn] = 1;
    pfn_t q = PMM_NO_FRAME;
    for (size_t i = 0; i < n && q == PMM_NO_FRAME; i++) {
        pfn_t b = got[i] & ~(pfn_t)7;
        bool all = b >= s.base_pfn;
        for (pfn_t k = b; all && k < b + 8; k++)
            all = mine[k - s.base_pfn];
        if (all)
            q = b;
    }
    free(mine);
    cr_assert_neq(q, PMM_NO_FRAME);
    pfn_t block[8];
    for (int k = 0; k < 8; k++)
        block[k] = q + (pfn_t)k;
    frames_t f = { block, 8 };
    run_on_cpu(1, free_frames, &f); /* into CPU 1's cache, one by one */
    cr_assert_eq(pmm_free_frames(), 8);
    cr_assert_eq(cached_frames(), 8);
    cr_assert_eq(pmm_alloc_order(3), q, "the block must come from CPU 1's cache, merged");
    cr_assert_eq(pmm_free_frames(), 0);
    pmm_free_order(q, 3);
    for (size_t i = 0; i < n; i++)
        if (got[i] < q || got[i] >= q + 8)
            pmm_free(got[i]);
    cr_assert_eq(pmm_free_frames(), before);
    free(got);
    cr_assert_neq(pmm_alloc_order(PMM_MAX_ORDER), PMM_NO_FRAME);
}

/* Four CPUs (two threads share CPU 0) allocate and free bursts that cross
 * the caches' bounds, then all but CPU 3 allocate until nothing is left: no
 * frame is handed out twice, every free frame is handed out (CPU 3's cached
 * ones too), and every one comes back. */
enum { STRESS_THREADS = 5, STRESS_ROUNDS = 300, STRESS_BURST = 100 };
static _Atomic uint8_t *owner; /* per frame index from base_pfn: 0 free, else thread + 1 */
static pfn_t stress_base;
static pthread_barrier_t stress_barrier;
static _Atomic size_t stress_errors, stress_total;

typedef struct stress_arg {
    unsigned thread, cpu;
    pfn_t *all;
    size_t nall;
} stress_arg_t;

static bool take(unsigned thread, pfn_t p)
{
    uint8_t expected = 0;
    if (!atomic_compare_exchange_strong(&owner[p - stress_base], &expected, (uint8_t)(thread + 1))) {
        atomic_fetch_add(&stress_errors, 1);
        return false;
    }
    return true;
}

static void give(pfn_t p)
{
    atomic_store(&owner[p - stress_base], 0);
    pmm_free(p);
}

static void *stress_thread(void *p)
{
    stress_arg_t *a = p;
    if (a->cpu)
        kmm_host_cpu_set(a->cpu); /* CPU 0 threads keep the default */
    pfn_t burst[STRESS_BURST];
    unsigned seed = a->thread * 7919u + 1;
    for (int r = 0; r < STRESS_ROUNDS; r++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % STRESS_BURST;
        size_t got = 0;
        for (; got < n; got++) {
            burst[got] = pmm_alloc();
            if (burst[got] == PMM_NO_FRAME || !take(a->thread, burst[got]))
                break;
        }
        while (got)
            give(burst[--got]);
    }
    pthread_barrier_wait(&stress_barrier);
    /* The last thread (CPU 3) leaves what its cache holds to the others. */
    for (pfn_t f; a->thread + 1 < STRESS_THREADS && (f = pmm_alloc()) != PMM_NO_FRAME;) {
        if (!take(a->thread, f))
            break;
        a->all[a->nall++] = f;
    }
    atomic_fetch_add(&stress_total, a->nall);
    pthread_barrier_wait(&stress_barrier); /* every thread has run dry */
    for (size_t i = 0; i < a->nall; i++)
        give(a->all[i]);
    return NULL;
}

Test(pmm_cache, cpus_allocating_and_freeing_at_once_lose_no_frame_and_share_none)
{
    pmm_stats_t s;
    pmm_get_stats(&s);
    size_t before = pmm_free_frames();
    stress_base = s.base_pfn;
    owner = calloc(s.end_pfn - s.base_pfn, 1);
    stress_errors = stress_total = 0;
    pthread_barrier_init(&stress_barrier, NULL, STRESS_THREADS);
    static const unsigned cpu_of_thread[STRESS_THREADS] = { 0, 0, 1, 2, 3 };
    stress_arg_t a[STRESS_THREADS];
    pthread_t t[STRESS_THREADS];
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        a[i] = (stress_arg_t){ .thread = i, .cpu = cpu_of_thread[i], .all = malloc(before * sizeof(pfn_t)) };
        cr_assert_eq(pthread_create(&t[i], NULL, stress_thread, &a[i]), 0);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        pthread_join(t[i], NULL);
        free(a[i].all);
    }
    pthread_barrier_destroy(&stress_barrier);
    free(owner);
    cr_assert_eq(stress_errors, 0, "%zu frames handed out while another thread held them", (size_t)stress_errors);
    cr_assert_eq(stress_total, before, "the threads got %zu frames of %zu free when the allocator ran dry",
                 (size_t)stress_total, before);
    cr_assert_eq(pmm_free_frames(), before);
    pmm_get_stats(&s);
    cr_assert_leq(s.cached_frames, 4 * PMM_CACHE_MAX);
    cr_assert_neq(pmm_alloc_order(PMM_MAX_ORDER), PMM_NO_FRAME);
}
