/* hal/host/host.c - the host platform: simulated RAM, the platform services
 * of mm/platform.h, and recorded TLB operations (hal/hal.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hal/host/kmm_host.h"
#include "hal/host/softmmu_internal.h"

#define HOST_SPARE ((uint64_t)KMM_HOST_SPARE_MIB << 20)

static struct {
    uint8_t *ram;
    uint64_t base, size; /* the span mm_init got; KMM_HOST_SPARE_MIB more follow it */
    const hal_geometry_t *geometry;
    pfn_t active_root[MM_MAX_CPUS], kernel_root[MM_MAX_CPUS];
    host_tlb_event_t *log;
    size_t nlog, cap;
} host;

void *mm_phys_to_virt(uint64_t paddr)
{
    if (paddr < host.base || paddr - host.base >= host.size + HOST_SPARE)
        mm_panic("physical address %#llx outside simulated RAM [%#llx, %#llx)", (unsigned long long)paddr,
                 (unsigned long long)host.base, (unsigned long long)(host.base + host.size + HOST_SPARE));
    return host.ram + (paddr - host.base);
}

static _Thread_local char owner_token;
uintptr_t mm_lock_owner_token(void) { return (uintptr_t)&owner_token; }

/* Interrupts of the calling thread's simulated CPU: masked while any save
 * is outstanding. A state is the nesting depth at the save, so a restore
 * out of order (not the latest save) is seen and counted. */
static _Thread_local uintptr_t irq_depth;
static _Atomic size_t irq_out_of_order;

mm_irq_state_t mm_irq_save(void) { return irq_depth++; }

void mm_irq_restore(mm_irq_state_t state)
{
    if (irq_depth == 0 || state != irq_depth - 1)
        atomic_fetch_add(&irq_out_of_order, 1);
    if (irq_depth)
        irq_depth--;
}

bool host_irq_masked(void) { return irq_depth != 0; }
size_t host_irq_out_of_order(void) { return atomic_load(&irq_out_of_order); }

_Noreturn void mm_panic_at(const char *func, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kmm panic: %s: ", func);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* The event log is shared by every thread (the generic layer invalidates
 * under per-context locks, so two threads may log at once). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_event(host_tlb_event_t e)
{
    pthread_mutex_lock(&log_lock);
    if (host.nlog == host.cap) {
        host.cap = host.cap ? host.cap * 2 : 256;
        host.log = realloc(host.log, host.cap * sizeof(*host.log));
        if (!host.log)
            abort();
    }
    host.log[host.nlog++] = e;
    pthread_mutex_unlock(&log_lock);
}

/* ---- Simulated CPUs: a thread is the CPU it chose (CPU 0 until then) ---- */

static _Thread_local unsigned this_cpu_id;
static _Atomic mm_cpumask_t online_cpus = 1;
static _Atomic size_t remote_invalidations, frames_freed_cached;
static _Atomic bool free_check_off;
static void (*_Atomic shootdown_hook)(void *);
static void *shootdown_hook_arg;

int kmm_host_cpu_set(unsigned cpu)
{
    if (cpu >= MM_MAX_CPUS)
        return -EINVAL;
    this_cpu_id = cpu;
    atomic_fetch_or(&online_cpus, MM_CPU_BIT(cpu));
    return 0;
}

unsigned mm_cpu_id(void) { return this_cpu_id; }

mm_cpumask_t mm_cpus_online(void) { return atomic_load(&online_cpus); }

void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req)
{
    MM_ASSERT(!(cpus & MM_CPU_BIT(this_cpu_id)), "CPU %u shoots itself down (mask %#llx)", this_cpu_id,
              (unsigned long long)cpus);
    void (*hook)(void *) = atomic_exchange(&shootdown_hook, NULL);
    if (hook)
        hook(shootdown_hook_arg);
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        if (!(cpus & MM_CPU_BIT(cpu)))
            continue;
        if (req->all)
            softmmu_tlb_drop_all(cpu, req->root, true);
        else
            softmmu_tlb_drop_range(cpu, req->root, req->start, req->end);
        atomic_fetch_add(&remote_invalidations, 1);
    }
}

void kmm_host_set_free_check(bool on) { atomic_store(&free_check_off, !on); }

