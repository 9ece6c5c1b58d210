/* Regression tests for issue 11, items 1, 3, 4, 7 and 8 (mm/): flag changes
 * outside copy-on-write memory, guards that stay guards, page 0 never mapped,
 * `_locked` clones under mm_lock_ctx_pair (MOS's fork sequence), and the one
 * way a caller drops a frame it owns. Every geometry, like the other suites. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"

TestSuite(issue11, .init = fixture_setup);

#define VA ((ptr_t)0x10000000)

static void check_invariants(void)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "invariants: %zu violations of %zu checks; first: %s", r.violations, r.checks, r.first);
    cr_assert_gt(r.checks, 0);
}

/* The flags of the entry mapping va (asserting one is present). */
static vm_flags entry_flags(mm_context_t *ctx, ptr_t va)
{
    vm_flags f = VM_NONE;
    spinlock_acquire(&ctx->mm_lock);
    int err = mm_do_translate(ctx, va, NULL, &f);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(err, 0, "nothing mapped at %#lx: %d", (unsigned long)va, err);
    return f;
}

static void flag(mm_context_t *ctx, ptr_t va, size_t n, vm_flags f)
{
    spinlock_acquire(&ctx->mm_lock);
    mm_flag_pages_locked(ctx, va, n, f);
    spinlock_release(&ctx->mm_lock);
}

static int protect(mm_context_t *ctx, ptr_t va, size_t n, vm_flags f)
{
    spinlock_acquire(&ctx->mm_lock);
    int err = mm_protect_locked(ctx, va, n, f);
    spinlock_release(&ctx->mm_lock);
    return err;
}

/* ---- Item 1: flag changes set the flags asked outside copy-on-write memory ---- */

/* The caller keeps its own reference on the frame it maps (count 2): RW ->
 * RO -> RW used to leave the entry read-only for ever in a vmap without a
 * fault handler, and the next write was refused with -EFAULT. */
Test(issue11, flag_rw_ro_rw_writable_again_when_the_caller_keeps_a_reference)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(1);
    pmm_ref(f); /* the caller's own reference */
    vmap_t *v = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v), "%ld", PTR_ERR(v));
    cr_assert_eq(pmm_refcount(f), 2);
    flag(ctx, VA, 1, VM_USER_RO);
    cr_assert_eq(entry_flags(ctx, VA), VM_USER_RO);
    flag(ctx, VA, 1, VM_USER_RW);
    cr_assert_eq(entry_flags(ctx, VA), VM_USER_RW, "write withheld from a page that no fault can make writable");
    size_t faults = softmmu_fault_count();
    put64(ctx, VA, 0x1111);
    cr_assert_eq(softmmu_fault_count(), faults, "the write faulted");
    cr_assert_eq(*(uint64_t *)pfn_va(f), 0x1111, "the write did not reach the caller's frame");
    cr_assert_eq(pmm_refcount(f), 2, "the frame was replaced or lost a reference");
    cr_assert_eq(v->on_fault, NULL);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_refcount(f), 1);
    pmm_unref(f);
    cr_assert_eq(pmm_free_frames(), free0, "frames: %zu, before %zu", pmm_free_frames(), free0);
}

/* The same frame mapped at two addresses (count 2): a flag change at one of
 * them sets the flags asked, and both addresses keep seeing one frame. */
Test(issue11, flag_rw_ro_rw_writable_again_when_the_frame_is_mapped_twice)
{
    mm_context_t *ctx = new_ctx();
    const ptr_t va2 = VA + 16 * PAGE_SIZE;
    pfn_t f = alloc_run(1);
    vmap_t *v1 = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    vmap_t *v2 = mm_map_user_pages(ctx, va2, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v1) && !IS_ERR(v2));
    cr_assert_eq(pmm_refcount(f), 2);
    flag(ctx, VA, 1, VM_USER_RO);
    flag(ctx, VA, 1, VM_USER_RW);
    cr_assert_eq(entry_flags(ctx, VA), VM_USER_RW);
    put64(ctx, VA, 0x2222);
    cr_assert_eq(get64(ctx, va2), 0x2222, "the two addresses no longer share the frame");
    cr_assert_eq(mm_get_phys_addr(ctx, VA) >> PAGE_SHIFT, f);
    cr_assert_eq(mm_get_phys_addr(ctx, va2) >> PAGE_SHIFT, f);
    cr_assert_eq(pmm_refcount(f), 2);
    check_invariants();
    mm_destroy_context(ctx);
}

