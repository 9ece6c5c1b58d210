/* tests/user/riscv64/arch.h - system calls from U-mode (ecall: number in
 * a7, arguments in a0..a3, result in a0), the time CSR, page clear / copy. */
#pragma once

static inline long kmm_syscall(long nr, long a0, long a1, long a2, long a3)
{
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a3 __asm__("a3") = a3;
    register long r_a7 __asm__("a7") = nr;
    __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a7) : "memory");
    return r_a0;
}

/* The bytes of `ret` (jalr x0, 0(ra)), little-endian. */
#define ARCH_RET_INSN { 0x67, 0x80, 0x00, 0x00 }
/* Makes the instructions just written at [p, p + n) visible to this
 * hart's instruction fetch (fence.i orders them whatever the range). */
static inline void arch_sync_icache(const void *p, unsigned long n)
{
    (void)p;
    (void)n;
    __asm__ volatile("fence.i" ::: "memory");
}
/* An instruction U-mode may not execute (illegal instruction): read satp. */
static inline void arch_privileged_insn(void)
{
    unsigned long v;
    __asm__ volatile("csrr %0, satp" : "=r"(v)::"memory");
    (void)v;
}

/* The time CSR (U-mode may read it: the kernel sets scounteren.TM); its
 * rate is meminfo's cycle_hz (the device tree's timebase-frequency). */
static inline uint64_t arch_cycles(void)
{
    uint64_t v;
    __asm__ volatile("rdtime %0" : "=r"(v)::"memory");
    return v;
}

/* A page clear / copy in 8-byte words, as the kernel's compiled memset /
 * memcpy do them. */
#define ARCH_CLEAR_PAGE_NAME "sd-loop"
#define ARCH_COPY_PAGE_NAME "ld-sd-loop"
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
