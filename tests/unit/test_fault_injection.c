/* Fault injection: "fail the Nth allocation" (pmm_fail_after: frames, table
 * pages and slab objects alike) swept over whole scenarios. For every N
 * until the operation gets through, the platform is brought up afresh, the
 * scenario's state is built, the Nth allocation of the operation fails, and
 * the test proves that the operation returned -ENOMEM, left every page it
 * could touch exactly as it was (frame, rights, bytes), left every counter
 * as it was (free frames, table pages, vmaps, contexts, slab pages), and that
 * the invariant checker passes. The sweep must see at least one failure
 * (and the last N must succeed), so no scenario can pass vacuously. */
#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"

TestSuite(fault_injection);

#define VA (((ptr_t)1 << 30) - 4 * PAGE_SIZE)/* straddles a 1 GiB boundary: several tables */
#define FAR ((ptr_t)1 << 37)                /* another top-level subtree in every geometry */
#define NPAGES 8
#define MAX_SWEEP 64

typedef struct scene {
    mm_context_t *ctx[3];
    vmap_t *v;
    pfn_t frames;
    size_t n;
} scene_t;

typedef struct scenario {
    const char *name;
    void (*setup)(scene_t *s);
    int (*op)(scene_t *s); /* 0 or -errno */
    void (*after)(scene_t *s); /* checks a success */
} scenario_t;

/* What can be seen of a page: translation, rights, first word. */
typedef struct seen {
    int err;
    uint64_t pa;
    vm_flags flags;
    uint64_t word;
} seen_t;

typedef struct snapshot {
    size_t free_frames;
    mm_stats_t stats;
    size_t vmaps[3];
    seen_t pages[3][2][NPAGES + 2];
} snapshot_t;

static void check_invariants(const char *when)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "%s: invariants: %zu violations of %zu checks; first: %s", when, r.violations, r.checks, r.first);
}

static void take(scene_t *s, snapshot_t *out)
{
    memset(out, 0, sizeof *out);
    out->free_frames = pmm_free_frames();
    mm_get_stats(&out->stats);
    static const ptr_t bases[2] = { VA - PAGE_SIZE, FAR - PAGE_SIZE };
    for (int c = 0; c < 3; c++) {
        if (!s->ctx[c])
            continue;
        out->vmaps[c] = mm_vmap_count(s->ctx[c]);
        for (int b = 0; b < 2; b++)
            for (size_t i = 0; i < NPAGES + 2; i++) {
                seen_t *p = &out->pages[c][b][i];
                p->err = mm_do_translate(s->ctx[c], bases[b] + i * PAGE_SIZE, &p->pa, &p->flags);
                if (!p->err)
                    p->word = *(const uint64_t *)mm_phys_to_virt(p->pa);
            }
    }
}

static void assert_same(const snapshot_t *a, const snapshot_t *b, const char *name, size_t n)
{
    cr_assert_eq(a->free_frames, b->free_frames, "%s, allocation %zu failed: free frames %zu, before %zu", name, n,
                 b->free_frames, a->free_frames);
    cr_assert_eq(a->stats.table_pages, b->stats.table_pages, "%s, allocation %zu failed: table pages %zu, before %zu",
                 name, n, b->stats.table_pages, a->stats.table_pages);
    cr_assert_eq(a->stats.vmaps, b->stats.vmaps, "%s, allocation %zu: vmaps %zu, before %zu", name, n, b->stats.vmaps,
                 a->stats.vmaps);
    cr_assert_eq(a->stats.contexts, b->stats.contexts, "%s, allocation %zu: contexts", name, n);
    cr_assert_eq(a->stats.object_pages, b->stats.object_pages, "%s, allocation %zu: slab pages", name, n);
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(a->vmaps[c], b->vmaps[c], "%s, allocation %zu: context %d has %zu vmaps, before %zu", name, n, c,
                     b->vmaps[c], a->vmaps[c]);
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < NPAGES + 2; i++)
                cr_assert(!memcmp(&a->pages[c][k][i], &b->pages[c][k][i], sizeof(seen_t)),
                          "%s, allocation %zu: context %d page %zu of area %d changed (err %d->%d pa %#llx->%#llx flags "
                          "%#x->%#x)",
                          name, n, c, i, k, a->pages[c][k][i].err, b->pages[c][k][i].err,
                          (unsigned long long)a->pages[c][k][i].pa, (unsigned long long)b->pages[c][k][i].pa,
                          a->pages[c][k][i].flags, b->pages[c][k][i].flags);
    }
}

