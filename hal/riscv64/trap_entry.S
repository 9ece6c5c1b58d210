/* hal/riscv64/trap_entry.S - the stvec target (direct mode).
 *
 * Saves every register into an rv_regs_t (trap.h) on the current stack,
 * clears sstatus.SUM so the handler never touches user memory by accident,
 * calls rv_trap(frame), then restores the frame - including sepc and
 * sstatus, which the handler may have changed (an exception-table fixup
 * rewrites sepc; restoring sstatus gives SUM back to a probe helper that
 * was interrupted by a fault the generic layer resolved) - and returns with
 * sret. Only kernel-mode traps are taken today: there is no user stack
 * switch through sscratch, which only holds t0 for the first instructions.
 * A trap whose frame would reach into the guard page below the kernel stack
 * (an overflow) runs on rv_trap_stack instead, so it can be reported. */
#include "riscv.h"

#define REG(n) ((n) * 8)
#define F_SEPC REG(32)
#define F_SSTATUS REG(33)
#define F_SCAUSE REG(34)
#define F_STVAL REG(35)
#define FRAME_SIZE REG(36)

    .section .text
    .balign 4
    .globl rv_trap_entry
rv_trap_entry:
    csrw    sscratch, t0
    mv      t0, sp                      /* sp at the trap; sp is scratch until the frame is set up */
    la      sp, rv_boot_stack + FRAME_SIZE
    bgeu    t0, sp, 1f                  /* the frame fits above the guard */
    la      sp, rv_stack_guard
    bltu    t0, sp, 1f                  /* below the guard: some other stack */
    la      sp, rv_trap_stack_top       /* stack overflow: report it on the trap stack */
    j       2f
1:  mv      sp, t0
2:  addi    sp, sp, -FRAME_SIZE
    sd      t0, REG(2)(sp)              /* sp before the trap */
    csrr    t0, sscratch
    sd      t0, REG(5)(sp)
    csrw    sscratch, zero
    sd      x1, REG(1)(sp)
    sd      x3, REG(3)(sp)
    sd      x4, REG(4)(sp)
    sd      x6, REG(6)(sp)
    sd      x7, REG(7)(sp)
    sd      x8, REG(8)(sp)
    sd      x9, REG(9)(sp)
    sd      x10, REG(10)(sp)
    sd      x11, REG(11)(sp)
    sd      x12, REG(12)(sp)
    sd      x13, REG(13)(sp)
    sd      x14, REG(14)(sp)
    sd      x15, REG(15)(sp)
    sd      x16, REG(16)(sp)
    sd      x17, REG(17)(sp)
    sd      x18, REG(18)(sp)
    sd      x19, REG(19)(sp)
    sd      x20, REG(20)(sp)
    sd      x21, REG(21)(sp)
    sd      x22, REG(22)(sp)
    sd      x23, REG(23)(sp)
    sd      x24, REG(24)(sp)
    sd      x25, REG(25)(sp)
    sd      x26, REG(26)(sp)
    sd      x27, REG(27)(sp)
    sd      x28, REG(28)(sp)
    sd      x29, REG(29)(sp)
    sd      x30, REG(30)(sp)
    sd      x31, REG(31)(sp)
    sd      zero, REG(0)(sp)
    csrr    t0, sepc
    sd      t0, F_SEPC(sp)
    csrr    t0, sstatus
    sd      t0, F_SSTATUS(sp)
    csrr    t0, scause
    sd      t0, F_SCAUSE(sp)
    csrr    t0, stval
    sd      t0, F_STVAL(sp)
    li      t0, SSTATUS_SUM
    csrc    sstatus, t0

    mv      a0, sp
    call    rv_trap

    ld      t0, F_SEPC(sp)
    csrw    sepc, t0
    ld      t0, F_SSTATUS(sp)
    csrw    sstatus, t0
    ld      x1, REG(1)(sp)
    ld      x3, REG(3)(sp)
    ld      x4, REG(4)(sp)
    ld      x5, REG(5)(sp)
    ld      x6, REG(6)(sp)
    ld      x7, REG(7)(sp)
    ld      x8, REG(8)(sp)
    ld      x9, REG(9)(sp)
    ld      x10, REG(10)(sp)
    ld      x11, REG(11)(sp)
    ld      x12, REG(12)(sp)
    ld      x13, REG(13)(sp)
    ld      x14, REG(14)(sp)
    ld      x15, REG(15)(sp)
    ld      x16, REG(16)(sp)
    ld      x17, REG(17)(sp)
    ld      x18, REG(18)(sp)
    ld      x19, REG(19)(sp)
    ld      x20, REG(20)(sp)
    ld      x21, REG(21)(sp)
    ld      x22, REG(22)(sp)
    ld      x23, REG(23)(sp)
    ld      x24, REG(24)(sp)
    ld      x25, REG(25)(sp)
    ld      x26, REG(26)(sp)
    ld      x27, REG(27)(sp)
    ld      x28, REG(28)(sp)
    ld      x29, REG(29)(sp)
    ld      x30, REG(30)(sp)
    ld      x31, REG(31)(sp)
    ld      sp, REG(2)(sp)
    sret
