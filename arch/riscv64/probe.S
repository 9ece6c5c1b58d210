/* arch/riscv64/probe.S - helpers that touch memory which may fault.
 *
 * Each access that may fault has an __ex_table entry (its address, the
 * address to resume at); the generic fault path (kernel/fault.c) moves sepc
 * there, and the fixup returns -EFAULT to the helper's caller. The user variants set
 * sstatus.SUM around their one access and nowhere else; rv_trap resumes a
 * fixup with SUM clear already, and the fixup clears it once more (no change
 * then) so that it holds whoever resumes there. All return 0 on success. */
#include "riscv.h"

#define EFAULT 14

.macro ex_entry insn, fixup
    .pushsection __ex_table, "a"
    .balign 8
    .dword \insn, \fixup
    .popsection
.endm

    .section .text
    .option norvc

/* int arch_probe_read(const volatile void *addr, uint8_t *out) */
    .globl arch_probe_read
arch_probe_read:
1:  lbu     t0, 0(a0)
    sb      t0, 0(a1)
    li      a0, 0
    ret
    ex_entry 1b, rv_probe_efault

/* int arch_probe_write(volatile void *addr, uint8_t val) */
    .globl arch_probe_write
arch_probe_write:
1:  sb      a1, 0(a0)
    li      a0, 0
    ret
    ex_entry 1b, rv_probe_efault

/* int arch_probe_user_read(const volatile void *uaddr, uint8_t *out) */
    .globl arch_probe_user_read
arch_probe_user_read:
    li      t1, SSTATUS_SUM
    csrs    sstatus, t1
1:  lbu     t0, 0(a0)
    csrc    sstatus, t1
    sb      t0, 0(a1)
    li      a0, 0
    ret
    ex_entry 1b, rv_probe_efault

/* int arch_probe_user_write(volatile void *uaddr, uint8_t val) */
    .globl arch_probe_user_write
arch_probe_user_write:
    li      t1, SSTATUS_SUM
    csrs    sstatus, t1
1:  sb      a1, 0(a0)
    csrc    sstatus, t1
    li      a0, 0
    ret
    ex_entry 1b, rv_probe_efault

/* int arch_copy_user(void *dst, const void *src, size_t n): a byte loop
 * with SUM set around it; either access may fault (exception table). */
    .globl arch_copy_user
arch_copy_user:
    li      t1, SSTATUS_SUM
    csrs    sstatus, t1
    beqz    a2, 2f
1:  lbu     t0, 0(a1)
3:  sb      t0, 0(a0)
    addi    a0, a0, 1
    addi    a1, a1, 1
    addi    a2, a2, -1
    bnez    a2, 1b
2:  csrc    sstatus, t1
    li      a0, 0
    ret
    ex_entry 1b, rv_probe_efault
    ex_entry 3b, rv_probe_efault

/* int arch_probe_exec(const void *addr): calls addr, which should hold a
 * `ret`. A fetch fault has sepc = addr, not an address in here, so the call
 * is armed: rv_exec_probe_target/_fixup tell arch_exec_probe_fixup (trap.c)
 * where to resume, with sp and ra's slot as this function left them. */
    .globl arch_probe_exec
arch_probe_exec:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    fence.i
    la      t0, rv_exec_probe_target
    sd      a0, 0(t0)
    la      t1, rv_exec_probe_fixup
    la      t2, 2f
    sd      t2, 0(t1)
    jalr    a0
    li      a0, 0
    j       3f
2:  li      a0, -EFAULT
3:  la      t0, rv_exec_probe_target
    sd      zero, 0(t0)
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

/* The bytes of `ret` (jalr x0, 0(ra)) for arch_probe_exec targets. */
    .section .rodata
    .globl arch_ret_insn, arch_ret_insn_len
arch_ret_insn:
    .word   0x00008067
    .balign 8
arch_ret_insn_len:
    .dword  4

    .section .bss
    .balign 8
    .globl rv_exec_probe_target, rv_exec_probe_fixup
rv_exec_probe_target:
    .dword  0
rv_exec_probe_fixup:
    .dword  0

    .section .text
/* Shared fixup: no user access any more, -EFAULT to the caller. */
rv_probe_efault:
    li      t1, SSTATUS_SUM
    csrc    sstatus, t1
    li      a0, -EFAULT
    ret
