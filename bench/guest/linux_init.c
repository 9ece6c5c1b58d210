/* bench/guest/linux_init.c - /init of the Linux guest benchmark (static, in
 * a cpio initramfs booted by scripts/bench.sh --guest next to our kernel's
 * bench mode, under the same QEMU). Measures, per 4 KiB page, with the TSC
 * calibrated against CLOCK_MONOTONIC:
 *   fault.zero_fill  first write to an untouched anonymous page
 *   fault.zero_read  first read of one (the shared zero page is mapped)
 *   fault.cow        write to a private page shared with a forked child
 *   fork             fork() of a process with that much resident memory (slope)
 *   protect          mprotect RW->RO and back, per change (slope)
 *   unmap            munmap of resident memory (slope)
 * and the page clear / copy cost with the instructions this kernel uses
 * (clear_page_erms / clear_page_rep / clear_page_orig, copy_page with rep
 * movsq or the register loop, by the CPU flags), so that the fault paths are
 * also printed net of them. Prints "kmmbench: key=value" lines (ns), then
 * "kmmbench: done", and powers the machine off.
 *
 * With "kmmbench.smp" on the kernel command line (scripts/bench.sh boots it
 * with -smp 4 under multi-threaded TCG) it measures instead, with 1, 2 and 4
 * CPUs, each worker pinned to a CPU of its own (sched_setaffinity, checked
 * with sched_getcpu before and after the timed part):
 *   shootdown.munmap_1page.cpusN   ns per munmap of one resident page while
 *                                  N-1 other threads of the process spin in
 *                                  user mode on the other CPUs (so the TLB
 *                                  flush must reach them)
 *   faults.zero_fill.procsN        zero-fill faults per second, all N
 *                                  processes together (one per CPU, each its
 *                                  own mapping)
 *   faults.zero_fill.threadsN      the same by N threads of one process, each
 *                                  its own part of one mapping
 * as tests/user/ubench_smp.c does on our kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
/* The same parameters as kernel/bench.c. */
#define REPS 7
#define FAULT_PAGES 2048 /* 8 MiB per fault measurement */
#define SMALL_MIB 16
#define LARGE_MIB 64

static double ns_per_tick;

static inline uint64_t ticks(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_since(uint64_t t0) { return (double)(ticks() - t0) * ns_per_tick; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void say(const char *key, double v) { printf("kmmbench: %s=%.1f\n", key, v); fflush(stdout); }

static _Noreturn void stop(const char *why)
{
    printf("kmmbench: error=%s (%s)\n", why, strerror(errno));
    fflush(stdout);
    reboot(RB_POWER_OFF);
    _exit(1);
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* ---- page clear / copy as this kernel does them ---- */
static bool has_flag(const char *flags, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = flags; (p = strstr(p, f)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0))
            return true;
    return false;
}

static void clear_erms(void *p)
{
    void *d = p;
    size_t n = PAGE;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
}

static void clear_rep(void *p)
{
    void *d = p;
    size_t n = PAGE / 8;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0) : "memory");
}

static void clear_orig(void *p)
{
    char *d = p;
    for (size_t i = 0; i < PAGE; i += 64)
        __asm__ volatile("movq %%rax,(%0)\n\tmovq %%rax,8(%0)\n\tmovq %%rax,16(%0)\n\tmovq %%rax,24(%0)\n\t"
                         "movq %%rax,32(%0)\n\tmovq %%rax,40(%0)\n\tmovq %%rax,48(%0)\n\tmovq %%rax,56(%0)"
                         :: "r"(d + i), "a"(0) : "memory");
}

static void copy_rep(void *dst, const void *src)
{
    void *d = dst;
    const void *s = src;
    size_t n = PAGE / 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
}

static void copy_regs(void *dst, const void *src)
{
    for (size_t i = 0; i < PAGE; i += 64)
        __asm__ volatile("movq (%1),%%r8\n\tmovq 8(%1),%%r9\n\tmovq 16(%1),%%r10\n\tmovq 24(%1),%%r11\n\t"
                         "movq %%r8,(%0)\n\tmovq %%r9,8(%0)\n\tmovq %%r10,16(%0)\n\tmovq %%r11,24(%0)\n\t"
                         "movq 32(%1),%%r8\n\tmovq 40(%1),%%r9\n\tmovq 48(%1),%%r10\n\tmovq 56(%1),%%r11\n\t"
                         "movq %%r8,32(%0)\n\tmovq %%r9,40(%0)\n\tmovq %%r10,48(%0)\n\tmovq %%r11,56(%0)"
                         :: "r"((char *)dst + i), "r"((const char *)src + i) : "r8", "r9", "r10", "r11", "memory");
}

