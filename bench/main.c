/* bench/main.c - kmm-bench: runs the Linux side (in a process of its own)
 * and then ours, and prints a table (ours, Linux, ratio ours/Linux per
 * metric) followed by machine-readable lines <metric>.ours=, .linux=,
 * .ratio= (ns; medians, the ratio median/median), <metric>.ours.min=,
 * .ours.max=, .linux.min=, .linux.max= (the range over the repetitions) and
 * <metric>.reps=, <metric>.steady= (yes: both sides' spread within 10%).
 * Per-page metrics are slopes between the two region sizes, so fixed costs
 * (system-call entry, process creation) drop out; their per-repetition
 * values pair repetition i of one size with repetition i of the other.
 *
 * Repetitions adapt: from --reps N (9), both sides are run again with twice
 * the repetitions (at most BENCH_MAX_REPS) while some metric's spread (the
 * medians of the earlier and the later half of its repetitions apart by
 * more than 10% of its median) is above 10%. --smoke runs once.
 *
 *   kmm-bench [--smoke] [--reps N] [--sizes A,B] [--geometry NAME]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *page_op_name[OP_PAGE_COUNT] = { "map", "unmap", "protect", "fork" };
static const char *page_op_what[OP_PAGE_COUNT] = {
    "map with fresh zeroed frames (mmap MAP_POPULATE)",
    "unmap, frames given back (munmap)",
    "flag change, mean of RW->RO and back (mprotect)",
    "clone of a resident private vmap, COW (fork)",
};
static const char *call_op_name[OP_CALL_COUNT] = { "getfree", "lookup" };

static void usage(void)
{
    fprintf(stderr, "usage: kmm-bench [--smoke] [--reps N] [--sizes A,B (MiB)] [--geometry NAME]\n");
    exit(2);
}

/* Runs the Linux side in a child process; its result comes back through a pipe. */
static int run_linux_side(const bench_config_t *c, side_result_t *r)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        side_result_t mine;
        memset(&mine, 0, sizeof(mine));
        bench_linux(c, &mine);
        ssize_t w = write(fd[1], &mine, sizeof(mine));
        _exit(w == (ssize_t)sizeof(mine) ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(fd[0], (char *)r + got, sizeof(*r) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof(*r)) {
        snprintf(r->error, sizeof(r->error), "linux: the measuring process died (status %#x)", status);
        return -1;
    }
    return r->error[0] ? -1 : 0;
}

#define MAX_MAP_COUNT "/proc/sys/vm/max_map_count"

