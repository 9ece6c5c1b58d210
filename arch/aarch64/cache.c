/* arch/aarch64/cache.c - instruction-cache maintenance for code the kernel
 * writes (cache.h): the ELF loader's executable segments. */
#include "cache.h"

#include <stdatomic.h>

#include "a64.h"
#include "kernel/arch.h"

a64_icache_sync_t a64_sync_icache(uint64_t ctr, ptr_t start, size_t len)
{
    a64_icache_sync_t done = { 0, 0 };
    if (len == 0)
        return done;
    ptr_t end = start + len;
    if (!(ctr & A64_CTR_IDC)) {
        size_t line = a64_dcache_line(ctr);
        for (ptr_t a = ALIGN_DOWN(start, line); a < end; a += line, done.dc_lines++)
            __asm__ volatile("dc cvau, %0" ::"r"(a) : "memory");
    }
    a64_dsb_ish(); /* the cleaned lines (or, with IDC, the stores) before the invalidation */
    if (!(ctr & A64_CTR_DIC)) {
        size_t line = a64_icache_line(ctr);
        for (ptr_t a = ALIGN_DOWN(start, line); a < end; a += line, done.ic_lines++)
            __asm__ volatile("ic ivau, %0" ::"r"(a) : "memory");
        a64_dsb_ish();
    }
    a64_isb();
    return done;
}

_Atomic uint64_t a64_icache_syncs, a64_icache_synced_bytes;

void arch_sync_icache_range(ptr_t start, size_t len)
{
    (void)a64_sync_icache(a64_sysreg_read(ctr_el0), start, len);
    atomic_fetch_add(&a64_icache_syncs, 1);
    atomic_fetch_add(&a64_icache_synced_bytes, len);
}
