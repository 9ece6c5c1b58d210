/* arch/aarch64/trap_entry.S - the exception vectors (VBAR_EL1) and the
 * return path.
 *
 * The kernel runs on SP_EL1 with IRQs masked (PSTATE.I), PSTATE.PAN set;
 * taking an exception masks D A I F and sets PAN again (SCTLR_EL1.SPAN
 * clear), so a handler never touches user memory by accident. SP_EL0 holds
 * the user's stack pointer while EL0 runs; in the kernel it is a scratch
 * register (the user's value is in the frame).
 *
 * From EL0 the frame goes at the top of the thread's kernel stack: SP_EL1
 * is that top whenever EL0 runs, because returning to EL0 pops the frame
 * that sits there (kernel/process.c puts it at kstack_top - frame size).
 * SP_EL0 and TPIDR_EL0 are saved in the frame and given back on return.
 *
 * From EL1 the frame goes on the current stack, unless it would reach into
 * the guard page below the boot kernel stack or into the guard of a kernel
 * stack in the window of kernel/kstack.h: then it goes on the CPU's trap
 * stack so that the overflow can be reported. x0 waits in SP_EL0, x1, x2
 * and the vector's kind in the CPU's area (TPIDR_EL1) during that check.
 *
 * Every frame is an a64_regs_t (trap.h); a64_trap(frame) decides, then the
 * frame is restored - ELR and SPSR included, which the handler may have
 * changed (an exception-table fixup rewrites ELR and sets SPSR.PAN). */
#include "cpu.h"
#include "trap.h"

/* kernel/kstack.h: 2^13 slots of 2^15 bytes, the lower half of each a guard
 * (checked against the C constants in user.c). */
#define KSTACK_SLOT_SHIFT 15
#define KSTACK_WINDOW_SHIFT 28