/* A frame mm_clone_vmap_locked shared between two contexts: RW -> RO -> RW in
 * the clone makes it writable again, and both contexts see the write. */
Test(issue11, flag_rw_ro_rw_writable_again_after_a_raw_clone)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    pfn_t f = alloc_run(2);
    vmap_t *v = mm_map_user_pages(a, VA, f, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    mm_lock_ctx_pair(a, b);
    vmap_t *c = mm_clone_vmap_locked(v, b);
    mm_unlock_ctx_pair(a, b);
    cr_assert(!IS_ERR(c), "%ld", PTR_ERR(c));
    cr_assert_eq(pmm_refcount(f), 2);
    cr_assert_eq(pmm_refcount(f + 1), 2);
    flag(b, VA, 2, VM_USER_RO);
    flag(b, VA, 2, VM_USER_RW);
    cr_assert_eq(entry_flags(b, VA), VM_USER_RW);
    cr_assert_eq(entry_flags(b, VA + PAGE_SIZE), VM_USER_RW);
    put64(b, VA + PAGE_SIZE, 0x3333);
    cr_assert_eq(get64(a, VA + PAGE_SIZE), 0x3333, "the clone's write did not reach the shared frame");
    mm_destroy_context(b);
    cr_assert_eq(pmm_refcount(f), 1);
    mm_destroy_context(a);
}

/* mprotect-like changes (mm_protect_locked) of a vmap without a fault
 * handler set the rights asked too, and do not turn it into copy-on-write
 * memory (the write lands in the caller's frame, not a copy). */
Test(issue11, protect_rw_ro_rw_of_a_handlerless_vmap_keeps_its_frames)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(1);
    pmm_ref(f);
    vmap_t *v = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_DMA);
    cr_assert(!IS_ERR(v));
    cr_assert_eq(protect(ctx, VA, 1, VM_READ), 0);
    cr_assert_eq(protect(ctx, VA, 1, VM_RW), 0);
    cr_assert_eq(v->vmflags, VM_USER_RW);
    cr_assert_eq(v->on_fault, NULL, "mm_protect_locked gave the vmap a fault handler");
    cr_assert_eq(entry_flags(ctx, VA), VM_USER_RW);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    put64(ctx, VA, 0x4444);
    cow_get_stats(&s1);
    cr_assert_eq(s1.copies, s0.copies, "the write copied the frame");
    cr_assert_eq(*(uint64_t *)pfn_va(f), 0x4444);
    cr_assert_eq(mm_get_phys_addr(ctx, VA) >> PAGE_SHIFT, f);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_unref(f), 0);
}

/* Outside every vmap (mappings made with mm_do_map) flags are set as asked. */
Test(issue11, flag_outside_every_vmap_sets_the_flags_asked)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(1);
    pmm_ref(f);
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_do_map(ctx, VA, f, 1, VM_USER_RW), 0);
    cr_assert_eq(mm_do_flag(ctx, VA, 1, VM_USER_RO), 0);
    cr_assert_eq(mm_do_flag(ctx, VA, 1, VM_USER_RW), 0);
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(entry_flags(ctx, VA), VM_USER_RW);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_unref(f), 0);
}

/* Copy-on-write memory keeps write withheld while the frame is shared, and
 * a shared anonymous vmap's frames get the flags asked. */
