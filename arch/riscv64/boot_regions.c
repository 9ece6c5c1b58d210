/* arch/riscv64/boot_regions.c - the boot_info_t regions of a riscv64 machine
 * from its device tree. Pure (host-tested in tests/unit/test_fdt.c). */
#include "boot_regions.h"

#include "riscv.h"

/* Does a reserved region of the device tree cover physical address pa? */
static bool dt_reserves(const fdt_info_t *dt, uint64_t pa)
{
    for (size_t i = 0; i < dt->nreserved; i++)
        if (pa >= dt->reserved[i].base && pa - dt->reserved[i].base < dt->reserved[i].size)
            return true;
    return false;
}

int rv_boot_regions(boot_info_t *bi, const fdt_info_t *dt, uint64_t dtb_pa, bool *firmware_default)
{
    size_t n0 = bi->nregions;
    int err = 0;
    for (size_t i = 0; i < dt->nmemory && !err; i++)
        err = boot_add_region(bi, dt->memory[i].base, dt->memory[i].size, true);
    for (size_t i = 0; i < dt->nreserved && !err; i++)
        err = boot_add_region(bi, dt->reserved[i].base, dt->reserved[i].size, false);
    /* OpenSBI says where it lives in /reserved-memory; older firmware does not. */
    bool fw = !dt_reserves(dt, RV_OPENSBI_DEFAULT_BASE);
    if (fw && !err)
        err = boot_add_region(bi, RV_OPENSBI_DEFAULT_BASE, RV_OPENSBI_DEFAULT_SIZE, false);
    uint64_t dtb_base = ALIGN_DOWN(dtb_pa, PAGE_SIZE);
    if (!err)
        err = boot_add_region(bi, dtb_base, ALIGN_UP(dtb_pa + dt->total_size, PAGE_SIZE) - dtb_base, false);
    if (!err)
        err = boot_add_region(bi, bi->kernel_phys_start, bi->kernel_phys_end - bi->kernel_phys_start, false);
    if (err) {
        bi->nregions = n0;
        return err;
    }
    if (firmware_default)
        *firmware_default = fw;
    return 0;
}
