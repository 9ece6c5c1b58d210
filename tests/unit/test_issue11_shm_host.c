/* Issue 11, items 5 and 12, in every geometry.
 *
 * Item 5: a shared anonymous object's metadata grows with the pages touched
 * (a radix tree of frame numbers), not with its size: huge untouched
 * mappings cost no frame beyond their slab slots, a touched page costs its
 * frame and the index nodes its path lacked, a failed first touch leaves the
 * object as it was, and the last reference frees everything.
 *
 * Item 12: kmm_host_fini (several bring-ups in one process) and the
 * statistics that split referenced frames into user pages, page tables and
 * object pages, exactly. (The ninja targets and the pkg-config file are
 * checked by tests/unit/install/check.sh.) */
#include <sys/mman.h>

#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"
#include "mm/shm.h"

TestSuite(shm_index, .init = fixture_setup);
TestSuite(host_library, .init = fixture_setup);

#define GIB ((size_t)1 << 30)
#define HUGE_PAGES ((64 * GIB) >> PAGE_SHIFT) /* 64 GiB: a thousand times the simulated RAM */

static void check_invariants(void)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "invariants: %zu violations of %zu checks; first: %s", r.violations, r.checks, r.first);
    cr_assert_gt(r.checks, 0);
}

static vmap_t *try_anon(mm_context_t *ctx, ptr_t va, size_t npages, vmap_type_t type)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, npages, va, VALLOC_EXACT, VM_RW, type);
    spinlock_release(&ctx->mm_lock);
    return v;
}

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t npages, vmap_type_t type)
{
    vmap_t *v = try_anon(ctx, va, npages, type);
    cr_assert(!IS_ERR(v), "anonymous map of %zu pages at %#lx: %ld", npages, (unsigned long)va, PTR_ERR(v));
    return v;
}

/* Everything the frame accounting can see at one moment. */
typedef struct counts {
    size_t free, tables, objects, user, referenced, vmaps, contexts;
} counts_t;

static counts_t counts(void)
{
    mm_stats_t s;
    pmm_stats_t p;
    mm_get_stats(&s);
    pmm_get_stats(&p);
    return (counts_t){ pmm_free_frames(), s.table_pages, s.object_pages, s.user_pages, p.referenced_frames, s.vmaps,
                       s.contexts };
}

/* Every referenced frame is a table, an object page, a user page or the zero page. */
static void assert_partition(const char *when)
{
    counts_t c = counts();
    cr_assert_eq(c.referenced, c.tables + c.objects + c.user + 1,
                 "%s: %zu referenced frames, but %zu tables + %zu object pages + %zu user pages + the zero page", when,
                 c.referenced, c.tables, c.objects, c.user);
}

/* What a step cost, exactly: every frame it took is in one of the counters. */
static void assert_step(const char *what, counts_t a, counts_t b, long user, long tables, long objects)
{
    long d_user = (long)b.user - (long)a.user, d_tables = (long)b.tables - (long)a.tables;
    long d_objects = (long)b.objects - (long)a.objects, d_free = (long)a.free - (long)b.free;
    cr_assert_eq(d_user, user, "%s: user pages %+ld, expected %+ld", what, d_user, user);
    cr_assert_eq(d_tables, tables, "%s: table pages %+ld, expected %+ld", what, d_tables, tables);
    cr_assert_eq(d_objects, objects, "%s: object pages %+ld, expected %+ld", what, d_objects, objects);
    cr_assert_eq(d_free, user + tables + objects, "%s: %ld frames taken, but %ld user + %ld tables + %ld objects", what,
                 d_free, user, tables, objects);
    assert_partition(what);
}

/* Page-table pages below the root that mapping every va of the set needs:
 * at each level, one table per distinct span that level's table covers. */
static size_t tables_for(const ptr_t *va, size_t n)
{
    size_t total = 0;
    for (unsigned level = 1; level < G()->levels; level++) {
        unsigned shift = PAGE_SHIFT + HAL_BITS_PER_LEVEL * level;
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = (va[j] >> shift) == (va[i] >> shift);
            total += !seen;
        }
    }
    return total;
}

/* Index nodes a set of page indexes needs in an object of `height` levels. */
static size_t nodes_for(const size_t *idx, size_t n, unsigned height)
{
    size_t total = 0;
    for (unsigned level = 1; level <= height; level++) {
        unsigned shift = SHM_NODE_BITS * level;
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = (idx[j] >> shift) == (idx[i] >> shift);
            total += !seen;
        }
    }
    return total;
}

