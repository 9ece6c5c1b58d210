/* mm/check.c - the invariant checker (see check.h). */
#include "mm/check.h"

#include <stdarg.h>

#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/shm.h"

typedef struct checker {
    mm_check_report_t *r;
    uint32_t *count;   /* user mappings + known holders, per frame of the span */
    pfn_t base, end;
    size_t tables;
    size_t nodes; /* index nodes of the shared objects */
    uint32_t mark;
    bool first; /* the first window: make the checks that do not depend on it */
} checker_t;

static void fmt_hex(char **p, char *end, uint64_t v)
{
    char tmp[17];
    int n = 0;
    do
        tmp[n++] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) && n < 16);
    if (*p + 2 < end)
        *(*p)++ = '0', *(*p)++ = 'x';
    while (n && *p < end)
        *(*p)++ = tmp[--n];
}

/* Records a violation: what, and up to two values. */
static void violation(checker_t *c, const char *what, uint64_t a, uint64_t b)
{
    if (c->r->violations++ == 0) {
        char *p = c->r->first, *end = c->r->first + sizeof(c->r->first) - 1;
        while (*what && p < end)
            *p++ = *what++;
        if (p < end)
            *p++ = ' ';
        fmt_hex(&p, end, a);
        if (p < end)
            *p++ = ' ';
        fmt_hex(&p, end, b);
        *p = 0;
    }
}

#define CHECK(c, cond, what, a, b)                                                                                     \
    do {                                                                                                               \
        (c)->r->checks++;                                                                                              \
        if (!(cond))                                                                                                   \
            violation((c), (what), (uint64_t)(a), (uint64_t)(b));                                                      \
    } while (0)
/* A check that does not depend on the counting window: made once. */
#define CHECK_ONCE(c, cond, what, a, b)                                                                                \
    do {                                                                                                               \
        if ((c)->first)                                                                                                \
            CHECK(c, cond, what, a, b);                                                                                \
    } while (0)

static void hold(checker_t *c, pfn_t pfn)
{
    if (pfn >= c->base && pfn < c->end)
        c->count[pfn - c->base]++;
}

static void check_leaf(checker_t *c, mm_context_t *ctx, ptr_t va, pte_t e)
{
    pfn_t pfn = hal_pte_pfn(1, e);
    vm_flags f = hal_pte_flags(1, e);
    vmap_t *r = vmap_obtain(ctx, va, NULL);
    if (!IS_ERR(r) && r->reserved) {
        /* the kernel's supervisor pages: no reference, any frame, never user */
        CHECK_ONCE(c, !(f & VM_USER), "reserved vmap's page allows user access: va, flags", va, f);
        return;
    }
    CHECK_ONCE(c, pmm_is_allocated(pfn), "user page maps a frame not allocated: va, pfn", va, pfn);
    hold(c, pfn);
    vmap_t *v = vmap_obtain(ctx, va, NULL);
    CHECK_ONCE(c, !IS_ERR(v), "present user page outside every vmap: va, pfn", va, pfn);
    if (IS_ERR(v))
        return;
    CHECK_ONCE(c, (f & VM_USER) && !(f & ~(v->vmflags | VM_READ)), "page allows more than its vmap: va, flags", va, f);
    if (vmap_is_cow(v) && (f & VM_WRITE))
        CHECK_ONCE(c, pfn != mm_zero_page() && pmm_refcount(pfn) == 1, "writable copy-on-write page is shared: va, refcount",
              va, pmm_refcount(pfn));
    if (v->object) {
        size_t idx = v->object_pgoff + ((va - v->vaddr) >> PAGE_SHIFT);
        CHECK_ONCE(c, shm_lookup(v->object, idx) == pfn, "shared page is not the object's frame: va, pfn", va, pfn);
    }
}

/* Walks one table: counts it, checks its reference, recurses; user leaves
 * are checked (kernel ones are not refcounted). */
