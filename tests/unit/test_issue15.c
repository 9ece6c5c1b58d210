/* Regression tests for issue 15 (kmm embedded in another kernel): the
 * interrupt hook every lock uses, the get_user_pages-like fault-and-pin
 * call, anonymous vmaps populated at creation and the fork reserve. Every
 * geometry, like the other suites. */
#include <signal.h>

#include "fixture.h"
#include "mm/check.h"
#include "mm/cow.h"
#include "mm/pagetable.h"

TestSuite(issue15, .init = fixture_setup);

#define VA ((ptr_t)0x10000000)

static void check_invariants(void)
{
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    cr_assert_eq(err, 0, "invariants: %zu violations of %zu checks; first: %s", r.violations, r.checks, r.first);
}

/* ---- Item 4: the lock masks interrupts through the platform's hook ---- */

/* A context lock masks the calling CPU's interrupts until it is released;
 * with two contexts, whichever argument order, the states are restored in
 * the reverse order of saving (mm_unlock_ctx_pair used to release ctx2
 * first even when it was taken first: the outer state came back while the
 * inner lock was still held). */
Test(issue15, context_locks_mask_interrupts_and_restore_them_in_reverse_order)
{
    mm_context_t *a = new_ctx(), *b = new_ctx();
    size_t bad0 = host_irq_out_of_order();
    cr_assert(!host_irq_masked());
    mm_lock_ctx_pair(a, b);
    cr_assert(host_irq_masked(), "a context lock held with interrupts on");
    mm_unlock_ctx_pair(a, b);
    cr_assert(!host_irq_masked(), "interrupts left masked after the pair was released");
    mm_lock_ctx_pair(b, a);
    mm_unlock_ctx_pair(b, a);
    cr_assert(!host_irq_masked());
    cr_assert_eq(host_irq_out_of_order(), bad0, "%zu restores out of order", host_irq_out_of_order() - bad0);
    /* Every operation, allocator locks inside context locks included, nests. */
    mm_context_t *c = mm_clone_context(a);
    cr_assert(!IS_ERR(c));
    mm_destroy_context(c);
    mm_destroy_context(a);
    mm_destroy_context(b);
    cr_assert(!host_irq_masked());
    cr_assert_eq(host_irq_out_of_order(), bad0);
}

/* ---- Item 7: one call resolves an access and pins the frame ---- */

static vmap_t *anon(mm_context_t *ctx, ptr_t va, size_t n, vm_flags f, valloc_flags vf)
{
    mm_lock_ctx_pair(ctx, NULL);
    vmap_t *v = cow_allocate_zeroed_pages(ctx, n, va, VALLOC_EXACT | vf, f);
    mm_unlock_ctx_pair(ctx, NULL);
    return v;
}

/* A write to an untouched anonymous page: a fresh zeroed frame, mapped
 * (count 1) and pinned for the caller (count 2); what the caller writes
 * through the frame is what user mode reads. */
Test(issue15, get_user_page_write_fills_untouched_page_and_pins_it)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    cr_assert(!IS_ERR(anon(ctx, VA, 4, VM_RW, 0)));
    pfn_t p = PMM_NO_FRAME;
    cr_assert_eq(mm_get_user_page(ctx, VA + PAGE_SIZE + 8, HAL_ACCESS_WRITE, &p), 0);
    cr_assert_neq(p, mm_zero_page());
    cr_assert_eq(pmm_refcount(p), 2, "mapping + caller: %u", pmm_refcount(p));
    cr_assert_eq(*(uint64_t *)pfn_va(p), 0, "a fresh page is not zeroed");
    *(uint64_t *)((char *)pfn_va(p) + 8) = 0xfeed;
    cr_assert_eq(get64(ctx, VA + PAGE_SIZE + 8), 0xfeed);
    cr_assert_eq(pmm_release(p), 1);
    /* A read of another untouched page pins the shared zero page. */
    pfn_t z = PMM_NO_FRAME;
    uint32_t zrefs = pmm_refcount(mm_zero_page());
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_READ, &z), 0);
    cr_assert_eq(z, mm_zero_page());
    cr_assert_eq(pmm_refcount(z), zrefs + 2, "zero page: mapping + caller");
    pmm_release(z);
    /* A write to it now replaces the zero page by a private frame. */
    pfn_t w = PMM_NO_FRAME;
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_WRITE, &w), 0);
    cr_assert_neq(w, mm_zero_page());
    cr_assert_eq(pmm_refcount(mm_zero_page()), zrefs);
    pmm_release(w);
    ASSERT_TLB_CLEAN();
    check_invariants();
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* After fork, a write through the call copies: the parent's frame keeps the
 * parent's bytes, the child's pinned frame is its own. */
Test(issue15, get_user_page_write_after_fork_copies_the_shared_frame)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *parent = new_ctx();
    cr_assert(!IS_ERR(anon(parent, VA, 1, VM_RW, 0)));
    put64(parent, VA, 0xaaaa);
    mm_context_t *child = mm_clone_context(parent);
    cr_assert(!IS_ERR(child));
    pfn_t shared = PMM_NO_FRAME;
    cr_assert_eq(mm_get_user_page(child, VA, HAL_ACCESS_READ, &shared), 0);
    cr_assert_eq(pmm_refcount(shared), 3, "parent + child + caller");
    pfn_t mine = PMM_NO_FRAME;
    cr_assert_eq(mm_get_user_page(child, VA, HAL_ACCESS_WRITE, &mine), 0);
    cr_assert_neq(mine, shared, "a write to a shared frame was not copied");
    cr_assert_eq(pmm_refcount(mine), 2);
    cr_assert_eq(pmm_refcount(shared), 2, "parent + caller");
    *(uint64_t *)pfn_va(mine) = 0xbbbb;
    cr_assert_eq(get64(parent, VA), 0xaaaa);
    cr_assert_eq(get64(child, VA), 0xbbbb);
    pmm_release(mine);
    pmm_release(shared);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(child);
    mm_destroy_context(parent);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* Bad pointers are refused with nothing pinned nor allocated: outside every
 * vmap, page 0, a kernel address, a write to read-only memory, a guard. */
