/* hal/riscv64/mmu.c - the privileged MMU operations of hal.h for riscv64.
 *
 * No ASIDs: every satp write is followed by a full sfence.vma, and each
 * invalidation uses the rs2 = x0 form, which also drops global (kernel)
 * translations, so kernel-half ranges are covered whatever is active.
 * An `end` of 0 stands for the top of the address space. */
#include "hal/hal.h"
#include "riscv.h"

/* Above this many pages one flush of everything is cheaper than a
 * sfence.vma per page (Linux uses a similar ceiling). */
#define RV_TLB_FLUSH_PAGES 64

static uint64_t rv_satp_mode = SATP_MODE_SV39;

/* Set the MODE used by hal_mmu_activate (early_paging.c, once at boot). */
void rv_mmu_set_mode(uint64_t satp_mode) { rv_satp_mode = satp_mode; }

/* The satp MODE in force for the kernel's address spaces. */
uint64_t rv_mmu_mode(void) { return rv_satp_mode; }

void hal_tlb_invalidate(pfn_t root, ptr_t start, ptr_t end)
{
    if (end == start)
        return;
    ptr_t va = ALIGN_DOWN(start, PAGE_SIZE);
    /* Activation flushes everything, so an inactive root has nothing of its
     * user half cached; the kernel half (top half in every mode) is shared. */
    if (!(va >> 63) && root != hal_mmu_active_root())
        return;
    /* Counted in pages so that an end at the top of the address space
     * (0 after wrapping) still works. */
    ptr_t pages = (end - va + PAGE_MASK) >> PAGE_SHIFT;
    if (pages > RV_TLB_FLUSH_PAGES) {
        rv_sfence_all();
        return;
    }
    for (; pages; pages--, va += PAGE_SIZE)
        rv_sfence_page(va);
}

void hal_tlb_invalidate_all(pfn_t root)
{
    (void)root;
    rv_sfence_all();
}

/* The sfence.vma of the invalidations orders the stores before them for
 * the walker; an entry it has not seen yet is a spurious fault that the
 * generic fault path invalidates and retries. */
void hal_tables_sync(void) { __asm__ volatile("" ::: "memory"); }

void hal_mmu_activate(pfn_t root, pfn_t kernel_root)
{
    (void)kernel_root; /* one root: its kernel half is the kernel context's */
    csr_write(satp, rv_satp_mode << SATP_MODE_SHIFT | (root & SATP_PPN_MASK));
    rv_sfence_all();
}

pfn_t hal_mmu_active_root(void) { return csr_read(satp) & SATP_PPN_MASK; }