Test(issue11, flag_rw_keeps_copy_on_write_in_force_and_shared_memory_writable)
{
    mm_context_t *p = new_ctx();
    spinlock_acquire(&p->mm_lock);
    vmap_t *priv = mm_map_anonymous_locked(p, 1, VA, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    vmap_t *sh = mm_map_anonymous_locked(p, 1, VA + PAGE_SIZE, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED);
    spinlock_release(&p->mm_lock);
    cr_assert(!IS_ERR(priv) && !IS_ERR(sh));
    put64(p, VA, 5);
    put64(p, VA + PAGE_SIZE, 6);
    mm_context_t *c = mm_clone_context(p);
    cr_assert(!IS_ERR(c));
    flag(c, VA, 2, VM_USER_RW);
    cr_assert_eq(entry_flags(c, VA), VM_USER_RO, "a copy-on-write page shared with the parent became writable");
    cr_assert_eq(entry_flags(c, VA + PAGE_SIZE), VM_USER_RW);
    put64(c, VA, 7);
    cr_assert_eq(get64(p, VA), 5, "the child's write reached the parent");
    cr_assert_eq(get64(c, VA), 7);
    check_invariants();
    mm_destroy_context(c);
    mm_destroy_context(p);
}

/* ---- Item 3: a guard stays a guard ---- */

/* The stack layout the kernel makes: a copy-on-write stack with an empty,
 * handler-less vmap (the guard) right below it. */
#define STACK_TOP ((ptr_t)0x40000000)
#define STACK_PAGES 4
#define GUARD (STACK_TOP - (STACK_PAGES + 1) * PAGE_SIZE)

static vmap_t *make_stack(mm_context_t *ctx, vmap_t **stack)
{
    spinlock_acquire(&ctx->mm_lock);
    *stack = mm_map_anonymous_locked(ctx, STACK_PAGES, GUARD + PAGE_SIZE, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    vmap_t *g = mm_get_free_vaddr_locked(ctx, 1, GUARD, VALLOC_EXACT);
    spinlock_release(&ctx->mm_lock);
    cr_assert(!IS_ERR(*stack) && !IS_ERR(g));
    cr_assert_eq(g->vmflags, VM_NONE);
    cr_assert_eq(g->on_fault, NULL);
    return g;
}

/* Touching the guard is refused, and maps nothing. */
static void assert_guard_refuses(mm_context_t *ctx, vmap_t *g)
{
    cr_assert_eq(g->vmflags, VM_NONE, "the guard got flags %#x", g->vmflags);
    cr_assert_eq(g->on_fault, NULL, "the guard got a fault handler");
    uint64_t x = 1;
    cr_assert_eq(softmmu_write(ctx, GUARD + 8, &x, sizeof x, true), -EFAULT, "a write to the guard succeeded");
    cr_assert_eq(softmmu_read(ctx, GUARD, &x, sizeof x, true), -EFAULT, "a read of the guard succeeded");
    spinlock_acquire(&ctx->mm_lock);
    cr_assert(!mm_get_is_mapped_locked(ctx, GUARD), "something got mapped in the guard");
    spinlock_release(&ctx->mm_lock);
}

/* mprotect over a handler-less empty vmap fails as over unmapped memory
 * (-ENOMEM), with nothing changed; it used to give the guard flags and the
 * copy-on-write handler, so that a write there succeeded. */
Test(issue11, protect_over_the_guard_fails_as_over_unmapped_memory)
{
    mm_context_t *ctx = new_ctx();
    vmap_t *stack, *g = make_stack(ctx, &stack);
    const ptr_t hole = STACK_TOP + 64 * PAGE_SIZE;
    int unmapped = protect(ctx, hole, 1, VM_RW);
    cr_assert_eq(unmapped, -ENOMEM);
    cr_assert_eq(protect(ctx, GUARD, 1, VM_RW), unmapped, "mprotect of the guard alone");
    cr_assert_eq(protect(ctx, GUARD, 3, VM_READ), unmapped, "mprotect of the guard and two stack pages");
    cr_assert_eq(protect(ctx, GUARD - PAGE_SIZE, 2, VM_RW), unmapped);
    cr_assert_eq(mm_vmap_count(ctx), 2, "a refused mprotect split a vmap");
    cr_assert_eq(stack->vmflags, VM_USER_RW, "a refused mprotect changed the stack");
    assert_guard_refuses(ctx, g);
    /* raw flag changes over it leave it alone too */
    flag(ctx, GUARD, 2, VM_USER_RW);
    assert_guard_refuses(ctx, g);
    put64(ctx, GUARD + PAGE_SIZE, 9); /* the stack is still stack */
    check_invariants();
    mm_destroy_context(ctx);
}

/* munmap over the guard succeeds as over unmapped memory and leaves the
 * guard in place: a hint there maps elsewhere, an exact map there is refused. */
Test(issue11, munmap_then_mmap_at_the_guard_leaves_the_guard)
{
    mm_context_t *ctx = new_ctx();
    vmap_t *stack, *g = make_stack(ctx, &stack);
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, GUARD, 1), 0);
    cr_assert_eq(vmap_obtain(ctx, GUARD, NULL), g, "munmap removed the guard");
    vmap_t *h = mm_map_anonymous_locked(ctx, 1, GUARD, VALLOC_DEFAULT, VM_RW, VMAP_TYPE_PRIVATE);
    cr_assert(!IS_ERR(h));
    cr_assert_neq(h->vaddr, GUARD, "a hint placed memory over the guard");
    cr_assert_eq(mm_map_anonymous_locked(ctx, 1, GUARD, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE), ERR_PTR(-EEXIST));
    /* a munmap over the guard and part of the stack takes the stack pages only */
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, GUARD - PAGE_SIZE, 3), 0);
    cr_assert_eq(vmap_obtain(ctx, GUARD, NULL), g);
    cr_assert_eq(g->vaddr, GUARD);
    cr_assert_eq(g->npages, 1);
    cr_assert_eq(vmap_obtain(ctx, GUARD + PAGE_SIZE, NULL), ERR_PTR(-ENOENT), "the stack's first page is still there");
    vmap_t *rest = vmap_obtain(ctx, GUARD + 2 * PAGE_SIZE, NULL);
    cr_assert(!IS_ERR(rest));
    cr_assert_eq(rest->vaddr, GUARD + 2 * PAGE_SIZE, "the stack was not trimmed");
    cr_assert_eq(rest->npages, STACK_PAGES - 1);
    spinlock_release(&ctx->mm_lock);
    assert_guard_refuses(ctx, g);
    mm_destroy_context(ctx);
}

