/* kernel/bench.c - bench mode (command line token "bench"): the fault paths
 * and the per-page operations of the memory manager on a real MMU, measured
 * the way bench/guest/linux_init.c measures a Linux guest under the same
 * QEMU, printed as "kmmbench: key=value" (ns) lines.
 *
 * The figures compared with Linux come from a user program,
 * tests/user/ubench.c, run here as the only process: user-mode accesses
 * and system calls (mmap, fork, mprotect, munmap), timed with the cycle
 * counter read in user mode at the rate the kernel calibrated (meminfo's
 * cycle_hz). Its keys: clear_page, copy_page, fault.zero_fill,
 * fault.zero_read, fault.cow, fault.*.net (minus the page clear / copy),
 * fork, protect, unmap (per page: slopes between two region sizes).
 *
 * Then the same measured from the kernel itself, printed under the same
 * keys prefixed "kmode.": accesses are kernel-mode accesses to the user
 * half with user access enabled (arch_probe_user_*), each fault going the
 * whole trap path, and fork / protect / unmap are direct calls of
 * mm_clone_context, mm_protect_locked and mm_unmap_user_pages_locked, with
 * no system call around them. Cycles come from arch_cycles(), calibrated by
 * the arch (arch_cycle_hz()).
 *
 * With "bench.smp" on the command line as well (scripts/bench.sh boots it
 * on four CPUs) it measures what several CPUs change instead: the user
 * program tests/user/ubench_smp.c (TLB shootdown of a one-page munmap, zero-
 * fill fault throughput of processes and of threads on 1, 2 and 4 CPUs),
 * then, from kernel mode, the frame allocator with 1, 2 and 4 CPUs
 * allocating and freeing at once (kmode.pmm.alloc_free.cpusN, ns per
 * pmm_alloc+pmm_free pair as each CPU sees it). */
#include "kernel/arch.h"
#include "kernel/cmdline.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/printk.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "mm/cow.h"

#define BENCH_VA ((ptr_t)0x40000000)
/* The same parameters as bench/guest/linux_init.c. */
#define BENCH_REPS 7
#define FAULT_PAGES 2048u /* 8 MiB per fault measurement */
#define SMALL_PAGES (16u << 8)
#define LARGE_PAGES (64u << 8)

/* An arch without a calibrated cycle counter reports 0 Hz, and bench mode
 * says so instead of printing figures. */
__attribute__((weak)) uint64_t arch_cycles(void) { return 0; }
__attribute__((weak)) uint64_t arch_cycle_hz(void) { return 0; }

static uint64_t khz;
static int failures;
static const char *key_prefix = ""; /* "kmode." for the kernel-mode figures */

/* Tenths of a nanosecond in `cycles` (fits while cycles < 1.8e12). */
static int64_t tenths_ns(int64_t cycles) { return cycles * 10000000 / (int64_t)khz; }

static void say(const char *key, int64_t tenths)
{
    const char *sign = tenths < 0 ? "-" : "";
    uint64_t a = (uint64_t)(tenths < 0 ? -tenths : tenths);
    printk("kmmbench: %s%s=%s%llu.%llu\n", key_prefix, key, sign, (unsigned long long)(a / 10), (unsigned long long)(a % 10));
}

static void fail(const char *what, long value)
{
    printk("kmmbench: error=%s (%ld)\n", what, value);
    failures++;
}

