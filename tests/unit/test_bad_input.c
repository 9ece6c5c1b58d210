/* Bad input gets a clear error and changes nothing; exhaustion halfway
 * through an operation rolls back without leaking a frame or a table. */
#include "fixture.h"

TestSuite(bad_input, .init = fixture_setup);

typedef struct snapshot {
    size_t free_frames, table_pages, vmaps, tlb_events;
} snapshot_t;

static snapshot_t snap(void)
{
    mm_stats_t s;
    mm_get_stats(&s);
    return (snapshot_t){ pmm_free_frames(), s.table_pages, s.vmaps, host_tlb_event_count() };
}

/* After a rollback: counts as before (freeing tables it had linked may
 * have needed an invalidation). */
#define ASSERT_ROLLED_BACK(a)                                                                                          \
    do {                                                                                                               \
        snapshot_t b_ = snap();                                                                                        \
        cr_assert_eq(b_.free_frames, (a).free_frames, "free frames %zu -> %zu", (a).free_frames, b_.free_frames);     \
        cr_assert_eq(b_.table_pages, (a).table_pages, "tables %zu -> %zu", (a).table_pages, b_.table_pages);          \
        cr_assert_eq(b_.vmaps, (a).vmaps, "vmaps %zu -> %zu", (a).vmaps, b_.vmaps);                                   \
        cr_assert_eq(softmmu_stale_entries(), 0);                                                                      \
    } while (0)
/* After a refused call: not even the TLB was touched. */
#define ASSERT_UNCHANGED(a)                                                                                            \
    do {                                                                                                               \
        ASSERT_ROLLED_BACK(a);                                                                                         \
        cr_assert_eq(snap().tlb_events, (a).tlb_events, "a refused call invalidated the TLB");                        \
    } while (0)

#define EXPECT_ERR_PTR(call, err)                                                                                      \
    do {                                                                                                               \
        vmap_t *v_ = (call);                                                                                           \
        cr_assert(IS_ERR(v_), #call " succeeded");                                                                     \
        cr_assert_eq(PTR_ERR(v_), (err), #call ": %ld", PTR_ERR(v_));                                                  \
    } while (0)

static mm_context_t *ctx;
static pfn_t frame;

static void bad_setup(void)
{
    fixture_setup();
    ctx = new_ctx();
    frame = alloc_run(4);
}

Test(bad_input, map_user_pages_refuses_bad_ranges, .init = bad_setup)
{
    ptr_t ue = hal_user_end(G());
    snapshot_t s = snap();
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA + 1, frame, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 0, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, ue - PAGE_SIZE, frame, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, ue, frame, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, hal_kernel_start(G()), frame, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0),
                   -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, KBASE(), frame, 1, VM_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, SIZE_MAX, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 1, VM_RW, (valloc_flags)8, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 1, VM_RW, VALLOC_EXACT, (vmap_type_t)0, 0), -EINVAL);
    ASSERT_UNCHANGED(s);
}

Test(bad_input, map_user_pages_refuses_bad_flags_and_frames, .init = bad_setup)
{
    snapshot_t s = snap();
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 1, VM_WRITE, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 1, VM_RW | VM_GLOBAL, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, frame, 1, (vm_flags)(VM_RW | 0x800), VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0),
                   -EINVAL);
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, ps.end_pfn, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, ps.end_pfn - 1, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, ps.base_pfn, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    pfn_t freed = alloc_run(1);
    pmm_free(freed);
    s = snap();
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA, freed, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0), -EINVAL);
    ASSERT_UNCHANGED(s);
}

Test(bad_input, exact_over_an_existing_vmap_is_eexist, .init = bad_setup)
{
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, frame, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0);
    cr_assert(!IS_ERR(v));
    snapshot_t s = snap();
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA + PAGE_SIZE, frame + 2, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0),
                   -EEXIST);
    EXPECT_ERR_PTR(mm_map_user_pages(ctx, USER_VA - PAGE_SIZE, frame + 2, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0),
                   -EEXIST);
    ASSERT_UNCHANGED(s);
    cr_assert_eq(pmm_refcount(frame + 2), 0);
    cr_assert_eq(mm_get_phys_addr(ctx, USER_VA + PAGE_SIZE), (frame + 1) << PAGE_SHIFT, "existing mapping changed");
}