/* Fork (and MOS's per-vmap clone) copies a guard as a guard: no flags, no
 * handler, on both sides, and mprotect over the child's fails too. */
Test(issue11, fork_and_clone_keep_the_guard_a_guard)
{
    mm_context_t *p = new_ctx();
    vmap_t *stack, *g = make_stack(p, &stack);
    put64(p, GUARD + PAGE_SIZE, 1);
    mm_context_t *c = mm_clone_context(p);
    cr_assert(!IS_ERR(c));
    spinlock_acquire(&c->mm_lock);
    vmap_t *cg = vmap_obtain(c, GUARD, NULL);
    spinlock_release(&c->mm_lock);
    cr_assert(!IS_ERR(cg));
    assert_guard_refuses(p, g);
    assert_guard_refuses(c, cg);
    cr_assert_eq(protect(c, GUARD, 1, VM_RW), -ENOMEM);
    assert_guard_refuses(c, cg);

    mm_context_t *d = new_ctx();
    mm_lock_ctx_pair(p, d);
    vmap_t *dg = cow_clone_vmap_locked(d, g);
    mm_unlock_ctx_pair(p, d);
    cr_assert(!IS_ERR(dg));
    assert_guard_refuses(p, g);
    assert_guard_refuses(d, dg);
    check_invariants();
    mm_destroy_context(d);
    mm_destroy_context(c);
    mm_destroy_context(p);
}

/* ---- Item 4: page 0 (everything below MM_USER_MIN) is never mapped ---- */

