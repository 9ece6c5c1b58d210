/* Copy-on-write, zero-on-demand and fork, through the software MMU: every
 * access goes through the real tables and every fault through
 * mm_handle_fault. */
#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"

TestSuite(cow, .init = fixture_setup);

#define VA ((ptr_t)0x10000000)

static void check_invariants(void)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "invariants: %zu violations of %zu checks; first: %s", r.violations, r.checks, r.first);
    cr_assert_gt(r.checks, 0);
}

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t npages, vm_flags f, vmap_type_t type)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, npages, va, VALLOC_EXACT, f, type);
    spinlock_release(&ctx->mm_lock);
    cr_assert(!IS_ERR(v), "anonymous map: %ld", PTR_ERR(v));
    return v;
}

static mm_context_t *fork_of(mm_context_t *p)
{
    mm_context_t *c = mm_clone_context(p);
    cr_assert(!IS_ERR(c), "fork: %ld", PTR_ERR(c));
    return c;
}

Test(cow, fork_of_two_thirds_of_memory_copies_nothing_and_leaks_nothing)
{
    mm_context_t *p = new_ctx();
    size_t n = pmm_free_frames() * 2 / 3;
    anon(p, VA, n, VM_RW, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < n; i++)
        put64(p, VA + i * PAGE_SIZE, i * 3 + 1);
    check_invariants();
    size_t start = pmm_free_frames();
    for (int round = 0; round < 2; round++) {
        cow_stats_t s0, s1;
        cow_get_stats(&s0);
        mm_context_t *c = fork_of(p);
        size_t used = start - pmm_free_frames();
        cr_assert_lt(used, n / 256, "fork used %zu frames for %zu pages: an eager copy?", used, n);
        cr_assert_eq(get64(c, VA + (n - 1) * PAGE_SIZE), (n - 1) * 3 + 1);
        check_invariants();
        mm_destroy_context(c);
        cr_assert_eq(pmm_free_frames(), start, "round %d: %zu frames lost", round, start - pmm_free_frames());
        cow_get_stats(&s1);
        cr_assert_eq(s1.copies, s0.copies);
    }
    for (size_t i = 0; i < n; i += 97)
        cr_assert_eq(get64(p, VA + i * PAGE_SIZE), i * 3 + 1);
    mm_destroy_context(p);
}

Test(cow, three_contexts_overlapping_writes_each_see_only_their_own)
{
    mm_context_t *a = new_ctx();
    anon(a, VA, 64, VM_RW, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < 64; i++)
        put64(a, VA + i * PAGE_SIZE, 0xaaaa);
    size_t start = pmm_free_frames();
    for (int round = 0; round < 3; round++) {
        mm_context_t *ctx[3] = { a, fork_of(a), NULL };
        ctx[2] = fork_of(ctx[1]);
        for (size_t id = 0; id < 3; id++) /* overlapping ranges: [id*16, id*16 + 32) */
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                put64(ctx[id], VA + i * PAGE_SIZE, 100 * round + id);
        for (size_t id = 0; id < 3; id++)
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                cr_assert_eq(get64(ctx[id], VA + i * PAGE_SIZE), 100 * round + id, "context %zu page %zu", id, i);
        check_invariants();
        mm_destroy_context(ctx[1]);
        mm_destroy_context(ctx[2]);
        check_invariants();
        for (size_t i = 32; i < 64; i++)
            put64(a, VA + i * PAGE_SIZE, 0xaaaa);
    }
    cr_assert_eq(pmm_free_frames(), start);
    mm_destroy_context(a);
}

Test(cow, kernel_copy_into_a_cow_page_breaks_it)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 2, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA, 1111);
    mm_context_t *c = fork_of(p);
    uint64_t v = 2222;
    softmmu_set_user_access(true); /* what copy_to_user does */
    cr_assert_eq(softmmu_write(c, VA, &v, sizeof v, false), 0);
    softmmu_set_user_access(false);
    cr_assert_eq(get64(c, VA), 2222);
    cr_assert_eq(get64(p, VA), 1111, "the kernel wrote through to the shared frame");
    /* without the helper's user access, a kernel write is refused (SMAP) */
    cr_assert_eq(softmmu_write(c, VA, &v, sizeof v, false), -EFAULT);
    check_invariants();
    mm_destroy_context(c);
    mm_destroy_context(p);
}

