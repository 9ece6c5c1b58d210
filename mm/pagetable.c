/* mm/pagetable.c - the one page-table walker.
 *
 * walk() loops over the entries of one table that [va, last] touches,
 * stepping to min(last, end of the entry) each time, and recurses one level
 * down where needed; the per-entry work of each operation is a case of
 * walk_entry(). At level 1 each operation runs a tight loop over the table
 * (walk_ptes) instead of a call per page. */
#include "mm/pagetable.h"

#include "mm/internal.h"
#include "mm/platform.h"

typedef enum {
    PT_PREPARE_MAP, /* create the tables a map needs, split huge leaves it covers in part */
    PT_MAP,
    PT_UNMAP,
    PT_PROTECT,
    PT_PREPARE_COPY, /* create the destination tables a copy needs */
    PT_COPY,
    PT_PRUNE, /* free empty tables (undo of a failed prepare) */
} pt_kind_t;

typedef struct walk {
    pt_kind_t kind;
    mm_context_t *ctx, *dst;
    ptr_t va0;     /* PT_MAP: pfn0 maps at va0 */
    pfn_t pfn0;
    vm_flags flags;
    bool user;     /* user half: 4 KiB leaves with references */
    bool uncounted; /* user half without references (a reserved vmap's supervisor pages) */
    bool cow;
    bool guard;    /* PT_PROTECT: never make a frame writable that is shared (COW) */
    pt_gather_t *g;
} walk_t;

/* The geometry in force (mm/mm.h), set by mm_init. */
const hal_geometry_t *mm_geometry;

static size_t table_pages_total, shootdowns;

static void break_window_reset(void);

void pt_reset(void)
{
    __atomic_store_n(&table_pages_total, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&shootdowns, 0, __ATOMIC_RELAXED);
    break_window_reset();
}

size_t pt_table_pages_total(void) { return __atomic_load_n(&table_pages_total, __ATOMIC_RELAXED); }

size_t pt_shootdowns_total(void) { return __atomic_load_n(&shootdowns, __ATOMIC_RELAXED); }

int mm_check_range(ptr_t vaddr, size_t npages, bool user, ptr_t *last)
{
    if (npages == 0 || (vaddr & PAGE_MASK) || npages > (SIZE_MAX >> PAGE_SHIFT))
        return -EINVAL;
    ptr_t size = (ptr_t)npages << PAGE_SHIFT;
    ptr_t end = vaddr + size;
    if (end <= vaddr) /* overflows, or reaches the top of the address space */
        return -EINVAL;
    if (user ? end > hal_user_end(mm_geometry) : vaddr < hal_kernel_start(mm_geometry))
        return -EINVAL;
    *last = end - 1;
    return 0;
}

int mm_check_flags(vm_flags flags, bool user)
{
    if ((flags & ~VM_ALL_FLAGS) || !(flags & VM_READ))
        return -EINVAL;
    if (user ? (flags & VM_GLOBAL) || !(flags & VM_USER) : (flags & VM_USER))
        return -EINVAL;
    return 0;
}

/* Invalidates [start, end) of ctx, or everything of ctx (all), on the
 * calling CPU and on every other CPU that may cache it: all online CPUs for
 * the kernel half (every context shares it), ctx->cpus for the user half
 * (none when the geometry's invalidations broadcast: the local one reached
 * them). Returns when every CPU has done it. The caller has finished its entry
 * stores (and ordered them with hal_tables_sync); the fence orders them
 * before the read of ctx->cpus, against mm_switch_context's fetch_or
 * before a CPU loads the root. */
static void tlb_flush(mm_context_t *ctx, bool all, ptr_t start, ptr_t end)
{
    bool kernel = ctx->is_kernel || !hal_is_user_addr(mm_geometry, start);
    if (all)
        hal_tlb_invalidate_all(ctx->pgd);
    else
        hal_tlb_invalidate(ctx->pgd, start, end);
    if (hal_invalidation_broadcasts(mm_geometry))
        return;
    atomic_thread_fence(memory_order_seq_cst);
    mm_cpumask_t targets = kernel ? mm_cpus_online() : atomic_load_explicit(&ctx->cpus, memory_order_relaxed);
    targets &= ~MM_CPU_BIT(mm_cpu_id());
    if (!targets)
        return;
    mm_shootdown_t req = { .root = ctx->pgd, .start = all ? 0 : start, .end = all ? 0 : end, .all = all };
    __atomic_fetch_add(&shootdowns, 1, __ATOMIC_RELAXED);
    mm_tlb_shootdown(targets, &req);
}

pfn_t pt_alloc_table(mm_context_t *ctx, bool user_half)
{
    pfn_t t = pmm_alloc();
    if (t == PMM_NO_FRAME)
        return t;
    /* Cleared through the accessor: a table walker on another CPU may read
     * an entry of this page as soon as it is linked. */
    pte_t *e = pfn_va(t);
    for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++)
        hal_pte_store(&e[i], 0);
    pmm_ref(t);
    __atomic_fetch_add(&table_pages_total, 1, __ATOMIC_RELAXED);
    if (user_half && ctx)
        ctx->table_pages++;
    return t;
}

