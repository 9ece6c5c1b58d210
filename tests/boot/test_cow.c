/* tests/boot/test_cow.c - copy-on-write, zero-on-demand and fork on the
 * real MMU. Every access goes through the MMU with the copy helpers
 * (arch_probe_user_*), so faults take the kernel's real fault path into
 * mm_handle_fault; each test checks the bytes and the free-frame count. */
#include "mm/check.h"
#include "mm/cow.h"
#include "tests/boot/boot_test.h"

#define VA ((ptr_t)0x10000000)

static bool put(mm_context_t *ctx, ptr_t va, uint8_t v)
{
    kernel_switch_context(ctx);
    return bt_write(va, true, v) == 0;
}

/* The byte at va in ctx, or -1 if the read faulted. */
static int get(mm_context_t *ctx, ptr_t va)
{
    kernel_switch_context(ctx);
    uint8_t b;
    return bt_read(va, true, &b) == 0 ? b : -1;
}

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t npages, vm_flags f, vmap_type_t type)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, npages, va, VALLOC_EXACT, f, type);
    spinlock_release(&ctx->mm_lock);
    return v;
}

static bool invariants_hold(ktest_state_t *t)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    KT_EXPECT(t, err == 0, "invariants: error %d, %zu violations of %zu checks, first: %s", err, r.violations, r.checks,
              r.first);
    return err == 0;
}

/* Destroys a context that may be the active one. */
static void drop(mm_context_t *ctx)
{
    if (kernel_current_context() == ctx)
        kernel_switch_context(mm_kernel_context());
    mm_destroy_context(ctx);
}

KTEST(cow_fork_of_two_thirds_of_memory_copies_nothing)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    size_t n = pmm_free_frames() * 2 / 3;
    KT_ASSERT(t, !IS_ERR(anon(p, VA, n, VM_RW, VMAP_TYPE_PRIVATE)), "anonymous map of %zu pages", n);
    for (size_t i = 0; i < n; i++)
        if (!put(p, VA + i * PAGE_SIZE, (uint8_t)i)) {
            bt_leave_context(p);
            KT_ASSERT(t, false, "write to page %zu of %zu", i, n);
        }
    size_t start = pmm_free_frames();
    for (int round = 0; round < 2; round++) {
        cow_stats_t s0, s1;
        cow_get_stats(&s0);
        mm_context_t *c = mm_clone_context(p);
        KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
        size_t used = start - pmm_free_frames();
        KT_EXPECT(t, used < n / 256, "fork used %zu frames for %zu pages", used, n);
        KT_EXPECT(t, get(c, VA + (n - 1) * PAGE_SIZE) == (uint8_t)(n - 1), "child reads the parent's data");
        drop(c);
        cow_get_stats(&s1);
        KT_EXPECT(t, s1.copies == s0.copies, "%zu pages copied", s1.copies - s0.copies);
        KT_EXPECT(t, pmm_free_frames() == start, "round %d: free frames %zu, expected %zu", round, pmm_free_frames(),
                  start);
    }
    KT_EXPECT(t, get(p, VA + 12345 % n * PAGE_SIZE) == (uint8_t)(12345 % n), "parent data intact");
    bt_leave_context(p);
}

