/* arch/aarch64/cpu.h - the test kernel's constants for aarch64 on QEMU virt
 * (shared by the assembly and C): where the image and the direct map live,
 * the devices, the system-register bits it sets, and the per-CPU area
 * (TPIDR_EL1) the trap entry uses. */
#pragma once

#define A64_U64(x) x##ull
#ifdef __ASSEMBLER__
#undef A64_U64
#define A64_U64(x) x
#endif

/* The image: loaded by QEMU at physical 0x40200000 (RAM starts at
 * 0x40000000, the device tree is at its start), linked at
 * 0xffffffff80200000; virtual - physical is a multiple of 1 GiB. */
#define A64_KERNEL_PHYS A64_U64(0x40200000)
#define A64_KERNEL_OFFSET A64_U64(0xffffffff40000000)
/* All RAM at A64_DIRECT_MAP_BASE + physical (the bottom of the kernel half,
 * TTBR1's entry 256); up to 256 GiB of physical addresses. */
#define A64_DIRECT_MAP_BASE A64_U64(0xffff800000000000)
#define A64_DIRECT_MAP_LIMIT A64_U64(0xffff804000000000)
/* The devices the kernel uses, at A64_DEVICE_BASE + physical (a window of
 * its own, outside the direct map). */
#define A64_DEVICE_BASE A64_U64(0xfffffffe00000000)
/* hal_break_make's alias page (hal/aarch64/a64.h), outside the direct map,
 * with an anchor page below it that keeps its tables (boot.c). */
#define A64_BREAK_ALIAS_VA A64_U64(0xfffffffd00001000)
#define A64_PL011_PHYS A64_U64(0x09000000)
#define A64_GICD_PHYS A64_U64(0x08000000) /* GICv2 distributor, 64 KiB */
#define A64_GICC_PHYS A64_U64(0x08010000) /* GICv2 CPU interface, 64 KiB */
#define A64_RAM_BASE A64_U64(0x40000000)

/* PSTATE / SPSR_EL1 */
#define A64_SPSR_EL0T 0x0
#define A64_SPSR_EL1H 0x5
#define A64_SPSR_M_MASK 0xf
#define A64_SPSR_F (1 << 6)
#define A64_SPSR_I (1 << 7)
#define A64_SPSR_A (1 << 8)
#define A64_SPSR_D (1 << 9)
#define A64_SPSR_PAN_BIT (1 << 22)

/* SCTLR_EL1: M, C, SA, SA0, I, UCT and UCI (EL0 may read CTR_EL0 and run
 * DC CVAU / IC IVAU: user code that writes instructions makes them visible
 * itself, tests/user/aarch64/arch.h), plus the bits that are RES1 in
 * ARMv8.0 (EOS, TSCXT, EIS, nTLSMD, LSMAOE). SPAN (bit 23) clear: every
 * exception taken to EL1 sets PSTATE.PAN. WXN clear: the early tables map
 * the image RWX until the kernel context maps it W^X. */
#define A64_SCTLR_MMU_OFF 0x30500800
#define A64_SCTLR_UCT (1 << 15)
#define A64_SCTLR_UCI (1 << 26)
#define A64_SCTLR_VALUE (A64_SCTLR_MMU_OFF | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12) | A64_SCTLR_UCT | A64_SCTLR_UCI)

/* TCR_EL1 of entry.S's boot tables: T0SZ = T1SZ = 16 (48-bit halves),
 * 4 KiB granules, walks inner-shareable write-back write-allocate; IPS is
 * added from ID_AA64MMFR0_EL1 at boot (at most 48 bits). The kernel's own
 * tables run with a64_tcr_value of the geometry it chose (early_paging.c). */
#define A64_TCR_VALUE (16 | (1 << 8) | (1 << 10) | (3 << 12) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (A64_U64(2) << 30))
#define A64_TCR_IPS_SHIFT 32

/* MAIR_EL1: hal_arch.h's A64_MAIR_VALUE, for the assembly (boot.c checks
 * that they agree). */