void pt_free_table(mm_context_t *ctx, pfn_t table, bool user_half, pmm_gather_t *g)
{
    __atomic_fetch_sub(&table_pages_total, 1, __ATOMIC_RELAXED);
    if (user_half && ctx)
        ctx->table_pages--;
    if (g)
        pmm_unref_gather(table, g);
    else
        pmm_unref(table);
}

/* Hands the reference of a user frame whose mapping went to the gather: it
 * is dropped after the invalidation (mm/pmm.h). A full gather is finished
 * early: invalidated and released, then gathering goes on. */
static void gather_unref(mm_context_t *ctx, pt_gather_t *g, pfn_t pfn)
{
    if (pmm_gather_defer_unref(&g->frames, pfn))
        return;
    pt_finish(ctx, g);
    bool kept = pmm_gather_defer_unref(&g->frames, pfn);
    MM_ASSERT(kept, "an empty gather refused frame %#llx", (unsigned long long)pfn);
}

static inline void gather_flush(pt_gather_t *g, ptr_t lo, ptr_t hi)
{
    if (lo < g->flush_lo)
        g->flush_lo = lo;
    if (hi > g->flush_hi)
        g->flush_hi = hi;
}

static bool table_empty(pfn_t table)
{
    const pte_t *t = pfn_va(table);
    for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++)
        if (hal_pte_present(hal_pte_load(&t[i])))
            return false;
    return true;
}

/* Tables directly under the root in the kernel half are shared by every
 * context and never freed (with a separate kernel root nothing shares them:
 * they come and go like any other). */
static bool table_pinned(unsigned level, ptr_t va)
{
    return level == mm_geometry->levels - 1 && !hal_is_user_addr(mm_geometry, va) &&
           !hal_separate_kernel_root(mm_geometry);
}

/* Break-before-make (HAL_GEOMETRY_BREAK_BEFORE_MAKE): the valid entries of
 * [lo, hi] in ctx were just made invalid; they are invalidated on every CPU
 * that may cache them (everything, with all: a table went) before the
 * caller stores their replacements. */
static void break_flush(mm_context_t *ctx, bool all, ptr_t lo, ptr_t hi)
{
    hal_tables_sync();
    if (all || hi + 1 == 0)
        tlb_flush(ctx, true, 0, 0);
    else
        tlb_flush(ctx, false, lo, hi + 1);
}

/* ---- Kernel-half break windows ----
 * While a kernel-half entry is broken, any CPU that touches its range
 * (another CPU reading the direct map under a leaf being split) takes a
 * translation fault on a kernel address. The window is published here, in
 * kmm's static data (the kernel image, never under a direct-map leaf), so
 * that a fault path can tell such a fault from a bug without touching the
 * direct map (mm_break_window_retry). Kernel-half changes hold the kernel
 * context's lock: one window at a time. seq is odd while a window is open;
 * the range and the CPU are written before it turns odd and kept once it
 * is even again. */
static struct {
    _Atomic uint64_t seq;
    _Atomic ptr_t lo, hi;
    _Atomic unsigned cpu;
} break_window;
/* Per CPU, the last fault mm_break_window_retry let retry after its window
 * closed, so that a fault that was not the window's is retried once only. */
static struct {
    ptr_t addr;
    uint64_t seq;
} break_retried[MM_MAX_CPUS];

/* No window, none remembered (mm_init, with no other CPU in kmm). */
static void break_window_reset(void)
{
    atomic_store_explicit(&break_window.seq, 0, memory_order_relaxed);
    for (unsigned i = 0; i < MM_MAX_CPUS; i++)
        break_retried[i].addr = break_retried[i].seq = 0;
}

static void window_open(ptr_t lo, ptr_t hi)
{
    uint64_t s = atomic_load_explicit(&break_window.seq, memory_order_relaxed);
    MM_ASSERT(!(s & 1), "a break window over [%#lx, %#lx] is open already", (unsigned long)break_window.lo,
              (unsigned long)break_window.hi);
    atomic_store_explicit(&break_window.lo, lo, memory_order_relaxed);
    atomic_store_explicit(&break_window.hi, hi, memory_order_relaxed);
    atomic_store_explicit(&break_window.cpu, mm_cpu_id(), memory_order_relaxed);
    atomic_store_explicit(&break_window.seq, s + 1, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst); /* open before the break store */
}

static void window_close(void)
{
    /* the make is visible (hal_break_make ends with it) before the window closes */
    atomic_fetch_add_explicit(&break_window.seq, 1, memory_order_release);
}

bool mm_break_window_open(ptr_t *lo, ptr_t *hi)
{
    for (;;) {
        uint64_t s = atomic_load_explicit(&break_window.seq, memory_order_acquire);
        ptr_t l = atomic_load_explicit(&break_window.lo, memory_order_relaxed);
        ptr_t h = atomic_load_explicit(&break_window.hi, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&break_window.seq, memory_order_relaxed) != s)
            continue;
        if (!(s & 1))
            return false;
        if (lo)
            *lo = l;
        if (hi)
            *hi = h;
        return true;
    }
}

