/* hal/x86_64/x86_cr.h - the control registers and the TLB instruction the
 * MMU operations use (hal/x86_64/mmu.c); the test kernel's part of the arch
 * (arch/x86_64/x86.h) uses them too. Kernel only (privileged). */
#pragma once

#include <stdint.h>

#define X86_CR0_WP (1ull << 16)
#define X86_CR4_TSD (1ull << 2)
#define X86_CR4_PGE (1ull << 7)
#define X86_CR4_LA57 (1ull << 12)
#define X86_CR4_SMEP (1ull << 20)
#define X86_CR4_SMAP (1ull << 21)
#define X86_CR0_PE (1ull << 0)
#define X86_CR0_NW (1ull << 29)
#define X86_CR0_CD (1ull << 30)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR3_ADDR 0x000ffffffffff000ull

#define X86_CR_ACCESSORS(n)                                                                                            \
    static inline uint64_t read_cr##n(void)                                                                            \
    {                                                                                                                  \
        uint64_t v;                                                                                                    \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                                              \
        return v;                                                                                                      \
    }                                                                                                                  \
    static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
X86_CR_ACCESSORS(0)
X86_CR_ACCESSORS(2)
X86_CR_ACCESSORS(3)
X86_CR_ACCESSORS(4)

static inline void invlpg(uint64_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
