/* The seed's paging API: each function's documented behaviour, references
 * included, checked through the software MMU. */
#include <signal.h>

#include "fixture.h"

TestSuite(paging, .init = fixture_setup);

static void fill(pfn_t pfn, uint8_t v) { memset(pfn_va(pfn), v, PAGE_SIZE); }

Test(paging, map_user_pages_maps_frames_with_one_reference_each)
{
    mm_context_t *ctx = new_ctx();
    baseline_t b0 = take_baseline();
    pfn_t f = alloc_run(4);
    for (int i = 0; i < 4; i++)
        fill(f + i, (uint8_t)(0xa0 + i));
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, f, 4, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v), "error %ld", PTR_ERR(v));
    cr_assert_eq(v->vaddr, USER_VA);
    cr_assert_eq(v->npages, 4);
    cr_assert_eq(v->vmflags, VM_USER_RW);
    cr_assert_eq(v->type, VMAP_TYPE_PRIVATE);
    cr_assert_eq(v->content, VMAP_MMAP);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pmm_refcount(f + i), 1);
        uint8_t byte = 0;
        cr_assert_eq(softmmu_read(ctx, USER_VA + i * PAGE_SIZE + 7, &byte, 1, true), 0);
        cr_assert_eq(byte, 0xa0 + i);
        cr_assert_eq(mm_get_phys_addr(ctx, USER_VA + i * PAGE_SIZE + 0x123), ((f + i) << PAGE_SHIFT) + 0x123);
    }
    cr_assert_eq(softmmu_walk(ctx, USER_VA, HAL_ACCESS_WRITE, true, NULL), SOFTMMU_OK);
    cr_assert_eq(softmmu_walk(ctx, USER_VA, HAL_ACCESS_EXEC, true, NULL), SOFTMMU_DENIED);
    cr_assert_eq(softmmu_walk(ctx, USER_VA, HAL_ACCESS_READ, false, NULL), SOFTMMU_DENIED, "kernel read of a user page");
    spinlock_acquire(&ctx->mm_lock);
    vmap_destroy(v);
    spinlock_release(&ctx->mm_lock);
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.free_frames, b0.free_frames, "frames or tables leaked");
    cr_assert_eq(b1.table_pages, b0.table_pages);
    mm_destroy_context(ctx);
}

