/* arch/aarch64/timer.c - the GICv2 of QEMU virt and the preemption timer:
 * the EL1 virtual timer (CNTV, PPI 27), a private interrupt of each CPU.
 * The kernel runs with PSTATE.I set, so ticks arrive only from EL0 or while
 * the CPU idles (arch_wait_for_interrupt). The counter (CNTVCT_EL0, also
 * readable at EL0: CNTKCTL_EL1.EL0VCTEN) is bench mode's cycle counter. */
#include "a64.h"
#include "cpu.h"
#include "kernel/arch.h"
#include "kernel/panic.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "trap.h"

#define GICD_CTLR 0x000
#define GICD_TYPER 0x004 /* bits 7:5: CPU interfaces - 1 */
#define GICD_ISENABLER0 0x100
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800 /* bytes 0-31 (SGIs, PPIs): read-only, the reading CPU's own interface */
#define GICD_SGIR 0xf00
#define GICC_CTLR 0x00
#define GICC_PMR 0x04
#define GICC_IAR 0x0c
#define GICC_EOIR 0x10
#define GIC_SPURIOUS 1020 /* INTIDs 1020-1023: nothing to acknowledge */

#define CNTV_CTL_ENABLE 1
#define CNTV_CTL_IMASK 2

static volatile uint32_t *gic_reg(uint64_t phys, uint32_t off)
{
    return (volatile uint32_t *)(uintptr_t)(A64_DEVICE_BASE + phys + off);
}

void a64_gic_init_cpu(void)
{
    *gic_reg(A64_GICD_PHYS, GICD_CTLR) = 3; /* both groups forwarded */
    volatile uint8_t *prio = (volatile uint8_t *)gic_reg(A64_GICD_PHYS, GICD_IPRIORITYR);
    prio[A64_TIMER_INTID] = 0x80;
    prio[A64_IPI_INTID] = 0x80;
    *gic_reg(A64_GICD_PHYS, GICD_ISENABLER0) = (1u << A64_TIMER_INTID) | (1u << A64_IPI_INTID); /* banked per CPU */
    *gic_reg(A64_GICC_PHYS, GICC_PMR) = 0xff;
    *gic_reg(A64_GICC_PHYS, GICC_CTLR) = 3;
    /* A GIC with one CPU interface reads ITARGETSR as zero: interface 0. */
    uint8_t mask = ((volatile uint8_t *)gic_reg(A64_GICD_PHYS, GICD_ITARGETSR))[0];
    if (((*gic_reg(A64_GICD_PHYS, GICD_TYPER) >> 5) & 7) == 0)
        mask = 1;
    a64_this_cpu()->gic_mask = mask;
    a64_sysreg_write(cntv_ctl_el0, CNTV_CTL_IMASK);
}

void a64_gic_send_sgi(uint8_t target_mask, unsigned intid)
{
    *gic_reg(A64_GICD_PHYS, GICD_SGIR) = (uint32_t)target_mask << 16 | (intid & 0xf);
}

void arch_timer_start(unsigned hz)
{
    a64_cpu_t *c = a64_this_cpu();
    c->slice_ticks = a64_counter_hz() / (hz ? hz : 1);
    a64_sysreg_write(cntv_tval_el0, c->slice_ticks);
    a64_sysreg_write(cntv_ctl_el0, CNTV_CTL_ENABLE);
    a64_isb();
}

void arch_timer_stop(void)
{
    a64_sysreg_write(cntv_ctl_el0, CNTV_CTL_IMASK); /* disabled: the line drops */
    a64_isb();
}

uint64_t arch_cycles(void)
{
    a64_isb(); /* not read ahead of the code it times */
    return a64_sysreg_read(cntvct_el0);
}

uint64_t arch_cycle_hz(void) { return a64_counter_hz(); }

void a64_irq(a64_regs_t *r)
{
    uint32_t iar = *gic_reg(A64_GICC_PHYS, GICC_IAR);
    uint32_t intid = iar & 0x3ff;
    if (intid >= GIC_SPURIOUS)
        return;
    if (intid == A64_TIMER_INTID) {
        a64_cpu_t *c = a64_this_cpu();
        atomic_fetch_add_explicit(&c->ticks, 1, memory_order_relaxed);
        a64_sysreg_write(cntv_tval_el0, c->slice_ticks); /* the next slice; the line drops */
        a64_isb();
        *gic_reg(A64_GICC_PHYS, GICC_EOIR) = iar;
        kernel_timer_tick(r); /* may switch to another process */
        return;
    }
    *gic_reg(A64_GICC_PHYS, GICC_EOIR) = iar;
    if (intid == A64_IPI_INTID)
        kernel_ipi(r);
    else
        panic("interrupt %u nobody enabled", intid);
}