static void destroy_all(scene_t *s)
{
    for (int c = 0; c < 3; c++)
        if (s->ctx[c])
            mm_destroy_context(s->ctx[c]);
}

/* The sweep. Returns the number of injected failures seen. */
static size_t sweep(const scenario_t *sc)
{
    size_t failures = 0;
    for (size_t n = 1; n <= MAX_SWEEP; n++) {
        fixture_setup();
        baseline_t start = take_baseline();
        scene_t s = { 0 };
        if (sc->setup)
            sc->setup(&s);
        snapshot_t before, after;
        take(&s, &before);
        pmm_fail_after(n);
        int err = sc->op(&s);
        pmm_fail_after(0);
        if (err == 0) {
            check_invariants(sc->name);
            if (sc->after)
                sc->after(&s);
            destroy_all(&s);
            if (s.frames != PMM_NO_FRAME && s.n)
                for (size_t i = 0; i < s.n; i++)
                    if (pmm_is_allocated(s.frames + i) && pmm_refcount(s.frames + i) == 0)
                        pmm_free(s.frames + i);
            baseline_t end = take_baseline();
            cr_assert_eq(end.free_frames, start.free_frames, "%s: %zu frames lost after the successful run", sc->name,
                         start.free_frames - end.free_frames);
            cr_assert_eq(end.table_pages, start.table_pages, "%s: table pages not back", sc->name);
            cr_assert_gt(failures, 0, "%s: the first allocation failing did not fail the operation", sc->name);
            cr_log_info("%s: %zu injected failures, each undone", sc->name, failures);
            return failures;
        }
        cr_assert_eq(err, -ENOMEM, "%s: allocation %zu failed: returned %d, expected -ENOMEM", sc->name, n, err);
        failures++;
        take(&s, &after);
        assert_same(&before, &after, sc->name, n);
        check_invariants(sc->name);
        destroy_all(&s);
    }
    cr_assert_fail("%s: still failing after %d injected allocations", sc->name, MAX_SWEEP);
    return failures;
}

/* ---- building blocks ---- */

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t n, vmap_type_t type)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, n, va, VALLOC_EXACT, VM_RW, type);
    spinlock_release(&ctx->mm_lock);
    cr_assert(!IS_ERR(v), "anonymous map at %#lx: %ld", (unsigned long)va, PTR_ERR(v));
    return v;
}

/* A parent with written private pages, touched shared pages, explicit
 * frames, across two distant subtrees. */
static void rich_parent(scene_t *s)
{
    s->ctx[0] = new_ctx();
    s->v = anon(s->ctx[0], VA, NPAGES, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < NPAGES; i += 2)
        put64(s->ctx[0], VA + i * PAGE_SIZE, 0x1000 + i);
    get64(s->ctx[0], VA + PAGE_SIZE * 3); /* the zero page */
    anon(s->ctx[0], FAR, 4, VMAP_TYPE_SHARED);
    put64(s->ctx[0], FAR, 0x2222);
    s->frames = alloc_run(2);
    vmap_t *e = mm_map_user_pages(s->ctx[0], FAR + 6 * PAGE_SIZE, s->frames, 2, VM_RW, VALLOC_EXACT,
                                  VMAP_TYPE_PRIVATE, VMAP_FILE);
    cr_assert(!IS_ERR(e));
}

/* ---- scenarios ---- */

static void setup_ctx(scene_t *s) { s->ctx[0] = new_ctx(); }

static void setup_frames(scene_t *s)
{
    s->ctx[0] = new_ctx();
    s->n = NPAGES;
    s->frames = alloc_run(NPAGES);
}

