/* tests/user/riscv64/crt0.S - program entry: the kernel starts _start with
 * sp at the top of the user stack; main's return value is the exit status,
 * through sys_exit (lib/ulib.c: it adds unknown printf conversions). */
    .section .text.start, "ax"
    .globl _start
_start:
    li      s0, 0
    andi    sp, sp, -16
    call    main
    call    sys_exit                    /* status in a0 */
1:  j       1b