Test(issue15, get_user_page_refuses_bad_pointers_and_pins_nothing)
{
    mm_context_t *ctx = new_ctx();
    cr_assert(!IS_ERR(anon(ctx, VA, 1, VM_READ, 0)));
    mm_lock_ctx_pair(ctx, NULL);
    vmap_t *guard = mm_get_free_vaddr_locked(ctx, 1, VA + 4 * PAGE_SIZE, VALLOC_EXACT);
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(guard));
    size_t free0 = pmm_free_frames();
    pfn_t p = 12345;
    cr_assert_eq(mm_get_user_page(ctx, VA + 64 * PAGE_SIZE, HAL_ACCESS_READ, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(ctx, 0, HAL_ACCESS_READ, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(ctx, KBASE(), HAL_ACCESS_READ, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_WRITE, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(ctx, VA + 4 * PAGE_SIZE, HAL_ACCESS_READ, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(ctx, VA, 0, &p), -EINVAL);
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_READ, NULL), -EINVAL);
    cr_assert_eq(mm_get_user_page(mm_kernel_context(), VA, HAL_ACCESS_READ, &p), -EINVAL);
    cr_assert_eq(p, 12345, "*out_pfn written on failure");
    cr_assert_eq(pmm_free_frames(), free0);
    mm_destroy_context(ctx);
}

/* -ENOMEM while filling a write fault: nothing pinned, nothing leaked. */
Test(issue15, get_user_page_out_of_memory_pins_nothing)
{
    mm_context_t *ctx = new_ctx();
    cr_assert(!IS_ERR(anon(ctx, VA, 1, VM_RW, 0)));
    size_t free0 = pmm_free_frames();
    pfn_t p = 7;
    pmm_fail_after(1);
    int err = mm_get_user_page(ctx, VA, HAL_ACCESS_WRITE, &p);
    pmm_fail_after(0);
    cr_assert_eq(err, -ENOMEM);
    cr_assert_eq(p, 7);
    cr_assert_eq(pmm_free_frames(), free0);
    mm_destroy_context(ctx);
}

/* ---- Item 8: anonymous memory populated at creation ---- */

/* VALLOC_POPULATE maps a private zeroed frame on every page at once: no
 * fault follows the first write, and the frames are counted exactly. */
Test(issue15, populate_maps_every_page_at_creation)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    size_t before = pmm_free_frames();
    mm_stats_t s0, s;
    mm_get_stats(&s0);
    vmap_t *v = anon(ctx, VA, 8, VM_RW, VALLOC_POPULATE);
    cr_assert(!IS_ERR(v), "%ld", PTR_ERR(v));
    mm_get_stats(&s);
    cr_assert_eq(s.user_pages - s0.user_pages, 8, "user pages %zu", s.user_pages - s0.user_pages);
    cr_assert_eq(before - pmm_free_frames(),
                 8 + (s.table_pages - s0.table_pages) + (s.object_pages - s0.object_pages),
                 "frames taken: %zu", before - pmm_free_frames());
    size_t faults = softmmu_fault_count();
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(get64(ctx, VA + i * PAGE_SIZE), 0);
        put64(ctx, VA + i * PAGE_SIZE, i + 1);
    }
    cr_assert_eq(softmmu_fault_count(), faults, "a populated page faulted");
    check_invariants();
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* When memory runs out part-way, the call fails with -ENOMEM and leaves
 * nothing: no vmap, no frame, no table; every failure point is tried. */
Test(issue15, populate_out_of_memory_leaves_nothing_behind)
{
    mm_context_t *ctx = new_ctx();
    size_t free0 = pmm_free_frames();
    mm_stats_t s0;
    mm_get_stats(&s0);
    size_t failures = 0;
    for (size_t nth = 1; nth < 64; nth++) {
        pmm_fail_after(nth);
        vmap_t *v = anon(ctx, VA, 8, VM_RW, VALLOC_POPULATE);
        pmm_fail_after(0);
        if (!IS_ERR(v)) {
            mm_lock_ctx_pair(ctx, NULL);
            vmap_destroy(v);
            mm_unlock_ctx_pair(ctx, NULL);
            cr_assert_eq(pmm_free_frames(), free0);
            break;
        }
        failures++;
        cr_assert_eq(PTR_ERR(v), -ENOMEM, "nth %zu: %ld", nth, PTR_ERR(v));
        cr_assert_eq(mm_vmap_count(ctx), 0, "nth %zu: a vmap was left", nth);
        cr_assert_eq(pmm_free_frames(), free0, "nth %zu: %zu frames leaked", nth, free0 - pmm_free_frames());
        mm_stats_t s;
        mm_get_stats(&s);
        cr_assert_eq(s.user_pages, s0.user_pages);
    }
    cr_assert_geq(failures, 9, "8 frames and a table or two can each fail: %zu failures", failures);
    check_invariants();
    mm_destroy_context(ctx);
}

/* The flag belongs to anonymous memory: the address-only call refuses it. */
Test(issue15, populate_is_refused_where_nothing_is_allocated)
{
    mm_context_t *ctx = new_ctx();
    mm_lock_ctx_pair(ctx, NULL);
    vmap_t *v = mm_get_free_vaddr_locked(ctx, 1, VA, VALLOC_EXACT | VALLOC_POPULATE);
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert_eq(PTR_ERR(v), -EINVAL);
    cr_assert_eq(mm_vmap_count(ctx), 0);
    mm_destroy_context(ctx);
}

/* ---- Item 9: the fork reserve is an option of the clone ---- */

/* The reserve is exact: with R free frames left after the child is made, a
 * reserve of R forks and R + 1 fails with -ENOMEM, the parent untouched
 * (its pages still writable without a fault: not made copy-on-write) and
 * nothing leaked. */
Test(issue15, clone_reserve_is_exact_and_a_refused_fork_leaves_the_parent_as_it_was)
{
    mm_context_t *parent = new_ctx();
    cr_assert(!IS_ERR(anon(parent, VA, 4, VM_RW, 0)));
    for (size_t i = 0; i < 4; i++)
        put64(parent, VA + i * PAGE_SIZE, i);
    size_t free0 = pmm_free_frames();
    mm_context_t *c = mm_clone_context(parent);
    cr_assert(!IS_ERR(c));
    size_t left = pmm_free_frames();
    mm_destroy_context(c);
    /* The clone made the parent copy-on-write: one write each makes it writable again. */
    for (size_t i = 0; i < 4; i++)
        put64(parent, VA + i * PAGE_SIZE, i);
    cr_assert_eq(pmm_free_frames(), free0);

    c = mm_clone_context_opts(parent, &(mm_clone_opts_t){ .reserve_frames = left + 1 });
    cr_assert_eq(PTR_ERR(c), -ENOMEM);
    cr_assert_eq(pmm_free_frames(), free0, "a refused fork leaked %zu frames", free0 - pmm_free_frames());
    mm_stats_t s;
    mm_get_stats(&s);
    cr_assert_eq(s.contexts, 2, "kernel + parent: %zu", s.contexts);
    size_t faults = softmmu_fault_count();
    put64(parent, VA, 0x55);
    cr_assert_eq(softmmu_fault_count(), faults, "the refused fork made the parent copy-on-write");

    c = mm_clone_context_opts(parent, &(mm_clone_opts_t){ .reserve_frames = left });
    cr_assert(!IS_ERR(c), "a fork leaving exactly the reserve was refused: %ld", PTR_ERR(c));
    cr_assert_eq(pmm_free_frames(), left);
    cr_assert_eq(get64(c, VA), 0x55);
    check_invariants();
    mm_destroy_context(c);
    mm_destroy_context(parent);
}

/* ---- Item 2: the shared kernel half is an option of mm_init ---- */

/* A kernel with its own kernel page table (or a low-half one) asks for no
 * shared kernel half: mm_init then allocates the kernel root alone (no
 * kernel-half table pinned), and a user root holds no kernel-half entry.
 * Without the option the same geometry pins its kernel-half tables. */
