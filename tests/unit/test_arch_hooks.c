/* The generic hooks the next arch needs (hal/hal.h): break-before-make, the
 * barrier after entry stores, and a kernel half with a root of its own.
 * x86_64 and riscv64 need none of them, so each test turns the geometry flag
 * on in the geometry under test (kmm_host_init_flags), as aarch64's
 * geometries declare it, and the software MMU checks what the MMU would
 * demand. Runs in every geometry of every arch. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"
#include "mm/pagetable.h"

TestSuite(arch_hooks, .init = fixture_setup);

static void lock(mm_context_t *c) { spinlock_acquire(&c->mm_lock); }
static void unlock(mm_context_t *c) { spinlock_release(&c->mm_lock); }

/* The flags the geometry under test declares itself (aarch64: both). */
static uint32_t native_flags(void) { return hal_geometry_find(G()->name)->flags; }

/* The geometry under test again, with these HAL_GEOMETRY_* flags added to
 * its own. */
static void reinit(uint32_t flags)
{
    const char *name = G()->name;
    uint32_t native = native_flags();
    int err = kmm_host_init_flags(TEST_RAM_MIB, name, flags);
    cr_assert_eq(err, 0, "kmm_host_init_flags(%s, %#x): %d", name, flags, err);
    cr_assert_eq(G()->flags, native | flags);
}

/* The level of the leaf mapping va in the kernel context, and its slot. */
static unsigned kernel_leaf(ptr_t va, pte_t **slot_out)
{
    pfn_t table = mm_kernel_context()->pgd;
    for (unsigned level = G()->levels; level >= 1; level--) {
        pte_t *slot = &((pte_t *)pfn_va(table))[hal_level_index(G(), level, va)];
        pte_t e = hal_pte_load(slot);
        if (!hal_pte_present(e))
            return 0;
        if (hal_pte_is_leaf(level, e)) {
            if (slot_out)
                *slot_out = slot;
            return level;
        }
        table = hal_pte_pfn(level, e);
    }
    return 0;
}

static void touch_kernel(mm_context_t *ctx, ptr_t va, uint64_t expect_pa)
{
    uint64_t pa = 0;
    cr_assert_eq(softmmu_access(ctx, va, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK, "kernel read at %#lx", (unsigned long)va);
    cr_assert_eq(pa, expect_pa, "%#lx translates to %#llx, expected %#llx", (unsigned long)va, (unsigned long long)pa,
                 (unsigned long long)expect_pa);
}

static size_t bbm_violations(void)
{
    ptr_t first = 0;
    size_t n = softmmu_bbm_violations(&first);
    if (n)
        cr_log_error("first break-before-make violation at %#lx", (unsigned long)first);
    return n;
}

#define HUGE_VA() (KBASE() + ((ptr_t)6 << 30))
#define HUGE_PFN ((pfn_t)((32ull << 30) >> PAGE_SHIFT)) /* device-like frames: kernel maps hold no reference */

Test(arch_hooks, bbm_copy_on_write_puts_the_new_frame_only_after_the_zero_page_was_invalidated)
{
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *ctx = new_ctx();
    lock(ctx);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, USER_VA, VALLOC_EXACT, VM_USER_RW)));
    unlock(ctx);
    uint8_t b = 1;
    cr_assert_eq(softmmu_read(ctx, USER_VA, &b, 1, true), 0); /* the zero page, read-only, now cached */
    cr_assert_eq(b, 0);
    host_tlb_log_clear();
    size_t syncs = host_tables_syncs();
    cr_assert_eq(softmmu_write(ctx, USER_VA, "x", 1, true), 0); /* another frame under a live mapping */
    cr_assert_eq(bbm_violations(), 0, "the new frame was stored while the zero page's translation was live");
    /* The break's invalidation of that page is the only one: the end of the
     * operation has nothing left to invalidate. */
    cr_assert_eq(host_tlb_event_count(), 1);
    cr_assert_eq(host_tlb_event(0)->kind, HOST_TLB_RANGE);
    cr_assert_eq(host_tlb_event(0)->start, USER_VA);
    cr_assert_eq(host_tlb_event(0)->end, USER_VA + PAGE_SIZE);
    cr_assert_eq(host_tables_syncs() - syncs, 2, "one barrier before the break's invalidation, one at the end");
    cr_assert_eq(softmmu_read(ctx, USER_VA, &b, 1, true), 0);
    cr_assert_eq(b, 'x');
    cr_assert_eq(host_frames_freed_while_cached(), 0);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

