/* hal/x86_64/mmu.c - the MMU operations of the HAL contract: TLB
 * invalidation and address-space switches (CR3). No PCID: loading CR3
 * drops every non-global translation, so a root that is not active holds no
 * user-half TLB entries. Kernel-half mappings are global (VM_GLOBAL) and
 * survive CR3 loads; they are invalidated whatever is active. */
#include "hal/hal.h"
#include "x86_cr.h"

/* Above this many pages one full flush is cheaper than invlpg per page. */
#define X86_INVLPG_MAX_PAGES 32

static pfn_t active_root(void) { return (read_cr3() & X86_CR3_ADDR) >> PAGE_SHIFT; }

/* Flushes every translation, global ones included (toggling CR4.PGE when
 * global pages are on, reloading CR3 otherwise). */
static void flush_everything(void)
{
    uint64_t cr4 = read_cr4();
    if (cr4 & X86_CR4_PGE) {
        write_cr4(cr4 & ~X86_CR4_PGE);
        write_cr4(cr4);
    } else {
        write_cr3(read_cr3());
    }
}

void hal_tlb_invalidate(pfn_t root, ptr_t start, ptr_t end)
{
    /* end == 0 stands for the top of the address space. */
    if (end != 0 && end <= start)
        return;
    ptr_t first = ALIGN_DOWN(start, PAGE_SIZE), last = end - 1;
    bool kernel_range = first >> 63; /* the kernel half is the top half in both geometries */
    if (!kernel_range && root != active_root())
        return; /* nothing of an inactive root's user half can be cached */
    if ((last - first) / PAGE_SIZE >= X86_INVLPG_MAX_PAGES) {
        flush_everything();
        return;
    }
    for (ptr_t va = first;; va += PAGE_SIZE) {
        invlpg(va);
        if (last - va < PAGE_SIZE)
            break;
    }
}

void hal_tlb_invalidate_all(pfn_t root)
{
    (void)root; /* the kernel half is shared by every root: flush it all */
    flush_everything();
}

/* x86's walker reads the tables coherently with the CPU's own stores. */
void hal_tables_sync(void) { __asm__ volatile("" ::: "memory"); }

void hal_mmu_activate(pfn_t root, pfn_t kernel_root)
{
    (void)kernel_root; /* one root: its kernel half is the kernel context's */
    write_cr3((uint64_t)root << PAGE_SHIFT);
}

pfn_t hal_mmu_active_root(void) { return active_root(); }
