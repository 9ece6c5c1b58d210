/* arch/aarch64/early_paging.c - the boot page tables.
 *
 * entry.S runs us in the higher half on two one-gigabyte boot tables
 * (48-bit). Here we build the real early kernel root (the direct map of
 * all RAM, the devices, the kernel image) in the geometry boot.c chose,
 * from a pool of pages in .bss, with the arch codec of hal_arch.h. Tables
 * are reached through the kernel image mapping (pool VA - A64_KERNEL_OFFSET
 * = PA), so no direct map is needed to build them. a64_mmu_switch (entry.S)
 * installs them with that geometry's TCR_EL1. The generic kernel later
 * builds its own kernel root with the mm layer (TTBR1 then names that one;
 * TCR_EL1 stays). */
#include "early_paging.h"

#include "a64.h"
#include "mm/platform.h"

#define EARLY_POOL_PAGES 24

extern char _kernel_start[], _kernel_end[];
extern const uint64_t a64_mmu_switch_pa; /* entry.S: a64_mmu_switch's physical address */
extern char a64_stack_guard[], a64_stack_guard_end[]; /* entry.S: left unmapped */

const a64_device_t a64_devices[] = {
    { "pl011", A64_PL011_PHYS, PAGE_SIZE },
    { "gicd", A64_GICD_PHYS, 0x10000 },
    { "gicc", A64_GICC_PHYS, 0x10000 },
};
const size_t a64_device_count = ARRAY_SIZE(a64_devices);

static pte_t early_pool[EARLY_POOL_PAGES][HAL_ENTRIES_PER_TABLE] __attribute__((aligned(PAGE_SIZE)));
static size_t early_used;
static pte_t *early_root;
uint64_t a64_idmap_ttbr;

static pte_t *pool_alloc(void)
{
    if (early_used == EARLY_POOL_PAGES)
        mm_panic("early page-table pool exhausted (%d pages)", EARLY_POOL_PAGES);
    return early_pool[early_used++]; /* zero: .bss */
}

static pte_t *table_of(unsigned level, pte_t e)
{
    return (pte_t *)(uintptr_t)(((uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT) + A64_KERNEL_OFFSET);
}

/* The largest leaf level (3, 2 or 1) for the chunk at va/pa with `left` bytes to go. */
static unsigned leaf_level(ptr_t va, uint64_t pa, uint64_t left)
{
    for (unsigned l = 3; l > 1; l--)
        if (((va | pa) & (hal_level_span(l) - 1)) == 0 && left >= hal_level_span(l))
            return l;
    return 1;
}

/* Maps [va, va + size) to pa in root; panics if a page is mapped already. */
static void map_range(const hal_geometry_t *g, pte_t *root, ptr_t va, uint64_t pa, uint64_t size, vm_flags flags)
{
    if ((va | pa | size) & PAGE_MASK)
        mm_panic("unaligned va %lx pa %llx size %llx", (unsigned long)va, (unsigned long long)pa,
                 (unsigned long long)size);
    for (uint64_t done = 0, step; done < size; done += step) {
        unsigned leaf = leaf_level(va + done, pa + done, size - done);
        step = hal_level_span(leaf);
        pte_t *t = root;
        for (unsigned l = g->levels; l > leaf; l--) {
            pte_t *e = &t[hal_level_index(g, l, va + done)];
            if (!hal_pte_present(*e))
                *e = hal_pte_make_table(A64_KVA_TO_PA(pool_alloc()) >> PAGE_SHIFT, false);
            else if (hal_pte_is_leaf(l, *e))
                mm_panic("va %lx is mapped twice", (unsigned long)(va + done));
            t = table_of(l, *e);
        }
        pte_t *slot = &t[hal_level_index(g, leaf, va + done)];
        if (hal_pte_present(*slot))
            mm_panic("va %lx is mapped twice", (unsigned long)(va + done));
        int err = hal_pte_make_leaf(leaf, (pa + done) >> PAGE_SHIFT, flags, slot);
        if (err)
            mm_panic("cannot encode a level-%u leaf for pa %llx flags %x: %d", leaf,
                     (unsigned long long)(pa + done), (unsigned)flags, err);
    }
}

void a64_paging_init(const fdt_info_t *dt, const hal_geometry_t *g)
{
    hal_codec_select(g); /* the descriptor layout of g, before the first table */
    pte_t *root = pool_alloc(), *user_root = pool_alloc();
    for (size_t i = 0; i < dt->nmemory; i++) {
        uint64_t base = ALIGN_DOWN(dt->memory[i].base, PAGE_SIZE);
        uint64_t end = ALIGN_UP(dt->memory[i].base + dt->memory[i].size, PAGE_SIZE);
        if (end > A64_DIRECT_MAP_LIMIT - A64_DIRECT_MAP_BASE)
            mm_panic("RAM %llx-%llx is beyond the direct map (%llx bytes)", (unsigned long long)base,
                     (unsigned long long)end, (unsigned long long)(A64_DIRECT_MAP_LIMIT - A64_DIRECT_MAP_BASE));
        map_range(g, root, A64_DIRECT_MAP_BASE + base, base, end - base, VM_RW | VM_GLOBAL);
    }
    for (size_t i = 0; i < a64_device_count; i++)
        map_range(g, root, A64_DEVICE_BASE + a64_devices[i].phys, a64_devices[i].phys, a64_devices[i].size,
                  VM_RW | VM_CACHE_DISABLED | VM_GLOBAL);
    /* The image, read-write-execute until the generic kernel maps it W^X,
     * except the stack guard page. */
    ptr_t kva = (ptr_t)_kernel_start, guard = (ptr_t)a64_stack_guard, guard_end = (ptr_t)a64_stack_guard_end;
    map_range(g, root, kva, A64_KVA_TO_PA(kva), guard - kva, VM_RWX | VM_GLOBAL);
    map_range(g, root, guard_end, A64_KVA_TO_PA(guard_end), (ptr_t)_kernel_end - guard_end, VM_RWX | VM_GLOBAL);

    /* The page of a64_mmu_switch at its physical address, in g's layout. */
    pte_t *idmap = pool_alloc();
    map_range(g, idmap, a64_mmu_switch_pa & ~(uint64_t)PAGE_MASK, a64_mmu_switch_pa & ~(uint64_t)PAGE_MASK,
              PAGE_SIZE, VM_RX | VM_GLOBAL);
    a64_idmap_ttbr = a64_ttbr_baddr(A64_KVA_TO_PA(idmap) >> PAGE_SHIFT);

    void (*mmu_switch)(uint64_t tcr, uint64_t idmap_ttbr0, uint64_t ttbr1) =
        (void (*)(uint64_t, uint64_t, uint64_t))(uintptr_t)a64_mmu_switch_pa;
    mmu_switch(a64_tcr_value(g, a64_read_mmfr0()), a64_idmap_ttbr, a64_ttbr_baddr(A64_KVA_TO_PA(root) >> PAGE_SHIFT));
    a64_sysreg_write(ttbr0_el1, a64_ttbr_baddr(A64_KVA_TO_PA(user_root) >> PAGE_SHIFT));
    a64_isb();
    a64_tlbi_vmalle1(); /* the identity map's global translation */
    a64_dsb_nsh();
    a64_isb();
    early_root = root;
}

pfn_t a64_early_root(void) { return early_root ? A64_KVA_TO_PA(early_root) >> PAGE_SHIFT : 0; }
