/* arch/riscv64/boot.c - from entry.S to kmain: the device tree, the paging
 * mode, the memory regions, and the arch services of kernel/arch.h that
 * have nowhere better to live (exit, cpu features, trap init). */
#include "boot_regions.h"
#include "early_paging.h"
#include "hart.h"
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "riscv.h"
#include "sbi.h"

extern char rv_trap_entry[];
extern char rv_stack_guard[], rv_stack_guard_end[]; /* entry.S */

#define RV_CMDLINE_MAX 1024
#define RV_IDENTITY_LIMIT (RV_U64(4) << 30) /* entry.S identity-maps physical 0..4 GiB */

static fdt_info_t rv_dt;
uint64_t rv_timebase_hz;
static char rv_cmdline[RV_CMDLINE_MAX];
static boot_info_t rv_boot_info;

/* Called by entry.S in the higher half on the boot Sv39 table, with the hart
 * id and the physical address of the device tree (identity-mapped below
 * 4 GiB until rv_paging_init replaces the table). */
_Noreturn void rv_boot(uint64_t hartid, uint64_t dtb_pa);
_Noreturn void rv_boot(uint64_t hartid, uint64_t dtb_pa)
{
    rv_console_init();
    arch_trap_init();

    if (dtb_pa == 0 || dtb_pa + FDT_HEADER_SIZE > RV_IDENTITY_LIMIT)
        panic("device tree at %lx is outside the boot identity map", (unsigned long)dtb_pa);
    const void *dtb = (const void *)(uintptr_t)dtb_pa;
    long total = fdt_total_size(dtb, FDT_HEADER_SIZE);
    if (total < 0)
        panic("device tree at %lx: %s", (unsigned long)dtb_pa, fdt_strerror((int)total));
    if (dtb_pa + (uint64_t)total > RV_IDENTITY_LIMIT)
        panic("device tree at %lx (%ld bytes) crosses 4 GiB", (unsigned long)dtb_pa, total);
    int err = fdt_parse(dtb, (size_t)total, &rv_dt);
    if (err)
        panic("device tree at %lx: %s", (unsigned long)dtb_pa, fdt_strerror(err));

    rv_timebase_hz = rv_dt.timebase_hz;
    rv_smp_boot_init(hartid, &rv_dt);
    /* User code may read the time CSR (the bench program's cycle counter);
     * firmware decides for M-mode (mcounteren.TM), this for U-mode. */
    csr_set(scounteren, RV_SCOUNTEREN_TM);

    size_t n = 0;
    for (const char *s = rv_dt.bootargs; *s && n + 1 < sizeof rv_cmdline; s++)
        rv_cmdline[n++] = *s;
    rv_cmdline[n] = 0;
    if (rv_dt.bootargs[n])
        printk("riscv64: command line cut to %zu bytes\n", n);

    char mode[16];
    const char *cap = cmdline_get(rv_cmdline, "paging", mode, sizeof mode) ? mode : NULL;
    const hal_geometry_t *g = rv_paging_init(&rv_dt, cap);
    /* From here the device tree is only reachable through the direct map,
     * and rv_dt.bootargs is stale: rv_cmdline holds the copy. */
    rv_dt.bootargs = rv_cmdline;

    boot_info_t *bi = &rv_boot_info;
    bi->kernel_phys_start = RV_KVA_TO_PA(_kernel_start);
    bi->kernel_phys_end = RV_KVA_TO_PA(_kernel_end);
    bi->cmdline = rv_cmdline;
    bi->geometry = g;
    bi->direct_map_base = RV_DIRECT_MAP_BASE;
    bi->stack_guard_start = (ptr_t)rv_stack_guard;
    bi->stack_guard_end = (ptr_t)rv_stack_guard_end;
    bool firmware_default = false;
    if (rv_boot_regions(bi, &rv_dt, dtb_pa, &firmware_default))
        panic("more than %d memory regions in the device tree", BOOT_MAX_REGIONS);
    if (firmware_default)
        printk("riscv64: no reserved-memory for the firmware, reserving %llx-%llx\n",
               (unsigned long long)RV_OPENSBI_DEFAULT_BASE,
               (unsigned long long)(RV_OPENSBI_DEFAULT_BASE + RV_OPENSBI_DEFAULT_SIZE - 1));

    printk("riscv64: hart %lu, device tree at %lx, SBI console %s, paging %s (sv57 %s, sv48 %s, sv39 %s)%s%s\n",
           (unsigned long)hartid, (unsigned long)dtb_pa, rv_console_kind(), g->name,
           rv_paging_mode_supported("sv57") ? "yes" : "no", rv_paging_mode_supported("sv48") ? "yes" : "no",
           rv_paging_mode_supported("sv39") ? "yes" : "no", cap ? ", capped by paging=" : "", cap ? cap : "");
    kmain(bi);
}

void arch_trap_init(void)
{
    csr_write(stvec, (uintptr_t)rv_trap_entry);
    csr_write(sscratch, 0);
}

static bool str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Paging modes as probed at boot. The arch-neutral boot tests ask for three
 * protections by their x86 names; every paging riscv64 hart has them:
 * "nx" (a leaf without X never executes), "smap" (S-mode touches U pages
 * only with sstatus.SUM, set in the copy helpers alone) and "smep" (S-mode
 * never executes U pages). Svpbmt is not used: "svpbmt" is false. */
bool arch_cpu_has(const char *feature)
{
    if (str_eq(feature, "nx") || str_eq(feature, "smap") || str_eq(feature, "smep"))
        return true;
    return rv_paging_mode_supported(feature);
}

_Noreturn void arch_exit(int code)
{
    uint32_t status = code & 0xffff;
    if (code != 0 && status == 0)
        status = 1; /* a failure must not read as success */
    uint32_t v = code == 0 ? RV_SIFIVE_TEST_PASS : RV_SIFIVE_TEST_FAIL | status << 16;
    csr_clear(sstatus, SSTATUS_SIE);
    volatile uint32_t *dev = (volatile uint32_t *)(uintptr_t)(RV_DIRECT_MAP_BASE + RV_SIFIVE_TEST_PHYS);
    if (rv_early_root() == 0) /* still on entry.S's table: physical 0..4 GiB is identity-mapped */
        dev = (volatile uint32_t *)(uintptr_t)RV_SIFIVE_TEST_PHYS;
    else if (hal_mmu_active_root() != rv_early_root())
        hal_mmu_activate(rv_early_root(), rv_early_root()); /* they map the device whatever the kernel did to its own */
    *dev = v;
    arch_halt();
}

_Noreturn void arch_halt(void)
{
    csr_clear(sstatus, SSTATUS_SIE);
    for (;;)
        __asm__ volatile("wfi");
}
