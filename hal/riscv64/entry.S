/* hal/riscv64/entry.S - first instructions, in S-mode from OpenSBI.
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
#include "riscv.h"

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
    mv      a0, s0
    mv      a1, s1
    call    rv_boot                     /* never returns */
4:  wfi
    j       4b

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
rv_trap_stack:
    .space  8192
rv_trap_stack_top:
