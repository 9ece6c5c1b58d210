/* arch/x86_64/trampoline.h - the parameter block at the end of the AP
 * start-up code (trampoline.S), shared by the assembly and smp.c. The code
 * is copied to a page below 1 MiB; smp.c fills the block there before each
 * STARTUP IPI. Offsets are from the block's start (x86_trampoline_params). */
#pragma once

#define TRP_GDTR 0   /* u16 limit, u32 base: the trampoline's own GDT */
#define TRP_FAR32 8  /* u32 offset, u16 selector: into 32-bit protected mode */
#define TRP_FAR64 16 /* u32 offset, u16 selector: into 64-bit mode */
#define TRP_CR0 24   /* u32: CR0 with PE and PG (the boot CPU's, CD and NW clear) */
#define TRP_CR4 28   /* u32: PAE, and LA57 when the kernel runs with 5 levels */
#define TRP_CR3 32   /* u32: the start-up root (below 4 GiB) */
#define TRP_EFER 36  /* u32: LME, and NXE when the kernel uses NX */
#define TRP_STACK 40 /* u64: the AP's stack top (kernel half) */
#define TRP_ENTRY 48 /* u64: where it jumps on that stack (kernel half) */
#define TRP_SIZE 56

#define TRP_SEL_CODE64 0x08
#define TRP_SEL_DATA 0x10
#define TRP_SEL_CODE32 0x18

#ifndef __ASSEMBLER__
#include <stdint.h>

typedef struct __attribute__((packed)) x86_trampoline_params {
    uint16_t gdtr_limit;
    uint32_t gdtr_base;
    uint16_t pad0;
    uint32_t far32_offset;
    uint16_t far32_selector;
    uint16_t pad1;
    uint32_t far64_offset;
    uint16_t far64_selector;
    uint16_t pad2;
    uint32_t cr0, cr4, cr3, efer;
    uint64_t stack, entry;
} x86_trampoline_params_t;

_Static_assert(__builtin_offsetof(x86_trampoline_params_t, far32_offset) == TRP_FAR32, "TRP_FAR32");
_Static_assert(__builtin_offsetof(x86_trampoline_params_t, far64_offset) == TRP_FAR64, "TRP_FAR64");
_Static_assert(__builtin_offsetof(x86_trampoline_params_t, cr0) == TRP_CR0, "TRP_CR0");
_Static_assert(__builtin_offsetof(x86_trampoline_params_t, cr3) == TRP_CR3, "TRP_CR3");
_Static_assert(__builtin_offsetof(x86_trampoline_params_t, stack) == TRP_STACK, "TRP_STACK");
_Static_assert(__builtin_offsetof(x86_trampoline_params_t, entry) == TRP_ENTRY, "TRP_ENTRY");
_Static_assert(sizeof(x86_trampoline_params_t) == TRP_SIZE, "TRP_SIZE");

/* trampoline.S: the code to copy, and the places smp.c patches. */
extern const char x86_trampoline_start[], x86_trampoline_end[], x86_trampoline_params[];
extern const char x86_trampoline_pm32[], x86_trampoline_lm64[], x86_trampoline_gdt[], x86_trampoline_gdt_end[];
#endif
