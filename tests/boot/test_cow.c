/* tests/boot/test_cow.c - copy-on-write, zero-on-demand and fork on the real
 * MMU: every access is a kernel copy-helper probe through the hardware
 * tables, every fault goes trap -> kernel_handle_fault -> mm_handle_fault.
 * The ten scenarios of the copy-on-write issue, each ending with the
 * invariant checker and (in the runner) the free-frame count. */
#include "mm/check.h"
#include "mm/cow.h"
#include "tests/boot/boot_test.h"

#define VA ((ptr_t)0x10000000)

/* Makes ctx active so that its faults are resolved in it. */
static void use(mm_context_t *ctx)
{
    if (kernel_current_context() != ctx)
        kernel_switch_context(ctx);
}

static int put64(mm_context_t *ctx, ptr_t va, uint64_t v)
{
    use(ctx);
    for (unsigned i = 0; i < 8; i++)
        if (arch_probe_user_write((volatile void *)(va + i), (uint8_t)(v >> (8 * i))) != 0)
            return -EFAULT;
    return 0;
}

/* The value at va, or ~0 if the read faulted. */
static uint64_t get64(mm_context_t *ctx, ptr_t va)
{
    use(ctx);
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        uint8_t b;
        if (arch_probe_user_read((const volatile void *)(va + i), &b) != 0)
            return ~(uint64_t)0;
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

static void destroy(mm_context_t *ctx)
{
    if (kernel_current_context() == ctx)
        kernel_switch_context(mm_kernel_context());
    mm_destroy_context(ctx);
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
    if (err || r.checks == 0)
        ktest_fail_at(t, __FILE__, __LINE__, "invariants", "error %d, %zu violations of %zu checks; first: %s", err,
                      r.violations, r.checks, r.first);
    return err == 0;
}

static pfn_t frame_at(mm_context_t *ctx, ptr_t va) { return mm_get_phys_addr(ctx, va) >> PAGE_SHIFT; }

KTEST(cow_fork_of_two_thirds_of_memory_copies_nothing_and_leaks_nothing)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    size_t n = pmm_free_frames() * 2 / 3;
    vmap_t *v = anon(p, VA, n, VM_RW, VMAP_TYPE_PRIVATE);
    KT_ASSERT(t, !IS_ERR(v), "anonymous map of %zu pages: %ld", n, PTR_ERR(v));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += arch_probe_user_write((volatile void *)(VA + i * PAGE_SIZE), (uint8_t)(i * 3 + 1)) != 0;
    KT_EXPECT(t, bad == 0, "%zu of %zu page writes faulted for good", bad, n);
    printk("# %zu pages written (%zu MiB)\n", n, n >> 8);
    invariants_hold(t);
    size_t start = pmm_free_frames();
    for (int round = 0; round < 2; round++) {
        cow_stats_t s0, s1;
        cow_get_stats(&s0);
        mm_context_t *c = mm_clone_context(p);
        KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
        size_t used = start - pmm_free_frames();
        KT_EXPECT(t, used < n / 256, "fork used %zu frames for %zu pages: an eager copy?", used, n);
        uint8_t b = 0;
        use(c);
        KT_EXPECT(t, arch_probe_user_read((const volatile void *)(VA + (n - 1) * PAGE_SIZE), &b) == 0 &&
                         b == (uint8_t)((n - 1) * 3 + 1),
                  "child reads %x at the last page", b);
        invariants_hold(t);
        destroy(c);
        KT_EXPECT(t, pmm_free_frames() == start, "round %d: %ld frames lost", round, (long)(start - pmm_free_frames()));
        cow_get_stats(&s1);
        KT_EXPECT(t, s1.copies == s0.copies, "round %d: %zu copies", round, s1.copies - s0.copies);
    }
    use(p);
    bad = 0;
    for (size_t i = 0; i < n; i += 97) {
        uint8_t b = 0;
        bad += arch_probe_user_read((const volatile void *)(VA + i * PAGE_SIZE), &b) != 0 || b != (uint8_t)(i * 3 + 1);
    }
    KT_EXPECT(t, bad == 0, "%zu sampled pages of the parent changed", bad);
    bt_leave_context(p);
}

