/* tests/user/x86_64/arch.h - system calls from ring 3 (`int $0x80`: number
 * in rax, arguments in rdi, rsi, rdx, r10, result in rax), the TSC, and the
 * page clear / copy instructions of the kernel. */
#pragma once

static inline long kmm_syscall(long nr, long a0, long a1, long a2, long a3)
{
    register long r10 __asm__("r10") = a3;
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10) : "memory");
    return ret;
}

/* The bytes of a return instruction (for execute tests). */
#define ARCH_RET_INSN { 0xc3 }
/* Makes the instructions just written at [p, p + n) visible to
 * instruction fetch (x86: fetch is coherent with stores). */
static inline void arch_sync_icache(const void *p, unsigned long n)
{
    (void)p;
    (void)n;
    __asm__ volatile("" ::: "memory");
}
/* An instruction ring 3 may not execute (#GP). */
static inline void arch_privileged_insn(void) { __asm__ volatile("cli; hlt" ::: "memory"); }

/* The TSC (ring 3 may read it: the kernel keeps CR4.TSD clear); its rate is
 * meminfo's cycle_hz. Fenced like the kernel's arch_cycles. */
static inline uint64_t arch_cycles(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

/* A page clear / copy with the instructions the kernel's pmm_alloc_zeroed
 * and copy-on-write copy compile to (rep stosq / rep movsq). */
#define ARCH_CLEAR_PAGE_NAME "rep-stosq"
#define ARCH_COPY_PAGE_NAME "rep-movsq"
static inline void arch_clear_page(void *p)
{
    void *d = p;
    unsigned long n = 4096 / 8;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
}
static inline void arch_copy_page(void *dst, const void *src)
{
    void *d = dst;
    const void *s = src;
    unsigned long n = 4096 / 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n)::"memory");
}
