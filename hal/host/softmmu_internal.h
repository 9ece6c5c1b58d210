/* hal/host/softmmu_internal.h - the host platform's TLB model hooks. */
#pragma once

#include "mm/types.h"

void softmmu_reset(void);
/* Drops cached translations of [start, end) for root (any root for kernel-half addresses). */
void softmmu_tlb_drop_range(pfn_t root, ptr_t start, ptr_t end);
/* Drops root's cached translations, and global ones when with_global (an
 * invalidation; without: an address-space switch, which the cached-walk
 * check leaves alone). */
void softmmu_tlb_drop_all(pfn_t root, bool with_global);
