/* tests/model/model.c - the reference model (contexts, vmaps, pages, frames,
 * shared objects), the comparison of the real tables with it, and the
 * campaign driver model_run(). The operations are in ops.c. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "mm/internal.h"

/* ---- operation sources ---- */

void model_source_seed(model_source_t *s, uint64_t seed) { *s = (model_source_t){ .state = seed }; }

void model_source_bytes(model_source_t *s, const uint8_t *data, size_t len)
{
    *s = (model_source_t){ .data = data, .len = len };
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A number in [0, n): one byte of fuzzer input when n <= 256, else four. */
uint32_t pick(run_t *r, uint32_t n)
{
    model_source_t *s = r->src;
    if (n <= 1)
        return 0;
    if (!s->data)
        return (uint32_t)(splitmix64(&s->state) % n);
    uint32_t v = 0;
    for (unsigned i = 0; i < (n <= 256 ? 1u : 4u); i++) {
        if (s->pos >= s->len) {
            s->done = true;
            return 0;
        }
        v = v << 8 | s->data[s->pos++];
    }
    return v % n;
}

/* ---- violations ---- */

void violation(run_t *r, const char *fmt, ...)
{
    model_result_t *res = r->res;
    if (res->violations++ == 0) {
        res->fail_step = r->step;
        int n = snprintf(res->first, sizeof res->first, "step %zu (%s): ", r->step, r->op ? r->op : "-");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->first + n, sizeof res->first - (size_t)n, fmt, ap);
        va_end(ap);
        if (r->cfg->abort_on_violation) {
            fprintf(stderr, "model violation: %s\n", res->first);
            abort();
        }
    }
    r->stop = true;
}

/* ---- frames and objects ---- */

int32_t frame_new(run_t *r, uint64_t value, pfn_t pfn)
{
    for (size_t i = 1; i < r->nframes; i++)
        if (!r->frames[i].live) {
            r->frames[i] = (mframe_t){ .live = true, .value = value, .pfn = PMM_NO_FRAME };
            if (pfn != PMM_NO_FRAME) {
                r->frames[i].pfn = pfn;
                r->rev[pfn - r->base_pfn] = (int32_t)i;
            }
            return (int32_t)i;
        }
    if (r->nframes == r->capframes) {
        r->capframes = r->capframes ? r->capframes * 2 : 1024;
        r->frames = realloc(r->frames, r->capframes * sizeof *r->frames);
        if (!r->frames)
            abort();
    }
    r->frames[r->nframes] = (mframe_t){ .live = true, .value = value, .pfn = pfn };
    if (pfn != PMM_NO_FRAME)
        r->rev[pfn - r->base_pfn] = (int32_t)r->nframes;
    return (int32_t)r->nframes++;
}

static void frame_release(run_t *r, int32_t f)
{
    mframe_t *m = &r->frames[f];
    if (--m->holders)
        return;
    if (m->pfn != PMM_NO_FRAME && r->rev[m->pfn - r->base_pfn] == f)
        r->rev[m->pfn - r->base_pfn] = -1;
    m->live = false;
}

void page_clear(run_t *r, mpage_t *p)
{
    if (p->frame >= 0)
        frame_release(r, p->frame);
    p->frame = -1;
    p->pte = VM_NONE;
}

void page_map(run_t *r, mpage_t *p, int32_t frame, vm_flags pte)
{
    r->frames[frame].holders++;
    page_clear(r, p);
    p->frame = frame;
    p->pte = pte;
}

int32_t obj_new(run_t *r, size_t npages)
{
    size_t i = 0;
    while (i < r->nobjs && r->objs[i].live)
        i++;
    if (i == r->nobjs) {
        if (r->nobjs == r->capobjs) {
            r->capobjs = r->capobjs ? r->capobjs * 2 : 64;
            r->objs = realloc(r->objs, r->capobjs * sizeof *r->objs);
            if (!r->objs)
                abort();
        }
        r->nobjs++;
    }
    mobj_t *o = &r->objs[i];
    *o = (mobj_t){ .live = true, .refs = 1, .npages = npages, .frames = malloc(npages * sizeof(int32_t)) };
    if (!o->frames)
        abort();
    for (size_t k = 0; k < npages; k++)
        o->frames[k] = -1;
    return (int32_t)i;
}

