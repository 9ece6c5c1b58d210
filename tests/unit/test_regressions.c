/* Regression tests for bugs the reliability work (tests/model, fault
 * injection, concurrency) found in mm/. Each names the behaviour. */
#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"

TestSuite(regressions, .init = fixture_setup);

/* The kernel-half entries of every root point to the same tables, made once
 * at mm_init. A kernel map covering a whole root entry (1 GiB on Sv39, 512
 * GiB on Sv48, where the root level may hold leaves) used to put a leaf in
 * the kernel context's root and free the shared table under it, which every
 * other root still pointed to. */
Test(regressions, kernel_map_of_a_whole_root_entry_keeps_the_shared_table)
{
    baseline_t b = take_baseline();
    mm_context_t *before = new_ctx();
    unsigned top = G()->levels;
    ptr_t span = (ptr_t)hal_level_span(top);
    ptr_t va = hal_kernel_start(G()) + span; /* the second kernel root entry: aligned to its span */
    size_t npages = span >> PAGE_SHIFT;
    pfn_t pfn = (pfn_t)npages; /* aligned to the span too */
    cr_assert_eq(mm_do_map_kernel(mm_kernel_context(), va, pfn, npages, VM_RW), 0);
    mm_context_t *after = new_ctx();
    for (ptr_t off = 0; off < span; off += span / 4) {
        uint64_t pa = 0;
        cr_assert_eq(softmmu_walk(before, va + off, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK,
                     "a context made before the map does not see %#lx", (unsigned long)(va + off));
        cr_assert_eq(pa, ((uint64_t)pfn << PAGE_SHIFT) + off);
        cr_assert_eq(softmmu_walk(after, va + off, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK);
        cr_assert_eq(pa, ((uint64_t)pfn << PAGE_SHIFT) + off);
    }
    mm_check_report_t r;
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);
    mm_unmap_kernel_pages(mm_kernel_context(), va, npages);
    cr_assert_eq(softmmu_walk(before, va, HAL_ACCESS_READ, false, NULL), SOFTMMU_NOT_PRESENT);
    mm_destroy_context(before);
    mm_destroy_context(after);
    cr_assert_eq(take_baseline().table_pages, b.table_pages, "table pages %zu, before the map %zu", take_baseline().table_pages, b.table_pages);
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);
}

/* A copy-on-write clone write-protects every page on both sides, shared
 * objects' pages included; a write to such a page used to be refused for
 * ever (the shared fault handler saw the object's frame mapped and gave up),
 * instead of getting the vmap's rights back on the same frame. */
Test(regressions, write_after_cow_clone_of_a_shared_object_stays_shared)
{
    const ptr_t va = 0x20000000;
    mm_context_t *a = new_ctx(), *b = new_ctx();
    spinlock_acquire(&a->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(a, 2, va, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED);
    cr_assert(!IS_ERR(v));
    spinlock_release(&a->mm_lock);
    uint64_t x = 11, y = 0;
    cr_assert_eq(softmmu_write(a, va, &x, sizeof x, true), 0);
    mm_lock_ctx_pair(a, b);
    vmap_t *c = cow_clone_vmap_locked(b, v);
    mm_unlock_ctx_pair(a, b);
    cr_assert(!IS_ERR(c), "%ld", PTR_ERR(c));
    x = 22;
    cr_assert_eq(softmmu_write(b, va, &x, sizeof x, true), 0, "write in the clone refused");
    cr_assert_eq(softmmu_read(a, va, &y, sizeof y, true), 0);
    cr_assert_eq(y, 22, "the shared object's page was copied");
    x = 33;
    cr_assert_eq(softmmu_write(a, va, &x, sizeof x, true), 0, "write in the source refused");
    cr_assert_eq(softmmu_read(b, va, &y, sizeof y, true), 0);
    cr_assert_eq(y, 33);
    cr_assert_eq(mm_get_phys_addr(a, va), mm_get_phys_addr(b, va));
    mm_check_report_t r;
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);
    mm_destroy_context(a);
    mm_destroy_context(b);
}