bool mm_break_window_retry(ptr_t addr)
{
    if (!mm_geometry || !hal_break_before_make(mm_geometry) || hal_is_user_addr(mm_geometry, addr))
        return false;
    unsigned me = mm_cpu_id();
    MM_ASSERT(me < MM_MAX_CPUS, "CPU id %u out of range", me);
    for (;;) {
        uint64_t s = atomic_load_explicit(&break_window.seq, memory_order_acquire);
        ptr_t lo = atomic_load_explicit(&break_window.lo, memory_order_relaxed);
        ptr_t hi = atomic_load_explicit(&break_window.hi, memory_order_relaxed);
        unsigned owner = atomic_load_explicit(&break_window.cpu, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&break_window.seq, memory_order_relaxed) != s)
            continue; /* a window opened or closed while we read it */
        if ((s & 1) && addr >= lo && addr <= hi) {
            if (owner == me)
                return false; /* this CPU's own window: nothing would close it */
            while (atomic_load_explicit(&break_window.seq, memory_order_acquire) == s)
                mm_spin_wait();
            s++;
        } else if (s == 0) {
            return false; /* no window ever */
        } else if (break_retried[me].addr == addr && break_retried[me].seq == s) {
            return false; /* retried once since the last window changed, and faulted again */
        }
        /* Waited out, or maybe from a window that closed before we looked
         * (another may have opened since, elsewhere): one retry per
         * address and window, remembered. */
        break_retried[me].addr = addr;
        break_retried[me].seq = s;
        return true;
    }
}

/* One break-before-make: the valid entry *slot, whose translations are
 * [lo, hi], becomes e (all: a table went, invalidate everything). In the
 * kernel half, with broadcast invalidation, as one hal_break_make in a
 * published window: nothing of the generic layer runs while it is broken.
 * Elsewhere: the break, its invalidation everywhere, the make. */
/* A break at va runs in a published window: the kernel half, where the
 * invalidation broadcasts (other CPUs cannot be told to wait otherwise). */
static bool break_in_window(ptr_t va)
{
    return !hal_is_user_addr(mm_geometry, va) && hal_invalidation_broadcasts(mm_geometry);
}

static void break_make(mm_context_t *ctx, pte_t *slot, pte_t e, bool all, ptr_t lo, ptr_t hi)
{
    all = all || hi + 1 == 0;
    if (break_in_window(lo)) {
        pfn_t root = ctx->pgd;
        window_open(lo, hi);
        hal_break_make(root, slot, e, lo, hi + 1, all);
        window_close();
        return;
    }
    hal_pte_store(slot, 0);
    break_flush(ctx, all, lo, hi);
    hal_pte_store(slot, e);
}

/* Level-1 breaks are batched, one invalidation per table (or per
 * PT_BREAK_BATCH entries). In the kernel half, with broadcast
 * invalidation, a batch runs in a published window over [va, last], and
 * between its break and its make the generic layer touches the table t
 * and its own stack alone; where [va, last] covers t itself (a level-1
 * table among the direct-map pages it maps), each entry goes through
 * break_make instead. */
static bool breaks_one_by_one(const pte_t *t, ptr_t va, ptr_t last)
{
    ptr_t at = mm_kernel_address_of(t);
    return break_in_window(va) && at + PAGE_MASK >= va && at <= last;
}

/* The invalidation of a batch's break [lo, hi]; in the kernel half its
 * window is open already and root was read before it (the context may be
 * under the break). */
static void batch_break_flush(mm_context_t *ctx, pfn_t root, bool window, ptr_t lo, ptr_t hi)
{
    if (!window) {
        break_flush(ctx, false, lo, hi);
        return;
    }
    hal_tables_sync();
    hal_tlb_invalidate(root, lo, hi + 1);
}

/* Break-before-make covers a live leaf whose memory type changes too (its
 * cacheability: VM_CACHE_DISABLED, VM_WRITE_THROUGH), not only its output
 * address or size; a change of permissions alone needs no break. */
static bool type_changes(unsigned level, pte_t old, pte_t e)
{
    return ((hal_pte_flags(level, old) ^ hal_pte_flags(level, e)) & (VM_CACHE_DISABLED | VM_WRITE_THROUGH)) != 0;
}

/* Whether replacing the live leaf old by e must break first (on a geometry
 * with break-before-make): another output address or another type. */
static bool leaf_change_breaks(unsigned level, pte_t old, pte_t e)
{
    return hal_pte_pfn(level, old) != hal_pte_pfn(level, e) || type_changes(level, old, e);
}

/* Level-1 entries broken for a type change, stored anew once the break of
 * [lo, hi] is invalidated (PT_PROTECT under break-before-make). */
#define PT_BREAK_BATCH 32
typedef struct break_batch {
    unsigned n;
    bool window;       /* kernel half: stored in a published window over [wlo, whi] */
    pfn_t root;
    ptr_t wlo, whi;
    ptr_t lo, hi;
    unsigned short at[PT_BREAK_BATCH];
    pte_t made[PT_BREAK_BATCH];
} break_batch_t;

static void break_batch_store(mm_context_t *ctx, pte_t *t, break_batch_t *b)
{
    batch_break_flush(ctx, b->root, b->window, b->lo, b->hi);
    for (unsigned k = 0; k < b->n; k++)
        hal_pte_store(&t[b->at[k]], b->made[k]);
    if (b->window) {
        hal_tables_sync();
        window_close();
    }
    b->n = 0;
}

/* Replaces the huge leaf *slot at `level` by a table of 512 leaves one level
 * down with the same translations and flags. 0 or -ENOMEM (slot unchanged). */