static int op_map_user(scene_t *s)
{
    vmap_t *v = mm_map_user_pages(s->ctx[0], VA, s->frames, NPAGES, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_FILE);
    return IS_ERR(v) ? (int)PTR_ERR(v) : 0;
}

static void after_map_user(scene_t *s)
{
    for (size_t i = 0; i < NPAGES; i++)
        cr_assert_eq(mm_get_phys_addr(s->ctx[0], VA + i * PAGE_SIZE), (s->frames + i) << PAGE_SHIFT);
}

Test(fault_injection, map_user_pages_across_tables)
{
    sweep(&(scenario_t){ "map", setup_frames, op_map_user, after_map_user });
}

static int op_map_anon_shared(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(s->ctx[0], NPAGES, VA, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED);
    spinlock_release(&s->ctx[0]->mm_lock);
    return IS_ERR(v) ? (int)PTR_ERR(v) : 0;
}

Test(fault_injection, map_anonymous_shared)
{
    sweep(&(scenario_t){ "map anonymous shared", setup_ctx, op_map_anon_shared, NULL });
}

static int op_create_context(scene_t *s)
{
    mm_context_t *c = mm_create_context();
    if (IS_ERR(c))
        return (int)PTR_ERR(c);
    s->ctx[1] = c;
    return 0;
}

Test(fault_injection, create_context)
{
    sweep(&(scenario_t){ "create context", setup_ctx, op_create_context, NULL });
}

static int op_fork(scene_t *s)
{
    mm_context_t *c = mm_clone_context(s->ctx[0]);
    if (IS_ERR(c))
        return (int)PTR_ERR(c);
    s->ctx[1] = c;
    return 0;
}

static void after_fork(scene_t *s)
{
    for (size_t i = 0; i < NPAGES; i += 2)
        cr_assert_eq(get64(s->ctx[1], VA + i * PAGE_SIZE), 0x1000 + i);
    put64(s->ctx[1], FAR + PAGE_SIZE, 0x3333); /* shared: the parent sees it */
    cr_assert_eq(get64(s->ctx[0], FAR + PAGE_SIZE), 0x3333);
    put64(s->ctx[1], VA, 0x4444); /* private: the parent does not */
    cr_assert_eq(get64(s->ctx[0], VA), 0x1000);
}

Test(fault_injection, fork)
{
    sweep(&(scenario_t){ "fork", rich_parent, op_fork, after_fork });
}

static void setup_two(scene_t *s)
{
    rich_parent(s);
    s->ctx[1] = new_ctx();
}

static int op_cow_clone(scene_t *s)
{
    mm_lock_ctx_pair(s->ctx[0], s->ctx[1]);
    vmap_t *v = cow_clone_vmap_locked(s->ctx[1], s->v);
    mm_unlock_ctx_pair(s->ctx[0], s->ctx[1]);
    return IS_ERR(v) ? (int)PTR_ERR(v) : 0;
}

static void after_clone(scene_t *s)
{
    for (size_t i = 0; i < NPAGES; i += 2)
        cr_assert_eq(get64(s->ctx[1], VA + i * PAGE_SIZE), 0x1000 + i);
}

Test(fault_injection, cow_clone_vmap)
{
    sweep(&(scenario_t){ "cow clone", setup_two, op_cow_clone, after_clone });
}

static void setup_two_shared(scene_t *s)
{
    setup_two(s);
    spinlock_acquire(&s->ctx[0]->mm_lock);
    s->v = vmap_obtain(s->ctx[0], FAR, NULL);
    spinlock_release(&s->ctx[0]->mm_lock);
    cr_assert(!IS_ERR(s->v));
}

static int op_raw_clone(scene_t *s)
{
    mm_lock_ctx_pair(s->ctx[0], s->ctx[1]);
    vmap_t *v = mm_clone_vmap_locked(s->v, s->ctx[1]);
    mm_unlock_ctx_pair(s->ctx[0], s->ctx[1]);
    return IS_ERR(v) ? (int)PTR_ERR(v) : 0;
}

