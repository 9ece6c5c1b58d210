/* hal/aarch64/fault_decode.h - an instruction or data abort (ESR_EL1,
 * FAR_EL1, ELR_EL1, SPSR_EL1) into the generic record, and the aborts the
 * hardware refused whatever the tables say (pure: host-tested in
 * tests/unit/test_a64_fault.c). */
#pragma once

#include "hal/hal.h"

/* ESR_EL1 (Arm ARM D19, ESR_ELx): EC in bits 31:26, ISS in 24:0. */
#define A64_ESR_EC_SHIFT 26
#define A64_ESR_EC_MASK 0x3fu
#define A64_EC_IABT_LOWER 0x20u /* instruction abort from EL0 */
#define A64_EC_IABT_SAME 0x21u  /* instruction abort from EL1 */
#define A64_EC_DABT_LOWER 0x24u /* data abort from EL0 */
#define A64_EC_DABT_SAME 0x25u  /* data abort from EL1 */
#define A64_ESR_WNR (1u << 6)   /* data abort: a write */
#define A64_ESR_CM (1u << 8)    /* data abort: cache maintenance (reported as a write) */
#define A64_ESR_FNV (1u << 10)  /* FAR_EL1 is not valid */
#define A64_ESR_FSC_MASK 0x3fu  /* the fault status code */
/* FSC values: the level is the low two bits (Arm's levels 0-3). */
#define A64_FSC_TRANSLATION 0x04u
#define A64_FSC_ACCESS_FLAG 0x08u
#define A64_FSC_PERMISSION 0x0cu
/* FEAT_LPA2 (TCR_EL1.DS = 1): a translation fault at Arm's level -1, the
 * 16-entry root of aarch64-5level (no access-flag or permission fault
 * there: that level holds tables only). */
#define A64_FSC_TRANSLATION_LM1 0x2bu
/* SPSR_EL1.PAN: the interrupted code had privileged access to EL0 pages off. */
#define A64_SPSR_PAN (1ull << 22)

static inline unsigned a64_esr_ec(uint64_t esr) { return (unsigned)(esr >> A64_ESR_EC_SHIFT) & A64_ESR_EC_MASK; }

/* The fault status code's class (translation, access flag, permission), or
 * 0 for any other (address size, external, alignment, TLB conflict...). */
static inline unsigned a64_fsc_class(uint64_t esr)
{
    unsigned fsc = (unsigned)esr & A64_ESR_FSC_MASK;
    if (fsc == A64_FSC_TRANSLATION_LM1)
        return A64_FSC_TRANSLATION;
    if (fsc >= 0x04u && fsc <= 0x0fu)
        return fsc & ~3u;
    return 0;
}

/* True for an instruction or data abort, from EL0 or EL1, whose FAR is
 * valid and whose status is a translation, access-flag or permission
 * fault: what the memory manager may resolve. */
static inline bool a64_is_page_fault(uint64_t esr)
{
    unsigned ec = a64_esr_ec(esr);
    if (ec != A64_EC_IABT_LOWER && ec != A64_EC_IABT_SAME && ec != A64_EC_DABT_LOWER && ec != A64_EC_DABT_SAME)
        return false;
    if (esr & A64_ESR_FNV)
        return false;
    return a64_fsc_class(esr) != 0;
}

/* The generic record of a page fault. A translation fault means no entry
 * (present 0); a permission or access-flag fault means there was one. A
 * cache-maintenance data abort reports WnR set but only reads the page. A
 * kernel access has user pages open when the interrupted code ran with
 * PSTATE.PAN clear (a copy helper). */
static inline hal_fault_t a64_decode_page_fault(uint64_t esr, uint64_t far, uint64_t elr, uint64_t spsr)
{
    unsigned ec = a64_esr_ec(esr);
    bool insn = ec == A64_EC_IABT_LOWER || ec == A64_EC_IABT_SAME;
    bool user = ec == A64_EC_IABT_LOWER || ec == A64_EC_DABT_LOWER;
    hal_fault_t f = {
        .addr = far,
        .ip = elr,
        .access = insn                                                ? HAL_ACCESS_EXEC
                  : ((esr & A64_ESR_WNR) && !(esr & A64_ESR_CM))      ? HAL_ACCESS_WRITE
                                                                      : HAL_ACCESS_READ,
        .user_mode = user,
        .present = a64_fsc_class(esr) == A64_FSC_TRANSLATION ? 0 : 1,
        .user_access = !user && !(spsr & A64_SPSR_PAN),
    };
    return f;
}

/* Why the hardware refused the access whatever the tables hold, or NULL
 * when the memory manager decides: a kernel fetch from a user page (every
 * user page is PXN) or a kernel data access to a user page with PAN set
 * (outside the copy helpers). Those mappings are fine, so the generic
 * handler must not take them for spurious faults and retry for ever.
 * user_page: the address is in the user half. */
static inline const char *a64_page_fault_refusal(const hal_fault_t *f, bool user_page)
{
    if (!f->user_mode && f->present && user_page) {
        if (f->access == HAL_ACCESS_EXEC)
            return "PXN: kernel fetch from a user page";
        if (!f->user_access)
            return "PAN: kernel access to a user page outside the copy helpers";
    }
    return NULL;
}
