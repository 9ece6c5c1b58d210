/* Physical frames: the buddy allocator, reference counts, regions with holes,
 * exhaustion, fault injection. */
#include <signal.h>

#include "fixture.h"

TestSuite(pmm, .init = fixture_setup);

Test(pmm, frames_of_reserved_regions_are_not_managed)
{
    pmm_stats_t s;
    pmm_get_stats(&s);
    uint64_t base = kmm_host_phys_base();
    size_t reserved_pages = (base ? 2u << 20 : 1u << 20) >> PAGE_SHIFT;
    cr_assert_eq(s.managed_frames + s.array_frames + s.reserved_frames, (TEST_RAM_MIB << 20) >> PAGE_SHIFT);
    cr_assert_eq(s.reserved_frames, reserved_pages);
    cr_assert(!pmm_is_managed(base >> PAGE_SHIFT));
    cr_assert(!pmm_is_managed(((base + (1u << 20)) >> PAGE_SHIFT) - 1));
    cr_assert(pmm_is_managed((base >> PAGE_SHIFT) + reserved_pages + s.array_frames));
}

Test(pmm, init_with_holes_never_hands_out_a_hole)
{
    uint64_t b = kmm_host_phys_base();
    mm_region_t r[] = {
        { b, 8u << 20, true },
        { b + (12u << 20), 4u << 20, true },
        { b + (1u << 20), 3 * PAGE_SIZE, false },
        { b + (5u << 20) + 123, 10, false }, /* unaligned: the whole page is reserved */
    };
    cr_assert_eq(pmm_init(r, 4), 0);
    pmm_stats_t s;
    pmm_get_stats(&s);
    cr_assert_eq(s.base_pfn, b >> PAGE_SHIFT);
    cr_assert_eq(s.end_pfn, (b + (16u << 20)) >> PAGE_SHIFT);
    cr_assert_eq(s.reserved_frames, 3 + 1 + (4u << 20 >> PAGE_SHIFT));
    size_t n = 0;
    pfn_t p;
    while ((p = pmm_alloc()) != PMM_NO_FRAME) {
        uint64_t pa = (uint64_t)p << PAGE_SHIFT;
        cr_assert(!(pa >= b + (1u << 20) && pa < b + (1u << 20) + 3 * PAGE_SIZE), "hole frame %#llx handed out",
                  (unsigned long long)p);
        cr_assert(!(pa >= b + (5u << 20) && pa < b + (5u << 20) + PAGE_SIZE));
        cr_assert(!(pa >= b + (8u << 20) && pa < b + (12u << 20)));
        n++;
    }
    cr_assert_eq(n, s.managed_frames);
    cr_assert_eq(pmm_free_frames(), 0);
}

Test(pmm, init_refuses_no_usable_memory)
{
    mm_region_t r[] = { { 0, 1u << 20, false } };
    cr_assert_eq(pmm_init(r, 1), -EINVAL);
    mm_region_t tiny[] = { { 0, 100, true } };
    cr_assert_eq(pmm_init(tiny, 1), -EINVAL);
}

Test(pmm, alloc_hands_out_count_zero_and_last_unref_frees)
{
    size_t before = pmm_free_frames();
    pfn_t p = pmm_alloc();
    cr_assert_neq(p, PMM_NO_FRAME);
    cr_assert_eq(pmm_refcount(p), 0);
    cr_assert(pmm_is_allocated(p));
    cr_assert_eq(pmm_free_frames(), before - 1);
    cr_assert_eq(pmm_ref(p), 1);
    cr_assert_eq(pmm_ref(p), 2);
    cr_assert_eq(pmm_unref(p), 1);
    cr_assert(pmm_is_allocated(p));
    cr_assert_eq(pmm_unref(p), 0);
    cr_assert(!pmm_is_allocated(p));
    cr_assert_eq(pmm_free_frames(), before);
}