Test(arch_hooks, bbm_split_of_a_huge_leaf_invalidates_it_before_the_table_is_linked)
{
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA();
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW);
    cr_assert_eq(kernel_leaf(va, NULL), 2);
    touch_kernel(k, va + 0x10000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x10000);
    touch_kernel(k, va + 0x100000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x100000);
    host_tlb_log_clear();
    lock(k);
    cr_assert_eq(mm_do_flag(k, va + 0x10000, 1, VM_READ), 0); /* splits the 2 MiB leaf */
    unlock(k);
    cr_assert_eq(bbm_violations(), 0, "the table replaced the 2 MiB leaf while its translations were live");
    cr_assert_eq(host_tlb_event_count(), 2);
    cr_assert_eq(host_tlb_event(0)->kind, HOST_TLB_RANGE);
    cr_assert_eq(host_tlb_event(0)->start, va, "the break invalidates the whole leaf");
    cr_assert_eq(host_tlb_event(0)->end, va + ((ptr_t)2 << 20));
    cr_assert_eq(host_tlb_event(1)->start, va + 0x10000, "then the flag change its page");
    cr_assert_eq(host_tlb_event(1)->end, va + 0x11000);
    cr_assert_eq(kernel_leaf(va, NULL), 1);
    cr_assert_eq(softmmu_walk(k, va + 0x10000, HAL_ACCESS_WRITE, false, NULL), SOFTMMU_DENIED);
    touch_kernel(k, va + 0x100000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x100000);
    ASSERT_TLB_CLEAN();
}

Test(arch_hooks, bbm_huge_leaf_over_a_table_invalidates_the_table_before_the_leaf_is_stored)
{
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA();
    mm_map_kernel_pages(k, va + PAGE_SIZE, HUGE_PFN + 1, 3, VM_RW); /* 4 KiB leaves: a level-1 table */
    cr_assert_eq(kernel_leaf(va + PAGE_SIZE, NULL), 1);
    touch_kernel(k, va + PAGE_SIZE, (uint64_t)(HUGE_PFN + 1) << PAGE_SHIFT);
    host_tlb_log_clear();
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW); /* a 2 MiB leaf where the table hangs */
    cr_assert_eq(bbm_violations(), 0, "the leaf replaced the table while translations through it were live");
    cr_assert_eq(host_tlb_event_count(), 2, "the break's invalidation, then the one that frees the table");
    cr_assert_eq(host_tlb_event(0)->kind, HOST_TLB_ALL);
    cr_assert_eq(host_tlb_event(1)->kind, HOST_TLB_ALL);
    cr_assert_eq(kernel_leaf(va + PAGE_SIZE, NULL), 2);
    touch_kernel(k, va + PAGE_SIZE, (uint64_t)(HUGE_PFN + 1) << PAGE_SHIFT);
    ASSERT_TLB_CLEAN();
}

Test(arch_hooks, bbm_kernel_remap_to_other_frames_breaks_each_table_once)
{
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA() + PAGE_SIZE; /* 4 KiB leaves */
    mm_map_kernel_pages(k, va, HUGE_PFN, 4, VM_RW);
    touch_kernel(k, va, (uint64_t)HUGE_PFN << PAGE_SHIFT);
    touch_kernel(k, va + 3 * PAGE_SIZE, (uint64_t)(HUGE_PFN + 3) << PAGE_SHIFT);
    host_tlb_log_clear();
    mm_map_kernel_pages(k, va, HUGE_PFN + 100, 4, VM_RW);
    cr_assert_eq(bbm_violations(), 0);
    cr_assert_eq(host_tlb_event_count(), 1, "one break of the four entries, nothing left at the end");
    cr_assert_eq(host_tlb_event(0)->start, va);
    cr_assert_eq(host_tlb_event(0)->end, va + 4 * PAGE_SIZE);
    touch_kernel(k, va + 3 * PAGE_SIZE, (uint64_t)(HUGE_PFN + 103) << PAGE_SHIFT);
    ASSERT_TLB_CLEAN();
}

Test(arch_hooks, bbm_remap_with_a_full_gather_frees_no_frame_before_its_break_is_invalidated)
{
    /* More replaced frames than the gather holds inline, and no memory for
     * its batch page: the gather is finished early, in the middle of the
     * break pass. The frames it lets go must have been invalidated first. */
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    enum { N = PMM_GATHER_INLINE + 8 };
    mm_context_t *ctx = new_ctx();
    pfn_t a = alloc_run(N), b = alloc_run(N);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, N, VM_USER_RW), 0);
    unlock(ctx);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(softmmu_access(ctx, USER_VA + i * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK);
    size_t cap = pmm_free_frames(), held = 0;
    pfn_t *hold = malloc(cap * sizeof(*hold));
    cr_assert_not_null(hold);
    for (pfn_t p; (p = pmm_alloc()) != PMM_NO_FRAME;)
        hold[held++] = p;
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, b, N, VM_USER_RW), 0);
    unlock(ctx);
    cr_assert_eq(host_frames_freed_while_cached(), 0, "a replaced frame was freed before its break was invalidated");
    cr_assert_eq(bbm_violations(), 0);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(pmm_refcount(a + i), 0);
    for (size_t i = 0; i < held; i++)
        pmm_free(hold[i]);
    free(hold);
    uint64_t pa;
    cr_assert_eq(softmmu_access(ctx, USER_VA + (N - 1) * PAGE_SIZE, HAL_ACCESS_READ, true, &pa), SOFTMMU_OK);
    cr_assert_eq(pa, (uint64_t)(b + N - 1) << PAGE_SHIFT);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

/* The model catches what the walker must not do: a valid entry given
 * another frame without the break in between (as the walker does without
 * the flag, which x86_64 and riscv64 allow). */
