/* arch/riscv64/trap_entry.S - the stvec target (direct mode).
 *
 * sscratch tells where a trap came from: in U-mode it holds the hart's
 * rv_hart_t (hart.h), in S-mode it is 0. The entry swaps tp with it: a
 * non-zero result means a user trap, so tp is the kernel's again (user code
 * may have put anything in tp), the frame goes at the kernel stack top the
 * hart's area names, and the user sp and tp are saved; otherwise the swap
 * is undone and the frame goes on the current kernel stack.
 *
 * Saves every register into an rv_regs_t (trap.h), clears sstatus.SUM so
 * the handler never touches user memory by accident, calls rv_trap(frame),
 * then restores the frame - including sepc and sstatus, which the handler
 * may have changed (an exception-table fixup rewrites sepc; restoring
 * sstatus gives SUM back to a copy helper that was interrupted by a fault the
 * generic layer resolved; rv_trap drops SUM from the frame when it resumes
 * at a fixup instead, so that no SUM change happens for nothing). Returning
 * to U-mode (SPP clear) records the kernel stack top in the hart's area,
 * puts the area in sscratch and the user's tp back; returning to S-mode
 * leaves tp alone. sret.
 *
 * A kernel trap whose frame would reach into the guard page below the boot
 * kernel stack, or into the guard of a kernel stack in the window of
 * kernel/kstack.h (a process's, or a started hart's), runs on the hart's
 * trap stack instead, so that it can be reported; sscratch (0 in S-mode)
 * holds t0 for those first instructions. */
#include "hart.h"
#include "riscv.h"

#define REG(n) ((n) * 8)
#define F_SEPC REG(32)
#define F_SSTATUS REG(33)
#define F_SCAUSE REG(34)
#define F_STVAL REG(35)
#define FRAME_SIZE REG(36)
/* kernel/kstack.h: 2^13 slots of 2^15 bytes, the lower half of each a guard
 * (checked against the C constants in user.c). */
#define KSTACK_SLOT_SHIFT 15
#define KSTACK_WINDOW_SHIFT 28

.macro SAVE_GPRS
    sd      x1, REG(1)(sp)
    .irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd      x\n, REG(\n)(sp)
    .endr
.endm

    .section .text
    .balign 4
    .globl rv_trap_entry
rv_trap_entry:
    csrrw   tp, sscratch, tp
    bnez    tp, 1f                      /* from U-mode: tp is the hart's area, sscratch the user tp */
    csrrw   tp, sscratch, tp            /* from S-mode: tp back, sscratch 0 again */
    csrw    sscratch, t0
    mv      t0, sp                      /* sp at the trap; sp is scratch until the frame is set up */
    la      sp, rv_boot_stack + FRAME_SIZE
    bgeu    t0, sp, 4f                  /* the frame fits above the boot stack's guard */
    la      sp, rv_stack_guard
    bgeu    t0, sp, 6f                  /* it would reach that guard: overflow */
    /* Below it: a process's kernel stack, in the window of kernel/kstack.h? */
    la      sp, kstack_window_base
    ld      sp, 0(sp)
    sub     sp, t0, sp                  /* offset in the window (huge if below it) */
    srli    sp, sp, KSTACK_WINDOW_SHIFT
    bnez    sp, 4f                      /* outside the window: some other stack */
    la      sp, kstack_window_base
    ld      sp, 0(sp)
    sub     sp, t0, sp
    addi    sp, sp, -FRAME_SIZE         /* where the frame would start */
    slli    sp, sp, 63 - (KSTACK_SLOT_SHIFT - 1)
    srli    sp, sp, 63                  /* 1: in the stack half of its slot, 0: in the guard */
    bnez    sp, 4f
6:  ld      sp, RV_HART_TRAP_STACK(tp)  /* stack overflow: report it on the hart's trap stack */
    j       5f
4:  mv      sp, t0
5:  addi    sp, sp, -FRAME_SIZE
    sd      t0, REG(2)(sp)              /* sp before the trap */
    csrrw   t0, sscratch, zero          /* t0 back; sscratch 0 again */
    SAVE_GPRS
    j       2f
1:  sd      sp, RV_HART_USER_SP(tp)
    ld      sp, RV_HART_KSTACK_TOP(tp)
    addi    sp, sp, -FRAME_SIZE         /* from U-mode: on the kernel stack */
    SAVE_GPRS                           /* tp's slot is replaced below */
    ld      t0, RV_HART_USER_SP(tp)
    sd      t0, REG(2)(sp)
    csrrw   t0, sscratch, zero          /* the user tp; sscratch 0 while in the kernel */
    sd      t0, REG(4)(sp)
2:  sd      zero, REG(0)(sp)
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

    .globl rv_trap_return
rv_trap_return:                         /* sp: a saved frame */
    ld      t0, F_SEPC(sp)
    csrw    sepc, t0
    ld      t0, F_SSTATUS(sp)
    csrw    sstatus, t0
    andi    t0, t0, SSTATUS_SPP
    bnez    t0, 3f
    addi    t0, sp, FRAME_SIZE          /* back to U-mode: its next trap lands here */
    sd      t0, RV_HART_KSTACK_TOP(tp)
    csrw    sscratch, tp
    ld      tp, REG(4)(sp)              /* the user's tp */
3:  ld      x1, REG(1)(sp)
    .irp n, 3,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld      x\n, REG(\n)(sp)
    .endr
    ld      sp, REG(2)(sp)
    sret

/* A new process's first run: arch_switch_stack returns here with s0
 * pointing to its user frame (arch_kstack_init). */
    .globl rv_user_first_entry
rv_user_first_entry:
    mv      sp, s0
    j       rv_trap_return

/* void arch_switch_stack(ptr_t *save_sp, ptr_t new_sp): callee-saved
 * registers on the stack, sp into *save_sp, then the same in reverse from
 * new_sp. */
    .globl arch_switch_stack
arch_switch_stack:
    addi    sp, sp, -112
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s1, 16(sp)
    sd      s2, 24(sp)
    sd      s3, 32(sp)
    sd      s4, 40(sp)
    sd      s5, 48(sp)
    sd      s6, 56(sp)
    sd      s7, 64(sp)
    sd      s8, 72(sp)
    sd      s9, 80(sp)
    sd      s10, 88(sp)
    sd      s11, 96(sp)
    sd      sp, 0(a0)
    mv      sp, a1
    ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s1, 16(sp)
    ld      s2, 24(sp)
    ld      s3, 32(sp)
    ld      s4, 40(sp)
    ld      s5, 48(sp)
    ld      s6, 56(sp)
    ld      s7, 64(sp)
    ld      s8, 72(sp)
    ld      s9, 80(sp)
    ld      s10, 88(sp)
    ld      s11, 96(sp)
    addi    sp, sp, 112
    ret