static void after_raw_clone(scene_t *s)
{
    cr_assert_eq(get64(s->ctx[1], FAR), 0x2222);
    put64(s->ctx[1], FAR, 0x5555);
    cr_assert_eq(get64(s->ctx[0], FAR), 0x5555);
}

Test(fault_injection, clone_vmap_of_a_shared_object)
{
    sweep(&(scenario_t){ "clone vmap", setup_two_shared, op_raw_clone, after_raw_clone });
}

/* Faults: the access through the software MMU, -errno from the handler. */
static int write_at(scene_t *s, int c, ptr_t va, uint64_t v) { return softmmu_write(s->ctx[c], va, &v, sizeof v, true); }

static void setup_forked(scene_t *s)
{
    rich_parent(s);
    s->ctx[1] = mm_clone_context(s->ctx[0]);
    cr_assert(!IS_ERR(s->ctx[1]));
}

static int op_cow_write(scene_t *s) { return write_at(s, 1, VA + 2 * PAGE_SIZE, 0x6666); }

static void after_cow_write(scene_t *s)
{
    cr_assert_eq(get64(s->ctx[1], VA + 2 * PAGE_SIZE), 0x6666);
    cr_assert_eq(get64(s->ctx[0], VA + 2 * PAGE_SIZE), 0x1002);
}

Test(fault_injection, copy_on_write_fault)
{
    sweep(&(scenario_t){ "copy-on-write fault", setup_forked, op_cow_write, after_cow_write });
}

static int op_zero_page_write(scene_t *s) { return write_at(s, 0, VA + 3 * PAGE_SIZE, 0x7777); }

Test(fault_injection, write_fault_on_the_zero_page)
{
    sweep(&(scenario_t){ "zero-page write fault", rich_parent, op_zero_page_write, NULL });
}

static void setup_fresh_area(scene_t *s)
{
    s->ctx[0] = new_ctx();
    s->v = anon(s->ctx[0], VA, NPAGES, VMAP_TYPE_PRIVATE);
}

static int op_first_write(scene_t *s) { return write_at(s, 0, VA + 5 * PAGE_SIZE, 0x8888); }

Test(fault_injection, zero_fill_fault_needing_tables)
{
    sweep(&(scenario_t){ "zero-fill fault", setup_fresh_area, op_first_write, NULL });
}

static int op_first_read(scene_t *s)
{
    uint64_t v;
    return softmmu_read(s->ctx[0], VA + 5 * PAGE_SIZE, &v, sizeof v, true);
}

Test(fault_injection, read_fault_needing_tables)
{
    sweep(&(scenario_t){ "read fault", setup_fresh_area, op_first_read, NULL });
}

static void setup_shared_fresh(scene_t *s)
{
    s->ctx[0] = new_ctx();
    s->v = anon(s->ctx[0], VA, NPAGES, VMAP_TYPE_SHARED);
    s->ctx[1] = mm_clone_context(s->ctx[0]);
    cr_assert(!IS_ERR(s->ctx[1]));
}

static int op_shared_first_touch(scene_t *s) { return write_at(s, 1, VA + 4 * PAGE_SIZE, 0x9999); }

static void after_shared_touch(scene_t *s) { cr_assert_eq(get64(s->ctx[0], VA + 4 * PAGE_SIZE), 0x9999); }

Test(fault_injection, anonymous_shared_fault)
{
    sweep(&(scenario_t){ "anonymous shared fault", setup_shared_fresh, op_shared_first_touch, after_shared_touch });
}

static int op_split(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    vmap_t *t = vmap_split(s->v, 3);
    spinlock_release(&s->ctx[0]->mm_lock);
    return IS_ERR(t) ? (int)PTR_ERR(t) : 0;
}

Test(fault_injection, vmap_split)
{
    sweep(&(scenario_t){ "split", rich_parent, op_split, NULL });
}

static int op_unmap_middle(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    int err = mm_unmap_user_pages_locked(s->ctx[0], VA + 2 * PAGE_SIZE, 3);
    spinlock_release(&s->ctx[0]->mm_lock);
    return err;
}

