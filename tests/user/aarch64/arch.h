/* tests/user/aarch64/arch.h - system calls from EL0 (svc #0: number in x8,
 * arguments in x0..x3, result in x0), the virtual counter, page clear /
 * copy. */
#pragma once

static inline long kmm_syscall(long nr, long a0, long a1, long a2, long a3)
{
    register long r_x0 __asm__("x0") = a0;
    register long r_x1 __asm__("x1") = a1;
    register long r_x2 __asm__("x2") = a2;
    register long r_x3 __asm__("x3") = a3;
    register long r_x8 __asm__("x8") = nr;
    __asm__ volatile("svc #0" : "+r"(r_x0) : "r"(r_x1), "r"(r_x2), "r"(r_x3), "r"(r_x8) : "memory");
    return r_x0;
}

/* The bytes of `ret` (0xd65f03c0), little-endian. */
#define ARCH_RET_INSN { 0xc0, 0x03, 0x5f, 0xd6 }
/* Makes the instructions just written at [p, p + n) visible to instruction
 * fetch: DC CVAU over the data-cache lines, DSB ISH, IC IVAU over the
 * instruction-cache lines, DSB ISH, ISB, the line sizes from CTR_EL0 (EL0
 * may read it and run both: the kernel sets SCTLR_EL1.UCT and UCI; without
 * them each traps and kills the program). QEMU keeps fetch coherent with
 * stores; a real core needs every step. */
static inline void arch_sync_icache(const void *p, unsigned long n)
{
    unsigned long ctr, a, end = (unsigned long)p + n;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    unsigned long dline = 4ul << ((ctr >> 16) & 0xf), iline = 4ul << (ctr & 0xf);
    for (a = (unsigned long)p & ~(dline - 1); a < end; a += dline)
        __asm__ volatile("dc cvau, %0" ::"r"(a) : "memory");
    __asm__ volatile("dsb ish" ::: "memory");
    for (a = (unsigned long)p & ~(iline - 1); a < end; a += iline)
        __asm__ volatile("ic ivau, %0" ::"r"(a) : "memory");
    __asm__ volatile("dsb ish\n\tisb" ::: "memory");
}
/* An instruction EL0 may not execute (undefined at EL0): read TTBR1_EL1. */
static inline void arch_privileged_insn(void)
{
    unsigned long v;
    __asm__ volatile("mrs %0, ttbr1_el1" : "=r"(v)::"memory");
    (void)v;
}

/* The virtual counter (EL0 may read it: the kernel sets
 * CNTKCTL_EL1.EL0VCTEN); its rate is meminfo's cycle_hz (CNTFRQ_EL0). */
static inline uint64_t arch_cycles(void)
{
    uint64_t v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v)::"memory");
    return v;
}

/* A page clear / copy in 8-byte words, as the kernel's compiled memset /
 * memcpy do them (-mgeneral-regs-only: no SIMD). */
#define ARCH_CLEAR_PAGE_NAME "str-loop"
#define ARCH_COPY_PAGE_NAME "ldr-str-loop"
static inline void arch_clear_page(void *p)
{
    volatile uint64_t *d = p;
    for (unsigned i = 0; i < 4096 / 8; i++)
        d[i] = 0;
}
static inline void arch_copy_page(void *dst, const void *src)
{
    volatile uint64_t *d = dst;
    const volatile uint64_t *s = src;
    for (unsigned i = 0; i < 4096 / 8; i++)
        d[i] = s[i];
}