static int split_leaf(walk_t *w, pte_t *slot, unsigned level, ptr_t va)
{
    bool user = hal_is_user_addr(mm_geometry, va);
    pfn_t child = pt_alloc_table(w->ctx, user);
    if (child == PMM_NO_FRAME)
        return -ENOMEM;
    pte_t *c = pfn_va(child), old = hal_pte_load(slot);
    pfn_t base = hal_pte_pfn(level, old);
    vm_flags f = hal_pte_flags(level, old);
    pfn_t step = (pfn_t)1 << (HAL_BITS_PER_LEVEL * (level - 2));
    for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++) {
        pte_t e;
        int err = hal_pte_make_leaf(level - 1, base + i * step, f, &e);
        MM_ASSERT(err == 0, "cannot re-encode a level-%u leaf %#llx one level down", level, (unsigned long long)old);
        hal_pte_store(&c[i], e);
    }
    if (hal_break_before_make(mm_geometry)) { /* the leaf's size changes: break it first */
        ptr_t first = va & ~((ptr_t)hal_level_span(level) - 1);
        break_make(w->ctx, slot, hal_pte_make_table(child, user), false, first,
                   first + ((ptr_t)hal_level_span(level) - 1));
        return 0;
    }
    hal_pte_store(slot, hal_pte_make_table(child, user));
    return 0;
}

/* A table where a kernel-half map puts a huge leaf: its subtree (a
 * level-`level` table and the tables below it; kernel leaves hold no frame
 * references) is gathered for freeing, and the caller then replaces the
 * entry by the leaf in one store. The subtree is only read, never emptied:
 * until the invalidation of everything in pt_finish, a CPU may still walk it
 * (cached upper-level entries), and the kernel may be reading the very
 * pages it maps (a remap of the direct map over the tables and the frame
 * array). Its tables are freed after that invalidation. */
static void gather_subtree(mm_context_t *ctx, pfn_t table, unsigned level, bool user, pt_gather_t *g)
{
    MM_ASSERT(!user, "a huge leaf replaces table %#llx in the user half", (unsigned long long)table);
    if (level > 1) {
        const pte_t *t = pfn_va(table);
        for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++) {
            pte_t e = hal_pte_load(&t[i]);
            if (hal_pte_present(e) && !hal_pte_is_leaf(level, e))
                gather_subtree(ctx, hal_pte_pfn(level, e), level - 1, user, g);
        }
    }
    pt_free_table(ctx, table, user, &g->frames);
    g->tables_freed = true;
}

/* A kernel-half map may use a leaf at this level for the whole entry; never
 * in the root, whose kernel-half entries are the tables every context shares
 * (Sv39 and Sv48 allow root leaves). */
static bool can_map_huge(const walk_t *w, unsigned level, ptr_t va, bool whole)
{
    if (w->user || level == 1 || level == mm_geometry->levels || !whole || !hal_level_may_leaf(mm_geometry, level))
        return false;
    pfn_t pfn = w->pfn0 + ((va - w->va0) >> PAGE_SHIFT);
    return (pfn & ((hal_level_span(level) >> PAGE_SHIFT) - 1)) == 0;
}

static int walk(walk_t *w, pfn_t table, pfn_t dtable, unsigned level, ptr_t va, ptr_t last);

