/* arch/x86_64/boot_main.c - the first C code, in long mode on the early
 * tables: console and CPU setup, the multiboot2 information turned into the
 * generic boot_info_t, the command line in force (QEMU fw_cfg's, read by
 * boot.S, else the boot loader's), then kmain. */
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/lib/string.h"
#include "kernel/printk.h"
#include "x86.h"

#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_MODULE 3
#define MB2_TAG_MMAP 6
#define MB2_TAG_ACPI_OLD 14 /* a copy of the ACPI 1.0 RSDP */
#define MB2_TAG_ACPI_NEW 15 /* a copy of the ACPI 2.0+ RSDP */
#define MB2_MMAP_AVAILABLE 1

#define EARLY_MAP_LIMIT (4ull << 30) /* the early tables map [0, 4 GiB) */

extern uint64_t x86_early_pdpt_low[512];
extern char _stack_guard_start[], _stack_guard_end[]; /* kernel.ld */
/* boot.S: the fw_cfg file opt/kmm/cmdline, if present is 1: its first
 * sizeof(cmdline_copy) - 1 bytes, NUL-terminated, and its whole size. */
extern uint32_t x86_fwcfg_cmdline_present, x86_fwcfg_cmdline_size;
extern char x86_fwcfg_cmdline[];

static boot_info_t boot_info;
/* The geometry in force: the arch's table entry, without 1 GiB leaves on a
 * CPU that lacks them (CPUID PDPE1GB). */
static hal_geometry_t geometry;
static char cmdline_copy[512];
/* What the early direct map reaches (mb2_parse sets it). */
static uint64_t early_limit = EARLY_MAP_LIMIT;

static void *early_phys(uint64_t pa) { return (void *)(uintptr_t)(X86_DIRECT_MAP_BASE + pa); }

/* Extends the early direct map with 1 GiB leaves up to `end` (max 512 GiB)
 * when the CPU has them. Returns the new limit of the early direct map. */
static uint64_t early_extend_direct_map(uint64_t end)
{
    if (end <= EARLY_MAP_LIMIT || !x86_features.pdpe1gb)
        return EARLY_MAP_LIMIT;
    uint64_t gib = MIN((end + (1ull << 30) - 1) >> 30, 512ull);
    for (uint64_t i = 4; i < gib; i++)
        x86_early_pdpt_low[i] = (i << 30) | 0x83; /* P, RW, PS */
    write_cr3(read_cr3());
    return gib << 30;
}

/* ACPI tables through the early direct map (x86_acpi_find_cpus). */
static const void *early_acpi_map(uint64_t pa, size_t len)
{
    if (pa >= early_limit || len > early_limit - pa)
        return NULL;
    return early_phys(pa);
}

/* The lowest n pages in [4 KiB, 1 MiB) that the boot loader's map calls
 * usable and that no reserved region (a module, a firmware range) nor
 * [avoid, avoid_end) touches; 0 if there are none. */
static uint64_t find_low_pages(const boot_info_t *bi, uint64_t n, uint64_t avoid, uint64_t avoid_end)
{
    for (uint64_t pa = PAGE_SIZE; pa + n * PAGE_SIZE <= (1ull << 20); pa += PAGE_SIZE) {
        uint64_t end = pa + n * PAGE_SIZE;
        bool inside = false, clash = end > avoid && pa < avoid_end;
        for (size_t i = 0; i < bi->nregions; i++) {
            const mm_region_t *r = &bi->regions[i];
            if (r->usable && r->base <= pa && end <= r->base + r->size)
                inside = true;
            if (!r->usable && end > r->base && pa < r->base + r->size)
                clash = true;
        }
        if (inside && !clash)
            return pa;
    }
    return 0;
}

