/* tests/smp/smp_host.c - several CPUs on the host: each thread is a CPU
 * (kmm_host_cpu_set) with its own model TLB in the software MMU, and the
 * generic layer's shootdowns empty the other CPUs' model TLBs. So a missed
 * or too-early remote invalidation, or a frame freed while some CPU still
 * translates to it, is a deterministic failure here:
 *   - the scenario's own check (a stale read or write seen through the
 *     software MMU), and
 *   - host_frames_freed_while_cached(), counted by the allocator's free hook.
 * Scenarios are written twice where it matters: once step by step (the
 * other CPU caches a translation, waits, then tries again: deterministic)
 * and once with the CPUs really running at the same time.
 *
 *   smp-host-<arch> [--geometry NAME] [--rounds N]      TAP on stdout
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/host/kmm_host.h"
#include "mm/check.h"
#include "mm/cow.h"

#define VA ((ptr_t)0x40000000)
#define NPAGES 16
#define NCPUS 4

static const char *geometry;
static unsigned rounds = 20;
static int tap_point, failures_total;
static atomic_int failures;
static char first_failure[256];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            fail(__VA_ARGS__);                                                                                         \
    } while (0)

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    if (atomic_fetch_add(&failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_failure, sizeof first_failure, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&fail_lock);
}

static void lock(mm_context_t *c) { spinlock_acquire(&c->mm_lock); }
static void unlock(mm_context_t *c) { spinlock_release(&c->mm_lock); }

static mm_context_t *new_ctx(void)
{
    mm_context_t *c = mm_create_context();
    if (IS_ERR(c)) {
        fprintf(stderr, "mm_create_context: %ld\n", PTR_ERR(c));
        exit(1);
    }
    return c;
}

static void anon(mm_context_t *c, ptr_t va, size_t n, vmap_type_t type)
{
    lock(c);
    vmap_t *v = mm_map_anonymous_locked(c, n, va, VALLOC_EXACT, VM_RW, type);
    unlock(c);
    if (IS_ERR(v)) {
        fprintf(stderr, "anonymous map at %#lx: %ld\n", (unsigned long)va, PTR_ERR(v));
        exit(1);
    }
}

static void fill(mm_context_t *c, ptr_t va, size_t npages, uint8_t byte)
{
    static uint8_t page[PAGE_SIZE];
    memset(page, byte, sizeof page);
    for (size_t i = 0; i < npages; i++) {
        int err = softmmu_write(c, va + i * PAGE_SIZE, page, PAGE_SIZE, true);
        CHECK(err == 0, "fill %#lx: %d", (unsigned long)(va + i * PAGE_SIZE), err);
    }
}

static uint64_t read_word(mm_context_t *c, ptr_t va, int *err)
{
    uint64_t v = 0;
    *err = softmmu_read(c, va, &v, sizeof v, true);
    return v;
}

/* Takes every free frame and fills it with `byte`, so that a frame freed
 * too early is overwritten; frames_back() returns them. */
static pfn_t *grabbed;
static size_t ngrabbed;
static void grab_all_frames(uint8_t byte)
{
    size_t n = pmm_free_frames();
    grabbed = malloc((n + 1) * sizeof *grabbed);
    ngrabbed = 0;
    pfn_t p;
    while ((p = pmm_alloc()) != PMM_NO_FRAME) {
        memset(pfn_va(p), byte, PAGE_SIZE);
        grabbed[ngrabbed++] = p;
    }
}
static void frames_back(void)
{
    for (size_t i = 0; i < ngrabbed; i++)
        pmm_free(grabbed[i]);
    free(grabbed);
    grabbed = NULL;
    ngrabbed = 0;
}

/* ---- threads as CPUs ---- */

typedef struct cpu_thread {
    pthread_t tid;
    unsigned cpu;
    void *(*fn)(struct cpu_thread *);
    void *arg;
} cpu_thread_t;

