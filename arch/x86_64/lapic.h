/* arch/x86_64/lapic.h - the local APIC in xAPIC mode (memory-mapped
 * registers; QEMU 7.2's TCG has no x2APIC): per-CPU set-up, IPIs and the
 * per-CPU timer. Registers are those of the calling CPU's own APIC. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* ICR delivery modes and flags (Intel SDM vol. 3A, 10.6.1). */
#define LAPIC_ICR_FIXED 0x000u
#define LAPIC_ICR_INIT 0x500u
#define LAPIC_ICR_STARTUP 0x600u
#define LAPIC_ICR_ASSERT (1u << 14)
#define LAPIC_ICR_LEVEL (1u << 15)

/* Boot CPU, once, with the kernel context active: maps the registers (the
 * physical base from IA32_APIC_BASE, uncached, in the kernel half at the
 * direct map's place for that address), enables this CPU's APIC and
 * calibrates the timer against the PIT. Returns the base. */
uint64_t x86_lapic_setup(void);
/* Every other CPU: enables its APIC (spurious vector, TPR 0, timer masked). */
void x86_lapic_cpu_init(void);
/* True once x86_lapic_setup has run. */
bool x86_lapic_ready(void);
/* This CPU's local APIC id. */
uint32_t x86_lapic_id(void);
/* Sends an IPI (icr_lo: vector | mode | flags) to the APIC with apic_id and
 * waits until the APIC has accepted it for delivery. */
void x86_lapic_send(uint32_t apic_id, uint32_t icr_lo);
/* Timer counts per second (divide by 16). */
uint64_t x86_lapic_timer_hz(void);