static void after_unmap_middle(scene_t *s)
{
    cr_assert_eq(mm_vmap_count(s->ctx[0]), 4, "the middle of a vmap unmapped: two vmaps where one was");
    cr_assert_eq(get64(s->ctx[0], VA + 6 * PAGE_SIZE), 0x1006);
}

/* Regression: a failed second split used to leave the first one done. */
Test(fault_injection, unmap_middle_of_a_vmap_two_splits)
{
    sweep(&(scenario_t){ "unmap middle", rich_parent, op_unmap_middle, after_unmap_middle });
}

static int op_protect_middle(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    int err = mm_protect_locked(s->ctx[0], VA + 2 * PAGE_SIZE, 3, VM_READ);
    spinlock_release(&s->ctx[0]->mm_lock);
    return err;
}

/* Regression: as above, for mprotect. */
Test(fault_injection, protect_middle_of_a_vmap_two_splits)
{
    sweep(&(scenario_t){ "protect middle", rich_parent, op_protect_middle, NULL });
}

/* A context whose vmap tree is full: VM_TREE_MAX^2 two-page vmaps with
 * one-page holes, made in address order (full leaves under a full root),
 * so that one more vmap splits a leaf, the root, and needs a new root. */
#define TREE_VA ((ptr_t)1 << 33)
#define TREE_VMAPS (VM_TREE_MAX * VM_TREE_MAX)

static void setup_full_tree(scene_t *s)
{
    s->ctx[0] = new_ctx();
    for (size_t i = 0; i < TREE_VMAPS; i++)
        anon(s->ctx[0], TREE_VA + i * 3 * PAGE_SIZE, 2, VMAP_TYPE_PRIVATE);
    cr_assert_eq(s->ctx[0]->vmaps.height, 2);
    cr_assert_eq(s->ctx[0]->vmaps.nodes, VM_TREE_MAX + 1, "every node of the tree full");
}

static int op_vmap_in_full_tree(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    vmap_t *v = mm_get_free_vaddr_locked(s->ctx[0], 1, TREE_VA + (100 * 3 + 2) * PAGE_SIZE, VALLOC_EXACT);
    spinlock_release(&s->ctx[0]->mm_lock);
    return IS_ERR(v) ? (int)PTR_ERR(v) : 0;
}

static void after_vmap_in_full_tree(scene_t *s)
{
    cr_assert_eq(mm_vmap_count(s->ctx[0]), TREE_VMAPS + 1);
    cr_assert_eq(s->ctx[0]->vmaps.height, 3);
}

/* The vmap object, three tree nodes (a leaf, an inner node, a root) and
 * the slab page the first node opens (the 16 nodes in use fill two pages):
 * each allocation's failure leaves the tree and the slab as they were. */
Test(fault_injection, vmap_whose_insert_splits_the_tree_up_to_the_root)
{
    size_t failures = sweep(&(scenario_t){ "vmap in a full tree", setup_full_tree, op_vmap_in_full_tree,
                                           after_vmap_in_full_tree });
    cr_assert_eq(failures, 5, "%zu allocations failed one by one, expected 5", failures);
}

static int op_unmap_in_full_tree(scene_t *s)
{
    spinlock_acquire(&s->ctx[0]->mm_lock);
    int err = mm_unmap_user_pages_locked(s->ctx[0], TREE_VA + (100 * 3 + 1) * PAGE_SIZE, 1);
    spinlock_release(&s->ctx[0]->mm_lock);
    return err;
}

static void after_unmap_in_full_tree(scene_t *s)
{
    cr_assert_eq(mm_vmap_count(s->ctx[0]), TREE_VMAPS);
    spinlock_acquire(&s->ctx[0]->mm_lock);
    vmap_t *v = vmap_obtain(s->ctx[0], TREE_VA + 100 * 3 * PAGE_SIZE, NULL);
    cr_assert_eq(v->npages, 1);
    cr_assert_eq(vmap_obtain(s->ctx[0], TREE_VA + (100 * 3 + 1) * PAGE_SIZE, NULL), ERR_PTR(-ENOENT));
    spinlock_release(&s->ctx[0]->mm_lock);
}

