/* hal/aarch64/mmu.c - the privileged MMU operations of hal.h for aarch64.
 *
 * One ASID (0) for every user address space: activation writes TTBR0_EL1
 * and drops this CPU's non-global translations (TLBI ASIDE1), so a root
 * that is not active here holds nothing of its user half in this CPU's TLB.
 * Invalidations use the inner-shareable forms, which reach every CPU: a
 * user-half range is invalidated even when its root is not active here,
 * since another CPU may be running it. The kernel half (TTBR1_EL1) holds
 * global entries, covered by the same instructions. An `end` of 0 stands
 * for the top of the address space. */
#include "hal/hal.h"
#include "a64.h"

/* Above this many pages one TLBI VMALLE1IS is cheaper than one per page. */
#define A64_TLBI_MAX_PAGES 64

void hal_tlb_invalidate(pfn_t root, ptr_t start, ptr_t end)
{
    (void)root; /* broadcast: whoever runs it */
    if (end == start)
        return;
    ptr_t va = ALIGN_DOWN(start, PAGE_SIZE);
    /* Counted in pages so that an end at the top (0 after wrapping) works. */
    ptr_t pages = (end - va + PAGE_MASK) >> PAGE_SHIFT;
    a64_dsb_ishst(); /* the entry stores reach the walkers before the TLBI */
    if (pages > A64_TLBI_MAX_PAGES) {
        a64_tlbi_vmalle1is();
    } else {
        for (; pages; pages--, va += PAGE_SIZE)
            a64_tlbi_vae1is(va);
    }
    a64_dsb_ish(); /* the invalidation is complete on every CPU */
    a64_isb();
}

void hal_tlb_invalidate_all(pfn_t root)
{
    (void)root;
    a64_dsb_ishst();
    a64_tlbi_vmalle1is(); /* cached table entries (walk caches) included */
    a64_dsb_ish();
    a64_isb();
}

/* DSB ISHST: the entry stores complete for every walker of the shareable
 * domain; ISB: this CPU's next instructions use them. */
void hal_tables_sync(void)
{
    a64_dsb_ishst();
    a64_isb();
}

void hal_mmu_activate(pfn_t root, pfn_t kernel_root)
{
    uint64_t ttbr1 = a64_ttbr_baddr(kernel_root);
    a64_dsb_ishst();
    if ((a64_sysreg_read(ttbr1_el1) & (A64_TTBR_ADDR | A64_TTBR_ADDR_HI)) != ttbr1) {
        a64_sysreg_write(ttbr1_el1, ttbr1);
        a64_isb();
        a64_tlbi_vmalle1(); /* another kernel root: drop everything of this CPU */
    }
    a64_sysreg_write(ttbr0_el1, a64_ttbr_baddr(root));
    a64_isb();
    a64_tlbi_aside1(0); /* the previous user address space's translations */
    a64_dsb_nsh();
    a64_isb();
}

pfn_t hal_mmu_active_root(void) { return a64_ttbr_root(a64_sysreg_read(ttbr0_el1)); }