Test(bad_input, lower_layer_refuses_bad_ranges_with_einval, .init = bad_setup)
{
    mm_context_t *k = mm_kernel_context();
    ptr_t ue = hal_user_end(G()), ks = hal_kernel_start(G());
    snapshot_t s = snap();
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_do_map(ctx, USER_VA + 8, frame, 1, VM_USER_RW), -EINVAL);
    cr_assert_eq(mm_do_map(ctx, USER_VA, frame, 0, VM_USER_RW), -EINVAL);
    cr_assert_eq(mm_do_map(ctx, ue - PAGE_SIZE, frame, 2, VM_USER_RW), -EINVAL, "crosses the user/kernel split");
    cr_assert_eq(mm_do_map(ctx, USER_VA, frame, 1, VM_RW), -EINVAL, "user-half mapping without VM_USER");
    cr_assert_eq(mm_do_unmap(ctx, ue, 1), -EINVAL, "non-canonical");
    cr_assert_eq(mm_do_unmap(ctx, ks - PAGE_SIZE, 1), -EINVAL, "non-canonical");
    cr_assert_eq(mm_do_flag(ctx, USER_VA, 1, VM_WRITE), -EINVAL);
    cr_assert_eq(mm_do_flag(ctx, USER_VA + 1, 1, VM_USER_RO), -EINVAL);
    cr_assert_eq(mm_do_translate(ctx, ue + 0x5000, NULL, NULL), -EINVAL);
    cr_assert_eq(mm_do_replace(ctx, KBASE(), frame, VM_RW), -EINVAL, "replace in the kernel half");
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, KBASE(), 1), -EINVAL);
    cr_assert_eq(mm_do_copy(ctx, ctx, USER_VA, 1, false), -EINVAL);
    EXPECT_ERR_PTR(vmap_create(ctx, USER_VA, 0), -EINVAL);
    EXPECT_ERR_PTR(vmap_create(ctx, ue - PAGE_SIZE, 2), -EINVAL);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(mm_do_map_kernel(k, USER_VA, frame, 1, VM_RW), -EINVAL, "kernel map in the user half");
    cr_assert_eq(mm_do_map_kernel(k, KBASE(), frame, 1, VM_RW | VM_USER), -EINVAL, "user page in the kernel half");
    cr_assert_eq(mm_do_map_kernel(k, KBASE(), hal_max_pfn(G()) + 1, 1, VM_RW), -EINVAL, "frame beyond the arch's width");
    cr_assert_eq(mm_do_map_kernel(k, KBASE(), hal_max_pfn(G()), 2, VM_RW), -EINVAL, "last frame beyond the width");
    cr_assert_eq(mm_do_map_kernel(k, ~(ptr_t)0 - PAGE_SIZE + 1, 0, 1, VM_RW), -EINVAL, "end wraps to 0");
    cr_assert_eq(mm_do_map_kernel(k, ~(ptr_t)0 - 2 * PAGE_SIZE + 1, 0, 4, VM_RW), -EINVAL, "end overflows");
    ASSERT_UNCHANGED(s);
}

Test(bad_input, get_free_vaddr_refuses_bad_requests, .init = bad_setup)
{
    snapshot_t s = snap();
    spinlock_acquire(&ctx->mm_lock);
    EXPECT_ERR_PTR(mm_get_free_vaddr_locked(ctx, 0, 0, VALLOC_DEFAULT), -EINVAL);
    EXPECT_ERR_PTR(mm_get_free_vaddr_locked(ctx, 1, 0x1001, VALLOC_DEFAULT), -EINVAL);
    EXPECT_ERR_PTR(mm_get_free_vaddr_locked(ctx, 1, KBASE(), VALLOC_DEFAULT), -EINVAL);
    EXPECT_ERR_PTR(mm_get_free_vaddr_locked(ctx, (hal_user_end(G()) >> PAGE_SHIFT), 0, VALLOC_DEFAULT), -ENOMEM);
    EXPECT_ERR_PTR(mm_get_free_vaddr_locked(ctx, SIZE_MAX, 0, VALLOC_DEFAULT), -EINVAL);
    spinlock_release(&ctx->mm_lock);
    ASSERT_UNCHANGED(s);
}

/* Sweep "fail the Nth allocation" over an operation until it succeeds;
 * every failure must be -ENOMEM and leave the counts as they were. */
Test(bad_input, map_out_of_frames_at_every_allocation_rolls_back, .init = bad_setup)
{
    size_t n = 1000;
    pfn_t f = alloc_run(1000);
    ptr_t va = 0x40000000 - 3 * PAGE_SIZE; /* crosses a 1 GiB line: fresh tables at several levels */
    int failures = 0;
    for (size_t nth = 1;; nth++) {
        snapshot_t s = snap();
        pmm_fail_after(nth);
        vmap_t *v = mm_map_user_pages(ctx, va, f, n, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0);
        pmm_fail_after(0);
        if (!IS_ERR(v))
            break;
        failures++;
        cr_assert_eq(PTR_ERR(v), -ENOMEM, "allocation %zu: %ld", nth, PTR_ERR(v));
        ASSERT_ROLLED_BACK(s);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(pmm_refcount(f + i), 0, "frame %zu kept a reference", i);
        cr_assert_lt(nth, 100, "never succeeds");
    }
    cr_assert_geq(failures, 4, "the sweep should hit the vmap object and several tables, got %d", failures);
}

