/* Issue 11, items 2 and 6, in every geometry.
 *
 * Item 2: a kernel-half map that puts a huge leaf where a split left a table
 * installs the leaf first and frees the old subtree after the invalidation,
 * never emptying it in place: until that invalidation a CPU may still walk
 * the old tables, and the kernel reads its tables and the frame array
 * through the very direct map it remaps. The software MMU's cached-walk
 * check makes the emptied tables visible on the host.
 *
 * Item 6: a kernel-mode fault inside a copy helper (user access open) on a
 * user page whose entry already allows the access is spurious (RISC-V may
 * cache not-present entries, and a fresh mapping makes no TLB call): the page
 * is invalidated and the access retried. Outside the helpers it stays
 * refused. The software MMU caches not-present lookups on request. */
#include "fixture.h"
#include "mm/cow.h"
#include "mm/pagetable.h"

TestSuite(issue11_walker, .init = fixture_setup);

static void lock(mm_context_t *c) { spinlock_acquire(&c->mm_lock); }
static void unlock(mm_context_t *c) { spinlock_release(&c->mm_lock); }

/* ---- item 2 ---- */

#define GIB ((ptr_t)1 << 30)
#define DMAP_FLAGS (VM_RW | VM_GLOBAL)

/* A direct map of the simulated RAM in the kernel half: one GiB at a GiB
 * aligned address (RAM starts GiB aligned on both arches and is smaller),
 * mapped as kmain maps RAM. */
static ptr_t dmap_base(void) { return KBASE(); }
static pfn_t dmap_pfn(void) { return (pfn_t)(kmm_host_phys_base() >> PAGE_SHIFT); }
static ptr_t dmap_va(uint64_t pa) { return dmap_base() + (ptr_t)(pa - kmm_host_phys_base()); }

static void map_kernel(ptr_t va, pfn_t pfn, size_t npages)
{
    int err = mm_do_map_kernel(mm_kernel_context(), va, pfn, npages, DMAP_FLAGS);
    cr_assert_eq(err, 0, "map %zu kernel pages at %#lx: %d", npages, (unsigned long)va, err);
}

/* The level of the leaf mapping va in the kernel tables, and its entry. */
static unsigned kernel_leaf(ptr_t va, pte_t *e)
{
    unsigned level = 0;
    mm_context_t *k = mm_kernel_context();
    lock(k);
    int err = pt_lookup(k, va, e, &level);
    unlock(k);
    cr_assert_eq(err, 0, "nothing maps %#lx", (unsigned long)va);
    return level;
}

/* The level of the largest leaf a whole GiB of the kernel half gets: 3, or
 * 2 where the GiB is a root entry (Sv39), which stays a shared table. */
static unsigned gib_leaf_level(void) { return G()->levels == 3 ? 2 : 3; }

