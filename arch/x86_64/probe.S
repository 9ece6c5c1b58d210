/* arch/x86_64/probe.S - accesses that may fault. Each faulting instruction
 * has an exception-table entry (insn, fixup); the fixup returns -EFAULT. The
 * user variants open kernel access to user pages (STAC) for that one access
 * when SMAP is on. The exec probe arms x86_exec_probe_{target,fixup} for the
 * trap path, since its fault is taken at the target, not here. */

#define EFAULT 14

.macro EXTABLE insn, fixup
    .pushsection __ex_table, "a"
    .balign 8
    .quad \insn, \fixup
    .popsection
.endm

.macro STAC_IF_SMAP
    testb $1, x86_smap_enabled(%rip)
    jz 77f
    stac
77:
.endm

.macro CLAC_IF_SMAP
    testb $1, x86_smap_enabled(%rip)
    jz 78f
    clac
78:
.endm

    .text
    .code64

/* int arch_probe_read(const volatile void *addr, uint8_t *out) */
    .globl arch_probe_read
arch_probe_read:
1:  movb (%rdi), %al
    movb %al, (%rsi)
    xorl %eax, %eax
    ret
    EXTABLE 1b, probe_efault

/* int arch_probe_write(volatile void *addr, uint8_t val) */
    .globl arch_probe_write
arch_probe_write:
1:  movb %sil, (%rdi)
    xorl %eax, %eax
    ret
    EXTABLE 1b, probe_efault

/* int arch_probe_user_read(const volatile void *uaddr, uint8_t *out) */
    .globl arch_probe_user_read
arch_probe_user_read:
    STAC_IF_SMAP
1:  movb (%rdi), %al
    CLAC_IF_SMAP
    movb %al, (%rsi)
    xorl %eax, %eax
    ret
    EXTABLE 1b, probe_user_efault

/* int arch_probe_user_write(volatile void *uaddr, uint8_t val) */
    .globl arch_probe_user_write
arch_probe_user_write:
    STAC_IF_SMAP
1:  movb %sil, (%rdi)
    CLAC_IF_SMAP
    xorl %eax, %eax
    ret
    EXTABLE 1b, probe_user_efault

/* int arch_copy_user(void *dst, const void *src, size_t n): rep movsb with
 * user access open; a fault at any byte resumes at the fixup. */
    .globl arch_copy_user
arch_copy_user:
    movq %rdx, %rcx
    STAC_IF_SMAP
1:  rep movsb
    CLAC_IF_SMAP
    xorl %eax, %eax
    ret
    EXTABLE 1b, probe_user_efault

probe_user_efault:
    CLAC_IF_SMAP
probe_efault:
    movl $-EFAULT, %eax
    ret

/* int arch_probe_exec(const void *addr) */
    .globl arch_probe_exec
arch_probe_exec:
    pushq %rbp
    movq %rsp, %rbp
    movq %rdi, x86_exec_probe_target(%rip)
    leaq exec_probe_fixup(%rip), %rax
    movq %rax, x86_exec_probe_fixup(%rip)
    call *%rdi
    movq $0, x86_exec_probe_target(%rip)
    xorl %eax, %eax
    popq %rbp
    ret
exec_probe_fixup:                           /* entered from the trap with rsp at the pushed return address */
    movq %rbp, %rsp
    movq $0, x86_exec_probe_target(%rip)
    movl $-EFAULT, %eax
    popq %rbp
    ret

    .section .rodata
    .globl arch_ret_insn, arch_ret_insn_len
arch_ret_insn:
    .byte 0xc3
    .balign 8
arch_ret_insn_len:
    .quad 1

    .bss
    .balign 8
    .globl x86_exec_probe_target, x86_exec_probe_fixup
x86_exec_probe_target:
    .quad 0
x86_exec_probe_fixup:
    .quad 0

    .section .note.GNU-stack, "", @progbits
