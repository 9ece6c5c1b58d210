/* tests/user/aarch64/crt0.S - program entry: the kernel starts _start with
 * sp at the top of the user stack; main's return value is the exit status,
 * through sys_exit (lib/ulib.c: it adds unknown printf conversions). */
    .section .text.start, "ax"
    .globl _start
_start:
    mov     x29, #0
    mov     x30, #0
    mov     x0, sp
    and     x0, x0, #~15
    mov     sp, x0
    bl      main
    bl      sys_exit                    /* status in x0 */
1:  b       1b