static size_t change_frame_without_break(uint32_t flags)
{
    reinit(flags);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA() + PAGE_SIZE;
    mm_map_kernel_pages(k, va, HUGE_PFN, 1, VM_RW);
    touch_kernel(k, va, (uint64_t)HUGE_PFN << PAGE_SHIFT);
    pte_t *slot = NULL, e;
    cr_assert_eq(kernel_leaf(va, &slot), 1);
    cr_assert_eq(hal_pte_make_leaf(1, HUGE_PFN + 7, VM_RW, &e), 0);
    hal_pte_store(slot, e);
    hal_tlb_invalidate(k->pgd, va, va + PAGE_SIZE);
    ptr_t first = 0;
    size_t n = softmmu_bbm_violations(&first);
    cr_assert(n == 0 || first == va, "violation reported at %#lx, not %#lx", (unsigned long)first, (unsigned long)va);
    return n;
}

Test(arch_hooks, bbm_model_reports_a_frame_change_that_skipped_the_break)
{
    cr_assert_eq(change_frame_without_break(HAL_GEOMETRY_BREAK_BEFORE_MAKE), 1);
    /* Without the flag the walker may do it, and the model says nothing;
     * a geometry that declares the flag itself (aarch64) keeps it. */
    cr_assert_eq(change_frame_without_break(0), (native_flags() & HAL_GEOMETRY_BREAK_BEFORE_MAKE) ? 1 : 0,
                 "reported without the flag, or not reported with the geometry's own");
}

/* ---- Break-before-make for a change of memory type ----
 * riscv64 without Svpbmt stores no memory type in its entries (its codec
 * drops the caching flags), so there is no type to change there. */
#define TYPES_ENCODED ((HAL_VM_FLAGS_ENCODED & VM_CACHE_DISABLED) != 0)

/* The range of invalidation event i. */
static void assert_range_event(size_t i, ptr_t start, ptr_t end)
{
    const host_tlb_event_t *ev = host_tlb_event(i);
    cr_assert_not_null(ev, "no invalidation %zu", i);
    cr_assert_eq(ev->kind, HOST_TLB_RANGE, "invalidation %zu is not a range", i);
    cr_assert_eq(ev->start, start, "invalidation %zu starts at %#lx, not %#lx", i, (unsigned long)ev->start,
                 (unsigned long)start);
    cr_assert_eq(ev->end, end, "invalidation %zu ends at %#lx, not %#lx", i, (unsigned long)ev->end, (unsigned long)end);
}

static size_t change_type_without_break(uint32_t flags)
{
    reinit(flags);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA() + PAGE_SIZE;
    mm_map_kernel_pages(k, va, HUGE_PFN, 1, VM_RW);
    touch_kernel(k, va, (uint64_t)HUGE_PFN << PAGE_SHIFT);
    pte_t *slot = NULL, e;
    cr_assert_eq(kernel_leaf(va, &slot), 1);
    cr_assert_eq(hal_pte_make_leaf(1, HUGE_PFN, VM_RW | VM_CACHE_DISABLED, &e), 0); /* the same frame, uncached */
    hal_pte_store(slot, e);
    hal_tlb_invalidate(k->pgd, va, va + PAGE_SIZE);
    ptr_t first = 0;
    size_t n = softmmu_bbm_violations(&first);
    cr_assert(n == 0 || first == va, "violation reported at %#lx, not %#lx", (unsigned long)first, (unsigned long)va);
    return n;
}

Test(arch_hooks, bbm_model_reports_a_type_change_that_skipped_the_break)
{
    if (!TYPES_ENCODED)
        return;
    cr_assert_eq(change_type_without_break(HAL_GEOMETRY_BREAK_BEFORE_MAKE), 1);
    cr_assert_eq(change_type_without_break(0), (native_flags() & HAL_GEOMETRY_BREAK_BEFORE_MAKE) ? 1 : 0);
}

/* mm_do_flag making 40 live user pages uncached: each is broken first, 32
 * at a time (one invalidation per batch), and stored anew; nothing is left
 * to invalidate at the end. */
