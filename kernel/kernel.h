/* kernel/kernel.h - what kmain sets up, for the tests and the demo. */
#pragma once

#include "kernel/boot.h"
#include "mm/mm.h"

/* The boot information kmain was started with. */
extern const boot_info_t *kernel_boot_info;
/* The kernel image's virtual minus physical address. */
extern ptr_t kernel_image_offset;

/* Prints the memory map, a ptdump of the kernel half, frame statistics and a
 * guided walk through the paging API (kernel/demo.c). */
void kernel_demo(void);
/* Prints pmm and mm counters on one or two lines, prefixed by label. */
void kernel_print_counts(const char *label);
/* Prints the regions of the boot information. */
void kernel_print_memory_map(const boot_info_t *bi);
/* Bench mode (command line "bench"): measures the fault paths and the
 * per-page operations, prints "kmmbench: key=value" lines; 0, or 1 if a
 * step failed or no calibrated cycle counter exists (kernel/bench.c). */
int kernel_bench(void);
