/* vmaps: lookup, split, partial unmap, free-range search among 100 000. */
#include "fixture.h"
#include "mm/check.h"
#include "mm/internal.h"

TestSuite(vmaps, .init = fixture_setup);

Test(vmaps, obtain_finds_the_containing_vmap_and_offset)
{
    mm_context_t *ctx = new_ctx();
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = vmap_create(ctx, USER_VA, 3);
    cr_assert(!IS_ERR(v));
    size_t off = 0;
    cr_assert_eq(vmap_obtain(ctx, USER_VA + 0x2345, &off), v);
    cr_assert_eq(off, 0x2345);
    cr_assert_eq(vmap_obtain(ctx, USER_VA + 3 * PAGE_SIZE, NULL), ERR_PTR(-ENOENT));
    cr_assert_eq(vmap_obtain(ctx, USER_VA - 1, NULL), ERR_PTR(-ENOENT));
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

Test(vmaps, split_gives_the_tail_to_a_new_vmap_with_the_same_attributes)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(6);
    vmap_t *v = mm_map_user_pages(ctx, USER_VA, f, 6, VM_RX, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_FILE);
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *t = vmap_split(v, 2);
    cr_assert(!IS_ERR(t));
    cr_assert_eq(v->vaddr, USER_VA);
    cr_assert_eq(v->npages, 2);
    cr_assert_eq(t->vaddr, USER_VA + 2 * PAGE_SIZE);
    cr_assert_eq(t->npages, 4);
    cr_assert_eq(t->vmflags, VM_USER_RX);
    cr_assert_eq(t->type, VMAP_TYPE_SHARED);
    cr_assert_eq(t->content, VMAP_FILE);
    cr_assert_eq(vmap_obtain(ctx, USER_VA + PAGE_SIZE, NULL), v);
    cr_assert_eq(vmap_obtain(ctx, USER_VA + 2 * PAGE_SIZE, NULL), t);
    cr_assert(mm_get_is_mapped_locked(ctx, USER_VA + 5 * PAGE_SIZE), "split must not touch mappings");
    cr_assert_eq(mm_vmap_first_from(ctx, 0), v);
    cr_assert_eq(mm_vmap_next(v), t);
    cr_assert_eq(mm_vmap_next(t), NULL);
    vmap_destroy(v);
    cr_assert(!mm_get_is_mapped_locked(ctx, USER_VA));
    cr_assert(mm_get_is_mapped_locked(ctx, USER_VA + 2 * PAGE_SIZE));
    cr_assert(!pmm_is_allocated(f) && pmm_is_allocated(f + 2));
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

Test(vmaps, unmap_in_the_middle_splits_the_vmap_in_two)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(10);
    mm_map_user_pages(ctx, USER_VA, f, 10, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, USER_VA + 3 * PAGE_SIZE, 4), 0);
    cr_assert_eq(mm_vmap_count(ctx), 2);
    vmap_t *a = vmap_obtain(ctx, USER_VA, NULL), *b = vmap_obtain(ctx, USER_VA + 7 * PAGE_SIZE, NULL);
    cr_assert_eq(a->npages, 3);
    cr_assert_eq(b->npages, 3);
    cr_assert_eq(vmap_obtain(ctx, USER_VA + 3 * PAGE_SIZE, NULL), ERR_PTR(-ENOENT));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(pmm_is_allocated(f + i), i < 3 || i >= 7, "frame %d", i);
    /* an unmap across both vmaps and the hole */
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, USER_VA + 2 * PAGE_SIZE, 6), 0);
    cr_assert_eq(a->npages, 2);
    cr_assert_eq(mm_vmap_count(ctx), 2);
    cr_assert_eq(vmap_obtain(ctx, USER_VA + 8 * PAGE_SIZE, NULL)->vaddr, USER_VA + 8 * PAGE_SIZE);
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

Test(vmaps, free_range_search_among_100000_vmaps)
{
    mm_context_t *ctx = new_ctx();
    spinlock_acquire(&ctx->mm_lock);
    const size_t n = 100000;
    /* one-page vmaps with one-page gaps from 16 MiB on */
    ptr_t base = 16u << 20;
    for (size_t i = 0; i < n; i++)
        cr_assert(!IS_ERR(vmap_create(ctx, base + i * 2 * PAGE_SIZE, 1)));
    cr_assert_eq(mm_vmap_count(ctx), n);
    /* one page fits in every gap: the first gap at/after the hint */
    vmap_t *v = mm_get_free_vaddr_locked(ctx, 1, base, VALLOC_DEFAULT);
    cr_assert_eq(v->vaddr, base + PAGE_SIZE);
    /* two pages fit nowhere among them: right after the last */
    v = mm_get_free_vaddr_locked(ctx, 2, base, VALLOC_DEFAULT);
    cr_assert_eq(v->vaddr, base + (2 * n - 1) * PAGE_SIZE);
    /* open a 3-page hole in the middle: it is found */
    ptr_t mid = base + (n / 2) * 2 * PAGE_SIZE;
    vmap_destroy(vmap_obtain(ctx, mid, NULL));
    v = mm_get_free_vaddr_locked(ctx, 3, base + PAGE_SIZE * 3, VALLOC_DEFAULT);
    cr_assert_eq(v->vaddr, mid - PAGE_SIZE);
    /* many searches stay cheap: 10 000 of them, each checked */
    for (size_t i = 0; i < 10000; i++) {
        vmap_t *w = mm_get_free_vaddr_locked(ctx, 2, base + (i * 7919 % n) * 2 * PAGE_SIZE, VALLOC_DEFAULT);
        cr_assert(!IS_ERR(w));
        cr_assert_geq(w->vaddr, base + (2 * n - 1) * PAGE_SIZE);
        vmap_destroy(w);
    }
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

/* The invariant checker walks every context's vmap tree: a broken tree, a
 * vmap whose tree range is not its pages, and a tree node nobody holds are
 * each reported. */
Test(vmaps, checker_reports_a_broken_tree_a_vmap_out_of_step_and_a_leaked_node)
{
    mm_context_t *ctx = new_ctx();
    mm_check_report_t r;
    spinlock_acquire(&ctx->mm_lock);
    for (size_t i = 0; i < 40; i++)
        cr_assert(!IS_ERR(vmap_create(ctx, USER_VA + i * 2 * PAGE_SIZE, 1)));
    vmap_t *v = vmap_obtain(ctx, USER_VA + 20 * 2 * PAGE_SIZE, NULL);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);

    vm_tree_bnode_t *leaf = ctx->vmaps.root->ptr[1];
    leaf->gap[0] = PAGE_SIZE;
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a wrong gap in a leaf went unnoticed");
    cr_assert(strstr(r.first, "vmap tree broken"), "first violation: %s", r.first);
    leaf->gap[0] = 0;
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);

    v->npages = 2;
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a vmap longer than its tree range went unnoticed");
    cr_assert(strstr(r.first, "tree range differs"), "first violation: %s", r.first);
    v->npages = 1;

    vm_tree_bnode_t *stray = vmap_tree_alloc.alloc(vmap_tree_alloc.arg);
    cr_assert_not_null(stray);
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a tree node outside every tree went unnoticed");
    cr_assert(strstr(r.first, "tree nodes in the trees vs allocated"), "first violation: %s", r.first);
    vmap_tree_alloc.free(vmap_tree_alloc.arg, stray);
    cr_assert_eq(mm_check_invariants(&r), 0, "%s", r.first);
    mm_destroy_context(ctx);
}
