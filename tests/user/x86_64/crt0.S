/* tests/user/x86_64/crt0.S - program entry: the kernel starts _start with
 * rsp at the top of the user stack; main's return value is the exit status,
 * through sys_exit (lib/ulib.c: it adds unknown printf conversions). */
    .section .text.start, "ax"
    .globl _start
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call main
    movl %eax, %edi
    call sys_exit
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
