/* tests/boot/test_smp_tlb.c - the memory manager on several CPUs, in kernel
 * mode on the emulated MMU: once an operation that removes or weakens
 * translations has returned, no other CPU uses the old ones (QEMU keeps a
 * TLB per vCPU that only that vCPU's own invalidations empty, so a missing
 * shootdown shows as a stale access), and CPUs shooting down at each other,
 * or spinning on a lock whose holder waits for them, all finish. The other
 * CPUs run test code as work of their own (smp_start_work). Every test
 * needs a second CPU and skips on one. */
#include "kernel/smp.h"
#include "mm/cow.h"
#include "tests/boot/boot_test.h"

#define TVA ((ptr_t)0x40000000)
#define STALE_BOUND 200000 /* reads after the operation returned before "it never faulted" */

/* Spins (serving calls) until *v == want; false after about 10 s. */
static bool wait_eq(_Atomic int *v, int want)
{
    uint64_t hz = arch_cycle_hz(), t0 = arch_cycles();
    for (unsigned long polls = 0; atomic_load(v) != want; polls++) {
        smp_poll();
        if (hz ? arch_cycles() - t0 > 10 * hz : polls > (1ul << 31))
            return false;
    }
    return true;
}

static mm_context_t *anon_context(ktest_state_t *t, size_t npages, uint8_t byte)
{
    mm_context_t *ctx = mm_create_context();
    if (IS_ERR(ctx)) {
        ktest_fail_at(t, __FILE__, __LINE__, "mm_create_context", "error %ld", PTR_ERR(ctx));
        return NULL;
    }
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, npages, TVA, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    spinlock_release(&ctx->mm_lock);
    if (IS_ERR(v)) {
        ktest_fail_at(t, __FILE__, __LINE__, "mm_map_anonymous_locked", "error %ld", PTR_ERR(v));
        mm_destroy_context(ctx);
        return NULL;
    }
    mm_context_t *was = kernel_current_context();
    kernel_switch_context(ctx);
    for (size_t p = 0; p < npages; p++)
        for (size_t off = 0; off < PAGE_SIZE; off += 512)
            bt_write(TVA + p * PAGE_SIZE + off, true, byte);
    kernel_switch_context(was);
    return ctx;
}

/* ---- a stale read after munmap ---- */

typedef struct probe {
    mm_context_t *ctx;
    ptr_t va;
    bool user, write;
    uint8_t expect;      /* reads: the byte every successful read must see */
    _Atomic int phase;   /* 1: translation cached; 2: the operation returned */
    int err;             /* the access that ended the loop */
    int bad;             /* a byte other than expect, or -1 */
    unsigned long after; /* accesses that succeeded after phase 2 */
    _Atomic unsigned long reads; /* accesses made so far */
} probe_t;

/* On another CPU: runs in ctx, caches the translation, then keeps accessing
 * until an access faults; counts accesses that still succeed after the
 * operation returned (there may be none). */
static void probe_work(void *arg)
{
    probe_t *p = arg;
    kernel_switch_context(p->ctx);
    uint8_t b = 0;
    int err = p->write ? bt_write(p->va, p->user, 1) : bt_read(p->va, p->user, &b);
    p->bad = !p->write && b != p->expect ? b : -1;
    atomic_store(&p->phase, 1);
    for (unsigned long i = 2; !err && p->bad < 0; i++) {
        smp_poll();
        int phase = atomic_load(&p->phase);
        err = p->write ? bt_write(p->va, p->user, (uint8_t)i) : bt_read(p->va, p->user, &b);
        atomic_fetch_add(&p->reads, 1);
        if (err)
            break;
        if (!p->write && b != p->expect)
            p->bad = b;
        if (phase == 2 && ++p->after > STALE_BOUND)
            break;
    }
    p->err = err;
    kernel_switch_context(mm_kernel_context());
}

/* Takes up to n free frames and fills them with byte (frames just freed are
 * handed out first), so a frame freed too early is overwritten. */
