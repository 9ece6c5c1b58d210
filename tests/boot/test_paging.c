/* tests/boot/test_paging.c - the seed paging API on the real MMU: map,
 * access, unmap, replace, clone, remap, and frame accounting. */
#include "tests/boot/boot_test.h"

KTEST(printk_formats_numbers)
{
    char buf[96];
    snprintf(buf, sizeof(buf), "%d %u %x %05d %-3s| %016lx %#lx %zu %lld %c%%", -42, 42u, 0xbeefu, 7, "ab", 0x1234ul,
             0xfful, (size_t)9, -5ll, 'z');
    KT_ASSERT(t, strcmp(buf, "-42 42 beef 00007 ab | 0000000000001234 0xff 9 -5 z%") == 0, "got '%s'", buf);
}

KTEST(map_user_pages_bytes_match_direct_map)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_order(2);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frames");
    bt_fill_frames(pfn, 4, 0x11);
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 4, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    if (IS_ERR(v)) {
        pmm_free_order(pfn, 2);
        bt_leave_context(ctx);
        KT_ASSERT(t, false, "mm_map_user_pages: %ld", PTR_ERR(v));
    }
    ptr_t va = v->vaddr;
    KT_EXPECT(t, va >= MM_USER_MIN && v->npages == 4, "vmap at %lx, %zu pages", (unsigned long)va, v->npages);
    for (size_t i = 0; i < 4; i++) {
        KT_EXPECT(t, pmm_refcount(pfn + i) == 1, "frame %zu refcount %u", i, pmm_refcount(pfn + i));
        ptr_t pa = mm_get_phys_addr(ctx, va + i * PAGE_SIZE + 0x123);
        KT_EXPECT(t, pa == ((pfn + i) << PAGE_SHIFT) + 0x123, "page %zu translates to %lx", i, (unsigned long)pa);
    }
    KT_EXPECT(t, bt_check_mapped(va, 4, 0x11, true) == 0, "bytes read through the mapping differ");

    /* Writes through the mapping land in the frames. */
    for (size_t i = 0; i < 4; i++)
        KT_EXPECT(t, bt_write(va + i * PAGE_SIZE + 77, true, (uint8_t)(0xa0 + i)) == 0, "write to page %zu", i);
    for (size_t i = 0; i < 4; i++) {
        uint8_t b = ((uint8_t *)pfn_va(pfn + i))[77];
        KT_EXPECT(t, b == 0xa0 + i, "page %zu byte 77 is %x through the direct map", i, b);
    }

    size_t free_before_unmap = pmm_free_frames();
    KT_EXPECT(t, bt_unmap_user(ctx, va, 4) == 0, "unmap");
    spinlock_acquire(&ctx->mm_lock);
    bool mapped = mm_get_is_mapped_locked(ctx, va);
    spinlock_release(&ctx->mm_lock);
    KT_EXPECT(t, !mapped, "still mapped after unmap");
    KT_EXPECT(t, !pmm_is_allocated(pfn) && !pmm_is_allocated(pfn + 3), "frames not freed with their last reference");
    KT_EXPECT(t, pmm_free_frames() >= free_before_unmap + 4, "free frames %zu, before unmap %zu", pmm_free_frames(),
              free_before_unmap);
    bt_leave_context(ctx);
}