static void *cpu_entry(void *p)
{
    cpu_thread_t *t = p;
    kmm_host_cpu_set(t->cpu);
    return t->fn(t);
}

static void start_cpu(cpu_thread_t *t, unsigned cpu, void *(*fn)(cpu_thread_t *), void *arg)
{
    *t = (cpu_thread_t){ .cpu = cpu, .fn = fn, .arg = arg };
    if (pthread_create(&t->tid, NULL, cpu_entry, t)) {
        perror("pthread_create");
        exit(1);
    }
}

static void join_cpu(cpu_thread_t *t) { pthread_join(t->tid, NULL); }

typedef struct step {
    mm_context_t *ctx, *other;
    sem_t go, done;
    _Atomic bool stop;
    _Atomic uint64_t seen_bad, accesses;
    uint64_t value_after;
    int last_err;
} step_t;

static void step_init(step_t *s, mm_context_t *ctx)
{
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
}

/* ---- scenarios ---- */

/* CPU 1 reads a page (its TLB caches the translation) and waits; CPU 0
 * unmaps it, then takes every free frame and fills it with 0xEE; CPU 1
 * reads again: it must fault (-EFAULT: no vmap), never see 0xEE. */
static void *stale_reader_step(cpu_thread_t *t)
{
    step_t *s = t->arg;
    int err;
    uint64_t v = read_word(s->ctx, VA, &err);
    CHECK(err == 0 && v == 0xa1a1a1a1a1a1a1a1ull, "first read: err %d value %#llx", err, (unsigned long long)v);
    sem_post(&s->done);
    sem_wait(&s->go);
    v = read_word(s->ctx, VA, &err);
    s->last_err = err;
    CHECK(err == -EFAULT, "read after munmap returned %d with %#llx (stale translation)", err, (unsigned long long)v);
    sem_post(&s->done);
    return NULL;
}

static void munmap_then_read_step(void)
{
    mm_context_t *c = new_ctx();
    anon(c, VA, NPAGES, VMAP_TYPE_PRIVATE);
    fill(c, VA, NPAGES, 0xa1);
    step_t s;
    step_init(&s, c);
    cpu_thread_t reader;
    start_cpu(&reader, 1, stale_reader_step, &s);
    sem_wait(&s.done);
    mm_stats_t before, after;
    mm_get_stats(&before);
    lock(c);
    int err = mm_unmap_user_pages_locked(c, VA, NPAGES);
    unlock(c);
    CHECK(err == 0, "munmap: %d", err);
    mm_get_stats(&after);
    /* One shootdown of CPU 1; none where the invalidation itself reaches
     * every CPU (aarch64's broadcast TLBI): the read below proves it did. */
    size_t want = hal_invalidation_broadcasts(mm_geometry) ? 0 : 1;
    CHECK(after.shootdowns == before.shootdowns + want, "munmap sent %zu shootdowns, expected %zu",
          after.shootdowns - before.shootdowns, want);
    grab_all_frames(0xee);
    sem_post(&s.go);
    sem_wait(&s.done);
    frames_back();
    join_cpu(&reader);
    mm_destroy_context(c);
}

/* The same with CPU 1 reading in a loop while CPU 0 unmaps and refills. */
static void *stale_reader_loop(cpu_thread_t *t)
{
    step_t *s = t->arg;
    sem_post(&s->done);
    for (unsigned after = 0;; after += atomic_load(&s->stop)) {
        int err;
        uint64_t v = read_word(s->ctx, VA, &err);
        atomic_fetch_add(&s->accesses, 1);
        if (after > 1000) {
            fail("CPU %u still reads the page long after munmap returned", t->cpu);
            return NULL;
        }
        if (err) {
            CHECK(err == -EFAULT, "read: %d", err);
            return NULL;
        }
        if (v != 0xa1a1a1a1a1a1a1a1ull) {
            fail("read %#llx from an unmapped page (stale translation)", (unsigned long long)v);
            return NULL;
        }
    }
}