Test(issue11, exact_placement_below_mm_user_min_is_einval)
{
    mm_context_t *ctx = new_ctx();
    size_t free0 = pmm_free_frames();
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_get_free_vaddr_locked(ctx, 1, 0, VALLOC_EXACT), ERR_PTR(-EINVAL), "page 0");
    cr_assert_eq(mm_get_free_vaddr_locked(ctx, 1, MM_USER_MIN - PAGE_SIZE, VALLOC_EXACT), ERR_PTR(-EINVAL));
    cr_assert_eq(mm_get_free_vaddr_locked(ctx, 32, MM_USER_MIN - 16 * PAGE_SIZE, VALLOC_EXACT), ERR_PTR(-EINVAL),
                 "a range starting below MM_USER_MIN and ending above it");
    cr_assert_eq(mm_map_anonymous_locked(ctx, 1, 0, VALLOC_EXACT, VM_READ, VMAP_TYPE_PRIVATE), ERR_PTR(-EINVAL));
    cr_assert_eq(mm_map_anonymous_locked(ctx, 1, PAGE_SIZE, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED), ERR_PTR(-EINVAL));
    cr_assert_eq(vmap_create(ctx, 0, 1), ERR_PTR(-EINVAL));
    cr_assert_eq(mm_vmap_count(ctx), 0);
    spinlock_release(&ctx->mm_lock);
    pfn_t f = alloc_run(1);
    cr_assert_eq(mm_map_user_pages(ctx, 0, f, 1, VM_READ, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP), ERR_PTR(-EINVAL));
    spinlock_acquire(&ctx->mm_lock);
    cr_assert_eq(mm_do_map(ctx, 0, f, 1, VM_USER_RO), -EINVAL, "the raw layer maps page 0");
    cr_assert_eq(mm_do_replace(ctx, MM_USER_MIN - PAGE_SIZE, f, VM_USER_RO), -EINVAL);
    cr_assert(!mm_get_is_mapped_locked(ctx, 0));
    spinlock_release(&ctx->mm_lock);
    cr_assert_eq(pmm_refcount(f), 0);
    pmm_free(f);
    cr_assert_eq(pmm_free_frames(), free0, "a refused map leaked %ld frames", (long)free0 - (long)pmm_free_frames());
    /* the lowest address allowed still works, exactly and by default */
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *v = mm_get_free_vaddr_locked(ctx, 1, MM_USER_MIN, VALLOC_EXACT);
    cr_assert(!IS_ERR(v));
    cr_assert_eq(v->vaddr, MM_USER_MIN);
    vmap_t *w = mm_get_free_vaddr_locked(ctx, 1, 0, VALLOC_DEFAULT);
    cr_assert(!IS_ERR(w));
    cr_assert_eq(w->vaddr, MM_USER_MIN + PAGE_SIZE);
    spinlock_release(&ctx->mm_lock);
    mm_destroy_context(ctx);
}

/* ---- Item 7: `_locked` means the caller holds every context lock ---- */

#define SHVA ((ptr_t)0x20000000)
#define FILEVA ((ptr_t)0x30000000)

/* MOS's fork, ported as it is written there: both contexts locked with
 * mm_lock_ctx_pair, every vmap cloned with mm_clone_vmap_locked (shared) or
 * cow_clone_vmap_locked (private), then mm_unlock_ctx_pair. The clones used
 * to take the destination's lock themselves, so this panicked ("lock already
 * held by this thread"). */