KTEST(cow_three_contexts_overlapping_writes_each_see_only_their_own)
{
    mm_context_t *a = bt_enter_context(t);
    KT_ASSERT(t, a, "no context");
    KT_ASSERT(t, !IS_ERR(anon(a, VA, 64, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    for (size_t i = 0; i < 64; i++)
        KT_EXPECT(t, put64(a, VA + i * PAGE_SIZE, 0xaaaa) == 0, "write %zu", i);
    size_t start = pmm_free_frames();
    for (int round = 0; round < 3; round++) {
        mm_context_t *ctx[3] = { a, mm_clone_context(a), NULL };
        KT_ASSERT(t, !IS_ERR(ctx[1]), "fork: %ld", PTR_ERR(ctx[1]));
        ctx[2] = mm_clone_context(ctx[1]);
        KT_ASSERT(t, !IS_ERR(ctx[2]), "fork: %ld", PTR_ERR(ctx[2]));
        size_t wrong = 0;
        for (size_t id = 0; id < 3; id++) /* overlapping ranges: [id*16, id*16 + 32) */
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                wrong += put64(ctx[id], VA + i * PAGE_SIZE, 100 * (uint64_t)round + id) != 0;
        for (size_t id = 0; id < 3; id++)
            for (size_t i = id * 16; i < id * 16 + 32; i++)
                wrong += get64(ctx[id], VA + i * PAGE_SIZE) != 100 * (uint64_t)round + id;
        KT_EXPECT(t, wrong == 0, "round %d: %zu accesses saw another context's value or faulted", round, wrong);
        invariants_hold(t);
        destroy(ctx[1]);
        destroy(ctx[2]);
        for (size_t i = 32; i < 64; i++)
            put64(a, VA + i * PAGE_SIZE, 0xaaaa);
    }
    KT_EXPECT(t, pmm_free_frames() == start, "%ld frames lost", (long)(start - pmm_free_frames()));
    bt_leave_context(a);
}

KTEST(cow_kernel_copy_into_a_cow_page_breaks_it)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 2, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    KT_ASSERT(t, put64(p, VA, 1111) == 0, "parent write");
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
    KT_EXPECT(t, frame_at(c, VA) == frame_at(p, VA), "fork did not share the frame");
    use(c);
    KT_EXPECT(t, put64(c, VA, 2222) == 0, "the copy helper's write into the child's cow page");
    KT_EXPECT(t, get64(c, VA) == 2222, "child reads %llx", (unsigned long long)get64(c, VA));
    KT_EXPECT(t, get64(p, VA) == 1111, "the kernel wrote through to the shared frame: parent reads %llx",
              (unsigned long long)get64(p, VA));
    KT_EXPECT(t, frame_at(c, VA) != frame_at(p, VA), "the child still maps the parent's frame");
    if (arch_cpu_has("smap")) {
        use(c);
        KT_EXPECT(t, arch_probe_write((volatile void *)VA, 1) == -EFAULT, "a plain kernel write was allowed");
    }
    invariants_hold(t);
    destroy(c);
    bt_leave_context(p);
}

KTEST(cow_fork_chains_and_trees_keep_the_first_context_unchanged)
{
    mm_context_t *root = bt_enter_context(t);
    KT_ASSERT(t, root, "no context");
    KT_ASSERT(t, !IS_ERR(anon(root, VA, 16, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    for (size_t i = 0; i < 16; i++)
        put64(root, VA + i * PAGE_SIZE, 7000 + i);
    size_t start = pmm_free_frames(), wrong = 0;
    mm_context_t *live[8] = { 0 };
    unsigned seed = 12345;
    for (int round = 0; round < 100; round++) {
        seed = seed * 1103515245 + 12345;
        unsigned slot = (seed >> 16) % 8;
        mm_context_t *parent = root;
        if ((seed >> 8) & 1) /* a chain: fork a child of a child */
            for (unsigned s = 0; s < 8; s++)
                if (live[(slot + s) % 8]) {
                    parent = live[(slot + s) % 8];
                    break;
                }
        mm_context_t *child = mm_clone_context(parent);
        KT_ASSERT(t, !IS_ERR(child), "round %d: fork: %ld", round, PTR_ERR(child));
        if (live[slot])
            destroy(live[slot]);
        live[slot] = child;
        size_t page = (seed >> 20) % 16;
        wrong += put64(child, VA + page * PAGE_SIZE, (uint64_t)round) != 0;
        wrong += get64(child, VA + page * PAGE_SIZE) != (uint64_t)round;
        if (round % 25 == 0)
            invariants_hold(t);
    }
    KT_EXPECT(t, wrong == 0, "%zu accesses in the children went wrong", wrong);
    invariants_hold(t);
    for (size_t i = 0; i < 16; i++)
        KT_EXPECT(t, get64(root, VA + i * PAGE_SIZE) == 7000 + i, "root page %zu reads %llx", i,
                  (unsigned long long)get64(root, VA + i * PAGE_SIZE));
    for (int s = 0; s < 8; s++)
        if (live[s])
            destroy(live[s]);
    KT_EXPECT(t, pmm_free_frames() == start, "%ld frames lost", (long)(start - pmm_free_frames()));
    bt_leave_context(root);
}

KTEST(cow_one_page_shared_by_320_contexts_and_released)
{
    enum { N = 320 };
    static mm_context_t *kids[N];
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 1, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    KT_ASSERT(t, put64(p, VA, 42) == 0, "write");
    pfn_t f = frame_at(p, VA);
    size_t start = pmm_free_frames();
    int made = 0;
    for (; made < N; made++) {
        kids[made] = mm_clone_context(p);
        if (IS_ERR(kids[made])) {
            ktest_fail_at(t, __FILE__, __LINE__, "fork", "child %d: %ld", made, PTR_ERR(kids[made]));
            break;
        }
    }
    KT_EXPECT(t, pmm_refcount(f) == (uint32_t)made + 1, "refcount %u with %d children", pmm_refcount(f), made);
    if (made)
        KT_EXPECT(t, get64(kids[made - 1], VA) == 42, "the last child reads %llx",
                  (unsigned long long)get64(kids[made - 1], VA));
    invariants_hold(t);
    for (int i = 0; i < made; i++)
        destroy(kids[i]);
    KT_EXPECT(t, pmm_refcount(f) == 1, "refcount %u after the children went", pmm_refcount(f));
    KT_EXPECT(t, pmm_free_frames() == start, "%ld frames lost", (long)(start - pmm_free_frames()));
    bt_leave_context(p);
}

KTEST(cow_zero_page_read_then_write_then_unmap)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    KT_ASSERT(t, put64(p, VA, 1) == 0, "write"); /* the tables exist from here on */
    size_t start = pmm_free_frames();
    pfn_t z = mm_zero_page();
    uint32_t zref = pmm_refcount(z);
    KT_EXPECT(t, get64(p, VA + PAGE_SIZE) == 0, "untouched page reads non-zero");
    KT_EXPECT(t, frame_at(p, VA + PAGE_SIZE) == z, "a read did not map the zero page");
    KT_EXPECT(t, pmm_refcount(z) == zref + 1, "zero page refcount %u, expected %u", pmm_refcount(z), zref + 1);
    KT_EXPECT(t, pmm_free_frames() == start, "a read allocated memory");
    KT_EXPECT(t, put64(p, VA + PAGE_SIZE, 99) == 0, "write after the read");
    KT_EXPECT(t, frame_at(p, VA + PAGE_SIZE) != z, "the write did not replace the zero page");
    KT_EXPECT(t, pmm_refcount(z) == zref, "zero page refcount %u after the write", pmm_refcount(z));
    KT_EXPECT(t, get64(p, VA + PAGE_SIZE) == 99, "reads back %llx", (unsigned long long)get64(p, VA + PAGE_SIZE));
    KT_EXPECT(t, pmm_free_frames() == start - 1, "free frames %zu, expected %zu", pmm_free_frames(), start - 1);
    invariants_hold(t);
    KT_EXPECT(t, bt_unmap_user(p, VA, 4) == 0, "unmap");
    const uint8_t *zb = pfn_va(z);
    size_t dirty = 0;
    for (size_t i = 0; i < PAGE_SIZE; i++)
        dirty += zb[i] != 0;
    KT_EXPECT(t, dirty == 0, "the zero page has %zu non-zero bytes", dirty);
    KT_EXPECT(t, pmm_is_allocated(z) && pmm_refcount(z) == zref, "zero page freed or refcount %u", pmm_refcount(z));
    bt_leave_context(p);
}

KTEST(cow_shared_vmap_after_fork_sees_writes_both_ways)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 8, VM_RW, VMAP_TYPE_SHARED)), "map");
    KT_ASSERT(t, put64(p, VA, 1) == 0, "write before the fork");
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
    KT_EXPECT(t, put64(c, VA, 2) == 0 && get64(p, VA) == 2, "parent does not see the child's write");
    KT_EXPECT(t, put64(c, VA + 3 * PAGE_SIZE, 33) == 0 && get64(p, VA + 3 * PAGE_SIZE) == 33,
              "a page first touched by the child after the fork is not shared");
    KT_EXPECT(t, put64(p, VA + 5 * PAGE_SIZE, 55) == 0 && get64(c, VA + 5 * PAGE_SIZE) == 55,
              "a page first touched by the parent after the fork is not shared");
    KT_EXPECT(t, get64(c, VA + 6 * PAGE_SIZE) == 0 && get64(p, VA + 6 * PAGE_SIZE) == 0, "untouched pages read zero");
    KT_EXPECT(t, mm_get_phys_addr(c, VA + 6 * PAGE_SIZE) == mm_get_phys_addr(p, VA + 6 * PAGE_SIZE),
              "a page read on both sides maps two frames");
    invariants_hold(t);
    destroy(c);
    KT_EXPECT(t, get64(p, VA + 3 * PAGE_SIZE) == 33, "the page the child touched went with it");
    bt_leave_context(p);
}

