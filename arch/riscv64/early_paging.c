/* arch/riscv64/early_paging.c - boot page tables and the paging-mode probe.
 *
 * entry.S runs us in the higher half on a one-page Sv39 table. Here we
 * build the real early tables (the direct map of all RAM, the sifive_test
 * page, the kernel image) once per mode, from a pool of pages in .bss, with
 * the arch codec of hal_arch.h. Tables are reached through the kernel image
 * mapping (pool VA - RV_KERNEL_OFFSET = PA), so no direct map is needed to
 * build them. The generic kernel later builds its own tables with the mm
 * layer; these stay valid (arch_exit returns to them to reach sifive_test). */
#include "early_paging.h"

#include "mm/platform.h"

#define EARLY_POOL_PAGES 48

extern char _kernel_start[], _kernel_end[];
extern char rv_stack_guard[], rv_stack_guard_end[]; /* entry.S: left unmapped */

static pte_t early_pool[EARLY_POOL_PAGES][HAL_ENTRIES_PER_TABLE] __attribute__((aligned(PAGE_SIZE)));
static size_t early_used;

typedef struct rv_mode {
    const char *name;     /* "sv57": the command-line and arch_cpu_has name */
    const char *geometry; /* its hal_geometry_t name */
    unsigned levels;
    uint64_t satp_mode;
} rv_mode_t;

static const rv_mode_t rv_modes[] = { /* probe order: widest first */
    { "sv57", "riscv64-sv57", 5, SATP_MODE_SV57 },
    { "sv48", "riscv64-sv48", 4, SATP_MODE_SV48 },
    { "sv39", "riscv64-sv39", 3, SATP_MODE_SV39 },
};
#define RV_NMODES ARRAY_SIZE(rv_modes)

static bool mode_ok[RV_NMODES];
static pte_t *early_root;
static unsigned early_levels;

static pte_t *pool_alloc(void)
{
    if (early_used == EARLY_POOL_PAGES)
        mm_panic("early page-table pool exhausted (%d pages)", EARLY_POOL_PAGES);
    return early_pool[early_used++]; /* zero: .bss */
}

/* Every Sv39/48/57 level, the root included, indexes 9 bits of va. */
static unsigned index_of(unsigned level, ptr_t va)
{
    return (unsigned)(va >> hal_level_shift(level)) & (HAL_ENTRIES_PER_TABLE - 1);
}