static void sort(int64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static int64_t median(int64_t *v, int n)
{
    sort(v, n);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Writes one byte per frame of every free frame once, so QEMU's first-touch
 * costs stay out of the figures; gives them all back. */
static void touch_free_memory(void)
{
    pfn_t head = PMM_NO_FRAME;
    size_t n = 0;
    for (pfn_t p; (p = pmm_alloc()) != PMM_NO_FRAME; n++) {
        *(pfn_t *)pfn_va(p) = head;
        head = p;
    }
    while (head != PMM_NO_FRAME) {
        pfn_t next = *(pfn_t *)pfn_va(head);
        pmm_release(head);
        head = next;
    }
    printk("kmmbench: info touched=%zu MiB\n", n >> 8);
}

/* Page clear and copy as pmm_alloc_zeroed and the copy-on-write path do them. */
static void measure_clear_copy(int64_t *clear, int64_t *copy)
{
    pfn_t a = pmm_alloc_order(6), b = pmm_alloc_order(6);
    if (a == PMM_NO_FRAME || b == PMM_NO_FRAME)
        return fail("no frames for clear/copy", 0);
    int64_t c[BENCH_REPS], k[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        uint64_t t0 = arch_cycles();
        for (unsigned i = 0; i < 64; i++)
            __builtin_memset(pfn_va(a + i), 0, PAGE_SIZE);
        c[r] = (int64_t)(arch_cycles() - t0) / 64;
        t0 = arch_cycles();
        for (unsigned i = 0; i < 64; i++)
            __builtin_memcpy(pfn_va(b + i), pfn_va(a + i), PAGE_SIZE);
        k[r] = (int64_t)(arch_cycles() - t0) / 64;
    }
    pmm_free_order(a, 6);
    pmm_free_order(b, 6);
    *clear = median(c, BENCH_REPS);
    *copy = median(k, BENCH_REPS);
}

/* A zero-on-demand private vmap of npages at BENCH_VA. */
static bool anon_vmap(mm_context_t *ctx, size_t npages)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = cow_allocate_zeroed_pages(ctx, npages, BENCH_VA, VALLOC_EXACT, VM_RW);
    spinlock_release(&ctx->mm_lock);
    if (IS_ERR(v))
        fail("cow_allocate_zeroed_pages", PTR_ERR(v));
    return !IS_ERR(v);
}

static void unmap_all(mm_context_t *ctx, size_t npages)
{
    spinlock_acquire(&ctx->mm_lock);
    int err = mm_unmap_user_pages_locked(ctx, BENCH_VA, npages);
    spinlock_release(&ctx->mm_lock);
    if (err)
        fail("mm_unmap_user_pages_locked", err);
}

/* Cycles per page of touching every page (write or read), each access
 * faulting once; -1 if an access failed or the faults do not add up. */
static int64_t touch_pages(size_t npages, bool write)
{
    size_t resolved0 = kernel_fault_stats.mm_resolved;
    uint8_t byte;
    uint64_t t0 = arch_cycles();
    for (size_t i = 0; i < npages; i++) {
        volatile uint8_t *p = (volatile uint8_t *)(BENCH_VA + i * PAGE_SIZE);
        int err = write ? arch_probe_user_write(p, 1) : arch_probe_user_read(p, &byte);
        if (err) {
            fail("access to the bench vmap", err);
            return -1;
        }
    }
    int64_t cycles = (int64_t)(arch_cycles() - t0);
    size_t faults = kernel_fault_stats.mm_resolved - resolved0;
    if (faults != npages) {
        fail("faults for the pages touched", (long)faults);
        return -1;
    }
    return cycles / (int64_t)npages;
}

/* Cycles of a fault the memory manager refuses at once (no vmap there) and
 * the exception table resumes: the trap round trip the fault paths share. */
static int64_t measure_refused_fault(void)
{
    int64_t v[BENCH_REPS];
    uint8_t byte;
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        uint64_t t0 = arch_cycles();
        for (unsigned i = 0; i < 256; i++)
            if (arch_probe_user_read((const volatile uint8_t *)(BENCH_VA - PAGE_SIZE), &byte) != -EFAULT) {
                fail("access below the bench vmap did not fault", 0);
                return 0;
            }
        v[rep] = (int64_t)(arch_cycles() - t0) / 256;
    }
    return median(v, BENCH_REPS);
}

/* Median cycles per call of probe(i) over BENCH_REPS rounds of 256 calls. */
static int64_t per_call(void (*probe)(unsigned i))
{
    int64_t v[BENCH_REPS];
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        uint64_t t0 = arch_cycles();
        for (unsigned i = 0; i < 256; i++)
            probe(i);
        v[rep] = (int64_t)(arch_cycles() - t0) / 256;
    }
    return median(v, BENCH_REPS);
}