/* Takes every free frame (largest blocks first, so few entries); returns
 * how many blocks are held in held[]. */
typedef struct held_block {
    pfn_t pfn;
    unsigned order;
} held_block_t;

static size_t take_all_frames(held_block_t *held, size_t max)
{
    size_t n = 0;
    for (int order = PMM_MAX_ORDER; order >= 0; order--) {
        pfn_t p;
        while (n < max && (p = pmm_alloc_order((unsigned)order)) != PMM_NO_FRAME)
            held[n++] = (held_block_t){ p, (unsigned)order };
    }
    return n;
}

KTEST(cow_fault_without_a_free_frame_fails_cleanly_and_succeeds_later)
{
    static held_block_t held[8192];
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    KT_ASSERT(t, put64(p, VA, 10) == 0, "write");
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
    use(c);
    size_t n = take_all_frames(held, ARRAY_SIZE(held));
    KT_EXPECT(t, pmm_free_frames() == 0, "%zu frames left free after taking %zu blocks", pmm_free_frames(), n);
    /* The hardware fault: the copy helper fails, the fault path saw -ENOMEM. */
    KT_EXPECT(t, arch_probe_user_write((volatile void *)VA, 20) == -EFAULT, "write needing a copy did not fail");
    hal_fault_t f = { .addr = VA, .ip = 0, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 1 };
    KT_EXPECT(t, mm_handle_fault(c, &f) == -ENOMEM, "the fault path does not report -ENOMEM");
    hal_fault_t z = { .addr = VA + PAGE_SIZE, .ip = 0, .access = HAL_ACCESS_WRITE, .user_mode = true, .present = 0 };
    KT_EXPECT(t, mm_handle_fault(c, &z) == -ENOMEM, "a zero-fill fault without memory does not report -ENOMEM");
    for (size_t i = 0; i < n; i++)
        pmm_free_order(held[i].pfn, held[i].order);
    KT_EXPECT(t, get64(c, VA) == 10 && get64(p, VA) == 10, "a context changed: child %llx parent %llx",
              (unsigned long long)get64(c, VA), (unsigned long long)get64(p, VA));
    invariants_hold(t);
    KT_EXPECT(t, put64(c, VA, 20) == 0, "the same write once memory is back");
    KT_EXPECT(t, get64(c, VA) == 20 && get64(p, VA) == 10, "child %llx parent %llx", (unsigned long long)get64(c, VA),
              (unsigned long long)get64(p, VA));
    invariants_hold(t);
    destroy(c);
    bt_leave_context(p);
}