Test(issue15, mm_init_without_shared_kernel_half_pins_no_kernel_table)
{
    const hal_geometry_t *g = hal_geometry_find(kmm_host_geometry()->name);
    cr_assert_not_null(g);
    mm_region_t regions[] = {
        { .base = kmm_host_phys_base(), .size = kmm_host_phys_size(), .usable = true },
        { .base = kmm_host_phys_base(), .size = HAL_ARCH_RAM_RESERVED, .usable = false },
    };
    mm_boot_info_t info = { .geometry = g, .regions = regions, .nregions = 2 };
    cr_assert_eq(mm_init(&info), 0);
    mm_stats_t s;
    mm_get_stats(&s);
    /* A geometry that keeps the kernel half in a root of its own (aarch64's
     * TTBR1) shares nothing with or without the option. */
    bool native = hal_separate_kernel_root(g);
    const unsigned entries = hal_level_entries(g, g->levels);
    cr_assert_eq(s.table_pages, native ? 1 : 1 + entries / 2,
                 "shared: the root and every kernel-half table (%zu table pages)", s.table_pages);
    cr_assert_eq(hal_separate_kernel_root(mm_geometry), native);

    info.separate_kernel_root = true;
    cr_assert_eq(mm_init(&info), 0);
    cr_assert(hal_separate_kernel_root(mm_geometry));
    cr_assert_eq(hal_separate_kernel_root(g), native, "the caller's geometry was changed");
    mm_get_stats(&s);
    cr_assert_eq(s.table_pages, 1, "kernel tables pinned: %zu", s.table_pages);
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    const pte_t *root = pfn_va(ctx->pgd);
    for (unsigned i = entries / 2; i < HAL_ENTRIES_PER_TABLE; i++)
        cr_assert(!hal_pte_present(root[i]), "kernel-half entry %u in a user root", i);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* ---- Item 3: frames shared with the embedder's allocator ---- */

static void assert_pmm_stats_eq(const pmm_stats_t *a, const pmm_stats_t *b)
{
    cr_assert_eq(a->managed_frames, b->managed_frames, "managed %zu / %zu", a->managed_frames, b->managed_frames);
    cr_assert_eq(a->reserved_frames, b->reserved_frames, "reserved %zu / %zu", a->reserved_frames, b->reserved_frames);
    cr_assert_eq(a->free_frames, b->free_frames, "free %zu / %zu", a->free_frames, b->free_frames);
}

/* The fixture reserves the first HAL_ARCH_RAM_RESERVED bytes inside the
 * usable span, as an embedder declares RAM its own allocator keeps for
 * now: 8 of those frames given later become free, managed frames, and
 * the allocator hands every one of them out. */
Test(issue15, frames_given_after_start_up_are_managed_and_handed_out)
{
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    pfn_t give = (kmm_host_phys_base() >> KMM_PAGE_SHIFT) + 16;
    cr_assert(!pmm_is_managed(give));
    cr_assert_eq(pmm_give_frames(give, 8), 0);
    pmm_get_stats(&s1);
    cr_assert_eq(s1.managed_frames, s0.managed_frames + 8);
    cr_assert_eq(s1.reserved_frames, s0.reserved_frames - 8);
    cr_assert_eq(s1.free_frames, s0.free_frames + 8);
    size_t n = s1.free_frames, seen = 0, got = 0;
    pfn_t *all = malloc(n * sizeof *all);
    cr_assert_not_null(all);
    for (pfn_t p; (p = pmm_alloc()) != PMM_NO_FRAME; got++) {
        cr_assert_lt(got, n, "more frames than free");
        all[got] = p;
        seen += p >= give && p < give + 8;
    }
    cr_assert_eq(got, n, "%zu of %zu free frames handed out", got, n);
    cr_assert_eq(seen, 8, "%zu of the 8 given frames handed out", seen);
    for (size_t i = 0; i < got; i++)
        pmm_free(all[i]);
    free(all);
    pmm_get_stats(&s0);
    assert_pmm_stats_eq(&s0, &s1);
}

/* A frame taken back leaves kmm: not managed (a user mapping of it is
 * refused), one free frame less; given again, all is as before. */
Test(issue15, a_frame_taken_back_is_no_longer_managed_until_given_again)
{
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    pfn_t p = pmm_take_frame();
    cr_assert_neq(p, PMM_NO_FRAME);
    pmm_get_stats(&s1);
    cr_assert_eq(s1.managed_frames, s0.managed_frames - 1);
    cr_assert_eq(s1.reserved_frames, s0.reserved_frames + 1);
    cr_assert_eq(s1.free_frames, s0.free_frames - 1);
    cr_assert(!pmm_is_managed(p));
    mm_context_t *ctx = new_ctx();
    vmap_t *v = mm_map_user_pages(ctx, VA, p, 1, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    cr_assert_eq(PTR_ERR(v), -EINVAL);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_give_frames(p, 1), 0);
    pmm_get_stats(&s1);
    assert_pmm_stats_eq(&s0, &s1);
}

/* Bad gifts are refused whole: nothing, outside the span, managed frames,
 * the frame array, a range with one managed frame in it. */
Test(issue15, bad_gifts_are_refused_and_change_nothing)
{
    pmm_stats_t s0, s1;
    pfn_t first = kmm_host_phys_base() >> KMM_PAGE_SHIFT;
    cr_assert_eq(pmm_give_frames(first + 16, 1), 0);
    pmm_get_stats(&s0);
    pfn_t array = pmm_frame_record_paddr(s0.base_pfn) >> KMM_PAGE_SHIFT;
    pfn_t managed = pmm_alloc();
    cr_assert_eq(pmm_give_frames(first + 20, 0), -EINVAL);
    cr_assert_eq(pmm_give_frames(s0.end_pfn, 1), -EINVAL);
    cr_assert_eq(pmm_give_frames(s0.end_pfn - 1, 2), -EINVAL);
    cr_assert_eq(pmm_give_frames(managed, 1), -EINVAL);
    cr_assert_eq(pmm_give_frames(array, 1), -EINVAL);
    cr_assert_eq(pmm_give_frames(first + 15, 2), -EINVAL, "first + 16 is managed already");
    cr_assert(!pmm_is_managed(first + 15), "a refused gift gave part of its range");
    pmm_free(managed);
    pmm_get_stats(&s1);
    assert_pmm_stats_eq(&s0, &s1);
}

/* ---- Item 1: a reserved kind of region in the user half ---- */

#define TRAMPOLINE ((ptr_t)0x3f000000)

/* The kernel's trampoline and trap frame on frames kmm does not manage:
 * mapped supervisor-only without a reference, invisible to user mode and
 * to mm_get_user_page, never overlapped by a later vmap, a heap growing
 * into it refused, not copied by fork, left by munmap, refused by the
 * -errno layer; destroying the context frees what kmm took and leaves the
 * kernel's frames alone. */
Test(issue15, reserved_region_is_supervisor_only_never_overlapped_nor_copied)
{
    pfn_t frames = pmm_take_frame(); /* the embedder's own frame, not kmm's */
    cr_assert_neq(frames, PMM_NO_FRAME);
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    mm_lock_ctx_pair(ctx, NULL);
    vmap_t *r = mm_map_reserved_locked(ctx, TRAMPOLINE, frames, 1, VM_RW);
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(r), "%ld", PTR_ERR(r));
    cr_assert_eq(mm_get_phys_addr(ctx, TRAMPOLINE), (ptr_t)frames << PAGE_SHIFT);
    cr_assert_eq(pmm_refcount(frames), 0, "a reference was taken on a frame kmm does not manage");
    *(uint64_t *)pfn_va(frames) = 0x5a5a;
    uint64_t got = 0;
    cr_assert_eq(softmmu_read(ctx, TRAMPOLINE, &got, sizeof got, false), 0, "the kernel cannot read its page");
    cr_assert_eq(got, 0x5a5a);
    cr_assert_neq(softmmu_read(ctx, TRAMPOLINE, &got, sizeof got, true), 0, "user mode reads the kernel's page");
    pfn_t pin = 1;
    cr_assert_eq(mm_get_user_page(ctx, TRAMPOLINE, HAL_ACCESS_READ, &pin), -EFAULT);

    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(PTR_ERR(cow_allocate_zeroed_pages(ctx, 2, TRAMPOLINE - PAGE_SIZE, VALLOC_EXACT, VM_RW)), -EEXIST,
                 "a heap grew over the trap frame");
    vmap_t *any = mm_get_free_vaddr_locked(ctx, 1, TRAMPOLINE, VALLOC_DEFAULT);
    cr_assert(!IS_ERR(any));
    cr_assert_neq(any->vaddr, TRAMPOLINE, "the free-range search handed out the reserved page");
    vmap_destroy(any);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, TRAMPOLINE - PAGE_SIZE, 3), 0);
    cr_assert_eq(mm_do_unmap(ctx, TRAMPOLINE, 1), -EINVAL);
    cr_assert_eq(mm_do_flag(ctx, TRAMPOLINE, 1, VM_USER_RW), -EINVAL);
    cr_assert_eq(mm_protect_locked(ctx, TRAMPOLINE, 1, VM_RW), -ENOMEM);
    cr_assert(mm_get_is_mapped_locked(ctx, TRAMPOLINE), "munmap took the kernel's page away");
    mm_unlock_ctx_pair(ctx, NULL);

    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    mm_lock_ctx_pair(child, NULL);
    cr_assert(!mm_get_is_mapped_locked(child, TRAMPOLINE), "fork copied the kernel's page");
    cr_assert_eq(mm_vmap_count(child), 0);
    mm_unlock_ctx_pair(child, NULL);
    mm_lock_ctx_pair(ctx, child);
    cr_assert_eq(PTR_ERR(cow_clone_vmap_locked(child, r)), -EINVAL);
    mm_unlock_ctx_pair(ctx, child);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
    cr_assert_eq(*(uint64_t *)pfn_va(frames), 0x5a5a, "the kernel's frame was touched");
    cr_assert_eq(pmm_give_frames(frames, 1), 0);
}

