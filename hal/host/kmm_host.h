/* hal/host/kmm_host.h - the host platform: the generic memory manager in an
 * ordinary process, over simulated physical memory, with a software MMU that
 * walks the real tables with the arch codec. Link kmm-host-<arch>.
 *
 *   kmm_host_init(64, "x86_64-5level");   // 64 MiB of RAM, that geometry
 *   mm_context_t *ctx = mm_create_context();
 *   ... mm_map_user_pages(ctx, ...); softmmu_write(ctx, va, buf, n, true); ...
 */
#pragma once

#include "mm/paging.h"

/* Brings the generic layer up over `mib` MiB of simulated RAM with the named
 * geometry (NULL: $KMM_GEOMETRY, else the arch's first). Physical memory
 * starts where the arch's machine has it, with the part its firmware keeps
 * reserved (HAL_ARCH_RAM_BASE, HAL_ARCH_RAM_RESERVED in hal_arch.h: x86_64
 * 0 and the first MiB, riscv64 0x80000000 and 2 MiB). May be
 * called again: the previous instance is dropped first (kmm_host_fini).
 * 0, or -EINVAL (bad geometry name, mib outside [4, 2^20]: nothing changed)
 * / -ENOMEM (the previous instance is gone, nothing is up). */
int kmm_host_init(size_t mib, const char *geometry);
/* kmm_host_init with HAL_GEOMETRY_* flags added to the named geometry, as
 * an arch whose MMU asks for them (aarch64) declares its geometries: so the
 * generic layer's break-before-make and separate-kernel-root paths run on
 * the host in every geometry. kmm_host_init(mib, g) is
 * kmm_host_init_flags(mib, g, $KMM_GEOMETRY_FLAGS), the variable a number
 * (0 when unset). -EINVAL also for unknown flags. */
int kmm_host_init_flags(size_t mib, const char *geometry, uint32_t flags);
/* Drops the instance kmm_host_init brought up: unmaps the simulated RAM
 * (every context, vmap and frame with it: pointers into them are invalid
 * afterwards), frees the TLB log, empties the model TLB; the host library
 * then holds no memory. No thread may be using the memory manager, and
 * nothing may call it until the next kmm_host_init. Harmless when nothing is
 * up. */
void kmm_host_fini(void);
/* The geometry in force and the simulated RAM's physical range (NULL and 0
 * when nothing is up). */
const hal_geometry_t *kmm_host_geometry(void);
uint64_t kmm_host_phys_base(void);
uint64_t kmm_host_phys_size(void);
/* Simulated RAM that mm_init was not told about: KMM_HOST_SPARE_MIB MiB
 * right after the span it got (0 when nothing is up), reachable through
 * mm_phys_to_virt and the software MMU like the rest, for tests that give
 * kmm memory after start-up (pmm_add_region). Untouched, it costs nothing
 * (the mapping reserves no memory). */
#define KMM_HOST_SPARE_MIB 16
uint64_t kmm_host_spare_base(void);

/* ---- TLB operations the generic layer asked for ---- */
typedef enum host_tlb_kind { HOST_TLB_RANGE, HOST_TLB_ALL, HOST_TLB_ACTIVATE } host_tlb_kind_t;
/** One TLB operation the generic layer asked of the calling CPU. */
typedef struct host_tlb_event {
    host_tlb_kind_t kind; /**< a range, everything, or an activation */
    pfn_t root;           /**< the address space's root table */
    ptr_t start;          /**< HOST_TLB_RANGE: first address */
    ptr_t end;            /**< HOST_TLB_RANGE: end of the range (exclusive) */
} host_tlb_event_t;
size_t host_tlb_event_count(void);
/* hal_tables_sync calls since kmm_host_init (one per operation that may have
 * stored entries, before its invalidation). */
size_t host_tables_syncs(void);
/* The kernel root the calling CPU's last hal_mmu_activate named. */
pfn_t host_active_kernel_root(void);
const host_tlb_event_t *host_tlb_event(size_t i);
void host_tlb_log_clear(void);

/* ---- Interrupts (mm_irq_save / mm_irq_restore, mm/platform.h) ----
 * True while the calling thread holds a kmm lock (its simulated interrupts
 * are masked); the number of restores since the process started that were
 * not of the latest outstanding save (a lock released out of order). */
bool host_irq_masked(void);
size_t host_irq_out_of_order(void);

/* ---- Simulated CPUs ----
 * Each thread is a CPU: CPU 0 until it calls kmm_host_cpu_set, which also
 * counts that CPU online (kernel-half invalidations go to every online CPU).
 * Every CPU has its own model TLB; mm_tlb_shootdown empties the targets'
 * model TLBs before it returns, as IPIs with acknowledgements would. */
/* Makes the calling thread CPU `cpu` (< MM_MAX_CPUS). 0 or -EINVAL. */
int kmm_host_cpu_set(unsigned cpu);
/* Per-CPU invalidations carried out for other CPUs since kmm_host_init. */
size_t host_remote_invalidations(void);
/* Translations still cached by some CPU's model TLB into frames at the
 * moment the allocator got them back (0 unless invalidation came too late
 * or not at all); with $KMM_HOST_STRICT_FREE set, the first one panics. */
size_t host_frames_freed_while_cached(void);
/* The check behind host_frames_freed_while_cached scans every online CPU's
 * model TLB at each free, under the allocator's lock: a benchmark of the
 * generic layer turns it off (false) so as not to time the test oracle.
 * On after kmm_host_init. */
