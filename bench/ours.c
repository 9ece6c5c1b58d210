/* bench/ours.c - the generic layer over the host platform (simulated RAM,
 * the x86_64 codec), doing what bench/linux.c asks of the host kernel:
 *   map      a new vmap with fresh zeroed frames mapped (MAP_POPULATE)
 *   unmap    the vmap gone, its frames given back (munmap)
 *   protect  mm_protect_locked RW->RO and back (mprotect), per change
 *   fork     mm_clone_context of a context holding the resident private
 *            vmap (fork): copy-on-write, the child destroyed untimed
 *   getfree  mm_get_free_vaddr_locked of one page with n vmaps present
 *   lookup   vmap_obtain of a random vmap among n
 * Every step checks its result and the frame count, so a broken layer
 * stops the benchmark instead of timing nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "hal/host/kmm_host.h"
#include "mm/cow.h"

#define REGION_VA ((ptr_t)0x40000000)
#define VMAPS_VA ((ptr_t)0x100000000)

#define FAIL(r, ...)                                                                                                   \
    do {                                                                                                               \
        snprintf((r)->error, sizeof((r)->error), __VA_ARGS__);                                                         \
        return -1;                                                                                                     \
    } while (0)

/* Touches every page of the simulated RAM once (keeping its bytes), so the
 * host's first-touch faults stay out of the figures. */