Test(pmm, order_blocks_are_aligned_and_merge_back)
{
    size_t before = pmm_free_frames();
    for (unsigned order = 0; order <= PMM_MAX_ORDER; order++) {
        pfn_t p = pmm_alloc_order(order);
        cr_assert_neq(p, PMM_NO_FRAME, "order %u", order);
        cr_assert_eq(p & (((pfn_t)1 << order) - 1), 0, "order %u block at %#llx", order, (unsigned long long)p);
        pmm_free_order(p, order);
    }
    cr_assert_eq(pmm_free_frames(), before);
    /* a block's frames can go back one by one, and merge again */
    pfn_t p = pmm_alloc_order(PMM_MAX_ORDER);
    for (pfn_t i = 0; i < (1u << PMM_MAX_ORDER); i++)
        pmm_free(p + i);
    pfn_t q = pmm_alloc_order(PMM_MAX_ORDER);
    cr_assert_neq(q, PMM_NO_FRAME);
    pmm_free_order(q, PMM_MAX_ORDER);
    cr_assert_eq(pmm_free_frames(), before);
}

Test(pmm, exhaustion_returns_no_frame_and_everything_comes_back)
{
    size_t before = pmm_free_frames();
    pfn_t *got = malloc(before * sizeof(pfn_t));
    size_t n = 0;
    pfn_t p;
    while ((p = pmm_alloc()) != PMM_NO_FRAME)
        got[n++] = p;
    cr_assert_eq(n, before);
    cr_assert_eq(pmm_free_frames(), 0);
    cr_assert_eq(pmm_alloc_order(3), PMM_NO_FRAME);
    for (size_t i = 0; i < n; i++)
        pmm_free(got[i]);
    cr_assert_eq(pmm_free_frames(), before);
    free(got);
    cr_assert_neq(pmm_alloc_order(PMM_MAX_ORDER), PMM_NO_FRAME, "freed frames did not merge into large blocks");
}

Test(pmm, injected_failure_hits_exactly_the_nth_allocation)
{
    pmm_fail_after(3);
    pfn_t a = pmm_alloc(), b = pmm_alloc(), c = pmm_alloc(), d = pmm_alloc();
    cr_assert_neq(a, PMM_NO_FRAME);
    cr_assert_neq(b, PMM_NO_FRAME);
    cr_assert_eq(c, PMM_NO_FRAME);
    cr_assert_neq(d, PMM_NO_FRAME);
    pmm_free(a), pmm_free(b), pmm_free(d);
}

Test(pmm, gathered_frames_are_freed_only_on_release)
{
    size_t before = pmm_free_frames();
    pfn_t a = pmm_alloc(), b = pmm_alloc();
    pmm_ref(a), pmm_ref(b), pmm_ref(b);
    pmm_gather_t g;
    pmm_gather_init(&g);
    cr_assert_eq(pmm_unref_gather(a, &g), 0);
    cr_assert_eq(pmm_unref_gather(b, &g), 1);
    cr_assert_eq(g.count, 1);
    cr_assert(pmm_is_allocated(a), "frame freed before the release");
    pmm_gather_release(&g);
    cr_assert(!pmm_is_allocated(a));
    cr_assert_eq(pmm_unref(b), 0);
    cr_assert_eq(pmm_free_frames(), before);
}

Test(pmm, unref_of_a_frame_without_references_panics, .signal = SIGABRT)
{
    pfn_t p = pmm_alloc();
    pmm_unref(p);
}

Test(pmm, ref_of_a_free_frame_panics, .signal = SIGABRT)
{
    pfn_t p = pmm_alloc();
    pmm_free(p);
    pmm_ref(p);
}

Test(pmm, zero_page_holds_a_permanent_reference_and_reads_zero)
{
    pfn_t z = mm_zero_page();
    cr_assert_eq(pmm_refcount(z), 1);
    const uint8_t *b = pfn_va(z);
    for (size_t i = 0; i < PAGE_SIZE; i++)
        cr_assert_eq(b[i], 0);
}
