/* mm/mm.c - address spaces (mm_context_t): the kernel context and the zero
 * page, creation, destruction, switching, the pair lock. */
#include "mm/mm.h"

#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/slab.h"

static mm_context_t *kernel_ctx;
static pfn_t zero_page = PMM_NO_FRAME;
static slab_cache_t context_cache = SLAB_CACHE_INIT("mm_context", mm_context_t);
static size_t live_contexts;
static spinlock_t contexts_lock = SPINLOCK_INIT;
static mm_context_t *contexts; /* every live context but the kernel's */
static mm_context_t *_Atomic active_ctx[MM_MAX_CPUS]; /* what each CPU runs (mm_switch_context) */

mm_context_t *mm_context_list(void) { return contexts; }

/* Root entries [first, hal_level_entries(root)) describe the kernel half. */
static unsigned kernel_root_first(void)
{
    return hal_level_index(mm_geometry, mm_geometry->levels, hal_kernel_start(mm_geometry));
}

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
    atomic_store_explicit(&ctx->loaded, 0, memory_order_relaxed);
    ctx->is_kernel = false;
    __atomic_fetch_add(&live_contexts, 1, __ATOMIC_RELAXED);
    return ctx;
}

void mm_contexts_reset(void)
{
    context_cache = (slab_cache_t)SLAB_CACHE_INIT("mm_context", mm_context_t);
    live_contexts = 0;
    contexts = NULL;
    contexts_lock = (spinlock_t)SPINLOCK_INIT;
    kernel_ctx = NULL;
    for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
        atomic_store_explicit(&active_ctx[cpu], NULL, memory_order_relaxed);
    zero_page = PMM_NO_FRAME;
}

int mm_contexts_init(void)
{
    zero_page = pmm_alloc_zeroed();
    if (zero_page == PMM_NO_FRAME)
        return -ENOMEM;
    pmm_ref(zero_page); /* the permanent reference */

    kernel_ctx = context_alloc();
    if (!kernel_ctx)
        return -ENOMEM;
    kernel_ctx->is_kernel = true;
    if (hal_separate_kernel_root(mm_geometry))
        return 0; /* the kernel half has a root of its own: nothing to share */
    /* Every kernel-half table under the root exists from now on, so that
     * each context can share them by copying the root's kernel half. */
    pte_t *root = pfn_va(kernel_ctx->pgd);
    for (unsigned i = kernel_root_first(); i < hal_level_entries(mm_geometry, mm_geometry->levels); i++) {
        pfn_t t = pt_alloc_table(NULL, false);
        if (t == PMM_NO_FRAME)
            return -ENOMEM;
        hal_pte_store(&root[i], hal_pte_make_table(t, false));
    }
    hal_tables_sync();
    return 0;
}

size_t mm_live_contexts(void) { return __atomic_load_n(&live_contexts, __ATOMIC_RELAXED); }

mm_context_t *mm_kernel_context(void) { return kernel_ctx; }

pfn_t mm_zero_page(void) { return zero_page; }

mm_context_t *mm_create_context(void)
{
    mm_context_t *ctx = context_alloc();
    if (!ctx)
        return ERR_PTR(-ENOMEM);
    if (!hal_separate_kernel_root(mm_geometry)) {
        const pte_t *kroot = pfn_va(kernel_ctx->pgd);
        pte_t *root = pfn_va(ctx->pgd);
        for (unsigned i = kernel_root_first(); i < hal_level_entries(mm_geometry, mm_geometry->levels); i++)
            hal_pte_store(&root[i], hal_pte_load(&kroot[i]));
        hal_tables_sync(); /* before the root can be activated */
    }
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
    mm_cpumask_t loaded = atomic_load_explicit(&ctx->loaded, memory_order_relaxed);
    MM_ASSERT(loaded == 0, "context %p (root %#llx) is still loaded on CPUs %#llx (mm_context_loaded without mm_context_unloaded)",
              (void *)ctx, (unsigned long long)ctx->pgd, (unsigned long long)loaded);
    spinlock_acquire(&ctx->mm_lock);
    vm_tree_node_t *n;
    while ((n = vm_tree_first_from(&ctx->vmaps, 0)) != NULL)
        vmap_destroy((vmap_t *)n);
    /* Anything mapped outside a vmap (mm_do_map on the user half) goes too. */
    pt_gather_t g;
    pt_gather_init(&g);
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
     * (both sides order with seq_cst; tlb_flush in mm/pagetable.c). */
    atomic_fetch_or(&ctx->cpus, MM_CPU_BIT(cpu));
    hal_mmu_activate(ctx->pgd, kernel_ctx->pgd);
    atomic_store_explicit(&active_ctx[cpu], ctx, memory_order_relaxed);
    /* Activation dropped old's translations here; unless this CPU loaded
     * old's root itself too (mm_context_loaded): then it stays in the set
     * until mm_context_unloaded. */
    if (old && old != ctx && !(atomic_load_explicit(&old->loaded, memory_order_relaxed) & MM_CPU_BIT(cpu)))
        atomic_fetch_and(&old->cpus, ~MM_CPU_BIT(cpu));
}

mm_context_t *mm_active_context(void) { return atomic_load_explicit(&active_ctx[mm_cpu_id()], memory_order_relaxed); }

pfn_t mm_context_root(const mm_context_t *ctx) { return ctx->pgd; }

void mm_context_loaded(mm_context_t *ctx)
{
    unsigned cpu = mm_cpu_id();
    MM_ASSERT(cpu < MM_MAX_CPUS, "CPU id %u out of range", cpu);
    MM_ASSERT(ctx && ctx != kernel_ctx, "context %p is not a user context", (void *)ctx);
    /* As in mm_switch_context: the bit is visible before the caller loads
     * the root, so an operation either shoots this CPU down or finished its
     * stores before the first walk. */
    atomic_fetch_or(&ctx->cpus, MM_CPU_BIT(cpu));
    atomic_fetch_or(&ctx->loaded, MM_CPU_BIT(cpu));
}

void mm_context_unloaded(mm_context_t *ctx)
{
    unsigned cpu = mm_cpu_id();
    MM_ASSERT(cpu < MM_MAX_CPUS, "CPU id %u out of range", cpu);
    MM_ASSERT(ctx && ctx != kernel_ctx, "context %p is not a user context", (void *)ctx);
    MM_ASSERT(atomic_load_explicit(&active_ctx[cpu], memory_order_relaxed) != ctx,
              "context %p is this CPU's active context (mm_switch_context keeps its bit)", (void *)ctx);
    atomic_fetch_and(&ctx->loaded, ~MM_CPU_BIT(cpu));
    atomic_fetch_and(&ctx->cpus, ~MM_CPU_BIT(cpu));
}

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
    if (!ctx2 || ctx2 == ctx1) {
        spinlock_release(&ctx1->mm_lock);
        return;
    }
    /* The reverse of the order taken (interrupt states nest, mm/lock.h). */
    bool ctx1_first = (uintptr_t)ctx1 < (uintptr_t)ctx2;
    spinlock_release(ctx1_first ? &ctx2->mm_lock : &ctx1->mm_lock);
    spinlock_release(ctx1_first ? &ctx1->mm_lock : &ctx2->mm_lock);
}
