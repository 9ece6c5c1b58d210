/* mm/platform.h - what the generic layer needs from whoever embeds it: the
 * test kernel (kernel/), the host platform (hal/host/), or another kernel
 * (tests/embed/, docs/embedding.md). The declarations an embedder
 * implements are in mm/kmm.h; this file states their contracts. The full
 * list of what an embedder supplies, nothing more:
 *   required  mm_phys_to_virt, mm_lock_owner_token, mm_panic_at (a printf
 *             with %s %d %u %x %p and the l, ll, z and # modifiers),
 *             mm_cpu_id, mm_cpus_online, mm_tlb_shootdown (a one-CPU kernel:
 *             0, 1 and a shootdown that is never called);
 *   optional  (weak defaults in mm/pmm.c) mm_irq_save / mm_irq_restore,
 *             mm_spin_wait, mm_platform_frame_freed, mm_kernel_address_of;
 *   optional  (weak defaults in mm/freestanding.c, freestanding builds)
 *             memset, memcpy; nothing else of a C library is used.
 * hal/hal.h's privileged operations (hal_tlb_*, hal_tables_sync,
 * hal_mmu_activate, hal_mmu_active_root) are compiled from hal/<arch>/mmu.c
 * with the rest of kmm; an embedder writes them only for an arch kmm lacks.
 *
 * What an embedder guarantees:
 * - mm_phys_to_virt works for every frame of the regions given to mm_init
 *   and, from the call on, of each region added with pmm_add_region, on
 *   every CPU, at every time kmm runs (a direct map, or identity).
 * - With HAL_GEOMETRY_BREAK_BEFORE_MAKE: kmm's code, static data and the
 *   calling CPU's stack are reached through mappings that no direct-map
 *   leaf covers (the kernel image, a stack area), since a kernel-half break
 *   window may make any part of the direct map invalid for a while; and the
 *   fault path calls mm_break_window_retry first on a kernel-mode fault at
 *   an unmapped kernel-half address (mm/paging.h).
 * - kmm is entered from thread context or with interrupts masked; if an
 *   interrupt handler can call kmm, or the kernel preempts threads that
 *   hold kmm's locks, mm_irq_save must mask interrupts.
 * - mm_lock_owner_token differs between any two threads that may run kmm
 *   at the same time (a CPU's id + 1 when interrupts are masked inside kmm;
 *   a thread pointer otherwise).
 * - Several CPUs: mm_switch_context on a CPU is the only way a user root
 *   gets into that CPU's MMU (the context then records the CPU as one that
 *   may cache it, until it switches away), and every CPU that runs is in
 *   mm_cpus_online (they all cache the kernel half). kmm flushes its own
 *   CPU and asks mm_tlb_shootdown to flush the others that may cache the
 *   context; the embedder delivers those requests (IPIs) and waits for
 *   each, serving requests aimed at the calling CPU while it waits and in
 *   mm_spin_wait. A kernel that loads a root by other means (its own
 *   trampoline writing mm_context_root(ctx), a root switched without
 *   mm_switch_context) must flush that CPU itself when it loads the root
 *   and when it stops using it; kmm then sends no shootdown for that CPU
 *   (docs/embedding.md, section 7, says when that is enough). */
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

/* Optional: the kernel-half address the MMU translates when kmm accesses
 * p, a pointer mm_phys_to_virt gave (its direct-map address). The
 * generic layer's default is p itself, as in a kernel whose direct map
 * those pointers are; the host platform models a direct map at an address
 * a test chooses (kmm_host_set_direct_map). Used to tell whether a
 * kernel-half break covers the table it writes. */
ptr_t mm_kernel_address_of(const void *p);

static inline void *pfn_va(pfn_t pfn) { return mm_phys_to_virt((uint64_t)pfn << PAGE_SHIFT); }