/* Bad reserved regions are refused with nothing made. */
Test(issue15, reserved_region_bad_input_changes_nothing)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, TRAMPOLINE, VALLOC_EXACT, VM_RW)));
    size_t free1 = pmm_free_frames();
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE + PAGE_SIZE, 5, 1, VM_USER_RW)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE + PAGE_SIZE, 5, 1, VM_WRITE)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE + PAGE_SIZE, 5, 0, VM_RW)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, KBASE(), 5, 1, VM_RW)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE, 5, 1, VM_RW)), -EEXIST);
    pmm_fail_after(1);
    vmap_t *v = mm_map_reserved_locked(ctx, (ptr_t)0x7f000000, 5, 1, VM_RW);
    pmm_fail_after(0);
    cr_assert_eq(PTR_ERR(v), -ENOMEM);
    cr_assert_eq(mm_vmap_count(ctx), 1);
    cr_assert_eq(pmm_free_frames(), free1);
    mm_unlock_ctx_pair(ctx, NULL);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* ---- Item 3: memory added after start-up, outside mm_init's span ---- */

#define MIB ((uint64_t)1 << 20)

static void assert_region_stats(const pmm_stats_t *a, const pmm_stats_t *b)
{
    assert_pmm_stats_eq(a, b);
    cr_assert_eq(a->array_frames, b->array_frames, "record frames %zu / %zu", a->array_frames, b->array_frames);
    cr_assert_eq(a->added_regions, b->added_regions, "regions %zu / %zu", a->added_regions, b->added_regions);
}

static size_t spans(void)
{
    pfn_t b, e;
    size_t n = 0;
    while (pmm_span(n, &b, &e))
        n++;
    return n;
}

/* Every free frame, allocated and kept (so that what follows can only use
 * frames added afterwards); *n gets how many. */
static pfn_t *hog_all_frames(size_t *n)
{
    size_t cap = pmm_free_frames() + 1, got = 0;
    pfn_t *all = malloc(cap * sizeof *all);
    cr_assert_not_null(all);
    for (pfn_t p; (p = pmm_alloc()) != PMM_NO_FRAME; got++) {
        cr_assert_lt(got, cap, "more frames than free");
        all[got] = p;
    }
    *n = got;
    return all;
}

static void free_all(pfn_t *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pmm_free(all[i]);
    free(all);
}

/* A region right after the span (adjacent, so bounds are exact) becomes
 * managed at once: 1 MiB is 256 frames, 1 of them holds the records of all
 * 256, 255 are free, and the allocator hands out every one of them; the
 * record frame is never handed out nor given. */
Test(issue15, added_region_outside_the_span_is_managed_and_handed_out)
{
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    uint64_t base = kmm_host_spare_base();
    pfn_t lo = base >> KMM_PAGE_SHIFT;
    cr_assert_eq(lo, s0.end_pfn, "the spare RAM starts at the span's end");
    cr_assert(!pmm_is_managed(lo + 1));
    /* Adding allocates nothing: an injected failure armed for the next
     * allocation is still pending afterwards. */
    pmm_fail_after(1);
    cr_assert_eq(pmm_add_region(base, MIB), 0);
    cr_assert_eq(pmm_alloc(), PMM_NO_FRAME, "the add consumed the injected failure");
    pmm_get_stats(&s1);
    cr_assert_eq(s1.managed_frames, s0.managed_frames + 255);
    cr_assert_eq(s1.free_frames, s0.free_frames + 255);
    cr_assert_eq(s1.array_frames, s0.array_frames + 1);
    cr_assert_eq(s1.reserved_frames, s0.reserved_frames);
    cr_assert_eq(s1.added_regions, 1);
    cr_assert_eq(s1.base_pfn, s0.base_pfn);
    cr_assert_eq(s1.end_pfn, s0.end_pfn, "the span mm_init declared does not grow");
    pfn_t b, e;
    cr_assert(pmm_span(1, &b, &e));
    cr_assert_eq(b, lo);
    cr_assert_eq(e, lo + 256);
    cr_assert(!pmm_span(2, &b, &e));
    cr_assert(!pmm_is_managed(lo), "the record frame is managed");
    cr_assert(pmm_is_managed(lo + 1) && pmm_is_managed(lo + 255));
    cr_assert(!pmm_is_managed(lo + 256));
    cr_assert_eq(pmm_frame_record_paddr(lo + 3), base + 3 * 16, "records at the region's start, 16 bytes each");

    size_t n, seen = 0;
    pfn_t *all = hog_all_frames(&n);
    cr_assert_eq(n, s1.free_frames, "%zu of %zu free frames handed out", n, s1.free_frames);
    for (size_t i = 0; i < n; i++) {
        cr_assert(all[i] != lo, "the record frame was handed out");
        seen += all[i] > lo && all[i] < lo + 256;
    }
    cr_assert_eq(seen, 255, "%zu of the region's 255 frames handed out", seen);
    /* Refcounts work there as anywhere. */
    pfn_t last = lo + 255;
    cr_assert_eq(pmm_ref(last), 1);
    cr_assert_eq(pmm_refcount(last), 1);
    cr_assert_eq(pmm_give_frames(lo, 1), -EINVAL, "the record frame given");
    cr_assert_eq(pmm_give_frames(last, 1), -EINVAL, "a managed frame given");
    cr_assert_eq(pmm_unref(last), 0, "the last reference frees it");
    pmm_stats_t s2;
    pmm_get_stats(&s2);
    cr_assert_eq(s2.free_frames, 1);
    for (size_t i = 0; i < n; i++)
        if (all[i] != last)
            pmm_free(all[i]);
    free(all);
    pmm_get_stats(&s2);
    assert_region_stats(&s1, &s2);
}

/* With the initial span's frames all held, everything a process needs comes
 * from an added region: tables, objects, zero-filled and copied pages. Its
 * heap faults in there, fork shares it, a write copies it, the invariant
 * checker walks it, and every frame comes back to the region. A frame taken
 * out of the region is no longer managed, and given back it is again. */