static void munmap_while_reading(void)
{
    for (unsigned r = 0; r < rounds; r++) {
        mm_context_t *c = new_ctx();
        anon(c, VA, NPAGES, VMAP_TYPE_PRIVATE);
        fill(c, VA, NPAGES, 0xa1);
        step_t s;
        step_init(&s, c);
        cpu_thread_t reader;
        start_cpu(&reader, 1 + r % (NCPUS - 1), stale_reader_loop, &s);
        sem_wait(&s.done);
        while (atomic_load(&s.accesses) < 1 + r % 4)
            ;
        lock(c);
        int err = mm_unmap_user_pages_locked(c, VA, NPAGES);
        unlock(c);
        CHECK(err == 0, "munmap: %d", err);
        atomic_store(&s.stop, true);
        grab_all_frames(0xee);
        join_cpu(&reader);
        frames_back();
        mm_destroy_context(c);
    }
}

/* mprotect RW -> RO: once it has returned, no write from any CPU lands. */
static void *writer_loop(cpu_thread_t *t)
{
    step_t *s = t->arg;
    sem_post(&s->done);
    for (uint64_t i = 1, after = 0;; i++, after += atomic_load(&s->stop)) {
        int err = softmmu_write(s->ctx, VA + 8 * t->cpu, &i, sizeof i, true);
        atomic_fetch_add(&s->accesses, 1);
        if (after > 1000) {
            fail("CPU %u still writes long after mprotect returned", t->cpu);
            return NULL;
        }
        if (err) {
            CHECK(err == -EFAULT, "write: %d", err);
            return NULL;
        }
    }
}

static uint64_t phys_word(mm_context_t *c, ptr_t va)
{
    uint64_t pa;
    lock(c);
    int err = mm_do_translate(c, va, &pa, NULL);
    unlock(c);
    CHECK(err == 0, "translate %#lx: %d", (unsigned long)va, err);
    return err ? 0 : *(volatile uint64_t *)mm_phys_to_virt(pa);
}

static void mprotect_while_writing(void)
{
    for (unsigned r = 0; r < rounds; r++) {
        mm_context_t *c = new_ctx();
        anon(c, VA, 1, VMAP_TYPE_PRIVATE);
        fill(c, VA, 1, 0);
        step_t s;
        step_init(&s, c);
        cpu_thread_t w[NCPUS - 1];
        for (unsigned i = 0; i < NCPUS - 1; i++)
            start_cpu(&w[i], 1 + i, writer_loop, &s);
        for (unsigned i = 0; i < NCPUS - 1; i++)
            sem_wait(&s.done);
        while (atomic_load(&s.accesses) < 3 * (1 + r % 8))
            ;
        lock(c);
        int err = mm_protect_locked(c, VA, 1, VM_READ | VM_USER);
        unlock(c);
        CHECK(err == 0, "mprotect: %d", err);
        atomic_store(&s.stop, true);
        uint64_t at_return[NCPUS];
        for (unsigned i = 1; i < NCPUS; i++)
            at_return[i] = phys_word(c, VA + 8 * i);
        for (unsigned i = 0; i < NCPUS - 1; i++)
            join_cpu(&w[i]);
        for (unsigned i = 1; i < NCPUS; i++) {
            uint64_t now = phys_word(c, VA + 8 * i);
            CHECK(now == at_return[i], "CPU %u wrote %llu after mprotect returned (value then %llu)", i,
                  (unsigned long long)now, (unsigned long long)at_return[i]);
        }
        mm_destroy_context(c);
    }
}

/* Concurrent faults: every CPU touches the same pages and its own pages of a
 * fresh mapping at once; every page ends with exactly one frame and the
 * right bytes. */
typedef struct faults_arg {
    mm_context_t *ctx;
    pthread_barrier_t start;
} faults_arg_t;