/* vm.max_map_count, or -1 if it cannot be read. */
static long read_max_map_count(void)
{
    long v = -1;
    FILE *f = fopen(MAX_MAP_COUNT, "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* 0 if vm.max_map_count is now v. */
static int write_max_map_count(long v)
{
    FILE *f = fopen(MAX_MAP_COUNT, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok && read_max_map_count() == v ? 0 : -1;
}

/* Per-page cost: slope of the whole-operation medians between the sizes. */
static double slope(const bench_config_t *c, const double ns[BENCH_SIZES])
{
    double dp = (double)(mib_pages(c->size_mib[1]) - mib_pages(c->size_mib[0]));
    return (ns[1] - ns[0]) / dp;
}

#define STEADY_SPREAD 0.10 /* a median is steady when its halves agree within 10% of it */

/* One side's figure for one metric: the median (as computed by the side),
 * the range over the repetitions and the median's spread. */
typedef struct range {
    double med, min, max;
    double spread; /* |median of the first half - median of the second half| / |median| */
} range_t;

/* The range of n per-repetition values v, in the order they were measured
 * (reordered here), around the side's median med; the range always holds
 * med. The spread compares the medians of the earlier and the later half of
 * the repetitions: it shrinks as repetitions are added, and a drift during
 * the run (another developer's build starting) shows in it. */
static range_t make_range(double med, double *v, size_t n)
{
    range_t r = { med, med, med, 0 };
    if (n == 0)
        return r;
    double a = median(v, n / 2), b = median(v + n / 2, n - n / 2), d = a > b ? a - b : b - a;
    r.spread = med != 0 ? d / (med < 0 ? -med : med) : 0;
    median(v, n); /* sorts */
    r.min = v[0] < med ? v[0] : med;
    r.max = v[n - 1] > med ? v[n - 1] : med;
    return r;
}

/* Per-page metric op of side r: the slope of the medians, and per-repetition slopes. */
static range_t page_range(const bench_config_t *c, const side_result_t *r, int op)
{
    double dp = (double)(mib_pages(c->size_mib[1]) - mib_pages(c->size_mib[0]));
    double v[BENCH_MAX_REPS];
    for (int i = 0; i < c->reps; i++)
        v[i] = (r->page_samples[op][1][i] - r->page_samples[op][0][i]) / dp;
    return make_range(slope(c, r->page_op_ns[op]), v, (size_t)c->reps);
}

/* Per-call metric op at count k of side r. */
static range_t call_range(const bench_config_t *c, const side_result_t *r, int op, int k)
{
    double v[BENCH_MAX_REPS];
    memcpy(v, r->call_samples[op][k], (size_t)c->reps * sizeof(double));
    return make_range(r->call_ns[op][k], v, (size_t)c->reps);
}

static bool steady(range_t o, range_t l) { return o.spread <= STEADY_SPREAD && l.spread <= STEADY_SPREAD; }

static void row(const char *metric, const char *unit, range_t o, range_t l)
{
    printf("%-16s %-8s %9.1f %9.1f %9.1f  %9.1f %9.1f %9.1f %7.2f %5.0f%% %5.0f%%%s\n", metric, unit, o.min, o.med,
           o.max, l.min, l.med, l.max, o.med / l.med, 100 * o.spread, 100 * l.spread, steady(o, l) ? "" : "  *");
}

static void lines(const char *metric, int reps, range_t o, range_t l)
{
    printf("%s.ours=%.1f\n%s.linux=%.1f\n%s.ratio=%.3f\n", metric, o.med, metric, l.med, metric, o.med / l.med);
    printf("%s.ours.min=%.1f\n%s.ours.max=%.1f\n%s.linux.min=%.1f\n%s.linux.max=%.1f\n", metric, o.min, metric, o.max,
           metric, l.min, metric, l.max);
    printf("%s.reps=%d\n%s.steady=%s\n", metric, reps, metric, steady(o, l) ? "yes" : "no");
}

int main(int argc, char **argv)
{
    bench_config_t c = {
        .size_mib = { 64, 256 },
        .counts = { 10, 1000, 100000 },
        .reps = 9,
        .calls = 4000,
        .ram_mib = 1024,
        .geometry = "x86_64-4level",
        .pmm_threads = { 1, 2, 4 },
        .pmm_bursts = 20000,
    };
    bool smoke = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke")) {
            smoke = true;
            c.size_mib[0] = 4;
            c.size_mib[1] = 32;
            c.reps = 3;
            c.calls = 200;
            c.ram_mib = 128;
            c.pmm_bursts = 200;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            c.reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            if (sscanf(argv[++i], "%zu,%zu", &c.size_mib[0], &c.size_mib[1]) != 2)
                usage();
        } else if (!strcmp(argv[i], "--geometry") && i + 1 < argc) {
            c.geometry = argv[++i];
        } else {
            usage();
        }
    }
    if (c.reps < 1 || c.reps > BENCH_MAX_REPS || c.size_mib[0] == 0 || c.size_mib[1] <= c.size_mib[0])
        usage();
    size_t need = c.size_mib[1] * 2 + 64;
    if (c.ram_mib < need)
        c.ram_mib = need;

    timing_init();
    side_result_t lin, ours;
    /* Linux allows a process vm.max_map_count vmas (65 530 by default). As
     * root the bench raises it for the Linux side's run and puts it back;
     * otherwise both sides run at the counts Linux allows. */
    long map_count = read_max_map_count(), map_need = 1024;
    bool raised = false, capped = false;
    for (int k = 0; k < BENCH_COUNTS; k++)
        if ((long)c.counts[k] + 1024 > map_need)
            map_need = (long)c.counts[k] + 1024;
    bench_config_t oc; /* ours, at the counts Linux ran */
    int runs = 0;
    for (;;) {
        memset(&lin, 0, sizeof(lin));
        memset(&ours, 0, sizeof(ours));
        if (map_count >= 0 && map_count < map_need && geteuid() == 0)
            raised = write_max_map_count(map_need) == 0;
        int linux_rc = run_linux_side(&c, &lin);
        if (raised && write_max_map_count(map_count) != 0)
            fprintf(stderr, "kmm-bench: could not put vm.max_map_count back to %ld\n", map_count);
        if (linux_rc != 0) {
            fprintf(stderr, "kmm-bench: %s\n", lin.error);
            return 1;
        }
        oc = c;
        capped = false;
        for (int k = 0; k < BENCH_COUNTS; k++)
            if (lin.counts_used[k] != c.counts[k]) {
                oc.counts[k] = lin.counts_used[k];
                capped = true;
            }
        if (bench_ours(&oc, &ours) != 0 || bench_pmm(&c, &ours) != 0) {
            fprintf(stderr, "kmm-bench: %s\n", ours.error);
            return 1;
        }
        runs++;
        bool all_steady = true;
        for (int op = 0; op < OP_PAGE_COUNT; op++)
            all_steady &= steady(page_range(&c, &ours, op), page_range(&c, &lin, op));
        for (int op = 0; op < OP_CALL_COUNT; op++)
            for (int k = 0; k < BENCH_COUNTS; k++)
                all_steady &= steady(call_range(&c, &ours, op, k), call_range(&c, &lin, op, k));
        if (smoke || all_steady || c.reps >= BENCH_MAX_REPS)
            break;
        c.reps = c.reps * 2 < BENCH_MAX_REPS ? c.reps * 2 : BENCH_MAX_REPS;
        fprintf(stderr, "kmm-bench: a spread above %.0f%%: again with %d repetitions\n", 100 * STEADY_SPREAD, c.reps);
    }

    struct utsname u;
    uname(&u);
    printf("kmm-bench: ours = generic layer on the host platform (%s, %zu MiB simulated RAM);\n", c.geometry, c.ram_mib);
    printf("           linux = host kernel %s through system calls (THP off, %.2f faults per populated page)\n",
           u.release, lin.faults_per_page);
    printf("regions %zu and %zu MiB, %d repetitions (%d run%s of both sides), min / median / max over the repetitions;\n"
           "per-page figures are slopes between the sizes; ratio = median / median; spread = the medians of the\n"
           "earlier and later half of the repetitions apart, over the median; * = a spread above %.0f%% (README)\n\n",
           c.size_mib[0], c.size_mib[1], c.reps, runs, runs == 1 ? "" : "s", 100 * STEADY_SPREAD);
    printf("%-16s %-8s %9s %9s %9s  %9s %9s %9s %7s %6s %6s\n", "metric", "unit", "ours.min", "ours", "ours.max",
           "linux.min", "linux", "linux.max", "ratio", "spr.o", "spr.l");
    range_t o_page[OP_PAGE_COUNT], l_page[OP_PAGE_COUNT];
    range_t o_call[OP_CALL_COUNT][BENCH_COUNTS], l_call[OP_CALL_COUNT][BENCH_COUNTS];
    for (int op = 0; op < OP_PAGE_COUNT; op++) {
        o_page[op] = page_range(&c, &ours, op);
        l_page[op] = page_range(&c, &lin, op);
        row(page_op_name[op], "ns/page", o_page[op], l_page[op]);
    }
    char name[64];
    for (int op = 0; op < OP_CALL_COUNT; op++)
        for (int k = 0; k < BENCH_COUNTS; k++) {
            snprintf(name, sizeof(name), "%s.%zu", call_op_name[op], c.counts[k]);
            o_call[op][k] = call_range(&c, &ours, op, k);
            l_call[op][k] = call_range(&c, &lin, op, k);
            row(name, "ns/call", o_call[op][k], l_call[op][k]);
        }

    printf("\n");
    for (int op = 0; op < OP_PAGE_COUNT; op++)
        printf("# %-8s %s\n", page_op_name[op], page_op_what[op]);
    printf("# getfree  mm_get_free_vaddr_locked of 1 page skipping n packed vmaps (mmap(NULL) of 1 page)\n");
    printf("# lookup   vmap_obtain of a random vmap among n (msync MS_ASYNC: find_vma behind a system call)\n");
    printf("# linux per-call figures include the system-call entry and exit: getppid() = %.1f ns here\n",
           lin.null_syscall_ns);
    if (raised)
        printf("# vmap counts: vm.max_map_count raised from %ld to %ld for the Linux side (put back): both sides at "
               "every n\n", map_count, map_need);
    else if (capped)
        printf("# vmap counts: vm.max_map_count %ld (%s): both sides at the counts Linux allows, said per n\n",
               map_count, geteuid() == 0 ? "could not raise it" : "not root, cannot raise it");
    else
        printf("# vmap counts: vm.max_map_count %ld allows every n: both sides at every n\n", map_count);
    for (int k = 0; k < BENCH_COUNTS; k++)
        if (lin.counts_used[k] != c.counts[k])
            printf("# n=%zu: both sides at %zu vmaps (Linux's cap)\n", c.counts[k], lin.counts_used[k]);
    for (int k = 0; k < BENCH_COUNTS; k++)
        printf("# ours n=%zu: vmap tree height %d, %zu tree nodes, free-range search visits %zu nodes; "
               "%.1f bytes per vmap (vmap_t slot %zu + tree %.1f)\n",
               oc.counts[k], ours.tree_height[k], ours.tree_nodes[k], ours.search_visits[k], ours.vmap_bytes[k],
               ours.vmap_slot_bytes, ours.vmap_bytes[k] - (double)ours.vmap_slot_bytes);
    for (int op = 0; op < OP_PAGE_COUNT; op++)
        for (int s = 0; s < BENCH_SIZES; s++)
            printf("# %s whole at %zu MiB: ours %.3f ms (%.1f ns/page), linux %.3f ms (%.1f ns/page)\n", page_op_name[op],
                   c.size_mib[s], ours.page_op_ns[op][s] / 1e6, ours.page_op_ns[op][s] / (double)mib_pages(c.size_mib[s]),
                   lin.page_op_ns[op][s] / 1e6, lin.page_op_ns[op][s] / (double)mib_pages(c.size_mib[s]));

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("\nframe allocator (ours only): pmm_alloc x16 then pmm_free x16 in a loop on each of n threads, each a CPU;\n"
           "wall: ns per alloc+free pair as one thread sees it (wall time / pairs per thread), cpu: CPU time per pair\n"
           "(all threads); this machine has %ld cores%s\n",
           cores, cores < (long)c.pmm_threads[PMM_THREAD_COUNTS - 1] ? ": more threads than cores oversubscribe" : "");
    printf("%-24s %-8s %12s %12s\n", "metric", "unit", "wall", "cpu");
    for (int k = 0; k < PMM_THREAD_COUNTS; k++)
        printf("pmm.alloc_free.threads%zu  %-8s %12.1f %12.1f\n", c.pmm_threads[k], "ns/pair", ours.pmm_pair_ns[k],
               ours.pmm_pair_cpu_ns[k]);

    printf("\n");
    for (int op = 0; op < OP_PAGE_COUNT; op++)
        lines(page_op_name[op], c.reps, o_page[op], l_page[op]);
    for (int op = 0; op < OP_CALL_COUNT; op++)
        for (int k = 0; k < BENCH_COUNTS; k++) {
            snprintf(name, sizeof(name), "%s.%zu", call_op_name[op], c.counts[k]);
            lines(name, c.reps, o_call[op][k], l_call[op][k]);
        }
    for (int k = 0; k < PMM_THREAD_COUNTS; k++)
        printf("pmm.alloc_free.threads%zu.ours=%.1f\npmm.alloc_free.threads%zu.ours_cpu=%.1f\n", c.pmm_threads[k],
               ours.pmm_pair_ns[k], c.pmm_threads[k], ours.pmm_pair_cpu_ns[k]);
    printf("host.cores=%ld\n", cores);
    for (int k = 0; k < BENCH_COUNTS; k++)
        printf("vmap_bytes.%zu.ours=%.1f\n", c.counts[k], ours.vmap_bytes[k]);
    return 0;
}
