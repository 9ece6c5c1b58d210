/* hal/x86_64/x86.h - privileged instructions and registers (kernel only). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define KERNEL_VMA 0xffffffff80000000ull
#define X86_DIRECT_MAP_BASE 0xffff800000000000ull

#define X86_CR0_WP (1ull << 16)
#define X86_CR4_TSD (1ull << 2)
#define X86_CR4_PGE (1ull << 7)
#define X86_CR4_LA57 (1ull << 12)
#define X86_CR4_SMEP (1ull << 20)
#define X86_CR4_SMAP (1ull << 21)
#define X86_MSR_EFER 0xC0000080u
#define X86_EFER_NXE (1ull << 11)
#define X86_RFLAGS_AC (1ull << 18)
#define X86_CR3_ADDR 0x000ffffffffff000ull

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

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

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* The saved state of a trap, as built by traps.S (lowest address first). */
typedef struct x86_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
} x86_regs_t;

/* CPU features found at boot and enabled (cpu.c). */
typedef struct x86_features {
    bool nx, smep, smap, la57, pdpe1gb, pge;
} x86_features_t;
extern x86_features_t x86_features;

void x86_cpu_init(void);      /* detect, enable NXE, WP, PGE, SMEP, SMAP */
void x86_gdt_init(void);      /* the kernel GDT with a TSS (IST for #DF, #NMI, #MC) */
void x86_serial_init(void);
void x86_tss_set_rsp0(uint64_t top); /* the stack ring-3 traps land on */

/* The legacy PIC's IRQs arrive at vectors 0x20-0x2f (timer.c). */
#define X86_IRQ_VECTOR 0x20
#define X86_IRQ_COUNT 16
void x86_pic_init(void);         /* remap both PICs, mask every IRQ */
void x86_irq(x86_regs_t *regs);  /* acknowledge, then the timer tick for IRQ 0 */