static void user_read_resident(unsigned i)
{
    uint8_t byte;
    (void)i;
    if (arch_probe_user_read((const volatile uint8_t *)BENCH_VA, &byte))
        fail("read of a resident bench page", 0);
}

static void kernel_read_refused(unsigned i)
{
    uint8_t byte;
    (void)i;
    if (arch_probe_read((const volatile uint8_t *)(BENCH_VA - PAGE_SIZE), &byte) != -EFAULT)
        fail("kernel read below the bench vmap did not fault", 0);
}

static mm_context_t *invalidate_ctx;
static void invalidate_page(unsigned i)
{
    ptr_t va = BENCH_VA + (i % 16) * PAGE_SIZE;
    hal_tlb_invalidate(invalidate_ctx->pgd, va, va + PAGE_SIZE);
}

/* What the kernel-mode figures are made of, as info lines: one access with
 * user access enabled around it and no fault (the copy helpers' entry and
 * exit), a refused fault with user access off (the bare trap round trip and
 * fixup), and the TLB invalidation of one page that a copy-on-write fault
 * makes. Under QEMU before 8.1 the first and last are full soft-TLB flushes
 * on riscv64 (any sstatus.SUM change, any sfence.vma), which then also slow
 * what runs next. */
static void measure_parts(mm_context_t *ctx)
{
    if (!anon_vmap(ctx, 16))
        return;
    if (touch_pages(16, true) >= 0) {
        invalidate_ctx = ctx;
        int64_t access = per_call(user_read_resident), trap = per_call(kernel_read_refused);
        int64_t inval = per_call(invalidate_page);
        printk("kmmbench: info kmode.user_access_ns=%llu (one access with user access enabled, no fault)\n",
               (unsigned long long)(tenths_ns(access) / 10));
        printk("kmmbench: info kmode.trap_ns=%llu (refused fault with user access off: trap round trip, fixup)\n",
               (unsigned long long)(tenths_ns(trap) / 10));
        printk("kmmbench: info kmode.tlb_invalidate_page_ns=%llu (hal_tlb_invalidate of one user page)\n",
               (unsigned long long)(tenths_ns(inval) / 10));
    }
    unmap_all(ctx, 16);
}

static void measure_faults(mm_context_t *ctx, int64_t *zf, int64_t *zr, int64_t *cow)
{
    int64_t f[BENCH_REPS], r[BENCH_REPS], c[BENCH_REPS];
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        if (!anon_vmap(ctx, FAULT_PAGES))
            return;
        f[rep] = touch_pages(FAULT_PAGES, true);
        unmap_all(ctx, FAULT_PAGES);
        if (!anon_vmap(ctx, FAULT_PAGES))
            return;
        r[rep] = touch_pages(FAULT_PAGES, false);
        unmap_all(ctx, FAULT_PAGES);

        if (!anon_vmap(ctx, FAULT_PAGES))
            return;
        touch_pages(FAULT_PAGES, true);
        mm_context_t *child = mm_clone_context(ctx);
        if (IS_ERR(child))
            return fail("mm_clone_context", PTR_ERR(child));
        c[rep] = touch_pages(FAULT_PAGES, true);
        mm_destroy_context(child);
        unmap_all(ctx, FAULT_PAGES);
    }
    *zf = median(f, BENCH_REPS);
    *zr = median(r, BENCH_REPS);
    *cow = median(c, BENCH_REPS);
}

/* Whole-operation cycles of fork, protect (one change) and unmap over a
 * resident private vmap of npages. */