Test(paging, get_free_vaddr_finds_lowest_free_range_at_or_above_base)
{
    mm_context_t *ctx = new_ctx();
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *a = mm_get_free_vaddr_locked(ctx, 4, 0x100000, VALLOC_DEFAULT);
    cr_assert(!IS_ERR(a));
    cr_assert_eq(a->vaddr, 0x100000);
    cr_assert_eq(a->npages, 4);
    vmap_t *b = mm_get_free_vaddr_locked(ctx, 2, 0x100000, VALLOC_DEFAULT);
    cr_assert_eq(b->vaddr, 0x104000, "hint occupied: next free range");
    vmap_t *c = mm_get_free_vaddr_locked(ctx, 1, 0, VALLOC_DEFAULT);
    cr_assert_eq(c->vaddr, MM_USER_MIN, "no hint: lowest user address");
    vmap_t *d = mm_get_free_vaddr_locked(ctx, 3, 0x200000, VALLOC_EXACT);
    cr_assert_eq(d->vaddr, 0x200000);
    cr_assert_eq(mm_get_free_vaddr_locked(ctx, 1, 0x201000, VALLOC_EXACT), ERR_PTR(-EEXIST));
    /* nothing above the hint: wraps to the bottom */
    ptr_t top = hal_user_end(G()) - PAGE_SIZE;
    vmap_t *e = mm_get_free_vaddr_locked(ctx, 1, top, VALLOC_EXACT);
    cr_assert(!IS_ERR(e));
    vmap_t *f = mm_get_free_vaddr_locked(ctx, 2, top, VALLOC_DEFAULT);
    cr_assert_eq(f->vaddr, MM_USER_MIN + PAGE_SIZE);
    cr_assert_eq(mm_vmap_count(ctx), 6);
    cr_assert_eq(mm_get_is_mapped_locked(ctx, a->vaddr), false, "get_free_vaddr must not map");
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

Test(paging, map_kernel_pages_takes_no_reference_and_uses_huge_leaves)
{
    mm_context_t *k = mm_kernel_context();
    pfn_t f = alloc_run(1);
    ptr_t va = KBASE();
    mm_map_kernel_pages(k, va, f, 1, VM_RW);
    cr_assert_eq(pmm_refcount(f), 0);
    cr_assert_eq(mm_get_phys_addr(k, va + 5), (f << PAGE_SHIFT) + 5);
    /* 4 MiB at a 2 MiB-aligned frame and address: two 2 MiB leaves */
    ptr_t hva = KBASE() + (1u << 30);
    pfn_t hpfn = (pfn_t)0x100000000ull >> PAGE_SHIFT; /* 4 GiB: device memory is fine for the kernel */
    size_t before = take_baseline().table_pages;
    mm_map_kernel_pages(k, hva, hpfn, 1024, VM_RW);
    spinlock_acquire(&k->mm_lock);
    vm_flags fl;
    uint64_t pa;
    cr_assert_eq(mm_do_translate(k, hva + 0x3ff123, &pa, &fl), 0);
    cr_assert_eq(pa, 0x100000000ull + 0x3ff123, "translation through a 2 MiB leaf keeps the offset");
    spinlock_release(&k->mm_lock);
    size_t tables = take_baseline().table_pages - before;
    cr_assert_leq(tables, G()->levels - 2, "2 MiB leaves need at most the tables above level 2, got %zu", tables);
    /* a fresh kernel map needs no invalidation */
    host_tlb_log_clear();
    mm_map_kernel_pages(k, KBASE() + (2u << 30), hpfn, 512, VM_READ);
    cr_assert_eq(host_tlb_event_count(), 0);
}

Test(paging, replace_page_moves_the_reference_and_is_visible_at_once)
{
    mm_context_t *ctx = new_ctx();
    pfn_t a = alloc_run(1), b = alloc_run(1);
    fill(a, 0x11), fill(b, 0x22);
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, a, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
    cr_assert(!IS_ERR(v));
    uint8_t x;
    cr_assert_eq(softmmu_read(ctx, USER_VA, &x, 1, true), 0); /* caches the translation */
    cr_assert_eq(x, 0x11);
    pmm_ref(a); /* hold a so we can see its count drop */
    spinlock_acquire(&ctx->mm_lock);
    mm_replace_page_locked(ctx, USER_VA, b, VM_USER_RW);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(pmm_refcount(a), 1);
    cr_assert_eq(pmm_refcount(b), 1);
    ASSERT_TLB_CLEAN();
    cr_assert_eq(softmmu_read(ctx, USER_VA, &x, 1, true), 0);
    cr_assert_eq(x, 0x22, "old frame still visible: TLB not invalidated");
    /* replacing where nothing is mapped maps the page */
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *w = mm_get_free_vaddr_locked(ctx, 1, USER_VA + PAGE_SIZE, VALLOC_EXACT);
    cr_assert(!IS_ERR(w));
    mm_replace_page_locked(ctx, USER_VA + PAGE_SIZE, a, VM_USER_RO);
    cr_assert(mm_get_is_mapped_locked(ctx, USER_VA + PAGE_SIZE));
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(pmm_refcount(a), 2);
    cr_assert_eq(softmmu_walk(ctx, USER_VA + PAGE_SIZE, HAL_ACCESS_WRITE, true, NULL), SOFTMMU_DENIED);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_refcount(a), 1);
    pmm_unref(a);
    cr_assert(!pmm_is_allocated(a) && !pmm_is_allocated(b));
}