KTEST(cow_three_contexts_overlapping_writes_each_see_only_their_own)
{
    mm_context_t *a = bt_enter_context(t);
    KT_ASSERT(t, a && !IS_ERR(anon(a, VA, 64, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    for (size_t i = 0; i < 64; i++)
        put(a, VA + i * PAGE_SIZE, 0xaa);
    size_t start = pmm_free_frames();
    for (int round = 0; round < 3; round++) {
        mm_context_t *ctx[3] = { a, mm_clone_context(a), NULL };
        KT_ASSERT(t, !IS_ERR(ctx[1]), "fork");
        ctx[2] = mm_clone_context(ctx[1]);
        KT_ASSERT(t, !IS_ERR(ctx[2]), "fork");
        for (size_t id = 0; id < 3; id++)
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                KT_EXPECT(t, put(ctx[id], VA + i * PAGE_SIZE, (uint8_t)(10 * round + id)), "write");
        for (size_t id = 0; id < 3; id++)
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                KT_EXPECT(t, get(ctx[id], VA + i * PAGE_SIZE) == 10 * round + (int)id, "context %zu page %zu", id, i);
        invariants_hold(t);
        drop(ctx[1]);
        drop(ctx[2]);
        for (size_t i = 32; i < 64; i++)
            put(a, VA + i * PAGE_SIZE, 0xaa);
    }
    KT_EXPECT(t, pmm_free_frames() == start, "free frames %zu, expected %zu", pmm_free_frames(), start);
    bt_leave_context(a);
}

KTEST(cow_kernel_copy_into_a_cow_page_breaks_it)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 2, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    put(p, VA, 0x11);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork");
    KT_EXPECT(t, put(c, VA, 0x22), "copy_to_user into the child's copy-on-write page");
    KT_EXPECT(t, get(c, VA) == 0x22, "child reads %d", get(c, VA));
    KT_EXPECT(t, get(p, VA) == 0x11, "parent reads %d: the kernel wrote through to the shared frame", get(p, VA));
    invariants_hold(t);
    drop(c);
    bt_leave_context(p);
}

KTEST(cow_fork_chains_and_trees_keep_the_first_context_unchanged)
{
    mm_context_t *root = bt_enter_context(t);
    KT_ASSERT(t, root && !IS_ERR(anon(root, VA, 16, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    for (size_t i = 0; i < 16; i++)
        put(root, VA + i * PAGE_SIZE, (uint8_t)(100 + i));
    size_t start = pmm_free_frames();
    mm_context_t *live[8] = { 0 };
    unsigned seed = 4242;
    for (int round = 0; round < 100; round++) {
        seed = seed * 1103515245 + 12345;
        unsigned slot = (seed >> 16) % 8;
        mm_context_t *parent = root;
        for (unsigned s = 0; ((seed >> 8) & 1) && s < 8; s++)
            if (live[(slot + s) % 8]) {
                parent = live[(slot + s) % 8];
                break;
            }
        mm_context_t *child = mm_clone_context(parent);
        KT_ASSERT(t, !IS_ERR(child), "fork in round %d", round);
        if (live[slot])
            drop(live[slot]);
        live[slot] = child;
        size_t page = (seed >> 20) % 16;
        KT_EXPECT(t, put(child, VA + page * PAGE_SIZE, (uint8_t)round) && get(child, VA + page * PAGE_SIZE) == round,
                  "round %d", round);
        if (round % 25 == 0 && !invariants_hold(t))
            break;
    }
    for (size_t i = 0; i < 16; i++)
        KT_EXPECT(t, get(root, VA + i * PAGE_SIZE) == (int)(100 + i), "root page %zu changed", i);
    for (int s = 0; s < 8; s++)
        if (live[s])
            drop(live[s]);
    KT_EXPECT(t, pmm_free_frames() == start, "free frames %zu, expected %zu", pmm_free_frames(), start);
    invariants_hold(t);
    bt_leave_context(root);
}

KTEST(cow_one_page_shared_by_300_contexts_and_released)
{
    enum { N = 320 };
    static mm_context_t *kids[N];
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 1, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    put(p, VA, 42);
    pfn_t f = mm_get_phys_addr(p, VA) >> PAGE_SHIFT;
    size_t start = pmm_free_frames();
    int made = 0;
    for (; made < N; made++) {
        kids[made] = mm_clone_context(p);
        if (IS_ERR(kids[made]))
            break;
    }
    KT_EXPECT(t, made == N, "only %d forks", made);
    KT_EXPECT(t, pmm_refcount(f) == (uint32_t)made + 1, "refcount %u with %d children", pmm_refcount(f), made);
    KT_EXPECT(t, made == 0 || get(kids[made - 1], VA) == 42, "the last child reads the page");
    for (int i = 0; i < made; i++)
        drop(kids[i]);
    KT_EXPECT(t, pmm_refcount(f) == 1, "refcount %u after release", pmm_refcount(f));
    KT_EXPECT(t, pmm_free_frames() == start, "free frames %zu, expected %zu", pmm_free_frames(), start);
    bt_leave_context(p);
}

KTEST(cow_zero_page_read_then_write_then_unmap)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    put(p, VA, 1); /* tables exist from here on */
    size_t start = pmm_free_frames();
    pfn_t z = mm_zero_page();
    KT_EXPECT(t, get(p, VA + PAGE_SIZE) == 0, "untouched page reads zero");
    KT_EXPECT(t, mm_get_phys_addr(p, VA + PAGE_SIZE) >> PAGE_SHIFT == z, "a read maps the zero page");
    KT_EXPECT(t, pmm_free_frames() == start, "a read allocated memory");
    KT_EXPECT(t, put(p, VA + PAGE_SIZE, 99) && get(p, VA + PAGE_SIZE) == 99, "write after read");
    KT_EXPECT(t, mm_get_phys_addr(p, VA + PAGE_SIZE) >> PAGE_SHIFT != z, "the zero page was written");
    KT_EXPECT(t, pmm_free_frames() == start - 1, "one frame for the written page");
    KT_EXPECT(t, bt_unmap_user(p, VA, 4) == 0, "unmap");
    const uint8_t *zb = pfn_va(z);
    size_t nonzero = 0;
    for (size_t i = 0; i < PAGE_SIZE; i++)
        nonzero += zb[i] != 0;
    KT_EXPECT(t, nonzero == 0, "%zu bytes of the zero page are not zero", nonzero);
    KT_EXPECT(t, pmm_refcount(z) == 1 && pmm_is_allocated(z), "zero page refcount %u", pmm_refcount(z));
    bt_leave_context(p);
}

KTEST(cow_shared_vmap_after_fork_sees_writes_both_ways)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 8, VM_RW, VMAP_TYPE_SHARED)), "setup");
    size_t start = pmm_free_frames();
    put(p, VA, 1);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork");
    KT_EXPECT(t, put(c, VA, 2) && get(p, VA) == 2, "child's write not seen by the parent");
    KT_EXPECT(t, put(c, VA + 3 * PAGE_SIZE, 33) && get(p, VA + 3 * PAGE_SIZE) == 33, "page first touched by the child");
    KT_EXPECT(t, put(p, VA + 5 * PAGE_SIZE, 55) && get(c, VA + 5 * PAGE_SIZE) == 55, "page first touched by the parent");
    invariants_hold(t);
    drop(c);
    KT_EXPECT(t, get(p, VA + 3 * PAGE_SIZE) == 33, "the object keeps the child's page");
    bt_leave_context(p);
    KT_EXPECT(t, pmm_free_frames() >= start, "free frames %zu, started at %zu", pmm_free_frames(), start);
}