static double clear_ns, copy_ns;

static void measure_clear_copy(void)
{
    char flags[4096] = "";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "flags", 5)) {
                snprintf(flags, sizeof(flags), "%s", line);
                break;
            }
        fclose(f);
    }
    bool erms = has_flag(flags, "erms"), rep_good = has_flag(flags, "rep_good");
    void (*clear)(void *) = erms ? clear_erms : rep_good ? clear_rep : clear_orig;
    void (*copy)(void *, const void *) = rep_good ? copy_rep : copy_regs;
    printf("kmmbench: info paging=%s\n", has_flag(flags, "la57") ? "5-level" : "4-level");
    printf("kmmbench: info clear_page=%s copy_page=%s\n", erms ? "rep-stosb" : rep_good ? "rep-stosq" : "movq-loop",
           rep_good ? "rep-movsq" : "movq-loop");
    enum { N = 64 };
    char *buf = mmap(NULL, 2 * N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED)
        stop("mmap for clear/copy");
    double c[REPS], k[REPS];
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = ticks();
        for (int i = 0; i < N; i++)
            clear(buf + i * PAGE);
        c[r] = ns_since(t0) / N;
        t0 = ticks();
        for (int i = 0; i < N; i++)
            copy(buf + (N + i) * PAGE, buf + i * PAGE);
        k[r] = ns_since(t0) / N;
    }
    munmap(buf, 2 * N * PAGE);
    clear_ns = median(c, REPS);
    copy_ns = median(k, REPS);
    say("clear_page", clear_ns);
    say("copy_page", copy_ns);
}

/* ---- fault paths ---- */
static char *map_anon(size_t bytes, int extra)
{
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
    if (p == MAP_FAILED)
        stop("mmap");
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return p;
}

/* ns per page of touching every page of p (write or read), checking one
 * fault per page. */
static double touch_pages(char *p, size_t npages, bool write)
{
    volatile char *v = p;
    long f0 = minor_faults();
    uint64_t t0 = ticks();
    if (write)
        for (size_t i = 0; i < npages; i++)
            v[i * PAGE] = 1;
    else
        for (size_t i = 0; i < npages; i++)
            (void)v[i * PAGE];
    double ns = ns_since(t0) / (double)npages;
    long faults = minor_faults() - f0;
    if (faults < (long)npages || faults > (long)npages + 8) {
        printf("kmmbench: error=%ld faults for %zu pages\n", faults, npages);
        fflush(stdout);
        reboot(RB_POWER_OFF);
    }
    return ns;
}

static void measure_faults(void)
{
    size_t bytes = FAULT_PAGES * PAGE;
    double zf[REPS], zr[REPS], cow[REPS];
    for (int r = 0; r < REPS; r++) {
        char *p = map_anon(bytes, 0);
        zf[r] = touch_pages(p, FAULT_PAGES, true);
        munmap(p, bytes);
        p = map_anon(bytes, 0);
        zr[r] = touch_pages(p, FAULT_PAGES, false);
        munmap(p, bytes);

        p = map_anon(bytes, MAP_POPULATE);
        int fd[2];
        if (pipe(fd))
            stop("pipe");
        pid_t pid = fork();
        if (pid < 0)
            stop("fork");
        if (pid == 0) { /* keep the pages shared until the parent is done */
            char c;
            close(fd[1]);
            _exit(read(fd[0], &c, 1) < 0);
        }
        close(fd[0]);
        cow[r] = touch_pages(p, FAULT_PAGES, true);
        close(fd[1]);
        waitpid(pid, NULL, 0);
        munmap(p, bytes);
    }
    double f = median(zf, REPS), c = median(cow, REPS);
    say("fault.zero_fill", f);
    say("fault.zero_fill.net", f - clear_ns);
    say("fault.zero_read", median(zr, REPS));
    say("fault.cow", c);
    say("fault.cow.net", c - copy_ns);
}