void kmm_host_set_free_check(bool on);
/* Runs fn(arg) once, at the start of the next remote shootdown (after the
 * operation changed the tables and before any CPU invalidated): lets a
 * test act in the window where other CPUs still hold old translations. */
void host_set_shootdown_hook(void (*fn)(void *arg), void *arg);

/* ---- Kernel-half break-before-make (hal_break_make, hal/hal.h) ----
 * The generic layer sends every kernel-half break of a geometry whose
 * invalidations broadcast through hal_break_make; the host does the plain
 * sequence and records each call (the first HOST_BREAKS_KEPT since
 * kmm_host_init or the last clear), with the break window the generic
 * layer had published when it was called (mm_break_window_open). */
#define HOST_BREAKS_KEPT 64
/** One hal_break_make call, as the host recorded it. */
typedef struct host_break {
    pfn_t root;        /**< the root given for the invalidation */
    pte_t *slot;       /**< the entry broken */
    pte_t old;         /**< its value before the break */
    pte_t made;        /**< its value after the make */
    ptr_t start;       /**< first address invalidated */
    ptr_t end;         /**< end of the range invalidated (exclusive) */
    bool all;          /**< everything was invalidated instead (a table went) */
    bool window_open;  /**< a break window was published when it was called */
    ptr_t window_lo;   /**< the window's first address */
    ptr_t window_hi;   /**< the window's last address */
    unsigned cpu;      /**< the CPU that ran it */
} host_break_t;
size_t host_break_count(void);
const host_break_t *host_break(size_t i);
void host_break_log_clear(void);
/* Runs fn(arg) once, in the next break window, after the invalidation and
 * before the make: lets a test act (as another CPU) while the entry is
 * invalid. */
void host_set_break_hook(void (*fn)(void *arg), void *arg);
/* Models a kernel direct map at base: from now on the generic layer takes
 * the kernel-half address of a pointer into simulated RAM at physical pa
 * to be base + pa (mm_kernel_address_of), as a kernel's direct map would
 * have it; the test maps that range itself. 0: no model (pointers are
 * their own addresses). Reset by kmm_host_fini. */
void kmm_host_set_direct_map(ptr_t base);

/* ---- The software MMU ---- */
typedef enum softmmu_result { SOFTMMU_OK = 0, SOFTMMU_NOT_PRESENT, SOFTMMU_DENIED } softmmu_result_t;

/* What an access to va in ctx's tables would do, from user or kernel mode,
 * walking the tables (no TLB). x86_64 rules: U/S, R/W and NX of every level,
 * CR0.WP, SMEP and SMAP on; riscv64: the leaf's R/W/X/U, SUM clear. *pa gets
 * the physical address when OK. */
softmmu_result_t softmmu_walk(mm_context_t *ctx, ptr_t va, hal_access_t access, bool user, uint64_t *pa);
/* The same through the calling CPU's model TLB (64 entries, per root, global
 * entries shared), filled on use and emptied only by the generic layer's
 * hal_tlb_invalidate* / hal_mmu_activate calls on that CPU and by remote
 * shootdowns aimed at it: a missing invalidation shows as a stale result.
 * Filling an entry of ctx marks the CPU in ctx->cpus (it may cache ctx). */
softmmu_result_t softmmu_access(mm_context_t *ctx, ptr_t va, hal_access_t access, bool user, uint64_t *pa);
/* Cached translations, over every CPU, that no longer match the tables
 * (missed invalidations). */
size_t softmmu_stale_entries(void);
/* Allow kernel-mode access to user pages (STAC / SUM) on the calling CPU, as
 * copy helpers do. */
void softmmu_set_user_access(bool on);
/* Cache not-present lookups too (RISC-V may, without Svvptc): until an
 * invalidation drops it, such an entry makes the access fault again even
 * after a mapping appeared, which the fault handler must take as spurious.
 * softmmu_stale_entries does not count these entries. Off after init. */
void softmmu_set_cache_not_present(bool on);
/* Check at each invalidation (hal_tlb_invalidate, hal_tlb_invalidate_all)
 * the walks a CPU could still make through the table each dropped present
 * entry came from (upper-level entries are cached too): each must give the
 * cached translation or the current one, never a third (a hole the kernel
 * made in a translation it kept, say), and must not read a freed table.
 * Off after init. Returns the number of violations since init and the first
 * one's address. */
void softmmu_set_check_cached_walks(bool on);
size_t softmmu_cached_walk_violations(ptr_t *first);
/* In a geometry with HAL_GEOMETRY_BREAK_BEFORE_MAKE, each invalidation also
 * checks that no translation it drops has been replaced already by a valid
 * one to another output address or of another size (the change skipped the
 * invalid entry and the invalidation in between). Returns the number of
 * violations since init and the first one's address. */
size_t softmmu_bbm_violations(ptr_t *first);

/* Reads or writes len bytes at va through softmmu_access, from user or
 * kernel mode; a fault goes to mm_handle_fault and the access is retried.
 * Returns 0, or the fault handler's -errno (-EFAULT) at the first refused
 * byte (bytes before it were transferred). */
int softmmu_read(mm_context_t *ctx, ptr_t va, void *buf, size_t len, bool user);
int softmmu_write(mm_context_t *ctx, ptr_t va, const void *buf, size_t len, bool user);
/* Number of faults softmmu_read/write handed to mm_handle_fault. */
size_t softmmu_fault_count(void);
