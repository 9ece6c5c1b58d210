/* tests/embed/start.S - OpenSBI enters here in S-mode, MMU off (bare): the
 * embedding kernel runs identity-mapped in the low half of the address
 * space and never turns paging on for itself. */
    .section .text.start, "ax"
    .globl _start
_start:
    /* Only hart 0 runs the scenario; the others wait for ever. */
    bnez a0, 1f
    la sp, ek_stack_top
    call ek_main
1:  wfi
    j 1b

    .section .bss
    .balign 16
    .space 16384
    .globl ek_stack_top
ek_stack_top:
