/* tests/boot/test_kernel_space.c - the kernel context kmain built: a direct
 * map of all RAM with the largest leaves alignment allows, and a W^X image. */
#include "tests/boot/boot_test.h"

typedef struct direct_check {
    const boot_info_t *bi;
    size_t leaves[HAL_MAX_LEVELS + 1];
    size_t could_be_larger; /* leaves whose enclosing larger block fits in one usable region */
    size_t wrong_frame;     /* leaves that do not map direct_map_base + pa */
    ptr_t first_bad;
} direct_check_t;

static bool inside_usable(const boot_info_t *bi, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        if (r->usable && start >= r->base && end <= r->base + r->size)
            return true;
    }
    return false;
}

static void check_direct_leaf(const pt_leaf_t *leaf, void *arg)
{
    direct_check_t *c = arg;
    const hal_geometry_t *g = kernel_geometry;
    uint64_t pa = leaf->va - c->bi->direct_map_base;
    c->leaves[leaf->level]++;
    if ((uint64_t)hal_pte_pfn(leaf->level, leaf->entry) << PAGE_SHIFT != pa && !c->wrong_frame++)
        c->first_bad = leaf->va;
    /* never the root: its kernel-half entries are the tables every context shares */
    for (unsigned up = leaf->level + 1; up < g->levels; up++) {
        if (!hal_level_may_leaf(g, up))
            continue;
        uint64_t span = hal_level_span(up), start = ALIGN_DOWN(pa, span);
        if (inside_usable(c->bi, start, start + span)) {
            if (!c->could_be_larger++)
                c->first_bad = leaf->va;
            break;
        }
    }
}

KTEST(direct_map_uses_huge_leaves_where_aligned)
{
    const boot_info_t *bi = kernel_boot_info;
    const hal_geometry_t *g = kernel_geometry;
    mm_context_t *k = mm_kernel_context();
    uint64_t ram_end = 0;
    for (size_t i = 0; i < bi->nregions; i++)
        if (bi->regions[i].usable)
            ram_end = MAX(ram_end, bi->regions[i].base + bi->regions[i].size);
    direct_check_t c = { .bi = bi };
    pt_for_each_leaf(k->pgd, g, bi->direct_map_base, bi->direct_map_base + (ptr_t)ram_end - 1, check_direct_leaf, &c);
    KT_EXPECT(t, c.wrong_frame == 0, "%zu leaves map the wrong frame (first at %lx)", c.wrong_frame,
              (unsigned long)c.first_bad);
    KT_EXPECT(t, c.could_be_larger == 0, "%zu leaves could have been larger (first at %lx)", c.could_be_larger,
              (unsigned long)c.first_bad);
    KT_EXPECT(t, c.leaves[2] + c.leaves[3] > 0, "no huge leaf in the direct map");
    printk("# direct map leaves: %zu x level 1, %zu x level 2, %zu x level 3\n", c.leaves[1], c.leaves[2], c.leaves[3]);

    /* Every whole usable page is reachable at direct_map_base + pa. */
    size_t unmapped = 0;
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        uint64_t first = ALIGN_UP(r->base, PAGE_SIZE), end = ALIGN_DOWN(r->base + r->size, PAGE_SIZE);
        if (!r->usable || end <= first)
            continue;
        uint64_t probes[] = { first, first + (end - first) / 2, end - 1 };
        for (size_t j = 0; j < ARRAY_SIZE(probes); j++)
            if (mm_get_phys_addr(k, bi->direct_map_base + (ptr_t)probes[j]) != probes[j])
                unmapped++;
    }
    KT_EXPECT(t, unmapped == 0, "%zu probes of usable RAM not translated to themselves", unmapped);
}

typedef struct wx_check {
    size_t writable_exec, user;
    ptr_t first_bad;
} wx_check_t;

static void check_wx_leaf(const pt_leaf_t *leaf, void *arg)
{
    wx_check_t *c = arg;
    vm_flags f = hal_pte_flags(leaf->level, leaf->entry);
    if ((f & VM_WRITE) && (f & VM_EXEC) && !c->writable_exec++)
        c->first_bad = leaf->va;
    if (f & VM_USER)
        c->user++;
}

KTEST(kernel_half_has_no_writable_executable_page)
{
    const hal_geometry_t *g = kernel_geometry;
    wx_check_t c = { 0 };
    pt_for_each_leaf(mm_kernel_context()->pgd, g, hal_kernel_start(g), ~(ptr_t)0, check_wx_leaf, &c);
    KT_EXPECT(t, c.writable_exec == 0, "%zu leaves writable and executable (first at %lx)", c.writable_exec,
              (unsigned long)c.first_bad);
    KT_EXPECT(t, c.user == 0, "%zu kernel-half leaves are user-accessible", c.user);
}

static vm_flags flags_at(const void *p)
{
    uint64_t pa;
    vm_flags f = VM_NONE;
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    int err = mm_do_translate(k, (ptr_t)p, &pa, &f);
    spinlock_release(&k->mm_lock);
    return err ? VM_NONE : f;
}

KTEST(kernel_image_sections_have_their_rights)
{
    vm_flags text = flags_at(_text_start), ro = flags_at(_rodata_start), data = flags_at(_data_start);
    vm_flags last = flags_at((const void *)((ptr_t)_kernel_end - 1));
    vm_flags mask = VM_READ | VM_WRITE | VM_EXEC | VM_USER;
    KT_EXPECT(t, (text & mask) == VM_RX, "text flags %x", text);
    KT_EXPECT(t, (ro & mask) == VM_READ, "rodata flags %x", ro);
    KT_EXPECT(t, (data & mask) == VM_RW, "data flags %x", data);
    KT_EXPECT(t, (last & mask) == VM_RW, "bss end flags %x", last);
    ptr_t pa = mm_get_phys_addr(mm_kernel_context(), (ptr_t)_text_start);
    KT_EXPECT(t, pa == (ptr_t)_text_start - kernel_image_offset, "text at pa %lx", (unsigned long)pa);
    for (ptr_t g = kernel_boot_info->stack_guard_start; g < kernel_boot_info->stack_guard_end; g += PAGE_SIZE)
        KT_EXPECT(t, mm_get_phys_addr(mm_kernel_context(), g) == 0, "stack guard page %lx is mapped", (unsigned long)g);
}

KTEST(contexts_share_the_kernel_half)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    /* Running on ctx's root: the kernel image, stack and direct map work. */
    static volatile int probe_value = 1234;
    KT_EXPECT(t, hal_mmu_active_root() == ctx->pgd, "root %llx active, expected %llx",
              (unsigned long long)hal_mmu_active_root(), (unsigned long long)ctx->pgd);
    KT_EXPECT(t, probe_value == 1234, "kernel data");
    ptr_t w = bt_kernel_window();
    pfn_t pfn = pmm_alloc();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    bt_fill_frames(pfn, 1, 0xc1);
    /* A kernel mapping made while ctx is active is seen by the kernel context. */
    int err = mm_do_map_kernel(ctx, w, pfn, 1, VM_READ | VM_GLOBAL);
    KT_EXPECT(t, err == 0, "mm_do_map_kernel: %d", err);
    KT_EXPECT(t, bt_check_mapped(w, 1, 0xc1, false) == 0, "window through ctx");
    bt_leave_context(ctx);
    KT_EXPECT(t, bt_check_mapped(w, 1, 0xc1, false) == 0, "window through the kernel context");
    if (!err)
        mm_unmap_kernel_pages(mm_kernel_context(), w, 1);
    pmm_free(pfn);
}