Test(paging, clone_vmap_copies_mappings_and_takes_a_reference_per_page)
{
    mm_context_t *src = new_ctx(), *dst = new_ctx();
    baseline_t b0 = take_baseline();
    pfn_t f = alloc_run(8);
    for (int i = 0; i < 8; i++)
        fill(f + i, (uint8_t)i);
    vmap_t *v = mm_map_user_pages(src, USER_VA, f, 8, VM_RW, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_DMA);
    mm_lock_ctx_pair(src, dst);
    mm_do_unmap(src, USER_VA + 3 * PAGE_SIZE, 1); /* a hole stays a hole */
    vmap_t *c = mm_clone_vmap_locked(v, dst);
    mm_unlock_ctx_pair(src, dst);
    cr_assert(!IS_ERR(c), "error %ld", PTR_ERR(c));
    cr_assert_eq(c->mmctx, dst);
    cr_assert_eq(c->vaddr, v->vaddr);
    cr_assert_eq(c->npages, 8);
    cr_assert_eq(c->vmflags, v->vmflags);
    cr_assert_eq(c->type, VMAP_TYPE_SHARED);
    cr_assert_eq(c->content, VMAP_DMA);
    for (int i = 0; i < 8; i++) {
        if (i == 3) {
            cr_assert_eq(softmmu_walk(dst, USER_VA + i * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT);
            continue;
        }
        cr_assert_eq(pmm_refcount(f + i), 2, "page %d", i);
        uint64_t pa;
        cr_assert_eq(softmmu_walk(dst, USER_VA + i * PAGE_SIZE, HAL_ACCESS_WRITE, true, &pa), SOFTMMU_OK);
        cr_assert_eq(pa >> PAGE_SHIFT, f + i);
    }
    /* a second clone into the same context is refused, nothing changes */
    size_t tables = take_baseline().table_pages;
    mm_lock_ctx_pair(src, dst);
    cr_assert_eq(mm_clone_vmap_locked(v, dst), ERR_PTR(-EEXIST));
    cr_assert_eq(mm_clone_vmap_locked(v, src), ERR_PTR(-EINVAL));
    mm_unlock_ctx_pair(src, dst);
    cr_assert_eq(take_baseline().table_pages, tables);
    cr_assert_eq(mm_vmap_count(dst), 1);
    mm_destroy_context(dst);
    for (int i = 0; i < 8; i++)
        if (i != 3)
            cr_assert_eq(pmm_refcount(f + i), 1);
    mm_destroy_context(src);
    cr_assert_eq(take_baseline().free_frames, b0.free_frames + 2 /* the two roots */);
}

Test(paging, is_mapped_says_whether_a_leaf_covers_the_address)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(1);
    mm_map_user_pages(ctx, USER_VA, f, 1, VM_READ, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
    spinlock_acquire(&ctx->mm_lock);
    cr_assert(mm_get_is_mapped_locked(ctx, USER_VA));
    cr_assert(mm_get_is_mapped_locked(ctx, USER_VA + PAGE_SIZE - 1));
    cr_assert(!mm_get_is_mapped_locked(ctx, USER_VA + PAGE_SIZE));
    cr_assert(!mm_get_is_mapped_locked(ctx, USER_VA - 1));
    cr_assert(!mm_get_is_mapped_locked(ctx, hal_user_end(G())), "non-canonical");
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

Test(paging, flag_pages_changes_rights_skips_holes_and_invalidates_once)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(4);
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, f, 4, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
    cr_assert(!IS_ERR(v));
    uint8_t x = 1;
    cr_assert_eq(softmmu_write(ctx, USER_VA + PAGE_SIZE, &x, 1, true), 0);
    size_t tables = take_baseline().table_pages;
    host_tlb_log_clear();
    spinlock_acquire(&ctx->mm_lock);
    mm_flag_pages_locked(ctx, USER_VA, 4, VM_USER_RO);
    /* far beyond: holes only, no table created */
    mm_flag_pages_locked(ctx, USER_VA + (1ull << 30), 1000, VM_USER_RO);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(take_baseline().table_pages, tables, "a flag change over holes created tables");
    cr_assert_eq(host_tlb_event_count(), 1, "one invalidation for the range, none for holes");
    const host_tlb_event_t *e = host_tlb_event(0);
    cr_assert_eq(e->kind, HOST_TLB_RANGE);
    cr_assert_eq(e->start, USER_VA);
    cr_assert_eq(e->end, USER_VA + 4 * PAGE_SIZE);
    ASSERT_TLB_CLEAN();
    cr_assert_eq(softmmu_write(ctx, USER_VA + PAGE_SIZE, &x, 1, true), -EFAULT, "write to a read-only page allowed");
    cr_assert_eq(v->vmflags, VM_USER_RW, "flag_pages changes page tables only");
    mm_destroy_context(ctx);
}

Test(paging, get_phys_addr_is_zero_for_unmapped_and_non_canonical)
{
    mm_context_t *ctx = new_ctx();
    cr_assert_eq(mm_get_phys_addr(ctx, USER_VA), 0);
    cr_assert_eq(mm_get_phys_addr(ctx, hal_user_end(G()) + 0x1000), 0);
    mm_destroy_context(ctx);
}

Test(paging, destroy_context_gives_back_every_frame_and_table)
{
    baseline_t b0 = take_baseline();
    mm_context_t *ctx = new_ctx();
    for (int i = 0; i < 20; i++) {
        pfn_t f = alloc_run(3);
        vmap_t *v = mm_map_user_pages(ctx, USER_VA + (ptr_t)i * (1ull << 31), f, 3, VM_RW, VALLOC_EXACT,
                                      VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
        if (IS_ERR(v)) /* the 2 GiB stride leaves small user halves (Sv39) */
            v = mm_map_user_pages(ctx, USER_VA + (ptr_t)i * (1ull << 22), f, 3, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE,
                                  VMAP_UNKNOWN);
        cr_assert(!IS_ERR(v));
    }
    cr_assert_gt(ctx->table_pages, 20);
    mm_destroy_context(ctx);
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.free_frames, b0.free_frames);
    cr_assert_eq(b1.table_pages, b0.table_pages);
    mm_stats_t s;
    mm_get_stats(&s);
    cr_assert_eq(s.vmaps, 0);
    cr_assert_eq(s.contexts, 1, "only the kernel context is left");
}

Test(paging, contexts_share_the_kernel_half)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    pfn_t f = alloc_run(1);
    mm_map_kernel_pages(a, KBASE(), f, 1, VM_RW);
    uint64_t pa;
    cr_assert_eq(softmmu_walk(b, KBASE(), HAL_ACCESS_WRITE, false, &pa), SOFTMMU_OK, "kernel mapping not seen by another context");
    cr_assert_eq(pa >> PAGE_SHIFT, f);
    cr_assert_eq(softmmu_walk(b, KBASE(), HAL_ACCESS_READ, true, NULL), SOFTMMU_DENIED, "user reads a kernel page");
    mm_destroy_context(a);
    mm_destroy_context(b);
}