Test(arch_hooks, bbm_type_change_of_live_pages_breaks_them_first_in_batches)
{
    if (!TYPES_ENCODED)
        return;
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    enum { N = 40 };
    mm_context_t *ctx = new_ctx();
    pfn_t a = alloc_run(N);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, N, VM_USER_RW), 0);
    unlock(ctx);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(softmmu_access(ctx, USER_VA + i * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK);
    host_tlb_log_clear();
    size_t syncs = host_tables_syncs();
    lock(ctx);
    cr_assert_eq(mm_do_flag(ctx, USER_VA, N, VM_USER_RW | VM_CACHE_DISABLED), 0);
    unlock(ctx);
    cr_assert_eq(bbm_violations(), 0, "a live page changed its memory type without a break");
    cr_assert_eq(host_tlb_event_count(), 2, "one invalidation per batch of broken pages, none at the end");
    assert_range_event(0, USER_VA, USER_VA + 32 * PAGE_SIZE);
    assert_range_event(1, USER_VA + 32 * PAGE_SIZE, USER_VA + N * PAGE_SIZE);
    cr_assert_eq(host_tables_syncs() - syncs, 3, "a barrier before each break's invalidation, one at the end");
    for (size_t i = 0; i < N; i++) {
        pte_t e;
        unsigned level;
        lock(ctx);
        cr_assert_eq(pt_lookup(ctx, USER_VA + i * PAGE_SIZE, &e, &level), 0);
        unlock(ctx);
        cr_assert_eq(hal_pte_pfn(1, e), a + i);
        cr_assert_eq(hal_pte_flags(1, e), VM_USER_RW | VM_CACHE_DISABLED);
        cr_assert_eq(pmm_refcount(a + i), 1);
    }
    put64(ctx, USER_VA + (N - 1) * PAGE_SIZE, 0x1234);
    cr_assert_eq(get64(ctx, USER_VA + (N - 1) * PAGE_SIZE), 0x1234);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

/* A change of permissions alone needs no break: stored at once, one
 * invalidation at the end of the operation. */
Test(arch_hooks, bbm_permission_change_is_stored_without_a_break)
{
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *ctx = new_ctx();
    pfn_t a = alloc_run(4);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, 4, VM_USER_RW), 0);
    unlock(ctx);
    cr_assert_eq(softmmu_access(ctx, USER_VA, HAL_ACCESS_WRITE, true, NULL), SOFTMMU_OK);
    host_tlb_log_clear();
    size_t syncs = host_tables_syncs();
    lock(ctx);
    cr_assert_eq(mm_do_flag(ctx, USER_VA, 4, VM_READ | VM_USER), 0);
    unlock(ctx);
    cr_assert_eq(bbm_violations(), 0);
    cr_assert_eq(host_tlb_event_count(), 1, "the end of the operation's invalidation only");
    assert_range_event(0, USER_VA, USER_VA + 4 * PAGE_SIZE);
    cr_assert_eq(host_tables_syncs() - syncs, 1);
    cr_assert_eq(softmmu_access(ctx, USER_VA, HAL_ACCESS_WRITE, true, NULL), SOFTMMU_DENIED);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

/* A 2 MiB kernel leaf made write-through: broken whole, then stored, still
 * one 2 MiB leaf. */
Test(arch_hooks, bbm_type_change_of_a_huge_leaf_breaks_it_first)
{
    if (!TYPES_ENCODED)
        return;
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA();
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW);
    cr_assert_eq(kernel_leaf(va, NULL), 2);
    touch_kernel(k, va + 0x30000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x30000);
    host_tlb_log_clear();
    lock(k);
    cr_assert_eq(mm_do_flag(k, va, 512, VM_RW | VM_WRITE_THROUGH), 0);
    unlock(k);
    cr_assert_eq(bbm_violations(), 0, "the 2 MiB leaf changed its memory type without a break");
    cr_assert_eq(host_tlb_event_count(), 1, "the break's invalidation, nothing at the end");
    assert_range_event(0, va, va + ((ptr_t)2 << 20));
    pte_t *slot = NULL;
    cr_assert_eq(kernel_leaf(va, &slot), 2);
    cr_assert_eq(hal_pte_flags(2, hal_pte_load(slot)), VM_RW | VM_WRITE_THROUGH);
    touch_kernel(k, va + 0x30000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x30000);
    ASSERT_TLB_CLEAN();
}

/* Mapping the same frames again with another memory type: one page
 * (pt_set_page), several (the walker's map), a huge kernel leaf. */
Test(arch_hooks, bbm_remap_of_the_same_frames_with_another_type_breaks_first)
{
    if (!TYPES_ENCODED)
        return;
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *ctx = new_ctx();
    pfn_t a = alloc_run(4);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, 4, VM_USER_RW), 0);
    unlock(ctx);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(softmmu_access(ctx, USER_VA + i * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK);
    host_tlb_log_clear();
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, 1, VM_USER_RW | VM_WRITE_THROUGH), 0); /* one page */
    unlock(ctx);
    cr_assert_eq(bbm_violations(), 0, "one page: type changed without a break");
    cr_assert_eq(host_tlb_event_count(), 1);
    assert_range_event(0, USER_VA, USER_VA + PAGE_SIZE);
    host_tlb_log_clear();
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, 4, VM_USER_RW | VM_CACHE_DISABLED), 0); /* four pages */
    unlock(ctx);
    cr_assert_eq(bbm_violations(), 0, "four pages: type changed without a break");
    cr_assert_eq(host_tlb_event_count(), 1, "one break of the four entries");
    assert_range_event(0, USER_VA, USER_VA + 4 * PAGE_SIZE);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(pmm_refcount(a + i), 1, "the remap kept one reference per frame");
    /* the same type again: no break, the end-of-operation invalidation only */
    host_tlb_log_clear();
    size_t syncs = host_tables_syncs();
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA, a, 4, VM_USER_RW | VM_CACHE_DISABLED), 0);
    unlock(ctx);
    cr_assert_eq(host_tables_syncs() - syncs, 1, "no break: one barrier, at the end");
    cr_assert_eq(host_tlb_event_count(), 1);
    assert_range_event(0, USER_VA, USER_VA + 4 * PAGE_SIZE);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);

    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA();
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW);
    touch_kernel(k, va, (uint64_t)HUGE_PFN << PAGE_SHIFT);
    host_tlb_log_clear();
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW | VM_CACHE_DISABLED);
    cr_assert_eq(bbm_violations(), 0, "2 MiB leaf: type changed without a break");
    cr_assert_eq(host_tlb_event_count(), 1);
    assert_range_event(0, va, va + ((ptr_t)2 << 20));
    cr_assert_eq(kernel_leaf(va, NULL), 2);
    ASSERT_TLB_CLEAN();
}

