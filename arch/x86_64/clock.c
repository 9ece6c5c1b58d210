/* arch/x86_64/clock.c - the TSC as bench mode's cycle counter, calibrated
 * against PIT channel 2 (1.193182 MHz, polled through port 0x61); the same
 * channel as a stopwatch for the local APIC timer's calibration, and delays. */
#include "kernel/arch.h"
#include "kernel/panic.h"
#include "x86.h"

#define PIT_HZ 1193182u
#define CALIBRATE_MS 50u

uint64_t arch_cycles(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

void x86_pit_wait_start(unsigned ms)
{
    if (ms == 0 || ms > 50)
        panic("x86_pit_wait_start: %u ms (1 to 50)", ms);
    uint16_t latch = (uint16_t)(PIT_HZ * ms / 1000);
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01)); /* gate on, speaker off */
    outb(0x43, 0xb0);                                  /* channel 2, lo/hi byte, mode 0 */
    outb(0x42, (uint8_t)(latch & 0xff));
    outb(0x42, (uint8_t)(latch >> 8));
}

void x86_pit_wait_end(void)
{
    while (!(inb(0x61) & 0x20)) /* OUT2 goes high when the count has run out */
        ;
}

/* TSC cycles during one CALIBRATE_MS one-shot count of PIT channel 2. */
static uint64_t pit_window(void)
{
    x86_pit_wait_start(CALIBRATE_MS);
    uint64_t t0 = arch_cycles();
    x86_pit_wait_end();
    return arch_cycles() - t0;
}

uint64_t arch_cycle_hz(void)
{
    static uint64_t hz;
    if (!hz) {
        uint64_t w[3];
        for (int i = 0; i < 3; i++)
            w[i] = pit_window();
        uint64_t m = w[0] > w[1] ? (w[1] > w[2] ? w[1] : (w[0] > w[2] ? w[2] : w[0]))
                                 : (w[0] > w[2] ? w[0] : (w[1] > w[2] ? w[2] : w[1]));
        hz = m * 1000 / CALIBRATE_MS;
    }
    return hz;
}

void x86_udelay(uint64_t us)
{
    uint64_t t0 = arch_cycles(), n = arch_cycle_hz() * us / 1000000;
    while (arch_cycles() - t0 < n)
        __asm__ volatile("pause");
}