static void walk(checker_t *c, mm_context_t *ctx, pfn_t table, unsigned level, ptr_t va, bool user)
{
    c->tables++;
    CHECK_ONCE(c, pmm_refcount(table) == 1, "table page without exactly one reference: pfn, refcount", table,
          pmm_refcount(table));
    const pte_t *t = pfn_va(table);
    ptr_t span = (ptr_t)hal_level_span(level);
    for (unsigned i = 0; i < HAL_ENTRIES_PER_TABLE; i++) {
        pte_t e = hal_pte_load(&t[i]);
        if (!hal_pte_present(e))
            continue;
        ptr_t eva = va + i * span;
        if (hal_pte_is_leaf(level, e)) {
            if (user) {
                CHECK_ONCE(c, level == 1, "huge leaf in the user half: va, level", eva, level);
                if (level == 1)
                    check_leaf(c, ctx, eva, e);
            }
            continue;
        }
        walk(c, ctx, hal_pte_pfn(level, e), level - 1, eva, user);
    }
}

/* The root's user entries (or kernel entries) of a context. */
static void walk_root_half(checker_t *c, mm_context_t *ctx, bool user)
{
    unsigned top = mm_geometry->levels, split = hal_level_index(mm_geometry, top, hal_kernel_start(mm_geometry));
    const pte_t *root = pfn_va(ctx->pgd);
    ptr_t span = (ptr_t)hal_level_span(top);
    for (unsigned i = user ? 0 : split; i < (user ? split : hal_level_entries(mm_geometry, top)); i++) {
        pte_t e = hal_pte_load(&root[i]);
        if (!hal_pte_present(e))
            continue;
        ptr_t va = (ptr_t)i * span;
        if (!user)
            va |= hal_kernel_start(mm_geometry);
        if (hal_pte_is_leaf(top, e)) {
            CHECK_ONCE(c, !user, "leaf in a root's user half: va, entry", va, e);
            continue;
        }
        walk(c, ctx, hal_pte_pfn(top, e), top - 1, va, user);
    }
}

/* A context's root shares the kernel context's kernel-half entries, or,
 * with a separate kernel root, has none. */
static void check_kernel_half(checker_t *c, mm_context_t *ctx)
{
    unsigned top = mm_geometry->levels, split = hal_level_index(mm_geometry, top, hal_kernel_start(mm_geometry));
    const pte_t *root = pfn_va(ctx->pgd), *kroot = pfn_va(mm_kernel_context()->pgd);
    bool separate = hal_separate_kernel_root(mm_geometry);
    for (unsigned i = split; i < hal_level_entries(mm_geometry, top); i++) {
        pte_t e = hal_pte_load(&root[i]), want = separate ? 0 : hal_pte_load(&kroot[i]);
        CHECK_ONCE(c, e == want, "root's kernel-half entry differs from the kernel context's (or is not empty with a "
                   "separate kernel root): index, entry", i, e);
    }
}

/* What one object's tree holds, seen by shm_for_each_frame. */
typedef struct object_walk {
    checker_t *c;
    size_t pages, nodes;
} object_walk_t;

static void hold_object_frame(void *arg, pfn_t pfn, unsigned level, size_t nentries)
{
    object_walk_t *w = arg;
    checker_t *c = w->c;
    CHECK_ONCE(c, pmm_is_allocated(pfn), "shared object holds a frame not allocated: pfn, level", pfn, level);
    hold(c, pfn);
    if (level == 0) {
        w->pages++;
        return;
    }
    w->nodes++;
    CHECK_ONCE(c, nentries > 0, "empty node in a shared object's index: pfn, level", pfn, level);
}

/* Counts the frames and index nodes of the context's shared objects (each
 * object once per window), checks their counters, and adds the nodes to
 * c->nodes. */
static void hold_objects(checker_t *c, mm_context_t *ctx)
{
    for (vmap_t *v = mm_vmap_first_from(ctx, 0); v; v = mm_vmap_next(v)) {
        shm_object_t *o = v->object;
        if (!o || o->check_mark == c->mark)
            continue;
        o->check_mark = c->mark;
        object_walk_t w = { .c = c };
        shm_for_each_frame(o, hold_object_frame, &w);
        CHECK_ONCE(c, w.pages == o->resident, "shared object's pages found vs counted", w.pages, o->resident);
        CHECK_ONCE(c, w.nodes == o->nodes, "shared object's index nodes found vs counted", w.nodes, o->nodes);
        c->nodes += w.nodes;
    }
}

