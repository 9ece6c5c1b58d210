/* The fault path walks the page tables once (issue 16, item 2): the walk
 * that finds the page's entry is the one whose entry the answer is stored
 * in, for every kind of fault (zero-page read, zero fill with and without
 * the tables there, write to the zero page, copy-on-write copy and reuse,
 * a spurious fault). Each fault is handed to mm_handle_fault directly, so
 * ctx->table_walks counts its descents and nothing else; the results are
 * checked exactly (frames, rights, reference counts, bytes). */
#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"

TestSuite(fault_walks, .init = fixture_setup);

static void check_invariants(void)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "invariants: %zu violations of %zu checks; first: %s", r.violations, r.checks, r.first);
}

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t npages)
{
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(ctx, npages, va, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    spinlock_release(&ctx->mm_lock);
    cr_assert(!IS_ERR(v), "anonymous map: %ld", PTR_ERR(v));
    return v;
}

/* Hands a user-mode fault at va to mm_handle_fault; returns its result and
 * the walks it made. */
static int fault(mm_context_t *ctx, ptr_t va, hal_access_t access, size_t *walks)
{
    hal_fault_t f = { .addr = va + 8, .access = access, .user_mode = true, .present = -1 };
    size_t before = ctx->table_walks;
    int err = mm_handle_fault(ctx, &f);
    *walks = ctx->table_walks - before;
    return err;
}

/* The frame and flags at va (one walk of its own, after the counting). */
static pfn_t frame_at(mm_context_t *ctx, ptr_t va, vm_flags *flags)
{
    uint64_t pa;
    cr_assert_eq(mm_do_translate(ctx, va, &pa, flags), 0, "%#lx not mapped", (unsigned long)va);
    return (pfn_t)(pa >> PAGE_SHIFT);
}

Test(fault_walks, every_fault_walks_the_tables_once)
{
    mm_context_t *ctx = new_ctx();
    anon(ctx, USER_VA, 8);
    size_t walks, tables0;
    vm_flags fl;

    /* Zero-page read of a page with no table under it yet: one walk, the
     * missing tables made from where it stopped. */
    tables0 = ctx->table_pages;
    cr_assert_eq(fault(ctx, USER_VA, HAL_ACCESS_READ, &walks), 0);
    cr_assert_eq(walks, 1, "zero-page read fault (tables made): %zu walks", walks);
    cr_assert_eq(ctx->table_pages - tables0, G()->levels - 1);
    cr_assert_eq(frame_at(ctx, USER_VA, &fl), mm_zero_page());
    cr_assert_eq(fl & (VM_WRITE | VM_USER | VM_READ), VM_USER | VM_READ);

    /* Zero-page read where the table is there. */
    cr_assert_eq(fault(ctx, USER_VA + PAGE_SIZE, HAL_ACCESS_READ, &walks), 0);
    cr_assert_eq(walks, 1, "zero-page read fault: %zu walks", walks);
    cr_assert_eq(frame_at(ctx, USER_VA + PAGE_SIZE, NULL), mm_zero_page());

    /* Write to the zero page: a cleared frame replaces it. */
    uint32_t zero_refs = pmm_refcount(mm_zero_page());
    cr_assert_eq(fault(ctx, USER_VA, HAL_ACCESS_WRITE, &walks), 0);
    cr_assert_eq(walks, 1, "write to the zero page: %zu walks", walks);
    pfn_t p0 = frame_at(ctx, USER_VA, &fl);
    cr_assert_neq(p0, mm_zero_page());
    cr_assert(fl & VM_WRITE);
    cr_assert_eq(pmm_refcount(p0), 1);
    cr_assert_eq(pmm_refcount(mm_zero_page()), zero_refs - 1, "the zero page's reference given back");
    cr_assert_eq(get64(ctx, USER_VA), 0);

    /* Zero fill of an untouched page. */
    size_t free0 = pmm_free_frames();
    cr_assert_eq(fault(ctx, USER_VA + 2 * PAGE_SIZE, HAL_ACCESS_WRITE, &walks), 0);
    cr_assert_eq(walks, 1, "zero-fill fault: %zu walks", walks);
    cr_assert_eq(free0 - pmm_free_frames(), 1);
    put64(ctx, USER_VA + 2 * PAGE_SIZE, 0x5151);

    /* Spurious: the entry allows the access already. */
    cr_assert_eq(fault(ctx, USER_VA + 2 * PAGE_SIZE, HAL_ACCESS_WRITE, &walks), 0);
    cr_assert_eq(walks, 1, "spurious fault: %zu walks", walks);

    /* Copy-on-write after a fork: the child's write copies, the parent's
     * later write reuses its frame (count back to 1). */
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    pfn_t shared = frame_at(ctx, USER_VA + 2 * PAGE_SIZE, NULL);
    cr_assert_eq(pmm_refcount(shared), 2);
    cr_assert_eq(fault(child, USER_VA + 2 * PAGE_SIZE, HAL_ACCESS_WRITE, &walks), 0);
    cr_assert_eq(walks, 1, "copy-on-write copy: %zu walks", walks);
    pfn_t copy = frame_at(child, USER_VA + 2 * PAGE_SIZE, &fl);
    cr_assert_neq(copy, shared);
    cr_assert(fl & VM_WRITE);
    cr_assert_eq(pmm_refcount(shared), 1, "the child's reference on the shared frame dropped");
    cr_assert_eq(get64(child, USER_VA + 2 * PAGE_SIZE), 0x5151);
    cr_assert_eq(fault(ctx, USER_VA + 2 * PAGE_SIZE, HAL_ACCESS_WRITE, &walks), 0);
    cr_assert_eq(walks, 1, "copy-on-write reuse: %zu walks", walks);
    cr_assert_eq(frame_at(ctx, USER_VA + 2 * PAGE_SIZE, &fl), shared);
    cr_assert(fl & VM_WRITE);

    /* Refused: outside every vmap. */
    cr_assert_eq(fault(ctx, USER_VA + 8 * PAGE_SIZE, HAL_ACCESS_READ, &walks), -EFAULT);
    cr_assert_eq(walks, 1);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
}
