/* arch/aarch64/entry.S - first instructions, from QEMU's loader.
 *
 * In: x0 = the device tree for a Linux Image (for an ELF QEMU leaves it 0:
 * the tree is then at the start of RAM, boot.c looks there), MMU off, at
 * EL1 or EL2 (-machine virt,virtualization=on); running at physical
 * 0x40200000, where the .boot pages are linked. At EL2 it drops to EL1
 * (AArch64, EL1 counters allowed, no virtual offset). Builds two boot tables
 * with 1 GiB blocks:
 *   TTBR0: identity of physical 0 .. 4 GiB (GiB 0, the devices, as Device
 *          memory), so the instruction after the MMU is on still translates
 *          and C can read the device tree and the PL011 until
 *          early_paging.c replaces the tables;
 *   TTBR1: 0xffffffff80000000 -> the gigabyte holding the image.
 * Then MAIR, TCR, SCTLR (MMU and caches on) and a jump to the higher half.
 * The boot tables are always 48-bit (T0SZ = T1SZ = 16, DS = 0), whatever
 * geometry the kernel then chooses: the choice needs the command line,
 * which C reads from the device tree. The early kernel root (and, on the
 * other CPUs, the kernel context) is installed by a64_mmu_switch, which
 * changes TCR_EL1 and both TTBRs with the MMU off for a few instructions,
 * from this identity-mapped page: no walk ever sees a TCR and a root of
 * different layouts. */
#include "cpu.h"

#define DESC_TABLE 0x3
#define BLOCK_NORMAL 0x701                              /* valid block, AttrIndx 0, inner shareable, AF */
#define BLOCK_DEVICE (0x409 | (3 << 53))                /* valid block, AttrIndx 2, AF, PXN, UXN */

/* At EL2 (x20 = the current EL): EL1 is AArch64 and may use the physical
 * counter and timer; eret to EL1h with D A I F masked at label \to. */
.macro DROP_TO_EL1 to
    cmp     x20, #2
    b.ne    \to
    mov     x1, #(1 << 31)
    msr     hcr_el2, x1
    mrs     x1, cnthctl_el2
    orr     x1, x1, #3
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    ldr     x1, =A64_SCTLR_MMU_OFF
    msr     sctlr_el1, x1
    mov     x1, #0x3c5                                  /* EL1h, D A I F masked */
    msr     spsr_el2, x1
    adr     x1, \to
    msr     elr_el2, x1
    eret
.endm

    .section .boot.text, "ax"
    .globl _start
_start:
    msr     daifset, #0xf
    mov     x19, x0
    mrs     x20, CurrentEL
    lsr     x20, x20, #2                                /* the EL we were entered at, for a64_boot */
    DROP_TO_EL1 1f
1:
    /* TTBR0: L0[0] -> L1; L1[0..3] identity gigabytes. */
    adrp    x2, boot_l0_lo
    adrp    x3, boot_l1_lo
    orr     x4, x3, #DESC_TABLE
    str     x4, [x2]
    ldr     x4, =BLOCK_DEVICE
    str     x4, [x3]
    ldr     x4, =BLOCK_NORMAL
    mov     x5, #(1 << 30)
    orr     x4, x4, x5
    mov     x6, #1
