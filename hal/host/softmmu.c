/* hal/host/softmmu.c - a software MMU over the real tables: walks them with
 * the arch codec and applies the arch's access rules, and a small TLB model
 * that only the generic layer's invalidations empty, so tests can catch a
 * missing invalidation. */
#include <pthread.h>
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

/* One model TLB for the process (like one CPU's), so that threads may share
 * it, behind a mutex (host-only code: tests run it under ThreadSanitizer).
 * The mutex is never held across a call into the generic layer. */
static struct {
    pthread_mutex_t lock;
    tlb_entry_t tlb[TLB_ENTRIES];
    unsigned next;
    bool user_access; /* STAC / SUM */
    size_t faults;
} mmu = { .lock = PTHREAD_MUTEX_INITIALIZER };

void softmmu_reset(void)
{
    pthread_mutex_lock(&mmu.lock);
    memset(mmu.tlb, 0, sizeof(mmu.tlb));
    mmu.next = 0;
    mmu.user_access = false;
    mmu.faults = 0;
    pthread_mutex_unlock(&mmu.lock);
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
    vm_flags f;
    uint64_t page;
    bool global;
    if (walk(ctx->pgd, va, &f, &page, &global) != 0)
        return SOFTMMU_NOT_PRESENT;
    pthread_mutex_lock(&mmu.lock);
    softmmu_result_t r = check(f, access, user);
    pthread_mutex_unlock(&mmu.lock);
    if (r == SOFTMMU_OK && pa)
        *pa = page + (va & PAGE_MASK);
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
        vm_flags f;
        uint64_t page;
        bool global;
        if (walk(ctx->pgd, va, &f, &page, &global) != 0) {
            pthread_mutex_unlock(&mmu.lock);
            return SOFTMMU_NOT_PRESENT; /* not-present entries are not cached */
        }
        t = &mmu.tlb[mmu.next++ % TLB_ENTRIES];
        *t = (tlb_entry_t){ .valid = true, .global = global, .root = ctx->pgd, .vpage = va >> PAGE_SHIFT,
                            .ppage = page, .flags = f };
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
        if (!t->valid)
            continue;
        vm_flags f;
        uint64_t page;
        bool global;
        if (walk(t->root, t->vpage << PAGE_SHIFT, &f, &page, &global) != 0 || page != t->ppage || f != t->flags)
            stale++;
    }
    pthread_mutex_unlock(&mmu.lock);
    return stale;
}

void softmmu_tlb_drop_range(pfn_t root, ptr_t start, ptr_t end)
{
    bool kernel = !hal_is_user_addr(mm_geometry, start);
    pthread_mutex_lock(&mmu.lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        ptr_t va = t->vpage << PAGE_SHIFT;
        if (t->valid && va >= start && va < end && (kernel || t->root == root))
            t->valid = false;
    }
    pthread_mutex_unlock(&mmu.lock);
}

void softmmu_tlb_drop_all(pfn_t root, bool with_global)
{
    pthread_mutex_lock(&mmu.lock);
    for (unsigned i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *t = &mmu.tlb[i];
        if (t->valid && (t->global ? with_global : (t->root == root || !with_global)))
            t->valid = false;
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
