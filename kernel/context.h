/* kernel/context.h - the address space each CPU runs. The memory manager
 * keeps the record (mm_switch_context sets it per CPU, with the CPU masks
 * its shootdowns use), so these are its calls under the kernel's names, and
 * every file that switches contexts (processes, CPUs, tests) depends on the
 * memory manager alone, not on the fault path. */
#pragma once

#include "mm/mm.h"

/* The context faults on this CPU are resolved in (NULL before the first switch). */
static inline mm_context_t *kernel_current_context(void) { return mm_active_context(); }
/* Switches the calling CPU to ctx (mm_switch_context) and records it for the fault path. */
static inline void kernel_switch_context(mm_context_t *ctx) { mm_switch_context(ctx); }
