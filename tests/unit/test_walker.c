/* The page-table walker: ranges across level boundaries, unaligned and
 * sparse ranges, huge leaves split by partial operations, tables freed,
 * TLB invalidations recorded where (and only where) they are needed. */
#include "fixture.h"
#include "mm/pagetable.h"

TestSuite(walker, .init = fixture_setup);

static void lock(mm_context_t *c) { spinlock_acquire(&c->mm_lock); }
static void unlock(mm_context_t *c) { spinlock_release(&c->mm_lock); }

/* Maps npages user pages at va to fresh frames; checks each translates. */
static pfn_t map_run(mm_context_t *ctx, ptr_t va, size_t npages)
{
    pfn_t f = alloc_run(npages);
    lock(ctx);
    int err = mm_do_map(ctx, va, f, npages, VM_USER_RW);
    unlock(ctx);
    cr_assert_eq(err, 0, "map %zu pages at %#lx: %d", npages, (unsigned long)va, err);
    for (size_t i = 0; i < npages; i++) {
        uint64_t pa;
        cr_assert_eq(softmmu_walk(ctx, va + i * PAGE_SIZE, HAL_ACCESS_WRITE, true, &pa), SOFTMMU_OK);
        cr_assert_eq(pa >> PAGE_SHIFT, f + i);
    }
    return f;
}

static void unmap(mm_context_t *ctx, ptr_t va, size_t npages)
{
    lock(ctx);
    cr_assert_eq(mm_do_unmap(ctx, va, npages), 0);
    unlock(ctx);
}

/* Map a range straddling a boundary of `span` bytes, check, unmap, check
 * that frames and tables are back. */