static void *fault_toucher(cpu_thread_t *t)
{
    faults_arg_t *a = t->arg;
    pthread_barrier_wait(&a->start);
    for (unsigned p = 0; p < NPAGES; p++) {
        /* Pages 0..3 are everyone's (a word each), the rest one CPU's. */
        if (p < 4 || p % NCPUS == t->cpu) {
            uint64_t v = ((uint64_t)t->cpu << 32) | p;
            int err = softmmu_write(a->ctx, VA + p * PAGE_SIZE + 8 * t->cpu, &v, sizeof v, true);
            CHECK(err == 0, "CPU %u write fault on page %u: %d", t->cpu, p, err);
        }
    }
    return NULL;
}

static void concurrent_faults(void)
{
    for (unsigned r = 0; r < rounds; r++) {
        size_t free0 = pmm_free_frames();
        mm_context_t *c = new_ctx();
        anon(c, VA, NPAGES, VMAP_TYPE_PRIVATE);
        faults_arg_t a = { .ctx = c };
        pthread_barrier_init(&a.start, NULL, NCPUS);
        cpu_thread_t t[NCPUS];
        for (unsigned i = 0; i < NCPUS; i++)
            start_cpu(&t[i], i, fault_toucher, &a);
        for (unsigned i = 0; i < NCPUS; i++)
            join_cpu(&t[i]);
        pthread_barrier_destroy(&a.start);
        kmm_host_cpu_set(0);
        pfn_t frames[NPAGES];
        for (unsigned p = 0; p < NPAGES; p++) {
            uint64_t pa;
            lock(c);
            int err = mm_do_translate(c, VA + p * PAGE_SIZE, &pa, NULL);
            unlock(c);
            CHECK(err == 0, "page %u not mapped: %d", p, err);
            frames[p] = pa >> PAGE_SHIFT;
            CHECK(pmm_refcount(frames[p]) == 1, "page %u: frame refcount %u", p, pmm_refcount(frames[p]));
            for (unsigned q = 0; q < p; q++)
                CHECK(frames[q] != frames[p], "pages %u and %u share frame %#llx", q, p, (unsigned long long)frames[p]);
            for (unsigned cpu = 0; cpu < NCPUS; cpu++) {
                uint64_t want = p < 4 || p % NCPUS == cpu ? ((uint64_t)cpu << 32) | p : 0;
                uint64_t got = *(uint64_t *)mm_phys_to_virt(pa + 8 * cpu);
                CHECK(got == want, "page %u word %u: %#llx, expected %#llx", p, cpu, (unsigned long long)got,
                      (unsigned long long)want);
            }
        }
        mm_check_report_t rep;
        mm_check_invariants(&rep);
        CHECK(rep.violations == 0, "invariant checker: %zu violations", rep.violations);
        mm_destroy_context(c);
        CHECK(pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
    }
}

/* Parent and child write the same copy-on-write pages at once, on different
 * CPUs: each sees only its own bytes; frames come back exactly. */
typedef struct cow_arg {
    mm_context_t *ctx;
    uint8_t byte;
    pthread_barrier_t *start;
} cow_arg_t;

static void *cow_writer(cpu_thread_t *t)
{
    cow_arg_t *a = t->arg;
    pthread_barrier_wait(a->start);
    uint8_t page[PAGE_SIZE];
    memset(page, a->byte, sizeof page);
    for (unsigned i = 0; i < 8; i++)
        for (unsigned p = 0; p < NPAGES; p++) {
            int err = softmmu_write(a->ctx, VA + p * PAGE_SIZE, page, 64, true);
            CHECK(err == 0, "CPU %u cow write page %u: %d", t->cpu, p, err);
            uint8_t back[64];
            err = softmmu_read(a->ctx, VA + p * PAGE_SIZE, back, sizeof back, true);
            CHECK(err == 0 && back[0] == a->byte && back[63] == a->byte, "CPU %u page %u reads %#x, wrote %#x", t->cpu, p,
                  back[0], a->byte);
        }
    return NULL;
}

static void cross_cpu_cow(void)
{
    for (unsigned r = 0; r < rounds; r++) {
        size_t free0 = pmm_free_frames();
        mm_context_t *parent = new_ctx();
        anon(parent, VA, NPAGES, VMAP_TYPE_PRIVATE);
        fill(parent, VA, NPAGES, 0x11);
        mm_context_t *child = mm_clone_context(parent);
        CHECK(!IS_ERR(child), "fork: %ld", PTR_ERR(child));
        if (IS_ERR(child))
            return;
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        cow_arg_t pa = { parent, 0x22, &start }, ca = { child, 0x33, &start };
        cpu_thread_t tp, tc;
        start_cpu(&tp, 1, cow_writer, &pa);
        start_cpu(&tc, 2, cow_writer, &ca);
        join_cpu(&tp);
        join_cpu(&tc);
        pthread_barrier_destroy(&start);
        for (unsigned p = 0; p < NPAGES; p++) {
            uint8_t b[2];
            int e1 = softmmu_read(parent, VA + p * PAGE_SIZE + 100, &b[0], 1, true);
            int e2 = softmmu_read(child, VA + p * PAGE_SIZE + 100, &b[1], 1, true);
            CHECK(e1 == 0 && e2 == 0 && b[0] == 0x11 && b[1] == 0x11, "page %u beyond the writes: %#x / %#x", p, b[0], b[1]);
        }
        mm_check_report_t rep;
        mm_check_invariants(&rep);
        CHECK(rep.violations == 0, "invariant checker: %zu violations", rep.violations);
        mm_destroy_context(child);
        mm_destroy_context(parent);
        CHECK(pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
    }
}

/* Copy-on-write reuse while the other holder's mapping is torn down on
 * another CPU: the child's page is cached read-only by CPU 1; CPU 0 unmaps
 * it, and in the window before CPU 1 has invalidated (the shootdown hook)
 * the parent writes the same page. The parent must copy (the child's
 * reference is still held until the invalidation), so what CPU 1 can still
 * read through its old translation never changes. */
typedef struct reuse_arg {
    mm_context_t *parent, *child;
    pfn_t frame;
    int write_err;
    uint8_t seen_by_cpu1;
    int read_err;
} reuse_arg_t;

static void reuse_window(void *p)
{
    reuse_arg_t *a = p;
    uint8_t b = 0x77;
    a->write_err = softmmu_write(a->parent, VA, &b, 1, true);
    /* What CPU 1 still translates: act as CPU 1 for one read (its thread is parked). */
    kmm_host_cpu_set(1);
    a->read_err = softmmu_read(a->child, VA, &a->seen_by_cpu1, 1, true);
    kmm_host_cpu_set(0);
}

static void *cache_child(cpu_thread_t *t)
{
    reuse_arg_t *a = t->arg;
    uint8_t b;
    int err = softmmu_read(a->child, VA, &b, 1, true);
    CHECK(err == 0 && b == 0x5a, "CPU 1 read of the child's page: %d, %#x", err, b);
    return NULL;
}

static void cow_reuse_vs_teardown(void)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *parent = new_ctx();
    anon(parent, VA, 1, VMAP_TYPE_PRIVATE);
    fill(parent, VA, 1, 0x5a);
    mm_context_t *child = mm_clone_context(parent);
    CHECK(!IS_ERR(child), "fork: %ld", PTR_ERR(child));
    if (IS_ERR(child))
        return;
    reuse_arg_t a = { .parent = parent, .child = child };
    cpu_thread_t t;
    start_cpu(&t, 1, cache_child, &a);
    join_cpu(&t);
    if (hal_invalidation_broadcasts(mm_geometry)) {
        /* No window: the child's unmap drops CPU 1's translation before it
         * returns, and the parent then reuses the frame in place. */
        lock(child);
        int err = mm_unmap_user_pages_locked(child, VA, 1);
        unlock(child);
        CHECK(err == 0, "child munmap: %d", err);
        reuse_window(&a);
        CHECK(a.write_err == 0, "parent write after the unmap: %d", a.write_err);
        CHECK(a.read_err == -EFAULT, "CPU 1 still reads the child's unmapped page (err %d, %#x)", a.read_err,
              a.seen_by_cpu1);
        mm_destroy_context(child);
        mm_destroy_context(parent);
        CHECK(pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
        return;
    }
    host_set_shootdown_hook(reuse_window, &a);
    lock(child);
    int err = mm_unmap_user_pages_locked(child, VA, 1);
    unlock(child);
    CHECK(err == 0, "child munmap: %d", err);
    CHECK(a.write_err == 0, "parent write in the window: %d", a.write_err);
    CHECK(a.read_err == 0 && a.seen_by_cpu1 == 0x5a,
          "CPU 1's old translation of the child's page reads %#x (err %d): the parent wrote the frame in place",
          a.seen_by_cpu1, a.read_err);
    mm_destroy_context(child);
    mm_destroy_context(parent);
    CHECK(pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}

/* fork while sibling threads write: a CPU that cached a writable
 * translation of the parent's page before the fork must not write the frame
 * the child now shares. */
static void *fork_writer(cpu_thread_t *t)
{
    step_t *s = t->arg;
    uint64_t v = 1;
    int err = softmmu_write(s->ctx, VA, &v, sizeof v, true); /* cached writable */
    CHECK(err == 0, "first write: %d", err);
    sem_post(&s->done);
    sem_wait(&s->go);
    v = 2;
    err = softmmu_write(s->ctx, VA, &v, sizeof v, true);
    CHECK(err == 0, "write after fork: %d", err);
    sem_post(&s->done);
    return NULL;
}

static void fork_while_writing(void)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *parent = new_ctx();
    anon(parent, VA, 1, VMAP_TYPE_PRIVATE);
    step_t s;
    step_init(&s, parent);
    cpu_thread_t t;
    start_cpu(&t, 2, fork_writer, &s);
    sem_wait(&s.done);
    mm_context_t *child = mm_clone_context(parent);
    CHECK(!IS_ERR(child), "fork: %ld", PTR_ERR(child));
    if (IS_ERR(child))
        return;
    sem_post(&s.go);
    sem_wait(&s.done);
    join_cpu(&t);
    int err;
    uint64_t cv = read_word(child, VA, &err);
    CHECK(err == 0 && cv == 1, "child reads %llu (err %d): a write after the fork landed in the shared frame",
          (unsigned long long)cv, err);
    uint64_t pv = read_word(parent, VA, &err);
    CHECK(err == 0 && pv == 2, "parent reads %llu (err %d)", (unsigned long long)pv, err);
    mm_destroy_context(child);
    mm_destroy_context(parent);
    CHECK(pmm_free_frames() == free0, "free frames %zu, expected %zu", pmm_free_frames(), free0);
}

/* Kernel-half mappings are cached by every CPU: an unmap invalidates them
 * on all online CPUs before the frames can be given back. */
static void *kernel_reader(cpu_thread_t *t)
{
    step_t *s = t->arg;
    ptr_t kva = (ptr_t)s->value_after;
    uint8_t b;
    softmmu_set_user_access(false);
    int err = softmmu_read(s->ctx, kva, &b, 1, false);
    CHECK(err == 0 && b == 0x3c, "kernel read on CPU %u: %d, %#x", t->cpu, err, b);
    sem_post(&s->done);
    sem_wait(&s->go);
    uint64_t pa;
    softmmu_result_t r = softmmu_access(s->ctx, kva, HAL_ACCESS_READ, false, &pa);
    CHECK(r == SOFTMMU_NOT_PRESENT, "CPU %u still translates an unmapped kernel page (result %d)", t->cpu, r);
    sem_post(&s->done);
    return NULL;
}

static void kernel_unmap_everywhere(void)
{
    mm_context_t *k = mm_kernel_context();
    ptr_t kva = hal_kernel_start(mm_geometry) + ((ptr_t)64 << 30);
    pfn_t f = pmm_alloc_zeroed();
    CHECK(f != PMM_NO_FRAME, "no frame");
    memset(pfn_va(f), 0x3c, PAGE_SIZE);
    int err = mm_do_map_kernel(k, kva, f, 1, VM_RW | VM_GLOBAL);
    CHECK(err == 0, "kernel map: %d", err);
    step_t s;
    step_init(&s, k);
    s.value_after = kva;
    cpu_thread_t t[NCPUS - 1];
    for (unsigned i = 0; i < NCPUS - 1; i++)
        start_cpu(&t[i], 1 + i, kernel_reader, &s);
    for (unsigned i = 0; i < NCPUS - 1; i++)
        sem_wait(&s.done);
    mm_unmap_kernel_pages(k, kva, 1);
    pmm_free(f);
    for (unsigned i = 0; i < NCPUS - 1; i++)
        sem_post(&s.go);
    for (unsigned i = 0; i < NCPUS - 1; i++) {
        sem_wait(&s.done);
        join_cpu(&t[i]);
    }
}

/* ---- harness ---- */

static void run(const char *name, void (*fn)(void))
{
    atomic_store(&failures, 0);
    first_failure[0] = 0;
    kmm_host_cpu_set(0);
    size_t cached0 = host_frames_freed_while_cached();
    fn();
    kmm_host_cpu_set(0);
    size_t cached = host_frames_freed_while_cached() - cached0;
    if (cached)
        fail("%zu translations were still cached by some CPU when their frames were freed", cached);
    mm_check_report_t rep;
    mm_check_invariants(&rep);
    if (rep.violations)
        fail("invariant checker: %zu violations", rep.violations);
    int n = atomic_load(&failures);
    tap_point++;
    if (n) {
        failures_total++;
        printf("not ok %d - %s %s\n# %d failed checks, first: %s\n", tap_point, geometry, name, n, first_failure);
    } else {
        printf("ok %d - %s %s\n", tap_point, geometry, name);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--geometry") && i + 1 < argc)
            geometry = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--geometry NAME] [--rounds N]\n", argv[0]);
            return 2;
        }
    }
    int err = kmm_host_init(64, geometry);
    if (err) {
        fprintf(stderr, "kmm_host_init(64, %s): %d\n", geometry ? geometry : "(default)", err);
        return 1;
    }
    geometry = kmm_host_geometry()->name;
    for (unsigned cpu = 0; cpu < NCPUS; cpu++)
        kmm_host_cpu_set(cpu); /* every simulated CPU online */
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        { "munmap_then_other_cpu_read_faults", munmap_then_read_step },
        { "munmap_while_other_cpu_reads_never_shows_new_bytes", munmap_while_reading },
        { "mprotect_ro_then_no_write_lands_from_any_cpu", mprotect_while_writing },
        { "concurrent_faults_one_frame_per_page", concurrent_faults },
        { "cross_cpu_cow_each_side_sees_own_writes", cross_cpu_cow },
        { "cow_reuse_waits_for_other_holders_shootdown", cow_reuse_vs_teardown },
        { "fork_write_protects_parent_on_every_cpu", fork_while_writing },
        { "kernel_unmap_invalidates_every_online_cpu", kernel_unmap_everywhere },
    };
    size_t n = sizeof tests / sizeof tests[0];
    printf("TAP version 13\n1..%zu\n", n);
    for (size_t i = 0; i < n; i++)
        run(tests[i].name, tests[i].fn);
    printf("# smp-host %s: %zu scenarios, %zu remote invalidations, %d failed\n", geometry, n,
           host_remote_invalidations(), failures_total);
    return failures_total ? 1 : 0;
}
