/* arch/x86_64/lapic.c - the local APIC (contracts in lapic.h), its three
 * vectors (timer, IPI, spurious) and the arch services built on it:
 * arch_ipi_send and the per-CPU preemption timer (arch_timer_start/stop).
 * Each CPU that starts the timer gets its own periodic tick. */
#include "lapic.h"

#include "kernel/arch.h"
#include "kernel/panic.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "mm/paging.h"
#include "x86.h"

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_ICR_PENDING (1u << 12)
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_LVT_PERIODIC (1u << 17)
#define LAPIC_DIV_16 0x3u
#define APIC_BASE_ADDR 0x000ffffffffff000ull
#define APIC_BASE_ENABLE (1ull << 11)
#define CALIBRATE_MS 20u

static volatile uint32_t *lapic;
static uint64_t timer_hz;

static uint32_t rd(unsigned reg) { return lapic[reg / 4]; }
static void wr(unsigned reg, uint32_t v) { lapic[reg / 4] = v; }

bool x86_lapic_ready(void) { return lapic != NULL; }

void x86_lapic_cpu_init(void)
{
    wr(LAPIC_TPR, 0);
    wr(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | X86_VEC_TIMER);
    wr(LAPIC_TIMER_INIT, 0);
    wr(LAPIC_SVR, LAPIC_SVR_ENABLE | X86_VEC_SPURIOUS);
    wr(LAPIC_ESR, 0);
    wr(LAPIC_EOI, 0);
}

/* Counts of the timer (divide by 16) during one PIT window. */
static uint64_t timer_window(void)
{
    wr(LAPIC_TIMER_DIV, LAPIC_DIV_16);
    wr(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | X86_VEC_TIMER); /* one-shot, masked */
    x86_pit_wait_start(CALIBRATE_MS);
    wr(LAPIC_TIMER_INIT, 0xffffffffu);
    x86_pit_wait_end();
    uint32_t left = rd(LAPIC_TIMER_CUR);
    wr(LAPIC_TIMER_INIT, 0);
    return 0xffffffffu - left;
}

uint64_t x86_lapic_setup(void)
{
    uint64_t msr = rdmsr(X86_MSR_APIC_BASE), base = msr & APIC_BASE_ADDR;
    if (!(msr & APIC_BASE_ENABLE))
        panic("x86: the local APIC is disabled in IA32_APIC_BASE (%llx)", (unsigned long long)msr);
    ptr_t va = X86_DIRECT_MAP_BASE + (ptr_t)base;
    mm_map_kernel_pages(mm_kernel_context(), va, base >> PAGE_SHIFT, 1, VM_RW | VM_CACHE_DISABLED | VM_GLOBAL);
    lapic = (volatile uint32_t *)va;
    x86_lapic_cpu_init();
    uint64_t w[3];
    for (int i = 0; i < 3; i++)
        w[i] = timer_window();
    uint64_t m = w[0] > w[1] ? (w[1] > w[2] ? w[1] : (w[0] > w[2] ? w[2] : w[0]))
                             : (w[0] > w[2] ? w[0] : (w[1] > w[2] ? w[2] : w[1]));
    timer_hz = m * 1000 / CALIBRATE_MS;
    if (timer_hz == 0)
        panic("x86: the local APIC timer did not count during %u ms of the PIT", CALIBRATE_MS);
    return base;
}

uint32_t x86_lapic_id(void) { return rd(LAPIC_ID) >> 24; }

uint64_t x86_lapic_timer_hz(void) { return timer_hz; }

void x86_lapic_send(uint32_t apic_id, uint32_t icr_lo)
{
    wr(LAPIC_ICR_HI, apic_id << 24);
    wr(LAPIC_ICR_LO, icr_lo); /* the write of the low half sends */
    while (rd(LAPIC_ICR_LO) & LAPIC_ICR_PENDING)
        __asm__ volatile("pause");
}

void arch_ipi_send(unsigned id)
{
    x86_lapic_send((uint32_t)smp_cpu(id)->hwid, LAPIC_ICR_FIXED | LAPIC_ICR_ASSERT | X86_VEC_IPI);
}

void arch_timer_start(unsigned hz)
{
    if (!lapic)
        panic("arch_timer_start before the local APIC was set up (smp_init)");
    uint64_t count = timer_hz / (hz ? hz : 1);
    wr(LAPIC_TIMER_DIV, LAPIC_DIV_16);
    wr(LAPIC_LVT_TIMER, LAPIC_LVT_PERIODIC | X86_VEC_TIMER);
    wr(LAPIC_TIMER_INIT, (uint32_t)(count ? (count > 0xffffffffu ? 0xffffffffu : count) : 1));
}

void arch_timer_stop(void)
{
    if (!lapic)
        return;
    wr(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | X86_VEC_TIMER);
    wr(LAPIC_TIMER_INIT, 0);
}

void x86_lapic_irq(x86_regs_t *r)
{
    switch (r->vector) {
    case X86_VEC_TIMER:
        wr(LAPIC_EOI, 0);
        kernel_timer_tick(r); /* may switch to another process */
        return;
    case X86_VEC_IPI:
        wr(LAPIC_EOI, 0); /* first: kernel_ipi may not return (a thread of an ending process ends) */
        kernel_ipi(r);
        return;
    default:
        return; /* spurious: no EOI */
    }
}

void arch_wait_for_interrupt(void)
{
    /* sti takes effect after the next instruction: an interrupt pending
     * between the two ends the hlt instead of being lost before it. */
    __asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
}
