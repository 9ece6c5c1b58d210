/* hal/host/softmmu.c - a software MMU over the real tables: walks them with
 * the arch codec and applies the arch's access rules, and a small TLB model
 * per simulated CPU that only the generic layer's invalidations empty, so
 * tests can catch a missing or late invalidation. Two options make the model stricter: it may cache
 * not-present lookups (as RISC-V allows without Svvptc), and it may check,
 * at each invalidation, the walks a CPU could still make through the tables
 * its cached translations came from (a paging-structure cache). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "hal/host/kmm_host.h"
#include "hal/host/softmmu_internal.h"
#include "mm/platform.h"

#define TLB_ENTRIES 64

typedef struct tlb_entry {
    bool valid, global;
    bool present;     /* false: a cached not-present lookup (cache_not_present) */
    pfn_t root;
    ptr_t vpage;      /* va >> PAGE_SHIFT */
    uint64_t ppage;   /* physical address of the 4 KiB page */
    vm_flags flags;   /* effective rights along the walk */
    pfn_t table;      /* the table that held the leaf, at table_level */
    unsigned table_level;
    unsigned mask;    /* x86: what the levels above `table` allow */
} tlb_entry_t;

/* One walk's outcome: the translation and where the leaf was found. */
typedef struct walk_out {
    vm_flags flags;
    uint64_t ppage;
    bool global;
    pfn_t table;
    unsigned table_level, mask;
} walk_out_t;

/* One model TLB per simulated CPU (a thread chooses its CPU with
 * kmm_host_cpu_set; CPU 0 by default, so unbound threads share one), each
 * behind a mutex (host-only code: tests run it under ThreadSanitizer). An
 * access through a CPU's TLB holds that CPU's mutex until the bytes are
 * moved, so a remote invalidation (which takes it) waits for an access in
 * flight, as an IPI waits for the instruction boundary. A mutex is never
 * held across a call into the generic layer. The options and counters are
 * the whole model's. */
typedef struct cpu_mmu {
    pthread_mutex_t lock;
    tlb_entry_t tlb[TLB_ENTRIES];
    unsigned next;
    bool user_access; /* STAC / SUM */
} cpu_mmu_t;

static cpu_mmu_t cpus[MM_MAX_CPUS];
static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;
static _Atomic bool cache_not_present, check_cached_walks;
static _Atomic size_t faults, walk_violations, bbm_violations;
static _Atomic ptr_t first_violation, first_bbm_violation;

static void cpus_init(void)
{
    for (unsigned i = 0; i < MM_MAX_CPUS; i++)
        pthread_mutex_init(&cpus[i].lock, NULL);
}

static cpu_mmu_t *cpu_of(unsigned id)
{
    pthread_once(&cpus_once, cpus_init);
    return &cpus[id];
}

static cpu_mmu_t *this_cpu(void) { return cpu_of(mm_cpu_id()); }

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
    atomic_store(&cache_not_present, false);
    atomic_store(&check_cached_walks, false);
    atomic_store(&faults, 0);
    atomic_store(&walk_violations, 0);
    atomic_store(&first_violation, 0);
    atomic_store(&bbm_violations, 0);
    atomic_store(&first_bbm_violation, 0);
}

size_t softmmu_bbm_violations(ptr_t *first)
{
    if (first)
        *first = atomic_load(&first_bbm_violation);
    return atomic_load(&bbm_violations);
}

/* The root a CPU walks for va in ctx: ctx's, or for the kernel half with a
 * separate kernel root (aarch64's TTBR1) the kernel context's. */
static pfn_t root_for(mm_context_t *ctx, ptr_t va)
{
    if (hal_separate_kernel_root(mm_geometry) && !hal_is_user_addr(mm_geometry, va))
        return mm_kernel_context()->pgd;
    return ctx->pgd;
}

void softmmu_set_cache_not_present(bool on) { atomic_store(&cache_not_present, on); }

void softmmu_set_check_cached_walks(bool on) { atomic_store(&check_cached_walks, on); }

size_t softmmu_cached_walk_violations(ptr_t *first)
{
    if (first)
        *first = atomic_load(&first_violation);
    return atomic_load(&walk_violations);
}

void softmmu_set_user_access(bool on)
{
    cpu_mmu_t *c = this_cpu();
    pthread_mutex_lock(&c->lock);
    c->user_access = on;
    pthread_mutex_unlock(&c->lock);
}

size_t softmmu_fault_count(void) { return atomic_load(&faults); }

/* The index the hardware takes at `level`, written from the architectures'
 * rule rather than with the walker's hal_level_index, so that a walker that
 * indexes wrongly stores entries this model does not find: below the root
 * VA[shift+8 : shift]; at the root VA[va_bits-1 : shift] (x86_64 and
 * riscv64: 9 bits; aarch64: TnSZ = 64 - va_bits, so the level -1 root of
 * its 52-bit geometry takes VA[51:48] and a kernel address's sign bits
 * never reach the index). */