Test(issue15, user_pages_fault_fork_and_copy_inside_an_added_region)
{
    size_t hogged;
    pfn_t *hog = hog_all_frames(&hogged);
    uint64_t base = kmm_host_spare_base() + 4 * MIB; /* a gap after the span */
    pfn_t lo = base >> KMM_PAGE_SHIFT, hi = lo + (2 * MIB >> KMM_PAGE_SHIFT);
    cr_assert_eq(pmm_add_region(base, 2 * MIB), 0);
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    cr_assert_eq(s0.free_frames, 510, "2 MiB: 512 frames, 2 of records");

    mm_context_t *ctx = new_ctx();
    cr_assert(ctx->pgd >= lo && ctx->pgd < hi, "root %#llx outside the region", (unsigned long long)ctx->pgd);
    cr_assert_eq(mm_context_root(ctx), ctx->pgd, "the root a trampoline would load");
    cr_assert(!IS_ERR(anon(ctx, VA, 4, VM_USER_RW, 0)));
    for (int i = 0; i < 4; i++)
        put64(ctx, VA + i * PAGE_SIZE, 0x100 + i);
    uint64_t pa = mm_get_phys_addr(ctx, VA + 3 * PAGE_SIZE);
    cr_assert(pa >= base && pa < base + 2 * MIB, "user page %#llx outside the region", (unsigned long long)pa);
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    cr_assert_eq(mm_get_phys_addr(child, VA), mm_get_phys_addr(ctx, VA));
    cr_assert_eq(pmm_refcount(mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT), 2);
    put64(child, VA, 0xc0c0);
    cr_assert_eq(get64(ctx, VA), 0x100, "the child's write reached the parent");
    cr_assert_eq(get64(child, VA), 0xc0c0);
    pfn_t copied = mm_get_phys_addr(child, VA) >> KMM_PAGE_SHIFT;
    cr_assert(copied >= lo && copied < hi && copied != mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT);
    check_invariants();
    ASSERT_TLB_CLEAN();

    /* take a frame out (it comes from the region: nothing else is free) and give it back */
    pfn_t t = pmm_take_frame();
    cr_assert(t > lo + 1 && t < hi, "taken %#llx", (unsigned long long)t);
    cr_assert(!pmm_is_managed(t));
    cr_assert_eq(pmm_give_frames(t, 1), 0);
    cr_assert(pmm_is_managed(t));

    mm_destroy_context(child);
    mm_destroy_context(ctx);
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    free_all(hog, hogged);
}

/* The invariant checker counts the holders of frames in added regions too:
 * an extra reference on a user page there is reported, and taken away the
 * report is clean again. */
Test(issue15, invariant_checker_covers_added_regions)
{
    size_t hogged;
    pfn_t *hog = hog_all_frames(&hogged);
    cr_assert_eq(pmm_add_region(kmm_host_spare_base() + 8 * MIB, MIB), 0);
    mm_context_t *ctx = new_ctx();
    /* read-only: an extra reference breaks nothing but the count */
    cr_assert(!IS_ERR(anon(ctx, VA, 1, VM_USER_RW, VALLOC_POPULATE)));
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_protect_locked(ctx, VA, 1, VM_USER_RO), 0);
    mm_unlock_ctx_pair(ctx, NULL);
    pfn_t p = mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT;
    cr_assert_neq(p, mm_zero_page());
    cr_assert_geq(p, (kmm_host_spare_base() + 8 * MIB) >> KMM_PAGE_SHIFT);
    check_invariants();
    pmm_ref(p);
    mm_check_report_t r;
    cr_assert_eq(mm_check_invariants(&r), -EINVAL, "a frame with a reference nobody holds went unseen");
    cr_assert_eq(r.violations, 1, "%zu violations, first: %s", r.violations, r.first);
    cr_assert(strstr(r.first, "refcount differs"), "first: %s", r.first);
    pmm_unref(p);
    check_invariants();
    mm_destroy_context(ctx);
    free_all(hog, hogged);
}

/* Bad regions are refused with a clear error and change nothing: unaligned,
 * empty, wrapping, too small for its records and a frame, overlapping the
 * span mm_init declared (inside it, across either end, around it) or a
 * region added before (the same, inside, across), and the ninth region. */
Test(issue15, bad_regions_are_refused_and_change_nothing)
{
    uint64_t spare = kmm_host_spare_base(), span0 = kmm_host_phys_base(), span1 = span0 + kmm_host_phys_size();
    cr_assert_eq(pmm_add_region(spare + 4 * MIB, MIB), 0);
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    size_t n0 = spans();
    uint64_t r0 = spare + 4 * MIB, r1 = r0 + MIB;
    cr_assert_eq(pmm_add_region(spare + 1, MIB), -EINVAL);
    cr_assert_eq(pmm_add_region(spare, MIB + 8), -EINVAL);
    cr_assert_eq(pmm_add_region(spare, 0), -EINVAL);
    cr_assert_eq(pmm_add_region(UINT64_MAX - PAGE_SIZE + 1, 2 * PAGE_SIZE), -EINVAL);
    cr_assert_eq(pmm_add_region(spare, PAGE_SIZE), -EINVAL, "one frame: all records, nothing to manage");
    cr_assert_eq(pmm_add_region(span0 + MIB, MIB), -EEXIST, "inside the span");
    cr_assert_eq(pmm_add_region(span0, PAGE_SIZE * 2), -EEXIST, "the span's reserved start");
    cr_assert_eq(pmm_add_region(span1 - MIB, 2 * MIB), -EEXIST, "across the span's end");
    if (span0 >= MIB)
        cr_assert_eq(pmm_add_region(span0 - MIB, 2 * MIB), -EEXIST, "across the span's start");
    cr_assert_eq(pmm_add_region(span0, span1 - span0 + MIB), -EEXIST, "over the whole span");
    cr_assert_eq(pmm_add_region(r0, MIB), -EEXIST, "the same region again");
    cr_assert_eq(pmm_add_region(r0 + 8 * PAGE_SIZE, 4 * PAGE_SIZE), -EEXIST, "inside a region");
    cr_assert_eq(pmm_add_region(r0 - 2 * PAGE_SIZE, 4 * PAGE_SIZE), -EEXIST, "across a region's start");
    cr_assert_eq(pmm_add_region(r1 - 2 * PAGE_SIZE, 4 * PAGE_SIZE), -EEXIST, "across a region's end");
    cr_assert_eq(pmm_add_region(r0 - MIB, 3 * MIB), -EEXIST, "around a region");
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    cr_assert_eq(spans(), n0);
    cr_assert(!pmm_is_managed((r0 >> KMM_PAGE_SHIFT) - 1));
    /* adjacent on both sides is no overlap; the table holds PMM_MAX_REGIONS */
    cr_assert_eq(pmm_add_region(r0 - 2 * PAGE_SIZE, 2 * PAGE_SIZE), 0, "right below a region");
    cr_assert_eq(pmm_add_region(r1, 2 * PAGE_SIZE), 0, "right above a region");
    for (size_t i = 3; i < PMM_MAX_REGIONS; i++)
        cr_assert_eq(pmm_add_region(r1 + i * MIB, 2 * PAGE_SIZE), 0, "region %zu", i);
    pmm_get_stats(&s0);
    cr_assert_eq(s0.added_regions, PMM_MAX_REGIONS);
    cr_assert_eq(pmm_add_region(r1 + 10 * MIB, 2 * PAGE_SIZE), -ENOMEM, "the table is full");
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    check_invariants();
}

/* ---- Several CPUs with roots loaded by the embedder ---- */

/* What CPU 0 unmapping a page of ctx sends to CPU 1, after CPU 1 said it
 * loads ctx's root itself (loaded), after it said it stopped (unloaded), or
 * never said anything: shootdowns sent and invalidations done on CPU 1.
 * CPU 1 never walks ctx here (a model-TLB fill would mark it by itself), so
 * only the calls decide. */
static size_t remote_invalidations_of_an_unmap(mm_context_t *ctx, ptr_t va, int cpu1_calls)
{
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, va, VALLOC_EXACT, VM_USER_RW)));
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert_eq(softmmu_write(ctx, va, "z", 1, true), 0, "CPU 0 faults the page in");
    cr_assert_eq(kmm_host_cpu_set(1), 0);
    if (cpu1_calls >= 1)
        mm_context_loaded(ctx);
    if (cpu1_calls >= 2)
        mm_context_unloaded(ctx);
    cr_assert_eq(kmm_host_cpu_set(0), 0);
    size_t s0 = pt_shootdowns_total(), r0 = host_remote_invalidations();
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, va, 1), 0);
    mm_unlock_ctx_pair(ctx, NULL);
    size_t remote = host_remote_invalidations() - r0;
    cr_assert_eq(pt_shootdowns_total() - s0, remote ? 1 : 0, "one shootdown per operation that needs one");
    return remote;
}