/* munmap of a vmap's tail page in a full tree: the split's new vmap and
 * its insert's three nodes (and slab page) as above; a failure puts the
 * first half's end back. */
Test(fault_injection, unmap_whose_split_splits_the_tree_up_to_the_root)
{
    size_t failures = sweep(&(scenario_t){ "unmap in a full tree", setup_full_tree, op_unmap_in_full_tree,
                                           after_unmap_in_full_tree });
    cr_assert_eq(failures, 5, "%zu allocations failed one by one, expected 5", failures);
}

#define KAREA (hal_kernel_start(G()) + ((ptr_t)96 << 30))

static void setup_kernel_huge(scene_t *s)
{
    (void)s;
    mm_map_kernel_pages(mm_kernel_context(), KAREA, 0x200, 512, VM_RW);
}

static int op_kernel_map(scene_t *s)
{
    (void)s;
    return mm_do_map_kernel(mm_kernel_context(), KAREA + (2u << 20) + 5 * PAGE_SIZE, 0x1234, NPAGES, VM_RW);
}

static int op_kernel_unmap_part_of_huge(scene_t *s)
{
    (void)s;
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    int err = mm_do_unmap(k, KAREA + 7 * PAGE_SIZE, 3);
    spinlock_release(&k->mm_lock);
    return err;
}

static void kernel_cleanup(void)
{
    mm_unmap_kernel_pages(mm_kernel_context(), KAREA, 1024);
}

Test(fault_injection, kernel_map_needing_tables)
{
    fixture_setup();
    size_t before = take_baseline().table_pages;
    size_t failures = 0;
    for (size_t n = 1; n <= MAX_SWEEP; n++) {
        size_t free_before = pmm_free_frames();
        pmm_fail_after(n);
        int err = op_kernel_map(NULL);
        pmm_fail_after(0);
        if (!err)
            break;
        cr_assert_eq(err, -ENOMEM);
        cr_assert_eq(take_baseline().table_pages, before, "allocation %zu failed: %zu table pages left", n,
                     take_baseline().table_pages - before);
        cr_assert_eq(pmm_free_frames(), free_before);
        cr_assert_eq(mm_get_phys_addr(mm_kernel_context(), KAREA + (2u << 20) + 5 * PAGE_SIZE), 0);
        failures++;
    }
    cr_assert_gt(failures, 0);
    cr_assert_eq(mm_get_phys_addr(mm_kernel_context(), KAREA + (2u << 20) + 6 * PAGE_SIZE), (0x1235ull << 12));
    kernel_cleanup();
    cr_assert_eq(take_baseline().table_pages, before);
}

Test(fault_injection, kernel_unmap_splitting_a_huge_leaf)
{
    size_t failures = 0;
    for (size_t n = 1; n <= MAX_SWEEP; n++) {
        fixture_setup();
        setup_kernel_huge(NULL);
        baseline_t b = take_baseline();
        pmm_fail_after(n);
        int err = op_kernel_unmap_part_of_huge(NULL);
        pmm_fail_after(0);
        if (!err) {
            cr_assert_eq(mm_get_phys_addr(mm_kernel_context(), KAREA + 8 * PAGE_SIZE), 0);
            cr_assert_eq(mm_get_phys_addr(mm_kernel_context(), KAREA + 10 * PAGE_SIZE), 0x20aull << 12);
            break;
        }
        cr_assert_eq(err, -ENOMEM);
        failures++;
        baseline_t a = take_baseline();
        cr_assert_eq(a.table_pages, b.table_pages, "a failed split left %zu table pages", a.table_pages - b.table_pages);
        cr_assert_eq(a.free_frames, b.free_frames);
        cr_assert_eq(mm_get_phys_addr(mm_kernel_context(), KAREA + 8 * PAGE_SIZE), 0x208ull << 12);
        check_invariants("kernel unmap");
    }
    cr_assert_gt(failures, 0);
    kernel_cleanup();
}