KTEST(replace_page_is_visible_at_once)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t a = pmm_alloc(), b = pmm_alloc();
    KT_ASSERT(t, a != PMM_NO_FRAME && b != PMM_NO_FRAME, "no frames");
    bt_fill_frames(a, 1, 0x20);
    bt_fill_frames(b, 1, 0x40);
    vmap_t *v = mm_map_user_pages(ctx, 0, a, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "mm_map_user_pages: %ld", PTR_ERR(v));
    /* Warm the TLB with frame a. */
    KT_EXPECT(t, bt_check_mapped(v->vaddr, 1, 0x20, true) == 0, "first frame not seen");
    pmm_ref(a); /* keep a to check it is released by the mapping, not freed */
    spinlock_acquire(&ctx->mm_lock);
    mm_replace_page_locked(ctx, v->vaddr, b, VM_USER_RW);
    spinlock_release(&ctx->mm_lock);
    KT_EXPECT(t, bt_check_mapped(v->vaddr, 1, 0x40, true) == 0, "replacement not visible through the mapping");
    KT_EXPECT(t, pmm_refcount(a) == 1 && pmm_refcount(b) == 1, "refcounts a %u b %u", pmm_refcount(a), pmm_refcount(b));
    pmm_unref(a);
    KT_EXPECT(t, !pmm_is_allocated(a), "old frame not freed");
    KT_EXPECT(t, bt_unmap_user(ctx, v->vaddr, 1) == 0, "unmap");
    bt_leave_context(ctx);
}

KTEST(clone_vmap_second_context_reads_same_bytes)
{
    mm_context_t *a = bt_enter_context(t);
    KT_ASSERT(t, a, "no context");
    mm_context_t *b = mm_create_context();
    if (IS_ERR(b)) {
        bt_leave_context(a);
        KT_ASSERT(t, false, "mm_create_context: %ld", PTR_ERR(b));
    }
    pfn_t pfn = pmm_alloc_order(3);
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frames");
    bt_fill_frames(pfn, 8, 0x33);
    vmap_t *v = mm_map_user_pages(a, 0x7000000, pfn, 8, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "mm_map_user_pages: %ld", PTR_ERR(v));
    mm_lock_ctx_pair(a, b);
    vmap_t *c = mm_clone_vmap_locked(v, b);
    mm_unlock_ctx_pair(a, b);
    KT_EXPECT(t, !IS_ERR(c), "mm_clone_vmap_locked: %ld", PTR_ERR(c));
    if (!IS_ERR(c)) {
        KT_EXPECT(t, c->vaddr == v->vaddr && c->npages == 8 && c->vmflags == v->vmflags && c->type == VMAP_TYPE_SHARED,
                  "clone at %lx, %zu pages, flags %x", (unsigned long)c->vaddr, c->npages, c->vmflags);
        KT_EXPECT(t, pmm_refcount(pfn) == 2 && pmm_refcount(pfn + 7) == 2, "refcounts %u %u", pmm_refcount(pfn),
                  pmm_refcount(pfn + 7));
        kernel_switch_context(b);
        KT_EXPECT(t, bt_check_mapped(c->vaddr, 8, 0x33, true) == 0, "B does not read A's bytes");
        KT_EXPECT(t, bt_write(c->vaddr + 5 * PAGE_SIZE + 9, true, 0x5a) == 0, "write in B");
        kernel_switch_context(a);
        uint8_t byte = 0;
        KT_EXPECT(t, bt_read(v->vaddr + 5 * PAGE_SIZE + 9, true, &byte) == 0 && byte == 0x5a,
                  "A reads %x after B wrote 0x5a (same frames)", byte);
    }
    bt_leave_context(a);
    mm_destroy_context(b);
    KT_EXPECT(t, !pmm_is_allocated(pfn), "frames still allocated after both contexts went");
}