void obj_put(run_t *r, int32_t oi)
{
    mobj_t *o = &r->objs[oi];
    if (--o->refs)
        return;
    for (size_t k = 0; k < o->npages; k++)
        if (o->frames[k] >= 0)
            frame_release(r, o->frames[k]);
    free(o->frames);
    o->live = false;
}

/* ---- vmaps ---- */

mvmap_t *vmap_find(mctx_t *c, ptr_t va)
{
    for (size_t i = 0; i < c->nv; i++)
        if (va >= c->v[i].va && va - c->v[i].va < c->v[i].npages * PAGE_SIZE)
            return &c->v[i];
    return NULL;
}

mvmap_t *vmap_insert(run_t *r, mctx_t *c, ptr_t va, size_t npages)
{
    (void)r;
    if (c->nv == MAX_VMAPS)
        abort(); /* callers check the cap first */
    size_t i = 0;
    while (i < c->nv && c->v[i].va < va)
        i++;
    memmove(&c->v[i + 1], &c->v[i], (c->nv - i) * sizeof c->v[0]);
    c->nv++;
    mvmap_t *v = &c->v[i];
    *v = (mvmap_t){ .va = va, .npages = npages, .type = VMAP_TYPE_PRIVATE, .handler = H_NONE, .obj = -1,
                    .pages = malloc(npages * sizeof(mpage_t)) };
    if (!v->pages)
        abort();
    for (size_t k = 0; k < npages; k++)
        v->pages[k] = (mpage_t){ -1, VM_NONE };
    return v;
}

void vmap_remove(run_t *r, mctx_t *c, mvmap_t *v)
{
    for (size_t k = 0; k < v->npages; k++)
        page_clear(r, &v->pages[k]);
    if (v->obj >= 0)
        obj_put(r, v->obj);
    free(v->pages);
    size_t i = (size_t)(v - c->v);
    memmove(&c->v[i], &c->v[i + 1], (c->nv - i - 1) * sizeof c->v[0]);
    c->nv--;
}

void vmap_split_at(run_t *r, mctx_t *c, mvmap_t *v, size_t k)
{
    mvmap_t old = *v;
    v->npages = k; /* the first part keeps its page array (only k entries used from now on) */
    mvmap_t *second = vmap_insert(r, c, old.va + k * PAGE_SIZE, old.npages - k);
    memcpy(second->pages, old.pages + k, (old.npages - k) * sizeof(mpage_t));
    second->flags = old.flags;
    second->type = old.type;
    second->handler = old.handler;
    second->obj = old.obj;
    second->objoff = old.objoff + k;
    if (old.obj >= 0)
        r->objs[old.obj].refs++;
}

size_t ctx_pages(const mctx_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nv; i++)
        n += c->v[i].npages;
    return n;
}

/* The free-range search of mm_get_free_vaddr_locked, restated: the lowest
 * gap of n pages at or above max(base, MM_USER_MIN), else from MM_USER_MIN. */
static bool gap_from(const mctx_t *c, ptr_t from, ptr_t size, ptr_t *at)
{
    ptr_t end = hal_user_end(mm_geometry), cand = from;
    for (size_t i = 0; i < c->nv; i++) {
        ptr_t vs = c->v[i].va, ve = vs + c->v[i].npages * PAGE_SIZE;
        if (ve <= cand)
            continue;
        if (vs >= cand && vs - cand >= size)
            break;
        cand = ve > cand ? ve : cand;
    }
    if (cand > end || end - cand < size)
        return false;
    *at = cand;
    return true;
}

