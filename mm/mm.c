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
static mm_context_t *_Atomic active_ctx[MM_MAX_CPUS]; /* what each CPU runs (mm_switch_context) */
static size_t shootdowns;

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
    ctx->vmaps = (vm_tree_t)VM_TREE_INIT(&vmap_tree_alloc);
    atomic_store_explicit(&ctx->cpus, 0, memory_order_relaxed);
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
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        atomic_store_explicit(&active_ctx[cpu], NULL, memory_order_relaxed);
    __atomic_store_n(&shootdowns, 0, __ATOMIC_RELAXED);
    zero_page = PMM_NO_FRAME;
    vmap_reset();
    pt_reset();
    shm_reset();
    cow_reset();
    slab_reset();
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
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        MM_ASSERT(atomic_load_explicit(&active_ctx[cpu], memory_order_relaxed) != ctx,
                  "context %p (root %#llx) is active on CPU %u", (void *)ctx, (unsigned long long)ctx->pgd, cpu);
    spinlock_acquire(&ctx->mm_lock);
    vm_tree_node_t *n;
    while ((n = vm_tree_first_from(&ctx->vmaps, 0)) != NULL)
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

void mm_switch_context(mm_context_t *ctx)
{
    unsigned cpu = mm_cpu_id();
    MM_ASSERT(cpu < MM_MAX_CPUS, "CPU id %u out of range", cpu);
    mm_context_t *old = atomic_load_explicit(&active_ctx[cpu], memory_order_relaxed);
    /* The bit is visible before this CPU can walk ctx's tables: an operation
     * that changes them and then reads ctx->cpus either sees the bit (and
     * shoots this CPU down) or finished its stores before our walks begin
     * (both sides order with seq_cst; mm/tlb.c). */
    atomic_fetch_or(&ctx->cpus, MM_CPU_BIT(cpu));
    hal_mmu_activate(ctx->pgd);
    atomic_store_explicit(&active_ctx[cpu], ctx, memory_order_relaxed);
    if (old && old != ctx)
        atomic_fetch_and(&old->cpus, ~MM_CPU_BIT(cpu)); /* activation dropped old's translations here */
}

mm_context_t *mm_active_context(void) { return atomic_load_explicit(&active_ctx[mm_cpu_id()], memory_order_relaxed); }

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
        .object_pages = slab_pages_total() + shm_node_pages_total(),
        .shootdowns = __atomic_load_n(&shootdowns, __ATOMIC_RELAXED),
    };
    /* Tables, slab pages and nodes each hold one reference (taken before
     * they are counted, dropped after), as does the zero page: the other
     * referenced frames are user memory. Read last, so that in flight it
     * errs upwards, and never below 0. */
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    size_t others = out->table_pages + out->object_pages + (zero_page != PMM_NO_FRAME);
    out->user_pages = ps.referenced_frames > others ? ps.referenced_frames - others : 0;
}

/* ---- TLB invalidation on every CPU that may cache a translation ---- */

/* Invalidates [start, end) of ctx, or everything of ctx (all), on the
 * calling CPU and on every other CPU that may cache it: all online CPUs for
 * the kernel half (every context shares it), ctx->cpus for the user half.
 * Returns when every CPU has done it. The caller has finished its entry
 * stores; the fence orders them before the read of ctx->cpus, against
 * mm_switch_context's fetch_or before a CPU loads the root. */
void mm_tlb_flush(mm_context_t *ctx, bool all, ptr_t start, ptr_t end)
{
    bool kernel = ctx == kernel_ctx || !hal_is_user_addr(mm_geometry, start);
    if (all)
        hal_tlb_invalidate_all(ctx->pgd);
    else
        hal_tlb_invalidate(ctx->pgd, start, end);
    atomic_thread_fence(memory_order_seq_cst);
    mm_cpumask_t targets = kernel ? mm_cpus_online() : atomic_load_explicit(&ctx->cpus, memory_order_relaxed);
    targets &= ~MM_CPU_BIT(mm_cpu_id());
    if (!targets)
        return;
    mm_shootdown_t req = { .root = ctx->pgd, .start = all ? 0 : start, .end = all ? 0 : end, .all = all };
    __atomic_fetch_add(&shootdowns, 1, __ATOMIC_RELAXED);
    mm_tlb_shootdown(targets, &req);
}