/* Level-1 work for [va, last] of one table: a tight loop per operation. */
static void walk_ptes(walk_t *w, pte_t *t, pte_t *dt, ptr_t va, ptr_t last)
{
    unsigned first = hal_level_index(mm_geometry, 1, va), end = first + (unsigned)((last - va) >> PAGE_SHIFT) + 1;
    pt_gather_t *g = w->g;
    switch (w->kind) {
    case PT_MAP: {
        pfn_t pfn = w->pfn0 + ((va - w->va0) >> PAGE_SHIFT);
        bool bbm = hal_break_before_make(mm_geometry), one_by_one = bbm && breaks_one_by_one(t, va, last);
        bool window = bbm && break_in_window(va) && !one_by_one, opened = false;
        if (bbm) {
            /* Entries that get another frame are broken first, all of this
             * table's at once, and invalidated once: the loop below then
             * finds them empty. Each broken entry joins the gather's range
             * before its frame's reference does, so that a full gather
             * finished early (gather_unref) invalidates it before it lets
             * the frame go; once the break's invalidation covered them the
             * range is what it was before. */
            ptr_t lo = (ptr_t)-1, hi = 0, bva = va, saved_lo = g->flush_lo, saved_hi = g->flush_hi;
            pfn_t bpfn = pfn;
            pfn_t root = w->ctx->pgd;
            for (unsigned i = first; i < end; i++, bpfn++, bva += PAGE_SIZE) {
                pte_t old = hal_pte_load(&t[i]), e;
                if (!hal_pte_present(old))
                    continue;
                if (hal_pte_pfn(1, old) == bpfn && (hal_pte_make_leaf(1, bpfn, w->flags, &e) || !type_changes(1, old, e)))
                    continue; /* the same frame, and the same type */
                if (one_by_one) { /* kernel half: made at once (the loop below finds it done) */
                    int err = hal_pte_make_leaf(1, bpfn, w->flags, &e);
                    MM_ASSERT(err == 0, "flags %#x not encodable for pfn %#llx", w->flags, (unsigned long long)bpfn);
                    break_make(w->ctx, &t[i], e, false, bva, bva + PAGE_MASK);
                    continue;
                }
                if (window && !opened) {
                    window_open(va, last);
                    opened = true;
                }
                hal_pte_store(&t[i], 0);
                gather_flush(g, bva, bva + PAGE_MASK);
                if (w->user) /* counted even under an uncounted map (pt_map_uncounted) */
                    gather_unref(w->ctx, g, hal_pte_pfn(1, old));
                lo = MIN(lo, bva);
                hi = bva + PAGE_MASK;
            }
            if (lo <= hi) {
                batch_break_flush(w->ctx, root, window, lo, hi);
                g->flush_lo = saved_lo;
                g->flush_hi = saved_hi;
            }
        }
        for (unsigned i = first; i < end; i++, pfn++, va += PAGE_SIZE) {
            pte_t old = hal_pte_load(&t[i]), e;
            int err = hal_pte_make_leaf(1, pfn, w->flags, &e);
            MM_ASSERT(err == 0, "flags %#x not encodable for pfn %#llx", w->flags, (unsigned long long)pfn);
            if (one_by_one && old == e)
                continue; /* made by break_make above (or the same entry: nothing to do) */
            if (w->user && !w->uncounted)
                pmm_ref(pfn);
            hal_pte_store(&t[i], e);
            if (hal_pte_present(old)) {
                gather_flush(g, va, va + PAGE_MASK);
                if (w->user) /* counted even under an uncounted map (pt_map_uncounted) */
                    gather_unref(w->ctx, g, hal_pte_pfn(1, old));
            }
        }
        if (opened) { /* the makes are visible before the window closes */
            hal_tables_sync();
            window_close();
        }
        break;
    }
    case PT_UNMAP:
        for (unsigned i = first; i < end; i++, va += PAGE_SIZE) {
            pte_t old = hal_pte_load(&t[i]);
            if (!hal_pte_present(old))
                continue;
            hal_pte_store(&t[i], 0);
            gather_flush(g, va, va + PAGE_MASK);
            if (w->user && !w->uncounted)
                gather_unref(w->ctx, g, hal_pte_pfn(1, old));
        }
        break;
    case PT_PROTECT: {
        /* Under break-before-make a type change breaks its entries first, a
         * batch at a time with one invalidation; a permission change is
         * stored at once and invalidated at the end. */
        bool bbm = hal_break_before_make(mm_geometry), one_by_one = bbm && breaks_one_by_one(t, va, last);
        break_batch_t b;
        b.n = 0;
        b.window = bbm && break_in_window(va) && !one_by_one;
        b.root = w->ctx->pgd;
        b.wlo = va;
        b.whi = last;
        for (unsigned i = first; i < end; i++, va += PAGE_SIZE) {
            pte_t old = hal_pte_load(&t[i]), e;
            if (!hal_pte_present(old))
                continue;
            vm_flags f = w->flags;
            if (w->guard && (f & VM_WRITE)) {
                pfn_t pfn = hal_pte_pfn(1, old);
                /* (the zero page counts: its permanent reference is one more) */
                if (pmm_refcount(pfn) > 1)
                    f &= ~VM_WRITE; /* still shared: the next write copies */
            }
            int err = hal_pte_set_flags(1, old, f, &e);
            MM_ASSERT(err == 0, "flags %#x not encodable for entry %#llx", f, (unsigned long long)old);
            if (e == old)
                continue;
            if (one_by_one && type_changes(1, old, e)) {
                break_make(w->ctx, &t[i], e, false, va, va + PAGE_MASK);
                continue;
            }
            if (bbm && type_changes(1, old, e)) {
                if (b.window && b.n == 0)
                    window_open(b.wlo, b.whi);
                hal_pte_store(&t[i], 0);
                b.lo = b.n ? b.lo : va;
                b.hi = va + PAGE_MASK;
                b.at[b.n] = (unsigned short)i;
                b.made[b.n++] = e;
                if (b.n == PT_BREAK_BATCH)
                    break_batch_store(w->ctx, t, &b);
                continue;
            }
            hal_pte_store(&t[i], e);
            gather_flush(g, va, va + PAGE_MASK);
        }
        if (b.n)
            break_batch_store(w->ctx, t, &b);
        break;
    }
    case PT_COPY:
        for (unsigned i = first; i < end; i++, va += PAGE_SIZE) {
            pte_t e = hal_pte_load(&t[i]);
            if (!hal_pte_present(e))
                continue;
            pmm_ref(hal_pte_pfn(1, e));
            vm_flags f = hal_pte_flags(1, e);
            if (w->cow && (f & VM_WRITE)) {
                pte_t ro;
                int err = hal_pte_set_flags(1, e, f & ~VM_WRITE, &ro);
                MM_ASSERT(err == 0, "cannot write-protect entry %#llx", (unsigned long long)e);
                e = ro;
                hal_pte_store(&t[i], e);
                gather_flush(g, va, va + PAGE_MASK);
            }
            hal_pte_store(&dt[i], e);
        }
        break;
    default:
        break;
    }
}

/* The work of one entry above level 1: [va, last] is the part of the entry
 * the operation covers; whole says it covers all of it. */
