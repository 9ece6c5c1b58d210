/* tests/boot/test_kernel_remap.c - remapping a whole huge leaf of the direct
 * map over the tables a split left behind (issue 11, item 2).
 *
 * The kernel reads its page tables and the frame array through the direct
 * map. A remap of a whole leaf's span over a split leaf must install the new
 * leaf first and only then tear down (and free) the old subtree: emptying the
 * old tables in place while they are still linked unmaps the kernel's own
 * view of the frame array it is about to update, and the kernel faults on
 * its own direct map. Run with 2 GiB of RAM on riscv64 Sv48/Sv57 the leaf is
 * a 1 GiB one (kernel/meson.build: boot-riscv64-remap-*); elsewhere the frame
 * array lies under a 2 MiB leaf. */
#include "tests/boot/boot_test.h"

static size_t table_pages(void)
{
    mm_stats_t s;
    mm_get_stats(&s);
    return s.table_pages;
}

/* The leaf that maps va in the kernel tables: its level (0: none). */
static unsigned leaf_level(ptr_t va, pte_t *entry, pfn_t *tables)
{
    pt_step_t steps[HAL_MAX_LEVELS];
    size_t n = pt_walk_path(mm_kernel_context()->pgd, kernel_geometry, va, steps);
    if (n == 0 || !hal_pte_present(steps[n - 1].entry))
        return 0;
    for (size_t i = 0; tables && i < n; i++)
        tables[steps[i].level] = steps[i].table;
    *entry = steps[n - 1].entry;
    return steps[n - 1].level;
}

KTEST(kernel_remap_of_split_leaf_holding_frame_array_keeps_it_readable)
{
    const ptr_t dmb = kernel_boot_info->direct_map_base;
    mm_context_t *k = mm_kernel_context();
    const vm_flags dflags = VM_RW | VM_GLOBAL; /* as kmain mapped the direct map */

    /* The split's tables are the next frames the allocator hands out: it
     * gives back the ones it just took back (binary buddy, LIFO lists). */
    pfn_t x1 = pmm_alloc(), x2 = pmm_alloc();
    KT_ASSERT(t, x1 != PMM_NO_FRAME && x2 != PMM_NO_FRAME, "no frames");
    pmm_free(x2);
    pmm_free(x1);

    /* H: the direct-map leaf over the frame array's record of x1. */
    uint64_t rec = pmm_frame_record_paddr(x1);
    KT_ASSERT(t, rec != 0, "no record for frame %llx", (unsigned long long)x1);
    ptr_t rec_va = dmb + (ptr_t)ALIGN_DOWN(rec, PAGE_SIZE);
    pte_t e;
    unsigned level = leaf_level(rec_va, &e, NULL);
    KT_ASSERT(t, level >= 2, "the frame array at %llx is under a level-%u leaf, not a huge one", (unsigned long long)rec,
              level);
    ptr_t span = (ptr_t)hal_level_span(level), h_va = ALIGN_DOWN(rec_va, span);
    uint64_t h_pa = h_va - dmb;
    KT_ASSERT(t, (uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT == h_pa, "direct map leaf at %lx maps %llx",
              (unsigned long)h_va, (unsigned long long)hal_pte_pfn(level, e) << PAGE_SHIFT);
    printk("# frame record of %llx at %llx, under a level-%u leaf at %lx\n", (unsigned long long)x1,
           (unsigned long long)rec, level, (unsigned long)h_va);
    size_t tables0 = table_pages(), free0 = pmm_free_frames();

    /* Map the record's page over itself: the leaf splits down to 4 KiB
     * (the structure an unmap and a map back leave), into x1 (and x2). */
    mm_map_kernel_pages(k, rec_va, (pfn_t)(rec_va - dmb) >> PAGE_SHIFT, 1, dflags);
    pfn_t tables[HAL_MAX_LEVELS + 1] = { 0 };
    KT_ASSERT(t, leaf_level(rec_va, &e, tables) == 1, "no 4 KiB leaf after the split");
    KT_ASSERT(t, table_pages() == tables0 + (level - 1), "%zu table pages after the split, expected %zu", table_pages(),
              tables0 + (level - 1));
    KT_ASSERT(t, tables[level - 1] == x1 && (level == 2 || tables[1] == x2),
              "precondition: the split's tables %llx/%llx are not the predicted %llx/%llx",
              (unsigned long long)tables[level - 1], (unsigned long long)tables[1], (unsigned long long)x1,
              (unsigned long long)x2);

    /* Nothing cached from before may hide a hole the remap opens. */
    hal_tlb_invalidate_all(k->pgd);
    /* The whole leaf's span again: the old subtree goes, its tables are freed. */
    mm_map_kernel_pages(k, h_va, (pfn_t)(h_pa >> PAGE_SHIFT), (size_t)(span >> PAGE_SHIFT), dflags);

    KT_EXPECT(t, leaf_level(rec_va, &e, NULL) == level, "no level-%u leaf after the remap", level);
    KT_EXPECT(t, (uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT == h_pa, "the leaf maps %llx, expected %llx",
              (unsigned long long)hal_pte_pfn(level, e) << PAGE_SHIFT, (unsigned long long)h_pa);
    KT_EXPECT(t, table_pages() == tables0, "%zu table pages after the remap, expected %zu", table_pages(), tables0);
    KT_EXPECT(t, pmm_free_frames() == free0, "%zu free frames after the remap, expected %zu", pmm_free_frames(), free0);
    KT_EXPECT(t, !pmm_is_allocated(x1) && !pmm_is_allocated(x2), "the split's tables were not freed");
    const ptr_t probes[] = { h_va, rec_va, h_va + span / 2, h_va + span - PAGE_SIZE };
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
        KT_EXPECT(t, mm_get_phys_addr(k, probes[i]) == probes[i] - dmb, "%lx translates to %lx",
                  (unsigned long)probes[i], (unsigned long)mm_get_phys_addr(k, probes[i]));
    uint8_t b;
    KT_EXPECT(t, bt_read(rec_va, false, &b) == 0, "the frame record's page is not readable");
}