static void mb2_parse(uint64_t mbi_pa)
{
    const uint8_t *mbi = early_phys(mbi_pa);
    uint32_t total = *(const uint32_t *)(const void *)mbi;
    boot_info_t *bi = &boot_info;
    bi->cmdline = "";

    uint64_t ram_end = 0;
    const void *rsdp = NULL;
    size_t rsdp_len = 0;
    for (uint32_t off = 8; off + 8 <= total;) {
        const uint32_t *tag = (const uint32_t *)(const void *)(mbi + off);
        uint32_t type = tag[0], size = tag[1];
        if (type == MB2_TAG_END || size < 8 || off + size > total)
            break;
        if (type == MB2_TAG_CMDLINE) {
            size_t n = strnlen((const char *)(tag + 2), size - 8);
            if (n >= sizeof(cmdline_copy))
                n = sizeof(cmdline_copy) - 1;
            memcpy(cmdline_copy, tag + 2, n);
            cmdline_copy[n] = 0;
            bi->cmdline = cmdline_copy;
        } else if (type == MB2_TAG_MODULE) {
            if (boot_add_region(bi, tag[2], (uint64_t)tag[3] - tag[2], false))
                printk("x86: too many regions, module %x-%x not reserved\n", tag[2], tag[3]);
        } else if ((type == MB2_TAG_ACPI_NEW || (type == MB2_TAG_ACPI_OLD && !rsdp)) && size > 8) {
            rsdp = tag + 2; /* the new RSDP wins over the old one */
            rsdp_len = size - 8;
        } else if (type == MB2_TAG_MMAP) {
            uint32_t esize = tag[2];
            for (uint32_t e = 16; esize >= 24 && e + esize <= size; e += esize) {
                const uint8_t *ent = (const uint8_t *)tag + e;
                uint64_t base = *(const uint64_t *)(const void *)ent, len = *(const uint64_t *)(const void *)(ent + 8);
                uint32_t etype = *(const uint32_t *)(const void *)(ent + 16);
                bool usable = etype == MB2_MMAP_AVAILABLE;
                if (boot_add_region(bi, base, len, usable))
                    printk("x86: too many regions, %llx+%llx dropped\n", (unsigned long long)base, (unsigned long long)len);
                if (usable && base + len > ram_end)
                    ram_end = base + len;
            }
        }
        off += (size + 7) & ~7u;
    }

    /* The AP trampoline and its start-up tables: free pages below 1 MiB,
     * which the reservation below keeps out of the allocator for good. */
    x86_smp_set_low_pages(find_low_pages(bi, X86_SMP_LOW_PAGES, ALIGN_DOWN(mbi_pa, PAGE_SIZE),
                                         ALIGN_UP(mbi_pa + total, PAGE_SIZE)));
    /* Kept out of the allocator: the first MiB (BIOS data, real-mode IVT,
     * EBDA, the AP trampoline), the kernel image, the boot information itself. */
    boot_add_region(bi, 0, 1ull << 20, false);
    bi->kernel_phys_start = (uint64_t)(uintptr_t)_kernel_start - KERNEL_VMA;
    bi->kernel_phys_end = (uint64_t)(uintptr_t)_kernel_end - KERNEL_VMA;
    boot_add_region(bi, bi->kernel_phys_start, bi->kernel_phys_end - bi->kernel_phys_start, false);
    boot_add_region(bi, ALIGN_DOWN(mbi_pa, PAGE_SIZE), ALIGN_UP(mbi_pa + total, PAGE_SIZE) - ALIGN_DOWN(mbi_pa, PAGE_SIZE),
                    false);

    /* RAM the early direct map cannot reach is left out (the generic layer
     * reads every frame it manages through the direct map). */
    uint64_t limit = early_extend_direct_map(ram_end);
    if (ram_end > limit) {
        printk("x86: RAM above %llu GiB is not reachable early and is left unused\n", (unsigned long long)(limit >> 30));
        boot_add_region(bi, limit, ram_end - limit, false);
    }
    /* The CPUs, while the early tables still reach the ACPI tables (the
     * kernel context maps usable RAM only). */
    early_limit = limit;
    if (rsdp)
        x86_smp_discover(rsdp, rsdp_len, early_acpi_map);
}

/* Called by boot.S on the boot stack, with the multiboot2 information's
 * physical address and the paging levels chosen (4 or 5). */
_Noreturn void x86_boot_main(uint32_t mbi_pa, uint32_t levels);
_Noreturn void x86_boot_main(uint32_t mbi_pa, uint32_t levels)
{
    x86_serial_init();
    x86_cpu_init();
    boot_info.direct_map_base = X86_DIRECT_MAP_BASE;
    boot_info.stack_guard_start = (ptr_t)_stack_guard_start;
    boot_info.stack_guard_end = (ptr_t)_stack_guard_end;
    const hal_geometry_t *g = hal_geometry_find(levels == 5 ? "x86_64-5level" : "x86_64-4level");
    if (!g) {
        printk("x86: no geometry for %u-level paging\n", levels);
        arch_exit(1);
    }
    geometry = *g;
    if (!x86_features.pdpe1gb)
        geometry.leaf_levels &= ~(1u << 3);
    boot_info.geometry = &geometry;
    mb2_parse(mbi_pa);
    if (x86_fwcfg_cmdline_present) {
        printk("x86: command line from QEMU fw_cfg opt/kmm/cmdline (the boot loader's was '%s')\n",
               boot_info.cmdline);
        boot_info.cmdline = x86_fwcfg_cmdline;
        if (x86_fwcfg_cmdline_size >= sizeof(cmdline_copy))
            printk("x86: the fw_cfg command line has %u bytes: only the first %zu are used\n",
                   (unsigned)x86_fwcfg_cmdline_size, sizeof(cmdline_copy) - 1);
    }
    kmain(&boot_info);
}