Test(arch_hooks, tables_sync_once_per_operation_before_its_invalidation)
{
    reinit(0);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA() + PAGE_SIZE;
    size_t s0 = host_tables_syncs();
    mm_map_kernel_pages(k, va, HUGE_PFN, 2, VM_RW);
    cr_assert_eq(host_tables_syncs() - s0, 1);
    mm_unmap_kernel_pages(k, va, 2);
    cr_assert_eq(host_tables_syncs() - s0, 2);
    mm_context_t *ctx = new_ctx();
    /* A new root's kernel half is ordered before it can be activated; with
     * a separate kernel root (aarch64) a new root has none to store. */
    cr_assert_eq(host_tables_syncs() - s0, hal_separate_kernel_root(G()) ? 2 : 3,
                 "a new root's kernel half is ordered before it can be activated");
    mm_destroy_context(ctx);
}

Test(arch_hooks, separate_kernel_root_leaves_every_user_root_without_kernel_half)
{
    reinit(HAL_GEOMETRY_SEPARATE_KERNEL_ROOT);
    const unsigned levels = G()->levels, split = hal_level_index(G(), levels, hal_kernel_start(G()));
    mm_context_t *k = mm_kernel_context();
    cr_assert_eq(take_baseline().table_pages, 1, "nothing to pin or share: the kernel root alone");
    const ptr_t kva = KBASE();
    const pfn_t kpfn = (pfn_t)(kmm_host_phys_base() >> PAGE_SHIFT) + 600;
    mm_map_kernel_pages(k, kva, kpfn, 1, VM_RW);
    cr_assert_eq(take_baseline().table_pages, levels, "one table per level below the kernel root");

    mm_context_t *ctx = new_ctx();
    const pte_t *root = pfn_va(ctx->pgd), *kroot = pfn_va(k->pgd);
    for (unsigned i = split; i < HAL_ENTRIES_PER_TABLE; i++)
        cr_assert_eq(hal_pte_load(&root[i]), 0, "kernel-half entry %u copied into a user root", i);
    cr_assert(hal_pte_present(hal_pte_load(&kroot[hal_level_index(G(), levels, kva)])));

    /* Active: the kernel half is translated from the kernel root. */
    mm_switch_context(ctx);
    cr_assert_eq(hal_mmu_active_root(), ctx->pgd);
    cr_assert_eq(host_active_kernel_root(), k->pgd);
    touch_kernel(ctx, kva, (uint64_t)kpfn << PAGE_SHIFT);
    cr_assert_eq(mm_get_phys_addr(ctx, kva), (ptr_t)kpfn << PAGE_SHIFT);
    lock(ctx);
    cr_assert(mm_get_is_mapped_locked(ctx, kva));
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 2, USER_VA, VALLOC_EXACT, VM_USER_RW)));
    unlock(ctx);

    /* User memory is unaffected. */
    cr_assert_eq(softmmu_write(ctx, USER_VA + PAGE_SIZE, "hi", 2, true), 0);
    char buf[2];
    cr_assert_eq(softmmu_read(ctx, USER_VA + PAGE_SIZE, buf, 2, true), 0);
    cr_assert(buf[0] == 'h' && buf[1] == 'i');
    mm_check_report_t r;
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);

    /* The kernel tables under the root are not pinned: they go with the last page. */
    size_t tables = take_baseline().table_pages;
    mm_unmap_kernel_pages(k, kva, 1);
    cr_assert_eq(take_baseline().table_pages, tables - (levels - 1));
    cr_assert_eq(softmmu_access(ctx, kva, HAL_ACCESS_READ, false, NULL), SOFTMMU_NOT_PRESENT);
    ASSERT_TLB_CLEAN();
    mm_switch_context(k);
    mm_destroy_context(ctx);
    cr_assert_eq(take_baseline().table_pages, 1);
}

Test(arch_hooks, geometry_with_unknown_flags_is_refused)
{
    reinit(0);
    const char *name = G()->name;
    cr_assert_eq(kmm_host_init_flags(TEST_RAM_MIB, name, 1u << 7), -EINVAL);
    hal_geometry_t g = *G();
    g.flags = 1u << 7;
    mm_region_t region = { .base = kmm_host_phys_base(), .size = kmm_host_phys_size(), .usable = true };
    mm_boot_info_t info = { .geometry = &g, .regions = &region, .nregions = 1 };
    cr_assert_eq(mm_init(&info), -EINVAL);
    cr_assert_eq(G()->flags, native_flags(), "the geometry in force changed");
}

