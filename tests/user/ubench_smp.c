/* tests/user/ubench_smp.c - the user-mode half of the kernel's bench mode on
 * several CPUs (kernel/bench.c runs it under `bench bench.smp`;
 * scripts/bench.sh --guest compares the figures with a Linux guest on the
 * same 4-CPU QEMU machine, bench/guest/linux_init.c). Measures, with 1, 2
 * and 4 CPUs:
 *   shootdown.munmap_1page.cpusN  ns per munmap of one resident page while
 *                                 N-1 other threads of the process spin in
 *                                 user mode on the other CPUs: the TLB
 *                                 shootdown must reach each of them
 *   faults.zero_fill.procsN       zero-fill faults per second of N processes
 *                                 together, each on a CPU of its own and
 *                                 touching a mapping of its own
 *   faults.zero_fill.threadsN     the same by N threads of one process, each
 *                                 its own part of one mapping
 * Every worker (the measuring thread too) claims the CPU it runs on
 * (getcpu) in a shared table before the start, and getcpu after the timed
 * part must give the same CPU: a run in which two workers met on one CPU,
 * or one moved, is done again (the scheduler hands new threads to idle
 * CPUs, so this is rare), and only runs with each worker on a CPU of its
 * own count. Prints "kmmbench: key=value" lines; exit status: the
 * number of errors (also printed as "kmmbench: error=..."). */
#include "ulib.h"

#define REPS 7
#define FAULT_PAGES 2048ul /* 8 MiB per worker */
#define SHOOTDOWN_CALLS 50
#define SMP_MAX 4
#define RUN_TRIES 8 /* runs redone because workers shared a CPU or one moved */

#define STACK_PAGES 4

static uint64_t khz;
static int failures;

/* The thread calls (kernel/uapi.h), under names of this program's own. */
static long getcpu_(void) { return kmm_syscall(SYS_GETCPU, 0, 0, 0, 0); }

/* Tenths of a nanosecond in `cycles`. */
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

static void *map(size_t npages, int flags)
{
    long p = sys_mmap(0, npages * PAGE, PROT_READ | PROT_WRITE, flags);
    if (p < 0) {
        fail("mmap", p);
        return 0;
    }
    return (void *)p;
}

/* What the workers of one run share (a MAP_SHARED page: processes too). */
typedef struct run {
    volatile uint32_t claim[64]; /* CPU -> worker + 1 holding it, 0 free */
    volatile uint32_t ready, go, stop, moved; /* moved: two workers met on a CPU, or one changed CPU */
    volatile uint64_t t0[SMP_MAX], t1[SMP_MAX];
} run_t;

/* Worker w takes the CPU it runs on in the claim table; false if another
 * worker holds it (the run is then redone: two workers shared a CPU). */