/* ---- item 5: shared objects cost what is touched ---- */

Test(shm_index, shared_mapping_a_thousand_times_larger_than_ram_takes_no_frame_until_touched)
{
    mm_context_t *ctx = new_ctx();
    counts_t a = counts();
    vmap_t *v = anon(ctx, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
    counts_t b = counts();
    /* the first vmap, the first node of the vmap tree and the first object
     * each open a slab page; nothing else */
    assert_step("64 GiB shared mapping", a, b, 0, 0, 3);
    shm_object_t *o = v->object;
    cr_assert_eq(o->npages, HUGE_PAGES);
    cr_assert_eq(o->height, 3, "2^24 pages need 3 levels of 512 entries, not %u", o->height);
    cr_assert_eq(o->root, PMM_NO_FRAME, "an untouched object has no index node");
    cr_assert_eq(o->nodes, 0);
    cr_assert_eq(o->resident, 0);
    cr_assert_eq(shm_lookup(o, HUGE_PAGES - 1), PMM_NO_FRAME);
    check_invariants();
    mm_destroy_context(ctx);
}

Test(shm_index, sixty_untouched_one_gib_shared_mappings_cost_only_their_slab_pages)
{
    counts_t start = counts();
    mm_context_t *ctx = new_ctx();
    counts_t a = counts();
    for (size_t i = 0; i < 60; i++) {
        vmap_t *v = try_anon(ctx, USER_VA + i * GIB, GIB >> PAGE_SHIFT, VMAP_TYPE_SHARED);
        cr_assert(!IS_ERR(v), "shared mapping %zu of 1 GiB: %ld (64 MiB of RAM, nothing touched)", i, PTR_ERR(v));
    }
    counts_t b = counts();
    cr_assert_eq(b.vmaps - a.vmaps, 60);
    /* 60 vmaps and 60 objects fit in a few slab pages, and that is all */
    cr_assert_leq(b.objects - a.objects, 6, "%zu object pages for 60 vmaps and objects", b.objects - a.objects);
    assert_step("sixty 1 GiB shared mappings", a, b, 0, 0, (long)(b.objects - a.objects));
    check_invariants();
    mm_destroy_context(ctx);
    counts_t c = counts();
    cr_assert_eq(c.free, start.free, "%ld frames not given back", (long)start.free - (long)c.free);
    cr_assert_eq(c.objects, start.objects);
    cr_assert_eq(c.tables, start.tables);
}

/* Page indexes spread over the three levels of a 64 GiB object. */
static const size_t sparse_idx[] = { 0, 1, 511, 512, (size_t)1 << 18, ((size_t)1 << 18) + 5, HUGE_PAGES - 1 };
#define NSPARSE (sizeof sparse_idx / sizeof sparse_idx[0])

static void touch_sparse(mm_context_t *ctx, vmap_t *v, ptr_t *vas)
{
    for (size_t i = 0; i < NSPARSE; i++) {
        vas[i] = v->vaddr + sparse_idx[i] * PAGE_SIZE;
        put64(ctx, vas[i], 0xa000 + i);
    }
}

Test(shm_index, sparse_touches_cost_their_frames_and_the_index_nodes_of_their_paths_exactly)
{
    mm_context_t *ctx = new_ctx();
    vmap_t *v = anon(ctx, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
    shm_object_t *o = v->object;
    counts_t a = counts();
    ptr_t vas[NSPARSE];
    touch_sparse(ctx, v, vas);
    counts_t b = counts();
    /* 7 pages: leaves {0, 1, 512, 32767}, middles {0, 1, 63}, the root */
    cr_assert_eq(nodes_for(sparse_idx, NSPARSE, 3), 8);
    assert_step("seven sparse first touches", a, b, NSPARSE, (long)tables_for(vas, NSPARSE), 8);
    cr_assert_eq(o->nodes, 8);
    cr_assert_eq(o->resident, NSPARSE);
    for (size_t i = 0; i < NSPARSE; i++) {
        pfn_t p = shm_lookup(o, sparse_idx[i]);
        cr_assert_neq(p, PMM_NO_FRAME, "page %zu is in the index", sparse_idx[i]);
        cr_assert_eq(pmm_refcount(p), 2, "page %zu: the object's reference and the mapping's, not %u", sparse_idx[i],
                     pmm_refcount(p));
        cr_assert_eq(*(uint64_t *)pfn_va(p), 0xa000 + i, "page %zu holds what was written", sparse_idx[i]);
        cr_assert_eq(mm_get_phys_addr(ctx, vas[i]), p << PAGE_SHIFT);
    }
    cr_assert_eq(shm_lookup(o, 2), PMM_NO_FRAME, "an untouched neighbour stays out of the index");
    cr_assert_eq(shm_lookup(o, 513), PMM_NO_FRAME);
    /* touching them again costs nothing */
    for (size_t i = 0; i < NSPARSE; i++)
        cr_assert_eq(get64(ctx, vas[i]), 0xa000 + i);
    assert_step("reading the touched pages again", b, counts(), 0, 0, 0);
    check_invariants();
    mm_destroy_context(ctx);
}

Test(shm_index, the_last_reference_frees_every_node_and_frame_of_the_object)
{
    counts_t a = counts();
    mm_context_t *parent = new_ctx();
    vmap_t *v = anon(parent, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
    ptr_t vas[NSPARSE];
    touch_sparse(parent, v, vas);
    mm_context_t *child = mm_clone_context(parent);
    cr_assert(!IS_ERR(child));
    /* a page first touched by the child is the parent's too */
    put64(child, USER_VA + 2000 * PAGE_SIZE, 0xc41d);
    cr_assert_eq(get64(parent, USER_VA + 2000 * PAGE_SIZE), 0xc41d);
    shm_object_t *o = v->object;
    cr_assert_eq(o->refs, 2);
    cr_assert_eq(o->resident, NSPARSE + 1);
    cr_assert_eq(o->nodes, 9, "page 2000 needed a leaf node of its own");
    counts_t b = counts();
    mm_destroy_context(parent);
    counts_t c = counts();
    /* the child still maps every page: the object keeps its frames and nodes */
    cr_assert_eq(c.user, b.user, "the child's object keeps all %zu pages", b.user);
    cr_assert_eq(o->refs, 1);
    cr_assert_eq(o->nodes, 9);
    cr_assert_eq(o->resident, NSPARSE + 1);
    for (size_t i = 0; i < NSPARSE; i++)
        cr_assert_eq(get64(child, vas[i]), 0xa000 + i);
    check_invariants();
    mm_destroy_context(child);
    counts_t d = counts();
    cr_assert_eq(d.free, a.free, "%ld frames not given back", (long)a.free - (long)d.free);
    cr_assert_eq(d.user, 0, "user pages left: %zu", d.user);
    cr_assert_eq(d.objects, a.objects, "object pages left: %zu", d.objects - a.objects);
    cr_assert_eq(d.tables, a.tables);
    assert_partition("after both contexts went");
    check_invariants();
}

Test(shm_index, unmapping_part_of_a_shared_vmap_keeps_the_object_whole_until_its_last_vmap_goes)
{
    counts_t a = counts();
    mm_context_t *ctx = new_ctx();
    anon(ctx, USER_VA, 1024, VMAP_TYPE_SHARED);
    put64(ctx, USER_VA, 1);
    put64(ctx, USER_VA + 1023 * PAGE_SIZE, 2);
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, USER_VA, 512), 0);
    spinlock_release(&ctx->mm_lock);
    shm_object_t *o = mm_vmap_first_from(ctx, 0)->object;
    cr_assert_eq(o->resident, 2, "the object keeps page 0 although no vmap maps it any more");
    cr_assert_eq(o->nodes, 3, "a 1024-page object: two leaf nodes under a root");
    cr_assert_eq(get64(ctx, USER_VA + 1023 * PAGE_SIZE), 2);
    check_invariants();
    mm_destroy_context(ctx);
    counts_t b = counts();
    cr_assert_eq(b.free, a.free, "%ld frames lost", (long)a.free - (long)b.free);
    cr_assert_eq(b.user, 0);
}

/* ---- item 5: a failed first touch leaves the object as it was ---- */

/* The state a failed touch must not change. */
typedef struct object_seen {
    counts_t c;
    pfn_t root;
    size_t nodes, resident;
    pfn_t first;
    int target_err;
} object_seen_t;

static object_seen_t see(mm_context_t *ctx, shm_object_t *o, ptr_t target)
{
    uint64_t pa;
    vm_flags f;
    return (object_seen_t){ counts(), o->root, o->nodes, o->resident, shm_lookup(o, 0),
                            mm_do_translate(ctx, target, &pa, &f) };
}

/* Sweeps "allocation n fails" over the first touch of the object's last page
 * (a frame, index nodes, page tables), with page 0 touched before or not. */
static void sweep_first_touch(bool pretouch)
{
    size_t failures = 0;
    for (size_t n = 1; n <= 32; n++) {
        fixture_setup();
        counts_t start = counts();
        mm_context_t *ctx = new_ctx();
        vmap_t *v = anon(ctx, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
        shm_object_t *o = v->object;
        if (pretouch)
            put64(ctx, USER_VA, 0x1111);
        ptr_t target = USER_VA + (HUGE_PAGES - 1) * PAGE_SIZE;
        object_seen_t before = see(ctx, o, target);
        pmm_fail_after(n);
        uint64_t val = 0x2222;
        int err = softmmu_write(ctx, target, &val, sizeof val, true);
        pmm_fail_after(0);
        if (err == 0) {
            cr_assert_eq(get64(ctx, target), 0x2222);
            cr_assert_eq(o->resident, before.resident + 1);
            check_invariants();
            mm_destroy_context(ctx);
            counts_t end = counts();
            cr_assert_eq(end.free, start.free, "%ld frames lost", (long)start.free - (long)end.free);
            /* the frame, the nodes its path lacked, the tables its address lacked: each failed once */
            ptr_t both[2] = { USER_VA, target };
            size_t tables = pretouch ? tables_for(both, 2) - tables_for(both, 1) : tables_for(&target, 1);
            size_t nodes = pretouch ? 2 : 3;
            cr_assert_eq(failures, 1 + nodes + tables, "%zu allocations failed, expected 1 frame + %zu nodes + %zu tables",
                         failures, nodes, tables);
            cr_log_info("first touch (page 0 %s): %zu injected failures, each undone", pretouch ? "touched" : "untouched",
                        failures);
            return;
        }
        failures++;
        cr_assert_eq(err, -ENOMEM, "allocation %zu failed: the write returned %d", n, err);
        object_seen_t after = see(ctx, o, target);
        cr_assert_eq(after.c.free, before.c.free, "allocation %zu failed: %ld frames taken", n,
                     (long)before.c.free - (long)after.c.free);
        cr_assert_eq(after.c.tables, before.c.tables, "allocation %zu failed: table pages", n);
        cr_assert_eq(after.c.objects, before.c.objects, "allocation %zu failed: object pages %zu, before %zu", n,
                     after.c.objects, before.c.objects);
        cr_assert_eq(after.c.user, before.c.user, "allocation %zu failed: user pages", n);
        cr_assert_eq(after.root, before.root, "allocation %zu failed: the root changed", n);
        cr_assert_eq(after.nodes, before.nodes, "allocation %zu failed: %zu nodes, before %zu", n, after.nodes,
                     before.nodes);
        cr_assert_eq(after.resident, before.resident, "allocation %zu failed: resident pages", n);
        cr_assert_eq(after.first, before.first, "allocation %zu failed: page 0 changed", n);
        cr_assert_eq(after.target_err, before.target_err, "allocation %zu failed: the target got mapped", n);
        cr_assert_eq(shm_lookup(o, HUGE_PAGES - 1), PMM_NO_FRAME, "allocation %zu failed: the page is in the index", n);
        check_invariants();
        mm_destroy_context(ctx);
        counts_t end = counts();
        cr_assert_eq(end.free, start.free, "allocation %zu failed: %ld frames lost after destroy", n,
                     (long)start.free - (long)end.free);
    }
    cr_assert_fail("the first touch still fails after 32 injected allocation failures");
}

Test(shm_index, failed_first_touch_of_an_untouched_object_leaves_it_untouched)
{
    sweep_first_touch(false);
}

Test(shm_index, failed_first_touch_beside_a_touched_page_leaves_the_index_as_it_was)
{
    sweep_first_touch(true);
}

/* ---- item 5: the invariant checker sees the index ---- */

Test(shm_index, checker_holds_index_nodes_and_reports_a_stray_reference_or_a_miscount)
{
    mm_context_t *ctx = new_ctx();
    vmap_t *v = anon(ctx, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
    ptr_t vas[NSPARSE];
    touch_sparse(ctx, v, vas);
    shm_object_t *o = v->object;
    check_invariants();
    mm_check_report_t r;

    pmm_ref(o->root); /* a reference nobody holds */
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a stray reference on the root node went unnoticed");
    cr_assert(strstr(r.first, "refcount differs"), "first violation: %s", r.first);
    pmm_unref(o->root);
    check_invariants();

    o->nodes++;
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a wrong node count went unnoticed");
    cr_assert(strstr(r.first, "index nodes found vs counted"), "first violation: %s", r.first);
    o->nodes--;
    check_invariants();
    mm_destroy_context(ctx);
}

/* ---- item 12: statistics ---- */

Test(host_library, statistics_split_referenced_frames_into_user_table_and_object_pages)
{
    unsigned L = G()->levels;
    assert_partition("after bring-up");
    counts_t start = counts();
    cr_assert_eq(start.user, 0, "a fresh instance has no user page");
    mm_context_t *ctx = new_ctx();
    counts_t a = counts();
    cr_assert_eq(a.tables - start.tables, 1, "a context's root");

    /* private anonymous: three written pages, one read (the zero page) */
    anon(ctx, USER_VA, 4, VMAP_TYPE_PRIVATE);
    counts_t b = counts();
    assert_step("private map", a, b, 0, 0, 2); /* the first vmap and the first tree node each open a slab page */
    for (size_t i = 0; i < 3; i++)
        put64(ctx, USER_VA + i * PAGE_SIZE, i + 1);
    cr_assert_eq(get64(ctx, USER_VA + 3 * PAGE_SIZE), 0);
    counts_t c = counts();
    assert_step("three writes and a read", b, c, 3, L - 1, 0);

    /* the caller's frames: not user pages until mapped */
    pfn_t f = alloc_run(2);
    counts_t d = counts();
    cr_assert_eq(c.free - d.free, 2);
    cr_assert_eq(d.user, c.user, "allocated, unreferenced frames are nobody's pages yet");
    vmap_t *m = mm_map_user_pages(ctx, USER_VA + 16 * PAGE_SIZE, f, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE,
                                  VMAP_FILE);
    cr_assert(!IS_ERR(m));
    counts_t e = counts();
    cr_assert_eq(e.user - d.user, 2, "two mapped caller frames are two user pages");
    cr_assert_eq(e.tables, d.tables);
    cr_assert_eq(e.objects, d.objects);

    /* shared: the object's slab page and one index node, two frames */
    anon(ctx, USER_VA + 32 * PAGE_SIZE, 16, VMAP_TYPE_SHARED);
    put64(ctx, USER_VA + 32 * PAGE_SIZE, 7);
    put64(ctx, USER_VA + 40 * PAGE_SIZE, 8);
    counts_t g = counts();
    assert_step("shared map and two touches", e, g, 2, 0, 2);

    /* fork: a root and a copy of the user tables, no frame copied */
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    counts_t h = counts();
    /* (the context and its vmaps fit in the slab pages already open) */
    assert_step("fork", g, h, 0, L, 0);
    /* copy on write: one frame */
    put64(child, USER_VA, 99);
    counts_t i = counts();
    assert_step("copy-on-write", h, i, 1, 0, 0);
    cr_assert_eq(get64(ctx, USER_VA), 1);

    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
    counts_t z = counts();
    cr_assert_eq(z.user, 0, "%zu user pages left", z.user);
    cr_assert_eq(z.tables, start.tables);
    cr_assert_eq(z.objects, start.objects);
    cr_assert_eq(z.free, start.free, "%ld frames lost", (long)start.free - (long)z.free);
    assert_partition("after both contexts went");
}

/* ---- item 12: kmm_host_fini ---- */

Test(host_library, fini_unmaps_the_simulated_ram_and_empties_the_logs)
{
    mm_context_t *ctx = new_ctx();
    anon(ctx, USER_VA, 4, VMAP_TYPE_SHARED);
    put64(ctx, USER_VA, 5);
    mm_switch_context(ctx); /* a TLB event in the log */
    cr_assert_gt(host_tlb_event_count(), 0);
    cr_assert_gt(softmmu_fault_count(), 0);
    void *ram = mm_phys_to_virt(kmm_host_phys_base());
    kmm_host_fini();
    cr_assert_eq(kmm_host_phys_size(), 0);
    cr_assert_eq(kmm_host_phys_base(), 0);
    cr_assert_null(kmm_host_geometry());
    cr_assert_eq(host_tlb_event_count(), 0);
    cr_assert_eq(softmmu_fault_count(), 0);
    unsigned char vec;
    cr_assert_eq(mincore(ram, PAGE_SIZE, &vec), -1, "the simulated RAM is still mapped after kmm_host_fini");
    kmm_host_fini(); /* harmless when nothing is up */
    cr_assert_eq(kmm_host_phys_size(), 0);
}

/* One bring-up of mib MiB: the counters it starts from, and a workload that
 * must leave them as they were. */
static counts_t bring_up_and_run(size_t mib, const char *geometry)
{
    int err = kmm_host_init(mib, geometry);
    cr_assert_eq(err, 0, "kmm_host_init(%zu, %s): %d", mib, geometry, err);
    cr_assert_eq(kmm_host_phys_size(), (uint64_t)mib << 20);
    cr_assert_str_eq(kmm_host_geometry()->name, geometry);
    counts_t fresh = counts();
    mm_context_t *ctx = new_ctx();
    anon(ctx, USER_VA, HUGE_PAGES, VMAP_TYPE_SHARED);
    put64(ctx, USER_VA + 12345 * PAGE_SIZE, 6);
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    cr_assert_eq(get64(child, USER_VA + 12345 * PAGE_SIZE), 6);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
    cr_assert_eq(counts().user, 0);
    return fresh;
}

Test(host_library, init_fini_init_in_one_process_starts_from_the_same_state_each_time)
{
    const char *g = kmm_host_geometry()->name;
    kmm_host_fini();
    counts_t first = bring_up_and_run(16, g);
    for (int round = 0; round < 5; round++) {
        kmm_host_fini();
        counts_t again = bring_up_and_run(16, g);
        cr_assert_eq(again.free, first.free, "round %d: %zu free frames after bring-up, first time %zu", round,
                     again.free, first.free);
        cr_assert_eq(again.tables, first.tables);
        cr_assert_eq(again.objects, first.objects);
        cr_assert_eq(again.referenced, first.referenced);
    }
    kmm_host_fini();
    /* another size, then the fixture's again */
    counts_t big = bring_up_and_run(48, g);
    cr_assert_gt(big.free, first.free);
    kmm_host_fini();
    bring_up_and_run(TEST_RAM_MIB, g);
}

Test(host_library, bad_init_arguments_leave_the_running_instance_alone)
{
    uint64_t size = kmm_host_phys_size();
    const hal_geometry_t *g = kmm_host_geometry();
    mm_context_t *ctx = new_ctx();
    put64(ctx, anon(ctx, USER_VA, 1, VMAP_TYPE_PRIVATE)->vaddr, 42);
    cr_assert_eq(kmm_host_init(2, NULL), -EINVAL);
    cr_assert_eq(kmm_host_init(16, "pdp11-2level"), -EINVAL);
    cr_assert_eq(kmm_host_phys_size(), size);
    cr_assert_eq(kmm_host_geometry(), g);
    cr_assert_eq(get64(ctx, USER_VA), 42, "the instance still runs");
    mm_destroy_context(ctx);
}

/* The freed-frame check (host_frames_freed_while_cached) counts a frame that
 * a model TLB still translates to when the allocator gets it back; a
 * benchmark turns it off (kmm_host_set_free_check), and every
 * kmm_host_init turns it on again. */
Test(host_library, free_check_counts_a_cached_frame_unless_turned_off_and_init_turns_it_on)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = pmm_alloc();
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    uint8_t b;
    cr_assert_eq(softmmu_read(ctx, USER_VA, &b, 1, true), 0); /* CPU 0's model TLB now holds the page */
    size_t n0 = host_frames_freed_while_cached();
    mm_platform_frame_freed(f, 0);
    cr_assert_eq(host_frames_freed_while_cached(), n0 + 1);
    kmm_host_set_free_check(false);
    mm_platform_frame_freed(f, 0);
    cr_assert_eq(host_frames_freed_while_cached(), n0 + 1, "the check ran while turned off");
    kmm_host_set_free_check(true);
    mm_platform_frame_freed(f, 0);
    cr_assert_eq(host_frames_freed_while_cached(), n0 + 2);
    kmm_host_set_free_check(false);
    cr_assert_eq(kmm_host_init(TEST_RAM_MIB, NULL), 0);
    ctx = new_ctx();
    f = pmm_alloc();
    v = mm_map_user_pages(ctx, USER_VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    cr_assert_eq(softmmu_read(ctx, USER_VA, &b, 1, true), 0);
    mm_platform_frame_freed(f, 0);
    cr_assert_eq(host_frames_freed_while_cached(), 1, "kmm_host_init left the check off");
}
