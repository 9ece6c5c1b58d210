/* hal/riscv64/probe.S - helpers that touch memory which may fault.
 *
 * Each access that may fault has an __ex_table entry (its address, the
 * address to resume at); rv_extable_fixup() (trap.c) moves sepc there, and
 * the fixup returns -EFAULT to the helper's caller. The user variants set
 * sstatus.SUM around their one access and nowhere else; their fixup clears
 * it again. All return 0 on success. */
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

/* int arch_probe_exec(const void *addr): calls addr, which should hold a
 * `ret`. A fetch fault has sepc = addr, not an address in here: the trap
 * code then looks up ra - 4, the jalr below (4 bytes: norvc). */
    .globl arch_probe_exec
arch_probe_exec:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    fence.i
1:  jalr    a0
    li      a0, 0
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret
    ex_entry 1b, 2f
2:  li      a0, -EFAULT
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

/* Shared fixup: no user access any more, -EFAULT to the caller. */
rv_probe_efault:
    li      t1, SSTATUS_SUM
    csrc    sstatus, t1
    li      a0, -EFAULT
    ret
