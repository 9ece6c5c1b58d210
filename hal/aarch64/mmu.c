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

/* hal_break_make's alias (a64.h): the level-1 entry and the page it maps. */
static pte_t *break_alias_slot;
static ptr_t break_alias_va;

void a64_set_break_alias(pte_t *alias_slot, ptr_t alias_va)
{
    break_alias_slot = alias_slot;
    break_alias_va = alias_va;
}

/* The physical address of the kernel address p, as the MMU translates it
 * now (AT S1E1R); ~0 when nothing maps it. */
static uint64_t kernel_pa(const void *p)
{
    uint64_t par;
    __asm__ volatile("at s1e1r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(p) : "memory");
    if (par & 1)
        return ~0ull;
    return (par & 0x000ffffffffff000ull) | ((uintptr_t)p & PAGE_MASK);
}

/* The break may cover the direct map through which slot is reached (a
 * 1 GiB leaf over the page tables themselves), so the whole sequence is
 * one asm statement, interrupts masked, touching nothing but registers:
 * the alias entry is stored (through the direct map, still whole), the
 * break, its broadcast invalidation, the make through the alias, and the
 * alias entry is cleared (the direct map whole again) and invalidated. */
void hal_break_make(pfn_t root, pte_t *slot, pte_t e, ptr_t start, ptr_t end, bool all)
{
    (void)root; /* broadcast: whoever runs it */
    uint64_t daif = a64_sysreg_read(daif);
    __asm__ volatile("msr daifset, #0xf" ::: "memory");
    ptr_t va = ALIGN_DOWN(start, PAGE_SIZE);
    uint64_t pages = all ? 0 : (end - va + PAGE_MASK) >> PAGE_SHIFT; /* 0: everything */
    if (pages > A64_TLBI_MAX_PAGES)
        pages = 0;
    uint64_t first = (va >> PAGE_SHIFT) & ((1ull << 44) - 1);
    pte_t *alias_slot = break_alias_slot, alias = 0, *make = slot;
    uint64_t pa = alias_slot ? kernel_pa(slot) : ~0ull;
    if (pa != ~0ull && hal_pte_make_leaf(1, pa >> PAGE_SHIFT, VM_READ | VM_WRITE | VM_GLOBAL, &alias) == 0)
        make = (pte_t *)(break_alias_va + (pa & PAGE_MASK));
    else
        alias_slot = NULL; /* no alias yet (early boot): the plain sequence */
    uint64_t alias_page = (break_alias_va >> PAGE_SHIFT) & ((1ull << 44) - 1);
    __asm__ volatile("cbz %[aslot], 1f\n\t"
                     "str %[alias], [%[aslot]]\n\t" /* the alias, from invalid: no break */
                     "dsb ishst\n\t"
                     "isb\n"
                     "1:\tstr xzr, [%[slot]]\n\t" /* the break */
                     "dsb ishst\n\t"
                     "cbz %[pages], 3f\n"
                     "2:\ttlbi vae1is, %[first]\n\t"
                     "add %[first], %[first], #1\n\t"
                     "subs %[pages], %[pages], #1\n\t"
                     "b.ne 2b\n\t"
                     "b 4f\n"
                     "3:\ttlbi vmalle1is\n"
                     "4:\tdsb ish\n\t"
                     "isb\n\t"
                     "str %[e], [%[make]]\n\t" /* the make, through the alias */
                     "dsb ishst\n\t"
                     "isb\n\t"
                     "cbz %[aslot], 5f\n\t"
                     "str xzr, [%[aslot]]\n\t" /* the alias goes */
                     "dsb ishst\n\t"
                     "tlbi vae1is, %[apage]\n\t"
                     "dsb ish\n\t"
                     "isb\n"
                     "5:"
                     : [first] "+r"(first), [pages] "+r"(pages)
                     : [aslot] "r"(alias_slot), [alias] "r"(alias), [slot] "r"(slot), [e] "r"(e), [make] "r"(make),
                       [apage] "r"(alias_page)
                     : "memory", "cc");
    a64_sysreg_write(daif, daif);
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