/* A trampoline kernel (tests/embed) loads roots itself: mm_context_loaded
 * puts the CPU in the context's set, so another CPU's unmap invalidates it;
 * mm_context_unloaded takes it out again; without either, no shootdown. */
Test(issue15, context_loaded_by_the_embedder_receives_shootdowns_until_unloaded)
{
    /* A broadcast invalidation reaches every CPU without a shootdown. */
    size_t expected = (G()->flags & HAL_GEOMETRY_BROADCAST_INVALIDATION) ? 0 : 1;
    mm_context_t *ctx = new_ctx();
    mm_switch_context(ctx); /* CPU 0 */
    cr_assert_eq(remote_invalidations_of_an_unmap(ctx, VA, 0), 0, "CPU 1 never ran ctx");
    cr_assert_eq(remote_invalidations_of_an_unmap(ctx, VA + 0x10000, 1), expected, "CPU 1 loaded ctx's root: it must be invalidated");
    cr_assert_eq(remote_invalidations_of_an_unmap(ctx, VA + 0x20000, 1), expected, "still loaded: still invalidated");
    cr_assert_eq(remote_invalidations_of_an_unmap(ctx, VA + 0x30000, 2), 0, "CPU 1 unloaded ctx: no shootdown");
    mm_switch_context(mm_kernel_context());
    mm_destroy_context(ctx);
}

/* ---- Edge cases an embedder may hit (adversarial review of issue 15) ---- */

/* A region whose frames the arch's entries cannot encode (at or beyond
 * 2^pa_bits) would hand out frames no mapping can take: it is refused with
 * -EINVAL before anything is touched (not even its records), whole or
 * straddling the limit; the last encodable frame is the limit's edge. */
Test(issue15, region_beyond_the_physical_address_width_is_refused)
{
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    uint64_t top = (uint64_t)(hal_max_pfn(G()) + 1) << KMM_PAGE_SHIFT; /* first address no entry encodes */
    cr_assert_eq(pmm_add_region(top, MIB), -EINVAL, "a region above the physical address width");
    cr_assert_eq(pmm_add_region(top - MIB, 2 * MIB), -EINVAL, "a region across the physical address width");
    cr_assert_eq(pmm_add_region(top - PAGE_SIZE, 2 * PAGE_SIZE), -EINVAL, "its last frame beyond the width");
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    cr_assert_eq(spans(), 1);
}

/* Giving frames is bounded by the span or region the first frame lies in:
 * a range from the span's last frame into a region added right after it, or
 * from a region into the next one adjacent to it, is refused whole, though
 * every frame of it exists. A frame taken out and given back twice: the
 * second gift is refused. */
Test(issue15, gifts_across_span_and_region_edges_are_refused_whole)
{
    pmm_stats_t s0, s1;
    uint64_t spare = kmm_host_spare_base();
    cr_assert_eq(pmm_add_region(spare, MIB), 0);
    cr_assert_eq(pmm_add_region(spare + MIB, MIB), 0);
    size_t hogged;
    pfn_t *hog = hog_all_frames(&hogged);
    pfn_t end0 = spare >> KMM_PAGE_SHIFT, end1 = end0 + 256;
    /* the span's last frame and the second region's first data frame, both held */
    for (size_t i = 0; i < hogged; i++)
        if (hog[i] == end0 - 1 || hog[i] == end1 - 1) {
            pmm_free(hog[i]);
            hog[i] = hog[--hogged];
            i--;
        }
    pfn_t a = pmm_take_frame(), b = pmm_take_frame();
    cr_assert(a != PMM_NO_FRAME && b != PMM_NO_FRAME);
    cr_assert((a == end0 - 1 && b == end1 - 1) || (a == end1 - 1 && b == end0 - 1), "took %#llx and %#llx",
              (unsigned long long)a, (unsigned long long)b);
    pmm_get_stats(&s0);
    cr_assert_eq(pmm_give_frames(end0 - 1, 2), -EINVAL, "from the span into the region after it");
    cr_assert_eq(pmm_give_frames(end1 - 1, 2), -EINVAL, "from a region into the next (its records)");
    cr_assert_eq(pmm_give_frames(end1 - 1, 3), -EINVAL);
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    cr_assert_eq(pmm_give_frames(end0 - 1, 1), 0);
    cr_assert_eq(pmm_give_frames(end0 - 1, 1), -EINVAL, "the same frame given twice");
    cr_assert_eq(pmm_give_frames(end1 - 1, 1), 0);
    pmm_get_stats(&s1);
    cr_assert_eq(s1.free_frames, 2);
    cr_assert_eq(s1.managed_frames, s0.managed_frames + 2);
    cr_assert_eq(s1.reserved_frames, s0.reserved_frames - 2);
    free_all(hog, hogged);
    check_invariants();
}

/* mm_get_user_page checks the access as user mode would: an instruction
 * fetch from a non-executable page, a read-and-write of a read-only page,
 * and a write to a read-only page shared by fork are refused, with no
 * reference and no frame taken, and nothing made writable. */
Test(issue15, get_user_page_refuses_what_user_mode_may_not_do_and_pins_nothing)
{
    mm_context_t *ctx = new_ctx();
    cr_assert(!IS_ERR(anon(ctx, VA, 1, VM_RW, 0)));
    cr_assert(!IS_ERR(anon(ctx, VA + PAGE_SIZE, 1, VM_READ, 0)));
    put64(ctx, VA, 0x77);
    cr_assert_eq(get64(ctx, VA + PAGE_SIZE), 0);
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_protect_locked(ctx, VA, 1, VM_USER_RO), 0);
    mm_unlock_ctx_pair(ctx, NULL);
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    pfn_t shared = mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT;
    cr_assert_eq(pmm_refcount(shared), 2);
    size_t free0 = pmm_free_frames();
    pfn_t p = 99;
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_EXEC, &p), -EFAULT, "fetch from a non-executable page");
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_READ | HAL_ACCESS_WRITE, &p), -EFAULT);
    cr_assert_eq(mm_get_user_page(child, VA, HAL_ACCESS_WRITE, &p), -EFAULT, "write to a read-only shared page");
    cr_assert_eq(mm_get_user_page(ctx, VA + PAGE_SIZE, HAL_ACCESS_WRITE, &p), -EFAULT, "write to the zero page");
    cr_assert_eq(mm_get_user_page(ctx, VA, 8, &p), -EINVAL, "an access kind that does not exist");
    cr_assert_eq(p, 99);
    cr_assert_eq(pmm_refcount(shared), 2);
    cr_assert_eq(pmm_free_frames(), free0);
    cr_assert_eq(mm_get_user_page(child, VA, HAL_ACCESS_READ, &p), 0);
    cr_assert_eq(p, shared);
    cr_assert_eq(pmm_refcount(shared), 3, "the pin");
    cr_assert_eq(pmm_release(p), 2);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
}

/* A fork reserve no memory can meet (SIZE_MAX) is refused like any other,
 * with nothing left behind. */
Test(issue15, clone_reserve_beyond_all_memory_is_refused_with_nothing_left)
{
    mm_context_t *parent = new_ctx();
    cr_assert(!IS_ERR(anon(parent, VA, 2, VM_RW, 0)));
    put64(parent, VA, 1);
    size_t free0 = pmm_free_frames();
    mm_stats_t s0, s1;
    mm_get_stats(&s0);
    mm_context_t *c = mm_clone_context_opts(parent, &(mm_clone_opts_t){ .reserve_frames = SIZE_MAX });
    cr_assert_eq(PTR_ERR(c), -ENOMEM);
    mm_get_stats(&s1);
    cr_assert_eq(pmm_free_frames(), free0);
    cr_assert_eq(s1.contexts, s0.contexts);
    cr_assert_eq(s1.vmaps, s0.vmaps);
    cr_assert_eq(s1.table_pages, s0.table_pages);
    cr_assert_eq(pmm_refcount(mm_get_phys_addr(parent, VA) >> KMM_PAGE_SHIFT), 1);
    mm_destroy_context(parent);
}