static pte_t *table_of(unsigned level, pte_t e)
{
    return (pte_t *)(uintptr_t)(((uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT) + RV_KERNEL_OFFSET);
}

/* The largest leaf level (3, 2 or 1) for the chunk at va/pa with `left` bytes to go. */
static unsigned leaf_level(ptr_t va, uint64_t pa, uint64_t left)
{
    for (unsigned l = 3; l > 1; l--)
        if (((va | pa) & (hal_level_span(l) - 1)) == 0 && left >= hal_level_span(l))
            return l;
    return 1;
}

/* True if any page of [va, va + size) is mapped (or covered by a leaf) in root. */
static bool range_busy(pte_t *root, unsigned levels, ptr_t va, uint64_t pa, uint64_t size)
{
    for (uint64_t done = 0, step; done < size; done += step) {
        unsigned leaf = leaf_level(va + done, pa + done, size - done);
        step = hal_level_span(leaf);
        pte_t *t = root;
        for (unsigned l = levels;; l--) {
            pte_t e = t[index_of(l, va + done)];
            if (!hal_pte_present(e))
                break;
            if (l == leaf || hal_pte_is_leaf(l, e))
                return true;
            t = table_of(l, e);
        }
    }
    return false;
}

static void map_range(pte_t *root, unsigned levels, ptr_t va, uint64_t pa, uint64_t size, vm_flags flags)
{
    for (uint64_t done = 0, step; done < size; done += step) {
        unsigned leaf = leaf_level(va + done, pa + done, size - done);
        step = hal_level_span(leaf);
        pte_t *t = root;
        for (unsigned l = levels; l > leaf; l--) {
            pte_t *e = &t[index_of(l, va + done)];
            if (!hal_pte_present(*e))
                *e = hal_pte_make_table(RV_KVA_TO_PA(pool_alloc()) >> PAGE_SHIFT, false);
            t = table_of(l, *e);
        }
        pte_t leaf_pte;
        int err = hal_pte_make_leaf(leaf, (pa + done) >> PAGE_SHIFT, flags, &leaf_pte);
        if (err)
            mm_panic("cannot encode a level-%u leaf for pa %llx flags %x: %d", leaf,
                     (unsigned long long)(pa + done), (unsigned)flags, err);
        t[index_of(leaf, va + done)] = leaf_pte;
    }
}

static int early_map_in(pte_t *root, unsigned levels, ptr_t va, uint64_t pa, uint64_t size, vm_flags flags)
{
    if ((va | pa | size) & PAGE_MASK)
        mm_panic("unaligned va %lx pa %llx size %llx", (unsigned long)va, (unsigned long long)pa,
                 (unsigned long long)size);
    if (range_busy(root, levels, va, pa, size))
        return -EEXIST;
    map_range(root, levels, va, pa, size, flags);
    return 0;
}

int rv_early_map(ptr_t va, uint64_t pa, uint64_t size, vm_flags flags)
{
    if (!early_root)
        mm_panic("called before rv_paging_init");
    return early_map_in(early_root, early_levels, va, pa, size, flags);
}

/* The early tables for one mode. */
static pte_t *build_tables(const rv_mode_t *m, const fdt_info_t *dt)
{
    pte_t *root = pool_alloc();
    for (size_t i = 0; i < dt->nmemory; i++) {
        uint64_t base = ALIGN_DOWN(dt->memory[i].base, PAGE_SIZE);
        uint64_t end = ALIGN_UP(dt->memory[i].base + dt->memory[i].size, PAGE_SIZE);
        if (end > RV_DIRECT_MAP_LIMIT - RV_DIRECT_MAP_BASE)
            mm_panic("RAM %llx-%llx is beyond the direct map (%llx bytes)", (unsigned long long)base,
                     (unsigned long long)end, (unsigned long long)(RV_DIRECT_MAP_LIMIT - RV_DIRECT_MAP_BASE));
        if (early_map_in(root, m->levels, RV_DIRECT_MAP_BASE + base, base, end - base, VM_RW | VM_GLOBAL))
            mm_panic("/memory regions overlap at %llx-%llx", (unsigned long long)base, (unsigned long long)end);
    }
    if (!range_busy(root, m->levels, RV_DIRECT_MAP_BASE + RV_SIFIVE_TEST_PHYS, RV_SIFIVE_TEST_PHYS, PAGE_SIZE))
        map_range(root, m->levels, RV_DIRECT_MAP_BASE + RV_SIFIVE_TEST_PHYS, RV_SIFIVE_TEST_PHYS, PAGE_SIZE,
                  VM_RW | VM_GLOBAL);
    /* The image, read-write-execute until the generic kernel maps it W^X,
     * except the stack guard page. */
    ptr_t kva = (ptr_t)_kernel_start, guard = (ptr_t)rv_stack_guard, guard_end = (ptr_t)rv_stack_guard_end;
    map_range(root, m->levels, kva, RV_KVA_TO_PA(kva), guard - kva, VM_RWX | VM_GLOBAL);
    map_range(root, m->levels, guard_end, RV_KVA_TO_PA(guard_end), (ptr_t)_kernel_end - guard_end,
              VM_RWX | VM_GLOBAL);
    return root;
}

/* Write satp with `root` in mode m; true if the hart kept it. */
static bool try_mode(const rv_mode_t *m, pte_t *root)
{
    uint64_t want = m->satp_mode << SATP_MODE_SHIFT | (RV_KVA_TO_PA(root) >> PAGE_SHIFT);
    rv_sfence_all(); /* the new tables are in memory before the walker may read them */
    csr_write(satp, want);
    bool kept = csr_read(satp) == want;
    rv_sfence_all();
    return kept;
}

static const rv_mode_t *mode_named(const char *name)
{
    for (size_t i = 0; i < RV_NMODES; i++)
        if (__builtin_strcmp(rv_modes[i].name, name) == 0)
            return &rv_modes[i];
    return NULL;
}

const hal_geometry_t *rv_paging_init(const fdt_info_t *dt, const char *cap)
{
    const rv_mode_t *capm = cap ? mode_named(cap) : NULL;
    if (cap && !capm)
        mm_panic("unknown paging mode '%s' (sv57, sv48 or sv39)", cap);
    pte_t *roots[RV_NMODES];
    for (size_t i = 0; i < RV_NMODES; i++) {
        roots[i] = build_tables(&rv_modes[i], dt);
        mode_ok[i] = try_mode(&rv_modes[i], roots[i]);
    }
    for (size_t i = capm ? (size_t)(capm - rv_modes) : 0; i < RV_NMODES; i++) {
        if (!mode_ok[i])
            continue;
        const hal_geometry_t *g = hal_geometry_find(rv_modes[i].geometry);
        if (!g)
            mm_panic("no geometry %s", rv_modes[i].geometry);
        if (!try_mode(&rv_modes[i], roots[i]))
            mm_panic("%s accepted once, then refused", rv_modes[i].name);
        rv_mmu_set_mode(rv_modes[i].satp_mode);
        early_root = roots[i];
        early_levels = rv_modes[i].levels;
        return g;
    }
    mm_panic("no paging mode at or below %s works", capm ? capm->name : "sv57");
}

bool rv_paging_mode_supported(const char *name)
{
    const rv_mode_t *m = mode_named(name);
    return m && mode_ok[m - rv_modes];
}

pfn_t rv_early_root(void) { return early_root ? RV_KVA_TO_PA(early_root) >> PAGE_SHIFT : 0; }
