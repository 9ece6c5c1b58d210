/* arch/aarch64/probe.S - helpers that touch memory which may fault.
 *
 * Each access that may fault has an __ex_table entry (its address, the
 * address to resume at); the generic fault path (kernel/fault.c) moves ELR
 * there, and the fixup returns -EFAULT to the helper's caller. The user
 * variants clear PSTATE.PAN around their accesses and nowhere else; a64_trap
 * resumes a fixup with SPSR.PAN set already, and the fixup sets PAN once
 * more (no change then) so that it holds whoever resumes there. All return
 * 0 on success. MSR PAN, #imm is written as its encoding: the assemblers'
 * default architecture (ARMv8.0) does not know it. */
#define EFAULT 14
#define PAN_OFF .inst 0xd500409f /* msr pan, #0 */
#define PAN_ON .inst 0xd500419f  /* msr pan, #1 */

.macro ex_entry insn, fixup
    .pushsection __ex_table, "a"
    .balign 8
    .dword \insn, \fixup
    .popsection
.endm

    .section .text

/* int arch_probe_read(const volatile void *addr, uint8_t *out) */
    .globl arch_probe_read
arch_probe_read:
1:  ldrb    w2, [x0]
    strb    w2, [x1]
    mov     x0, #0
    ret
    ex_entry 1b, a64_probe_efault

/* int arch_probe_write(volatile void *addr, uint8_t val) */
    .globl arch_probe_write
arch_probe_write:
1:  strb    w1, [x0]
    mov     x0, #0
    ret
    ex_entry 1b, a64_probe_efault

/* int arch_probe_user_read(const volatile void *uaddr, uint8_t *out) */
    .globl arch_probe_user_read
arch_probe_user_read:
    PAN_OFF
1:  ldrb    w2, [x0]
    PAN_ON
    strb    w2, [x1]
    mov     x0, #0
    ret
    ex_entry 1b, a64_probe_efault

/* int arch_probe_user_write(volatile void *uaddr, uint8_t val) */
    .globl arch_probe_user_write
arch_probe_user_write:
    PAN_OFF
1:  strb    w1, [x0]
    PAN_ON
    mov     x0, #0
    ret
    ex_entry 1b, a64_probe_efault

/* int arch_copy_user(void *dst, const void *src, size_t n): a byte loop
 * with PAN clear around it; either access may fault (exception table). */
    .globl arch_copy_user
arch_copy_user:
    PAN_OFF
    cbz     x2, 2f
1:  ldrb    w3, [x1], #1
3:  strb    w3, [x0], #1
    subs    x2, x2, #1
    b.ne    1b
2:  PAN_ON
    mov     x0, #0
    ret
    ex_entry 1b, a64_probe_efault
    ex_entry 3b, a64_probe_efault

/* int arch_probe_exec(const void *addr): calls addr, which should hold a
 * `ret`. A fetch fault has ELR = addr, not an address in here, so the call
 * is armed: a64_exec_probe_target/_fixup tell arch_exec_probe_fixup
 * (trap.c) where to resume, with sp as this function left it. */
    .globl arch_probe_exec
arch_probe_exec:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    ldr     x1, =a64_exec_probe_target
    str     x0, [x1]
    ldr     x1, =a64_exec_probe_fixup
    adr     x2, 2f
    str     x2, [x1]
    dsb     ish
    ic      iallu                       /* the target may have just been written */
    dsb     ish
    isb
    blr     x0
    mov     x0, #0
    b       3f
2:  mov     x0, #-EFAULT
3:  ldr     x1, =a64_exec_probe_target
    str     xzr, [x1]
    ldp     x29, x30, [sp], #16
    ret
    .ltorg

/* Shared fixup: no user access any more, -EFAULT to the caller. */
a64_probe_efault:
    PAN_ON
    mov     x0, #-EFAULT
    ret

/* The bytes of `ret` for arch_probe_exec targets. */
    .section .rodata
    .globl arch_ret_insn, arch_ret_insn_len
arch_ret_insn:
    .word   0xd65f03c0
    .balign 8
arch_ret_insn_len:
    .dword  4

    .section .bss
    .balign 8
    .globl a64_exec_probe_target, a64_exec_probe_fixup
a64_exec_probe_target:
    .dword  0
a64_exec_probe_fixup:
    .dword  0