3:  str     x4, [x3, x6, lsl #3]
    add     x4, x4, x5
    add     x6, x6, #1
    cmp     x6, #4
    b.ne    3b
    /* TTBR1: L0[511] -> L1; L1[510] -> the image's gigabyte. */
    adrp    x2, boot_l0_hi
    adrp    x3, boot_l1_hi
    orr     x4, x3, #DESC_TABLE
    str     x4, [x2, #511 * 8]
    adr     x4, _start
    and     x4, x4, #~((1 << 30) - 1)
    ldr     x5, =BLOCK_NORMAL
    orr     x4, x4, x5
    str     x4, [x3, #510 * 8]
    dsb     sy
    bl      a64_boot_mmu_on
    ldr     x1, =a64_high_entry
    br      x1

/* MAIR, TCR and the boot tables, then SCTLR: the MMU is on when it returns
 * (to an identity-mapped address). Uses x1, x2. */
a64_boot_mmu_on:
    ldr     x1, =A64_MAIR_VALUE_ASM
    msr     mair_el1, x1
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #0xf                                /* PARange */
    cmp     x2, #5
    b.ls    4f
    mov     x2, #5                                      /* 48 bits at most without LPA2 */
4:  ldr     x1, =A64_TCR_VALUE
    orr     x1, x1, x2, lsl #A64_TCR_IPS_SHIFT
    msr     tcr_el1, x1
    adrp    x1, boot_l0_lo
    msr     ttbr0_el1, x1
    adrp    x1, boot_l0_hi
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, =A64_SCTLR_VALUE
    msr     sctlr_el1, x1
    isb
    ret

/* void a64_mmu_switch(uint64_t tcr, uint64_t idmap_ttbr0, uint64_t ttbr1):
 * the MMU off, TCR_EL1, TTBR0_EL1 and TTBR1_EL1 written, the TLB emptied,
 * the MMU on again, and back to the caller (a kernel virtual address, which
 * the new TTBR1 root must map, as the caller's stack). Called at its
 * physical address (a64_mmu_switch_pa) while entry.S's boot tables are in
 * force, whose TTBR0 identity-maps this page: with the MMU off it runs at
 * the same address, and idmap_ttbr0 (early_paging.c's a64_idmap_ttbr, in
 * the new layout) identity-maps it too, for the instructions after the MMU
 * is on again. The caller then writes its own TTBR0 and empties the TLB.
 * The new tables' stores are made visible to the walker first. It touches
 * no memory but its instructions, and x0-x4 alone. */
    .globl a64_mmu_switch
a64_mmu_switch:
    dsb     ish
    mrs     x3, sctlr_el1
    bic     x4, x3, #1                                  /* SCTLR_EL1.M */
    msr     sctlr_el1, x4
    isb
    msr     tcr_el1, x0
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x2
    isb
    tlbi    vmalle1                                     /* nothing of the boot tables' layout survives */
    dsb     nsh
    isb
    msr     sctlr_el1, x3
    isb
    ret

/* Every other CPU, started by arch_smp_start through PSCI CPU_ON: MMU off,
 * at EL1 or EL2, x0 = its a64_cpu_t (a kernel virtual address, not touched
 * before paging is on). The boot tables (built by the boot CPU, never
 * changed afterwards) take it to the higher half; a64_mmu_switch then puts
 * it on the boot CPU's TCR_EL1 and the kernel context's roots. */
    .globl a64_ap_start
a64_ap_start:
    msr     daifset, #0xf
    mov     x19, x0
    mrs     x20, CurrentEL
    lsr     x20, x20, #2
    DROP_TO_EL1 2f
2:  bl      a64_boot_mmu_on
    ldr     x1, =a64_ap_high
    br      x1
    .ltorg

    .section .boot.data, "aw"
    .balign 4096
    .globl boot_l0_lo, boot_l0_hi
boot_l0_lo: .space 4096
boot_l1_lo: .space 4096
boot_l0_hi: .space 4096
boot_l1_hi: .space 4096

/* Higher half from here on: symbols resolve to their linked addresses. */
    .section .text.entry, "ax"
a64_high_entry:
    ldr     x0, =_bss_start
    ldr     x1, =_bss_end
4:  cmp     x0, x1
    b.hs    5f
    str     xzr, [x0], #8
    b       4b
5:  ldr     x0, =a64_boot_stack_top
    mov     sp, x0
    ldr     x0, =a64_cpus                               /* CPU 0's area (cpu.h) */
    msr     tpidr_el1, x0
    ldr     x1, =a64_trap_stack_top
    str     x1, [x0, #A64_CPU_TRAP_STACK]
    ldr     x1, =a64_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    mov     x1, x20
    bl      a64_boot                                    /* never returns */
6:  wfi
    b       6b

/* A started CPU in the higher half, still on the boot tables: its area in
 * TPIDR_EL1, the vectors, then the boot CPU's TCR and the kernel context
 * (a64_mmu_switch at its physical address) and its own stack. */
a64_ap_high:
    msr     tpidr_el1, x19
    ldr     x1, =a64_vectors
    msr     vbar_el1, x1
    ldr     x0, [x19, #A64_CPU_TCR]
    ldr     x1, =a64_idmap_ttbr
    ldr     x1, [x1]
    ldr     x2, [x19, #A64_CPU_TTBR1]
    ldr     x5, =a64_mmu_switch                         /* .boot.text: its physical address */
    blr     x5
    ldr     x1, [x19, #A64_CPU_TTBR0]
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1                                     /* the identity map's translations */
    dsb     nsh
    isb
    ldr     x1, [x19, #A64_CPU_START_SP]
    mov     sp, x1
    mov     x0, x19
    bl      a64_ap_main                                 /* never returns */
7:  wfi
    b       7b
    .ltorg

/* The kernel stack, with an unmapped guard page below it (boot_info's
 * stack_guard_*; the early tables leave it out too) so an overflow faults
 * instead of running over .bss, and a separate stack for the trap that
 * reports it (trap_entry.S switches when sp is in the guard). */
    .section .bss
    .balign 4096
    .globl a64_stack_guard, a64_stack_guard_end, a64_boot_stack, a64_boot_stack_top
a64_stack_guard:
    .space  4096
a64_stack_guard_end:
a64_boot_stack:
    .space  16384
a64_boot_stack_top:

    .balign 16
    .globl a64_trap_stack, a64_trap_stack_top
a64_trap_stack:                                         /* the boot CPU's (the others' are in smp.c) */
    .space  8192
a64_trap_stack_top:

/* smp.c passes a64_ap_start's physical address to CPU_ON, early_paging.c
 * calls a64_mmu_switch at its: the image's low part is out of reach of
 * PC-relative addressing from the higher half. */
    .section .rodata
    .balign 8
    .globl a64_ap_start_pa
a64_ap_start_pa:
    .dword  a64_ap_start
    .globl a64_mmu_switch_pa
a64_mmu_switch_pa:
    .dword  a64_mmu_switch
