/* bench/bench.h - the host benchmark: the generic layer (ours, over the host
 * platform) and the host Linux kernel (through its system calls) doing the
 * same work, measured in the same run. See scripts/bench.sh. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_SIZES 2  /* region sizes; per-page costs are the slope between them */
#define BENCH_COUNTS 3 /* vmap counts for the free-range search and the lookup */
#define BENCH_MAX_REPS 64
#define PMM_THREAD_COUNTS 3 /* frame allocator: threads (CPUs) allocating and freeing at once */
#define PMM_MAX_THREADS 4

/* Per-page operations over a region. */
enum { OP_MAP, OP_UNMAP, OP_PROTECT, OP_FORK, OP_PAGE_COUNT };
/* Per-call operations with n vmaps present. */
enum { OP_GETFREE, OP_LOOKUP, OP_CALL_COUNT };

typedef struct bench_config {
    size_t size_mib[BENCH_SIZES]; /* region sizes */
    size_t counts[BENCH_COUNTS];  /* vmaps present */
    int reps;                     /* repetitions; medians are reported */
    size_t calls;                 /* per-call operations timed per repetition */
    size_t ram_mib;               /* simulated RAM for ours */
    const char *geometry;         /* ours: the paging geometry */
    size_t pmm_threads[PMM_THREAD_COUNTS]; /* frame allocator: thread counts (1, 2, 4) */
    size_t pmm_bursts;            /* frame allocator: bursts of 16 alloc+free pairs per thread and run */
} bench_config_t;

typedef struct side_result {
    /* median ns of one whole operation over the region, per size; protect
     * is one change (mean of RW->RO and RO->RW) */
    double page_op_ns[OP_PAGE_COUNT][BENCH_SIZES];
    double call_ns[OP_CALL_COUNT][BENCH_COUNTS]; /* median ns per call */
    size_t counts_used[BENCH_COUNTS];            /* vmaps really present (Linux: vm.max_map_count) */
    int tree_height[BENCH_COUNTS];               /* ours: height of the vmap tree */
    size_t search_visits[BENCH_COUNTS];          /* ours: tree nodes one free-range search visits */
    size_t tree_nodes[BENCH_COUNTS];             /* ours: nodes of the vmap tree */
    double vmap_bytes[BENCH_COUNTS];             /* ours: memory per vmap: its slab slot and its share of the tree */
    size_t vmap_slot_bytes;                      /* ours: the slab slot of one vmap_t */
    double faults_per_page;                      /* Linux: minor faults per populated page */
    double null_syscall_ns;                      /* Linux: getppid() */
    double pmm_pair_ns[PMM_THREAD_COUNTS];       /* ours: ns per pmm_alloc+pmm_free pair, per thread */
    double pmm_pair_cpu_ns[PMM_THREAD_COUNTS];   /* ours: CPU ns per pair, all threads together */
    /* every repetition's value before the medians above (the same units),
     * for min / max and the spread */
    double page_samples[OP_PAGE_COUNT][BENCH_SIZES][BENCH_MAX_REPS];
    double call_samples[OP_CALL_COUNT][BENCH_COUNTS][BENCH_MAX_REPS];
    char error[160];                             /* non-empty: the side failed, figures invalid */
} side_result_t;

/* ---- timing (bench/timing.c) ---- */
/* Calibrates the cycle counter against CLOCK_MONOTONIC; call once. */
void timing_init(void);
/* Nanoseconds on a monotonic clock (batch timing). */
uint64_t now_ns(void);
/* Cheap, serialised timestamps for timing one call: ticks_to_ns(t1 - t0)
 * minus timing_overhead_ns() is the call's cost. */
uint64_t ticks(void);
double ticks_to_ns(uint64_t t);
double timing_overhead_ns(void);
/* Median of n values (reorders v). */
double median(double *v, size_t n);
/* Mean of n single-call timings, leaving out interrupted ones (above ten
 * times the median): the counter ticks in steps of ~10 ns here, so a
 * median of single calls would be quantised, a mean is not. Reorders v. */
double mean_of_calls(double *v, size_t n);

/* ---- the two sides ---- */
/* Ours: fills r. Returns 0, or -1 with r->error set. */
int bench_ours(const bench_config_t *c, side_result_t *r);
/* Linux: runs in its own process (forked before any simulated RAM exists, THP
 * off); fills r. Returns 0, or -1 with r->error set. */
int bench_linux(const bench_config_t *c, side_result_t *r);
/* Ours only: the frame allocator with c->pmm_threads[k] threads as CPUs
 * (bench/pmm.c); fills r->pmm_pair_ns. Returns 0, or -1 with r->error set. */
int bench_pmm(const bench_config_t *c, side_result_t *r);

/* Pages in a region of mib MiB. */
static inline size_t mib_pages(size_t mib) { return mib << 8; }
