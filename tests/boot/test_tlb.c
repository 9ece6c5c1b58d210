/* tests/boot/test_tlb.c - no stale translation survives an operation:
 * unmap, flag changes over many pages (the full-flush path, global kernel
 * entries included) and the split of a huge leaf. Each test first reads
 * through the mapping so that the TLB holds it. */
#include "tests/boot/boot_test.h"

KTEST(unmap_then_access_faults_user)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_order(1);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frames");
    bt_fill_frames(pfn, 2, 0x81);
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 2, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    ptr_t va = v->vaddr;
    KT_EXPECT(t, bt_check_mapped(va, 2, 0x81, true) == 0, "bytes before unmap");
    KT_EXPECT(t, bt_unmap_user(ctx, va, 2) == 0, "unmap");
    uint8_t b;
    KT_EXPECT(t, bt_read(va, true, &b) == -EFAULT, "first page still readable after unmap (stale TLB)");
    KT_EXPECT(t, bt_read(va + PAGE_SIZE + 100, true, &b) == -EFAULT, "second page still readable after unmap");
    KT_EXPECT(t, bt_write(va, true, 1) == -EFAULT, "page still writable after unmap");
    bt_leave_context(ctx);
}

KTEST(unmap_then_access_faults_kernel_global)
{
    pfn_t pfn = pmm_alloc_order(1);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frames");
    bt_fill_frames(pfn, 2, 0x91);
    ptr_t w = bt_kernel_window();
    int err = mm_do_map_kernel(mm_kernel_context(), w, pfn, 2, VM_RW | VM_GLOBAL);
    if (err) {
        pmm_free_order(pfn, 1);
        KT_ASSERT(t, false, "mm_do_map_kernel: %d", err);
    }
    KT_EXPECT(t, bt_check_mapped(w, 2, 0x91, false) == 0, "bytes before unmap");
    mm_unmap_kernel_pages(mm_kernel_context(), w, 2);
    uint8_t b;
    KT_EXPECT(t, bt_read(w, false, &b) == -EFAULT, "global kernel page still readable after unmap");
    KT_EXPECT(t, bt_read(w + PAGE_SIZE, false, &b) == -EFAULT, "second page still readable after unmap");
    KT_EXPECT(t, mm_get_phys_addr(mm_kernel_context(), w) == 0, "still translated after unmap");
    pmm_free_order(pfn, 1);
}

KTEST(flag_many_kernel_pages_drops_every_writable_entry)
{
    enum { N = 128 }; /* above any per-page invalidation threshold */
    pfn_t pfn = pmm_alloc_order(7);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frames");
    ptr_t w = bt_kernel_window();
    int err = mm_do_map_kernel(mm_kernel_context(), w, pfn, N, VM_RW | VM_GLOBAL);
    if (err) {
        pmm_free_order(pfn, 7);
        KT_ASSERT(t, false, "mm_do_map_kernel: %d", err);
    }
    size_t ok_writes = 0, refused = 0;
    for (size_t i = 0; i < N; i++)
        ok_writes += bt_write(w + i * PAGE_SIZE, false, (uint8_t)i) == 0;
    bt_flag(mm_kernel_context(), w, N, VM_READ | VM_GLOBAL);
    for (size_t i = 0; i < N; i++)
        refused += bt_write(w + i * PAGE_SIZE, false, 0xff) == -EFAULT;
    KT_EXPECT(t, ok_writes == N, "%zu of %d writes before flagging", ok_writes, N);
    KT_EXPECT(t, refused == N, "%zu of %d writes refused after flagging read-only (stale writable entries)", refused, N);
    size_t intact = 0;
    for (size_t i = 0; i < N; i++)
        intact += ((uint8_t *)pfn_va(pfn + i))[0] == (uint8_t)i;
    KT_EXPECT(t, intact == N, "%zu of %d pages kept their byte", intact, N);
    mm_unmap_kernel_pages(mm_kernel_context(), w, N);
    pmm_free_order(pfn, 7);
}

KTEST(kernel_huge_leaf_split_by_partial_unmap)
{
    const hal_geometry_t *g = kernel_geometry;
    if (!hal_level_may_leaf(g, 2))
        KT_SKIP(t, "no level-2 leaves in this geometry");
    size_t n = (size_t)(hal_level_span(2) >> PAGE_SHIFT);
    unsigned order = 0;
    while (((size_t)1 << order) < n)
        order++;
    pfn_t pfn = pmm_alloc_order(order);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no block of %zu frames", n);
    bt_fill_frames(pfn, n, 0xa1);
    mm_context_t *k = mm_kernel_context();
    ptr_t w = bt_kernel_window();
    int err = mm_do_map_kernel(k, w, pfn, n, VM_RW | VM_GLOBAL);
    if (err) {
        pmm_free_order(pfn, order);
        KT_ASSERT(t, false, "mm_do_map_kernel: %d", err);
    }
    pt_step_t steps[HAL_MAX_LEVELS];
    size_t ns = pt_walk_path(k->pgd, g, w, steps);
    KT_EXPECT(t, ns && hal_pte_is_leaf(2, steps[ns - 1].entry) && steps[ns - 1].level == 2,
              "aligned block not mapped by one level-2 leaf (walk ends at level %u)", ns ? steps[ns - 1].level : 0);
    KT_EXPECT(t, bt_check_mapped(w, n, 0xa1, false) == 0, "bytes through the huge leaf");

    mm_unmap_kernel_pages(k, w + 5 * PAGE_SIZE, 1);
    ns = pt_walk_path(k->pgd, g, w, steps);
    KT_EXPECT(t, ns && steps[ns - 1].level == 1 && hal_pte_is_leaf(1, steps[ns - 1].entry),
              "leaf not split into level-1 entries (walk ends at level %u)", ns ? steps[ns - 1].level : 0);
    uint8_t b;
    KT_EXPECT(t, bt_read(w + 5 * PAGE_SIZE, false, &b) == -EFAULT, "the unmapped page is still readable");
    KT_EXPECT(t, bt_check_mapped(w, 5, 0xa1, false) == 0, "pages before the hole changed");
    size_t bad = 0;
    for (size_t p = 6; p < n; p += 37)
        bad += bt_check_mapped(w + p * PAGE_SIZE, 1, (uint8_t)(0xa1 + p * 7), false);
    KT_EXPECT(t, bad == 0, "pages after the hole read wrong bytes (%zu)", bad);
    KT_EXPECT(t, mm_get_phys_addr(k, w + 300 * PAGE_SIZE + 5) == ((pfn + 300) << PAGE_SHIFT) + 5,
              "translation after the split");
    mm_unmap_kernel_pages(k, w, n);
    pmm_free_order(pfn, order);
}