static bool claim_cpu(run_t *r, unsigned w, long *cpu)
{
    long c = getcpu_();
    if (c < 0 || c >= 64) {
        fail("getcpu", c);
        return false;
    }
    *cpu = c;
    if (__atomic_compare_exchange_n(&r->claim[c], &(uint32_t){ 0 }, w + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return true;
    __atomic_store_n(&r->moved, 1, __ATOMIC_SEQ_CST);
    return false;
}

/* Worker arrived (on its CPU, or without one); the last of n to arrive
 * starts the run, so that no one waits on a thread that has no CPU. */
static void arrive(run_t *r, unsigned n)
{
    if (__atomic_fetch_add(&r->ready, 1, __ATOMIC_SEQ_CST) + 1 == n)
        __atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
}

/* One round of a spin loop (x86: pause, as Linux's init spins). */
static inline void relax(void)
{
#if defined(__x86_64__)
    __asm__ volatile("pause" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

static void wait_for(volatile uint32_t *flag)
{
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        relax();
}

/* Still on the CPU it claimed? */
static void check_cpu(run_t *r, long cpu)
{
    if (getcpu_() != cpu)
        __atomic_store_n(&r->moved, 1, __ATOMIC_SEQ_CST);
}

/* ---- threads ---- */
typedef struct worker {
    run_t *r;
    unsigned w, n;  /* this worker, of n */
    uint8_t *pages; /* fault runs: the part this worker touches */
    void (*fn)(void *);
    uint8_t *stack;
    long tid;
} worker_t;

/* A new thread starts here (on its own stack, 16-byte aligned at the top)
 * and ends with thread_exit(0) once the worker's function returns. */
static void thread_main(void *arg)
{
    worker_t *wk = arg;
    wk->fn(wk);
    kmm_syscall(SYS_THREAD_EXIT, 0, 0, 0, 0);
    for (;;)
        ;
}

static bool start_thread(worker_t *wk, void (*fn)(void *))
{
    wk->fn = fn;
    if (!(wk->stack = map(STACK_PAGES, MAP_PRIVATE)))
        return false;
    wk->tid = kmm_syscall(SYS_THREAD_CREATE, (long)thread_main, (long)(wk->stack + STACK_PAGES * PAGE), (long)wk, 0);
    if (wk->tid <= 0) {
        fail("thread_create", wk->tid);
        sys_munmap((uintptr_t)wk->stack, STACK_PAGES * PAGE);
        return false;
    }
    return true;
}

static void join_thread(worker_t *wk)
{
    int code = -1;
    long err = kmm_syscall(SYS_THREAD_JOIN, wk->tid, (long)&code, 0, 0);
    if (err || code != 0)
        fail("thread_join", err ? err : code);
    sys_munmap((uintptr_t)wk->stack, STACK_PAGES * PAGE);
}

/* ---- shootdown: munmap of one page with the process on n CPUs ---- */
static void spinner(void *arg)
{
    worker_t *wk = arg;
    long cpu;
    if (!claim_cpu(wk->r, wk->w, &cpu)) {
        arrive(wk->r, wk->n);
        return;
    }
    arrive(wk->r, wk->n);
    while (!__atomic_load_n(&wk->r->stop, __ATOMIC_ACQUIRE))
        relax();
    check_cpu(wk->r, cpu);
}

/* Cycles per munmap, or -1 (moved: the caller tries again; or an error). */
static int64_t shootdown_run(run_t *r, unsigned n)
{
    worker_t wk[SMP_MAX];
    long cpu;
    memset(r, 0, sizeof(*r));
    if (!claim_cpu(r, 0, &cpu))
        return -1;
    for (unsigned i = 1; i < n; i++) {
        wk[i] = (worker_t){ .r = r, .w = i, .n = n - 1 };
        if (!start_thread(&wk[i], spinner))
            return -1;
    }
    while (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) < n - 1)
        relax();
    int64_t v[REPS];
    for (int rep = 0; rep < REPS && !r->moved; rep++) { /* a clash ends the run early */
        uint64_t sum = 0;
        for (int i = 0; i < SHOOTDOWN_CALLS; i++) {
            volatile uint8_t *p = map(1, MAP_PRIVATE);
            if (!p)
                break;
            p[0] = 1; /* resident, cached by this CPU's TLB */
            uint64_t t0 = arch_cycles();
            long err = sys_munmap((uintptr_t)p, PAGE);
            sum += arch_cycles() - t0;
            if (err)
                fail("munmap", err);
        }
        v[rep] = (int64_t)(sum / SHOOTDOWN_CALLS);
    }
    check_cpu(r, cpu);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    for (unsigned i = 1; i < n; i++)
        join_thread(&wk[i]);
    if (failures || r->moved)
        return -1;
    return median(v, REPS);
}

/* ---- fault throughput ---- */
static void fault_work(run_t *r, unsigned w, unsigned n, volatile uint8_t *p)
{
    long cpu;
    if (!claim_cpu(r, w, &cpu)) {
        arrive(r, n);
        return;
    }
    arrive(r, n);
    wait_for(&r->go);
    r->t0[w] = arch_cycles();
    for (size_t i = 0; i < FAULT_PAGES; i++)
        p[i * PAGE] = 1;
    r->t1[w] = arch_cycles();
    check_cpu(r, cpu);
}

static void fault_thread(void *arg)
{
    worker_t *wk = arg;
    fault_work(wk->r, wk->w, wk->n, wk->pages);
}

/* Faults per second of n workers (processes or threads) together, or -1
 * (a worker moved: the caller tries again; or an error). */
static int64_t fault_run(run_t *r, unsigned n, bool threads)
{
    memset(r, 0, sizeof(*r));
    worker_t wk[SMP_MAX];
    uint8_t *region = 0;
    uint64_t faults0 = 0;
    struct kmm_meminfo m;
    if (sys_meminfo(&m) == 0)
        faults0 = m.faults;
    if (threads) {
        if (!(region = map(n * FAULT_PAGES, MAP_PRIVATE)))
            return -1;
        for (unsigned i = 0; i < n; i++) {
            wk[i] = (worker_t){ .r = r, .w = i, .n = n, .pages = region + i * FAULT_PAGES * PAGE };
            if (!start_thread(&wk[i], fault_thread))
                return -1;
        }
    } else {
        for (unsigned i = 0; i < n; i++) {
            long pid = sys_fork();
            if (pid == 0) {
                uint8_t *p = map(FAULT_PAGES, MAP_PRIVATE);
                if (p)
                    fault_work(r, i, n, p);
                else
                    arrive(r, n);
                sys_exit(p ? 0 : 1);
            }
            if (pid < 0) {
                fail("fork", pid);
                return -1;
            }
        }
    }
    if (threads) {
        for (unsigned i = 0; i < n; i++)
            join_thread(&wk[i]);
        sys_munmap((uintptr_t)region, n * FAULT_PAGES * PAGE);
    } else {
        for (unsigned i = 0; i < n; i++) {
            int status = -1;
            long pid = sys_wait(&status);
            if (pid < 0 || status != 0)
                fail("wait for a fault worker", pid < 0 ? pid : status);
        }
    }
    if (failures || r->moved)
        return -1;
    /* one fault per page, and the few of the workers' stacks (copy-on-write after fork) */
    if (sys_meminfo(&m) == 0 && (m.faults - faults0 < n * FAULT_PAGES || m.faults - faults0 > n * (FAULT_PAGES + 64))) {
        fail("faults for the pages written", (long)(m.faults - faults0));
        return -1;
    }
    uint64_t t0 = ~0ull, t1 = 0;
    for (unsigned i = 0; i < n; i++) {
        t0 = r->t0[i] < t0 ? r->t0[i] : t0;
        t1 = r->t1[i] > t1 ? r->t1[i] : t1;
    }
    /* faults per second, in tenths */
    return (int64_t)((uint64_t)n * FAULT_PAGES * khz * 10000 / (t1 - t0));
}

/* Median of REPS runs of fn, each redone (up to RUN_TRIES times) when a
 * worker moved to another CPU during it; -1 after an error. */
static int64_t repeat(run_t *r, unsigned n, int kind)
{
    int64_t v[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        int64_t x = -1;
        for (int t = 0; t < RUN_TRIES && x < 0 && !failures; t++)
            x = kind == 0 ? shootdown_run(r, n) : fault_run(r, n, kind == 2);
        if (x < 0) {
            if (!failures)
                fail(kind == 0 ? "shootdown: threads kept sharing CPUs" : "faults: workers kept sharing CPUs", (long)n);
            return -1;
        }
        v[rep] = x;
        if (kind == 0)
            return x; /* a shootdown run is already a median of REPS */
    }
    return median(v, REPS);
}

int main(void)
{
    struct kmm_meminfo m;
    long err = sys_meminfo(&m);
    if (err || m.cycle_hz < 1000000) {
        fail("no user-readable cycle counter (meminfo cycle_hz)", err ? err : (long)m.cycle_hz);
        return failures;
    }
    khz = m.cycle_hz / 1000;
    run_t *r = map(1, MAP_SHARED);
    if (!r)
        return failures;
    static const unsigned counts[] = { 1, 2, 4 };
    char key[48];
    for (unsigned k = 0; k < 3 && !failures; k++) {
        unsigned n = counts[k];
        int64_t x = repeat(r, n, 0);
        if (x < 0)
            break;
        usnprintf(key, sizeof(key), "shootdown.munmap_1page.cpus%u", n);
        say(key, tenths_ns(x));
        if ((x = repeat(r, n, 1)) < 0)
            break;
        usnprintf(key, sizeof(key), "faults.zero_fill.procs%u", n);
        say(key, x);
        if ((x = repeat(r, n, 2)) < 0)
            break;
        usnprintf(key, sizeof(key), "faults.zero_fill.threads%u", n);
        say(key, x);
    }
    sys_munmap((uintptr_t)r, PAGE);
    return failures;
}
