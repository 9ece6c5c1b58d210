/* arch/aarch64/boot.c - from entry.S to kmain: the device tree, the early
 * tables, the memory regions, and the arch services of kernel/arch.h that
 * have nowhere better to live (console, exit, cpu features, trap init, the
 * devices the kernel context maps). */
#include "a64.h"
#include "cpu.h"
#include "early_paging.h"
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/ptwalk.h"
#include "mm/mm.h"

extern char a64_vectors[];
extern char a64_stack_guard[], a64_stack_guard_end[]; /* entry.S */

_Static_assert(A64_MAIR_VALUE == A64_MAIR_VALUE_ASM, "cpu.h's copy of the MAIR value");

#define A64_CMDLINE_MAX 1024
#define A64_IDENTITY_LIMIT (A64_U64(4) << 30) /* entry.S identity-maps physical 0..4 GiB */
#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_TXFF (1u << 5)

static fdt_info_t a64_dt;
static char a64_cmdline[A64_CMDLINE_MAX];
static boot_info_t a64_boot_info;
/* The PL011: identity-mapped by entry.S, then in the device window. */
static volatile uint32_t *uart = (volatile uint32_t *)(uintptr_t)A64_PL011_PHYS;
static bool pan;

void arch_console_putc(char c)
{
    if (c == '\n')
        arch_console_putc('\r');
    while (uart[PL011_FR / 4] & PL011_FR_TXFF)
        ;
    uart[PL011_DR / 4] = (uint8_t)c;
}

uint64_t a64_counter_hz(void) { return a64_sysreg_read(cntfrq_el0); }
bool a64_has_pan(void) { return pan; }

void a64_cpu_setup(void)
{
    uint64_t mmfr1 = a64_sysreg_read(id_aa64mmfr1_el1);
    if (((mmfr1 >> 20) & 0xf) == 0)
        panic("the CPU has no FEAT_PAN, which this kernel needs (QEMU: -cpu max)");
    __asm__ volatile(".inst 0xd500419f" ::: "memory"); /* msr pan, #1 */
    pan = true;
    a64_sysreg_write(cntkctl_el1, A64_CNTKCTL_EL0VCTEN);
}

/* The device tree: where x0 says (a Linux Image's protocol), else at the
 * start of RAM, where QEMU puts it for an ELF. */
static uint64_t find_dtb(uint64_t x0)
{
    if (x0 && x0 + FDT_HEADER_SIZE <= A64_IDENTITY_LIMIT && fdt_total_size((const void *)(uintptr_t)x0, FDT_HEADER_SIZE) > 0)
        return x0;
    return A64_RAM_BASE;
}

/* Every /memory region usable; every reserved region of the tree, the tree
 * itself and the image reserved. */
static int boot_regions(boot_info_t *bi, const fdt_info_t *dt, uint64_t dtb_pa)
{
    int err = 0;
    for (size_t i = 0; i < dt->nmemory && !err; i++)
        err = boot_add_region(bi, dt->memory[i].base, dt->memory[i].size, true);
    for (size_t i = 0; i < dt->nreserved && !err; i++)
        err = boot_add_region(bi, dt->reserved[i].base, dt->reserved[i].size, false);
    uint64_t dtb_base = ALIGN_DOWN(dtb_pa, PAGE_SIZE);
    if (!err)
        err = boot_add_region(bi, dtb_base, ALIGN_UP(dtb_pa + dt->total_size, PAGE_SIZE) - dtb_base, false);
    if (!err)
        err = boot_add_region(bi, bi->kernel_phys_start, bi->kernel_phys_end - bi->kernel_phys_start, false);
    return err;
}

static bool str_eq(const char *a, const char *b);

/* The geometry to boot in: the widest the CPU has (aarch64-5level where
 * ID_AA64MMFR0_EL1.TGran4 says FEAT_LPA2), capped by paging=4level;
 * paging=5level on a CPU without LPA2 falls back to aarch64-4level with a
 * message, as riscv64's paging= cap falls back to the widest mode the hart
 * takes. Panics on another paging= value or without 4 KiB granules. */