/* A user page cached by CPU 1 and unmapped by CPU 0: what it took to drop
 * CPU 1's translation (shootdowns sent, remote invalidations done), and
 * what CPU 1 sees afterwards. */
typedef struct two_cpu_unmap {
    size_t shootdowns, remote;
    softmmu_result_t cpu1_after;
} two_cpu_unmap_t;

static two_cpu_unmap_t unmap_seen_by_a_second_cpu(uint32_t flags)
{
    reinit(flags);
    mm_context_t *ctx = new_ctx();
    lock(ctx);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, USER_VA, VALLOC_EXACT, VM_USER_RW)));
    unlock(ctx);
    cr_assert_eq(softmmu_write(ctx, USER_VA, "y", 1, true), 0);
    kmm_host_cpu_set(1);
    mm_switch_context(ctx);
    cr_assert_eq(softmmu_access(ctx, USER_VA, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK, "CPU 1 caches the page");
    kmm_host_cpu_set(0);
    mm_switch_context(ctx);
    size_t s0 = pt_shootdowns_total(), r0 = host_remote_invalidations();
    lock(ctx);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, USER_VA, 1), 0);
    unlock(ctx);
    two_cpu_unmap_t out = { pt_shootdowns_total() - s0, host_remote_invalidations() - r0, SOFTMMU_OK };
    kmm_host_cpu_set(1);
    out.cpu1_after = softmmu_access(ctx, USER_VA, HAL_ACCESS_READ, true, NULL);
    mm_switch_context(mm_kernel_context());
    kmm_host_cpu_set(0);
    mm_switch_context(mm_kernel_context());
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
    return out;
}

Test(arch_hooks, broadcast_invalidation_reaches_every_cpu_without_a_shootdown)
{
    two_cpu_unmap_t b = unmap_seen_by_a_second_cpu(HAL_GEOMETRY_BROADCAST_INVALIDATION);
    cr_assert_eq(b.shootdowns, 0, "a shootdown sent although the invalidation broadcasts");
    cr_assert_eq(b.remote, 0);
    cr_assert_eq(b.cpu1_after, SOFTMMU_NOT_PRESENT, "CPU 1 still translates the unmapped page");
    if (native_flags() & HAL_GEOMETRY_BROADCAST_INVALIDATION)
        return; /* aarch64: its invalidations always broadcast */
    two_cpu_unmap_t l = unmap_seen_by_a_second_cpu(0);
    cr_assert_eq(l.shootdowns, 1, "local invalidations: CPU 1 is shot down");
    cr_assert_eq(l.remote, 1);
    cr_assert_eq(l.cpu1_after, SOFTMMU_NOT_PRESENT);
}

/* ---- Kernel-half break windows (hal_break_make, mm_break_window_*) ---- */

#define BBM_BROADCAST (HAL_GEOMETRY_BREAK_BEFORE_MAKE | HAL_GEOMETRY_BROADCAST_INVALIDATION)

/* The split and the merge of a kernel 2 MiB leaf are each one
 * hal_break_make of exactly that entry, over exactly its range, with the
 * window published meanwhile and closed afterwards. */
Test(arch_hooks, bbm_kernel_half_split_and_merge_go_through_hal_break_make_in_a_window)
{
    reinit(BBM_BROADCAST);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA(), span = (ptr_t)2 << 20;
    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW);
    pte_t *slot;
    cr_assert_eq(kernel_leaf(va, &slot), 2);
    pte_t leaf = hal_pte_load(slot);
    touch_kernel(k, va + 0x10000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x10000);
    host_break_log_clear();
    mm_map_kernel_pages(k, va + 0x10000, HUGE_PFN + 0x10, 1, VM_RW); /* the page over itself: a split */
    cr_assert_eq(host_break_count(), 1, "one break: the split");
    const host_break_t *b = host_break(0);
    cr_assert_eq(b->slot, slot);
    cr_assert_eq(b->old, leaf);
    cr_assert_eq(b->made, hal_pte_load(slot), "the make is the table that now holds the 4 KiB leaves");
    cr_assert(hal_pte_present(b->made) && !hal_pte_is_leaf(2, b->made));
    cr_assert_eq(b->start, va);
    cr_assert_eq(b->end, va + span);
    cr_assert(!b->all);
    cr_assert_eq(b->root, k->pgd);
    cr_assert(b->window_open, "no break window was published around the break");
    cr_assert_eq(b->window_lo, va);
    cr_assert_eq(b->window_hi, va + span - 1);
    cr_assert_eq(kernel_leaf(va + 0x10000, NULL), 1);
    cr_assert(!mm_break_window_open(NULL, NULL), "the window is still open after the operation");

    mm_map_kernel_pages(k, va, HUGE_PFN, 512, VM_RW); /* the whole span: the leaf replaces the table */
    cr_assert_eq(host_break_count(), 2, "one break: the merge");
    b = host_break(1);
    cr_assert_eq(b->slot, slot);
    cr_assert_eq(b->made, leaf);
    cr_assert(b->all, "a table went: everything is invalidated");
    cr_assert(b->window_open);
    cr_assert_eq(b->window_lo, va);
    cr_assert_eq(b->window_hi, va + span - 1);
    cr_assert(!mm_break_window_open(NULL, NULL));
    cr_assert_eq(bbm_violations(), 0);
    touch_kernel(k, va + 0x10000, ((uint64_t)HUGE_PFN << PAGE_SHIFT) + 0x10000);
    ASSERT_TLB_CLEAN();
}

