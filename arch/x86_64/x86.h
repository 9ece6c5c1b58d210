/* arch/x86_64/x86.h - privileged instructions and registers (kernel only). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "acpi.h"
#include "hal/x86_64/x86_cr.h"

#define KERNEL_VMA 0xffffffff80000000ull
#define X86_DIRECT_MAP_BASE 0xffff800000000000ull

#define X86_MSR_APIC_BASE 0x1Bu
#define X86_MSR_EFER 0xC0000080u
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_NXE (1ull << 11)
#define X86_RFLAGS_AC (1ull << 18)

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

void x86_cpu_init(void);          /* boot CPU: detect, then x86_cpu_enable() */
void x86_cpu_enable(void);        /* this CPU: NXE, WP, PGE, SMEP, SMAP */
void x86_gdt_init(unsigned id);   /* CPU id's own GDT with its TSS (IST for #DF, #NMI, #MC), loaded; names the CPU */
void x86_idt_load(void);          /* the IDT every CPU shares (arch_trap_init built it) */
void x86_serial_init(void);
void x86_tss_set_rsp0(uint64_t top); /* the stack ring-3 traps land on (this CPU's TSS) */

/* The legacy PIC's IRQs arrive at vectors 0x20-0x2f (pic.c). */
#define X86_IRQ_VECTOR 0x20
#define X86_IRQ_COUNT 16
void x86_pic_init(void);         /* remap both PICs, mask every IRQ */
void x86_irq(x86_regs_t *regs);  /* a PIC IRQ (none is unmasked): acknowledge, spurious ones not */

/* The local APIC's vectors (lapic.c): above every exception and PIC vector. */
#define X86_VEC_TIMER 0xe0    /* the per-CPU timer */
#define X86_VEC_IPI 0xf0      /* cross-CPU calls (kernel_ipi) */
#define X86_VEC_SPURIOUS 0xff
void x86_lapic_irq(x86_regs_t *regs); /* one of the three vectors above */

/* PIT channel 2 as a stopwatch (clock.c): starts a one-shot count of ms
 * (at most 50) milliseconds; x86_pit_wait_end spins until it has run out. */
void x86_pit_wait_start(unsigned ms);
void x86_pit_wait_end(void);
/* Spins for at least us microseconds (the TSC, calibrated on first use). */
void x86_udelay(uint64_t us);

/* AP start-up (smp.c). The boot code hands over what it found: the CPUs of
 * the ACPI MADT (from the multiboot2 RSDP copy; map reads physical memory
 * through the early tables) and X86_SMP_LOW_PAGES free pages below 1 MiB
 * (the trampoline and its start-up tables; 0: none found). */
#define X86_SMP_LOW_PAGES 5
void x86_smp_discover(const void *rsdp, size_t len, x86_acpi_map_fn map);
void x86_smp_set_low_pages(uint64_t pa);
uint64_t x86_smp_low_pages(void);
/* The MADT's CPU list, or NULL if it could not be read. */
const x86_acpi_cpus_t *x86_smp_acpi_cpus(void);
