/* hal/aarch64/a64.h - system-register access and the TLB maintenance
 * instructions the aarch64 HAL uses (Arm ARM D19, C5.5). Kernel only. */
#pragma once

#include <stdint.h>

#include "mmu_regs.h"

#define a64_sysreg_read(reg)                                                                                           \
    ({                                                                                                                 \
        uint64_t v_;                                                                                                   \
        __asm__ volatile("mrs %0, " #reg : "=r"(v_));                                                                  \
        v_;                                                                                                            \
    })
#define a64_sysreg_write(reg, val) __asm__ volatile("msr " #reg ", %0" ::"r"((uint64_t)(val)) : "memory")


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

/* The boot-time probe: the geometry this CPU can run (a64_choose_geometry:
 * aarch64-5level where it has FEAT_LPA2 and allow_lpa2, else
 * aarch64-4level; NULL without a 4 KiB granule). The boot path then calls
 * hal_codec_select before building tables with the codec, and sets TCR_EL1
 * to a64_tcr_value(g, a64_read_mmfr0()). */
static inline uint64_t a64_read_mmfr0(void) { return a64_sysreg_read(id_aa64mmfr0_el1); }
static inline const hal_geometry_t *a64_probe_geometry(bool allow_lpa2)
{
    return a64_choose_geometry(a64_read_mmfr0(), allow_lpa2);
}

/* The alias hal_break_make stores through while a kernel-half entry is
 * broken (hal/hal.h): a kernel-half page at alias_va, outside every range
 * a break can cover (never in the direct map), whose level-1 entry is
 * *alias_slot, invalid and reachable (through the direct map) whenever no
 * break is in progress; its tables stay (another page mapped beside it
 * keeps them). The kernel's part registers it once its kernel context
 * maps it; before that hal_break_make stores through the slot itself. */
void a64_set_break_alias(pte_t *alias_slot, ptr_t alias_va);