/* Destroying a context a CPU still has loaded (mm_context_loaded without
 * mm_context_unloaded) would free the root that CPU's MMU still walks: it
 * stops the machine, as destroying an active context does. */
Test(issue15, destroying_a_context_still_loaded_on_a_cpu_panics, .signal = SIGABRT)
{
    mm_context_t *ctx = new_ctx();
    cr_assert_eq(kmm_host_cpu_set(1), 0);
    mm_context_loaded(ctx);
    cr_assert_eq(kmm_host_cpu_set(0), 0);
    mm_destroy_context(ctx);
}

/* The same context loaded and unloaded again is destroyed normally. */
Test(issue15, a_context_unloaded_again_is_destroyed_normally)
{
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    cr_assert_eq(kmm_host_cpu_set(1), 0);
    mm_context_loaded(ctx);
    mm_context_unloaded(ctx);
    cr_assert_eq(kmm_host_cpu_set(0), 0);
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0);
}

/* mm_init refuses (-EINVAL) usable RAM reaching beyond the frames the
 * geometry's entries can encode, before it writes anything there. */
Test(issue15, mm_init_refuses_ram_beyond_the_physical_address_width)
{
    const hal_geometry_t *g = hal_geometry_find(kmm_host_geometry()->name);
    cr_assert_not_null(g);
    uint64_t top = (uint64_t)(hal_max_pfn(G()) + 1) << KMM_PAGE_SHIFT;
    mm_region_t across[] = { { .base = top - 4 * MIB, .size = 8 * MIB, .usable = true } };
    cr_assert_eq(mm_init(&(mm_boot_info_t){ .geometry = g, .regions = across, .nregions = 1 }), -EINVAL);
    mm_region_t above[] = { { .base = top, .size = 8 * MIB, .usable = true } };
    cr_assert_eq(mm_init(&(mm_boot_info_t){ .geometry = g, .regions = above, .nregions = 1 }), -EINVAL);
}

/* A user-half mapping made outside any vmap (mm_do_map) where a reserved
 * vmap is made later: the reserved vmap replaces it, and the reference the
 * old mapping held on its frame is dropped (the frame is freed, nothing
 * leaks), as vmap_clone_into does before a clone. */
Test(issue15, reserved_vmap_over_a_lingering_mapping_drops_its_reference)
{
    pfn_t mine = pmm_take_frame(); /* the embedder's frame */
    cr_assert_neq(mine, PMM_NO_FRAME);
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = new_ctx();
    pfn_t p = pmm_alloc();
    cr_assert_neq(p, PMM_NO_FRAME);
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_do_map(ctx, TRAMPOLINE, p, 1, VM_USER_RW), 0);
    cr_assert_eq(pmm_refcount(p), 1);
    vmap_t *r = mm_map_reserved_locked(ctx, TRAMPOLINE, mine, 1, VM_RW);
    cr_assert(!IS_ERR(r), "%ld", PTR_ERR(r));
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_get_phys_addr(ctx, TRAMPOLINE), (ptr_t)mine << PAGE_SHIFT);
    cr_assert(!pmm_is_allocated(p), "the replaced mapping's frame kept its reference");
    check_invariants();
    mm_destroy_context(ctx);
    cr_assert_eq(pmm_free_frames(), free0, "%zu frames leaked", free0 - pmm_free_frames());
    cr_assert_eq(pmm_give_frames(mine, 1), 0);
}

/* Shared anonymous memory populated at creation: when memory runs out at
 * any allocation the call fails with -ENOMEM and leaves no vmap, object,
 * frame or table behind; populated, every page holds its own frame. */
Test(issue15, populate_shared_out_of_memory_at_each_step_leaves_nothing)
{
    mm_context_t *ctx = new_ctx();
    size_t free0 = pmm_free_frames();
    mm_stats_t s0, s;
    mm_get_stats(&s0);
    size_t failures = 0;
    for (size_t nth = 1; nth < 64; nth++) {
        pmm_fail_after(nth);
        mm_lock_ctx_pair(ctx, NULL);
        vmap_t *v = mm_map_anonymous_locked(ctx, 8, VA, VALLOC_EXACT | VALLOC_POPULATE, VM_RW, VMAP_TYPE_SHARED);
        mm_unlock_ctx_pair(ctx, NULL);
        pmm_fail_after(0);
        if (!IS_ERR(v)) {
            mm_get_stats(&s);
            cr_assert_eq(s.user_pages - s0.user_pages, 8);
            mm_lock_ctx_pair(ctx, NULL);
            vmap_destroy(v);
            mm_unlock_ctx_pair(ctx, NULL);
            break;
        }
        failures++;
        cr_assert_eq(PTR_ERR(v), -ENOMEM, "nth %zu: %ld", nth, PTR_ERR(v));
        cr_assert_eq(mm_vmap_count(ctx), 0, "nth %zu", nth);
        cr_assert_eq(pmm_free_frames(), free0, "nth %zu: %zu frames leaked", nth, free0 - pmm_free_frames());
        mm_get_stats(&s);
        cr_assert_eq(s.object_pages, s0.object_pages, "nth %zu", nth);
        cr_assert_eq(s.table_pages, s0.table_pages, "nth %zu", nth);
    }
    cr_assert_geq(failures, 9, "%zu failures", failures);
    cr_assert_eq(pmm_free_frames(), free0);
    check_invariants();
    mm_destroy_context(ctx);
}

/* A read-only vmap populated at creation maps the shared zero page on every
 * page (cow.h): no frame is taken for it. */
Test(issue15, populate_of_read_only_memory_maps_the_zero_page)
{
    mm_context_t *ctx = new_ctx();
    size_t free0 = pmm_free_frames();
    mm_stats_t s0, s;
    mm_get_stats(&s0);
    cr_assert(!IS_ERR(anon(ctx, VA, 4, VM_READ, VALLOC_POPULATE)));
    mm_get_stats(&s);
    cr_assert_eq(s.user_pages, s0.user_pages);
    cr_assert_eq(pmm_free_frames(), free0 - (s.table_pages - s0.table_pages) - (s.object_pages - s0.object_pages));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mm_get_phys_addr(ctx, VA + i * PAGE_SIZE) >> KMM_PAGE_SHIFT, mm_zero_page());
    mm_destroy_context(ctx);
}

/* A CPU that loaded ctx's root itself stays in ctx's set until it says
 * mm_context_unloaded, also when it switches to ctx and away again through
 * mm_switch_context meanwhile (which used to take it out): another CPU's
 * unmap still invalidates it. */
Test(issue15, switching_away_keeps_a_cpu_that_loaded_the_context_in_its_set)
{
    size_t expected = (G()->flags & HAL_GEOMETRY_BROADCAST_INVALIDATION) ? 0 : 1;
    mm_context_t *ctx = new_ctx();
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(cow_allocate_zeroed_pages(ctx, 1, VA, VALLOC_EXACT, VM_USER_RW)));
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert_eq(softmmu_write(ctx, VA, "z", 1, true), 0);
    cr_assert_eq(kmm_host_cpu_set(1), 0);
    mm_context_loaded(ctx);
    mm_switch_context(ctx);
    mm_switch_context(mm_kernel_context());
    cr_assert_eq(kmm_host_cpu_set(0), 0);
    size_t r0 = host_remote_invalidations();
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert_eq(mm_unmap_user_pages_locked(ctx, VA, 1), 0);
    mm_unlock_ctx_pair(ctx, NULL);
    cr_assert_eq(host_remote_invalidations() - r0, expected, "CPU 1 still has ctx loaded: it must be invalidated");
    cr_assert_eq(kmm_host_cpu_set(1), 0);
    mm_context_unloaded(ctx);
    cr_assert_eq(kmm_host_cpu_set(0), 0);
    mm_destroy_context(ctx);
}

