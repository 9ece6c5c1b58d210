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

/* ---- Several CPUs ----
 * The generic layer tracks which CPUs may cache each context's translations
 * (mm_switch_context on each CPU keeps it up to date) and, when an operation
 * removes or weakens translations, invalidates them on the calling CPU (the
 * HAL's hal_tlb_* operations) and asks the platform to do the same on the
 * others, waiting for all of them before any frame or table it released can
 * be allocated again. A single-CPU platform returns 0, 1 and never sees a
 * shootdown. */
/* MM_MAX_CPUS, mm_cpumask_t: mm/kmm.h. */
#define MM_CPU_BIT(cpu) ((mm_cpumask_t)1 << (cpu))

/* The calling CPU's index, below MM_MAX_CPUS (0 on a single CPU). */
unsigned mm_cpu_id(void);
/* Every CPU that is running (bit i: CPU i): they all cache the kernel half. */
mm_cpumask_t mm_cpus_online(void);

/* One invalidation request: [start, end) of the address space whose root is
 * `root` (kernel-half ranges: whatever address space each CPU runs), or
 * everything of it (all: as hal_tlb_invalidate_all, for freed tables). */
/* Has every CPU in `cpus` (never the calling one) carry out req with its
 * local hal_tlb_invalidate / hal_tlb_invalidate_all, and returns when each
 * has acknowledged. Called with context locks held and, in a kernel,
 * interrupts masked: while it waits it must keep serving requests aimed at
 * the calling CPU, or two CPUs shooting down at each other deadlock. */
void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req);

/* ---- Interrupts ----
 * Optional: masking interrupts while a kmm lock is held. Every kmm lock
 * calls mm_irq_save() before it starts spinning and mm_irq_restore() with
 * what it returned after it is released; kmm releases its locks in the
 * reverse order of taking them, so the pair nests (the first lock's state
 * is the one restored last). A kernel that takes interrupts in kernel mode
 * and may call kmm from an interrupt handler (or switch threads from the
 * timer while kmm runs, on a lock another thread then spins on) masks
 * interrupts here and returns whether they were on: no call into kmm need
 * then be wrapped. The generic layer's default masks nothing and returns
 * 0 (a kernel whose interrupts are already off in kernel mode, or that
 * never enters kmm from an interrupt, as the test kernel here). Called with
 * no kmm lock of the calling CPU held for the first save; must not call into
 * kmm. */
mm_irq_state_t mm_irq_save(void);
void mm_irq_restore(mm_irq_state_t state);

/* Optional: called in every spin loop (a contended lock). A kernel serves
 * the cross-CPU requests aimed at the calling CPU here (a CPU spinning with
 * interrupts masked on a lock whose holder waits for this CPU's shootdown
 * acknowledgement must acknowledge it), and may pause. The generic layer's
 * default does nothing. */
void mm_spin_wait(void);

/* Optional: called (with one of the allocator's locks held) for every block
 * of 2^order frames a caller gives back to the allocator (its buddy lists or
 * a CPU's cache of free frames). The generic layer's default
 * does nothing; the host platform checks that no CPU's model TLB still
 * translates to it (a frame freed before its shootdown completed). */
void mm_platform_frame_freed(pfn_t pfn, unsigned order);

static inline void *pfn_va(pfn_t pfn) { return mm_phys_to_virt((uint64_t)pfn << PAGE_SHIFT); }
