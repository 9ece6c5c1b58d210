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
#include "kernel/fault.h"
#include "kernel/smp.h"
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

/* The other CPU of the test below: reads every word of the frame at va
 * through the direct map, again and again, until told to stop. */
typedef struct reader {
    const volatile uint64_t *va;
    uint64_t expect;          /* word i holds expect + i */
    _Atomic int stop;
    _Atomic unsigned long reads, bad;
    uint64_t bad_value;
} reader_t;

static void read_in_a_loop(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        for (unsigned i = 0; i < PAGE_SIZE / 8; i++) {
            uint64_t v = r->va[i];
            if (v != r->expect + i && atomic_fetch_add(&r->bad, 1) == 0)
                r->bad_value = v;
        }
        atomic_fetch_add(&r->reads, 1);
        smp_poll();
    }
}

/* CPU 0 splits the direct-map leaf over a frame and merges it back, again
 * and again, while another CPU reads the frame through it. Under
 * break-before-make each split and merge leaves the leaf invalid for a
 * while (a window): the reader's faults in it must wait for the window to
 * close and retry (mm_break_window_retry), never panic, and every word it
 * reads must be the frame's. */
#define SPLIT_MERGE_ROUNDS 300
KTEST(kernel_remap_split_and_merge_while_another_cpu_reads_under_the_leaf)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    const ptr_t dmb = kernel_boot_info->direct_map_base;
    mm_context_t *k = mm_kernel_context();
    const vm_flags dflags = VM_RW | VM_GLOBAL;
    size_t free0 = pmm_free_frames(), tables0 = table_pages();
    /* A frame whose direct-map page sits under a huge leaf: the first
     * frames handed out may lie where the direct map is split (near the
     * kernel image), so take up to CANDIDATES and keep the first that does. */
    enum { CANDIDATES = 512 };
    static pfn_t held[CANDIDATES];
    size_t nheld = 0;
    pfn_t x = PMM_NO_FRAME;
    pte_t e;
    unsigned level = 0;
    while (nheld < CANDIDATES) {
        pfn_t c = pmm_alloc();
        KT_ASSERT(t, c != PMM_NO_FRAME, "no frame after %zu", nheld);
        level = leaf_level((ptr_t)pfn_va(c), &e, NULL);
        if (level >= 2) {
            x = c;
            break;
        }
        held[nheld++] = c;
    }
    for (size_t i = 0; i < nheld; i++)
        pmm_free(held[i]);
    if (x == PMM_NO_FRAME)
        KT_SKIP(t, "none of 512 frames is under a huge direct-map leaf");
    uint64_t *words = pfn_va(x);
    const uint64_t expect = 0x5eed000000000000ull | ((uint64_t)x << 12);
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        words[i] = expect + i;
    ptr_t x_va = (ptr_t)words;
    ptr_t span = (ptr_t)hal_level_span(level), h_va = ALIGN_DOWN(x_va, span);
    size_t retries0 = kernel_fault_stats.break_window_retries;

    static reader_t r;
    r = (reader_t){ .va = (const volatile uint64_t *)words, .expect = expect };
    unsigned cpu = 1;
    smp_start_work(cpu, read_in_a_loop, &r);
    while (atomic_load(&r.reads) == 0)
        smp_poll();
    for (unsigned round = 0; round < SPLIT_MERGE_ROUNDS && atomic_load(&r.bad) == 0; round++) {
        /* the frame's page over itself: the leaf splits down to 4 KiB */
        mm_map_kernel_pages(k, x_va, (pfn_t)((x_va - dmb) >> PAGE_SHIFT), 1, dflags);
        /* the whole span again: one leaf replaces the tables */
        mm_map_kernel_pages(k, h_va, (pfn_t)((h_va - dmb) >> PAGE_SHIFT), (size_t)(span >> PAGE_SHIFT), dflags);
    }
    unsigned long reads_during = atomic_load(&r.reads);
    atomic_store(&r.stop, 1);
    smp_wait_work(cpu);
    size_t retries = kernel_fault_stats.break_window_retries - retries0;
    printk("# %u split/merge rounds of a level-%u leaf; the other CPU read the page %lu times, %zu faults retried "
           "after a break window\n", SPLIT_MERGE_ROUNDS, level, reads_during, retries);
    KT_EXPECT(t, r.bad == 0, "the other CPU read %lu wrong words (first %llx)", atomic_load(&r.bad),
              (unsigned long long)r.bad_value);
    KT_EXPECT(t, reads_during > 1, "the other CPU read only %lu times", reads_during);
    KT_EXPECT(t, leaf_level(x_va, &e, NULL) == level, "no level-%u leaf after the rounds", level);
    pmm_free(x);
    KT_EXPECT(t, table_pages() == tables0, "%zu table pages, expected %zu", table_pages(), tables0);
    KT_EXPECT(t, pmm_free_frames() == free0, "%zu free frames, expected %zu", pmm_free_frames(), free0);
}
