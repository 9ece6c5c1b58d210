/* bench/linux.c - the host Linux kernel doing the work of bench/ours.c
 * through its system calls, in a process of its own (forked before any
 * simulated RAM exists, so a fork copies only the benchmark's region):
 *   map      mmap(MAP_POPULATE) of an anonymous private region
 *   unmap    munmap of it
 *   protect  mprotect RW->RO and back, per change
 *   fork     fork() of the process holding the resident region (the child
 *            exits at once; only the parent's fork() is timed)
 *   getfree  mmap(NULL) of one page with n vmas present (munmap untimed)
 *   lookup   msync(MS_ASYNC) of a page of a random vma among n: the VMA
 *            lookup behind a system call, and nothing else
 * Transparent huge pages are off for the process (PR_SET_THP_DISABLE) and
 * the regions (MADV_NOHUGEPAGE); minor faults per populated page are
 * checked to be one, i.e. every page a 4 KiB page. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PAGE 4096ul

#define FAIL(r, ...)                                                                                                   \
    do {                                                                                                               \
        snprintf((r)->error, sizeof((r)->error), __VA_ARGS__);                                                         \
        return -1;                                                                                                     \
    } while (0)

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int bench_region(const bench_config_t *c, size_t s, side_result_t *r, double *faults)
{
    size_t npages = mib_pages(c->size_mib[s]), bytes = npages * PAGE;
    double map[BENCH_MAX_REPS], unmap[BENCH_MAX_REPS], prot[BENCH_MAX_REPS], fork_ns[BENCH_MAX_REPS];
    for (int rep = 0; rep < c->reps; rep++) {
        long f0 = minor_faults();
        uint64_t t0 = now_ns();
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        uint64_t t1 = now_ns();
        if (p == MAP_FAILED)
            FAIL(r, "linux: mmap(MAP_POPULATE, %zu MiB): %s", c->size_mib[s], strerror(errno));
        *faults = (double)(minor_faults() - f0) / (double)npages;
        map[rep] = (double)(t1 - t0);
        madvise(p, bytes, MADV_NOHUGEPAGE);

        t0 = now_ns();
        int e1 = mprotect(p, bytes, PROT_READ);
        t1 = now_ns();
        int e2 = mprotect(p, bytes, PROT_READ | PROT_WRITE);
        uint64_t t2 = now_ns();
        if (e1 || e2)
            FAIL(r, "linux: mprotect: %s", strerror(errno));
        prot[rep] = (double)((t1 - t0) + (t2 - t1)) / 2;

        t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0)
            _exit(p[bytes - 1] == 0 ? 0 : 1);
        t1 = now_ns();
        if (pid < 0)
            FAIL(r, "linux: fork: %s", strerror(errno));
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            FAIL(r, "linux: the forked child did not see the region's zeroes (status %#x)", status);
        fork_ns[rep] = (double)(t1 - t0);

        t0 = now_ns();
        int e3 = munmap(p, bytes);
        t1 = now_ns();
        if (e3)
            FAIL(r, "linux: munmap: %s", strerror(errno));
        unmap[rep] = (double)(t1 - t0);
    }
    memcpy(r->page_samples[OP_MAP][s], map, (size_t)c->reps * sizeof(double));
    memcpy(r->page_samples[OP_UNMAP][s], unmap, (size_t)c->reps * sizeof(double));
    memcpy(r->page_samples[OP_PROTECT][s], prot, (size_t)c->reps * sizeof(double));
    memcpy(r->page_samples[OP_FORK][s], fork_ns, (size_t)c->reps * sizeof(double));
    r->page_op_ns[OP_MAP][s] = median(map, (size_t)c->reps);
    r->page_op_ns[OP_UNMAP][s] = median(unmap, (size_t)c->reps);
    r->page_op_ns[OP_PROTECT][s] = median(prot, (size_t)c->reps);
    r->page_op_ns[OP_FORK][s] = median(fork_ns, (size_t)c->reps);
    return 0;
}

/* How many more vmas this process may create (vm.max_map_count), with room
 * for what libc and the benchmark map themselves. */