/* *_locked functions assert mm_lock */
Test(paging, get_free_vaddr_locked_without_lock_panics, .signal = SIGABRT)
{
    mm_get_free_vaddr_locked(new_ctx(), 1, 0, VALLOC_DEFAULT);
}

Test(paging, flag_pages_locked_without_lock_panics, .signal = SIGABRT)
{
    mm_flag_pages_locked(new_ctx(), USER_VA, 1, VM_USER_RO);
}

Test(paging, is_mapped_locked_without_lock_panics, .signal = SIGABRT)
{
    mm_get_is_mapped_locked(new_ctx(), USER_VA);
}

Test(paging, replace_page_locked_without_lock_panics, .signal = SIGABRT)
{
    mm_replace_page_locked(new_ctx(), USER_VA, alloc_run(1), VM_USER_RW);
}

Test(paging, clone_vmap_locked_without_lock_panics, .signal = SIGABRT)
{
    mm_context_t *a = new_ctx();
    vmap_t *v = mm_map_user_pages(a, USER_VA, alloc_run(1), 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
    mm_clone_vmap_locked(v, new_ctx());
}

Test(paging, vmap_create_without_lock_panics, .signal = SIGABRT)
{
    vmap_create(new_ctx(), USER_VA, 1);
}

Test(paging, map_kernel_pages_with_bad_input_panics, .signal = SIGABRT)
{
    mm_map_kernel_pages(mm_kernel_context(), KBASE() + 1, 0, 1, VM_RW);
}