/* The context's vmap tree: its own invariants (vm_tree_check), each vmap's
 * range in it equal to [vaddr, +npages) and owned by ctx. Adds the tree's
 * vmaps and nodes to the totals the caller compares with the caches. */
static void check_vmaps(checker_t *c, mm_context_t *ctx, size_t *vmaps, size_t *nodes)
{
    int err = vm_tree_check(&ctx->vmaps);
    CHECK(c, err == 0, "vmap tree broken: context's vmaps, vm_tree_check code", ctx->vmaps.count, -err);
    if (err)
        return; /* the walk below could loop */
    for (vmap_t *v = mm_vmap_first_from(ctx, 0); v; v = mm_vmap_next(v))
        CHECK(c, v->mmctx == ctx && v->npages > 0 && v->node.start == v->vaddr &&
                     v->node.end == v->vaddr + v->npages * PAGE_SIZE,
              "vmap's tree range differs from its pages: vaddr, tree end", v->vaddr, v->node.end);
    *vmaps += ctx->vmaps.count;
    *nodes += ctx->vmaps.nodes;
}

/* One pass over every context, counting the holders of the frames in
 * [c->base, c->end); the checks that do not depend on the window are made in
 * the first pass only (c->first). */
static void check_window(checker_t *c)
{
    c->tables = 0;
    c->nodes = 0;
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    c->tables++; /* the kernel root */
    walk_root_half(c, k, false);
    spinlock_release(&k->mm_lock);
    hold(c, mm_zero_page());

    c->mark++;
    size_t vmaps = 0, nodes = 0;
    for (mm_context_t *ctx = mm_context_list(); ctx; ctx = ctx->next) {
        spinlock_acquire(&ctx->mm_lock);
        if (c->first)
            check_vmaps(c, ctx, &vmaps, &nodes);
        c->tables++;
        check_kernel_half(c, ctx);
        walk_root_half(c, ctx, true);
        hold_objects(c, ctx);
        spinlock_release(&ctx->mm_lock);
    }
    if (c->first) {
        CHECK(c, vmaps == vmap_live_count(), "vmaps in the trees vs allocated", vmaps, vmap_live_count());
        CHECK(c, nodes == vmap_tree_nodes_live(), "vmap tree nodes in the trees vs allocated", nodes,
              vmap_tree_nodes_live());
    }
    for (pfn_t p = c->base; p < c->end; p++)
        if (c->count[p - c->base])
            CHECK(c, pmm_refcount(p) == c->count[p - c->base], "frame refcount differs from its holders: pfn, refcount", p,
                  pmm_refcount(p));
}

int mm_check_invariants(mm_check_report_t *r)
{
    static uint32_t mark;
    *r = (mm_check_report_t){ 0 };
    /* The scratch counts cover a window of at most one maximal block of
     * frames; larger memories take several passes, and so does each region
     * added after start-up (pmm_span 1..). */
    size_t span = 0;
    pfn_t b, e;
    for (size_t i = 0; pmm_span(i, &b, &e); i++)
        span = MAX(span, (size_t)(e - b));
    unsigned order = 0;
    while (((size_t)PAGE_SIZE << order) < span * sizeof(uint32_t) && order < PMM_MAX_ORDER)
        order++;
    pfn_t scratch = pmm_alloc_order(order);
    if (scratch == PMM_NO_FRAME)
        return -ENOMEM;
    size_t window = ((size_t)PAGE_SIZE << order) / sizeof(uint32_t);
    checker_t c = { .r = r, .count = pfn_va(scratch), .mark = mark };
    c.first = true;
    for (size_t i = 0; pmm_span(i, &b, &e); i++) {
        for (pfn_t w = b; w < e; w += window) {
            c.base = w;
            c.end = MIN(e, w + window);
            __builtin_memset(c.count, 0, (c.end - c.base) * sizeof(uint32_t));
            check_window(&c);
            c.first = false;
        }
    }
    mark = c.mark;
    CHECK(&c, c.tables == pt_table_pages_total(), "table pages found vs counted", c.tables, pt_table_pages_total());
    CHECK(&c, c.nodes == shm_node_pages_total(), "shared objects' index nodes found vs counted", c.nodes,
          shm_node_pages_total());
    pmm_free_order(scratch, order);
    return r->violations ? -EINVAL : 0;
}
