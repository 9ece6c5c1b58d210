/* tests/concurrency/stress.c - threads on the host sharing contexts and
 * frames, meant to run under ThreadSanitizer (build/tsan): fault storms on
 * one page, fork while other threads fault and write, unmap while others
 * look up, reference-count traffic on shared frames, kernel-half maps from
 * several threads, the frame allocator's per-CPU caches drained while CPUs
 * allocate and free, and a statistics reader throughout. Faults go through
 * mm_handle_fault; translations are checked with mm_do_translate under the
 * context's lock, and page bytes are read and written under it (what the
 * kernel's copy helpers would do with the page pinned). After each scenario,
 * quiescent: the invariant checker, and free frames / table pages back.
 *
 *   concurrency-<arch> [--geometry NAME] [--scale N]     TAP on stdout
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/host/kmm_host.h"
#include "mm/check.h"
#include "mm/cow.h"

#define NTHREADS 4
#define VA ((ptr_t)0x40000000)
#define SHVA ((ptr_t)0x50000000)
#define NPAGES 16

static unsigned scale = 1;
static int tap_point;
static atomic_int failures; /* checks failed in the current scenario */
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

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void lock(mm_context_t *c) { spinlock_acquire(&c->mm_lock); }
static void unlock(mm_context_t *c) { spinlock_release(&c->mm_lock); }

static int fault(mm_context_t *c, ptr_t va, hal_access_t acc)
{
    hal_fault_t f = { .addr = va, .access = acc, .user_mode = true, .present = -1 };
    return mm_handle_fault(c, &f);
}

/* Writes v at va the way a kernel copy helper would: fault until the page is
 * writable, then store with the lock held so the frame cannot change. */
static void store(mm_context_t *c, ptr_t va, uint64_t v)
{
    for (int tries = 0; tries < 1000; tries++) {
        lock(c);
        uint64_t pa;
        vm_flags f;
        if (mm_do_translate(c, va, &pa, &f) == 0 && (f & VM_WRITE)) {
            *(uint64_t *)mm_phys_to_virt(pa) = v;
            unlock(c);
            return;
        }
        unlock(c);
        int err = fault(c, va, HAL_ACCESS_WRITE);
        CHECK(err == 0, "write fault at %#lx: %d", (unsigned long)va, err);
        if (err)
            return;
    }
    fail("write at %#lx never became possible", (unsigned long)va);
}

/* Reads the word at va under the lock; false if nothing is mapped. */
static bool load(mm_context_t *c, ptr_t va, uint64_t *out)
{
    lock(c);
    uint64_t pa;
    bool ok = mm_do_translate(c, va, &pa, NULL) == 0;
    if (ok) {
        CHECK(pmm_is_allocated(pa >> PAGE_SHIFT) && pmm_refcount(pa >> PAGE_SHIFT) > 0,
              "va %#lx maps pfn %#llx which is not held", (unsigned long)va, (unsigned long long)(pa >> PAGE_SHIFT));
        *out = *(const uint64_t *)mm_phys_to_virt(pa);
    }
    unlock(c);
    return ok;
}

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

typedef struct worker {
    pthread_t tid;
    int id;
    void *arg;
} worker_t;

static pthread_barrier_t start_line;