bool find_free(const mctx_t *c, size_t n, ptr_t base, ptr_t *at)
{
    ptr_t size = (ptr_t)n << PAGE_SHIFT;
    return gap_from(c, base < MM_USER_MIN ? MM_USER_MIN : base, size, at) || gap_from(c, MM_USER_MIN, size, at);
}

void touch(run_t *r, int c, ptr_t va, size_t n)
{
    if (r->ntouched < ARRAY_SIZE(r->touched))
        r->touched[r->ntouched++] = (typeof(r->touched[0])){ c, va, n };
    else
        r->touched_all = true;
}

/* ---- comparisons ---- */

/* The real frame behind model frame f is pfn: bind it the first time, and
 * no other live model frame may be bound to it. */
static void observe_frame(run_t *r, int32_t f, pfn_t pfn, ptr_t va)
{
    mframe_t *m = &r->frames[f];
    EXPECT(r, pfn >= r->base_pfn && pfn < r->end_pfn, "va %#lx maps pfn %#llx outside RAM", (unsigned long)va,
           (unsigned long long)pfn);
    if (r->stop)
        return;
    if (m->pfn == PMM_NO_FRAME) {
        int32_t other = r->rev[pfn - r->base_pfn];
        EXPECT(r, other < 0 || !r->frames[other].live,
               "va %#lx maps pfn %#llx, which already holds another page (model frames %d and %d)", (unsigned long)va,
               (unsigned long long)pfn, other, f);
        m->pfn = pfn;
        r->rev[pfn - r->base_pfn] = f;
    } else {
        EXPECT(r, m->pfn == pfn, "va %#lx maps pfn %#llx, expected pfn %#llx (sharing broken)", (unsigned long)va,
               (unsigned long long)pfn, (unsigned long long)m->pfn);
    }
    EXPECT(r, pmm_refcount(pfn) == m->holders, "va %#lx pfn %#llx: refcount %u, expected %u", (unsigned long)va,
           (unsigned long long)pfn, pmm_refcount(pfn), m->holders);
}

static void check_user_page(run_t *r, mctx_t *c, ptr_t va)
{
    mvmap_t *v = vmap_find(c, va);
    mpage_t *p = v ? &v->pages[(va - v->va) >> PAGE_SHIFT] : NULL;
    uint64_t pa = 0;
    vm_flags f = VM_NONE;
    int err = mm_do_translate(c->real, va, &pa, &f);
    if (!p || p->frame < 0) {
        EXPECT(r, err == -ENOENT, "va %#lx: translate gives %d (pa %#llx flags %#x), model says not mapped",
               (unsigned long)va, err, (unsigned long long)pa, f);
        EXPECT(r, softmmu_walk(c->real, va, HAL_ACCESS_READ, true, NULL) == SOFTMMU_NOT_PRESENT,
               "va %#lx: the software MMU finds a page the model does not have", (unsigned long)va);
        return;
    }
    EXPECT(r, err == 0, "va %#lx: translate gives %d, model says mapped", (unsigned long)va, err);
    if (r->stop)
        return;
    const vm_flags rights = VM_READ | VM_WRITE | VM_EXEC | VM_USER;
    EXPECT(r, (f & rights) == p->pte, "va %#lx: entry flags %#x, model expects %#x", (unsigned long)va, f & rights,
           p->pte);
    static const hal_access_t acc[3] = { HAL_ACCESS_READ, HAL_ACCESS_WRITE, HAL_ACCESS_EXEC };
    static const vm_flags need[3] = { VM_READ, VM_WRITE, VM_EXEC };
    for (int i = 0; i < 3; i++) {
        softmmu_result_t s = softmmu_walk(c->real, va, acc[i], true, NULL);
        bool ok = (p->pte & need[i]) && (p->pte & VM_READ) && (p->pte & VM_USER);
        EXPECT(r, (s == SOFTMMU_OK) == ok, "va %#lx: user access %d gives %d, model expects %s", (unsigned long)va,
               acc[i], s, ok ? "ok" : "denied");
    }
    observe_frame(r, p->frame, (pfn_t)(pa >> PAGE_SHIFT), va);
    if (r->stop)
        return;
    const uint64_t *w = mm_phys_to_virt(pa & ~(uint64_t)PAGE_MASK);
    uint64_t v0 = r->frames[p->frame].value;
    uint64_t v1 = v0 ? v0 ^ VALUE_SALT : 0;
    EXPECT(r, w[0] == v0 && w[PAGE_SIZE / 8 - 1] == v1, "va %#lx: bytes %#llx..%#llx, model expects %#llx..%#llx",
           (unsigned long)va, (unsigned long long)w[0], (unsigned long long)w[PAGE_SIZE / 8 - 1],
           (unsigned long long)v0, (unsigned long long)v1);
}