/* The one-page case (faults, mm_replace_page_locked) descends once from the
 * root making tables on the way: each failure must give them all back. */
Test(bad_input, map_one_page_out_of_frames_at_every_allocation_rolls_back, .init = bad_setup)
{
    pfn_t f = alloc_run(1);
    ptr_t va = hal_user_end(G()) - 16 * PAGE_SIZE; /* under root entries nothing else uses */
    int failures = 0;
    for (size_t nth = 1;; nth++) {
        snapshot_t s = snap();
        pmm_fail_after(nth);
        vmap_t *v = mm_map_user_pages(ctx, va, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0);
        pmm_fail_after(0);
        if (!IS_ERR(v))
            break;
        failures++;
        cr_assert_eq(PTR_ERR(v), -ENOMEM, "allocation %zu: %ld", nth, PTR_ERR(v));
        ASSERT_ROLLED_BACK(s);
        cr_assert_eq(pmm_refcount(f), 0, "the frame kept a reference");
        cr_assert_lt(nth, 20, "never succeeds");
    }
    /* the vmap object (and maybe its slab page), then one table per level below the root */
    cr_assert_geq(failures, (int)G()->levels, "failures %d for %u levels", failures, G()->levels);
    cr_assert_eq(pmm_refcount(f), 1);
    cr_assert(mm_get_phys_addr(ctx, va) == (ptr_t)f << PAGE_SHIFT);
}

Test(bad_input, clone_out_of_frames_leaves_destination_unchanged, .init = bad_setup)
{
    pfn_t f = alloc_run(600);
    vmap_t *v = mm_map_user_pages(ctx, 0x3fe00000, f, 600, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0);
    cr_assert(!IS_ERR(v));
    mm_context_t *dst = new_ctx();
    int failures = 0;
    for (size_t nth = 1;; nth++) {
        snapshot_t s = snap();
        mm_lock_ctx_pair(ctx, dst);
        pmm_fail_after(nth);
        vmap_t *c = mm_clone_vmap_locked(v, dst);
        pmm_fail_after(0);
        mm_unlock_ctx_pair(ctx, dst);
        if (!IS_ERR(c))
            break;
        failures++;
        cr_assert_eq(PTR_ERR(c), -ENOMEM);
        cr_assert_eq(s.free_frames, snap().free_frames);
        cr_assert_eq(s.table_pages, snap().table_pages);
        cr_assert_eq(mm_vmap_count(dst), 0);
        cr_assert_eq(dst->table_pages, 0);
        for (size_t i = 0; i < 600; i++)
            cr_assert_eq(pmm_refcount(f + i), 1);
        cr_assert_lt(nth, 100);
    }
    cr_assert_geq(failures, 3);
    for (size_t i = 0; i < 600; i++)
        cr_assert_eq(pmm_refcount(f + i), 2);
}

Test(bad_input, kernel_map_out_of_frames_rolls_back, .init = bad_setup)
{
    int failures = 0;
    for (size_t nth = 1;; nth++) {
        snapshot_t s = snap();
        pmm_fail_after(nth);
        int err = mm_do_map_kernel(mm_kernel_context(), KBASE() + 0x1ff000, 0x5000, 3, VM_RW);
        pmm_fail_after(0);
        if (!err)
            break;
        failures++;
        cr_assert_eq(err, -ENOMEM);
        ASSERT_ROLLED_BACK(s);
    }
    cr_assert_geq(failures, 2);
}

Test(bad_input, create_context_out_of_memory_leaks_nothing, .init = bad_setup)
{
    for (size_t nth = 1;; nth++) {
        snapshot_t s = snap();
        pmm_fail_after(nth);
        mm_context_t *c = mm_create_context();
        pmm_fail_after(0);
        if (!IS_ERR(c)) {
            mm_destroy_context(c);
            break;
        }
        cr_assert_eq(PTR_ERR(c), -ENOMEM);
        ASSERT_ROLLED_BACK(s);
    }
}

Test(bad_input, split_out_of_memory_leaves_the_vmap_whole, .init = bad_setup)
{
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, frame, 4, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, 0);
    spinlock_acquire(&ctx->mm_lock);
    pmm_fail_after(1);
    EXPECT_ERR_PTR(vmap_split(v, 2), -ENOMEM);
    pmm_fail_after(0);
    cr_assert_eq(v->npages, 4);
    cr_assert_eq(mm_vmap_count(ctx), 1);
    EXPECT_ERR_PTR(vmap_split(v, 0), -EINVAL);
    EXPECT_ERR_PTR(vmap_split(v, 4), -EINVAL);
    spinlock_release(&ctx->mm_lock);
}