static unsigned hw_index(unsigned level, ptr_t va)
{
    unsigned shift = PAGE_SHIFT + 9 * (level - 1);
    unsigned top = level == mm_geometry->levels ? mm_geometry->va_bits : shift + 9;
    return (unsigned)((va & (((ptr_t)1 << top) - 1)) >> shift);
}

/* Walks va from `table` at `level` (restrict_mask: what the levels above
 * allow). 0 with *out, -1 if not present; with only_allocated, -2 when the
 * walk meets a table page the allocator holds free. */
static int walk_from(pfn_t table, unsigned level, unsigned restrict_mask, ptr_t va, bool only_allocated, walk_out_t *out)
{
    for (; level >= 1; level--) {
        if (only_allocated && !pmm_is_allocated(table))
            return -2;
        pte_t e = hal_pte_load(&((const pte_t *)pfn_va(table))[hw_index(level, va)]);
        if (!hal_pte_present(e))
            return -1;
        if (hal_pte_is_leaf(level, e)) {
            vm_flags f = hal_pte_flags(level, e);
            out->flags = (vm_flags)(f & (restrict_mask | VM_GLOBAL | VM_WRITE_THROUGH | VM_CACHE_DISABLED));
            out->global = f & VM_GLOBAL;
            out->ppage = ((uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT) + (va & (hal_level_span(level) - 1) & ~PAGE_MASK);
            out->table = table;
            out->table_level = level;
            out->mask = restrict_mask;
            return 0;
        }
        if (level == 1)
            return -1;
        restrict_mask &= hal_pte_table_allows(e); /* x86 checks U/S, R/W and XD at every level */
        table = hal_pte_pfn(level, e);
    }
    return -1;
}

/* Walks the tables from root: 0 and the effective flags and page, or -1 if not present. */
static int walk(pfn_t root, ptr_t va, walk_out_t *out)
{
    if (!hal_is_canonical(mm_geometry, va))
        return -1;
    return walk_from(root, mm_geometry->levels, VM_ALL_FLAGS, va, false, out);
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
    walk_out_t w;
    if (walk(root_for(ctx, va), va, &w) != 0)
        return SOFTMMU_NOT_PRESENT;
    cpu_mmu_t *c = this_cpu();
    pthread_mutex_lock(&c->lock);
    softmmu_result_t r = check(c, w.flags, access, user);
    pthread_mutex_unlock(&c->lock);
    if (r == SOFTMMU_OK && pa)
        *pa = w.ppage + (va & PAGE_MASK);
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

/* Translates through CPU c's TLB with its lock held (the caller releases
 * it). Filling an entry from ctx's tables marks the CPU in ctx->cpus first:
 * from then on the generic layer must shoot it down. */
static softmmu_result_t access_locked(cpu_mmu_t *c, mm_context_t *ctx, ptr_t va, hal_access_t access, bool user,
                                      uint64_t *pa)
{
    pfn_t root = root_for(ctx, va);
    tlb_entry_t *t = tlb_find(c, root, va >> PAGE_SHIFT);
    if (!t) {
        walk_out_t w;
        atomic_fetch_or(&ctx->cpus, MM_CPU_BIT(mm_cpu_id()));
        if (walk(root, va, &w) != 0) {
            /* Not-present lookups are cached only when asked: RISC-V
             * allows it (without Svvptc), x86 does not. */
            if (atomic_load(&cache_not_present))
                c->tlb[c->next++ % TLB_ENTRIES] =
                    (tlb_entry_t){ .valid = true, .present = false, .root = root, .vpage = va >> PAGE_SHIFT };
            return SOFTMMU_NOT_PRESENT;
        }
        t = &c->tlb[c->next++ % TLB_ENTRIES];
        *t = (tlb_entry_t){ .valid = true, .present = true, .global = w.global, .root = root,
                            .vpage = va >> PAGE_SHIFT, .ppage = w.ppage, .flags = w.flags, .table = w.table,
                            .table_level = w.table_level, .mask = w.mask };
    }
    if (!t->present)
        return SOFTMMU_NOT_PRESENT;
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

size_t softmmu_stale_entries(void)
{
    size_t stale = 0;
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        cpu_mmu_t *c = cpu_of(cpu);
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < TLB_ENTRIES; i++) {
            tlb_entry_t *t = &c->tlb[i];
            if (!t->valid || !t->present)
                continue; /* a cached not-present lookup is allowed to outlive a new mapping */
            walk_out_t w;
            if (walk(t->root, t->vpage << PAGE_SHIFT, &w) != 0 || w.ppage != t->ppage || w.flags != t->flags)
                stale++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    return stale;
}

size_t softmmu_cached_frame(pfn_t pfn, unsigned order, unsigned *cpu_out, ptr_t *va_out)
{
    uint64_t lo = (uint64_t)pfn << PAGE_SHIFT, hi = lo + ((uint64_t)PAGE_SIZE << order);
    size_t hits = 0;
    mm_cpumask_t online = mm_cpus_online(); /* a CPU caches nothing before it comes online */
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
        if (!(online & MM_CPU_BIT(cpu)))
            continue;
        cpu_mmu_t *c = cpu_of(cpu);
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < TLB_ENTRIES; i++) {
            const tlb_entry_t *t = &c->tlb[i];
            if (t->valid && t->present && t->ppage >= lo && t->ppage < hi && !hits++) {
                *cpu_out = cpu;
                *va_out = t->vpage << PAGE_SHIFT;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    return hits;
}

/* check_cached_walks: until the invalidation that drops t, a CPU may still
 * walk from the table t's translation came from (upper-level entries are
 * cached too). That walk must give the translation t holds or the one the
 * tables give now (root's; the kernel half is every root's), never a third
 * one such as a hole, and must not read a table that was already freed.
 * Called with the lock held, for each present entry an invalidation drops. */
static void check_cached_walk(const tlb_entry_t *t, pfn_t root)
{
    ptr_t va = t->vpage << PAGE_SHIFT;
    walk_out_t cached, now;
    int rc = walk_from(t->table, t->table_level, t->mask, va, true, &cached);
    bool ok;
    if (rc == -2)
        ok = false; /* a table on the cached path is free already */
    else if (rc == 0 && cached.ppage == t->ppage && cached.flags == t->flags)
        ok = true;
    else {
        int now_rc = walk(root, va, &now);
        ok = now_rc == rc && (rc != 0 || (now.ppage == cached.ppage && now.flags == cached.flags));
    }
    if (!ok && atomic_fetch_add(&walk_violations, 1) == 0)
        atomic_store(&first_violation, va);
}

/* Break-before-make (geometries with HAL_GEOMETRY_BREAK_BEFORE_MAKE): a
 * translation t is dropped only now, so the tables must not yet give a
 * valid translation of its page to another output address, with another
 * size (level) or with another memory type (VM_CACHE_DISABLED,
 * VM_WRITE_THROUGH): that change had to go through an invalid entry and an
 * invalidation first. Called with the lock held, for each present entry an
 * invalidation drops. */
static void check_break_before_make(const tlb_entry_t *t)
{
    walk_out_t now;
    ptr_t va = t->vpage << PAGE_SHIFT;
    if (walk(t->root, va, &now) != 0 || (now.ppage == t->ppage && now.table_level == t->table_level &&
                                         !((now.flags ^ t->flags) & (VM_CACHE_DISABLED | VM_WRITE_THROUGH))))
        return;
    if (atomic_fetch_add(&bbm_violations, 1) == 0)
        atomic_store(&first_bbm_violation, va);
}

void softmmu_tlb_drop_range(unsigned cpu, pfn_t root, ptr_t start, ptr_t end)
{
    bool kernel = !hal_is_user_addr(mm_geometry, start);
    bool check_walks = atomic_load(&check_cached_walks), bbm = mm_geometry && hal_break_before_make(mm_geometry);
    cpu_mmu_t *c = cpu_of(cpu);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &c->tlb[i];
        ptr_t va = t->vpage << PAGE_SHIFT;
        if (t->valid && va >= start && va < end && (kernel || t->root == root)) {
            if (check_walks && t->present)
                check_cached_walk(t, root);
            if (bbm && t->present)
                check_break_before_make(t);
            t->valid = false;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void softmmu_tlb_drop_all(unsigned cpu, pfn_t root, bool with_global)
{
    bool check_walks = atomic_load(&check_cached_walks), bbm = mm_geometry && hal_break_before_make(mm_geometry);
    cpu_mmu_t *c = cpu_of(cpu);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &c->tlb[i];
        if (t->valid && (t->global ? with_global : (t->root == root || !with_global))) {
            if (check_walks && with_global && t->present)
                check_cached_walk(t, root);
            if (bbm && t->present)
                check_break_before_make(t);
            t->valid = false;
        }
    }
    pthread_mutex_unlock(&c->lock);
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
            hal_fault_t f = { .addr = va, .access = access, .user_mode = user, .present = r == SOFTMMU_DENIED };
            f.user_access = !user && c->user_access; /* as the arch trap code reports STAC / SUM */
            pthread_mutex_unlock(&c->lock);
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