/* Where the invalidation does not broadcast (a shootdown would be needed
 * inside the window), and in the user half whatever the geometry, breaks
 * are the generic sequence: hal_break_make is never called. */
Test(arch_hooks, bbm_user_half_and_local_invalidation_breaks_do_not_use_hal_break_make)
{
    reinit(BBM_BROADCAST);
    mm_context_t *ctx = new_ctx();
    lock(ctx);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, USER_VA, VALLOC_EXACT, VM_USER_RW)));
    unlock(ctx);
    uint8_t byte = 1;
    cr_assert_eq(softmmu_read(ctx, USER_VA, &byte, 1, true), 0); /* the zero page */
    host_break_log_clear();
    host_tlb_log_clear();
    cr_assert_eq(softmmu_write(ctx, USER_VA, "x", 1, true), 0); /* another frame under a live mapping: a break */
    cr_assert_eq(host_tlb_event_count(), 1, "the user-half break was invalidated");
    cr_assert_eq(host_break_count(), 0, "a user-half break went through hal_break_make");
    mm_destroy_context(ctx);

    if (native_flags() & HAL_GEOMETRY_BROADCAST_INVALIDATION)
        return; /* aarch64: always broadcast */
    reinit(HAL_GEOMETRY_BREAK_BEFORE_MAKE);
    mm_context_t *k = mm_kernel_context();
    mm_map_kernel_pages(k, HUGE_VA(), HUGE_PFN, 512, VM_RW);
    host_break_log_clear();
    host_tlb_log_clear();
    mm_map_kernel_pages(k, HUGE_VA(), HUGE_PFN, 1, VM_RW); /* a split */
    cr_assert_eq(host_tlb_event(0)->start, HUGE_VA(), "the split was broken and invalidated");
    cr_assert_eq(host_break_count(), 0);
}

/* A level-1 batch of the kernel half (4 KiB pages to other frames) is one
 * break of the table's entries with one invalidation, published as a
 * window over the batch's range; no hal_break_make (the table is not among
 * the pages it remaps). */
Test(arch_hooks, bbm_kernel_half_page_batch_breaks_in_one_window)
{
    reinit(BBM_BROADCAST);
    mm_context_t *k = mm_kernel_context();
    const ptr_t va = HUGE_VA() + PAGE_SIZE;
    mm_map_kernel_pages(k, va, HUGE_PFN, 4, VM_RW);
    host_break_log_clear();
    host_tlb_log_clear();
    mm_map_kernel_pages(k, va, HUGE_PFN + 100, 4, VM_RW);
    cr_assert_eq(host_break_count(), 0);
    cr_assert_eq(host_tlb_event_count(), 1, "one break of the four entries");
    cr_assert_eq(host_tlb_event(0)->start, va);
    cr_assert_eq(host_tlb_event(0)->end, va + 4 * PAGE_SIZE);
    cr_assert(!mm_break_window_open(NULL, NULL));
    cr_assert_eq(bbm_violations(), 0);
    touch_kernel(k, va + 3 * PAGE_SIZE, (uint64_t)(HUGE_PFN + 103) << PAGE_SHIFT);
}

/* Another CPU's fault inside a kernel-half break window: mm_break_window_retry
 * waits until the window closes, then says retry; a second fault at the
 * same address after that window is not the window's (false). The
 * window's own CPU never waits for it (false); a fault outside the open
 * window may come from an earlier one: retried once, not twice; a user
 * address is never retried. */
typedef struct window_probe {
    ptr_t addr;
    _Atomic int done;
    bool retry;
} window_probe_t;

static void *probe_as_cpu1(void *arg)
{
    window_probe_t *p = arg;
    kmm_host_cpu_set(1);
    p->retry = mm_break_window_retry(p->addr);
    atomic_store(&p->done, 1);
    return NULL;
}

typedef struct in_window {
    ptr_t va;
    window_probe_t probe;
    pthread_t thread;
    bool waited;       /* the other CPU was still waiting 50 ms into the window */
    bool own, outside, outside_again, user;
} in_window_t;

static void act_in_window(void *arg)
{
    in_window_t *w = arg;
    w->own = mm_break_window_retry(w->va + 0x10000);
    w->outside = mm_break_window_retry(w->va + ((ptr_t)2 << 20));
    w->outside_again = mm_break_window_retry(w->va + ((ptr_t)2 << 20));
    w->user = mm_break_window_retry(USER_VA);
    w->probe.addr = w->va + 0x10000;
    pthread_create(&w->thread, NULL, probe_as_cpu1, &w->probe);
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    w->waited = !atomic_load(&w->probe.done);
}