static void check_kernel_page(run_t *r, size_t i)
{
    ptr_t va = r->karea + i * PAGE_SIZE;
    kpage_t *k = &r->kpages[i];
    uint64_t pa = 0;
    vm_flags f = VM_NONE;
    int err = mm_do_translate(mm_kernel_context(), va, &pa, &f);
    if (k->pfn == PMM_NO_FRAME) {
        EXPECT(r, err == -ENOENT, "kernel va %#lx: translate gives %d, model says not mapped", (unsigned long)va, err);
        return;
    }
    const vm_flags rights = VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_GLOBAL;
    EXPECT(r, err == 0 && pa == (uint64_t)k->pfn << PAGE_SHIFT && (f & rights) == k->flags,
           "kernel va %#lx: translate %d pa %#llx flags %#x, model expects pa %#llx flags %#x", (unsigned long)va, err,
           (unsigned long long)pa, f & rights, (unsigned long long)k->pfn << PAGE_SHIFT, k->flags);
    /* any context sees the shared kernel half */
    for (int c = 0; c < MAX_CTX && !r->stop; c++)
        if (r->ctx[c].live) {
            uint64_t cpa = 0;
            EXPECT(r, softmmu_walk(r->ctx[c].real, va, HAL_ACCESS_READ, false, &cpa) == SOFTMMU_OK && cpa == pa,
                   "kernel va %#lx not visible the same in context %d", (unsigned long)va, c);
            break;
        }
}

static mhandler_t real_handler(const vmap_t *v)
{
    if (!v->on_fault)
        return H_NONE;
    return v->on_fault == cow_fault_handler ? H_COW : H_SHM;
}

/* The context's real vmaps equal the model's, one for one. */
static void check_vmaps(run_t *r, int ci)
{
    mctx_t *c = &r->ctx[ci];
    vmap_t *v = mm_vmap_first_from(c->real, 0);
    for (size_t i = 0; i < c->nv && !r->stop; i++, v = v ? mm_vmap_next(v) : NULL) {
        mvmap_t *m = &c->v[i];
        EXPECT(r, v && v->vaddr == m->va && v->npages == m->npages,
               "context %d vmap %zu: real [%#lx, +%zu), model [%#lx, +%zu)", ci, i, v ? (unsigned long)v->vaddr : 0ul,
               v ? v->npages : 0, (unsigned long)m->va, m->npages);
        if (r->stop)
            return;
        EXPECT(r, v->vmflags == m->flags && v->type == m->type && real_handler(v) == m->handler,
               "context %d vmap %#lx: flags %#x type %d handler %d, model %#x %d %d", ci, (unsigned long)m->va,
               v->vmflags, v->type, real_handler(v), m->flags, m->type, m->handler);
        if (m->obj < 0) {
            EXPECT(r, !v->object, "context %d vmap %#lx has an object", ci, (unsigned long)m->va);
            continue;
        }
        mobj_t *o = &r->objs[m->obj];
        if (!o->real)
            o->real = v->object;
        EXPECT(r, v->object == o->real && v->object_pgoff == m->objoff && v->object->refs == o->refs,
               "context %d vmap %#lx: object %p+%zu refs %u, model %p+%zu refs %u", ci, (unsigned long)m->va,
               (void *)v->object, v->object_pgoff, v->object ? v->object->refs : 0, (const void *)o->real, m->objoff,
               o->refs);
    }
    EXPECT(r, !v && mm_vmap_count(c->real) == c->nv, "context %d: %zu real vmaps, model has %zu", ci,
           mm_vmap_count(c->real), c->nv);
}