/* ---- fork, mprotect, munmap: slopes between two sizes ---- */
static void measure_slopes(void)
{
    size_t mib[2] = { SMALL_MIB, LARGE_MIB };
    double fork_ns[2], prot_ns[2], unmap_ns[2];
    for (int s = 0; s < 2; s++) {
        size_t bytes = mib[s] << 20;
        double f[REPS], pr[REPS], u[REPS];
        for (int r = 0; r < REPS; r++) {
            char *p = map_anon(bytes, MAP_POPULATE);
            uint64_t t0 = ticks();
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            f[r] = ns_since(t0);
            if (pid < 0)
                stop("fork");
            waitpid(pid, NULL, 0);
            t0 = ticks();
            if (mprotect(p, bytes, PROT_READ))
                stop("mprotect");
            double a = ns_since(t0);
            t0 = ticks();
            if (mprotect(p, bytes, PROT_READ | PROT_WRITE))
                stop("mprotect");
            pr[r] = (a + ns_since(t0)) / 2;
            t0 = ticks();
            munmap(p, bytes);
            u[r] = ns_since(t0);
        }
        fork_ns[s] = median(f, REPS);
        prot_ns[s] = median(pr, REPS);
        unmap_ns[s] = median(u, REPS);
    }
    double dp = (double)((mib[1] - mib[0]) << 8);
    say("fork", (fork_ns[1] - fork_ns[0]) / dp);
    say("protect", (prot_ns[1] - prot_ns[0]) / dp);
    say("unmap", (unmap_ns[1] - unmap_ns[0]) / dp);
}

/* Touches (nearly) all free guest memory once, so that QEMU's first-touch
 * costs stay out of the figures. */
static void touch_guest_memory(void)
{
    long avail = sysconf(_SC_AVPHYS_PAGES);
    size_t bytes = (size_t)(avail > 8192 ? avail - 8192 : 0) * PAGE;
    if (!bytes)
        return;
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED)
        munmap(p, bytes);
    printf("kmmbench: info touched=%zu MiB\n", bytes >> 20);
}

/* ---- several CPUs ---- */
#define SMP_MAX 4
#define SHOOTDOWN_CALLS 50 /* munmaps per repetition */

static const int smp_counts[] = { 1, 2, 4 };

/* Pins the caller to cpu; false (and an error line) if it does not end up
 * there. */
static bool pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) || sched_getcpu() != cpu) {
        printf("kmmbench: error=cannot run on CPU %d (on %d: %s)\n", cpu, sched_getcpu(), strerror(errno));
        fflush(stdout);
        return false;
    }
    return true;
}

/* What workers share: start line, readiness, per-worker results. */
typedef struct smp_shared {
    _Atomic int ready, go, stop, bad;
    uint64_t t0[SMP_MAX], t1[SMP_MAX];
} smp_shared_t;

static smp_shared_t *shared_page(void)
{
    smp_shared_t *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        stop("mmap of the shared page");
    return s;
}

typedef struct spinner {
    pthread_t t;
    int cpu;
    smp_shared_t *sh;
} spinner_t;

/* A thread of the process spinning in user mode on its CPU until stop. */
static void *spin_thread(void *p)
{
    spinner_t *s = p;
    if (!pin_to(s->cpu))
        atomic_store(&s->sh->bad, 1);
    atomic_fetch_add(&s->sh->ready, 1);
    while (!atomic_load_explicit(&s->sh->stop, memory_order_relaxed))
        __asm__ volatile("pause");
    if (sched_getcpu() != s->cpu)
        atomic_store(&s->sh->bad, 1);
    return NULL;
}

/* ns per munmap of one resident page with n CPUs running the process. */
static double shootdown(int n)
{
    smp_shared_t *sh = shared_page();
    spinner_t sp[SMP_MAX];
    if (!pin_to(0))
        stop("pin");
    for (int i = 1; i < n; i++) {
        sp[i] = (spinner_t){ .cpu = i, .sh = sh };
        if (pthread_create(&sp[i].t, NULL, spin_thread, &sp[i]))
            stop("pthread_create");
    }
    while (atomic_load(&sh->ready) < n - 1)
        __asm__ volatile("pause");
    double v[REPS];
    for (int r = 0; r < REPS; r++) {
        double sum = 0;
        for (int i = 0; i < SHOOTDOWN_CALLS; i++) {
            volatile char *p = map_anon(PAGE, 0);
            p[0] = 1; /* resident, cached by this CPU's TLB */
            uint64_t t0 = ticks();
            munmap((void *)p, PAGE);
            sum += ns_since(t0);
        }
        v[r] = sum / SHOOTDOWN_CALLS;
    }
    atomic_store(&sh->stop, 1);
    for (int i = 1; i < n; i++)
        pthread_join(sp[i].t, NULL);
    if (atomic_load(&sh->bad) || sched_getcpu() != 0)
        stop("a thread left its CPU");
    munmap(sh, PAGE);
    return median(v, REPS);
}

/* One worker's part of a fault-throughput run: pinned to cpu, waits for
 * the start, writes one byte per page of [p, p + FAULT_PAGES pages). */
