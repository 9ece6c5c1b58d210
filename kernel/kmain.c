/* kernel/kmain.c - bring-up of the generic kernel: traps, the memory
 * manager over the boot regions, the kernel context (direct map of all RAM,
 * the image W^X), the other CPUs, then the boot tests or the demo. */
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/kstack.h"
#include "kernel/ktest.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "mm/paging.h"

const boot_info_t *kernel_boot_info;

__attribute__((weak)) void arch_map_kernel_devices(mm_context_t *k) { (void)k; }
ptr_t kernel_image_offset;

void kernel_print_memory_map(const boot_info_t *bi)
{
    uint64_t usable = 0;
    printk("\n== memory map (%zu regions: the boot loader's, then the ranges the kernel keeps out)\n", bi->nregions);
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        printk("  %016llx-%016llx %10llu KiB  %s\n", (unsigned long long)r->base, (unsigned long long)(r->base + r->size),
               (unsigned long long)(r->size >> 10), r->usable ? "usable" : "reserved");
        if (r->usable)
            usable += r->size;
    }
    printk("  usable RAM: %llu MiB; kernel image %llx-%llx\n", (unsigned long long)(usable >> 20),
           (unsigned long long)bi->kernel_phys_start, (unsigned long long)bi->kernel_phys_end);
}

/* Maps every usable region at direct_map_base + its address (huge leaves
 * where aligned: mm_map_kernel_pages picks them). */
static void map_direct_map(mm_context_t *k, const boot_info_t *bi)
{
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        if (!r->usable)
            continue;
        uint64_t start = ALIGN_UP(r->base, PAGE_SIZE), end = ALIGN_DOWN(r->base + r->size, PAGE_SIZE);
        if (end <= start)
            continue;
        mm_map_kernel_pages(k, bi->direct_map_base + (ptr_t)start, start >> PAGE_SHIFT, (end - start) >> PAGE_SHIFT,
                            VM_RW | VM_GLOBAL);
    }
}

static void map_image_part(mm_context_t *k, const char *start, const char *end, vm_flags flags)
{
    ptr_t va = (ptr_t)start;
    size_t npages = (size_t)(end - start) >> PAGE_SHIFT;
    if (npages)
        mm_map_kernel_pages(k, va, (va - kernel_image_offset) >> PAGE_SHIFT, npages, flags | VM_GLOBAL);
}

/* The kernel image W^X: text read+exec, rodata read-only, data and bss
 * read+write without exec; the stack guard page stays unmapped. */
static void map_kernel_image(mm_context_t *k, const boot_info_t *bi)
{
    map_image_part(k, _text_start, _text_end, VM_RX);
    map_image_part(k, _rodata_start, _rodata_end, VM_READ);
    ptr_t guard = bi->stack_guard_start, guard_end = bi->stack_guard_end;
    if (guard == guard_end) {
        map_image_part(k, _data_start, _kernel_end, VM_RW);
        return;
    }
    if (guard < (ptr_t)_data_start || guard_end > (ptr_t)_kernel_end || guard > guard_end || (guard | guard_end) & PAGE_MASK)
        panic("stack guard %lx-%lx is not a page range inside the data part %p-%p", (unsigned long)guard,
              (unsigned long)guard_end, (void *)_data_start, (void *)_kernel_end);
    map_image_part(k, _data_start, (const char *)guard, VM_RW);
    map_image_part(k, (const char *)guard_end, _kernel_end, VM_RW);
}

/* Eats 512 bytes of stack per call until the stack runs out (the limit is
 * far beyond any kernel stack). */
static volatile unsigned long recurse_limit = 1ul << 40;
__attribute__((noinline)) static unsigned long recurse(unsigned long depth)
{
    volatile uint8_t pad[512];
    pad[0] = (uint8_t)depth;
    if (depth >= recurse_limit)
        return depth;
    return depth + recurse(depth + 1) + pad[0];
}

/* Overflows a process kernel stack (kernel/kstack.h) into its guard. */
_Noreturn static void kstack_overflow_entry(void)
{
    printk("kmm: recursion returned %lu\n", (unsigned long)recurse(1));
    arch_exit(1);
}

/* Stops the kernel on purpose with an access nothing can resolve, so that
 * the harness can check the report
 * (ktest.crash=rodata-write|noncanonical|stack-overflow|kstack-overflow). */
_Noreturn static void kernel_crash(const char *kind)
{
    printk("kmm: crashing on purpose: %s\n", kind);
    if (strcmp(kind, "rodata-write") == 0)
        *(volatile uint8_t *)_rodata_start = 0x55;
    else if (strcmp(kind, "noncanonical") == 0)
        (void)*(volatile uint8_t *)(hal_user_end(kernel_geometry) + 0x1000);
    else if (strcmp(kind, "stack-overflow") == 0)
        printk("kmm: recursion returned %lu\n", (unsigned long)recurse(1));
    else if (strcmp(kind, "kstack-overflow") == 0) {
        static kstack_t ks;
        static ptr_t boot_sp;
        if (kstack_alloc(&ks) != 0)
            panic("no kernel stack for the crash test");
        arch_switch_stack(&boot_sp, arch_kstack_init_call(kstack_top(&ks), kstack_overflow_entry));
    }
    else
        panic("unknown ktest.crash kind '%s'", kind);
    printk("kmm: the access did not fault\n");
    arch_exit(1);
}

_Noreturn void kmain(boot_info_t *bi)
{
    kernel_boot_info = bi;
    kernel_direct_map_base = bi->direct_map_base;
    kernel_geometry = bi->geometry;
    kernel_image_offset = (ptr_t)_kernel_start - (ptr_t)bi->kernel_phys_start;
    printk("\nkmm: %s kernel, paging %s, command line '%s'\n", HAL_ARCH_NAME, bi->geometry->name, bi->cmdline);
    arch_trap_init();
    kernel_print_memory_map(bi);

    mm_boot_info_t info = { .geometry = bi->geometry, .regions = bi->regions, .nregions = bi->nregions };
    int err = mm_init(&info);
    if (err)
        panic("mm_init failed with %d (%zu regions)", err, bi->nregions);
    mm_context_t *k = mm_kernel_context();
    map_direct_map(k, bi);
    map_kernel_image(k, bi);
    arch_map_kernel_devices(k);
    kernel_switch_context(k);
    printk("kmm: kernel context active (root frame %llx)\n", (unsigned long long)k->pgd);
    /* The other CPUs, on the kernel context: `smp=N` caps the count (0 or
     * absent: all the firmware reports). */
    unsigned ncpus = 0;
    if (cmdline_get_uint(bi->cmdline, "smp", &ncpus) == -EINVAL)
        panic("smp= wants a number of CPUs, command line '%s'", bi->cmdline);
    smp_init(ncpus);
    kernel_print_counts("after boot");

    char crash[32];
    if (cmdline_get(bi->cmdline, "ktest.crash", crash, sizeof(crash)))
        kernel_crash(crash);
    if (cmdline_has(bi->cmdline, "bench"))
        arch_exit(kernel_bench());
    if (cmdline_has(bi->cmdline, "ktest")) {
        char filter[64] = "", exclude[64] = "";
        cmdline_get(bi->cmdline, "ktest.filter", filter, sizeof(filter));
        cmdline_get(bi->cmdline, "ktest.exclude", exclude, sizeof(exclude));
        int failures = ktest_run_all(filter, exclude);
        arch_exit(failures ? 1 : 0);
    }
    kernel_demo();
    printk("kmm: powering off\n");
    arch_exit(0);
}