/* Reads one byte of va in kernel mode through the model TLB: fills it. */
static void touch_kernel(ptr_t va)
{
    uint64_t pa;
    cr_assert_eq(softmmu_access(mm_kernel_context(), va, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK, "%#lx",
                 (unsigned long)va);
    cr_assert_eq(dmap_va(pa), va);
}

Test(issue11_walker, kernel_remap_over_split_leaf_never_empties_the_old_tables_before_the_invalidation)
{
    mm_context_t *k = mm_kernel_context();
    const ptr_t base = dmap_base();
    const unsigned top = gib_leaf_level();
    map_kernel(base, dmap_pfn(), GIB >> PAGE_SHIFT);
    pte_t e;
    cr_assert_eq(kernel_leaf(base, &e), top);
    baseline_t b0 = take_baseline();

    /* Unmap a page in the middle of a 2 MiB block and map it back: the leaf
     * splits down to 4 KiB. The block holds the split's own level-1 table
     * and that table's record in the frame array (both in RAM, all of
     * which this GiB maps). */
    pfn_t x1 = pmm_alloc(), x2 = pmm_alloc();
    pmm_free(x2); /* the split's tables are the frames handed out next */
    pmm_free(x1);
    pfn_t l1 = top == 3 ? x2 : x1; /* a 1 GiB split makes the level-2 table first */
    uint64_t rec = pmm_frame_record_paddr(l1);
    ptr_t block = ALIGN_DOWN(dmap_va(rec), (ptr_t)2 << 20);
    ptr_t page = block + ((ptr_t)1 << 20);
    lock(k);
    cr_assert_eq(mm_do_unmap(k, page, 1), 0);
    unlock(k);
    map_kernel(page, (pfn_t)((page - base) >> PAGE_SHIFT) + dmap_pfn(), 1);
    cr_assert_eq(kernel_leaf(page, &e), 1, "the leaf did not split down to 4 KiB");
    size_t split_tables = take_baseline().table_pages - b0.table_pages;
    cr_assert_eq(split_tables, top - 1, "tables made by the split");
    pfn_t table = k->pgd; /* down to the block's level-1 table */
    for (unsigned level = G()->levels; level > 1; level--)
        table = hal_pte_pfn(level, ((const pte_t *)pfn_va(table))[hal_level_index(G(), level, page)]);
    cr_assert_eq(table, l1, "the split's level-1 table is %#llx, not the predicted %#llx", (unsigned long long)table,
                 (unsigned long long)l1);
    ptr_t l1_va = dmap_va((uint64_t)l1 << PAGE_SHIFT);
    cr_assert(l1_va >= base && l1_va < base + GIB && block >= base && block < base + GIB,
              "the table and its record lie inside the remapped GiB");

    /* Cache translations that came from the old tables: the split block
     * (the level-1 table), its record, and another block (the level-2 table
     * of a 1 GiB split). */
    const ptr_t probes[] = { page - PAGE_SIZE, dmap_va(ALIGN_DOWN(rec, PAGE_SIZE)),
                             l1_va, block ^ ((ptr_t)4 << 20) };
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
        touch_kernel(probes[i]);

    softmmu_set_check_cached_walks(true);
    host_tlb_log_clear();
    map_kernel(base, dmap_pfn(), GIB >> PAGE_SHIFT);
    softmmu_set_check_cached_walks(false);

    ptr_t first = 0;
    size_t bad = softmmu_cached_walk_violations(&first);
    cr_assert_eq(bad, 0, "%zu cached walks through the old tables found neither the old nor the new translation, "
                         "or a freed table (first at %#lx): the old subtree was emptied or freed before the "
                         "invalidation", bad, (unsigned long)first);
    /* Under break-before-make (aarch64) the break of the GiB's entry is
     * invalidated before the leaf is stored: one more. */
    const size_t events = hal_break_before_make(G()) ? 2 : 1;
    cr_assert_eq(host_tlb_event_count(), events, "one invalidation for the remap (and one for its break)");
    for (size_t i = 0; i < events; i++)
        cr_assert_eq(host_tlb_event(i)->kind, HOST_TLB_ALL, "tables were unlinked: everything is invalidated");
    cr_assert_eq(kernel_leaf(page, &e), top, "the GiB is not one leaf again");
    cr_assert_eq(hal_pte_pfn(top, e), dmap_pfn() + (pfn_t)((ALIGN_DOWN(page, hal_level_span(top)) - base) >> PAGE_SHIFT));
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.table_pages, b0.table_pages, "the old subtree's tables were not freed");
    cr_assert_eq(b1.free_frames, b0.free_frames);
    cr_assert_not(pmm_is_allocated(l1), "the level-1 table %#llx is still allocated", (unsigned long long)l1);
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
        touch_kernel(probes[i]);
    ASSERT_TLB_CLEAN();
}

Test(issue11_walker, kernel_remap_to_other_frames_over_split_leaf_frees_tables_after_the_invalidation)
{
    /* The same in a window that is not the direct map: new frames replace
     * the old ones, and a cached walk may give either, never a hole. */
    mm_context_t *k = mm_kernel_context();
    const ptr_t w = dmap_base() + 4 * GIB;
    const unsigned top = gib_leaf_level();
    const pfn_t old_pfn = 0, new_pfn = (pfn_t)(GIB >> PAGE_SHIFT);
    map_kernel(w, old_pfn, GIB >> PAGE_SHIFT);
    baseline_t b0 = take_baseline();
    lock(k);
    cr_assert_eq(mm_do_unmap(k, w + 5 * ((ptr_t)2 << 20) + 3 * PAGE_SIZE, 1), 0);
    unlock(k);
    cr_assert_eq(take_baseline().table_pages - b0.table_pages, top - 1);
    uint64_t pa;
    cr_assert_eq(softmmu_access(k, w + 5 * ((ptr_t)2 << 20), HAL_ACCESS_READ, false, &pa), SOFTMMU_OK);
    cr_assert_eq(softmmu_access(k, w + 9 * ((ptr_t)2 << 20), HAL_ACCESS_READ, false, &pa), SOFTMMU_OK);
    softmmu_set_check_cached_walks(true);
    host_tlb_log_clear();
    map_kernel(w, new_pfn, GIB >> PAGE_SHIFT);
    softmmu_set_check_cached_walks(false);
    cr_assert_eq(softmmu_cached_walk_violations(NULL), 0, "a cached walk found a hole or a freed table");
    const size_t events = hal_break_before_make(G()) ? 2 : 1; /* the break's own, under break-before-make */
    cr_assert_eq(host_tlb_event_count(), events);
    for (size_t i = 0; i < events; i++)
        cr_assert_eq(host_tlb_event(i)->kind, HOST_TLB_ALL);
    cr_assert_eq(softmmu_access(k, w + 5 * ((ptr_t)2 << 20) + 3 * PAGE_SIZE, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK);
    cr_assert_eq(pa, ((uint64_t)new_pfn << PAGE_SHIFT) + 5 * ((uint64_t)2 << 20) + 3 * PAGE_SIZE);
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.table_pages, b0.table_pages);
    cr_assert_eq(b1.free_frames, b0.free_frames);
    ASSERT_TLB_CLEAN();
}