static size_t grab_frames(pfn_t *out, size_t n, uint8_t byte)
{
    size_t got = 0;
    for (; got < n; got++) {
        out[got] = pmm_alloc();
        if (out[got] == PMM_NO_FRAME)
            break;
        memset(pfn_va(out[got]), byte, PAGE_SIZE);
    }
    return got;
}

static pfn_t grabbed[512];

KTEST(smp_tlb_munmap_then_other_cpu_read_faults_never_new_bytes)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = anon_context(t, 4, 0xa1);
    KT_ASSERT(t, ctx, "no context");
    static probe_t p;
    p = (probe_t){ .ctx = ctx, .va = TVA + PAGE_SIZE, .user = true, .expect = 0xa1 };
    unsigned cpu = smp_cpu_count() - 1;
    smp_start_work(cpu, probe_work, &p);
    KT_ASSERT(t, wait_eq(&p.phase, 1), "cpu %u never read the page", cpu);
    unsigned long sd0 = atomic_load(&smp_cpu(cpu)->shootdowns);
    KT_EXPECT(t, bt_unmap_user(ctx, TVA, 4) == 0, "munmap failed");
    atomic_store(&p.phase, 2);
    size_t n = grab_frames(grabbed, 512, 0xee);
    smp_wait_work(cpu);
    for (size_t i = 0; i < n; i++)
        pmm_free(grabbed[i]);
    KT_EXPECT(t, p.err == -EFAULT, "cpu %u's read after munmap: %d (%lu reads still succeeded)", cpu, p.err, p.after);
    KT_EXPECT(t, p.bad < 0, "cpu %u read %#x from the unmapped page: its stale translation reached a reused frame",
              cpu, p.bad);
    KT_EXPECT(t, p.after == 0, "cpu %u read the page %lu times after munmap returned", cpu, p.after);
    /* One shootdown, or none where the invalidation itself reaches every
     * CPU (aarch64's inner-shareable TLBI: HAL_GEOMETRY_BROADCAST_INVALIDATION). */
    unsigned long want = hal_invalidation_broadcasts(kernel_geometry) ? 0 : 1;
    KT_EXPECT(t, atomic_load(&smp_cpu(cpu)->shootdowns) == sd0 + want, "cpu %u carried out %lu shootdowns, expected %lu",
              cpu, atomic_load(&smp_cpu(cpu)->shootdowns) - sd0, want);
    mm_destroy_context(ctx);
    KT_EXPECT(t, pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}

/* Inside the shootdown window of a munmap (tables changed, no other CPU
 * invalidated yet), the frames just unmapped must still be held: this CPU
 * takes every frame it can and fills it with 0xee while the other CPU goes on
 * reading through its old translation, which must keep showing 0xa1. */
typedef struct window {
    probe_t *p;
    size_t grabbed;
    unsigned long reads_in_window;
} window_t;

static void fill_in_window(void *arg)
{
    window_t *w = arg;
    w->grabbed = grab_frames(grabbed, 512, 0xee);
    unsigned long r0 = atomic_load(&w->p->reads);
    uint64_t hz = arch_cycle_hz(), t0 = arch_cycles();
    while (atomic_load(&w->p->reads) < r0 + 1000 && w->p->bad < 0 &&
           (hz ? arch_cycles() - t0 < hz / 5 : atomic_load(&w->p->reads) < r0 + 1000))
        smp_poll();
    w->reads_in_window = atomic_load(&w->p->reads) - r0;
}