static const hal_geometry_t *choose_geometry(const char *cmdline, uint64_t mmfr0)
{
    char mode[16];
    bool capped = cmdline_get(cmdline, "paging", mode, sizeof mode);
    if (capped && !str_eq(mode, "5level") && !str_eq(mode, "4level"))
        panic("unknown paging mode '%s' (5level or 4level)", mode);
    const hal_geometry_t *g = a64_choose_geometry(mmfr0, !capped || str_eq(mode, "5level"));
    if (!g)
        panic("the CPU has no 4 KiB granule (ID_AA64MMFR0_EL1 %lx)", (unsigned long)mmfr0);
    if (capped && str_eq(mode, "5level") && g->levels != 5)
        printk("aarch64: paging=5level, but the CPU has no FEAT_LPA2 with 4 KiB granules (TGran4 %u): %s\n",
               a64_mmfr0_tgran4(mmfr0), g->name);
    return g;
}

/* The exception level QEMU entered the kernel at (entry.S drops from 2 to 1). */
unsigned a64_entry_el;

/* Called by entry.S in the higher half on the boot tables, with x0 as QEMU
 * left it and the exception level it entered at. */
_Noreturn void a64_boot(uint64_t x0, uint64_t entry_el);
_Noreturn void a64_boot(uint64_t x0, uint64_t entry_el)
{
    a64_entry_el = (unsigned)entry_el;
    a64_cpu_setup();

    uint64_t dtb_pa = find_dtb(x0);
    const void *dtb = (const void *)(uintptr_t)dtb_pa;
    long total = fdt_total_size(dtb, FDT_HEADER_SIZE);
    if (total < 0)
        panic("device tree at %lx: %s", (unsigned long)dtb_pa, fdt_strerror((int)total));
    if (dtb_pa + (uint64_t)total > A64_IDENTITY_LIMIT)
        panic("device tree at %lx (%ld bytes) crosses 4 GiB", (unsigned long)dtb_pa, total);
    int err = fdt_parse(dtb, (size_t)total, &a64_dt);
    if (err)
        panic("device tree at %lx: %s", (unsigned long)dtb_pa, fdt_strerror(err));

    size_t n = 0;
    for (const char *s = a64_dt.bootargs; *s && n + 1 < sizeof a64_cmdline; s++)
        a64_cmdline[n++] = *s;
    a64_cmdline[n] = 0;
    if (a64_dt.bootargs[n])
        printk("aarch64: command line cut to %zu bytes\n", n);
    a64_smp_boot_init(&a64_dt);

    uint64_t mmfr0 = a64_read_mmfr0();
    const hal_geometry_t *g = choose_geometry(a64_cmdline, mmfr0);
    a64_paging_init(&a64_dt, g);
    /* From here only the direct map reaches the device tree. */
    uart = (volatile uint32_t *)(uintptr_t)(A64_DEVICE_BASE + A64_PL011_PHYS);
    a64_dt.bootargs = a64_cmdline;

    boot_info_t *bi = &a64_boot_info;
    bi->kernel_phys_start = A64_KVA_TO_PA(_kernel_start);
    bi->kernel_phys_end = A64_KVA_TO_PA(_kernel_end);
    bi->cmdline = a64_cmdline;
    bi->geometry = g;
    bi->direct_map_base = A64_DIRECT_MAP_BASE;
    bi->stack_guard_start = (ptr_t)a64_stack_guard;
    bi->stack_guard_end = (ptr_t)a64_stack_guard_end;
    if (boot_regions(bi, &a64_dt, dtb_pa))
        panic("more than %d memory regions in the device tree", BOOT_MAX_REGIONS);
    a64_gic_init_cpu();

    printk("aarch64: entered at EL%u, running at EL%lu, device tree at %lx, PL011 console, counter %lu Hz, PAN on\n",
           a64_entry_el, (unsigned long)((a64_sysreg_read(CurrentEL) >> 2) & 3), (unsigned long)dtb_pa, (unsigned long)a64_counter_hz());
    printk("aarch64: paging %s, TGran4 %u (LPA2 %s), PARange %u bits, TCR_EL1 %lx\n", g->name,
           a64_mmfr0_tgran4(mmfr0), a64_mmfr0_has_lpa2(mmfr0) ? "yes" : "no",
           a64_parange_bits((unsigned)(mmfr0 & A64_MMFR0_PARANGE_MASK)), (unsigned long)a64_sysreg_read(tcr_el1));
    kmain(bi);
}

