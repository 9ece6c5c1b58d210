/* tests/embed/trampoline.S - the embedding kernel's way into and out of user
 * mode, xv6's trampoline adapted to a kernel that runs with paging off.
 *
 * The kernel itself never turns paging on (satp bare, identity). A user
 * process runs on its kmm context's root, which has no kernel half
 * (separate_kernel_root): the only kernel pages in it are this trampoline
 * page and the process's trap frame, both mapped supervisor-only at their
 * own physical addresses as reserved vmaps (mm_map_reserved_locked). So the
 * instruction after each satp write is fetched at the same address under
 * either translation, and the trap frame is reached through the same
 * pointer on both sides. Each satp write is followed by sfence.vma x0, x0:
 * kmm never sees this root active (the kernel does not call
 * mm_switch_context), so the kernel flushes on every switch itself.
 *
 * Trap frame layout (struct ek_trapframe in proc.c): 0 kernel satp, 8
 * kernel stack top, 16 kernel handler, 24 user pc, 32 + 8 * i register x_i. */
#define TF_KSATP 0
#define TF_KSP 8
#define TF_KTRAP 16
#define TF_EPC 24
#define TF_X(i) (32 + 8 * (i))

    .section .text.trampoline, "ax"
    .balign 4096
    .globl ek_trampoline
ek_trampoline:

/* stvec while a process runs. sscratch holds the trap frame's address. */
    .globl ek_uservec
    .balign 4
ek_uservec:
    csrrw a0, sscratch, a0
    .irp r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd x\r, TF_X(\r)(a0)
    .endr
    csrr t0, sscratch
    sd t0, TF_X(10)(a0)
    csrr t0, sepc
    sd t0, TF_EPC(a0)
    ld sp, TF_KSP(a0)
    ld t0, TF_KTRAP(a0)
    ld t1, TF_KSATP(a0)
    csrw satp, t1
    sfence.vma x0, x0
    jr t0 /* ek_user_trap(trap frame), on the kernel's trap stack */

/* ek_userret(trap frame, user satp): the caller set sepc, sscratch (the
 * trap frame), sstatus (SPP clear) and stvec (ek_uservec). */
    .globl ek_userret
ek_userret:
    csrw satp, a1
    sfence.vma x0, x0
    .irp r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld x\r, TF_X(\r)(a0)
    .endr
    ld a0, TF_X(10)(a0)
    sret

    .balign 4096
    .globl ek_trampoline_end
ek_trampoline_end:

/* ---- kernel side (paging off, never mapped for user mode) ---- */
    .text

/* stvec while the kernel runs: a trap taken in kernel mode (the timer),
 * handled on the current stack. */
    .globl ek_kernelvec
    .balign 4
ek_kernelvec:
    addi sp, sp, -256
    .irp r, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd x\r, (8 * \r)(sp)
    .endr
    call ek_kernel_trap
    .irp r, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld x\r, (8 * \r)(sp)
    .endr
    addi sp, sp, 256
    sret

/* ek_ctx_save(ctx): saves ra, sp, s0-s11 and returns 0; ek_ctx_jump(ctx)
 * resumes there, returning 1 (setjmp / longjmp: the scenario returns to
 * ek_main when the last process has exited). */
    .globl ek_ctx_save
ek_ctx_save:
    sd ra, 0(a0)
    sd sp, 8(a0)
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    sd s\i, (16 + 8 * \i)(a0)
    .endr
    li a0, 0
    ret

    .globl ek_ctx_jump
ek_ctx_jump:
    ld ra, 0(a0)
    ld sp, 8(a0)
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ld s\i, (16 + 8 * \i)(a0)
    .endr
    li a0, 1
    ret