static void measure_region(mm_context_t *ctx, size_t npages, int64_t *fork, int64_t *prot, int64_t *unmap)
{
    int64_t f[BENCH_REPS], p[BENCH_REPS], u[BENCH_REPS];
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        if (!anon_vmap(ctx, npages) || touch_pages(npages, true) < 0)
            return;
        uint64_t t0 = arch_cycles();
        mm_context_t *child = mm_clone_context(ctx);
        f[rep] = (int64_t)(arch_cycles() - t0);
        if (IS_ERR(child))
            return fail("mm_clone_context", PTR_ERR(child));
        mm_destroy_context(child);

        spinlock_acquire(&ctx->mm_lock);
        t0 = arch_cycles();
        int e1 = mm_protect_locked(ctx, BENCH_VA, npages, VM_READ);
        int e2 = mm_protect_locked(ctx, BENCH_VA, npages, VM_RW);
        p[rep] = (int64_t)(arch_cycles() - t0) / 2;
        t0 = arch_cycles();
        int e3 = mm_unmap_user_pages_locked(ctx, BENCH_VA, npages);
        u[rep] = (int64_t)(arch_cycles() - t0);
        spinlock_release(&ctx->mm_lock);
        if (e1 || e2 || e3)
            return fail("protect/unmap", e1 ? e1 : e2 ? e2 : e3);
    }
    *fork = median(f, BENCH_REPS);
    *prot = median(p, BENCH_REPS);
    *unmap = median(u, BENCH_REPS);
}

/* ---- several CPUs ---- */
#define PMM_BURST 16
#define PMM_BURSTS 2000

static struct {
    _Atomic unsigned ready;
    _Atomic bool go;
    _Atomic int failed;
    uint64_t t0[SMP_MAX_CPUS], t1[SMP_MAX_CPUS];
} pmm_race;

/* Each CPU of a run: waits for the start, then PMM_BURSTS bursts of
 * PMM_BURST allocations and as many frees. */
static void pmm_worker(void *arg)
{
    (void)arg;
    unsigned cpu = smp_cpu_id();
    pfn_t got[PMM_BURST];
    atomic_fetch_add(&pmm_race.ready, 1);
    while (!atomic_load_explicit(&pmm_race.go, memory_order_acquire))
        smp_poll();
    pmm_race.t0[cpu] = arch_cycles();
    for (unsigned b = 0; b < PMM_BURSTS; b++) {
        for (unsigned i = 0; i < PMM_BURST; i++)
            if ((got[i] = pmm_alloc()) == PMM_NO_FRAME) {
                atomic_store(&pmm_race.failed, 1);
                return;
            }
        for (unsigned i = PMM_BURST; i-- > 0;)
            pmm_free(got[i]);
    }
    pmm_race.t1[cpu] = arch_cycles();
}

/* Cycles per pair, as each of CPUs 0 .. n - 1 sees it (first start to last
 * end over the pairs of one CPU); -1 on a failure. */
static int64_t pmm_race_run(unsigned n)
{
    pmm_race.ready = 0;
    pmm_race.go = false;
    pmm_race.failed = 0;
    for (unsigned c = 1; c < n; c++)
        smp_start_work(c, pmm_worker, NULL);
    while (atomic_load(&pmm_race.ready) < n - 1)
        smp_poll();
    atomic_store_explicit(&pmm_race.go, true, memory_order_release);
    pmm_worker(NULL);
    for (unsigned c = 1; c < n; c++)
        smp_wait_work(c);
    if (pmm_race.failed)
        return -1;
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (unsigned c = 0; c < n; c++) {
        t0 = MIN(t0, pmm_race.t0[c]);
        t1 = MAX(t1, pmm_race.t1[c]);
    }
    return (int64_t)(t1 - t0) / (PMM_BURSTS * PMM_BURST);
}

static int bench_smp(void)
{
    static const unsigned counts[] = { 1, 2, 4 };
    unsigned ncpus = smp_cpu_count();
    printk("kmmbench: info cpus=%u\n", ncpus);
    if (ncpus < 4) {
        printk("kmmbench: error=bench.smp needs 4 CPUs, %u online\n", ncpus);
        return 1;
    }
    mm_stats_t st0, st1;
    mm_get_stats(&st0);
    size_t free0 = pmm_free_frames();

    int status = -1;
    int err = proc_run("ubench_smp", &status);
    if (err || status != 0)
        fail("user benchmark ubench_smp", err ? err : status);

    key_prefix = "kmode.";
    for (unsigned k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        int64_t v[BENCH_REPS];
        for (int rep = 0; rep < BENCH_REPS; rep++)
            if ((v[rep] = pmm_race_run(counts[k])) < 0) {
                fail("pmm_alloc failed in the frame allocator run", (long)counts[k]);
                return 1;
            }
        char key[48];
        snprintf(key, sizeof(key), "pmm.alloc_free.cpus%u", counts[k]);
        say(key, tenths_ns(median(v, BENCH_REPS)));
    }
    /* Every frame is back but object pages the vmap and context caches keep. */
    mm_get_stats(&st1);
    if (pmm_free_frames() + (st1.object_pages - st0.object_pages) != free0 || st1.table_pages != st0.table_pages)
        fail("frames not given back after the benchmark", (long)(free0 - pmm_free_frames()));
    if (failures)
        return 1;
    printk("kmmbench: done\n");
    return 0;
}