static void check_range(run_t *r, int ci, ptr_t va, size_t n)
{
    for (size_t i = 0; i < n && !r->stop; i++) {
        ptr_t p = va + i * PAGE_SIZE;
        if (p < va || !hal_is_user_addr(mm_geometry, p))
            break;
        check_user_page(r, &r->ctx[ci], p);
    }
}

static void check_ctx(run_t *r, int ci)
{
    mctx_t *c = &r->ctx[ci];
    check_vmaps(r, ci);
    for (size_t i = 0; i < c->nv && !r->stop; i++)
        check_range(r, ci, c->v[i].va, c->v[i].npages);
}

void check_step(run_t *r)
{
    if (!r->stop)
        EXPECT(r, softmmu_stale_entries() == 0, "%zu stale TLB entries (a missed invalidation)", softmmu_stale_entries());
    if (r->touched_all) {
        for (int c = 0; c < MAX_CTX && !r->stop; c++)
            if (r->ctx[c].live)
                check_ctx(r, c);
    } else {
        for (size_t i = 0; i < r->ntouched && !r->stop; i++) {
            int c = r->touched[i].c;
            if (!r->ctx[c].live)
                continue;
            check_vmaps(r, c);
            /* one page either side too: nothing may leak past the range */
            ptr_t va = r->touched[i].va, lo = va >= PAGE_SIZE ? va - PAGE_SIZE : va;
            check_range(r, c, lo, r->touched[i].n + 1 + (va != lo));
        }
    }
    for (size_t i = 0; r->touched_kernel && i < KAREA_PAGES && !r->stop; i++)
        check_kernel_page(r, i);
    r->ntouched = 0;
    r->touched_all = r->touched_kernel = false;
}

void check_full(run_t *r)
{
    size_t vmaps = 0, live = 0;
    for (int c = 0; c < MAX_CTX && !r->stop; c++)
        if (r->ctx[c].live) {
            check_ctx(r, c);
            vmaps += r->ctx[c].nv;
            live++;
        }
    for (size_t i = 0; i < KAREA_PAGES && !r->stop; i++)
        check_kernel_page(r, i);
    if (r->stop)
        return;
    mm_check_report_t rep;
    int err = mm_check_invariants(&rep);
    r->res->checks += rep.checks;
    EXPECT(r, err == 0, "invariant checker: %d, %zu violations of %zu checks, first: %s", err, rep.violations,
           rep.checks, rep.first);
    mm_stats_t s;
    mm_get_stats(&s);
    EXPECT(r, s.contexts == live + 1 && s.vmaps == vmaps, "stats: %zu contexts %zu vmaps, model %zu %zu", s.contexts,
           s.vmaps, live + 1, vmaps);
}

/* ---- the campaign ---- */

static void setup_arenas(run_t *r)
{
    ptr_t end = hal_user_end(mm_geometry), span = (ptr_t)ARENA_PAGES * PAGE_SIZE;
    r->arena[0] = MM_USER_MIN;                           /* the lowest user pages */
    r->arena[1] = ((ptr_t)1 << 30) - span / 2;           /* across a 1 GiB boundary */
    r->arena[2] = end - span;                            /* the top of the user half */
    r->arena[3] = ((ptr_t)1 << 39) - span / 2;           /* across a 512 GiB boundary */
    if (r->arena[3] + span > end)
        r->arena[3] = ((ptr_t)1 << 21) - span / 2;       /* sv39: across a 2 MiB boundary instead */
    r->karea = hal_kernel_start(mm_geometry) + ((ptr_t)96 << 30);
    for (size_t i = 0; i < KAREA_PAGES; i++)
        r->kpages[i] = (kpage_t){ PMM_NO_FRAME, VM_NONE };
}