Test(issue11, mos_fork_sequence_under_the_pair_lock_clones_every_vmap)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *parent = new_ctx();
    spinlock_acquire(&parent->mm_lock);
    vmap_t *priv = mm_map_anonymous_locked(parent, 4, VA, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    vmap_t *sh = mm_map_anonymous_locked(parent, 2, SHVA, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED);
    spinlock_release(&parent->mm_lock);
    cr_assert(!IS_ERR(priv) && !IS_ERR(sh));
    pfn_t f = alloc_run(2);
    vmap_t *file = mm_map_user_pages(parent, FILEVA, f, 2, VM_READ, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_FILE);
    cr_assert(!IS_ERR(file));
    vmap_t *stack, *guard = make_stack(parent, &stack);
    for (size_t i = 0; i < 4; i++)
        put64(parent, VA + i * PAGE_SIZE, 100 + i);
    put64(parent, SHVA, 7);
    put64(parent, STACK_TOP - 8, 8);
    pfn_t priv0 = (pfn_t)(mm_get_phys_addr(parent, VA) >> PAGE_SHIFT);

    mm_context_t *child = new_ctx();
    mm_lock_ctx_pair(parent, child);
    size_t cloned = 0;
    for (vmap_t *v = mm_vmap_first_from(parent, 0); v; v = mm_vmap_next(v)) {
        vmap_t *cv = v->type == VMAP_TYPE_SHARED ? mm_clone_vmap_locked(v, child) : cow_clone_vmap_locked(child, v);
        cr_assert(!IS_ERR(cv), "clone of the vmap at %#lx: %ld", (unsigned long)v->vaddr, PTR_ERR(cv));
        cv->content = v->content;
        cloned++;
    }
    mm_unlock_ctx_pair(parent, child);
    cr_assert(!spinlock_is_locked(&parent->mm_lock) && !spinlock_is_locked(&child->mm_lock));
    cr_assert_eq(cloned, 5);
    cr_assert_eq(mm_vmap_count(child), 5);
    check_invariants();

    /* private memory is copy-on-write: shared until a side writes */
    cr_assert_eq(pmm_refcount(priv0), 2);
    cr_assert_eq(get64(child, VA), 100);
    put64(child, VA, 200);
    cr_assert_eq(get64(parent, VA), 100, "the child's write reached the parent");
    cr_assert_eq(pmm_refcount(priv0), 1);
    put64(parent, VA + PAGE_SIZE, 300);
    cr_assert_eq(get64(child, VA + PAGE_SIZE), 101);
    cr_assert_eq(get64(child, STACK_TOP - 8), 8);
    /* shared memory stays shared, file pages are the same frames */
    put64(child, SHVA, 9);
    cr_assert_eq(get64(parent, SHVA), 9);
    cr_assert_eq(mm_get_phys_addr(child, FILEVA) >> PAGE_SHIFT, f);
    cr_assert_eq(pmm_refcount(f), 2);
    /* the guard is a guard on both sides */
    spinlock_acquire(&child->mm_lock);
    vmap_t *cg = vmap_obtain(child, GUARD, NULL);
    spinlock_release(&child->mm_lock);
    cr_assert(!IS_ERR(cg));
    assert_guard_refuses(parent, guard);
    assert_guard_refuses(child, cg);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(parent);
    cr_assert_eq(pmm_free_frames(), free0, "frames: %zu, before %zu", pmm_free_frames(), free0);
}

/* The clones assert the destination's lock as well as the source's. */
Test(issue11, raw_clone_without_the_destination_lock_panics, .signal = SIGABRT)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    vmap_t *v = mm_map_user_pages(a, VA, alloc_run(1), 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    spinlock_acquire(&a->mm_lock);
    mm_clone_vmap_locked(v, b);
}

Test(issue11, cow_clone_without_the_destination_lock_panics, .signal = SIGABRT)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    vmap_t *v = mm_map_user_pages(a, VA, alloc_run(1), 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    spinlock_acquire(&a->mm_lock);
    cow_clone_vmap_locked(b, v);
}

Test(issue11, cow_clone_without_the_source_lock_panics, .signal = SIGABRT)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    vmap_t *v = mm_map_user_pages(a, VA, alloc_run(1), 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    spinlock_acquire(&b->mm_lock);
    cow_clone_vmap_locked(b, v);
}

/* mm_lock_ctx_pair(ctx, NULL) and (ctx, ctx) lock just ctx; a pair is locked
 * and unlocked whole, in either argument order. */
Test(issue11, lock_ctx_pair_locks_one_or_two_contexts)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    mm_lock_ctx_pair(a, NULL);
    cr_assert(spinlock_is_locked(&a->mm_lock) && !spinlock_is_locked(&b->mm_lock));
    mm_unlock_ctx_pair(a, NULL);
    mm_lock_ctx_pair(b, b);
    cr_assert(spinlock_is_locked(&b->mm_lock) && !spinlock_is_locked(&a->mm_lock));
    mm_unlock_ctx_pair(b, b);
    cr_assert(!spinlock_is_locked(&b->mm_lock));
    mm_lock_ctx_pair(b, a);
    cr_assert(spinlock_is_locked(&a->mm_lock) && spinlock_is_locked(&b->mm_lock));
    mm_unlock_ctx_pair(b, a);
    cr_assert(!spinlock_is_locked(&a->mm_lock) && !spinlock_is_locked(&b->mm_lock));
    /* mmap's use: mm_get_free_vaddr_locked under the pair lock of one context */
    mm_lock_ctx_pair(a, NULL);
    vmap_t *v = mm_get_free_vaddr_locked(a, 1, 0, VALLOC_DEFAULT);
    mm_unlock_ctx_pair(a, NULL);
    cr_assert(!IS_ERR(v));
    cr_assert_eq(v->vaddr, MM_USER_MIN);
    mm_destroy_context(a);
    mm_destroy_context(b);
}