static size_t vma_room(void)
{
    long limit = 65530, used = 0;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &limit) != 1)
            limit = 65530;
        fclose(f);
    }
    f = fopen("/proc/self/maps", "r");
    if (f) {
        int ch;
        while ((ch = fgetc(f)) != EOF)
            used += ch == '\n';
        fclose(f);
    }
    long room = limit - used - 256;
    return room > 0 ? (size_t)room : 0;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int bench_calls(const bench_config_t *c, size_t k, side_result_t *r)
{
    size_t n = c->counts[k], room = vma_room();
    if (n > room)
        n = room;
    r->counts_used[k] = n;
    char **vmas = malloc(n * sizeof(char *));
    double *one = malloc(c->calls * sizeof(double));
    char **addr = malloc(c->calls * sizeof(char *));
    if (!vmas || !one || !addr)
        FAIL(r, "linux: no memory for %zu vmas", n);
    /* One-page vmas placed top-down next to each other; alternate
     * protections keep them from merging into one. */
    for (size_t i = 0; i < n; i++) {
        vmas[i] = mmap(NULL, PAGE, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (vmas[i] == MAP_FAILED)
            FAIL(r, "linux: mmap of vma %zu of %zu: %s", i, n, strerror(errno));
    }
    double getfree[BENCH_MAX_REPS], lookup[BENCH_MAX_REPS];
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ n;
    for (int rep = 0; rep < c->reps; rep++) {
        for (size_t i = 0; i < c->calls; i++) {
            uint64_t t0 = ticks();
            void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            uint64_t t1 = ticks();
            if (p == MAP_FAILED)
                FAIL(r, "linux: mmap with %zu vmas: %s", n, strerror(errno));
            one[i] = ticks_to_ns(t1 - t0) - timing_overhead_ns();
            munmap(p, PAGE);
        }
        getfree[rep] = mean_of_calls(one, c->calls);

        for (size_t i = 0; i < c->calls; i++)
            addr[i] = vmas[xorshift(&seed) % n];
        int errors = 0;
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < c->calls; i++)
            errors += msync(addr[i], PAGE, MS_ASYNC) != 0;
        uint64_t t1 = now_ns();
        if (errors)
            FAIL(r, "linux: msync failed %d times", errors);
        lookup[rep] = (double)(t1 - t0) / (double)c->calls;
    }
    memcpy(r->call_samples[OP_GETFREE][k], getfree, (size_t)c->reps * sizeof(double));
    memcpy(r->call_samples[OP_LOOKUP][k], lookup, (size_t)c->reps * sizeof(double));
    r->call_ns[OP_GETFREE][k] = median(getfree, (size_t)c->reps);
    r->call_ns[OP_LOOKUP][k] = median(lookup, (size_t)c->reps);
    for (size_t i = 0; i < n; i++)
        munmap(vmas[i], PAGE);
    free(vmas);
    free(one);
    free(addr);
    return 0;
}

static double null_syscall_ns(void)
{
    double v[7];
    for (int rep = 0; rep < 7; rep++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < 10000; i++)
            syscall(SYS_getppid);
        v[rep] = (double)(now_ns() - t0) / 10000;
    }
    return median(v, 7);
}

int bench_linux(const bench_config_t *c, side_result_t *r)
{
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
        FAIL(r, "linux: prctl(PR_SET_THP_DISABLE): %s", strerror(errno));
    r->null_syscall_ns = null_syscall_ns();
    double faults = 0, worst = 1;
    for (size_t s = 0; s < BENCH_SIZES; s++) {
        if (bench_region(c, s, r, &faults))
            return -1;
        if (faults < worst || s == 0)
            worst = faults;
    }
    r->faults_per_page = worst;
    if (worst < 0.99)
        FAIL(r, "linux: %.3f minor faults per populated page: huge pages in use, figures not per 4 KiB page", worst);
    for (size_t k = 0; k < BENCH_COUNTS; k++)
        if (bench_calls(c, k, r))
            return -1;
    return 0;
}