static void prefault_ram(void)
{
    uint8_t *ram = mm_phys_to_virt(kmm_host_phys_base());
    size_t size = kmm_host_phys_size();
#ifdef MADV_POPULATE_WRITE
    if (madvise(ram, size, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t off = 0; off < size; off += 4096) {
        volatile uint8_t *p = ram + off;
        *p = *p;
    }
}

/* Maps npages fresh zeroed frames at REGION_VA in a new private vmap, as
 * MAP_POPULATE does: a frame allocated and cleared per page, mapped in
 * runs of consecutive frames. Needs ctx's lock. */
static vmap_t *map_populated(mm_context_t *ctx, size_t npages, pfn_t *pfns)
{
    vmap_t *v = mm_get_free_vaddr_locked(ctx, npages, REGION_VA, VALLOC_EXACT);
    if (IS_ERR(v))
        return v;
    for (size_t i = 0; i < npages; i++) {
        pfns[i] = pmm_alloc_zeroed();
        if (pfns[i] == PMM_NO_FRAME)
            return ERR_PTR(-ENOMEM);
    }
    for (size_t i = 0; i < npages;) {
        size_t run = 1;
        while (i + run < npages && pfns[i + run] == pfns[i] + run)
            run++;
        int err = mm_do_map(ctx, v->vaddr + i * PAGE_SIZE, pfns[i], run, VM_USER_RW);
        if (err)
            return ERR_PTR(err);
        i += run;
    }
    v->vmflags = VM_USER_RW;
    v->type = VMAP_TYPE_PRIVATE;
    v->content = VMAP_MMAP;
    v->on_fault = cow_fault_handler;
    return v;
}

/* One region size: c->reps rounds of map, protect, fork, unmap; the
 * whole-operation times go to samples. 0, or -1 with r->error set. */
static int bench_region(const bench_config_t *c, size_t s, double samples[OP_PAGE_COUNT][BENCH_MAX_REPS],
                        side_result_t *r)
{
    size_t npages = mib_pages(c->size_mib[s]);
    pfn_t *pfns = malloc(npages * sizeof(*pfns));
    mm_context_t *ctx = mm_create_context();
    if (!pfns || IS_ERR(ctx)) {
        free(pfns);
        FAIL(r, "ours: no memory for a context of %zu pages", npages);
    }
    int rep;
    for (rep = 0; rep < c->reps; rep++) {
        mm_stats_t st0, st1;
        mm_get_stats(&st0);
        size_t free0 = pmm_free_frames();
        spinlock_acquire(&ctx->mm_lock);
        uint64_t t0 = now_ns();
        vmap_t *v = map_populated(ctx, npages, pfns);
        uint64_t t1 = now_ns();
        samples[OP_MAP][rep] = (double)(t1 - t0);
        if (IS_ERR(v) || free0 - pmm_free_frames() < npages ||
            !mm_get_is_mapped_locked(ctx, REGION_VA + (npages - 1) * PAGE_SIZE)) {
            spinlock_release(&ctx->mm_lock);
            snprintf(r->error, sizeof(r->error), "ours: map of %zu pages: %ld, %zu frames taken", npages,
                     IS_ERR(v) ? PTR_ERR(v) : 0L, free0 - pmm_free_frames());
            break;
        }

        t0 = now_ns();
        int e1 = mm_protect_locked(ctx, REGION_VA, npages, VM_READ);
        t1 = now_ns();
        int e2 = mm_protect_locked(ctx, REGION_VA, npages, VM_RW);
        uint64_t t2 = now_ns();
        samples[OP_PROTECT][rep] = (double)((t1 - t0) + (t2 - t1)) / 2;
        uint64_t pa;
        vm_flags fl = 0;
        int e3 = mm_do_translate(ctx, REGION_VA, &pa, &fl);
        spinlock_release(&ctx->mm_lock);
        if (e1 || e2 || e3 || !(fl & VM_WRITE)) {
            snprintf(r->error, sizeof(r->error), "ours: protect RO/RW: %d %d %d (flags after %#x)", e1, e2, e3, fl);
            break;
        }

        t0 = now_ns();
        mm_context_t *child = mm_clone_context(ctx);
        t1 = now_ns();
        samples[OP_FORK][rep] = (double)(t1 - t0);
        if (IS_ERR(child)) {
            snprintf(r->error, sizeof(r->error), "ours: mm_clone_context: %ld", PTR_ERR(child));
            break;
        }
        uint32_t refs = pmm_refcount(pfns[npages - 1]);
        mm_destroy_context(child);
        if (refs != 2) {
            snprintf(r->error, sizeof(r->error), "ours: after the clone the last frame has %u references, not 2", refs);
            break;
        }

        spinlock_acquire(&ctx->mm_lock);
        t0 = now_ns();
        int err = mm_unmap_user_pages_locked(ctx, REGION_VA, npages);
        t1 = now_ns();
        spinlock_release(&ctx->mm_lock);
        samples[OP_UNMAP][rep] = (double)(t1 - t0);
        /* Every frame and table is back (object pages of the vmap cache may stay). */
        mm_get_stats(&st1);
        if (err || mm_vmap_count(ctx) != 0 || pmm_free_frames() + (st1.object_pages - st0.object_pages) != free0 ||
            st1.table_pages != st0.table_pages) {
            snprintf(r->error, sizeof(r->error),
                     "ours: unmap: %d; %zu vmaps left; %zu free frames (%zu before), %zu table pages (%zu before)", err,
                     mm_vmap_count(ctx), pmm_free_frames(), free0, st1.table_pages, st0.table_pages);
            break;
        }
    }
    mm_destroy_context(ctx);
    free(pfns);
    return rep == c->reps ? 0 : -1;
}

/* A context with n one-page vmaps packed from VMAPS_VA. */
static mm_context_t *context_with_vmaps(size_t n)
{
    mm_context_t *ctx = mm_create_context();
    if (IS_ERR(ctx))
        return ctx;
    spinlock_acquire(&ctx->mm_lock);
    for (size_t i = 0; i < n; i++) {
        vmap_t *v = mm_get_free_vaddr_locked(ctx, 1, VMAPS_VA + i * PAGE_SIZE, VALLOC_EXACT);
        if (IS_ERR(v)) {
            spinlock_release(&ctx->mm_lock);
            mm_destroy_context(ctx);
            return ERR_PTR(PTR_ERR(v));
        }
        v->vmflags = i % 2 ? VM_USER_RO : VM_USER_RW;
    }
    spinlock_release(&ctx->mm_lock);
    return ctx;
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
    size_t n = c->counts[k];
    mm_context_t *ctx = context_with_vmaps(n);
    if (IS_ERR(ctx))
        FAIL(r, "ours: %zu vmaps: %ld", n, PTR_ERR(ctx));
    r->counts_used[k] = n;
    double *one = malloc(c->calls * sizeof(double));
    ptr_t *addr = malloc(c->calls * sizeof(ptr_t));
    double getfree[BENCH_MAX_REPS], lookup[BENCH_MAX_REPS];
    if (!one || !addr) {
        free(one);
        free(addr);
        mm_destroy_context(ctx);
        FAIL(r, "ours: no host memory");
    }
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ n;
    int rc = -1;
    spinlock_acquire(&ctx->mm_lock);
    /* The work behind the figures: the tree's height and the nodes the
     * search visits (O(log n) both). */
    ptr_t at;
    r->tree_height[k] = (int)ctx->vmaps.height;
    r->tree_nodes[k] = ctx->vmaps.nodes;
    /* Slab slots are 16-byte aligned (mm/slab.c). */
    r->vmap_slot_bytes = ALIGN_UP(sizeof(vmap_t), 16);
    r->vmap_bytes[k] = (double)r->vmap_slot_bytes +
                       (double)(ctx->vmaps.nodes * ALIGN_UP(sizeof(vm_tree_bnode_t), 16)) / (double)n;
    vm_tree_find_free_visits(&ctx->vmaps, VMAPS_VA, PAGE_SIZE, MM_USER_MIN, hal_user_end(mm_geometry), PAGE_SIZE, &at,
                             &r->search_visits[k]);
    for (int rep = 0; rep < c->reps; rep++) {
        /* The search starts at the first vmap and must skip all n of them. */
        for (size_t i = 0; i < c->calls; i++) {
            uint64_t t0 = ticks();
            vmap_t *v = mm_get_free_vaddr_locked(ctx, 1, VMAPS_VA, VALLOC_DEFAULT);
            uint64_t t1 = ticks();
            if (IS_ERR(v) || v->vaddr != VMAPS_VA + n * PAGE_SIZE) {
                snprintf(r->error, sizeof(r->error), "ours: free range with %zu vmaps: %ld, expected %#lx", n,
                         IS_ERR(v) ? PTR_ERR(v) : (long)v->vaddr, (unsigned long)(VMAPS_VA + n * PAGE_SIZE));
                goto out;
            }
            vmap_destroy(v); /* still empty, so a guard: munmap would leave it */
            one[i] = ticks_to_ns(t1 - t0) - timing_overhead_ns();
        }
        getfree[rep] = mean_of_calls(one, c->calls);

        for (size_t i = 0; i < c->calls; i++)
            addr[i] = VMAPS_VA + (xorshift(&seed) % n) * PAGE_SIZE + (xorshift(&seed) & PAGE_MASK);
        size_t hits = 0;
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < c->calls; i++) {
            size_t off;
            vmap_t *v = vmap_obtain(ctx, addr[i], &off);
            hits += !IS_ERR(v) && v->vaddr + off == addr[i];
        }
        uint64_t t1 = now_ns();
        if (hits != c->calls) {
            snprintf(r->error, sizeof(r->error), "ours: vmap_obtain found %zu of %zu", hits, c->calls);
            goto out;
        }
        lookup[rep] = (double)(t1 - t0) / (double)c->calls;
    }
    memcpy(r->call_samples[OP_GETFREE][k], getfree, (size_t)c->reps * sizeof(double));
    memcpy(r->call_samples[OP_LOOKUP][k], lookup, (size_t)c->reps * sizeof(double));
    r->call_ns[OP_GETFREE][k] = median(getfree, (size_t)c->reps);
    r->call_ns[OP_LOOKUP][k] = median(lookup, (size_t)c->reps);
    rc = 0;
out:
    spinlock_release(&ctx->mm_lock);
    free(one);
    free(addr);
    mm_destroy_context(ctx);
    return rc;
}

int bench_ours(const bench_config_t *c, side_result_t *r)
{
    int err = kmm_host_init(c->ram_mib, c->geometry);
    if (err)
        FAIL(r, "ours: kmm_host_init(%zu MiB, %s): %d", c->ram_mib, c->geometry, err);
    kmm_host_set_free_check(false); /* the test oracle's TLB scan at every free is not the layer's cost */
    prefault_ram();
    for (size_t s = 0; s < BENCH_SIZES; s++) {
        double samples[OP_PAGE_COUNT][BENCH_MAX_REPS];
        if (bench_region(c, s, samples, r))
            return -1;
        for (int op = 0; op < OP_PAGE_COUNT; op++) {
            memcpy(r->page_samples[op][s], samples[op], (size_t)c->reps * sizeof(double));
            r->page_op_ns[op][s] = median(samples[op], (size_t)c->reps);
        }
    }
    for (size_t k = 0; k < BENCH_COUNTS; k++)
        if (bench_calls(c, k, r))
            return -1;
    return 0;
}