KTEST(cow_fault_without_a_free_frame_fails_and_succeeds_later)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    put(p, VA, 10);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork");
    /* hold every free frame, chained through their own first word */
    pfn_t held = PMM_NO_FRAME, f;
    size_t nheld = 0;
    while ((f = pmm_alloc()) != PMM_NO_FRAME) {
        *(pfn_t *)pfn_va(f) = held;
        held = f;
        nheld++;
    }
    kernel_switch_context(c);
    hal_fault_t fault = { .addr = VA, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 1 };
    int err = mm_handle_fault(c, &fault);
    bool wrote = put(c, VA, 20);
    int cv = get(c, VA), pv = get(p, VA);
    while (held != PMM_NO_FRAME) {
        pfn_t next = *(pfn_t *)pfn_va(held);
        pmm_free(held);
        held = next;
    }
    KT_EXPECT(t, nheld > 0, "no frame was free");
    KT_EXPECT(t, err == -ENOMEM, "copy-on-write fault without memory: %d", err);
    KT_EXPECT(t, !wrote, "the write succeeded without memory");
    KT_EXPECT(t, cv == 10 && pv == 10, "child %d parent %d", cv, pv);
    invariants_hold(t);
    KT_EXPECT(t, put(c, VA, 20) && get(c, VA) == 20 && get(p, VA) == 10, "the same fault succeeds once memory is back");
    drop(c);
    bt_leave_context(p);
}

KTEST(cow_parent_write_after_child_exit_reuses_its_frame)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 32, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    for (size_t i = 0; i < 32; i++)
        put(p, VA + i * PAGE_SIZE, (uint8_t)i);
    ptr_t before = mm_get_phys_addr(p, VA);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork");
    drop(c);
    size_t start = pmm_free_frames();
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    for (size_t i = 0; i < 32; i++)
        put(p, VA + i * PAGE_SIZE, (uint8_t)(i + 100));
    cow_get_stats(&s1);
    KT_EXPECT(t, s1.copies == s0.copies, "%zu frames copied", s1.copies - s0.copies);
    KT_EXPECT(t, s1.reuses == s0.reuses + 32, "%zu reuses", s1.reuses - s0.reuses);
    KT_EXPECT(t, mm_get_phys_addr(p, VA) == before, "the page moved");
    KT_EXPECT(t, get(p, VA + 31 * PAGE_SIZE) == 131, "data");
    KT_EXPECT(t, pmm_free_frames() == start, "free frames %zu, expected %zu", pmm_free_frames(), start);
    bt_leave_context(p);
}

KTEST(cow_pages_made_read_only_then_read_write_still_copy)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p && !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "setup");
    put(p, VA, 5);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork");
    spinlock_acquire(&c->mm_lock);
    int e1 = mm_protect_locked(c, VA, 4, VM_READ), e2 = mm_protect_locked(c, VA, 4, VM_RW);
    spinlock_release(&c->mm_lock);
    KT_EXPECT(t, e1 == 0 && e2 == 0, "protect: %d %d", e1, e2);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    KT_EXPECT(t, put(c, VA, 6) && get(c, VA) == 6, "child write");
    cow_get_stats(&s1);
    KT_EXPECT(t, s1.copies == s0.copies + 1, "%zu copies", s1.copies - s0.copies);
    KT_EXPECT(t, get(p, VA) == 5, "the write went to the shared frame");
    invariants_hold(t);
    drop(c);
    bt_leave_context(p);
}
