/* tests/user/ubench.c - the user-mode half of the kernel's bench mode
 * (kernel/bench.c runs it; scripts/bench.sh --guest compares the figures
 * with a Linux guest). Measures from ring 3 / U-mode, the way
 * bench/guest/linux_init.c does under Linux, with the same sizes and
 * repetitions, per 4 KiB page:
 *   clear_page, copy_page   the instructions the kernel clears / copies with
 *   fault.zero_fill         first write to an untouched private mmap page
 *   fault.zero_read         first read of one (the shared zero page is mapped)
 *   fault.cow               write to a private page shared with a forked child
 *   fault.*.net             the same minus the page clear / copy
 *   fork, protect, unmap    fork of a process with that much resident memory,
 *                           mprotect RW->RO and back (per change), munmap:
 *                           slopes between two region sizes
 * Every fault measurement checks one resolved fault per page (meminfo's
 * fault count). Cycles are the counter user code reads (arch_cycles), at
 * the rate meminfo reports (cycle_hz). Prints "kmmbench: key=value" lines
 * (ns, one decimal); exit status: the number of errors (also printed as
 * "kmmbench: error=..."). */
#include "ulib.h"

#define REPS 7
#define FAULT_PAGES 2048ul /* 8 MiB per fault measurement */
#define SMALL_PAGES (16ul << 8)
#define LARGE_PAGES (64ul << 8)
/* Faults beyond one per page a measurement tolerates: the stack pages
 * shared with a child, the flag page, a meminfo result written into a
 * copy-on-write stack page. */
#define FAULT_SLACK 8

static uint64_t khz;
static int failures;
static volatile uint32_t *release; /* shared page: a waiting child exits once it is set */

/* Tenths of a nanosecond in `cycles` (fits while |cycles| < 9e11). */
static int64_t tenths_ns(int64_t cycles) { return cycles * 10000000 / (int64_t)khz; }

static void say(const char *key, int64_t tenths)
{
    uint64_t a = (uint64_t)(tenths < 0 ? -tenths : tenths);
    uprintf("kmmbench: %s=%s%lu.%lu\n", key, tenths < 0 ? "-" : "", (unsigned long)(a / 10), (unsigned long)(a % 10));
}

static void fail(const char *what, long value)
{
    uprintf("kmmbench: error=%s (%ld)\n", what, value);
    failures++;
}

static struct kmm_meminfo meminfo(void)
{
    struct kmm_meminfo m;
    long err = sys_meminfo(&m);
    if (err)
        fail("meminfo", err);
    return m;
}