void arch_trap_init(void)
{
    a64_sysreg_write(vbar_el1, (uintptr_t)a64_vectors);
    a64_isb();
}

extern char _kernel_start[];

/* The devices at the same addresses as in the early tables (cpu.h), and
 * hal_break_make's alias page: its level-1 entry, left invalid, in the
 * table an anchor page (the image's first, read-only) keeps. */
void arch_map_kernel_devices(mm_context_t *k)
{
    for (size_t i = 0; i < a64_device_count; i++)
        mm_map_kernel_pages(k, A64_DEVICE_BASE + a64_devices[i].phys, a64_devices[i].phys >> PAGE_SHIFT,
                            a64_devices[i].size >> PAGE_SHIFT, VM_RW | VM_CACHE_DISABLED | VM_GLOBAL);
    mm_map_kernel_pages(k, A64_BREAK_ALIAS_VA - PAGE_SIZE, A64_KVA_TO_PA((ptr_t)_kernel_start) >> PAGE_SHIFT, 1,
                        VM_READ | VM_GLOBAL);
    pt_step_t steps[HAL_MAX_LEVELS];
    size_t n = pt_walk_path(k->pgd, kernel_geometry, A64_BREAK_ALIAS_VA, steps);
    if (n == 0 || steps[n - 1].level != 1 || hal_pte_present(steps[n - 1].entry))
        panic("no level-1 table for the break alias at %lx", (unsigned long)A64_BREAK_ALIAS_VA);
    a64_set_break_alias(&((pte_t *)pfn_va(steps[n - 1].table))[steps[n - 1].index], A64_BREAK_ALIAS_VA);
}

static bool str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* The protections under their x86 names: "nx" (UXN / PXN), "smep" (every
 * user page is PXN), "smap" (PSTATE.PAN, cleared in the copy helpers
 * alone), and "pan" by its own name. Unknown names are false. */
bool arch_cpu_has(const char *feature)
{
    if (str_eq(feature, "nx") || str_eq(feature, "smep"))
        return true;
    if (str_eq(feature, "smap") || str_eq(feature, "pan"))
        return pan;
    return false;
}

/* Semihosting SYS_EXIT (operation 0x18, HLT #0xF000) with the extended
 * reason ADP_Stopped_ApplicationExit: QEMU (-semihosting) exits with the
 * status in the block's second word. */
volatile bool a64_exiting;

_Noreturn void arch_exit(int code)
{
    uint64_t status = code == 0 ? 0 : (code & 0xff) ? (uint64_t)(code & 0xff) : 1; /* a failure never reads as success */
    volatile uint64_t block[2] = { 0x20026, status };
    register uint64_t op __asm__("x0") = 0x18;
    register uint64_t arg __asm__("x1") = (uint64_t)(uintptr_t)block;
    /* Without -semihosting the HLT is an undefined instruction: a64_trap
     * halts the CPU then instead of reporting (and exiting) again. */
    a64_exiting = true;
    __asm__ volatile("msr daifset, #2\n\thlt #0xf000" : "+r"(op) : "r"(arg) : "memory");
    arch_halt();
}

_Noreturn void arch_halt(void)
{
    for (;;)
        __asm__ volatile("msr daifset, #2\n\twfi" ::: "memory");
}
