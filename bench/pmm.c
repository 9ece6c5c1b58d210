/* bench/pmm.c - the frame allocator under concurrent allocation and free
 * (ours only: Linux's page allocator has no system call of its own). Each
 * thread is a CPU of the host platform (kmm_host_cpu_set) and runs the same
 * loop: take PMM_BURST frames with pmm_alloc, give them back with
 * pmm_free, as a burst of faults and an unmap do. The figure is the
 * wall-clock time from the first thread's start to the last one's end
 * divided by the pairs each thread made (and the threads' CPU time per
 * pair, which does not depend on free cores):
 * ns per alloc+free pair as one thread sees it, flat while the threads do
 * not slow each other down (and while there are cores for them all).
 * Every run checks that the free-frame count comes back exactly. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "hal/host/kmm_host.h"

#define PMM_BURST 16

typedef struct pmm_worker {
    pthread_t thread;
    unsigned cpu;
    size_t bursts;
    pthread_barrier_t *start;
    uint64_t t0, t1; /* the worker's own start and end */
    uint64_t cpu_ns; /* CPU time the worker's loop used */
    int error;       /* a failed allocation */
} pmm_worker_t;

static void *pmm_worker(void *arg)
{
    pmm_worker_t *w = arg;
    pfn_t got[PMM_BURST];
    kmm_host_cpu_set(w->cpu);
    pthread_barrier_wait(w->start);
    w->t0 = now_ns();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (size_t b = 0; b < w->bursts; b++) {
        for (int i = 0; i < PMM_BURST; i++)
            if ((got[i] = pmm_alloc()) == PMM_NO_FRAME) {
                w->error = 1;
                return NULL;
            }
        for (int i = PMM_BURST - 1; i >= 0; i--)
            pmm_free(got[i]);
    }
    w->t1 = now_ns();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    w->cpu_ns = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
    return NULL;
}

/* ns per pair with nthreads threads on CPUs 0 .. nthreads - 1, wall clock
 * per thread (returned) and CPU time (*cpu: all threads' CPU time over all
 * pairs, which a lock's spinning and line transfers raise but a lack of
 * free cores does not); -1 with r->error set on a failure. */
static double pmm_run(size_t nthreads, size_t bursts, double *cpu, side_result_t *r)
{
    pmm_worker_t w[PMM_MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
    size_t free0 = pmm_free_frames();
    for (size_t i = 0; i < nthreads; i++) {
        w[i] = (pmm_worker_t){ .cpu = (unsigned)i, .bursts = bursts, .start = &start };
        if (pthread_create(&w[i].thread, NULL, pmm_worker, &w[i])) {
            snprintf(r->error, sizeof(r->error), "ours: pthread_create");
            exit(1); /* the barrier would never open */
        }
    }
    pthread_barrier_wait(&start);
    int errors = 0;
    uint64_t t0 = UINT64_MAX, t1 = 0; /* first start to last end (this thread may sleep meanwhile) */
    uint64_t cpu_ns = 0;
    for (size_t i = 0; i < nthreads; i++) {
        pthread_join(w[i].thread, NULL);
        errors += w[i].error;
        t0 = w[i].t0 < t0 ? w[i].t0 : t0;
        t1 = w[i].t1 > t1 ? w[i].t1 : t1;
        cpu_ns += w[i].cpu_ns;
    }
    pthread_barrier_destroy(&start);
    if (errors || pmm_free_frames() != free0) {
        snprintf(r->error, sizeof(r->error), "ours: frame allocator with %zu threads: %d failed allocations, %zu free frames (%zu before)",
                 nthreads, errors, pmm_free_frames(), free0);
        return -1;
    }
    *cpu = (double)cpu_ns / (double)(nthreads * bursts * PMM_BURST);
    return (double)(t1 - t0) / (double)(bursts * PMM_BURST);
}

int bench_pmm(const bench_config_t *c, side_result_t *r)
{
    int err = kmm_host_init(64, c->geometry);
    if (err) {
        snprintf(r->error, sizeof(r->error), "ours: kmm_host_init(64 MiB, %s): %d", c->geometry, err);
        return -1;
    }
    kmm_host_set_free_check(false);
    for (size_t k = 0; k < PMM_THREAD_COUNTS; k++) {
        double v[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS];
        for (int rep = 0; rep < c->reps; rep++)
            if ((v[rep] = pmm_run(c->pmm_threads[k], c->pmm_bursts, &cpu[rep], r)) < 0)
                return -1;
        r->pmm_pair_ns[k] = median(v, (size_t)c->reps);
        r->pmm_pair_cpu_ns[k] = median(cpu, (size_t)c->reps);
    }
    kmm_host_fini();
    return 0;
}
