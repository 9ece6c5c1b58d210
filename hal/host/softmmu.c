/* hal/host/softmmu.c - a software MMU over the real tables: walks them with
 * the arch codec and applies the arch's access rules, and a small TLB model
 * that only the generic layer's invalidations empty, so tests can catch a
 * missing invalidation. Two options make the model stricter: it may cache
 * not-present lookups (as RISC-V allows without Svvptc), and it may check,
 * at each invalidation, the walks a CPU could still make through the tables
 * its cached translations came from (a paging-structure cache). */
#include <pthread.h>
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

/* One model TLB for the process (like one CPU's), so that threads may share
 * it, behind a mutex (host-only code: tests run it under ThreadSanitizer).
 * The mutex is never held across a call into the generic layer. */
static struct {
    pthread_mutex_t lock;
    tlb_entry_t tlb[TLB_ENTRIES];
    unsigned next;
    bool user_access; /* STAC / SUM */
    bool cache_not_present;
    bool check_cached_walks;
    size_t faults;
    size_t walk_violations;
    ptr_t first_violation;
} mmu = { .lock = PTHREAD_MUTEX_INITIALIZER };

void softmmu_reset(void)
{
    pthread_mutex_lock(&mmu.lock);
    memset(mmu.tlb, 0, sizeof(mmu.tlb));
    mmu.next = 0;
    mmu.user_access = false;
    mmu.cache_not_present = false;
    mmu.check_cached_walks = false;
    mmu.faults = 0;
    mmu.walk_violations = 0;
    mmu.first_violation = 0;
    pthread_mutex_unlock(&mmu.lock);
}

void softmmu_set_cache_not_present(bool on)
{
    pthread_mutex_lock(&mmu.lock);
    mmu.cache_not_present = on;
    pthread_mutex_unlock(&mmu.lock);
}

void softmmu_set_check_cached_walks(bool on)
{
    pthread_mutex_lock(&mmu.lock);
    mmu.check_cached_walks = on;
    pthread_mutex_unlock(&mmu.lock);
}

size_t softmmu_cached_walk_violations(ptr_t *first)
{
    pthread_mutex_lock(&mmu.lock);
    size_t n = mmu.walk_violations;
    if (first)
        *first = mmu.first_violation;
    pthread_mutex_unlock(&mmu.lock);
    return n;
}

void softmmu_set_user_access(bool on)
{
    pthread_mutex_lock(&mmu.lock);
    mmu.user_access = on;
    pthread_mutex_unlock(&mmu.lock);
}

size_t softmmu_fault_count(void)
{
    pthread_mutex_lock(&mmu.lock);
    size_t n = mmu.faults;
    pthread_mutex_unlock(&mmu.lock);
    return n;
}

/* Walks va from `table` at `level` (restrict_mask: what the levels above
 * allow). 0 with *out, -1 if not present; with only_allocated, -2 when the
 * walk meets a table page the allocator holds free. */
