/* mm/platform.h - what the generic layer needs from whoever embeds it: the
 * kernel (kernel/) or the host platform (hal/host/). Three services only. */
#pragma once

#include "mm/types.h"

/* A pointer through which the generic layer reads and writes physical memory
 * (the kernel's direct map; the host's simulated RAM). */
void *mm_phys_to_virt(uint64_t paddr);

/* A non-zero token naming the running thread/CPU, recorded as a lock's owner. */
uintptr_t mm_lock_owner_token(void);

/* Stop with a report naming the function and the values involved. */
_Noreturn void mm_panic_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mm_panic(...) mm_panic_at(__func__, __VA_ARGS__)
#define MM_ASSERT(cond, fmt, ...)                                                                                      \
    do {                                                                                                               \
        if (__builtin_expect(!(cond), 0))                                                                              \
            mm_panic_at(__func__, "assertion '%s' failed: " fmt, #cond, ##__VA_ARGS__);                                \
    } while (0)

static inline void *pfn_va(pfn_t pfn) { return mm_phys_to_virt((uint64_t)pfn << PAGE_SHIFT); }