static int64_t median(int64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A private read-write mapping of npages (nothing resident), or NULL. */
static uint8_t *map_rw(size_t npages)
{
    long p = sys_mmap(0, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (p < 0) {
        fail("mmap", p);
        return NULL;
    }
    return (uint8_t *)p;
}

static void unmap(uint8_t *p, size_t npages)
{
    long err = sys_munmap((uintptr_t)p, npages * PAGE);
    if (err)
        fail("munmap", err);
}

/* Cycles per page of touching every page of p once (a write or a read),
 * each touch faulting once; -1 (and an error) if the faults do not add up. */
static int64_t touch_pages(uint8_t *p, size_t npages, bool write)
{
    volatile uint8_t *v = p;
    uint64_t f0 = meminfo().faults;
    uint64_t t0 = arch_cycles();
    if (write)
        for (size_t i = 0; i < npages; i++)
            v[i * PAGE] = 1;
    else
        for (size_t i = 0; i < npages; i++)
            (void)v[i * PAGE];
    int64_t cycles = (int64_t)(arch_cycles() - t0);
    uint64_t faults = meminfo().faults - f0;
    if (faults < npages || faults > npages + FAULT_SLACK) {
        fail(write ? "faults for the pages written" : "faults for the pages read", (long)faults);
        return -1;
    }
    return cycles / (int64_t)npages;
}

/* A child that keeps its copy of the address space until release_child. */
static bool fork_waiting_child(void)
{
    *release = 0;
    long pid = sys_fork();
    if (pid == 0) {
        while (!*release)
            sys_yield();
        sys_exit(0);
    }
    if (pid < 0)
        fail("fork", pid);
    return pid > 0;
}

static void release_child(void)
{
    *release = 1;
    int status = -1;
    long pid = sys_wait(&status);
    if (pid < 0 || status != 0)
        fail("wait for the child", pid < 0 ? pid : status);
}

static int64_t clear_cycles, copy_cycles;

static void measure_clear_copy(void)
{
    enum { N = 64 };
    uint8_t *buf = map_rw(2 * N);
    if (!buf || touch_pages(buf, 2 * N, true) < 0)
        return;
    int64_t c[REPS], k[REPS];
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = arch_cycles();
        for (int i = 0; i < N; i++)
            arch_clear_page(buf + i * PAGE);
        c[r] = (int64_t)(arch_cycles() - t0) / N;
        t0 = arch_cycles();
        for (int i = 0; i < N; i++)
            arch_copy_page(buf + (N + i) * PAGE, buf + i * PAGE);
        k[r] = (int64_t)(arch_cycles() - t0) / N;
    }
    unmap(buf, 2 * N);
    clear_cycles = median(c, REPS);
    copy_cycles = median(k, REPS);
    uprintf("kmmbench: info clear_page=%s copy_page=%s\n", ARCH_CLEAR_PAGE_NAME, ARCH_COPY_PAGE_NAME);
    say("clear_page", tenths_ns(clear_cycles));
    say("copy_page", tenths_ns(copy_cycles));
}

static void measure_faults(void)
{
    int64_t zf[REPS], zr[REPS], cow[REPS];
    for (int r = 0; r < REPS; r++) {
        uint8_t *p = map_rw(FAULT_PAGES);
        if (!p || (zf[r] = touch_pages(p, FAULT_PAGES, true)) < 0)
            return;
        unmap(p, FAULT_PAGES);
        if (!(p = map_rw(FAULT_PAGES)) || (zr[r] = touch_pages(p, FAULT_PAGES, false)) < 0)
            return;
        unmap(p, FAULT_PAGES);

        if (!(p = map_rw(FAULT_PAGES)) || touch_pages(p, FAULT_PAGES, true) < 0 || !fork_waiting_child())
            return;
        cow[r] = touch_pages(p, FAULT_PAGES, true);
        release_child();
        unmap(p, FAULT_PAGES);
        if (cow[r] < 0)
            return;
    }
    int64_t f = median(zf, REPS), c = median(cow, REPS);
    say("fault.zero_fill", tenths_ns(f));
    say("fault.zero_fill.net", tenths_ns(f - clear_cycles));
    say("fault.zero_read", tenths_ns(median(zr, REPS)));
    say("fault.cow", tenths_ns(c));
    say("fault.cow.net", tenths_ns(c - copy_cycles));
}

/* Whole-call cycles of fork, mprotect (one change) and munmap over a
 * resident private mapping of npages; false after an error. */
static bool measure_region(size_t npages, int64_t *fork, int64_t *prot, int64_t *unmap_c)
{
    int64_t f[REPS], p[REPS], u[REPS];
    for (int r = 0; r < REPS; r++) {
        uint8_t *m = map_rw(npages);
        if (!m || touch_pages(m, npages, true) < 0)
            return false;
        uint64_t t0 = arch_cycles();
        long pid = sys_fork();
        if (pid == 0)
            sys_exit(0);
        f[r] = (int64_t)(arch_cycles() - t0);
        if (pid < 0) {
            fail("fork", pid);
            return false;
        }
        int status = -1;
        if (sys_wait(&status) != pid || status != 0)
            fail("wait for the child", status);
        t0 = arch_cycles();
        long e1 = sys_mprotect((uintptr_t)m, npages * PAGE, PROT_READ);
        int64_t a = (int64_t)(arch_cycles() - t0);
        t0 = arch_cycles();
        long e2 = sys_mprotect((uintptr_t)m, npages * PAGE, PROT_READ | PROT_WRITE);
        p[r] = (a + (int64_t)(arch_cycles() - t0)) / 2;
        t0 = arch_cycles();
        long e3 = sys_munmap((uintptr_t)m, npages * PAGE);
        u[r] = (int64_t)(arch_cycles() - t0);
        if (e1 || e2 || e3) {
            fail("mprotect/munmap", e1 ? e1 : e2 ? e2 : e3);
            return false;
        }
    }
    *fork = median(f, REPS);
    *prot = median(p, REPS);
    *unmap_c = median(u, REPS);
    return true;
}

static void measure_slopes(void)
{
    int64_t f[2], p[2], u[2];
    if (!measure_region(SMALL_PAGES, &f[0], &p[0], &u[0]) || !measure_region(LARGE_PAGES, &f[1], &p[1], &u[1]))
        return;
    int64_t dp = (int64_t)(LARGE_PAGES - SMALL_PAGES);
    say("fork", tenths_ns(f[1] - f[0]) / dp);
    say("protect", tenths_ns(p[1] - p[0]) / dp);
    say("unmap", tenths_ns(u[1] - u[0]) / dp);
}

int main(void)
{
    struct kmm_meminfo m = meminfo();
    if (failures)
        return failures;
    if (m.cycle_hz < 1000000) {
        fail("no user-readable cycle counter (meminfo cycle_hz)", (long)m.cycle_hz);
        return failures;
    }
    khz = m.cycle_hz / 1000;
    long flag = sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    if (flag < 0) {
        fail("mmap of the shared flag page", flag);
        return failures;
    }
    release = (volatile uint32_t *)flag;
    measure_clear_copy();
    if (!failures)
        measure_faults();
    if (!failures)
        measure_slopes();
    sys_munmap((uintptr_t)flag, PAGE);
    return failures;
}
