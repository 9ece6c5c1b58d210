/* hal/x86_64/fault_decode.h - a #PF (error code, CR2, RIP, RFLAGS) into the
 * generic record, and the faults the hardware refused whatever the tables
 * say (pure: host-tested in tests/unit/test_x86_fault.c). */
#pragma once

#include "hal/hal.h"

/* The #PF error code (Intel SDM vol. 3A, 4.7). */
#define X86_PF_P (1u << 0)    /* the translation was present (a protection fault) */
#define X86_PF_W (1u << 1)    /* a write */
#define X86_PF_U (1u << 2)    /* from ring 3 */
#define X86_PF_RSVD (1u << 3) /* a reserved bit was set in an entry */
#define X86_PF_I (1u << 4)    /* an instruction fetch */

#define X86_RFLAGS_AC_BIT (1ull << 18) /* STAC: supervisor access to user pages allowed under SMAP */

/* The generic record of a page fault. A kernel access has user pages open
 * when SMAP is off or RFLAGS.AC is set (STAC: a copy helper). */
static inline hal_fault_t x86_decode_page_fault(uint64_t error, uint64_t cr2, uint64_t rip, uint64_t rflags, bool smap)
{
    hal_fault_t f = {
        .addr = cr2,
        .ip = rip,
        .access = (error & X86_PF_I) ? HAL_ACCESS_EXEC : (error & X86_PF_W) ? HAL_ACCESS_WRITE : HAL_ACCESS_READ,
        .user_mode = error & X86_PF_U,
        .present = (error & X86_PF_P) ? 1 : 0,
        .user_access = !(error & X86_PF_U) && (!smap || (rflags & X86_RFLAGS_AC_BIT)),
    };
    return f;
}

/* Why the hardware refused the access whatever the tables hold, or NULL
 * when the memory manager decides: a reserved bit in an entry, or a kernel
 * access to a present user page that SMEP (a fetch) or SMAP (data outside a
 * copy helper) forbade. Those mappings are fine, so the generic handler
 * must not take them for spurious faults and retry for ever. user_page: the
 * address is in the user half. */
static inline const char *x86_page_fault_refusal(const hal_fault_t *f, uint64_t error, bool user_page, bool smep,
                                                 bool smap)
{
    if (error & X86_PF_RSVD)
        return "reserved bit set in a page-table entry";
    if (!f->user_mode && f->present && user_page) {
        if (f->access == HAL_ACCESS_EXEC && smep)
            return "SMEP: kernel fetch from a user page";
        if (f->access != HAL_ACCESS_EXEC && smap && !f->user_access)
            return "SMAP: kernel access to a user page outside the copy helpers";
    }
    return NULL;
}
