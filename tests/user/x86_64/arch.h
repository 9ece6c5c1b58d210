/* tests/user/x86_64/arch.h - system calls from ring 3 (`int $0x80`: number
 * in rax, arguments in rdi, rsi, rdx, r10, result in rax). */
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
/* Makes freshly written instructions visible to instruction fetch. */
static inline void arch_sync_icache(void) { __asm__ volatile("" ::: "memory"); }
/* An instruction ring 3 may not execute (#GP). */
static inline void arch_privileged_insn(void) { __asm__ volatile("cli; hlt" ::: "memory"); }