KTEST(unmap_and_remap_swapped_reads_new_data)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    const ptr_t va1 = 0x10000000, va2 = 0x10200000;
    pfn_t p = pmm_alloc(), q = pmm_alloc();
    KT_ASSERT(t, p != PMM_NO_FRAME && q != PMM_NO_FRAME, "no frames");
    bt_fill_frames(p, 1, 0x50);
    bt_fill_frames(q, 1, 0x60);
    pmm_ref(p); /* the test's own references keep the frames across unmap */
    pmm_ref(q);
    vmap_t *v1 = mm_map_user_pages(ctx, va1, p, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    vmap_t *v2 = mm_map_user_pages(ctx, va2, q, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_EXPECT(t, !IS_ERR(v1) && !IS_ERR(v2), "map: %ld %ld", PTR_ERR(v1), PTR_ERR(v2));
    KT_EXPECT(t, bt_check_mapped(va1, 1, 0x50, true) == 0 && bt_check_mapped(va2, 1, 0x60, true) == 0, "first mapping");
    KT_EXPECT(t, bt_unmap_user(ctx, va1, 1) == 0 && bt_unmap_user(ctx, va2, 1) == 0, "unmap");
    v1 = mm_map_user_pages(ctx, va1, q, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    v2 = mm_map_user_pages(ctx, va2, p, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_EXPECT(t, !IS_ERR(v1) && !IS_ERR(v2), "remap: %ld %ld", PTR_ERR(v1), PTR_ERR(v2));
    KT_EXPECT(t, bt_check_mapped(va1, 1, 0x60, true) == 0, "va1 does not read q's bytes after the swap");
    KT_EXPECT(t, bt_check_mapped(va2, 1, 0x50, true) == 0, "va2 does not read p's bytes after the swap");
    bt_leave_context(ctx);
    KT_EXPECT(t, pmm_refcount(p) == 1 && pmm_refcount(q) == 1, "refcounts %u %u", pmm_refcount(p), pmm_refcount(q));
    pmm_unref(p);
    pmm_unref(q);
}

KTEST(ten_thousand_map_unmap_cycles_keep_free_count)
{
    size_t free_start = pmm_free_frames();
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    size_t free_steady = 0, bad_reads = 0;
    for (unsigned i = 0; i < 10000; i++) {
        pfn_t pfn = pmm_alloc();
        if (pfn == PMM_NO_FRAME) {
            ktest_fail_at(t, __FILE__, __LINE__, "pmm_alloc", "out of frames at cycle %u", i);
            break;
        }
        *(volatile uint8_t *)pfn_va(pfn) = (uint8_t)i;
        ptr_t want = MM_USER_MIN + (ptr_t)(i % 64) * 0x201000; /* wander over tables */
        vmap_t *v = mm_map_user_pages(ctx, want, pfn, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
        if (IS_ERR(v)) {
            pmm_free(pfn);
            ktest_fail_at(t, __FILE__, __LINE__, "map", "cycle %u: %ld", i, PTR_ERR(v));
            break;
        }
        uint8_t b;
        if (bt_read(want, true, &b) != 0 || b != (uint8_t)i)
            bad_reads++;
        if (bt_unmap_user(ctx, want, 1) != 0) {
            ktest_fail_at(t, __FILE__, __LINE__, "unmap", "cycle %u", i);
            break;
        }
        if (i == 63)
            free_steady = pmm_free_frames();
    }
    KT_EXPECT(t, bad_reads == 0, "%zu reads saw the wrong byte", bad_reads);
    KT_EXPECT(t, pmm_free_frames() == free_steady, "free frames drifted: %zu after 64 cycles, %zu after 10000",
              free_steady, pmm_free_frames());
    bt_leave_context(ctx);
    KT_EXPECT(t, pmm_free_frames() == free_start, "free frames %zu, at start %zu", pmm_free_frames(), free_start);
}

KTEST(user_fault_outside_vmaps_is_refused_without_allocating)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    size_t free_before = pmm_free_frames(), faults = kernel_fault_stats.page_faults;
    uint8_t b;
    KT_EXPECT(t, bt_read(0x30000000, true, &b) == -EFAULT, "read of an unmapped user address did not fault");
    KT_EXPECT(t, bt_write(0x30000000, true, 1) == -EFAULT, "write of an unmapped user address did not fault");
    KT_EXPECT(t, kernel_fault_stats.page_faults == faults + 2, "%zu page faults, expected 2",
              kernel_fault_stats.page_faults - faults);
    KT_EXPECT(t, kernel_fault_stats.last.addr == 0x30000000 && kernel_fault_stats.last.access == HAL_ACCESS_WRITE,
              "last fault at %lx access %d", (unsigned long)kernel_fault_stats.last.addr, kernel_fault_stats.last.access);
    KT_EXPECT(t, pmm_free_frames() == free_before, "the refused fault allocated %ld frames",
              (long)free_before - (long)pmm_free_frames());
    bt_leave_context(ctx);
}
