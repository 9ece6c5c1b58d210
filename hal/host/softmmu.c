/* hal/host/softmmu.c - a software MMU over the real tables: walks them with
 * the arch codec and applies the arch's access rules, and a small TLB model
 * that only the generic layer's invalidations empty, so tests can catch a
 * missing invalidation. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "hal/host/kmm_host.h"
#include "hal/host/softmmu_internal.h"
#include "mm/platform.h"

#define TLB_ENTRIES 64

typedef struct tlb_entry {
    bool valid, global;
    pfn_t root;
    ptr_t vpage;      /* va >> PAGE_SHIFT */
    uint64_t ppage;   /* physical address of the 4 KiB page */
    vm_flags flags;   /* effective rights along the walk */
} tlb_entry_t;

/* One model TLB per simulated CPU (a thread chooses its CPU with
 * kmm_host_cpu_set; CPU 0 by default, so unbound threads share one), each
 * behind a mutex (host-only code: tests run it under ThreadSanitizer). An
 * access through a CPU's TLB holds that CPU's mutex until the bytes are
 * moved, so a remote invalidation (which takes it) waits for an access in
 * flight, as an IPI waits for the instruction boundary. A mutex is never
 * held across a call into the generic layer. */
typedef struct cpu_mmu {
    pthread_mutex_t lock;
    tlb_entry_t tlb[TLB_ENTRIES];
    unsigned next;
    bool user_access; /* STAC / SUM */
} cpu_mmu_t;

static cpu_mmu_t cpus[MM_MAX_CPUS];
static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;
static _Atomic size_t faults;

static void cpus_init(void)
{
    for (unsigned i = 0; i < MM_MAX_CPUS; i++)
        pthread_mutex_init(&cpus[i].lock, NULL);
}

static cpu_mmu_t *this_cpu(void)
{
    pthread_once(&cpus_once, cpus_init);
    return &cpus[mm_cpu_id()];
}

static cpu_mmu_t *cpu_of(unsigned id)
{
    pthread_once(&cpus_once, cpus_init);
    return &cpus[id];
}

void softmmu_reset(void)
{
    for (unsigned i = 0; i < MM_MAX_CPUS; i++) {
        cpu_mmu_t *c = cpu_of(i);
        pthread_mutex_lock(&c->lock);
        memset(c->tlb, 0, sizeof(c->tlb));
        c->next = 0;
        c->user_access = false;
        pthread_mutex_unlock(&c->lock);
    }
    atomic_store(&faults, 0);
}

void softmmu_set_user_access(bool on)
{
    cpu_mmu_t *c = this_cpu();
    pthread_mutex_lock(&c->lock);
    c->user_access = on;
    pthread_mutex_unlock(&c->lock);
}

size_t softmmu_fault_count(void) { return atomic_load(&faults); }

