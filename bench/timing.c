/* bench/timing.c - clocks for the benchmark: CLOCK_MONOTONIC for batches,
 * the serialised TSC (x86_64, calibrated against it) for single calls. */
#include <stdlib.h>
#include <time.h>

#include "bench.h"

static double ns_per_tick = 1.0;
static double overhead_ns;

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ticks(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
#else
    return now_ns();
#endif
}

double ticks_to_ns(uint64_t t) { return (double)t * ns_per_tick; }
double timing_overhead_ns(void) { return overhead_ns; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double mean_of_calls(double *v, size_t n)
{
    double m = median(v, n), sum = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] <= 10 * m + 100) {
            sum += v[i];
            kept++;
        }
    return kept ? sum / (double)kept : m;
}

double median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void timing_init(void)
{
#if defined(__x86_64__)
    /* Three 20 ms windows; the median rate. */
    double rate[3];
    for (int i = 0; i < 3; i++) {
        uint64_t n0 = now_ns(), t0 = ticks(), n1;
        while ((n1 = now_ns()) - n0 < 20000000u)
            ;
        uint64_t t1 = ticks();
        rate[i] = (double)(n1 - n0) / (double)(t1 - t0);
    }
    ns_per_tick = median(rate, 3);
#endif
    double o[1001];
    for (int i = 0; i < 1001; i++) {
        uint64_t t0 = ticks();
        o[i] = ticks_to_ns(ticks() - t0);
    }
    overhead_ns = median(o, 1001);
}