Test(cow, fork_chains_and_trees_keep_the_first_context_unchanged)
{
    mm_context_t *root = new_ctx();
    anon(root, VA, 16, VM_RW, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < 16; i++)
        put64(root, VA + i * PAGE_SIZE, 7000 + i);
    size_t start = pmm_free_frames();
    mm_context_t *live[8] = { 0 };
    unsigned seed = 12345;
    for (int round = 0; round < 100; round++) {
        seed = seed * 1103515245 + 12345;
        unsigned slot = (seed >> 16) % 8;
        mm_context_t *parent = root;
        if ((seed >> 8) & 1) { /* a chain: fork a child of a child */
            for (unsigned s = 0; s < 8; s++)
                if (live[(slot + s) % 8]) {
                    parent = live[(slot + s) % 8];
                    break;
                }
        }
        mm_context_t *child = fork_of(parent);
        if (live[slot])
            mm_destroy_context(live[slot]);
        live[slot] = child;
        size_t page = (seed >> 20) % 16;
        put64(live[slot], VA + page * PAGE_SIZE, round);
        cr_assert_eq(get64(live[slot], VA + page * PAGE_SIZE), (uint64_t)round);
        if (round % 10 == 0)
            check_invariants();
    }
    check_invariants();
    for (size_t i = 0; i < 16; i++)
        cr_assert_eq(get64(root, VA + i * PAGE_SIZE), 7000 + i);
    for (int s = 0; s < 8; s++)
        if (live[s])
            mm_destroy_context(live[s]);
    cr_assert_eq(pmm_free_frames(), start);
    check_invariants();
    mm_destroy_context(root);
}

Test(cow, one_page_shared_by_300_contexts_and_released)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 1, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA, 42);
    pfn_t f = mm_get_phys_addr(p, VA) >> PAGE_SHIFT;
    size_t start = pmm_free_frames();
    enum { N = 320 };
    static mm_context_t *kids[N];
    for (int i = 0; i < N; i++)
        kids[i] = fork_of(p);
    cr_assert_eq(pmm_refcount(f), N + 1);
    cr_assert_eq(get64(kids[N - 1], VA), 42);
    check_invariants();
    for (int i = 0; i < N; i++)
        mm_destroy_context(kids[i]);
    cr_assert_eq(pmm_refcount(f), 1);
    cr_assert_eq(pmm_free_frames(), start);
    mm_destroy_context(p);
}

Test(cow, zero_page_read_then_write_then_unmap)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA, 1); /* the tables exist from here on */
    size_t start = pmm_free_frames();
    pfn_t z = mm_zero_page();
    cr_assert_eq(get64(p, VA + PAGE_SIZE), 0);
    cr_assert_eq(mm_get_phys_addr(p, VA + PAGE_SIZE) >> PAGE_SHIFT, z, "a read maps the zero page");
    cr_assert_eq(pmm_refcount(z), 2);
    cr_assert_eq(pmm_free_frames(), start, "a read allocated memory");
    put64(p, VA + PAGE_SIZE, 99);
    cr_assert_neq(mm_get_phys_addr(p, VA + PAGE_SIZE) >> PAGE_SHIFT, z);
    cr_assert_eq(pmm_refcount(z), 1);
    cr_assert_eq(get64(p, VA + PAGE_SIZE), 99);
    cr_assert_eq(pmm_free_frames(), start - 1);
    check_invariants();
    spinlock_acquire(&p->mm_lock);
    cr_assert_eq(mm_unmap_user_pages_locked(p, VA, 4), 0);
    spinlock_release(&p->mm_lock);
    const uint8_t *zb = pfn_va(z);
    for (size_t i = 0; i < PAGE_SIZE; i++)
        cr_assert_eq(zb[i], 0, "zero page written at %zu", i);
    cr_assert_eq(pmm_refcount(z), 1);
    cr_assert(pmm_is_allocated(z));
    mm_destroy_context(p);
}

