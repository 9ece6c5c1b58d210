/* arch/riscv64/hart.h - the per-hart area: one rv_hart_t per CPU, found
 * through tp while the kernel runs and through sscratch while the hart runs
 * user code (trap_entry.S), so that user code may use tp as it likes.
 * The offsets are for the assembly (entry.S, trap_entry.S); smp.c checks
 * them against the structure. */
#pragma once

#define RV_HART_KSTACK_TOP 0  /* where a trap from U-mode puts its frame (set on the way out) */
#define RV_HART_USER_SP 8     /* the user sp while a U-mode trap moves to the kernel stack */
#define RV_HART_TRAP_STACK 16 /* top of the stack a kernel stack overflow is reported on */
#define RV_HART_SATP 24       /* AP start-up: the kernel context's satp */
#define RV_HART_START_SP 32   /* AP start-up: top of its kernel stack */
#define RV_HART_STATE 40      /* AP start-up: RV_HART_* below (32 bits) */

#define RV_HART_STARTING 0 /* hart_start called, the hart has not answered yet */
#define RV_HART_ARRIVED 1  /* on its stack with the kernel context: about to call entry */
#define RV_HART_REFUSED 2  /* kept the boot table: it has not the kernel's paging mode */

/* sie / sip bits: the supervisor software (IPI) and timer interrupts. */
#define RV_SIE_SSIE (1 << 1)
#define RV_SIE_STIE (1 << 5)
#define RV_SIP_SSIP (1 << 1)
#define RV_IRQ_S_SOFT 1

#ifndef __ASSEMBLER__
#include <stdatomic.h>
#include <stdint.h>

#include "kernel/lib/fdt.h"

typedef struct rv_hart {
    uint64_t kstack_top;
    uint64_t user_sp;
    uint64_t trap_stack_top;
    uint64_t satp;
    uint64_t start_sp;
    _Atomic uint32_t state;
    unsigned cpu_id;            /* the generic CPU id (kernel/smp.h) */
    uint64_t hartid;            /* the SBI / device-tree id */
    void (*entry)(unsigned id); /* AP start-up: smp_ap_main */
    uint64_t slice_ticks;       /* timer.c: the time slice of this hart's timer */
    _Atomic uint64_t ticks;     /* timer interrupts this hart took */
} rv_hart_t;

/* One per CPU id; entry.S points the boot hart's tp at rv_harts[0] before
 * any C code runs. */
extern rv_hart_t rv_harts[];

/* The calling hart's area (tp). */
static inline rv_hart_t *rv_this_hart(void)
{
    rv_hart_t *h;
    __asm__ volatile("mv %0, tp" : "=r"(h));
    return h;
}

/* The area of CPU id (id < SMP_MAX_CPUS). */
rv_hart_t *rv_hart(unsigned id);

/* Boot hart, from rv_boot before paging: its hart id (a0 at entry) and the
 * harts of the device tree that arch_smp_start may start (copied). */
void rv_smp_boot_init(uint64_t boot_hartid, const fdt_info_t *dt);

/* The supervisor software interrupt (an IPI) that interrupted frame r:
 * acknowledge, then kernel_ipi. */
struct rv_regs;
void rv_ipi_interrupt(struct rv_regs *r);

/* Calls of arch_sync_icache_range (smp.c), and how many of them also had
 * every other hart run fence.i through SBI RFENCE (several harts online). */
extern _Atomic unsigned long rv_icache_syncs, rv_icache_remote_fences;
#endif