Test(issue11_walker, cached_walk_check_reports_a_table_emptied_before_the_invalidation)
{
    /* The check itself can fail: move a level-1 table's entries to a copy,
     * link the copy, empty the original (what the old walker did to the
     * subtree it dropped), then invalidate. */
    mm_context_t *k = mm_kernel_context();
    const ptr_t w = dmap_base() + 8 * GIB;
    map_kernel(w, 0, 8); /* a level-1 table, no 2 MiB leaf */
    cr_assert_eq(softmmu_access(k, w + 7 * PAGE_SIZE, HAL_ACCESS_READ, false, NULL), SOFTMMU_OK);
    pte_t *slot = NULL;
    pfn_t table = k->pgd;
    for (unsigned level = G()->levels; level > 1; level--) {
        slot = &((pte_t *)pfn_va(table))[hal_level_index(G(), level, w)];
        table = hal_pte_pfn(level, *slot);
    }
    pfn_t copy = pt_alloc_table(k, false);
    cr_assert_neq(copy, PMM_NO_FRAME);
    memcpy(pfn_va(copy), pfn_va(table), PAGE_SIZE);
    *slot = hal_pte_make_table(copy, false);
    memset(pfn_va(table), 0, PAGE_SIZE);
    softmmu_set_check_cached_walks(true);
    hal_tlb_invalidate_all(k->pgd);
    softmmu_set_check_cached_walks(false);
    ptr_t first = 0;
    cr_assert_eq(softmmu_cached_walk_violations(&first), 1);
    cr_assert_eq(first, w + 7 * PAGE_SIZE);
    pt_free_table(k, table, false, NULL);
}

/* ---- item 6 ---- */

#define VA ((ptr_t)0x10000000)

static vmap_t *zero_fill(mm_context_t *ctx, size_t npages, vm_flags flags)
{
    lock(ctx);
    vmap_t *v = cow_allocate_zeroed_pages(ctx, npages, VA, VALLOC_EXACT, flags);
    unlock(ctx);
    cr_assert(!IS_ERR(v), "zero-fill vmap: %ld", PTR_ERR(v));
    return v;
}

static size_t range_events_for(ptr_t va)
{
    size_t n = 0;
    for (size_t i = 0; i < host_tlb_event_count(); i++) {
        const host_tlb_event_t *e = host_tlb_event(i);
        n += e->kind == HOST_TLB_RANGE && e->start <= va && va < e->end;
    }
    return n;
}