KTEST(smp_tlb_munmap_keeps_frames_until_every_cpu_invalidated)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = anon_context(t, 4, 0xa1);
    KT_ASSERT(t, ctx, "no context");
    static probe_t p;
    p = (probe_t){ .ctx = ctx, .va = TVA + 2 * PAGE_SIZE, .user = true, .expect = 0xa1 };
    unsigned cpu = 1;
    smp_start_work(cpu, probe_work, &p);
    KT_ASSERT(t, wait_eq(&p.phase, 1), "cpu %u never read the page", cpu);
    static window_t w;
    w = (window_t){ .p = &p };
    smp_test_set_shootdown_hook(fill_in_window, &w);
    KT_EXPECT(t, bt_unmap_user(ctx, TVA, 4) == 0, "munmap failed");
    smp_test_set_shootdown_hook(NULL, NULL);
    atomic_store(&p.phase, 2);
    smp_wait_work(cpu);
    for (size_t i = 0; i < w.grabbed; i++)
        pmm_free(grabbed[i]);
    /* Where the invalidation broadcasts there is no shootdown and so no
     * window: the frames are freed after a TLBI that every CPU has
     * completed, and the hook never runs. */
    if (hal_invalidation_broadcasts(kernel_geometry))
        KT_EXPECT(t, w.grabbed == 0 && w.reads_in_window == 0, "the shootdown hook ran (%zu frames taken)", w.grabbed);
    else
        KT_EXPECT(t, w.grabbed > 0, "no frame to take in the window");
    KT_EXPECT(t, p.bad < 0, "cpu %u read %#x through its old translation: the frame was freed before it invalidated",
              cpu, p.bad);
    KT_EXPECT(t, p.err == -EFAULT && p.after == 0, "cpu %u after munmap: err %d, %lu reads still succeeded", cpu, p.err,
              p.after);
    mm_destroy_context(ctx);
    KT_EXPECT(t, pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}

/* ---- mprotect RW -> RO: no write lands once it returned ---- */

KTEST(smp_tlb_mprotect_ro_then_no_write_from_other_cpu_lands)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = anon_context(t, 1, 0);
    KT_ASSERT(t, ctx, "no context");
    static probe_t p;
    p = (probe_t){ .ctx = ctx, .va = TVA + 64, .user = true, .write = true };
    unsigned cpu = 1;
    smp_start_work(cpu, probe_work, &p);
    KT_ASSERT(t, wait_eq(&p.phase, 1), "cpu %u never wrote the page", cpu);
    spinlock_acquire(&ctx->mm_lock);
    int perr = mm_protect_locked(ctx, TVA, 1, VM_READ | VM_USER);
    spinlock_release(&ctx->mm_lock);
    atomic_store(&p.phase, 2);
    KT_EXPECT(t, perr == 0, "mprotect: %d", perr);
    uint64_t pa;
    spinlock_acquire(&ctx->mm_lock);
    int err = mm_do_translate(ctx, TVA, &pa, NULL);
    spinlock_release(&ctx->mm_lock);
    KT_ASSERT(t, err == 0, "translate: %d", err);
    uint8_t at_return = *(volatile uint8_t *)mm_phys_to_virt(pa + 64);
    smp_wait_work(cpu);
    uint8_t now = *(volatile uint8_t *)mm_phys_to_virt(pa + 64);
    KT_EXPECT(t, p.err == -EFAULT, "cpu %u's write after mprotect: %d", cpu, p.err);
    KT_EXPECT(t, p.after == 0 && now == at_return, "cpu %u wrote %lu times after mprotect returned (byte %#x, then %#x)",
              cpu, p.after, now, at_return);
    mm_destroy_context(ctx);
    KT_EXPECT(t, pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}

/* ---- kernel-half mappings are cached by every CPU ---- */

KTEST(smp_tlb_kernel_unmap_invalidates_every_cpu)
{
    unsigned n = smp_cpu_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    ptr_t kva = bt_kernel_window() + 0x200000;
    pfn_t f = pmm_alloc_zeroed();
    KT_ASSERT(t, f != PMM_NO_FRAME, "no frame");
    memset(pfn_va(f), 0x3c, PAGE_SIZE);
    KT_ASSERT(t, mm_do_map_kernel(mm_kernel_context(), kva, f, 1, VM_RW | VM_GLOBAL) == 0, "kernel map failed");
    static probe_t p[SMP_MAX_CPUS];
    for (unsigned c = 1; c < n; c++) {
        p[c] = (probe_t){ .ctx = mm_kernel_context(), .va = kva, .expect = 0x3c };
        smp_start_work(c, probe_work, &p[c]);
    }
    for (unsigned c = 1; c < n; c++)
        KT_ASSERT(t, wait_eq(&p[c].phase, 1), "cpu %u never read the page", c);
    mm_unmap_kernel_pages(mm_kernel_context(), kva, 1);
    for (unsigned c = 1; c < n; c++)
        atomic_store(&p[c].phase, 2);
    pmm_free(f);
    size_t got = grab_frames(grabbed, 64, 0xee);
    for (unsigned c = 1; c < n; c++)
        smp_wait_work(c);
    for (size_t i = 0; i < got; i++)
        pmm_free(grabbed[i]);
    for (unsigned c = 1; c < n; c++) {
        KT_EXPECT(t, p[c].err == -EFAULT && p[c].bad < 0 && p[c].after == 0,
                  "cpu %u after the kernel unmap: err %d, byte %#x, %lu reads still succeeded", c, p[c].err, p[c].bad,
                  p[c].after);
    }
}