static void straddle(ptr_t boundary, size_t before_pages, size_t after_pages)
{
    mm_context_t *ctx = new_ctx();
    baseline_t b0 = take_baseline();
    ptr_t va = boundary - before_pages * PAGE_SIZE;
    size_t n = before_pages + after_pages;
    map_run(ctx, va, n);
    cr_assert_eq(softmmu_walk(ctx, va - PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT);
    cr_assert_eq(softmmu_walk(ctx, va + n * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT);
    unmap(ctx, va, n);
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.table_pages, b0.table_pages, "tables left after unmap across %#lx", (unsigned long)boundary);
    cr_assert_eq(b1.free_frames, b0.free_frames);
    mm_destroy_context(ctx);
}

Test(walker, range_straddling_2mib_boundary)
{
    straddle(0x40200000, 3, 5);
}

Test(walker, range_straddling_1gib_boundary)
{
    straddle(0x80000000, 700, 300); /* over a level-2 table boundary too */
}

Test(walker, range_straddling_512gib_boundary)
{
    if (G()->levels < 4) /* Sv39's user half is 256 GiB: use the last 512 GiB-aligned edge it has */
        straddle((ptr_t)1 << 37, 2, 2);
    else
        straddle((ptr_t)1 << 39, 2, 2);
}

Test(walker, unaligned_start_steps_to_each_boundary_without_overshoot)
{
    mm_context_t *ctx = new_ctx();
    /* start 3 pages before a 2 MiB line, 1024 pages: crosses two tables' ends */
    ptr_t va = 0x40200000 - 3 * PAGE_SIZE;
    pfn_t f = map_run(ctx, va, 1024);
    /* the entry just after the range in the last table is untouched */
    cr_assert_eq(softmmu_walk(ctx, va + 1024 * PAGE_SIZE, HAL_ACCESS_READ, true, NULL), SOFTMMU_NOT_PRESENT);
    /* unmap an unaligned middle part */
    unmap(ctx, va + 10 * PAGE_SIZE, 600);
    for (size_t i = 0; i < 1024; i++) {
        softmmu_result_t r = softmmu_walk(ctx, va + i * PAGE_SIZE, HAL_ACCESS_READ, true, NULL);
        bool gone = i >= 10 && i < 610;
        cr_assert_eq(r, gone ? SOFTMMU_NOT_PRESENT : SOFTMMU_OK, "page %zu", i);
        cr_assert_eq(pmm_is_allocated(f + i), !gone, "frame of page %zu", i);
    }
    mm_destroy_context(ctx);
}

Test(walker, sparse_unmap_touches_only_present_pages_and_frees_empty_tables)
{
    mm_context_t *ctx = new_ctx();
    baseline_t b0 = take_baseline();
    ptr_t spots[] = { 0x10000, 0x40000000, 0x40001000, 0x7fe00000, 0x100000000ull };
    size_t n = ARRAY_SIZE(spots) - (G()->levels < 4 ? 0 : 0);
    for (size_t i = 0; i < n; i++)
        map_run(ctx, spots[i], 1);
    size_t tables_mapped = take_baseline().table_pages - b0.table_pages;
    cr_assert_gt(tables_mapped, 3);
    host_tlb_log_clear();
    unmap(ctx, 0, 0x200000000ull >> PAGE_SHIFT);
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.table_pages, b0.table_pages);
    cr_assert_eq(b1.free_frames, b0.free_frames);
    cr_assert_eq(host_tlb_event_count(), 1, "one invalidation for the whole operation");
    cr_assert_eq(host_tlb_event(0)->kind, HOST_TLB_ALL, "tables were freed: everything is invalidated");
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

Test(walker, read_only_operations_never_create_tables)
{
    mm_context_t *ctx = new_ctx();
    size_t t0 = take_baseline().table_pages;
    lock(ctx);
    cr_assert(!mm_get_is_mapped_locked(ctx, 0x12345000));
    cr_assert_eq(mm_do_translate(ctx, 0x7777000, NULL, NULL), -ENOENT);
    cr_assert_eq(mm_do_unmap(ctx, 0x40000000, 5000), 0);
    cr_assert_eq(mm_do_flag(ctx, 0x40000000, 5000, VM_USER_RO), 0);
    unlock(ctx);
    cr_assert_eq(take_baseline().table_pages, t0);
    mm_destroy_context(ctx);
}

Test(walker, fresh_map_records_no_invalidation_replace_and_unmap_do)
{
    mm_context_t *ctx = new_ctx();
    host_tlb_log_clear();
    pfn_t f = map_run(ctx, USER_VA, 16);
    cr_assert_eq(host_tlb_event_count(), 0, "fresh mappings need no invalidation");
    uint8_t x;
    for (int i = 0; i < 16; i++)
        softmmu_read(ctx, USER_VA + i * PAGE_SIZE, &x, 1, true);
    lock(ctx);
    cr_assert_eq(mm_do_map(ctx, USER_VA + 4 * PAGE_SIZE, f, 2, VM_USER_RO), 0); /* replaces two */
    unlock(ctx);
    cr_assert_eq(host_tlb_event_count(), 1);
    cr_assert_eq(host_tlb_event(0)->start, USER_VA + 4 * PAGE_SIZE);
    cr_assert_eq(host_tlb_event(0)->end, USER_VA + 6 * PAGE_SIZE);
    ASSERT_TLB_CLEAN();
    cr_assert_eq(pmm_refcount(f), 2);
    cr_assert(!pmm_is_allocated(f + 4), "replaced frame kept");
    unmap(ctx, USER_VA + 8 * PAGE_SIZE, 2);
    cr_assert_eq(host_tlb_event_count(), 2);
    cr_assert_eq(host_tlb_event(1)->kind, HOST_TLB_RANGE, "table still in use: a range invalidation");
    cr_assert_eq(host_tlb_event(1)->start, USER_VA + 8 * PAGE_SIZE);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

/* Kernel-half huge leaves. */
static void map_kernel(ptr_t va, pfn_t pfn, size_t n, vm_flags f)
{
    cr_assert_eq(mm_do_map_kernel(mm_kernel_context(), va, pfn, n, f), 0);
}

static unsigned leaf_level(ptr_t va)
{
    pte_t e;
    unsigned level = 0;
    mm_context_t *k = mm_kernel_context();
    lock(k);
    int err = pt_lookup(k, va, &e, &level);
    unlock(k);
    return err ? 0 : level;
}

/* The level of the leaves a 1 GiB-aligned kernel map gets: 1 GiB ones,
 * except where level 3 is the root (Sv39): the root's kernel-half entries
 * are the tables every context shares, never leaves, so 2 MiB ones there. */
static unsigned gib_leaf_level(void) { return G()->levels > 3 ? 3 : 2; }

Test(walker, kernel_map_uses_the_largest_aligned_leaves)
{
    ptr_t va = KBASE() + (1ull << 30) - 2 * PAGE_SIZE; /* 2 pages, then 1 GiB + 2 MiB, then 2 pages */
    pfn_t pfn = ((pfn_t)8 << 30 >> PAGE_SHIFT) - 2;
    size_t n = 2 + (((1ull << 30) + (2u << 20)) >> PAGE_SHIFT) + 2;
    map_kernel(va, pfn, n, VM_RW | VM_GLOBAL);
    cr_assert_eq(leaf_level(va), 1);
    cr_assert_eq(leaf_level(va + 2 * PAGE_SIZE), gib_leaf_level(), "1 GiB leaf expected (2 MiB on Sv39)");
    cr_assert_eq(leaf_level(va + 2 * PAGE_SIZE + (1ull << 30)), 2, "2 MiB leaf expected");
    cr_assert_eq(leaf_level(va + (n - 1) * PAGE_SIZE), 1);
    for (size_t i = 0; i < n; i += 4099) {
        uint64_t pa;
        cr_assert_eq(softmmu_walk(mm_kernel_context(), va + i * PAGE_SIZE + 9, HAL_ACCESS_WRITE, false, &pa), SOFTMMU_OK);
        cr_assert_eq(pa, ((pfn + i) << PAGE_SHIFT) + 9);
    }
}

Test(walker, partial_unmap_inside_a_huge_leaf_splits_it)
{
    ptr_t va = KBASE() + (4ull << 30);
    pfn_t pfn = (pfn_t)(16ull << 30) >> PAGE_SHIFT;
    map_kernel(va, pfn, (1ull << 30) >> PAGE_SHIFT, VM_RW);
    cr_assert_eq(leaf_level(va), gib_leaf_level());
    mm_context_t *k = mm_kernel_context();
    uint8_t x;
    (void)x;
    softmmu_access(k, va + 0x201000, HAL_ACCESS_READ, false, NULL); /* cache part of the leaf */
    size_t t0 = take_baseline().table_pages;
    lock(k);
    cr_assert_eq(mm_do_unmap(k, va + 0x201000, 3), 0);
    unlock(k);
    cr_assert_eq(take_baseline().table_pages, t0 + gib_leaf_level() - 1,
                 "1 GiB leaf -> table of 2 MiB leaves -> table of 4 KiB leaves (Sv39: from a 2 MiB leaf)");
    ASSERT_TLB_CLEAN();
    for (ptr_t off = 0x1ff000; off < 0x206000; off += PAGE_SIZE) {
        uint64_t pa;
        softmmu_result_t r = softmmu_walk(k, va + off, HAL_ACCESS_READ, false, &pa);
        bool gone = off >= 0x201000 && off < 0x204000;
        cr_assert_eq(r, gone ? SOFTMMU_NOT_PRESENT : SOFTMMU_OK, "offset %#lx", (unsigned long)off);
        if (!gone)
            cr_assert_eq(pa, (pfn << PAGE_SHIFT) + off);
    }
    cr_assert_eq(leaf_level(va), 2, "the untouched part stays in 2 MiB leaves");
    cr_assert_eq(leaf_level(va + (512ull << 20)), 2);
}

Test(walker, partial_flag_change_inside_a_2mib_leaf_splits_it)
{
    ptr_t va = KBASE() + (6ull << 30);
    pfn_t pfn = (pfn_t)(32ull << 30) >> PAGE_SHIFT;
    map_kernel(va, pfn, 512, VM_RW);
    cr_assert_eq(leaf_level(va), 2);
    mm_context_t *k = mm_kernel_context();
    softmmu_access(k, va + 0x10000, HAL_ACCESS_WRITE, false, NULL);
    host_tlb_log_clear();
    lock(k);
    cr_assert_eq(mm_do_flag(k, va + 0x10000, 2, VM_READ), 0);
    unlock(k);
    ASSERT_TLB_CLEAN();
    /* under break-before-make (aarch64) the 2 MiB leaf's break first */
    cr_assert_eq(host_tlb_event_count(), hal_break_before_make(G()) ? 2 : 1);
    cr_assert_eq(softmmu_walk(k, va + 0x10000, HAL_ACCESS_WRITE, false, NULL), SOFTMMU_DENIED);
    cr_assert_eq(softmmu_walk(k, va + 0x11000, HAL_ACCESS_WRITE, false, NULL), SOFTMMU_DENIED);
    cr_assert_eq(softmmu_walk(k, va + 0x12000, HAL_ACCESS_WRITE, false, NULL), SOFTMMU_OK);
    cr_assert_eq(softmmu_walk(k, va + 0xf000, HAL_ACCESS_WRITE, false, NULL), SOFTMMU_OK);
    cr_assert_eq(leaf_level(va), 1);
}

Test(walker, whole_huge_leaf_unmap_needs_no_split)
{
    ptr_t va = KBASE() + (8ull << 30);
    map_kernel(va, (pfn_t)(2ull << 30) >> PAGE_SHIFT, 1024, VM_RW);
    size_t t0 = take_baseline().table_pages;
    mm_unmap_kernel_pages(mm_kernel_context(), va, 512);
    cr_assert_eq(take_baseline().table_pages, t0);
    cr_assert_eq(leaf_level(va), 0);
    cr_assert_eq(leaf_level(va + (2u << 20)), 2);
}

Test(walker, huge_map_over_existing_small_pages_frees_their_table)
{
    ptr_t va = KBASE() + (10ull << 30);
    map_kernel(va + PAGE_SIZE, 0x1234, 3, VM_RW);
    size_t t0 = take_baseline().table_pages;
    host_tlb_log_clear();
    map_kernel(va, (pfn_t)(2ull << 30) >> PAGE_SHIFT, 512, VM_RW);
    cr_assert_eq(take_baseline().table_pages, t0 - 1);
    cr_assert_eq(leaf_level(va + PAGE_SIZE), 2);
    /* under break-before-make (aarch64) the table's break first */
    const size_t events = hal_break_before_make(G()) ? 2 : 1;
    cr_assert_eq(host_tlb_event_count(), events);
    for (size_t i = 0; i < events; i++)
        cr_assert_eq(host_tlb_event(i)->kind, HOST_TLB_ALL);
}

Test(walker, map_unmap_cycles_return_to_the_starting_counts)
{
    mm_context_t *ctx = new_ctx();
    baseline_t b0 = take_baseline();
    for (int round = 0; round < 200; round++) {
        ptr_t va = USER_VA + (ptr_t)(round % 7) * 0x1ff000;
        size_t n = 1 + (size_t)(round * 37 % 700);
        map_run(ctx, va, n);
        unmap(ctx, va, n);
    }
    baseline_t b1 = take_baseline();
    cr_assert_eq(b1.free_frames, b0.free_frames);
    cr_assert_eq(b1.table_pages, b0.table_pages);
    ASSERT_TLB_CLEAN();
    mm_destroy_context(ctx);
}

/* The root index the hardware takes for va: VA[va_bits-1 : root shift]
 * (aarch64's TnSZ = 64 - va_bits; x86 and riscv index 9 bits there). */
static unsigned hw_root_index(ptr_t va)
{
    unsigned shift = hal_level_shift(G()->levels);
    return (unsigned)((va & (((ptr_t)1 << G()->va_bits) - 1)) >> shift);
}

/* The walker stores root entries where the hardware looks for them, in
 * both halves: aarch64-5level's level -1 root indexes VA[51:48], so user
 * addresses use entries 0..7 and kernel ones 8..15 (of TTBR1's root), never
 * 504..511 as a 9-bit index of a sign-extended kernel address would give.
 * The software MMU indexes by the hardware's rule: a walker that indexed
 * otherwise would leave these pages unreachable. */
Test(walker, root_entries_sit_at_the_hardware_index_in_both_halves)
{
    const unsigned top = G()->levels, entries = hal_level_entries(G(), top);
    const bool lpa2 = strcmp(G()->name, "aarch64-5level") == 0;
    mm_context_t *k = mm_kernel_context(), *ctx = new_ctx();
    pfn_t f = alloc_run(4);
    const ptr_t kva[] = { hal_kernel_start(G()), ~(ptr_t)0 - 2 * PAGE_SIZE + 1 };
    const ptr_t uva[] = { MM_USER_MIN, hal_user_end(G()) - PAGE_SIZE };
    const unsigned kidx[] = { lpa2 ? 8 : 256, lpa2 ? 15 : 511 }, uidx[] = { 0, lpa2 ? 7 : 255 };
    for (unsigned i = 0; i < 2; i++) {
        map_kernel(kva[i], f + i, 1, VM_RW | VM_GLOBAL);
        lock(ctx);
        cr_assert_eq(mm_do_map(ctx, uva[i], f + 2 + i, 1, VM_USER_RW), 0);
        unlock(ctx);
    }
    const pte_t *kroot = pfn_va(k->pgd), *uroot = pfn_va(ctx->pgd);
    for (unsigned i = 0; i < 2; i++) {
        cr_assert_eq(hw_root_index(kva[i]), kidx[i], "hardware index of %#lx", (unsigned long)kva[i]);
        cr_assert_eq(hal_level_index(G(), top, kva[i]), kidx[i], "walker index of %#lx", (unsigned long)kva[i]);
        cr_assert_eq(hw_root_index(uva[i]), uidx[i]);
        cr_assert_eq(hal_level_index(G(), top, uva[i]), uidx[i]);
        cr_assert(hal_pte_present(hal_pte_load(&kroot[kidx[i]])), "kernel root entry %u", kidx[i]);
        cr_assert(hal_pte_present(hal_pte_load(&uroot[uidx[i]])), "user root entry %u", uidx[i]);
        uint64_t pa;
        cr_assert_eq(softmmu_walk(ctx, kva[i] + 8, HAL_ACCESS_WRITE, false, &pa), SOFTMMU_OK, "%#lx",
                     (unsigned long)kva[i]);
        cr_assert_eq(pa, ((uint64_t)(f + i) << PAGE_SHIFT) + 8);
        cr_assert_eq(softmmu_walk(ctx, uva[i] + 8, HAL_ACCESS_WRITE, true, &pa), SOFTMMU_OK);
        cr_assert_eq(pa, ((uint64_t)(f + 2 + i) << PAGE_SHIFT) + 8);
    }
    /* nothing beyond the root's entries (the rest of its page stays zero) */
    for (unsigned i = entries; i < HAL_ENTRIES_PER_TABLE; i++) {
        cr_assert_eq(hal_pte_load(&kroot[i]), 0, "kernel root entry %u beyond the %u the hardware indexes", i, entries);
        cr_assert_eq(hal_pte_load(&uroot[i]), 0, "user root entry %u beyond the %u the hardware indexes", i, entries);
    }
    lock(ctx);
    cr_assert_eq(mm_do_unmap(ctx, uva[0], 1), 0);
    cr_assert_eq(mm_do_unmap(ctx, uva[1], 1), 0);
    unlock(ctx);
    mm_destroy_context(ctx);
}

/* 512 GiB leaves below the root where the geometry has them
 * (aarch64-5level's Arm level 0 blocks with LPA2, riscv64-sv57), 1 GiB ones
 * where it has not (x86_64-5level). */
Test(walker, kernel_map_of_512gib_uses_a_level_4_leaf_below_the_root)
{
    if (G()->levels < 5)
        return; /* level 4 is the root: its kernel half holds tables only */
    const bool lpa2 = strcmp(G()->name, "aarch64-5level") == 0;
    cr_assert(!lpa2 || hal_level_may_leaf(G(), 4), "LPA2 has 512 GiB blocks");
    const unsigned want = hal_level_may_leaf(G(), 4) ? 4 : 3;
    ptr_t va = hal_kernel_start(G()) + ((ptr_t)1 << 39);
    pfn_t pfn = (pfn_t)3 << 27; /* 1.5 TiB: 512 GiB aligned */
    map_kernel(va, pfn, (size_t)1 << 27, VM_RW | VM_GLOBAL);
    cr_assert_eq(leaf_level(va), want);
    cr_assert_eq(leaf_level(va + ((ptr_t)1 << 39) - PAGE_SIZE), want);
    uint64_t pa;
    cr_assert_eq(softmmu_walk(mm_kernel_context(), va + ((ptr_t)300 << 30) + 5, HAL_ACCESS_READ, false, &pa),
                 SOFTMMU_OK);
    cr_assert_eq(pa, ((uint64_t)pfn << PAGE_SHIFT) + ((uint64_t)300 << 30) + 5);
}

/* A shared kernel half (no separate kernel root) of a root narrower than 9
 * bits: mm_init pins one table per kernel-half root entry, 8 of
 * aarch64-5level's 16 (256 of 512 elsewhere), and a new context copies
 * exactly those; the rest of the root's page stays empty. */
Test(walker, shared_kernel_half_pins_one_table_per_kernel_root_entry)
{
    hal_geometry_t g = *hal_geometry_find(G()->name);
    g.flags &= ~HAL_GEOMETRY_SEPARATE_KERNEL_ROOT;
    const unsigned entries = hal_level_entries(&g, g.levels);
    cr_assert_eq(entries, strcmp(g.name, "aarch64-5level") == 0 ? 16 : 512);
    mm_region_t regions[] = {
        { .base = kmm_host_phys_base(), .size = kmm_host_phys_size(), .usable = true },
        { .base = kmm_host_phys_base(), .size = HAL_ARCH_RAM_RESERVED, .usable = false },
    };
    mm_boot_info_t info = { .geometry = &g, .regions = regions, .nregions = 2 };
    cr_assert_eq(mm_init(&info), 0);
    mm_stats_t s;
    mm_get_stats(&s);
    cr_assert_eq(s.table_pages, 1 + entries / 2, "the root and one table per kernel-half entry: %zu", s.table_pages);
    mm_context_t *ctx = new_ctx();
    const pte_t *root = pfn_va(ctx->pgd), *kroot = pfn_va(mm_kernel_context()->pgd);
    for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++) {
        pte_t want = i >= entries / 2 && i < entries ? hal_pte_load(&kroot[i]) : 0;
        cr_assert(i < entries / 2 || i >= entries || hal_pte_present(want), "kernel root entry %u", i);
        cr_assert_eq(hal_pte_load(&kroot[i]), i < entries / 2 ? 0 : want, "kernel root entry %u", i);
        cr_assert_eq(hal_pte_load(&root[i]), want, "user root entry %u", i);
    }
    /* a kernel page is reachable from the new context through the shared half */
    pfn_t f = alloc_run(1);
    map_kernel(KBASE(), f, 1, VM_RW | VM_GLOBAL);
    uint64_t pa;
    cr_assert_eq(softmmu_walk(ctx, KBASE() + 3, HAL_ACCESS_READ, false, &pa), SOFTMMU_OK);
    cr_assert_eq(pa, ((uint64_t)f << PAGE_SHIFT) + 3);
    mm_destroy_context(ctx);
}