static int walk_entry(walk_t *w, pte_t *slot, pte_t *dslot, unsigned level, ptr_t va, ptr_t last, bool whole)
{
    pte_t e = hal_pte_load(slot);
    bool user = hal_is_user_addr(mm_geometry, va);
    int err;

    switch (w->kind) {
    case PT_PREPARE_MAP:
        if (can_map_huge(w, level, va, whole))
            return 0;
        if (!hal_pte_present(e)) {
            pfn_t child = pt_alloc_table(w->ctx, user);
            if (child == PMM_NO_FRAME)
                return -ENOMEM;
            hal_pte_store(slot, hal_pte_make_table(child, user));
        } else if (hal_pte_is_leaf(level, e) && (err = split_leaf(w, slot, level, va)))
            return err;
        return level > 2 ? walk(w, hal_pte_pfn(level, hal_pte_load(slot)), 0, level - 1, va, last) : 0;

    case PT_MAP:
        if (can_map_huge(w, level, va, whole)) {
            pte_t leaf;
            err = hal_pte_make_leaf(level, w->pfn0 + ((va - w->va0) >> PAGE_SHIFT), w->flags, &leaf);
            MM_ASSERT(err == 0, "flags %#x not encodable at level %u", w->flags, level);
            bool bbm = hal_break_before_make(mm_geometry);
            if (hal_pte_present(e) && !hal_pte_is_leaf(level, e)) {
                gather_subtree(w->ctx, hal_pte_pfn(level, e), level - 1, user, w->g);
                if (bbm) { /* a leaf replaces a table: break, and drop the cached walks through it */
                    break_make(w->ctx, slot, leaf, true, va, last);
                    return 0;
                }
            } else if (hal_pte_present(e)) {
                if (bbm && leaf_change_breaks(level, e, leaf)) {
                    break_make(w->ctx, slot, leaf, false, va, last); /* another output address or type */
                    return 0;
                } else {
                    gather_flush(w->g, va, last);
                }
            }
            hal_pte_store(slot, leaf); /* one store: the old subtree is detached whole */
            return 0;
        }
        MM_ASSERT(hal_pte_present(e) && !hal_pte_is_leaf(level, e), "no table prepared at level %u for %#lx (entry %#llx)",
                  level, (unsigned long)va, (unsigned long long)e);
        return walk(w, hal_pte_pfn(level, e), 0, level - 1, va, last);

    case PT_UNMAP:
        if (!hal_pte_present(e))
            return 0;
        if (hal_pte_is_leaf(level, e)) {
            MM_ASSERT(whole && !w->user, "huge leaf %#llx at %#lx covered in part or in the user half",
                      (unsigned long long)e, (unsigned long)va);
            hal_pte_store(slot, 0);
            gather_flush(w->g, va, last);
            return 0;
        }
        walk(w, hal_pte_pfn(level, e), 0, level - 1, va, last);
        if (!table_pinned(level - 1, va) && (whole || table_empty(hal_pte_pfn(level, e)))) {
            hal_pte_store(slot, 0);
            pt_free_table(w->ctx, hal_pte_pfn(level, e), user, &w->g->frames);
            w->g->tables_freed = true;
        }
        return 0;

    case PT_PROTECT:
        if (!hal_pte_present(e))
            return 0;
        if (hal_pte_is_leaf(level, e)) {
            MM_ASSERT(whole, "huge leaf %#llx at %#lx covered in part", (unsigned long long)e, (unsigned long)va);
            pte_t n;
            err = hal_pte_set_flags(level, e, w->flags, &n);
            MM_ASSERT(err == 0, "flags %#x not encodable at level %u", w->flags, level);
            if (n != e && hal_break_before_make(mm_geometry) && type_changes(level, e, n)) {
                break_make(w->ctx, slot, n, false, va, last); /* another memory type: break first */
            } else if (n != e) {
                hal_pte_store(slot, n);
                gather_flush(w->g, va, last);
            }
            return 0;
        }
        return walk(w, hal_pte_pfn(level, e), 0, level - 1, va, last);

    case PT_PREPARE_COPY:
        if (!hal_pte_present(e) || hal_pte_is_leaf(level, e))
            return 0;
        if (!hal_pte_present(hal_pte_load(dslot))) {
            pfn_t child = pt_alloc_table(w->dst, user);
            if (child == PMM_NO_FRAME)
                return -ENOMEM;
            hal_pte_store(dslot, hal_pte_make_table(child, user));
        }
        return level > 2 ? walk(w, hal_pte_pfn(level, e), hal_pte_pfn(level, hal_pte_load(dslot)), level - 1, va, last) : 0;

    case PT_COPY:
        if (!hal_pte_present(e))
            return 0;
        MM_ASSERT(!hal_pte_is_leaf(level, e), "huge leaf %#llx in the user half at %#lx", (unsigned long long)e,
                  (unsigned long)va);
        return walk(w, hal_pte_pfn(level, e), hal_pte_pfn(level, hal_pte_load(dslot)), level - 1, va, last);

    case PT_PRUNE:
        if (!hal_pte_present(e) || hal_pte_is_leaf(level, e))
            return 0;
        if (level > 2)
            walk(w, hal_pte_pfn(level, e), 0, level - 1, va, last);
        if (!table_pinned(level - 1, va) && table_empty(hal_pte_pfn(level, e))) {
            hal_pte_store(slot, 0);
            pt_free_table(w->ctx, hal_pte_pfn(level, e), user, &w->g->frames);
            w->g->tables_freed = true;
        }
        return 0;
    }
    return 0;
}