/* Two threads clone A -> B and B -> A at once, each under
 * mm_lock_ctx_pair(source, destination): the address order makes both
 * finish (with the destination locked inside the clone, or the pair locked
 * in argument order, the two deadlock within a few rounds). */
typedef struct clone_race {
    mm_context_t *src, *dst;
    ptr_t va;
    bool cow;
    int rounds, errors;
    pthread_barrier_t *start;
} clone_race_t;

#define RACE_ROUNDS 5000

static void *clone_back_and_forth(void *arg)
{
    clone_race_t *c = arg;
    pthread_barrier_wait(c->start); /* both threads race from the first round */
    for (int i = 0; i < RACE_ROUNDS; i++) {
        /* the pair taken and dropped at once: the two threads keep meeting
         * between their first and second lock, where a bad order deadlocks */
        for (int k = 0; k < 32; k++) {
            mm_lock_ctx_pair(c->src, c->dst);
            mm_unlock_ctx_pair(c->src, c->dst);
        }
        mm_lock_ctx_pair(c->src, c->dst);
        vmap_t *v = vmap_obtain(c->src, c->va, NULL);
        vmap_t *cl = IS_ERR(v) ? v : c->cow ? cow_clone_vmap_locked(c->dst, v) : mm_clone_vmap_locked(v, c->dst);
        mm_unlock_ctx_pair(c->src, c->dst);
        if (IS_ERR(cl)) {
            c->errors++;
            continue;
        }
        mm_lock_ctx_pair(c->dst, NULL);
        vmap_destroy(cl);
        mm_unlock_ctx_pair(c->dst, NULL);
        c->rounds++;
    }
    return NULL;
}

Test(issue11, clones_a_to_b_and_b_to_a_at_once_both_finish, .timeout = 30)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    spinlock_acquire(&a->mm_lock);
    vmap_t *va = mm_map_anonymous_locked(a, 2, VA, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    spinlock_release(&a->mm_lock);
    pfn_t f = alloc_run(2);
    vmap_t *vb = mm_map_user_pages(b, SHVA, f, 2, VM_RW, VALLOC_EXACT, VMAP_TYPE_SHARED, VMAP_MMAP);
    cr_assert(!IS_ERR(va) && !IS_ERR(vb));
    put64(a, VA, 1);
    put64(a, VA + PAGE_SIZE, 2);
    size_t free0 = pmm_free_frames();
    mm_stats_t s0, s1;
    mm_get_stats(&s0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    clone_race_t ab = { a, b, VA, true, 0, 0, &start }, ba = { b, a, SHVA, false, 0, 0, &start };
    pthread_t t1, t2;
    cr_assert_eq(pthread_create(&t1, NULL, clone_back_and_forth, &ab), 0);
    cr_assert_eq(pthread_create(&t2, NULL, clone_back_and_forth, &ba), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&start);
    cr_assert_eq(ab.errors + ba.errors, 0, "clones failed: %d %d", ab.errors, ba.errors);
    cr_assert_eq(ab.rounds, RACE_ROUNDS);
    cr_assert_eq(ba.rounds, RACE_ROUNDS);
    cr_assert_eq(mm_vmap_count(a), 1);
    cr_assert_eq(mm_vmap_count(b), 1);
    cr_assert_eq(pmm_refcount(f), 1);
    cr_assert_eq(pmm_refcount((pfn_t)(mm_get_phys_addr(a, VA) >> PAGE_SHIFT)), 1);
    mm_get_stats(&s1);
    cr_assert_eq(s1.vmaps, s0.vmaps);
    cr_assert_eq(pmm_free_frames(), free0, "frames: %zu, before %zu", pmm_free_frames(), free0);
    check_invariants();
    mm_destroy_context(a);
    mm_destroy_context(b);
}

/* The order is by address, whatever the argument order: with the lower
 * context's lock held elsewhere, mm_lock_ctx_pair waits for it without
 * taking the higher one first. */
typedef struct pair_locker {
    mm_context_t *ctx1, *ctx2;
    atomic_bool started, done;
} pair_locker_t;

static void *lock_pair_once(void *arg)
{
    pair_locker_t *p = arg;
    atomic_store(&p->started, true);
    mm_lock_ctx_pair(p->ctx1, p->ctx2);
    mm_unlock_ctx_pair(p->ctx1, p->ctx2);
    atomic_store(&p->done, true);
    return NULL;
}

static bool held_by_anyone(mm_context_t *c) { return atomic_load(&c->mm_lock.owner) != 0; }

Test(issue11, lock_ctx_pair_takes_the_lower_address_first_in_either_argument_order)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    mm_context_t *lo = (uintptr_t)a < (uintptr_t)b ? a : b, *hi = lo == a ? b : a;
    for (int order = 0; order < 2; order++) {
        pair_locker_t p = { order ? lo : hi, order ? hi : lo, false, false };
        spinlock_acquire(&lo->mm_lock);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, lock_pair_once, &p), 0);
        while (!atomic_load(&p.started))
            ;
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep(&pause, NULL); /* time to reach the first lock and spin there */
        cr_assert(!atomic_load(&p.done));
        cr_assert(!held_by_anyone(hi), "mm_lock_ctx_pair(%s) took the higher context first",
                  order ? "lower, higher" : "higher, lower");
        spinlock_release(&lo->mm_lock);
        pthread_join(t, NULL);
        cr_assert(atomic_load(&p.done));
        cr_assert(!held_by_anyone(lo) && !held_by_anyone(hi));
    }
    mm_destroy_context(a);
    mm_destroy_context(b);
}

