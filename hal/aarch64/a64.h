/* hal/aarch64/a64.h - system-register access and the TLB maintenance
 * instructions the aarch64 HAL uses (Arm ARM D19, C5.5). Kernel only. */
#pragma once

#include <stdint.h>

#define a64_sysreg_read(reg)                                                                                           \
    ({                                                                                                                 \
        uint64_t v_;                                                                                                   \
        __asm__ volatile("mrs %0, " #reg : "=r"(v_));                                                                  \
        v_;                                                                                                            \
    })
#define a64_sysreg_write(reg, val) __asm__ volatile("msr " #reg ", %0" ::"r"((uint64_t)(val)) : "memory")

/* TTBRn_EL1: BADDR in bits 47:1 (the table is 4 KiB aligned here), ASID in 63:48. */
#define A64_TTBR_ADDR 0x0000fffffffff000ull

static inline void a64_isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void a64_dsb_ish(void) { __asm__ volatile("dsb ish" ::: "memory"); }
static inline void a64_dsb_ishst(void) { __asm__ volatile("dsb ishst" ::: "memory"); }
static inline void a64_dsb_nsh(void) { __asm__ volatile("dsb nsh" ::: "memory"); }
/* Every CPU of the inner-shareable domain: the translation of one page
 * (operand VA[55:12], ASID 0), of everything at EL1&0. */
static inline void a64_tlbi_vae1is(uint64_t va) { __asm__ volatile("tlbi vae1is, %0" ::"r"((va >> 12) & ((1ull << 44) - 1)) : "memory"); }
static inline void a64_tlbi_vmalle1is(void) { __asm__ volatile("tlbi vmalle1is" ::: "memory"); }
/* This CPU only: the non-global translations of ASID `asid`, and everything. */
static inline void a64_tlbi_aside1(uint64_t asid) { __asm__ volatile("tlbi aside1, %0" ::"r"(asid << 48) : "memory"); }
static inline void a64_tlbi_vmalle1(void) { __asm__ volatile("tlbi vmalle1" ::: "memory"); }
