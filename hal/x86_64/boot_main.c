/* hal/x86_64/boot_main.c - the first C code, in long mode on the early
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

static void mb2_parse(uint64_t mbi_pa)
{
    const uint8_t *mbi = early_phys(mbi_pa);
    uint32_t total = *(const uint32_t *)(const void *)mbi;
    boot_info_t *bi = &boot_info;
    bi->cmdline = "";

    uint64_t ram_end = 0;
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

    /* Kept out of the allocator: the first MiB (BIOS data, real-mode IVT,
     * EBDA), the kernel image, the boot information itself. */
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
