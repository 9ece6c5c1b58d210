/* arch/riscv64/entry.S - first instructions, in S-mode from OpenSBI.
 *
 * In: a0 = hart id, a1 = physical address of the device tree, MMU off,
 * running at physical 0x80200000 (the .boot page is linked there).
 * Builds boot_pt, a one-page Sv39 root with 1 GiB leaves:
 *   - identity: physical 0 .. 4 GiB (this code, the device tree, RAM up to
 *     4 GiB) so the instruction after the satp write still translates;
 *   - kernel: 0xffffffff80000000 -> the gigabyte holding the image.
 * Sv39 is the mode every paging riscv64 hart has (an Sv48 or Sv57 hart must
 * also support Sv39). Then it jumps to the higher half, where C chooses the
 * real paging mode (early_paging.c). */
#include "hart.h"
#include "riscv.h"
#include "sbi.h"

#define PTE_RWX_AD_V 0xcf /* V R W X A D */

    .section .boot.text, "ax"
    .option norvc
    .globl _start
_start:
    csrw    sie, zero
    csrci   sstatus, SSTATUS_SIE
    mv      s0, a0
    mv      s1, a1

    lla     t0, boot_pt
    /* identity entries 0..3: leaf for physical i GiB */
    li      t1, PTE_RWX_AD_V
    li      t2, 1 << 28                 /* (1 GiB >> 12) << 10: one GiB in PPN units */
    li      t3, 4
1:  sd      t1, 0(t0)
    add     t1, t1, t2
    addi    t0, t0, 8
    addi    t3, t3, -1
    bnez    t3, 1b

    /* kernel entry 510 (VA bits 38:30 of 0xffffffff80000000) */
    lla     t0, boot_pt
    lla     t1, _start
    srli    t1, t1, 30
    slli    t1, t1, 28
    ori     t1, t1, PTE_RWX_AD_V
    li      t2, 510 * 8
    add     t2, t0, t2
    sd      t1, 0(t2)

    srli    t0, t0, 12
    li      t1, SATP_MODE_SV39 << SATP_MODE_SHIFT
    or      t0, t0, t1
    sfence.vma
    csrw    satp, t0
    sfence.vma

    ld      t0, high_entry_addr
    jr      t0

    .balign 8
high_entry_addr:
    .dword  rv_high_entry

/* Every other hart, started by arch_smp_start through SBI HSM hart_start:
 * S-mode, MMU off, a0 = hart id, a1 = its rv_hart_t (kernel virtual
 * address, not touched before paging is on). boot_pt (built by the boot
 * hart, never changed afterwards) takes it to the higher half. */
    .globl rv_ap_start
rv_ap_start:
    csrw    sie, zero
    csrci   sstatus, SSTATUS_SIE
    lla     t0, boot_pt
    srli    t0, t0, 12
    li      t1, SATP_MODE_SV39 << SATP_MODE_SHIFT
    or      t0, t0, t1
    sfence.vma
    csrw    satp, t0
    sfence.vma
    ld      t0, ap_high_addr
    jr      t0

    .balign 8
ap_high_addr:
    .dword  rv_ap_high

    .section .boot.data, "aw"
    .balign 4096
    .globl boot_pt
boot_pt:
    .space  4096

/* Higher half from here on: symbols resolve to their linked addresses. */
    .section .text.entry, "ax"
    .globl rv_high_entry
rv_high_entry:
    la      sp, rv_boot_stack_top
    la      tp, rv_harts                /* CPU 0's area (hart.h) */
    la      t0, rv_trap_entry
    csrw    stvec, t0
    csrw    sscratch, zero

    la      t0, _bss_start
    la      t1, _bss_end
2:  bgeu    t0, t1, 3f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       2b
3:
    la      t0, rv_trap_stack_top
    sd      t0, RV_HART_TRAP_STACK(tp)
    mv      a0, s0
    mv      a1, s1
    call    rv_boot                     /* never returns */
4:  wfi
    j       4b

/* A started hart in the higher half, still on boot_pt: its area in tp, the
 * trap vector, then the kernel context and its own stack. A hart that keeps
 * its old satp has not the kernel's paging mode: it says so before touching
 * anything boot_pt does not map, and stops. */
    .globl rv_ap_high
rv_ap_high:
    mv      tp, a1
    la      t0, rv_trap_entry
    csrw    stvec, t0
    csrw    sscratch, zero
    ld      t0, RV_HART_SATP(tp)
    sfence.vma
    csrw    satp, t0
    sfence.vma
    csrr    t1, satp
    bne     t0, t1, 1f
    ld      sp, RV_HART_START_SP(tp)
    mv      a0, tp
    call    rv_ap_main                  /* never returns */
1:  fence   rw, w
    li      t0, RV_HART_REFUSED
    sw      t0, RV_HART_STATE(tp)
    li      a7, SBI_EXT_HSM
    li      a6, SBI_HSM_HART_STOP
    ecall
2:  wfi
    j       2b

/* The kernel stack, with an unmapped guard page below it (boot_info's
 * stack_guard_*; the early tables leave it out too) so an overflow faults
 * instead of running over .bss, and a separate stack for the trap that
 * reports it (trap_entry.S switches when sp is in the guard). */
    .section .bss
    .balign 4096
    .globl rv_stack_guard, rv_stack_guard_end, rv_boot_stack, rv_boot_stack_top
rv_stack_guard:
    .space  4096
rv_stack_guard_end:
rv_boot_stack:
    .space  16384
rv_boot_stack_top:

    .balign 16
    .globl rv_trap_stack, rv_trap_stack_top
rv_trap_stack:                          /* the boot hart's (the others' are in smp.c) */
    .space  8192
rv_trap_stack_top:

/* smp.c passes rv_ap_start's physical address to hart_start: the image's
 * low part is out of reach of PC-relative addressing from here. */
    .section .rodata
    .balign 8
    .globl rv_ap_start_pa
rv_ap_start_pa:
    .dword  rv_ap_start