Test(issue11_walker, cached_not_present_entry_hides_a_fresh_mapping_until_invalidated)
{
    mm_context_t *ctx = new_ctx();
    pfn_t f = alloc_run(1);
    softmmu_set_cache_not_present(true);
    cr_assert_eq(softmmu_access(ctx, VA, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, VA, f, 1, VM_USER_RW), 0);
    unlock(ctx);
    cr_assert_eq(softmmu_walk(ctx, VA, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK, "the tables map it");
    cr_assert_eq(softmmu_access(ctx, VA, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT,
                 "the cached not-present entry outlives the fresh mapping");
    ASSERT_TLB_CLEAN(); /* allowed by the architecture: not a missed invalidation */
    hal_tlb_invalidate(ctx->pgd, VA, VA + PAGE_SIZE);
    cr_assert_eq(softmmu_access(ctx, VA, HAL_ACCESS_READ, true, NULL), SOFTMMU_OK);
    softmmu_set_cache_not_present(false);
    mm_destroy_context(ctx);
}

Test(issue11_walker, copy_helper_write_after_zero_fill_fault_retries_a_cached_not_present_entry)
{
    mm_context_t *ctx = new_ctx();
    zero_fill(ctx, 2, VM_RW);
    softmmu_set_cache_not_present(true);
    softmmu_set_user_access(true); /* inside copy_to_user */
    host_tlb_log_clear();
    size_t faults = softmmu_fault_count();
    uint64_t v = 0x1122334455667788ull, back = 0;
    int err = softmmu_write(ctx, VA + 8, &v, sizeof v, false);
    softmmu_set_user_access(false);
    cr_assert_eq(err, 0, "copy_to_user after a zero-fill fault: %d", err);
    cr_assert_eq(softmmu_fault_count(), faults + 2, "the zero-fill fault, then the spurious one");
    cr_assert_eq(range_events_for(VA), 1, "the spurious fault invalidates its page, once");
    cr_assert_eq(softmmu_read(ctx, VA + 8, &back, sizeof back, true), 0);
    cr_assert_eq(back, v);
    softmmu_set_cache_not_present(false);
    mm_destroy_context(ctx);
}

Test(issue11_walker, copy_helper_read_then_write_of_a_fresh_page_with_cached_not_present_entries)
{
    /* Read: the zero page mapped read-only, then the spurious fault; write:
     * copy-on-write of the zero page (present: invalidated by the replace). */
    mm_context_t *ctx = new_ctx();
    zero_fill(ctx, 2, VM_RW);
    softmmu_set_cache_not_present(true);
    softmmu_set_user_access(true);
    cow_stats_t s0, s1;
    cow_get_stats(&s0);
    size_t faults = softmmu_fault_count();
    uint64_t v = 7, back = 1;
    cr_assert_eq(softmmu_read(ctx, VA + PAGE_SIZE, &back, sizeof back, false), 0, "copy_from_user of a fresh page");
    cr_assert_eq(back, 0);
    cr_assert_eq(softmmu_fault_count(), faults + 2);
    cr_assert_eq(softmmu_write(ctx, VA + PAGE_SIZE, &v, sizeof v, false), 0, "copy_to_user over the zero page");
    cr_assert_eq(softmmu_fault_count(), faults + 3);
    softmmu_set_user_access(false);
    cow_get_stats(&s1);
    cr_assert_eq(s1.zero_maps - s0.zero_maps, 1);
    cr_assert_eq(s1.zero_fills - s0.zero_fills, 1);
    cr_assert_eq(softmmu_read(ctx, VA + PAGE_SIZE, &back, sizeof back, true), 0);
    cr_assert_eq(back, 7);
    softmmu_set_cache_not_present(false);
    mm_destroy_context(ctx);
}

Test(issue11_walker, kernel_access_to_a_user_page_outside_the_copy_helpers_stays_refused)
{
    mm_context_t *ctx = new_ctx();
    zero_fill(ctx, 1, VM_RW | VM_EXEC);
    uint64_t v = 99;
    cr_assert_eq(softmmu_write(ctx, VA, &v, sizeof v, true), 0, "user write");
    softmmu_set_cache_not_present(true);
    host_tlb_log_clear();
    size_t faults = softmmu_fault_count();
    cr_assert_eq(softmmu_read(ctx, VA, &v, sizeof v, false), -EFAULT, "SMAP / SUM: user access closed");
    cr_assert_eq(softmmu_fault_count(), faults + 1);
    cr_assert_eq(host_tlb_event_count(), 0, "a refused access is not taken for a spurious fault");

    /* The record says so: the same fault with user access open is spurious,
     * a fetch never is. */
    hal_fault_t f = { .addr = VA, .access = HAL_ACCESS_READ, .user_mode = false, .present = 0, .user_access = false };
    cr_assert_eq(mm_handle_fault(ctx, &f), -EFAULT);
    f.user_access = true;
    cr_assert_eq(mm_handle_fault(ctx, &f), 0);
    cr_assert_eq(range_events_for(VA), 1);
    f.access = HAL_ACCESS_EXEC;
    cr_assert_eq(mm_handle_fault(ctx, &f), -EFAULT, "a kernel fetch from a user page");
    softmmu_set_cache_not_present(false);
    mm_destroy_context(ctx);
}