/* Walks the tables: 0 and the effective flags and page, or -1 if not present. */
static int walk(pfn_t root, ptr_t va, vm_flags *flags, uint64_t *ppage, bool *global)
{
    const hal_geometry_t *g = mm_geometry;
    if (!hal_is_canonical(g, va))
        return -1;
    pfn_t table = root;
    unsigned restrict_mask = VM_ALL_FLAGS; /* what upper levels allow (x86) */
    for (unsigned level = g->levels; level >= 1; level--) {
        pte_t e = ((const pte_t *)pfn_va(table))[hal_level_index(level, va)];
        if (!hal_pte_present(e))
            return -1;
        if (hal_pte_is_leaf(level, e)) {
            vm_flags f = hal_pte_flags(level, e);
            *flags = (vm_flags)(f & (restrict_mask | VM_GLOBAL | VM_WRITE_THROUGH | VM_CACHE_DISABLED));
            *global = f & VM_GLOBAL;
            *ppage = ((uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT) + (va & (hal_level_span(level) - 1) & ~PAGE_MASK);
            return 0;
        }
        if (level == 1)
            return -1;
#ifdef X86_PTE_P
        /* x86 checks U/S, R/W and XD at every level of the walk. */
        if (!(e & X86_PTE_US))
            restrict_mask &= ~VM_USER;
        if (!(e & X86_PTE_RW))
            restrict_mask &= ~VM_WRITE;
        if (e & X86_PTE_NX)
            restrict_mask &= ~VM_EXEC;
#endif
        table = hal_pte_pfn(level, e);
    }
    return -1;
}

static softmmu_result_t check(const cpu_mmu_t *mmu, vm_flags f, hal_access_t access, bool user)
{
    if (user && !(f & VM_USER))
        return SOFTMMU_DENIED;
    if (!user && (f & VM_USER)) {
        if (access & HAL_ACCESS_EXEC)
            return SOFTMMU_DENIED; /* SMEP; riscv never lets S-mode execute U pages */
        if (!mmu->user_access)
            return SOFTMMU_DENIED; /* SMAP; riscv SUM clear */
    }
    if ((access & HAL_ACCESS_WRITE) && !(f & VM_WRITE))
        return SOFTMMU_DENIED;
    if ((access & HAL_ACCESS_EXEC) && !(f & VM_EXEC))
        return SOFTMMU_DENIED;
    if ((access & HAL_ACCESS_READ) && !(f & VM_READ))
        return SOFTMMU_DENIED;
    return SOFTMMU_OK;
}

softmmu_result_t softmmu_walk(mm_context_t *ctx, ptr_t va, hal_access_t access, bool user, uint64_t *pa)
{
    vm_flags f;
    uint64_t page;
    bool global;
    if (walk(ctx->pgd, va, &f, &page, &global) != 0)
        return SOFTMMU_NOT_PRESENT;
    cpu_mmu_t *c = this_cpu();
    pthread_mutex_lock(&c->lock);
    softmmu_result_t r = check(c, f, access, user);
    pthread_mutex_unlock(&c->lock);
    if (r == SOFTMMU_OK && pa)
        *pa = page + (va & PAGE_MASK);
    return r;
}

static tlb_entry_t *tlb_find(cpu_mmu_t *c, pfn_t root, ptr_t vpage)
{
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &c->tlb[i];
        if (t->valid && t->vpage == vpage && (t->root == root || t->global))
            return t;
    }
    return NULL;
}

/* Translates through the calling CPU's TLB with its lock held (the caller
 * releases it). Filling an entry from ctx's tables marks the CPU in
 * ctx->cpus first: from then on the generic layer must shoot it down. */
static softmmu_result_t access_locked(cpu_mmu_t *c, mm_context_t *ctx, ptr_t va, hal_access_t access, bool user,
                                      uint64_t *pa)
{
    tlb_entry_t *t = tlb_find(c, ctx->pgd, va >> PAGE_SHIFT);
    if (!t) {
        vm_flags f;
        uint64_t page;
        bool global;
        atomic_fetch_or(&ctx->cpus, MM_CPU_BIT(mm_cpu_id()));
        if (walk(ctx->pgd, va, &f, &page, &global) != 0)
            return SOFTMMU_NOT_PRESENT; /* not-present entries are not cached */
        t = &c->tlb[c->next++ % TLB_ENTRIES];
        *t = (tlb_entry_t){ .valid = true, .global = global, .root = ctx->pgd, .vpage = va >> PAGE_SHIFT,
                            .ppage = page, .flags = f };
    }
    softmmu_result_t r = check(c, t->flags, access, user);
    if (r == SOFTMMU_OK && pa)
        *pa = t->ppage + (va & PAGE_MASK);
    return r;
}