Test(cow, shared_vmap_after_fork_sees_writes_both_ways)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 8, VM_RW, VMAP_TYPE_SHARED);
    put64(p, VA, 1); /* touched before the fork */
    size_t start_frames = pmm_free_frames();
    mm_context_t *c = fork_of(p);
    put64(c, VA, 2);
    cr_assert_eq(get64(p, VA), 2);
    put64(c, VA + 3 * PAGE_SIZE, 33); /* first touched after the fork, by the child */
    cr_assert_eq(get64(p, VA + 3 * PAGE_SIZE), 33);
    put64(p, VA + 5 * PAGE_SIZE, 55); /* ... and by the parent */
    cr_assert_eq(get64(c, VA + 5 * PAGE_SIZE), 55);
    cr_assert_eq(get64(c, VA + 6 * PAGE_SIZE), 0);
    cr_assert_eq(get64(p, VA + 6 * PAGE_SIZE), 0);
    cr_assert_eq(mm_get_phys_addr(c, VA + 6 * PAGE_SIZE), mm_get_phys_addr(p, VA + 6 * PAGE_SIZE));
    check_invariants();
    mm_destroy_context(c);
    cr_assert_eq(get64(p, VA + 3 * PAGE_SIZE), 33, "the object keeps pages the child touched");
    mm_destroy_context(p);
    (void)start_frames;
}

Test(cow, cow_fault_without_a_free_frame_fails_cleanly_and_succeeds_later)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA, 10);
    mm_context_t *c = fork_of(p);
    /* take every free frame */
    size_t n = pmm_free_frames();
    pfn_t *held = malloc(n * sizeof(pfn_t));
    for (size_t i = 0; i < n; i++)
        held[i] = pmm_alloc();
    cr_assert_eq(pmm_alloc(), PMM_NO_FRAME);
    uint64_t v = 20;
    hal_fault_t f = { .addr = VA, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 1 };
    cr_assert_eq(mm_handle_fault(c, &f), -ENOMEM, "a copy-on-write fault without memory reports -ENOMEM");
    cr_assert_eq(softmmu_write(c, VA, &v, sizeof v, true), -ENOMEM);
    hal_fault_t z = { .addr = VA + PAGE_SIZE, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 0 };
    cr_assert_eq(mm_handle_fault(c, &z), -ENOMEM);
    cr_assert_eq(get64(c, VA), 10);
    cr_assert_eq(get64(p, VA), 10);
    for (size_t i = 0; i < n; i++)
        pmm_free(held[i]);
    free(held);
    check_invariants();
    put64(c, VA, 20);
    cr_assert_eq(get64(c, VA), 20);
    cr_assert_eq(get64(p, VA), 10);
    check_invariants();
    mm_destroy_context(c);
    mm_destroy_context(p);
}

Test(cow, parent_write_after_child_exit_reuses_its_frame)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 32, VM_RW, VMAP_TYPE_PRIVATE);
    for (size_t i = 0; i < 32; i++)
        put64(p, VA + i * PAGE_SIZE, i);
    pfn_t before = mm_get_phys_addr(p, VA) >> PAGE_SHIFT;
    mm_context_t *c = fork_of(p);
    mm_destroy_context(c);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    size_t faults = softmmu_fault_count();
    for (size_t i = 0; i < 32; i++)
        put64(p, VA + i * PAGE_SIZE, i + 100);
    cow_get_stats(&s1);
    cr_assert_eq(s1.copies, s0.copies, "a frame no longer shared was copied");
    cr_assert_eq(s1.reuses, s0.reuses + 32);
    cr_assert_eq(softmmu_fault_count(), faults + 32);
    cr_assert_eq(mm_get_phys_addr(p, VA) >> PAGE_SHIFT, before);
    check_invariants();
    mm_destroy_context(p);
}

Test(cow, cow_pages_made_read_only_then_read_write_still_copy)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA, 5);
    mm_context_t *c = fork_of(p);
    spinlock_acquire(&c->mm_lock);
    cr_assert_eq(mm_protect_locked(c, VA, 4, VM_READ), 0);
    cr_assert_eq(mm_protect_locked(c, VA, 4, VM_RW), 0);
    spinlock_release(&c->mm_lock);
    check_invariants();
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    put64(c, VA, 6);
    cow_get_stats(&s1);
    cr_assert_eq(s1.copies, s0.copies + 1);
    cr_assert_eq(get64(p, VA), 5, "the write went to the shared frame");
    /* raw flag changes keep the guard too */
    mm_context_t *d = fork_of(p);
    spinlock_acquire(&d->mm_lock);
    mm_flag_pages_locked(d, VA, 4, VM_USER_RW);
    spinlock_release(&d->mm_lock);
    put64(d, VA, 7);
    cr_assert_eq(get64(p, VA), 5);
    check_invariants();
    mm_destroy_context(d);
    mm_destroy_context(c);
    mm_destroy_context(p);
}