void mm_platform_frame_freed(pfn_t pfn, unsigned order)
{
    if (atomic_load_explicit(&free_check_off, memory_order_relaxed))
        return;
    unsigned cpu;
    ptr_t va;
    size_t n = softmmu_cached_frame(pfn, order, &cpu, &va);
    if (n) {
        atomic_fetch_add(&frames_freed_cached, n);
        if (getenv("KMM_HOST_STRICT_FREE"))
            mm_panic("frame %#llx freed while CPU %u still caches it at %#lx (%zu translations)",
                     (unsigned long long)pfn, cpu, (unsigned long)va, n);
    }
}

size_t host_remote_invalidations(void) { return atomic_load(&remote_invalidations); }
size_t host_frames_freed_while_cached(void) { return atomic_load(&frames_freed_cached); }

void host_set_shootdown_hook(void (*fn)(void *arg), void *arg)
{
    shootdown_hook_arg = arg;
    atomic_store(&shootdown_hook, fn);
}

/* With HAL_GEOMETRY_BROADCAST_INVALIDATION an invalidation reaches every
 * CPU's model TLB, as aarch64's inner-shareable TLBI reaches every CPU. */
static bool broadcasts(void) { return host.geometry && hal_invalidation_broadcasts(host.geometry); }

void hal_tlb_invalidate(pfn_t root, ptr_t start, ptr_t end)
{
    MM_ASSERT(start < end && !(start & PAGE_MASK) && !(end & PAGE_MASK), "bad range [%#lx, %#lx)", (unsigned long)start,
              (unsigned long)end);
    log_event((host_tlb_event_t){ HOST_TLB_RANGE, root, start, end });
    if (!broadcasts()) {
        softmmu_tlb_drop_range(this_cpu_id, root, start, end);
        return;
    }
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        softmmu_tlb_drop_range(cpu, root, start, end);
}

void hal_tlb_invalidate_all(pfn_t root)
{
    log_event((host_tlb_event_t){ HOST_TLB_ALL, root, 0, 0 });
    if (!broadcasts()) {
        softmmu_tlb_drop_all(this_cpu_id, root, true);
        return;
    }
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        softmmu_tlb_drop_all(cpu, root, true);
}

/* hal_break_make (hal/hal.h): the plain sequence, recorded with the
 * window the generic layer published for it; a test's hook runs once in
 * the next window, between the invalidation and the make. */
static host_break_t breaks[HOST_BREAKS_KEPT];
static _Atomic size_t nbreaks;
static void (*_Atomic break_hook)(void *);
static void *break_hook_arg;

void hal_break_make(pfn_t root, pte_t *slot, pte_t e, ptr_t start, ptr_t end, bool all)
{
    host_break_t b = { .root = root, .slot = slot, .old = hal_pte_load(slot), .made = e, .start = start, .end = end,
                       .all = all, .cpu = this_cpu_id };
    b.window_open = mm_break_window_open(&b.window_lo, &b.window_hi);
    mm_irq_state_t irq = mm_irq_save();
    hal_pte_store(slot, 0);
    hal_tables_sync();
    if (all)
        hal_tlb_invalidate_all(root);
    else
        hal_tlb_invalidate(root, start, end);
    void (*hook)(void *) = atomic_exchange(&break_hook, NULL);
    if (hook)
        hook(break_hook_arg);
    hal_pte_store(slot, e);
    mm_irq_restore(irq);
    size_t n = atomic_fetch_add(&nbreaks, 1);
    if (n < HOST_BREAKS_KEPT)
        breaks[n] = b;
}

static _Atomic ptr_t model_direct_map;

void kmm_host_set_direct_map(ptr_t base) { atomic_store(&model_direct_map, base); }

ptr_t mm_kernel_address_of(const void *p)
{
    uintptr_t q = (uintptr_t)p, ram = (uintptr_t)host.ram;
    ptr_t dm = atomic_load(&model_direct_map);
    if (dm && ram && q >= ram && q - ram < host.size + HOST_SPARE)
        return dm + host.base + (q - ram);
    return (ptr_t)p;
}

size_t host_break_count(void) { return atomic_load(&nbreaks); }
const host_break_t *host_break(size_t i) { return i < HOST_BREAKS_KEPT && i < atomic_load(&nbreaks) ? &breaks[i] : NULL; }
void host_break_log_clear(void) { atomic_store(&nbreaks, 0); }

void host_set_break_hook(void (*fn)(void *arg), void *arg)
{
    break_hook_arg = arg;
    atomic_store(&break_hook, fn);
}