/* The walker: every entry of `table` (a level-`level` table) that [va, last]
 * touches, each visited once with the part of the range it covers. */
static int walk(walk_t *w, pfn_t table, pfn_t dtable, unsigned level, ptr_t va, ptr_t last)
{
    pte_t *t = pfn_va(table);
    pte_t *dt = dtable ? pfn_va(dtable) : NULL;
    if (level == 1) {
        walk_ptes(w, t, dt, va, last);
        return 0;
    }
    ptr_t span_mask = (ptr_t)hal_level_span(level) - 1;
    for (;;) {
        ptr_t entry_last = va | span_mask;
        ptr_t seg_last = entry_last < last ? entry_last : last;
        unsigned idx = hal_level_index(mm_geometry, level, va);
        bool whole = (va & span_mask) == 0 && seg_last == entry_last;
        int err = walk_entry(w, &t[idx], dt ? &dt[idx] : NULL, level, va, seg_last, whole);
        if (err)
            return err;
        if (seg_last == last)
            return 0;
        va = seg_last + 1;
    }
}

static int walk_root(walk_t *w, ptr_t va, ptr_t last)
{
    return walk(w, w->ctx->pgd, w->dst ? w->dst->pgd : 0, mm_geometry->levels, va, last);
}

/* Undo of a failed prepare: free the tables it created (they are empty). */
static void prune(mm_context_t *ctx, ptr_t va, ptr_t last, pt_gather_t *g)
{
    walk_t w = { .kind = PT_PRUNE, .ctx = ctx, .g = g };
    walk_root(&w, va, last);
}

/* Splits, at every level, the huge leaf (if any) that straddles boundary b. */
static int split_edge(mm_context_t *ctx, ptr_t b)
{
    if (!hal_is_canonical(mm_geometry, b))
        return 0;
    walk_t w = { .ctx = ctx };
    pfn_t table = ctx->pgd;
    for (unsigned level = mm_geometry->levels; level > 1; level--) {
        pte_t *slot = &((pte_t *)pfn_va(table))[hal_level_index(mm_geometry, level, b)];
        pte_t e = hal_pte_load(slot);
        if (!hal_pte_present(e))
            return 0;
        if (hal_pte_is_leaf(level, e)) {
            if ((b & ((ptr_t)hal_level_span(level) - 1)) == 0)
                return 0;
            int err = split_leaf(&w, slot, level, b);
            if (err)
                return err;
            e = hal_pte_load(slot);
        }
        table = hal_pte_pfn(level, e);
    }
    return 0;
}

static int split_edges(mm_context_t *ctx, ptr_t va, ptr_t last)
{
    int err = split_edge(ctx, va);
    if (!err && last + 1 != 0)
        err = split_edge(ctx, last + 1);
    return err;
}

static int map_range(mm_context_t *ctx, ptr_t va, ptr_t last, pfn_t pfn, vm_flags flags, bool uncounted, pt_gather_t *g)
{
    walk_t w = { .kind = PT_PREPARE_MAP, .ctx = ctx, .va0 = va, .pfn0 = pfn, .flags = flags,
                 .user = hal_is_user_addr(mm_geometry, va), .uncounted = uncounted, .g = g };
    int err = walk_root(&w, va, last);
    if (err) {
        prune(ctx, va, last, g);
        return err;
    }
    w.kind = PT_MAP;
    return walk_root(&w, va, last);
}

void pt_walk_page(mm_context_t *ctx, ptr_t va, pt_cursor_t *c)
{
    pfn_t table = ctx->pgd;
    __atomic_fetch_add(&ctx->table_walks, 1, __ATOMIC_RELAXED); /* translations may run unlocked */
    for (unsigned level = mm_geometry->levels;; level--) {
        pte_t *slot = &((pte_t *)pfn_va(table))[hal_level_index(mm_geometry, level, va)];
        pte_t e = hal_pte_load(slot);
        if (level == 1 || !hal_pte_present(e) || hal_pte_is_leaf(level, e)) {
            *c = (pt_cursor_t){ slot, e, level };
            return;
        }
        table = hal_pte_pfn(level, e);
    }
}