Test(cow, protect_read_only_refuses_writes_and_splits_vmaps)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 6, VM_RW, VMAP_TYPE_PRIVATE);
    put64(p, VA + 2 * PAGE_SIZE, 1);
    spinlock_acquire(&p->mm_lock);
    cr_assert_eq(mm_protect_locked(p, VA + 2 * PAGE_SIZE, 2, VM_READ), 0);
    cr_assert_eq(mm_vmap_count(p), 3);
    cr_assert_eq(mm_protect_locked(p, VA + 5 * PAGE_SIZE, 2, VM_READ), -ENOMEM, "range beyond the vmaps");
    cr_assert_eq(mm_vmap_count(p), 3);
    spinlock_release(&p->mm_lock);
    uint64_t v = 3;
    cr_assert_eq(softmmu_write(p, VA + 2 * PAGE_SIZE, &v, sizeof v, true), -EFAULT);
    cr_assert_eq(softmmu_write(p, VA + 3 * PAGE_SIZE, &v, sizeof v, true), -EFAULT, "untouched page of a read-only vmap");
    cr_assert_eq(get64(p, VA + 3 * PAGE_SIZE), 0);
    put64(p, VA + 4 * PAGE_SIZE, 4);
    check_invariants();
    mm_destroy_context(p);
}

Test(cow, access_outside_vmaps_or_against_their_flags_is_refused_and_allocates_nothing)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 2, VM_READ, VMAP_TYPE_PRIVATE);
    size_t start = pmm_free_frames(), tables = take_baseline().table_pages;
    uint64_t v = 1;
    cr_assert_eq(softmmu_write(p, VA + 2 * PAGE_SIZE, &v, sizeof v, true), -EFAULT);
    cr_assert_eq(softmmu_write(p, VA, &v, sizeof v, true), -EFAULT);
    hal_fault_t x = { .addr = VA, .access = HAL_ACCESS_EXEC, .user_mode = true, .present = 0 };
    cr_assert_eq(mm_handle_fault(p, &x), -EFAULT);
    hal_fault_t k = { .addr = KBASE(), .access = HAL_ACCESS_READ, .user_mode = true, .present = 0 };
    cr_assert_eq(mm_handle_fault(p, &k), -EFAULT);
    hal_fault_t nc = { .addr = hal_user_end(G()) + 8, .access = HAL_ACCESS_READ, .user_mode = true, .present = 0 };
    cr_assert_eq(mm_handle_fault(p, &nc), -EFAULT);
    cr_assert_eq(pmm_free_frames(), start);
    cr_assert_eq(take_baseline().table_pages, tables);
    mm_destroy_context(p);
}

Test(cow, fork_out_of_memory_at_every_allocation_leaves_the_parent_as_it_was)
{
    mm_context_t *p = new_ctx();
    anon(p, VA, 600, VM_RW, VMAP_TYPE_PRIVATE);
    anon(p, 0x40000000, 3, VM_RW, VMAP_TYPE_SHARED);
    for (size_t i = 0; i < 600; i += 3)
        put64(p, VA + i * PAGE_SIZE, i);
    put64(p, 0x40000000, 77);
    host_tlb_log_clear();
    int failures = 0;
    for (size_t nth = 1;; nth++) {
        baseline_t b = take_baseline();
        pmm_fail_after(nth);
        mm_context_t *c = mm_clone_context(p);
        pmm_fail_after(0);
        if (!IS_ERR(c)) {
            mm_destroy_context(c);
            break;
        }
        failures++;
        cr_assert_eq(PTR_ERR(c), -ENOMEM);
        cr_assert_eq(take_baseline().free_frames, b.free_frames);
        cr_assert_eq(take_baseline().table_pages, b.table_pages);
        /* the parent's pages are still writable without a fault */
        cr_assert_eq(softmmu_walk(p, VA, HAL_ACCESS_WRITE, true, NULL), SOFTMMU_OK);
        check_invariants();
        cr_assert_lt(nth, 200);
    }
    cr_assert_geq(failures, 4);
    for (size_t i = 0; i < 600; i += 3)
        cr_assert_eq(get64(p, VA + i * PAGE_SIZE), i);
    mm_destroy_context(p);
}