KTEST(cow_parent_write_after_child_exit_reuses_its_frame)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 32, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    for (size_t i = 0; i < 32; i++)
        put64(p, VA + i * PAGE_SIZE, i);
    pfn_t before = frame_at(p, VA);
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
    destroy(c);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    size_t faults = kernel_fault_stats.mm_resolved;
    size_t wrong = 0;
    for (size_t i = 0; i < 32; i++)
        wrong += put64(p, VA + i * PAGE_SIZE, i + 100) != 0;
    cow_get_stats(&s1);
    KT_EXPECT(t, wrong == 0, "%zu writes failed", wrong);
    KT_EXPECT(t, s1.copies == s0.copies, "%zu frames no longer shared were copied", s1.copies - s0.copies);
    KT_EXPECT(t, s1.reuses == s0.reuses + 32, "%zu reuses, expected 32", s1.reuses - s0.reuses);
    KT_EXPECT(t, kernel_fault_stats.mm_resolved == faults + 32, "%zu faults, expected one per page",
              kernel_fault_stats.mm_resolved - faults);
    KT_EXPECT(t, frame_at(p, VA) == before, "the parent's frame changed");
    invariants_hold(t);
    bt_leave_context(p);
}

KTEST(cow_pages_made_read_only_then_read_write_still_copy)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 4, VM_RW, VMAP_TYPE_PRIVATE)), "map");
    KT_ASSERT(t, put64(p, VA, 5) == 0, "write");
    mm_context_t *c = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
    spinlock_acquire(&c->mm_lock);
    int e1 = mm_protect_locked(c, VA, 4, VM_READ), e2 = mm_protect_locked(c, VA, 4, VM_RW);
    spinlock_release(&c->mm_lock);
    KT_EXPECT(t, e1 == 0 && e2 == 0, "mm_protect_locked: %d %d", e1, e2);
    invariants_hold(t);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    KT_EXPECT(t, put64(c, VA, 6) == 0, "child write");
    cow_get_stats(&s1);
    KT_EXPECT(t, s1.copies == s0.copies + 1, "%zu copies, expected 1", s1.copies - s0.copies);
    KT_EXPECT(t, get64(p, VA) == 5, "the write went to the shared frame (parent reads %llx)",
              (unsigned long long)get64(p, VA));
    /* raw flag changes keep the guard too */
    mm_context_t *d = mm_clone_context(p);
    KT_ASSERT(t, !IS_ERR(d), "fork: %ld", PTR_ERR(d));
    bt_flag(d, VA, 4, VM_USER_RW);
    KT_EXPECT(t, put64(d, VA, 7) == 0 && get64(d, VA) == 7, "write after mm_flag_pages_locked");
    KT_EXPECT(t, get64(p, VA) == 5, "parent reads %llx after the flagged child wrote", (unsigned long long)get64(p, VA));
    invariants_hold(t);
    destroy(d);
    destroy(c);
    bt_leave_context(p);
}