static void fault_worker(smp_shared_t *sh, int cpu, int n, char *p)
{
    if (!pin_to(cpu))
        atomic_store(&sh->bad, 1);
    /* the last to arrive starts the run; the parent waits, blocked */
    if (atomic_fetch_add(&sh->ready, 1) + 1 == n)
        atomic_store_explicit(&sh->go, 1, memory_order_release);
    while (!atomic_load_explicit(&sh->go, memory_order_acquire))
        __asm__ volatile("pause");
    volatile char *v = p;
    sh->t0[cpu] = ticks();
    for (size_t i = 0; i < FAULT_PAGES; i++)
        v[i * PAGE] = 1;
    sh->t1[cpu] = ticks();
    if (sched_getcpu() != cpu)
        atomic_store(&sh->bad, 1);
}

typedef struct fault_thread {
    pthread_t t;
    int cpu, n;
    char *p;
    smp_shared_t *sh;
} fault_thread_t;

static void *fault_thread(void *a)
{
    fault_thread_t *f = a;
    fault_worker(f->sh, f->cpu, f->n, f->p);
    return NULL;
}

/* Zero-fill faults per second of n workers together: n processes
 * (threads false) or n threads of this process. */
static double fault_throughput(int n, bool threads)
{
    double v[REPS];
    for (int r = 0; r < REPS; r++) {
        smp_shared_t *sh = shared_page();
        pid_t pid[SMP_MAX];
        fault_thread_t th[SMP_MAX];
        char *region = NULL;
        if (threads) {
            region = map_anon((size_t)n * FAULT_PAGES * PAGE, 0);
            for (int i = 0; i < n; i++) {
                th[i] = (fault_thread_t){ .cpu = i, .n = n, .p = region + (size_t)i * FAULT_PAGES * PAGE, .sh = sh };
                if (pthread_create(&th[i].t, NULL, fault_thread, &th[i]))
                    stop("pthread_create");
            }
        } else {
            for (int i = 0; i < n; i++) {
                pid[i] = fork();
                if (pid[i] < 0)
                    stop("fork");
                if (pid[i] == 0) {
                    char *p = map_anon(FAULT_PAGES * PAGE, 0);
                    fault_worker(sh, i, n, p);
                    _exit(0);
                }
            }
        }
        if (threads) {
            for (int i = 0; i < n; i++)
                pthread_join(th[i].t, NULL);
            munmap(region, (size_t)n * FAULT_PAGES * PAGE);
        } else {
            for (int i = 0; i < n; i++)
                waitpid(pid[i], NULL, 0);
        }
        if (atomic_load(&sh->bad))
            stop("a worker left its CPU");
        uint64_t t0 = UINT64_MAX, t1 = 0;
        for (int i = 0; i < n; i++) {
            t0 = sh->t0[i] < t0 ? sh->t0[i] : t0;
            t1 = sh->t1[i] > t1 ? sh->t1[i] : t1;
        }
        v[r] = (double)n * FAULT_PAGES / ((double)(t1 - t0) * ns_per_tick * 1e-9);
        munmap(sh, PAGE);
    }
    return median(v, REPS);
}

static void measure_smp(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    printf("kmmbench: info cpus=%ld\n", online);
    if (online < SMP_MAX)
        stop("fewer than 4 CPUs online");
    char key[64];
    for (unsigned k = 0; k < sizeof(smp_counts) / sizeof(smp_counts[0]); k++) {
        int n = smp_counts[k];
        snprintf(key, sizeof(key), "shootdown.munmap_1page.cpus%d", n);
        say(key, shootdown(n));
        snprintf(key, sizeof(key), "faults.zero_fill.procs%d", n);
        say(key, fault_throughput(n, false));
        snprintf(key, sizeof(key), "faults.zero_fill.threads%d", n);
        say(key, fault_throughput(n, true));
    }
}

static bool cmdline_has(const char *word)
{
    char buf[1024] = "";
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    size_t w = strlen(word);
    for (char *p = buf; (p = strstr(p, word)); p += w)
        if ((p == buf || p[-1] == ' ') && (p[w] == ' ' || p[w] == '\n' || p[w] == 0))
            return true;
    return false;
}

int main(void)
{
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", 0, NULL);
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
        stop("prctl(PR_SET_THP_DISABLE)");
    printf("kmmbench: info guest=linux\n");
    touch_guest_memory();

    uint64_t n0 = mono_ns(), t0 = ticks();
    while (mono_ns() - n0 < 300000000u)
        ;
    ns_per_tick = (double)(mono_ns() - n0) / (double)(ticks() - t0);
    printf("kmmbench: info tsc_mhz=%.1f\n", 1000.0 / ns_per_tick);

    if (cmdline_has("kmmbench.smp")) {
        measure_smp();
    } else {
        measure_clear_copy();
        measure_faults();
        measure_slopes();
    }
    printf("kmmbench: done\n");
    fflush(stdout);
    reboot(RB_POWER_OFF);
    return 0;
}
