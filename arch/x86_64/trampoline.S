/* arch/x86_64/trampoline.S - where an AP starts: smp.c copies this code to
 * a page P below 1 MiB and sends STARTUP IPIs with vector P >> 12, so the AP
 * begins in real mode at CS:IP = (P >> 4):0. It goes through 32-bit
 * protected mode into long mode on the start-up root that the parameter
 * block names (trampoline.h: P identity-mapped, the kernel half shared with
 * the kernel context), then jumps to the block's entry, in the kernel half,
 * on the block's stack. Everything position-dependent is in the block: the
 * code itself runs at any page. Never executed where the linker put it
 * (.rodata): only the copy runs. */
#include "trampoline.h"

#define OFF(label) ((label) - x86_trampoline_start)
#define PARAM(field) (OFF(x86_trampoline_params) + (field))

    .section .rodata.trampoline, "a"
    .balign 16
    .globl x86_trampoline_start
x86_trampoline_start:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %ebx
    shll $4, %ebx                           /* ebx = P, kept to the end */
    lgdtl PARAM(TRP_GDTR)
    movl %cr0, %eax
    orl $1, %eax                            /* PE */
    movl %eax, %cr0
    ljmpl *PARAM(TRP_FAR32)

    .code32
    .globl x86_trampoline_pm32
x86_trampoline_pm32:
    movw $TRP_SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl PARAM(TRP_CR4)(%ebx), %eax
    movl %eax, %cr4
    movl PARAM(TRP_CR3)(%ebx), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx                  /* EFER */
    movl PARAM(TRP_EFER)(%ebx), %eax
    xorl %edx, %edx
    wrmsr
    movl PARAM(TRP_CR0)(%ebx), %eax         /* paging on: long mode */
    movl %eax, %cr0
    ljmpl *PARAM(TRP_FAR64)(%ebx)

    .code64
    .globl x86_trampoline_lm64
x86_trampoline_lm64:
    movl %ebx, %ebx                         /* the upper half is undefined after the switch */
    movq PARAM(TRP_STACK)(%rbx), %rsp
    movq PARAM(TRP_ENTRY)(%rbx), %rax
    pushq $0                                /* no return: as after a call, rsp + 8 is 16-aligned */
    jmpq *%rax

    .balign 16
    .globl x86_trampoline_gdt, x86_trampoline_gdt_end
x86_trampoline_gdt:
    .quad 0
    .quad 0x00209b0000000000                /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff                /* 0x10: flat data */
    .quad 0x00cf9b000000ffff                /* 0x18: flat 32-bit code */
x86_trampoline_gdt_end:

    .balign 16
    .globl x86_trampoline_params
x86_trampoline_params:
    .skip TRP_SIZE
    .globl x86_trampoline_end
x86_trampoline_end:

    .section .note.GNU-stack, "", @progbits