#define A64_MAIR_VALUE_ASM 0x0404bbff

/* CNTKCTL_EL1: EL0 may read the virtual counter (bench mode's user half). */
#define A64_CNTKCTL_EL0VCTEN (1 << 1)
/* The virtual timer's private interrupt (PPI 11 = INTID 27). */
#define A64_TIMER_INTID 27
/* SGI used as the IPI. */
#define A64_IPI_INTID 1

/* The per-CPU area (TPIDR_EL1 while the kernel runs). The offsets are for
 * the assembly; smp.c checks them against the structure. */
#define A64_CPU_SCRATCH 0     /* trap entry: x1, x2 and the vector's kind while it checks the stack */
#define A64_CPU_TRAP_STACK 24 /* top of the stack a kernel stack overflow is reported on */
#define A64_CPU_TTBR0 32      /* start-up: the kernel context's TTBR0 and TTBR1 */
#define A64_CPU_TTBR1 40
#define A64_CPU_START_SP 48   /* start-up: top of its kernel stack */
#define A64_CPU_TCR 56        /* start-up: the boot CPU's TCR_EL1 */

#define A64_CPU_STARTING 0 /* CPU_ON called, the CPU has not answered yet */
#define A64_CPU_ARRIVED 1  /* on its stack with the kernel context: about to call entry */

#ifndef __ASSEMBLER__
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct a64_cpu {
    uint64_t scratch[3];
    uint64_t trap_stack_top;
    uint64_t ttbr0, ttbr1;
    uint64_t start_sp;
    uint64_t tcr;
    _Atomic uint32_t state;     /* A64_CPU_* (start-up) */
    unsigned cpu_id;            /* the generic CPU id (kernel/smp.h) */
    uint64_t mpidr;             /* its affinity (the device tree's reg) */
    uint8_t gic_mask;           /* its GIC CPU interface (the SGI target bit) */
    void (*entry)(unsigned id); /* start-up: smp_ap_main */
    uint64_t slice_ticks;       /* timer.c: the time slice of this CPU's timer */
    _Atomic uint64_t ticks;     /* timer interrupts this CPU took */
} a64_cpu_t;

/* The calling CPU's area. */
static inline a64_cpu_t *a64_this_cpu(void)
{
    a64_cpu_t *c;
    __asm__ volatile("mrs %0, tpidr_el1" : "=r"(c));
    return c;
}
/* The area of CPU id (smp.c). */
a64_cpu_t *a64_cpu(unsigned id);

/* PSTATE.PAN (FEAT_PAN): the register name is s3_0_c4_c2_3. */
static inline uint64_t a64_read_pan(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, s3_0_c4_c2_3" : "=r"(v));
    return v & A64_SPSR_PAN_BIT;
}

/* Set by arch_exit before its semihosting call (boot.c). */
extern volatile bool a64_exiting;
/* The exception level QEMU entered the kernel at (boot.c). */
extern unsigned a64_entry_el;
/* The counter's frequency (CNTFRQ_EL0). */
uint64_t a64_counter_hz(void);
/* Whether the CPU has FEAT_PAN (and the kernel set PSTATE.PAN). */
bool a64_has_pan(void);
/* What every CPU sets before it runs kernel code that may trap (boot.c):
 * PSTATE.PAN (panics without FEAT_PAN), EL0's access to the counter. */
void a64_cpu_setup(void);
/* Boot CPU, before paging: its MPIDR, and the CPUs of the device tree and
 * the PSCI method arch_smp_start uses (copied). */
struct fdt_info;
void a64_smp_boot_init(const struct fdt_info *dt);
/* The GIC (timer.c): distributor and this CPU's interface on, the timer's
 * and the IPI's interrupts enabled, the CPU's interface mask recorded in
 * its area (gic_mask). */
void a64_gic_init_cpu(void);
/* Raises SGI intid on the CPU interfaces of target_mask (timer.c). */
void a64_gic_send_sgi(uint8_t target_mask, unsigned intid);
#endif