static void teardown(run_t *r)
{
    for (int c = 0; c < MAX_CTX; c++) {
        mctx_t *m = &r->ctx[c];
        if (!m->live)
            continue;
        mm_destroy_context(m->real);
        while (m->nv)
            vmap_remove(r, m, &m->v[m->nv - 1]);
        m->live = false;
    }
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    int err = mm_do_unmap(k, r->karea, KAREA_PAGES);
    spinlock_release(&k->mm_lock);
    EXPECT(r, err == 0, "unmapping the kernel test area: %d", err);
    for (size_t i = 0; i < KAREA_PAGES; i++)
        r->kpages[i] = (kpage_t){ PMM_NO_FRAME, VM_NONE };
}

static size_t absdiff(size_t a, size_t b) { return a > b ? a - b : b - a; }

int model_run(const model_config_t *cfg, model_source_t *src, model_result_t *res)
{
    *res = (model_result_t){ 0 };
    if (kmm_host_init(cfg->ram_mib, cfg->geometry) != 0)
        return -2;
    run_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->cfg = cfg;
    r->src = src;
    r->res = res;
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    r->base_pfn = ps.base_pfn;
    r->end_pfn = ps.end_pfn;
    r->rev = malloc((ps.end_pfn - ps.base_pfn) * sizeof(int32_t));
    if (!r->rev)
        abort();
    memset(r->rev, 0xff, (ps.end_pfn - ps.base_pfn) * sizeof(int32_t));
    frame_new(r, 0, mm_zero_page()); /* frame 0: the zero page, its permanent reference */
    r->frames[0].holders = 1;
    setup_arenas(r);

    mm_stats_t s0;
    mm_get_stats(&s0);
    size_t free0 = pmm_free_frames();

    while (!r->stop && (cfg->ops == 0 || res->ops < cfg->ops) && !src->done) {
        r->step = res->ops;
        run_one_op(r);
        res->ops++;
        if (!r->stop)
            check_step(r);
        if (!r->stop && cfg->full_every && res->ops % cfg->full_every == 0)
            check_full(r);
    }
    r->op = "final check";
    if (!r->stop)
        check_full(r);
    bool clean = !r->stop;
    r->op = "teardown";
    teardown(r);
    if (clean)
        check_full(r);
    mm_stats_t s1;
    mm_get_stats(&s1);
    res->leaks = absdiff(pmm_free_frames(), free0) + absdiff(s1.table_pages, s0.table_pages) +
                 absdiff(s1.vmaps, s0.vmaps) + absdiff(s1.contexts, s0.contexts) +
                 absdiff(s1.object_pages, s0.object_pages);
    res->checks += 5;
    if (res->leaks && !res->violations)
        snprintf(res->first, sizeof res->first,
                 "after teardown: free frames %zu (start %zu), table pages %zu (%zu), vmaps %zu (%zu), contexts %zu "
                 "(%zu), object pages %zu (%zu)",
                 pmm_free_frames(), free0, s1.table_pages, s0.table_pages, s1.vmaps, s0.vmaps, s1.contexts, s0.contexts,
                 s1.object_pages, s0.object_pages);
    for (size_t i = 0; i < r->nobjs; i++)
        if (r->objs[i].live)
            free(r->objs[i].frames);
    free(r->objs);
    free(r->frames);
    free(r->rev);
    free(r);
    pmm_fail_after(0);
    return res->violations || res->leaks ? -1 : 0;
}