static _Atomic size_t tables_syncs;

void hal_tables_sync(void) { atomic_fetch_add(&tables_syncs, 1); }

size_t host_tables_syncs(void) { return atomic_load(&tables_syncs); }

void hal_mmu_activate(pfn_t root, pfn_t kernel_root)
{
    log_event((host_tlb_event_t){ HOST_TLB_ACTIVATE, root, 0, 0 });
    host.active_root[this_cpu_id] = root;
    host.kernel_root[this_cpu_id] = kernel_root;
    softmmu_tlb_drop_all(this_cpu_id, root, false);
}

pfn_t hal_mmu_active_root(void) { return host.active_root[this_cpu_id]; }

pfn_t host_active_kernel_root(void) { return host.kernel_root[this_cpu_id]; }

size_t host_tlb_event_count(void)
{
    pthread_mutex_lock(&log_lock);
    size_t n = host.nlog;
    pthread_mutex_unlock(&log_lock);
    return n;
}

/* Quiescent use only: the pointer is into the log, which grows. */
const host_tlb_event_t *host_tlb_event(size_t i) { return i < host.nlog ? &host.log[i] : NULL; }

void host_tlb_log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    host.nlog = 0;
    pthread_mutex_unlock(&log_lock);
}

const hal_geometry_t *kmm_host_geometry(void) { return host.geometry; }
uint64_t kmm_host_phys_base(void) { return host.base; }
uint64_t kmm_host_phys_size(void) { return host.size; }
uint64_t kmm_host_spare_base(void) { return host.ram ? host.base + host.size : 0; }

void kmm_host_fini(void)
{
    if (host.ram)
        munmap(host.ram, host.size + HOST_SPARE);
    pthread_mutex_lock(&log_lock);
    free(host.log);
    host.log = NULL;
    host.nlog = host.cap = 0;
    pthread_mutex_unlock(&log_lock);
    host.ram = NULL;
    host.base = host.size = 0;
    host.geometry = NULL;
    memset(host.active_root, 0, sizeof(host.active_root));
    memset(host.kernel_root, 0, sizeof(host.kernel_root));
    atomic_store(&tables_syncs, 0);
    atomic_store(&online_cpus, MM_CPU_BIT(this_cpu_id) | 1);
    atomic_store(&remote_invalidations, 0);
    atomic_store(&frames_freed_cached, 0);
    atomic_store(&shootdown_hook, NULL);
    atomic_store(&break_hook, NULL);
    atomic_store(&model_direct_map, 0);
    atomic_store(&nbreaks, 0);
    atomic_store(&free_check_off, false);
    softmmu_reset();
    mm_geometry = NULL;
}

int kmm_host_init(size_t mib, const char *geometry)
{
    const char *f = getenv("KMM_GEOMETRY_FLAGS");
    return kmm_host_init_flags(mib, geometry, f && *f ? (uint32_t)strtoul(f, NULL, 0) : 0);
}

int kmm_host_init_flags(size_t mib, const char *geometry, uint32_t flags)
{
    if (!geometry)
        geometry = getenv("KMM_GEOMETRY");
    const hal_geometry_t *found = geometry && *geometry ? hal_geometry_find(geometry) : &hal_arch_geometries[0];
    if (!found || mib < 4 || mib > (1u << 20) || (flags & ~HAL_GEOMETRY_KNOWN_FLAGS))
        return -EINVAL;
    /* A copy that lives as long as the instance, with the flags added. */
    static hal_geometry_t with_flags;
    with_flags = *found;
    with_flags.flags |= flags;
    const hal_geometry_t *g = &with_flags;
    kmm_host_fini();
    host.size = (uint64_t)mib << 20;
    host.ram = mmap(NULL, host.size + HOST_SPARE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (host.ram == MAP_FAILED) {
        host.ram = NULL;
        host.size = 0;
        return -ENOMEM;
    }
    host.base = HAL_ARCH_RAM_BASE;
    host.geometry = g;
    mm_region_t regions[] = {
        { .base = host.base, .size = host.size, .usable = true },
        { .base = host.base, .size = HAL_ARCH_RAM_RESERVED, .usable = false },
    };
    mm_boot_info_t info = { .geometry = g, .regions = regions, .nregions = 2 };
    int err = mm_init(&info);
    if (err)
        kmm_host_fini();
    return err;
}