softmmu_result_t softmmu_access(mm_context_t *ctx, ptr_t va, hal_access_t access, bool user, uint64_t *pa)
{
    cpu_mmu_t *c = this_cpu();
    pthread_mutex_lock(&c->lock);
    softmmu_result_t r = access_locked(c, ctx, va, access, user, pa);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static bool entry_stale(const tlb_entry_t *t)
{
    vm_flags f;
    uint64_t page;
    bool global;
    return walk(t->root, t->vpage << PAGE_SHIFT, &f, &page, &global) != 0 || page != t->ppage || f != t->flags;
}

size_t softmmu_stale_entries(void)
{
    size_t stale = 0;
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        cpu_mmu_t *c = cpu_of(cpu);
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < TLB_ENTRIES; i++)
            if (c->tlb[i].valid && entry_stale(&c->tlb[i]))
                stale++;
        pthread_mutex_unlock(&c->lock);
    }
    return stale;
}

void softmmu_tlb_drop_range(unsigned cpu, pfn_t root, ptr_t start, ptr_t end)
{
    bool kernel = !hal_is_user_addr(mm_geometry, start);
    cpu_mmu_t *c = cpu_of(cpu);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &c->tlb[i];
        ptr_t va = t->vpage << PAGE_SHIFT;
        if (t->valid && va >= start && va < end && (kernel || t->root == root))
            t->valid = false;
    }
    pthread_mutex_unlock(&c->lock);
}

void softmmu_tlb_drop_all(unsigned cpu, pfn_t root, bool with_global)
{
    cpu_mmu_t *c = cpu_of(cpu);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &c->tlb[i];
        if (t->valid && (t->global ? with_global : (t->root == root || !with_global)))
            t->valid = false;
    }
    pthread_mutex_unlock(&c->lock);
}

size_t softmmu_cached_frame(pfn_t pfn, unsigned order, unsigned *cpu_out, ptr_t *va_out)
{
    uint64_t lo = (uint64_t)pfn << PAGE_SHIFT, hi = lo + ((uint64_t)PAGE_SIZE << order);
    size_t hits = 0;
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        cpu_mmu_t *c = cpu_of(cpu);
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < TLB_ENTRIES; i++) {
            const tlb_entry_t *t = &c->tlb[i];
            if (t->valid && t->ppage >= lo && t->ppage < hi) {
                if (!hits++) {
                    *cpu_out = cpu;
                    *va_out = t->vpage << PAGE_SHIFT;
                }
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    return hits;
}

static int transfer(mm_context_t *ctx, ptr_t va, void *buf, size_t len, bool user, bool write)
{
    uint8_t *b = buf;
    hal_access_t access = write ? HAL_ACCESS_WRITE : HAL_ACCESS_READ;
    while (len) {
        size_t chunk = MIN(len, PAGE_SIZE - (va & PAGE_MASK));
        uint64_t pa;
        int tries = 0;
        for (;;) {
            cpu_mmu_t *c = this_cpu();
            pthread_mutex_lock(&c->lock);
            softmmu_result_t r = access_locked(c, ctx, va, access, user, &pa);
            if (r == SOFTMMU_OK) {
                /* The bytes move with the translation held, as one instruction. */
                if (write)
                    memcpy(mm_phys_to_virt(pa), b, chunk);
                else
                    memcpy(b, mm_phys_to_virt(pa), chunk);
                pthread_mutex_unlock(&c->lock);
                break;
            }
            pthread_mutex_unlock(&c->lock);
            hal_fault_t f = { .addr = va, .access = access, .user_mode = user, .present = r == SOFTMMU_DENIED };
            atomic_fetch_add(&faults, 1);
            int err = mm_handle_fault(ctx, &f);
            if (err)
                return err;
            MM_ASSERT(++tries < 4, "fault at %#lx resolved %d times but the access still fails", (unsigned long)va, tries);
        }
        va += chunk;
        b += chunk;
        len -= chunk;
    }
    return 0;
}

int softmmu_read(mm_context_t *ctx, ptr_t va, void *buf, size_t len, bool user)
{
    return transfer(ctx, va, buf, len, user, false);
}

int softmmu_write(mm_context_t *ctx, ptr_t va, const void *buf, size_t len, bool user)
{
    return transfer(ctx, va, (void *)buf, len, user, true);
}