/* mm_context_loaded and mm_context_unloaded take user contexts only: the
 * kernel's context (or none) stops the machine, as does unloading the
 * context this CPU switched to with mm_switch_context (that switch keeps
 * the CPU in its set until it switches away). */
Test(issue15, loading_the_kernel_context_panics, .signal = SIGABRT)
{
    mm_context_loaded(mm_kernel_context());
}

Test(issue15, loading_no_context_panics, .signal = SIGABRT)
{
    mm_context_loaded(NULL);
}

Test(issue15, unloading_the_kernel_context_panics, .signal = SIGABRT)
{
    mm_context_unloaded(mm_kernel_context());
}

Test(issue15, unloading_the_active_context_panics, .signal = SIGABRT)
{
    mm_context_t *ctx = new_ctx();
    mm_switch_context(ctx);
    mm_context_unloaded(ctx);
}

/* A write through mm_get_user_page to shared anonymous memory after a fork
 * pins the frame both sides map (no copy, as a user store would find it);
 * the child reads what was written through it. */
Test(issue15, get_user_page_write_to_shared_memory_after_fork_pins_the_shared_frame)
{
    mm_context_t *ctx = new_ctx();
    mm_lock_ctx_pair(ctx, NULL);
    cr_assert(!IS_ERR(mm_map_anonymous_locked(ctx, 1, VA, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED)));
    mm_unlock_ctx_pair(ctx, NULL);
    put64(ctx, VA, 1);
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    pfn_t shared = mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT;
    uint32_t refs = pmm_refcount(shared);
    size_t free0 = pmm_free_frames();
    pfn_t p = 0;
    cr_assert_eq(mm_get_user_page(ctx, VA, HAL_ACCESS_WRITE, &p), 0);
    cr_assert_eq(p, shared, "a shared page was copied");
    cr_assert_eq(pmm_refcount(shared), refs + 1);
    cr_assert_eq(pmm_free_frames(), free0);
    *(uint64_t *)pfn_va(p) = 0xabcd;
    cr_assert_eq(get64(child, VA), 0xabcd);
    cr_assert_eq(pmm_release(p), refs);
    mm_destroy_context(child);
    mm_destroy_context(ctx);
}

/* A copy-on-write write through mm_get_user_page with memory running out at
 * each allocation it makes: -ENOMEM, nothing pinned, the shared frame's
 * count and the free frames as before; then it succeeds with a copy. */
Test(issue15, get_user_page_copy_on_write_out_of_memory_at_each_step_pins_nothing)
{
    mm_context_t *ctx = new_ctx();
    cr_assert(!IS_ERR(anon(ctx, VA, 1, VM_RW, 0)));
    put64(ctx, VA, 5);
    mm_context_t *child = mm_clone_context(ctx);
    cr_assert(!IS_ERR(child));
    pfn_t shared = mm_get_phys_addr(ctx, VA) >> KMM_PAGE_SHIFT;
    size_t free0 = pmm_free_frames(), failures = 0;
    pfn_t p = 3;
    for (size_t nth = 1; nth < 16; nth++) {
        pmm_fail_after(nth);
        int err = mm_get_user_page(child, VA, HAL_ACCESS_WRITE, &p);
        pmm_fail_after(0);
        if (!err)
            break;
        failures++;
        cr_assert_eq(err, -ENOMEM, "nth %zu: %d", nth, err);
        cr_assert_eq(p, 3);
        cr_assert_eq(pmm_refcount(shared), 2, "nth %zu", nth);
        cr_assert_eq(pmm_free_frames(), free0, "nth %zu", nth);
    }
    cr_assert_geq(failures, 1);
    cr_assert_neq(p, shared, "the write was not copied");
    cr_assert_eq(pmm_refcount(p), 2, "mapped and pinned");
    cr_assert_eq(pmm_refcount(shared), 1);
    cr_assert_eq(pmm_release(p), 1);
    cr_assert_eq(get64(ctx, VA), 5);
    check_invariants();
    mm_destroy_context(child);
    mm_destroy_context(ctx);
}

/* Every frame of an added region taken out one by one and given back in one
 * call (all but its record frame) is managed and free again, merged into
 * the region's blocks: the allocator's figures are those right after the
 * add, and the region's 255 frames are handed out again. */
Test(issue15, a_whole_region_taken_out_and_given_back_in_one_call_is_whole_again)
{
    size_t hogged;
    pfn_t *hog = hog_all_frames(&hogged);
    uint64_t base = kmm_host_spare_base() + 2 * MIB;
    pfn_t lo = base >> KMM_PAGE_SHIFT;
    cr_assert_eq(pmm_add_region(base, MIB), 0);
    pmm_stats_t s0, s1;
    pmm_get_stats(&s0);
    cr_assert_eq(s0.free_frames, 255);
    for (size_t i = 0; i < 255; i++) {
        pfn_t t = pmm_take_frame();
        cr_assert(t > lo && t < lo + 256, "took %#llx", (unsigned long long)t);
    }
    cr_assert_eq(pmm_take_frame(), PMM_NO_FRAME);
    pmm_get_stats(&s1);
    cr_assert_eq(s1.managed_frames, s0.managed_frames - 255);
    cr_assert_eq(s1.reserved_frames, s0.reserved_frames + 255);
    cr_assert_eq(pmm_give_frames(lo, 256), -EINVAL, "the record frame given with the rest");
    cr_assert_eq(pmm_give_frames(lo + 1, 256), -EINVAL, "one frame past the region");
    cr_assert_eq(pmm_give_frames(lo + 1, 255), 0);
    pmm_get_stats(&s1);
    assert_region_stats(&s0, &s1);
    size_t n;
    pfn_t *again = hog_all_frames(&n);
    cr_assert_eq(n, 255);
    free_all(again, n);
    free_all(hog, hogged);
    check_invariants();
}

/* A reserved vmap takes any frame the entries can encode, up to the last:
 * one past it, or a run crossing it, is refused with nothing made; so is a
 * range reaching past the user half's end. */
Test(issue15, reserved_region_frames_up_to_the_physical_address_width)
{
    mm_context_t *ctx = new_ctx();
    pfn_t max = hal_max_pfn(G());
    ptr_t top = hal_user_end(G()) - PAGE_SIZE;
    mm_lock_ctx_pair(ctx, NULL);
    size_t free0 = pmm_free_frames();
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE, max + 1, 1, VM_RW)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, TRAMPOLINE, max, 2, VM_RW)), -EINVAL);
    cr_assert_eq(PTR_ERR(mm_map_reserved_locked(ctx, top, 5, 2, VM_RW)), -EINVAL, "past the user half");
    cr_assert_eq(mm_vmap_count(ctx), 0);
    cr_assert_eq(pmm_free_frames(), free0);
    vmap_t *v = mm_map_reserved_locked(ctx, top, max, 1, VM_RW);
    cr_assert(!IS_ERR(v), "%ld", PTR_ERR(v));
    uint64_t pa = 0;
    vm_flags f = VM_NONE;
    cr_assert_eq(mm_do_translate(ctx, top, &pa, &f), 0);
    cr_assert_eq(pa, (uint64_t)max << KMM_PAGE_SHIFT);
    cr_assert_eq(f & (VM_USER | VM_WRITE), VM_WRITE);
    vmap_destroy(v);
    mm_unlock_ctx_pair(ctx, NULL);
    mm_destroy_context(ctx);
}