.macro EL1_VECTOR kind
    .balign 0x80
    msr     sp_el0, x0
    mrs     x0, tpidr_el1
    stp     x1, x2, [x0, #A64_CPU_SCRATCH]
    mov     x1, #\kind
    str     x1, [x0, #A64_CPU_SCRATCH + 16]
    b       a64_el1_entry
.endm

.macro EL0_VECTOR kind
    .balign 0x80
    sub     sp, sp, #A64_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       a64_el0_entry
.endm

    .section .text
    .balign 2048
    .globl a64_vectors
a64_vectors:
    EL1_VECTOR (A64_VEC_UNEXPECTED + 0)     /* current EL with SP_EL0: never used */
    EL1_VECTOR (A64_VEC_UNEXPECTED + 1)
    EL1_VECTOR (A64_VEC_UNEXPECTED + 2)
    EL1_VECTOR (A64_VEC_UNEXPECTED + 3)
    EL1_VECTOR A64_VEC_EL1_SYNC             /* current EL with SP_EL1 */
    EL1_VECTOR A64_VEC_EL1_IRQ
    EL1_VECTOR (A64_VEC_UNEXPECTED + 6)     /* FIQ */
    EL1_VECTOR (A64_VEC_UNEXPECTED + 7)     /* SError */
    EL0_VECTOR A64_VEC_EL0_SYNC             /* lower EL, AArch64 */
    EL0_VECTOR A64_VEC_EL0_IRQ
    EL0_VECTOR (A64_VEC_UNEXPECTED + 10)
    EL0_VECTOR (A64_VEC_UNEXPECTED + 11)
    EL0_VECTOR (A64_VEC_UNEXPECTED + 12)    /* lower EL, AArch32: never used */
    EL0_VECTOR (A64_VEC_UNEXPECTED + 13)
    EL0_VECTOR (A64_VEC_UNEXPECTED + 14)
    EL0_VECTOR (A64_VEC_UNEXPECTED + 15)

/* x0: the CPU's area; x0 in SP_EL0, x1 x2 and the kind in the area. */
a64_el1_entry:
    mov     x1, sp
    ldr     x2, =a64_boot_stack + A64_FRAME_SIZE
    cmp     x1, x2
    b.hs    4f                          /* the frame fits above the boot stack's guard */
    ldr     x2, =a64_stack_guard
    cmp     x1, x2
    b.hs    6f                          /* it would reach that guard: overflow */
    /* Below it: a process's kernel stack, in the window of kernel/kstack.h? */
    ldr     x2, =kstack_window_base
    ldr     x2, [x2]
    sub     x2, x1, x2                  /* offset in the window (huge if below it) */
    lsr     x2, x2, #KSTACK_WINDOW_SHIFT
    cbnz    x2, 4f                      /* outside the window: some other stack */
    ldr     x2, =kstack_window_base
    ldr     x2, [x2]
    sub     x2, x1, x2
    sub     x2, x2, #A64_FRAME_SIZE     /* where the frame would start */
    tbnz    x2, #(KSTACK_SLOT_SHIFT - 1), 4f /* in the stack half of its slot */
6:  ldr     x2, [x0, #A64_CPU_TRAP_STACK] /* stack overflow: report it on the CPU's trap stack */
    mov     sp, x2
4:  sub     sp, sp, #A64_FRAME_SIZE
    str     x1, [sp, #A64_F_SP]         /* sp before the trap */
    ldp     x1, x2, [x0, #A64_CPU_SCRATCH]
    stp     x1, x2, [sp, #8]
    ldr     x1, [x0, #A64_CPU_SCRATCH + 16]
    str     x1, [sp, #A64_F_KIND]
    mrs     x0, sp_el0
    str     x0, [sp, #0]
    stp     x3, x4, [sp, #24]
    b       a64_save_rest

/* sp: the frame, x0 x1 saved, x1 the kind. */
a64_el0_entry:
    str     x1, [sp, #A64_F_KIND]
    stp     x2, x3, [sp, #16]
    str     x4, [sp, #32]
    mrs     x0, sp_el0
    str     x0, [sp, #A64_F_SP]
    mrs     x0, tpidr_el0
    str     x0, [sp, #A64_F_TPIDR0]
a64_save_rest:
    stp     x5, x6, [sp, #40]
    stp     x7, x8, [sp, #56]
    stp     x9, x10, [sp, #72]
    stp     x11, x12, [sp, #88]
    stp     x13, x14, [sp, #104]
    stp     x15, x16, [sp, #120]
    stp     x17, x18, [sp, #136]
    stp     x19, x20, [sp, #152]
    stp     x21, x22, [sp, #168]
    stp     x23, x24, [sp, #184]
    stp     x25, x26, [sp, #200]
    stp     x27, x28, [sp, #216]
    stp     x29, x30, [sp, #232]
    mrs     x0, elr_el1
    str     x0, [sp, #A64_F_ELR]
    mrs     x0, spsr_el1
    str     x0, [sp, #A64_F_SPSR]
    mrs     x0, esr_el1
    str     x0, [sp, #A64_F_ESR]
    mrs     x0, far_el1
    str     x0, [sp, #A64_F_FAR]
    mov     x0, sp
    bl      a64_trap

    .globl a64_trap_return
a64_trap_return:                        /* sp: a saved frame */
    ldr     x0, [sp, #A64_F_ELR]
    msr     elr_el1, x0
    ldr     x0, [sp, #A64_F_SPSR]
    msr     spsr_el1, x0
    tst     x0, #A64_SPSR_M_MASK
    b.ne    1f
    ldr     x0, [sp, #A64_F_SP]         /* back to EL0: its sp and thread register */
    msr     sp_el0, x0
    ldr     x0, [sp, #A64_F_TPIDR0]
    msr     tpidr_el0, x0
1:  ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #A64_FRAME_SIZE
    eret
    .ltorg

/* A new process's first run: arch_switch_stack returns here with x19
 * pointing to its user frame (arch_kstack_init). */
    .globl a64_user_first_entry
a64_user_first_entry:
    mov     sp, x19
    b       a64_trap_return

/* void arch_switch_stack(ptr_t *save_sp, ptr_t new_sp): callee-saved
 * registers (x19-x30) on the stack, sp into *save_sp, then the same in
 * reverse from new_sp. */
    .globl arch_switch_stack
arch_switch_stack:
    sub     sp, sp, #96
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    mov     x2, sp
    str     x2, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #96
    ret
