/* arch/x86_64/traps.S - entry stubs for the 32 exception vectors. Each stub
 * pushes a zero error code when the CPU does not, then its vector; the common
 * path saves the registers as x86_regs_t (x86.h), calls x86_trap(regs) and
 * returns to whatever rip the frame holds then (exception-table fixups).
 * Vector 0x80 is the system-call gate; a trap from ring 3 arrives on the
 * process's kernel stack (TSS.RSP0) and leaves through the same path
 * with iretq. The CPU id is which GDT the CPU runs on (SGDT), not in GS: no swapgs. */

    .text
    .code64

.macro TRAP_STUB vec, has_error
    .balign 16
trap_stub_\vec:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp trap_common
.endm

TRAP_STUB 0, 0
TRAP_STUB 1, 0
TRAP_STUB 2, 0
TRAP_STUB 3, 0
TRAP_STUB 4, 0
TRAP_STUB 5, 0
TRAP_STUB 6, 0
TRAP_STUB 7, 0
TRAP_STUB 8, 1
TRAP_STUB 9, 0
TRAP_STUB 10, 1
TRAP_STUB 11, 1
TRAP_STUB 12, 1
TRAP_STUB 13, 1
TRAP_STUB 14, 1
TRAP_STUB 15, 0
TRAP_STUB 16, 0
TRAP_STUB 17, 1
TRAP_STUB 18, 0
TRAP_STUB 19, 0
TRAP_STUB 20, 0
TRAP_STUB 21, 1
TRAP_STUB 22, 0
TRAP_STUB 23, 0
TRAP_STUB 24, 0
TRAP_STUB 25, 0
TRAP_STUB 26, 0
TRAP_STUB 27, 0
TRAP_STUB 28, 0
TRAP_STUB 29, 1
TRAP_STUB 30, 1
TRAP_STUB 31, 0
    .irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
TRAP_STUB \v, 0                             /* the legacy PIC's IRQs 0-15 (pic.c) */
    .endr
TRAP_STUB 128, 0                            /* int $0x80: system calls from ring 3 */
TRAP_STUB 224, 0                            /* local APIC: timer, IPI, spurious (lapic.c) */
TRAP_STUB 240, 0
TRAP_STUB 255, 0

trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    testb $1, x86_smap_enabled(%rip)        /* kernel access to user pages off in the handler */
    jz 1f
    clac
1:
    movq %rsp, %rdi
    call x86_trap
    .globl x86_trap_return
x86_trap_return:                            /* rsp: a saved frame (x86_regs_t) */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                          /* vector, error code */
    iretq

/* A new process's first run: arch_switch_stack "returns" here with rbx
 * pointing to its user frame (arch_kstack_init). */
    .globl x86_user_first_entry
x86_user_first_entry:
    movq %rbx, %rsp
    jmp x86_trap_return

/* void arch_switch_stack(ptr_t *save_sp, ptr_t new_sp) */
    .globl arch_switch_stack
arch_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    .section .rodata
    .balign 8
    .globl x86_trap_syscall_stub
x86_trap_syscall_stub:
    .quad trap_stub_128
    .globl x86_lapic_stubs
x86_lapic_stubs:
    .quad trap_stub_224, trap_stub_240, trap_stub_255
    .globl x86_irq_stubs
x86_irq_stubs:
    .irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad trap_stub_\v
    .endr
    .globl x86_trap_stubs
x86_trap_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_stub_\v
    .endr

    .section .note.GNU-stack, "", @progbits