/* ---- CPUs shooting down at each other, and spinning on each other's locks ---- */

typedef struct crossfire {
    mm_context_t *run_in, *work_on; /* active here; operated on (active on another CPU) */
    ptr_t kva;                      /* a kernel page of its own to map and unmap */
    pfn_t frame;
    unsigned rounds;
    _Atomic int *start;
    int err;
    _Atomic int done;
} crossfire_t;

/* Unmaps and refaults a page of a context another CPU runs (a shootdown to
 * that CPU), and maps and unmaps a kernel page (a shootdown to every CPU,
 * under the kernel context's lock, which the others want too). */
static void crossfire_work(void *arg)
{
    crossfire_t *c = arg;
    kernel_switch_context(c->run_in);
    while (!atomic_load(c->start))
        smp_poll();
    for (unsigned i = 0; i < c->rounds && !c->err; i++) {
        spinlock_acquire(&c->work_on->mm_lock);
        c->err = mm_do_unmap(c->work_on, TVA, 1); /* the page goes, the vmap stays */
        spinlock_release(&c->work_on->mm_lock);
        if (!c->err)
            c->err = mm_do_map_kernel(mm_kernel_context(), c->kva, c->frame, 1, VM_RW | VM_GLOBAL);
        if (!c->err)
            mm_unmap_kernel_pages(mm_kernel_context(), c->kva, 1);
        if (!c->err) {
            /* Refault in the other context: its lock, then a map. */
            hal_fault_t f = { .addr = TVA, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 0 };
            c->err = mm_handle_fault(c->work_on, &f);
        }
    }
    kernel_switch_context(mm_kernel_context());
    atomic_store(&c->done, 1);
}

KTEST(smp_tlb_cpus_shooting_down_at_each_other_all_finish)
{
    unsigned n = smp_cpu_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    size_t free0 = pmm_free_frames();
    static crossfire_t c[SMP_MAX_CPUS];
    mm_context_t *ctx[SMP_MAX_CPUS];
    static _Atomic int start;
    atomic_store(&start, 0);
    for (unsigned i = 0; i < n; i++) {
        ctx[i] = anon_context(t, 1, (uint8_t)i);
        KT_ASSERT(t, ctx[i], "no context %u", i);
    }
    for (unsigned i = 0; i < n; i++) {
        c[i] = (crossfire_t){ .run_in = ctx[i], .work_on = ctx[(i + 1) % n], .kva = bt_kernel_window() + 0x400000 + i * PAGE_SIZE,
                              .frame = pmm_alloc_zeroed(), .rounds = 100, .start = &start };
        KT_ASSERT(t, c[i].frame != PMM_NO_FRAME, "no frame");
        if (i)
            smp_start_work(i, crossfire_work, &c[i]);
    }
    atomic_store(&start, 1);
    crossfire_work(&c[0]);
    for (unsigned i = 1; i < n; i++) {
        KT_EXPECT(t, wait_eq(&c[i].done, 1), "cpu %u never finished (deadlock?)", i);
        smp_wait_work(i);
    }
    for (unsigned i = 0; i < n; i++) {
        KT_EXPECT(t, c[i].err == 0, "cpu %u: error %d", i, c[i].err);
        pmm_free(c[i].frame);
        mm_destroy_context(ctx[i]);
    }
    KT_EXPECT(t, pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}