static void run_threads(int n, void *(*fn)(void *), void *arg)
{
    worker_t w[NTHREADS + 2];
    pthread_barrier_init(&start_line, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){ .id = i, .arg = arg };
        if (pthread_create(&w[i].tid, NULL, fn, &w[i])) {
            perror("pthread_create");
            exit(1);
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(w[i].tid, NULL);
    pthread_barrier_destroy(&start_line);
}

/* ---- a statistics reader running beside every scenario ---- */

static atomic_bool stats_stop;
static void *stats_reader(void *unused)
{
    (void)unused;
    size_t sink = 0;
    while (!atomic_load(&stats_stop)) {
        mm_stats_t s;
        pmm_stats_t p;
        cow_stats_t c;
        mm_get_stats(&s);
        pmm_get_stats(&p);
        cow_get_stats(&c);
        sink += s.table_pages + s.vmaps + s.contexts + s.object_pages + p.free_frames + pmm_free_frames() + c.copies;
    }
    return (void *)sink;
}

/* ---- scenarios ---- */

typedef struct shared {
    mm_context_t *ctx;
    mm_context_t *ctxs[NTHREADS];
    pfn_t frames;
    _Atomic uint64_t last[NPAGES]; /* the latest value written to each page (writers) */
    atomic_bool stop;
} shared_t;

/* Every thread write-faults and reads the same private page and the same
 * shared-object page; one thread keeps unmapping the private page's entry,
 * so the storm keeps re-filling it. Every fault must succeed. */
static void *storm_thread(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    unsigned seed = 7 + (unsigned)w->id;
    pthread_barrier_wait(&start_line);
    for (unsigned i = 0; i < 3000 * scale; i++) {
        unsigned r = rnd(&seed) % 8;
        if (w->id == 0 && r == 0) {
            lock(s->ctx);
            int err = mm_do_unmap(s->ctx, VA, 1); /* the vmap stays: the next fault zero-fills again */
            unlock(s->ctx);
            CHECK(err == 0, "unmap: %d", err);
            continue;
        }
        ptr_t va = r & 1 ? SHVA : VA;
        hal_access_t acc = r & 2 ? HAL_ACCESS_WRITE : HAL_ACCESS_READ;
        int err = fault(s->ctx, va + (rnd(&seed) % PAGE_SIZE), acc);
        CHECK(err == 0, "storm fault at %#lx access %d: %d", (unsigned long)va, acc, err);
        if (acc == HAL_ACCESS_WRITE && va == SHVA)
            store(s->ctx, SHVA + 8 * (size_t)w->id, i);
    }
    return NULL;
}

static void scenario_fault_storm(shared_t *s)
{
    s->ctx = new_ctx();
    anon(s->ctx, VA, 1, VMAP_TYPE_PRIVATE);
    anon(s->ctx, SHVA, 1, VMAP_TYPE_SHARED);
    run_threads(NTHREADS, storm_thread, s);
    uint64_t v;
    CHECK(load(s->ctx, SHVA, &v), "the shared page is not mapped after the storm");
    mm_destroy_context(s->ctx);
}

/* Writers store increasing values into the parent's private and shared
 * pages while one thread forks it again and again: a child sees, for each
 * private page, a value written before its fork finished and not before it
 * started, writes of its own that the parent never sees, and the shared
 * pages as the parent has them. */
static void *fork_writer(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    pthread_barrier_wait(&start_line);
    for (uint64_t n = 1; !atomic_load(&s->stop); n++) {
        for (size_t i = (size_t)w->id - 1; i < NPAGES; i += NTHREADS - 1) {
            store(s->ctx, VA + i * PAGE_SIZE, n << 8 | i);
            atomic_store(&s->last[i], n << 8 | i);
        }
        store(s->ctx, SHVA + (size_t)w->id * PAGE_SIZE, n);
    }
    return NULL;
}

static void *forker(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    pthread_barrier_wait(&start_line);
    for (unsigned k = 0; k < 150 * scale; k++) {
        uint64_t before[NPAGES], after[NPAGES];
        for (size_t i = 0; i < NPAGES; i++)
            before[i] = atomic_load(&s->last[i]);
        mm_context_t *child = mm_clone_context(s->ctx);
        CHECK(!IS_ERR(child), "fork: %ld", PTR_ERR(child));
        if (IS_ERR(child))
            break;
        for (size_t i = 0; i < NPAGES; i++)
            after[i] = atomic_load(&s->last[i]);
        for (size_t i = 0; i < NPAGES; i++) {
            uint64_t v = 0;
            if (!load(child, VA + i * PAGE_SIZE, &v))
                continue; /* untouched when forked */
            /* 0: faulted in (zero-filled) by a writer that had not stored yet;
             * else a round n from the one published before the fork to one
             * past the one published after it (a store lands in the page
             * before its round is published: with none published yet, after
             * is 0 and round 1 is the one past) */
            CHECK((v == 0 && before[i] == 0) ||
                      (v >= before[i] && (v >> 8) <= (after[i] >> 8) + 1 && (v & 0xff) == i),
                  "child page %zu holds %#llx, written between %#llx and %#llx expected", i, (unsigned long long)v,
                  (unsigned long long)before[i], (unsigned long long)after[i]);
        }
        for (size_t i = 0; i < NPAGES; i += 3)
            store(child, VA + i * PAGE_SIZE, 0xc0ffee00u | i);
        for (size_t i = 0; i < NPAGES; i += 3) {
            uint64_t v = 0;
            if (load(s->ctx, VA + i * PAGE_SIZE, &v))
                CHECK((v & ~(uint64_t)0xff) != 0xc0ffee00u, "the parent sees the child's write on page %zu", i);
            CHECK(load(child, VA + i * PAGE_SIZE, &v) && v == (0xc0ffee00u | i), "the child lost its write on page %zu",
                  i);
        }
        mm_destroy_context(child);
    }
    atomic_store(&s->stop, true);
    (void)w;
    return NULL;
}

static void *fork_role(void *p)
{
    worker_t *w = p;
    return w->id == 0 ? forker(p) : fork_writer(p);
}

static void scenario_fork_while_faulting(shared_t *s)
{
    s->ctx = new_ctx();
    anon(s->ctx, VA, NPAGES, VMAP_TYPE_PRIVATE);
    anon(s->ctx, SHVA, NTHREADS, VMAP_TYPE_SHARED);
    run_threads(NTHREADS, fork_role, s);
    mm_destroy_context(s->ctx);
}

/* One thread maps, fills, splits and unmaps areas while the others look
 * translations and vmaps up and take read faults in them. */
static void *mapper(shared_t *s, unsigned seed)
{
    for (unsigned k = 0; k < 1500 * scale; k++) {
        size_t n = 1 + rnd(&seed) % NPAGES;
        lock(s->ctx);
        vmap_t *v = mm_map_anonymous_locked(s->ctx, n, VA, VALLOC_EXACT, VM_RW,
                                            rnd(&seed) % 3 ? VMAP_TYPE_PRIVATE : VMAP_TYPE_SHARED);
        unlock(s->ctx);
        if (IS_ERR(v)) {
            CHECK(PTR_ERR(v) == -EEXIST, "map: %ld", PTR_ERR(v));
        } else {
            for (size_t i = 0; i < n; i += 2)
                store(s->ctx, VA + i * PAGE_SIZE, k);
        }
        size_t off = rnd(&seed) % NPAGES, len = 1 + rnd(&seed) % NPAGES;
        lock(s->ctx);
        int err = mm_unmap_user_pages_locked(s->ctx, VA + off * PAGE_SIZE, len);
        if (rnd(&seed) % 2) {
            err = err ? err : mm_unmap_user_pages_locked(s->ctx, VA, NPAGES);
        }
        unlock(s->ctx);
        CHECK(err == 0, "unmap: %d", err);
    }
    atomic_store(&s->stop, true);
    return NULL;
}

static void *looker(shared_t *s, unsigned seed)
{
    while (!atomic_load(&s->stop)) {
        ptr_t va = VA + (rnd(&seed) % NPAGES) * PAGE_SIZE;
        lock(s->ctx);
        vmap_t *v = vmap_obtain(s->ctx, va, NULL);
        uint64_t pa;
        bool mapped = mm_do_translate(s->ctx, va, &pa, NULL) == 0;
        CHECK(!mapped || !IS_ERR(v), "va %#lx mapped outside every vmap", (unsigned long)va);
        if (mapped)
            CHECK(pmm_refcount(pa >> PAGE_SHIFT) > 0, "va %#lx maps a frame without references", (unsigned long)va);
        unlock(s->ctx);
        (void)mm_get_phys_addr(s->ctx, va);
        int err = fault(s->ctx, va, HAL_ACCESS_READ);
        CHECK(err == 0 || err == -EFAULT, "read fault at %#lx: %d", (unsigned long)va, err);
        uint64_t x;
        (void)load(s->ctx, va, &x);
    }
    return NULL;
}

static void *unmap_role(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    pthread_barrier_wait(&start_line);
    return w->id == 0 ? mapper(s, 99) : looker(s, 5 + (unsigned)w->id);
}

static void scenario_unmap_while_lookup(shared_t *s)
{
    s->ctx = new_ctx();
    run_threads(NTHREADS, unmap_role, s);
    mm_destroy_context(s->ctx);
}

/* Frames shared by many contexts: every thread maps the same explicit
 * frames into its own context, forks it, writes copy-on-write pages of a
 * common parent in children, and tears it all down again, concurrently. */
static void *refcount_thread(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    mm_context_t *mine = s->ctxs[w->id];
    pthread_barrier_wait(&start_line);
    for (unsigned k = 0; k < 120 * scale; k++) {
        vmap_t *v = mm_map_user_pages(mine, VA, s->frames, NPAGES, VM_READ, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_FILE);
        CHECK(!IS_ERR(v), "map of the shared frames: %ld", PTR_ERR(v));
        mm_context_t *c1 = mm_clone_context(mine);
        mm_context_t *c2 = mm_clone_context(s->ctx); /* the common parent: copy-on-write pages */
        CHECK(!IS_ERR(c1) && !IS_ERR(c2), "fork failed");
        for (size_t i = 0; i < NPAGES; i += 1 + (size_t)w->id)
            store(c2, SHVA + i * PAGE_SIZE, (uint64_t)w->id << 32 | k);
        uint64_t x;
        CHECK(load(c1, VA, &x) && x == 0x5eed, "a child of the shared frames reads %#llx", (unsigned long long)x);
        mm_destroy_context(c2);
        mm_destroy_context(c1);
        lock(mine);
        CHECK(mm_unmap_user_pages_locked(mine, VA, NPAGES) == 0, "unmap of the shared frames");
        unlock(mine);
    }
    return NULL;
}

static void scenario_refcount_traffic(shared_t *s)
{
    s->ctx = new_ctx();
    anon(s->ctx, SHVA, NPAGES, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < NPAGES; i++)
        store(s->ctx, SHVA + i * PAGE_SIZE, 0x1000 + i);
    s->frames = pmm_alloc_order(4);
    CHECK(s->frames != PMM_NO_FRAME, "no frames");
    for (size_t i = 0; i < NPAGES; i++)
        *(uint64_t *)pfn_va(s->frames + i) = 0x5eed;
    mm_context_t *holder = new_ctx();
    vmap_t *hv = mm_map_user_pages(holder, VA, s->frames, NPAGES, VM_READ, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_FILE);
    CHECK(!IS_ERR(hv), "holder map");
    for (int i = 0; i < NTHREADS; i++)
        s->ctxs[i] = new_ctx();
    run_threads(NTHREADS, refcount_thread, s);
    for (size_t i = 0; i < NPAGES; i++) {
        CHECK(pmm_refcount(s->frames + i) == 1, "shared frame %zu has %u references after the traffic, expected 1", i,
              pmm_refcount(s->frames + i));
        uint64_t pa;
        lock(s->ctx);
        CHECK(mm_do_translate(s->ctx, SHVA + i * PAGE_SIZE, &pa, NULL) == 0 && pmm_refcount(pa >> PAGE_SHIFT) == 1,
              "the parent's page %zu is still shared", i);
        unlock(s->ctx);
        uint64_t v;
        CHECK(load(s->ctx, SHVA + i * PAGE_SIZE, &v) && v == 0x1000 + i, "the parent's page %zu changed", i);
    }
    for (int i = 0; i < NTHREADS; i++)
        mm_destroy_context(s->ctxs[i]);
    mm_destroy_context(holder);
    mm_destroy_context(s->ctx);
}

/* Kernel-half maps and unmaps from every thread (each in its own 2 MiB
 * blocks, huge leaves and 4 KiB pages), while contexts are created and
 * destroyed (they copy the root's kernel half). */
static void *kernel_thread(void *p)
{
    worker_t *w = p;
    ptr_t base = hal_kernel_start(mm_geometry) + ((ptr_t)96 << 30) + (ptr_t)w->id * (8u << 20);
    unsigned seed = 3 + (unsigned)w->id;
    pthread_barrier_wait(&start_line);
    for (unsigned k = 0; k < 800 * scale; k++) {
        bool huge = rnd(&seed) % 2;
        size_t n = huge ? 512 : 1 + rnd(&seed) % 32;
        ptr_t va = base + (huge ? 0 : (ptr_t)(rnd(&seed) % 512) * PAGE_SIZE);
        pfn_t pfn = huge ? 0x400 : 0x1000 + k;
        int err = mm_do_map_kernel(mm_kernel_context(), va, pfn, n, VM_RW);
        CHECK(err == 0, "kernel map: %d", err);
        ptr_t pa = mm_get_phys_addr(mm_kernel_context(), va + PAGE_SIZE / 2);
        (void)pa; /* another thread's unmap of the same block cannot happen: blocks are per thread */
        CHECK(pa == ((uint64_t)pfn << PAGE_SHIFT) + PAGE_SIZE / 2, "kernel translation %#lx", (unsigned long)pa);
        if (w->id == 0) {
            mm_context_t *c = mm_create_context();
            CHECK(!IS_ERR(c), "create");
            if (!IS_ERR(c))
                mm_destroy_context(c);
        }
        mm_unmap_kernel_pages(mm_kernel_context(), base, 512 + 32);
    }
    return NULL;
}

static void scenario_kernel_maps(shared_t *s)
{
    (void)s;
    run_threads(NTHREADS, kernel_thread, NULL);
}

/* Half the threads clone a vmap of context A into B, the other half one of
 * B into A, each under mm_lock_ctx_pair(source, destination) (MOS's
 * calling convention: the clones take no lock), then destroy the clone,
 * while writers fault on the sources. The pair's order by address is what
 * lets every thread finish; every clone must succeed. */
static void *cross_clone_thread(void *p)
{
    worker_t *w = p;
    shared_t *s = w->arg;
    mm_context_t *src = s->ctxs[w->id & 1], *dst = s->ctxs[!(w->id & 1)];
    ptr_t va = VA + (ptr_t)w->id * 0x100000; /* each thread's own vmap of its source */
    unsigned seed = 11 + (unsigned)w->id;
    pthread_barrier_wait(&start_line);
    for (unsigned i = 0; i < 2000 * scale; i++) {
        if (rnd(&seed) % 4 == 0) {
            store(src, va + (rnd(&seed) % 4) * PAGE_SIZE, i); /* a copy-on-write fault, now and then */
            continue;
        }
        mm_lock_ctx_pair(src, dst);
        vmap_t *v = vmap_obtain(src, va, NULL);
        vmap_t *c = IS_ERR(v) ? v : w->id & 2 ? mm_clone_vmap_locked(v, dst) : cow_clone_vmap_locked(dst, v);
        mm_unlock_ctx_pair(src, dst);
        CHECK(!IS_ERR(c), "clone of %#lx: %ld", (unsigned long)va, PTR_ERR(c));
        if (IS_ERR(c))
            return NULL;
        mm_lock_ctx_pair(dst, NULL);
        vmap_destroy(c);
        mm_unlock_ctx_pair(dst, NULL);
    }
    return NULL;
}

static void scenario_cross_clone(shared_t *s)
{
    s->ctxs[0] = new_ctx();
    s->ctxs[1] = new_ctx();
    for (int i = 0; i < NTHREADS; i++) {
        /* threads 2 and 3 raw-clone: shared memory, as mm_clone_vmap_locked is meant for */
        anon(s->ctxs[i & 1], VA + (ptr_t)i * 0x100000, 4, i & 2 ? VMAP_TYPE_SHARED : VMAP_TYPE_PRIVATE);
        for (size_t k = 0; k < 4; k++)
            store(s->ctxs[i & 1], VA + (ptr_t)i * 0x100000 + k * PAGE_SIZE, k);
    }
    run_threads(NTHREADS, cross_clone_thread, s);
    CHECK(mm_vmap_count(s->ctxs[0]) == NTHREADS / 2 && mm_vmap_count(s->ctxs[1]) == NTHREADS / 2,
          "vmaps left: %zu and %zu", mm_vmap_count(s->ctxs[0]), mm_vmap_count(s->ctxs[1]));
    mm_destroy_context(s->ctxs[0]);
    mm_destroy_context(s->ctxs[1]);
}

/* ---- driver ---- */

typedef struct scenario {
    const char *name;
    void (*run)(shared_t *s);
} scenario_t;

/* The frame allocator's per-CPU caches: each thread is a CPU of its own
 * and allocates and frees bursts (crossing the caches' bounds); thread 0
 * now and then takes every frame it can get, which drains the others'
 * caches while they work, and gives them back. No frame is handed out
 * twice (an owner byte per frame); the counts come back (checked after
 * every scenario). */
static _Atomic uint8_t *frame_owner;
static pfn_t frame_base;

static void *frames_thread(void *p)
{
    worker_t *w = p;
    kmm_host_cpu_set((unsigned)w->id + 1);
    unsigned seed = 11 + (unsigned)w->id;
    size_t cap = w->id == 0 ? (64u << 20) / PAGE_SIZE : 160;
    pfn_t *got = malloc(cap * sizeof(pfn_t));
    pthread_barrier_wait(&start_line);
    for (unsigned k = 0; k < 300 * scale; k++) {
        size_t n = w->id == 0 && k % 50 == 49 ? cap : 1 + rnd(&seed) % 160;
        size_t m = 0;
        for (; m < n; m++) {
            got[m] = pmm_alloc();
            if (got[m] == PMM_NO_FRAME)
                break;
            uint8_t none = 0;
            CHECK(atomic_compare_exchange_strong(&frame_owner[got[m] - frame_base], &none, (uint8_t)(w->id + 1)),
                  "frame %#llx handed out while thread %u holds it", (unsigned long long)got[m], none - 1u);
        }
        /* an allocation may fail here: thread 0 may hold every frame */
        while (m) {
            pfn_t f = got[--m];
            atomic_store(&frame_owner[f - frame_base], 0);
            pmm_free(f);
        }
    }
    free(got);
    return NULL;
}

static void scenario_frame_caches(shared_t *s)
{
    (void)s;
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    frame_base = ps.base_pfn;
    frame_owner = calloc(ps.end_pfn - ps.base_pfn, 1);
    run_threads(NTHREADS, frames_thread, NULL);
    free(frame_owner);
}

static const scenario_t scenarios[] = {
    { "fault storm on one page (private and shared object)", scenario_fault_storm },
    { "fork while other threads fault and write", scenario_fork_while_faulting },
    { "unmap while other threads look up and fault", scenario_unmap_while_lookup },
    { "reference-count traffic on shared frames", scenario_refcount_traffic },
    { "kernel-half maps from every thread", scenario_kernel_maps },
    { "clones A->B and B->A at once under mm_lock_ctx_pair", scenario_cross_clone },
    { "frame allocator: CPUs allocate and free bursts while one runs memory dry", scenario_frame_caches },
};

int main(int argc, char **argv)
{
    const char *geometry = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--geometry") && i + 1 < argc)
            geometry = argv[++i];
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = (unsigned)strtoul(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: %s [--geometry NAME] [--scale N]\n", argv[0]);
            return 2;
        }
    }
    printf("TAP version 13\n1..%zu\n", ARRAY_SIZE(scenarios));
    int bad = 0;
    for (size_t k = 0; k < ARRAY_SIZE(scenarios); k++) {
        if (kmm_host_init(64, geometry) != 0) {
            printf("Bail out! kmm_host_init(64, %s) failed\n", geometry ? geometry : "default");
            return 1;
        }
        size_t free0 = pmm_free_frames();
        mm_stats_t s0;
        mm_get_stats(&s0);
        atomic_store(&failures, 0);
        shared_t *sh = calloc(1, sizeof *sh);
        atomic_store(&stats_stop, false);
        pthread_t reader;
        pthread_create(&reader, NULL, stats_reader, NULL);
        scenarios[k].run(sh);
        atomic_store(&stats_stop, true);
        pthread_join(reader, NULL);
        free(sh);
        mm_check_report_t r;
        int err = mm_check_invariants(&r);
        CHECK(err == 0, "invariants: %zu violations, first: %s", r.violations, r.first);
        mm_stats_t s1;
        mm_get_stats(&s1);
        CHECK(pmm_free_frames() == free0 && s1.table_pages == s0.table_pages && s1.vmaps == s0.vmaps &&
                  s1.contexts == s0.contexts,
              "not back: free frames %zu (start %zu), table pages %zu (%zu), vmaps %zu (%zu), contexts %zu (%zu)",
              pmm_free_frames(), free0, s1.table_pages, s0.table_pages, s1.vmaps, s0.vmaps, s1.contexts, s0.contexts);
        int n = atomic_load(&failures);
        printf("%sok %d - %s: %s%s\n", n ? "not " : "", ++tap_point, kmm_host_geometry()->name, scenarios[k].name,
               n ? "" : ", invariants hold, counters back");
        if (n) {
            printf("# %d failed checks, first: %s\n", n, first_failure);
            bad = 1;
        }
        fflush(stdout);
    }
    return bad;
}
