/* hal/host/softmmu_internal.h - the host platform's TLB model hooks. */
#pragma once

#include "mm/types.h"

void softmmu_reset(void);
/* Drops CPU cpu's cached translations of [start, end) for root (any root
 * for kernel-half addresses). */
void softmmu_tlb_drop_range(unsigned cpu, pfn_t root, ptr_t start, ptr_t end);
/* Drops CPU cpu's cached translations of root and, with with_global, the
 * global ones; without it, every non-global one (an activation). */
void softmmu_tlb_drop_all(unsigned cpu, pfn_t root, bool with_global);
/* How many cached translations, over every CPU, lead into the 2^order
 * frames at pfn; the first one's CPU and address in *cpu_out, *va_out. */
size_t softmmu_cached_frame(pfn_t pfn, unsigned order, unsigned *cpu_out, ptr_t *va_out);