static int walk_from(pfn_t table, unsigned level, unsigned restrict_mask, ptr_t va, bool only_allocated, walk_out_t *out)
{
    for (; level >= 1; level--) {
        if (only_allocated && !pmm_is_allocated(table))
            return -2;
        pte_t e = ((const pte_t *)pfn_va(table))[hal_level_index(level, va)];
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

/* Walks the tables from root: 0 and the effective flags and page, or -1 if not present. */
static int walk(pfn_t root, ptr_t va, walk_out_t *out)
{
    if (!hal_is_canonical(mm_geometry, va))
        return -1;
    return walk_from(root, mm_geometry->levels, VM_ALL_FLAGS, va, false, out);
}

static softmmu_result_t check(vm_flags f, hal_access_t access, bool user)
{
    if (user && !(f & VM_USER))
        return SOFTMMU_DENIED;
    if (!user && (f & VM_USER)) {
        if (access & HAL_ACCESS_EXEC)
            return SOFTMMU_DENIED; /* SMEP; riscv never lets S-mode execute U pages */
        if (!mmu.user_access)
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
    if (walk(ctx->pgd, va, &w) != 0)
        return SOFTMMU_NOT_PRESENT;
    pthread_mutex_lock(&mmu.lock);
    softmmu_result_t r = check(w.flags, access, user);
    pthread_mutex_unlock(&mmu.lock);
    if (r == SOFTMMU_OK && pa)
        *pa = w.ppage + (va & PAGE_MASK);
    return r;
}

static tlb_entry_t *tlb_find(pfn_t root, ptr_t vpage)
{
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        if (t->valid && t->vpage == vpage && (t->root == root || t->global))
            return t;
    }
    return NULL;
}

softmmu_result_t softmmu_access(mm_context_t *ctx, ptr_t va, hal_access_t access, bool user, uint64_t *pa)
{
    pthread_mutex_lock(&mmu.lock);
    tlb_entry_t *t = tlb_find(ctx->pgd, va >> PAGE_SHIFT);
    if (!t) {
        walk_out_t w;
        if (walk(ctx->pgd, va, &w) != 0) {
            /* Not-present lookups are cached only when asked: RISC-V
             * allows it (without Svvptc), x86 does not. */
            if (mmu.cache_not_present)
                mmu.tlb[mmu.next++ % TLB_ENTRIES] =
                    (tlb_entry_t){ .valid = true, .present = false, .root = ctx->pgd, .vpage = va >> PAGE_SHIFT };
            pthread_mutex_unlock(&mmu.lock);
            return SOFTMMU_NOT_PRESENT;
        }
        t = &mmu.tlb[mmu.next++ % TLB_ENTRIES];
        *t = (tlb_entry_t){ .valid = true, .present = true, .global = w.global, .root = ctx->pgd,
                            .vpage = va >> PAGE_SHIFT, .ppage = w.ppage, .flags = w.flags, .table = w.table,
                            .table_level = w.table_level, .mask = w.mask };
    }
    if (!t->present) {
        pthread_mutex_unlock(&mmu.lock);
        return SOFTMMU_NOT_PRESENT;
    }
    softmmu_result_t r = check(t->flags, access, user);
    if (r == SOFTMMU_OK && pa)
        *pa = t->ppage + (va & PAGE_MASK);
    pthread_mutex_unlock(&mmu.lock);
    return r;
}

size_t softmmu_stale_entries(void)
{
    size_t stale = 0;
    pthread_mutex_lock(&mmu.lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        if (!t->valid || !t->present)
            continue; /* a cached not-present lookup is allowed to outlive a new mapping */
        walk_out_t w;
        if (walk(t->root, t->vpage << PAGE_SHIFT, &w) != 0 || w.ppage != t->ppage || w.flags != t->flags)
            stale++;
    }
    pthread_mutex_unlock(&mmu.lock);
    return stale;
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
    if (!ok && !mmu.walk_violations++)
        mmu.first_violation = va;
}

void softmmu_tlb_drop_range(pfn_t root, ptr_t start, ptr_t end)
{
    bool kernel = !hal_is_user_addr(mm_geometry, start);
    pthread_mutex_lock(&mmu.lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        ptr_t va = t->vpage << PAGE_SHIFT;
        if (t->valid && va >= start && va < end && (kernel || t->root == root)) {
            if (mmu.check_cached_walks && t->present)
                check_cached_walk(t, root);
            t->valid = false;
        }
    }
    pthread_mutex_unlock(&mmu.lock);
}

void softmmu_tlb_drop_all(pfn_t root, bool with_global)
{
    pthread_mutex_lock(&mmu.lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        if (t->valid && (t->global ? with_global : (t->root == root || !with_global))) {
            if (mmu.check_cached_walks && with_global && t->present)
                check_cached_walk(t, root);
            t->valid = false;
        }
    }
    pthread_mutex_unlock(&mmu.lock);
}

static int transfer(mm_context_t *ctx, ptr_t va, void *buf, size_t len, bool user, bool write)
{
    uint8_t *b = buf;
    hal_access_t access = write ? HAL_ACCESS_WRITE : HAL_ACCESS_READ;
    while (len) {
        size_t chunk = MIN(len, PAGE_SIZE - (va & PAGE_MASK));
        uint64_t pa;
        softmmu_result_t r;
        int tries = 0;
        while ((r = softmmu_access(ctx, va, access, user, &pa)) != SOFTMMU_OK) {
            hal_fault_t f = { .addr = va, .access = access, .user_mode = user, .present = r == SOFTMMU_DENIED };
            pthread_mutex_lock(&mmu.lock);
            mmu.faults++;
            f.user_access = !user && mmu.user_access; /* as the arch trap code reports STAC / SUM */
            pthread_mutex_unlock(&mmu.lock);
            int err = mm_handle_fault(ctx, &f);
            if (err)
                return err;
            MM_ASSERT(++tries < 4, "fault at %#lx resolved %d times but the access still fails", (unsigned long)va, tries);
        }
        if (write)
            memcpy(mm_phys_to_virt(pa), b, chunk);
        else
            memcpy(b, mm_phys_to_virt(pa), chunk);
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