/* ---- Item 8: pmm_release drops what the caller owns ---- */

/* A frame nothing ever referenced (count 0) goes back to the allocator. */
Test(issue11, release_of_an_unreferenced_allocation_frees_it)
{
    size_t free0 = pmm_free_frames();
    pfn_t f = pmm_alloc();
    cr_assert_neq(f, PMM_NO_FRAME);
    cr_assert_eq(pmm_free_frames(), free0 - 1);
    cr_assert_eq(pmm_release(f), 0);
    cr_assert(!pmm_is_allocated(f));
    cr_assert_eq(pmm_free_frames(), free0);
}

/* A map call that failed leaves the frame the caller's: released, it is free. */
Test(issue11, release_after_a_failed_map_frees_the_frame)
{
    mm_context_t *ctx = new_ctx();
    size_t free0 = pmm_free_frames();
    pfn_t f = pmm_alloc();
    cr_assert_eq(mm_map_user_pages(ctx, 0, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP), ERR_PTR(-EINVAL));
    cr_assert_eq(pmm_release(f), 0);
    cr_assert_eq(pmm_free_frames(), free0);
    mm_destroy_context(ctx);
}

/* A caller that keeps a reference drops just that: the mapping keeps the
 * frame until it goes, and whichever goes last frees it. */
Test(issue11, release_of_a_kept_reference_leaves_the_mappings_frame)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    pfn_t f = pmm_alloc();
    pmm_ref(f);
    vmap_t *v = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    put64(ctx, VA, 0x5151);
    cr_assert_eq(pmm_release(f), 1, "the caller's reference was not the one dropped");
    cr_assert(pmm_is_allocated(f));
    cr_assert_eq(get64(ctx, VA), 0x5151);
    mm_destroy_context(ctx);
    cr_assert(!pmm_is_allocated(f), "the last mapping going did not free the frame");
    cr_assert_eq(pmm_free_frames(), free0);
}

Test(issue11, release_after_the_mapping_went_frees_the_frame)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    pfn_t f = pmm_alloc();
    pmm_ref(f);
    vmap_t *v = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert(!IS_ERR(v));
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_refcount(f), 1);
    cr_assert_eq(pmm_release(f), 0);
    cr_assert(!pmm_is_allocated(f));
    cr_assert_eq(pmm_free_frames(), free0);
}

/* Releasing a frame that is not allocated (already given back) stops. */
Test(issue11, release_of_a_free_frame_panics, .signal = SIGABRT)
{
    pfn_t f = pmm_alloc();
    pmm_free(f);
    pmm_release(f);
}
