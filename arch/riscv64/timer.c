/* arch/riscv64/timer.c - the preemption timer: the supervisor timer
 * interrupt, armed through SBI (the TIME extension, or the legacy set_timer
 * call on older firmware). SBI's timer and sie are per hart: each hart that
 * starts its timer gets its own ticks, counted in its rv_hart_t. sie.STIE is
 * set only while the timer runs, and the kernel runs with sstatus.SIE clear,
 * so ticks arrive only from U-mode (where enabled supervisor interrupts are
 * always taken) or while the hart idles (arch_wait_for_interrupt). */
#include "kernel/arch.h"
#include "hart.h"
#include "kernel/process.h"
#include "riscv.h"
#include "sbi.h"
#include "trap.h"

#define SBI_EXT_TIME 0x54494d45 /* "TIME" */
#define SBI_EXT_LEGACY_SET_TIMER 0x00
/* The time base the slice is counted in when the device tree names none:
 * QEMU virt's timebase-frequency (10 MHz). */
#define RV_TIMEBASE_DEFAULT_HZ 10000000ull

static uint64_t rdtime(void)
{
    uint64_t t;
    __asm__ volatile("csrr %0, time" : "=r"(t));
    return t;
}

static void set_timer(uint64_t when)
{
    static _Atomic int has_time_ext = -1; /* every hart finds the same */
    if (has_time_ext < 0)
        has_time_ext = sbi_has(SBI_EXT_TIME);
    if (has_time_ext)
        sbi_call(SBI_EXT_TIME, 0, (long)when, 0, 0);
    else
        sbi_call(SBI_EXT_LEGACY_SET_TIMER, 0, (long)when, 0, 0);
}

void arch_timer_start(unsigned hz)
{
    rv_hart_t *h = rv_this_hart();
    h->slice_ticks = (rv_timebase_hz ? rv_timebase_hz : RV_TIMEBASE_DEFAULT_HZ) / (hz ? hz : 1);
    set_timer(rdtime() + h->slice_ticks);
    csr_set(sie, RV_SIE_STIE);
}

void arch_timer_stop(void)
{
    csr_clear(sie, RV_SIE_STIE);
    set_timer(~0ull); /* far future: clears the pending bit */
}

/* Bench mode's cycle counter: the time CSR (also readable in U-mode,
 * scounteren.TM), at the device tree's rate; 0 Hz without one. */
uint64_t arch_cycles(void)
{
    __asm__ volatile("fence" ::: "memory");
    return rdtime();
}

uint64_t arch_cycle_hz(void) { return rv_timebase_hz; }

void rv_timer_interrupt(rv_regs_t *r)
{
    rv_hart_t *h = rv_this_hart();
    atomic_fetch_add_explicit(&h->ticks, 1, memory_order_relaxed);
    set_timer(rdtime() + h->slice_ticks); /* also clears sip.STIP */
    kernel_timer_tick(r);                 /* may switch to another process */
}