int pt_set_page(mm_context_t *ctx, ptr_t va, pt_cursor_t *c, pfn_t pfn, vm_flags flags, pt_gather_t *g)
{
    MM_ASSERT(hal_is_user_addr(mm_geometry, va) && !(va & PAGE_MASK), "not a user page: %#lx", (unsigned long)va);
    MM_ASSERT(c->level == 1 || !hal_pte_present(c->entry), "huge leaf %#llx in the user half at %#lx",
              (unsigned long long)c->entry, (unsigned long)va);
    MM_ASSERT(g || (c->level == 1 && !hal_pte_present(c->entry)), "no gather for the page at %#lx (level %u)",
              (unsigned long)va, c->level);
    pte_t *slot = c->slot;
    for (unsigned level = c->level; level > 1; level--) {
        pfn_t child = pt_alloc_table(ctx, true);
        if (child == PMM_NO_FRAME) {
            if (level < c->level)
                prune(ctx, va, va + PAGE_MASK, g); /* the tables made on the way down */
            return -ENOMEM;
        }
        hal_pte_store(slot, hal_pte_make_table(child, true));
        slot = &((pte_t *)pfn_va(child))[hal_level_index(mm_geometry, level - 1, va)];
    }
    pte_t e, old = hal_pte_load(slot);
    int err = hal_pte_make_leaf(1, pfn, flags, &e);
    MM_ASSERT(err == 0, "flags %#x not encodable for pfn %#llx", flags, (unsigned long long)pfn);
    pmm_ref(pfn);
    if (hal_pte_present(old) && hal_break_before_make(mm_geometry) && leaf_change_breaks(1, old, e)) {
        break_make(ctx, slot, e, false, va, va + PAGE_MASK); /* another frame or type under a live mapping */
        *c = (pt_cursor_t){ slot, e, 1 };
        gather_unref(ctx, g, hal_pte_pfn(1, old));
        return 0;
    }
    hal_pte_store(slot, e);
    *c = (pt_cursor_t){ slot, e, 1 };
    if (!g)
        hal_tables_sync(); /* nothing replaced, no pt_finish: the new entry is usable once this returns */
    if (hal_pte_present(old)) {
        gather_flush(g, va, va + PAGE_MASK);
        gather_unref(ctx, g, hal_pte_pfn(1, old));
    }
    return 0;
}

int pt_map_page(mm_context_t *ctx, ptr_t va, pfn_t pfn, vm_flags flags, pt_gather_t *g)
{
    pt_cursor_t c;
    pt_walk_page(ctx, va, &c);
    return pt_set_page(ctx, va, &c, pfn, flags, g);
}

int pt_map(mm_context_t *ctx, ptr_t va, ptr_t last, pfn_t pfn, vm_flags flags, pt_gather_t *g)
{
    return map_range(ctx, va, last, pfn, flags, false, g);
}

int pt_map_uncounted(mm_context_t *ctx, ptr_t va, ptr_t last, pfn_t pfn, vm_flags flags, pt_gather_t *g)
{
    MM_ASSERT(hal_is_user_addr(mm_geometry, va), "not a user address: %#lx", (unsigned long)va);
    return map_range(ctx, va, last, pfn, flags, true, g);
}

static int unmap_range(mm_context_t *ctx, ptr_t va, ptr_t last, bool uncounted, pt_gather_t *g)
{
    int err = split_edges(ctx, va, last);
    if (err)
        return err;
    walk_t w = { .kind = PT_UNMAP, .ctx = ctx, .user = hal_is_user_addr(mm_geometry, va), .uncounted = uncounted,
                 .g = g };
    return walk_root(&w, va, last);
}

int pt_unmap(mm_context_t *ctx, ptr_t va, ptr_t last, pt_gather_t *g) { return unmap_range(ctx, va, last, false, g); }

int pt_unmap_uncounted(mm_context_t *ctx, ptr_t va, ptr_t last, pt_gather_t *g)
{
    return unmap_range(ctx, va, last, true, g);
}

int pt_protect(mm_context_t *ctx, ptr_t va, ptr_t last, vm_flags flags, bool guard_shared, pt_gather_t *g)
{
    int err = split_edges(ctx, va, last);
    if (err)
        return err;
    walk_t w = { .kind = PT_PROTECT, .ctx = ctx, .flags = flags, .guard = guard_shared, .g = g };
    return walk_root(&w, va, last);
}

int pt_copy_prepare(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last)
{
    walk_t w = { .kind = PT_PREPARE_COPY, .ctx = src, .dst = dst, .user = true };
    return walk_root(&w, va, last);
}

void pt_copy_apply(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last, bool cow, pt_gather_t *g)
{
    walk_t w = { .kind = PT_COPY, .ctx = src, .dst = dst, .cow = cow, .user = true, .g = g };
    walk_root(&w, va, last);
}

void pt_prune(mm_context_t *ctx, ptr_t va, ptr_t last)
{
    pt_gather_t g;
    pt_gather_init(&g);
    prune(ctx, va, last, &g);
    pt_finish(ctx, &g);
}

int pt_copy(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last, bool cow, pt_gather_t *g)
{
    int err = pt_copy_prepare(src, dst, va, last);
    if (err) {
        pt_prune(dst, va, last);
        return err;
    }
    pt_copy_apply(src, dst, va, last, cow, g);
    return 0;
}

int pt_lookup(mm_context_t *ctx, ptr_t va, pte_t *entry, unsigned *level)
{
    pt_cursor_t c;
    pt_walk_page(ctx, va, &c);
    if (!hal_pte_present(c.entry))
        return -ENOENT;
    *entry = c.entry;
    *level = c.level;
    return 0;
}

void pt_finish(mm_context_t *ctx, pt_gather_t *g)
{
    hal_tables_sync(); /* the operation's stores, before its invalidation and before its callers use them */
    if (g->tables_freed)
        tlb_flush(ctx, true, 0, 0);
    else if (g->flush_lo <= g->flush_hi)
        tlb_flush(ctx, false, g->flush_lo, g->flush_hi + 1);
    pmm_gather_release(&g->frames); /* leaves g->frames empty */
    g->flush_lo = (ptr_t)-1;
    g->flush_hi = 0;
    g->tables_freed = false;
}