Test(arch_hooks, bbm_fault_in_a_kernel_break_window_waits_for_it_then_retries_once)
{
    reinit(BBM_BROADCAST);
    mm_context_t *k = mm_kernel_context();
    static in_window_t w;
    w = (in_window_t){ .va = HUGE_VA() };
    mm_map_kernel_pages(k, w.va, HUGE_PFN, 512, VM_RW);
    cr_assert(!mm_break_window_retry(w.va + 0x10000), "no window yet");
    cr_assert(!mm_break_window_retry(w.va + 0x10000), "no window yet, a second time");
    host_set_break_hook(act_in_window, &w);
    mm_map_kernel_pages(k, w.va + 0x10000, HUGE_PFN + 0x10, 1, VM_RW); /* a split */
    pthread_join(w.thread, NULL);
    cr_assert(w.waited, "the other CPU did not wait for the window to close");
    cr_assert(w.probe.retry, "the other CPU was not told to retry");
    cr_assert(!w.own, "the window's own CPU would wait for itself");
    cr_assert(w.outside, "a fault outside the open window (maybe from a closed one) was not retried");
    cr_assert(!w.outside_again, "a fault outside the open window was retried twice");
    cr_assert(!w.user, "a user address was retried");
    /* The retried access faults again (it would not, the window being
     * closed; here it stands for a fault that is not the window's). */
    window_probe_t again = { .addr = w.va + 0x10000 };
    pthread_t th;
    pthread_create(&th, NULL, probe_as_cpu1, &again);
    pthread_join(th, NULL);
    cr_assert(!again.retry, "a second fault after the window was retried again");
    /* CPU 1 faulting elsewhere under the closed window's range, once: it may
     * have come from the window (closed before the fault path looked). */
    window_probe_t late = { .addr = w.va + 0x20000 };
    pthread_create(&th, NULL, probe_as_cpu1, &late);
    pthread_join(th, NULL);
    cr_assert(late.retry);
    kmm_host_cpu_set(0);
}

/* With a model direct map (the kernel's view of the tables kmm writes): a
 * level-1 remap of the kernel half whose pages include the table's own
 * page breaks entry by entry through hal_break_make (the batch's make
 * stores would go through the very page it broke); a remap of the same
 * table's other pages is one batch, without it. */
Test(arch_hooks, bbm_kernel_page_remap_over_its_own_table_goes_through_hal_break_make)
{
    reinit(BBM_BROADCAST);
    mm_context_t *k = mm_kernel_context();
    const ptr_t dm = KBASE() + ((ptr_t)16 << 30);
    const uint64_t base = kmm_host_phys_base(), size = kmm_host_phys_size();
    kmm_host_set_direct_map(dm);
    mm_map_kernel_pages(k, dm + base, (pfn_t)(base >> PAGE_SHIFT), (size_t)(size >> PAGE_SHIFT), VM_RW);
    pfn_t x = pmm_alloc(); /* the next table the allocator hands out */
    cr_assert_neq(x, PMM_NO_FRAME);
    pmm_free(x);
    const ptr_t x_va = dm + ((ptr_t)x << PAGE_SHIFT);
    cr_assert_eq(kernel_leaf(x_va, NULL), 2, "the model direct map is not made of 2 MiB leaves at %#lx",
                 (unsigned long)x_va);
    mm_map_kernel_pages(k, x_va, x, 1, VM_RW); /* the page over itself: the leaf splits into table x */
    pte_t *slot;
    cr_assert_eq(kernel_leaf(x_va, &slot), 1);
    cr_assert_eq((uintptr_t)slot & ~(uintptr_t)PAGE_MASK, (uintptr_t)pfn_va(x), "the split's table is not x");
    cr_assert_eq(mm_kernel_address_of(slot), x_va + ((uintptr_t)slot & PAGE_MASK));

    /* Another page of the same table: one batch. */
    const ptr_t other = (x_va & (((ptr_t)2 << 20) - 1)) == 0 ? x_va + PAGE_SIZE : x_va - PAGE_SIZE;
    host_break_log_clear();
    mm_map_kernel_pages(k, other, HUGE_PFN, 1, VM_RW);
    cr_assert_eq(host_break_count(), 0, "a batch that does not cover its table went through hal_break_make");
    /* The table's own page to another frame: the hook, for exactly that entry. */
    pte_t *self;
    cr_assert_eq(kernel_leaf(x_va, &self), 1);
    mm_map_kernel_pages(k, x_va, HUGE_PFN + 1, 1, VM_RW);
    cr_assert_eq(host_break_count(), 1, "the table's own page was not broken through hal_break_make");
    cr_assert_eq(host_break(0)->slot, self);
    cr_assert_eq(host_break(0)->start, x_va);
    cr_assert_eq(host_break(0)->end, x_va + PAGE_SIZE);
    cr_assert_eq(hal_pte_pfn(1, host_break(0)->made), HUGE_PFN + 1);
    cr_assert(host_break(0)->window_open);
    cr_assert_eq(bbm_violations(), 0);
    kmm_host_set_direct_map(0);
}
