/* tests/user/riscv64/crt0.S - program entry: the kernel starts _start with
 * sp at the top of the user stack; main's return value is the exit status. */
    .section .text.start, "ax"
    .globl _start
_start:
    li      s0, 0
    andi    sp, sp, -16
    call    main
    li      a7, 0                       /* SYS_EXIT, status in a0 */
    ecall
1:  j       1b
