/* mm/mm.c - bring-up, address spaces (mm_context_t), global statistics. */
#include "mm/mm.h"

#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/slab.h"

const hal_geometry_t *mm_geometry;

static mm_context_t *kernel_ctx;
static pfn_t zero_page = PMM_NO_FRAME;
static slab_cache_t context_cache = SLAB_CACHE_INIT("mm_context", mm_context_t);
static size_t live_contexts;
static spinlock_t contexts_lock = SPINLOCK_INIT;
static mm_context_t *contexts; /* every live context but the kernel's */

mm_context_t *mm_context_list(void) { return contexts; }

/* Root entries [first, HAL_ENTRIES_PER_TABLE) describe the kernel half. */
static unsigned kernel_root_first(void) { return hal_level_index(mm_geometry->levels, hal_kernel_start(mm_geometry)); }

static mm_context_t *context_alloc(void)
{
    mm_context_t *ctx = slab_alloc(&context_cache);
    if (!ctx)
        return NULL;
    ctx->pgd = pt_alloc_table(NULL, false);
    if (ctx->pgd == PMM_NO_FRAME) {
        slab_free(&context_cache, ctx);
        return NULL;
    }
    ctx->mm_lock = (spinlock_t)SPINLOCK_INIT;
    ctx->vmaps = (vm_tree_t)VM_TREE_INIT;
    __atomic_fetch_add(&live_contexts, 1, __ATOMIC_RELAXED);
    return ctx;
}

int mm_init(const mm_boot_info_t *info)
{
    const hal_geometry_t *g = info ? info->geometry : NULL;
    if (!g || g->levels < 3 || g->levels > HAL_MAX_LEVELS || !(g->leaf_levels & 2) || g->va_bits < 32 ||
        g->va_bits != PAGE_SHIFT + HAL_BITS_PER_LEVEL * g->levels)
        return -EINVAL;
    mm_geometry = g;
    /* Start from nothing, also when called again (host tests re-init). */
    context_cache = (slab_cache_t)SLAB_CACHE_INIT("mm_context", mm_context_t);
    live_contexts = 0;
    contexts = NULL;
    contexts_lock = (spinlock_t)SPINLOCK_INIT;
    kernel_ctx = NULL;
    zero_page = PMM_NO_FRAME;
    vmap_reset();
    pt_reset();
    shm_reset();
    cow_reset();
    int err = pmm_init(info->regions, info->nregions);
    if (err)
        return err;

    zero_page = pmm_alloc_zeroed();
    if (zero_page == PMM_NO_FRAME)
        return -ENOMEM;
    pmm_ref(zero_page); /* the permanent reference */

    kernel_ctx = context_alloc();
    if (!kernel_ctx)
        return -ENOMEM;
    /* Every kernel-half table under the root exists from now on, so that
     * each context can share them by copying the root's kernel half. */
    pte_t *root = pfn_va(kernel_ctx->pgd);
    for (unsigned i = kernel_root_first(); i < HAL_ENTRIES_PER_TABLE; i++) {
        pfn_t t = pt_alloc_table(NULL, false);
        if (t == PMM_NO_FRAME)
            return -ENOMEM;
        root[i] = hal_pte_make_table(t, false);
    }
    return 0;
}

mm_context_t *mm_kernel_context(void) { return kernel_ctx; }

pfn_t mm_zero_page(void) { return zero_page; }

mm_context_t *mm_create_context(void)
{
    mm_context_t *ctx = context_alloc();
    if (!ctx)
        return ERR_PTR(-ENOMEM);
    const pte_t *kroot = pfn_va(kernel_ctx->pgd);
    pte_t *root = pfn_va(ctx->pgd);
    for (unsigned i = kernel_root_first(); i < HAL_ENTRIES_PER_TABLE; i++)
        root[i] = kroot[i];
    spinlock_acquire(&contexts_lock);
    ctx->next = contexts;
    ctx->prev = NULL;
    if (contexts)
        contexts->prev = ctx;
    contexts = ctx;
    spinlock_release(&contexts_lock);
    return ctx;
}

void mm_destroy_context(mm_context_t *ctx)
{
    MM_ASSERT(ctx && ctx != kernel_ctx, "cannot destroy context %p (kernel context %p)", (void *)ctx, (void *)kernel_ctx);
    MM_ASSERT(hal_mmu_active_root() != ctx->pgd, "context %p (root %#llx) is active", (void *)ctx,
              (unsigned long long)ctx->pgd);
    spinlock_acquire(&ctx->mm_lock);
    vm_tree_node_t *n;
    while ((n = ctx->vmaps.root) != NULL)
        vmap_destroy((vmap_t *)n);
    /* Anything mapped outside a vmap (mm_do_map on the user half) goes too. */
    pt_gather_t g = PT_GATHER_INIT;
    int err = pt_unmap(ctx, 0, hal_user_end(mm_geometry) - 1, &g);
    MM_ASSERT(err == 0, "unmapping the user half failed: %d", err);
    pt_finish(ctx, &g);
    MM_ASSERT(ctx->table_pages == 0, "context %p still owns %zu table pages", (void *)ctx, ctx->table_pages);
    spinlock_release(&ctx->mm_lock);
    spinlock_acquire(&contexts_lock);
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        contexts = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    spinlock_release(&contexts_lock);
    pt_free_table(NULL, ctx->pgd, false, NULL);
    __atomic_fetch_sub(&live_contexts, 1, __ATOMIC_RELAXED);
    slab_free(&context_cache, ctx);
}

void mm_switch_context(mm_context_t *ctx) { hal_mmu_activate(ctx->pgd); }

void mm_lock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2)
{
    if (!ctx2 || ctx2 == ctx1) {
        spinlock_acquire(&ctx1->mm_lock);
        return;
    }
    /* One global order, whatever the argument order: by address. */
    bool ctx1_first = (uintptr_t)ctx1 < (uintptr_t)ctx2;
    spinlock_acquire(ctx1_first ? &ctx1->mm_lock : &ctx2->mm_lock);
    spinlock_acquire(ctx1_first ? &ctx2->mm_lock : &ctx1->mm_lock);
}

void mm_unlock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2)
{
    if (ctx2 && ctx2 != ctx1)
        spinlock_release(&ctx2->mm_lock);
    spinlock_release(&ctx1->mm_lock);
}

void mm_get_stats(mm_stats_t *out)
{
    *out = (mm_stats_t){
        .table_pages = pt_table_pages_total(),
        .contexts = __atomic_load_n(&live_contexts, __ATOMIC_RELAXED),
        .vmaps = vmap_live_count(),
        .object_pages = __atomic_load_n(&context_cache.pages, __ATOMIC_RELAXED) + vmap_object_pages(),
    };
}