int kernel_bench(void)
{
    printk("kmmbench: info guest=kmm\n");
    printk("kmmbench: info paging=%u-level\n", mm_geometry->levels);
    uint64_t hz = arch_cycle_hz();
    if (hz < 1000000) {
        printk("kmmbench: error=no calibrated cycle counter on %s\n", HAL_ARCH_NAME);
        return 1;
    }
    khz = hz / 1000;
    printk("kmmbench: info tsc_mhz=%llu.%llu\n", (unsigned long long)(khz / 1000), (unsigned long long)(khz % 1000 / 100));
    touch_free_memory();
    if (cmdline_has(kernel_boot_info->cmdline, "bench.smp"))
        return bench_smp();
    mm_stats_t st0, st1;
    mm_get_stats(&st0);
    size_t free0 = pmm_free_frames();

    /* The user-mode figures: tests/user/ubench.c prints them. */
    int status = -1;
    int err = proc_run("ubench", &status);
    if (err || status != 0)
        fail("user benchmark ubench", err ? err : status);

    key_prefix = "kmode.";
    int64_t clear = 0, copy = 0;
    measure_clear_copy(&clear, &copy);
    say("clear_page", tenths_ns(clear));
    say("copy_page", tenths_ns(copy));

    mm_context_t *ctx = mm_create_context();
    if (IS_ERR(ctx)) {
        fail("mm_create_context", PTR_ERR(ctx));
        return 1;
    }
    mm_context_t *prev = kernel_current_context();
    kernel_switch_context(ctx);

    measure_parts(ctx);
    int64_t trap = measure_refused_fault();
    printk("kmmbench: info kmode.refused_fault_ns=%llu (trap round trip, exception-table fixup)\n",
           (unsigned long long)(tenths_ns(trap) / 10));
    int64_t zf = 0, zr = 0, cow = 0;
    measure_faults(ctx, &zf, &zr, &cow);
    say("fault.zero_fill", tenths_ns(zf));
    say("fault.zero_fill.net", tenths_ns(zf - clear));
    say("fault.zero_read", tenths_ns(zr));
    say("fault.cow", tenths_ns(cow));
    say("fault.cow.net", tenths_ns(cow - copy));

    int64_t f[2] = { 0, 0 }, p[2] = { 0, 0 }, u[2] = { 0, 0 };
    measure_region(ctx, SMALL_PAGES, &f[0], &p[0], &u[0]);
    measure_region(ctx, LARGE_PAGES, &f[1], &p[1], &u[1]);
    int64_t dp = LARGE_PAGES - SMALL_PAGES;
    say("fork", tenths_ns(f[1] - f[0]) / dp);
    say("protect", tenths_ns(p[1] - p[0]) / dp);
    say("unmap", tenths_ns(u[1] - u[0]) / dp);

    kernel_switch_context(prev);
    mm_destroy_context(ctx);
    /* Every frame is back but object pages the vmap and context caches keep. */
    mm_get_stats(&st1);
    if (pmm_free_frames() + (st1.object_pages - st0.object_pages) != free0 || st1.table_pages != st0.table_pages)
        fail("frames not given back after the benchmark", (long)(free0 - pmm_free_frames()));
    if (failures)
        return 1;
    printk("kmmbench: done\n");
    return 0;
}