KTEST(cow_fork_out_of_memory_at_every_allocation_leaves_the_parent_as_it_was)
{
    mm_context_t *p = bt_enter_context(t);
    KT_ASSERT(t, p, "no context");
    KT_ASSERT(t, !IS_ERR(anon(p, VA, 600, VM_RW, VMAP_TYPE_PRIVATE)), "private map");
    KT_ASSERT(t, !IS_ERR(anon(p, 0x40000000, 3, VM_RW, VMAP_TYPE_SHARED)), "shared map");
    for (size_t i = 0; i < 600; i += 3)
        put64(p, VA + i * PAGE_SIZE, i);
    KT_ASSERT(t, put64(p, 0x40000000, 77) == 0, "shared write");
    int failures = 0;
    size_t nth = 1;
    for (;; nth++) {
        size_t free_before = pmm_free_frames();
        mm_stats_t m0, m1;
        mm_get_stats(&m0);
        pmm_fail_after(nth);
        mm_context_t *c = mm_clone_context(p);
        pmm_fail_after(0);
        if (!IS_ERR(c)) {
            destroy(c);
            break;
        }
        failures++;
        mm_get_stats(&m1);
        KT_EXPECT(t, PTR_ERR(c) == -ENOMEM, "allocation %zu: error %ld", nth, PTR_ERR(c));
        KT_EXPECT(t, pmm_free_frames() == free_before && m1.table_pages == m0.table_pages && m1.contexts == m0.contexts,
                  "allocation %zu: the failed fork left %ld frames, %ld tables, %ld contexts", nth,
                  (long)(free_before - pmm_free_frames()), (long)(m1.table_pages - m0.table_pages),
                  (long)(m1.contexts - m0.contexts));
        /* The parent's pages are still writable in place: no fault. */
        size_t faults = kernel_fault_stats.mm_resolved;
        KT_EXPECT(t, put64(p, VA, 0) == 0 && kernel_fault_stats.mm_resolved == faults,
                  "allocation %zu: the parent's page became read-only", nth);
        if (nth % 8 == 1)
            invariants_hold(t);
        if (nth >= 400 || t->failed)
            break;
    }
    KT_EXPECT(t, failures >= 4, "only %d allocations to fail (nth %zu)", failures, nth);
    printk("# fork failed cleanly at each of its first %d allocations\n", failures);
    size_t wrong = 0;
    for (size_t i = 3; i < 600; i += 3)
        wrong += get64(p, VA + i * PAGE_SIZE) != i;
    KT_EXPECT(t, wrong == 0 && get64(p, 0x40000000) == 77, "%zu parent pages changed", wrong);
    invariants_hold(t);
    bt_leave_context(p);
}
