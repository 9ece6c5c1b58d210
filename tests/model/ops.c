/* tests/model/ops.c - the operations of the random tester. Each one decodes
 * its arguments from the source, predicts the result on the model (the
 * return code and the new state), runs the real call, compares the return
 * codes, and applies the prediction when the call succeeded. An -ENOMEM the
 * model did not predict is accepted only when an injected failure was armed
 * (or memory is really short): the model then stays as it was, and the
 * step's checks prove that the real call changed nothing either. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define LOW_MEMORY 96 /* free frames under which a natural -ENOMEM is accepted */

static const vm_flags user_flag_choices[] = { VM_READ, VM_RW, VM_RW, VM_RX, VM_RWX, VM_RW, VM_WRITE, VM_NONE };

#define LOG(r, ...)                                                                                                    \
    do {                                                                                                               \
        if ((r)->cfg->verbose)                                                                                         \
            fprintf(stderr, __VA_ARGS__);                                                                              \
    } while (0)

/* ---- arguments ---- */

static int pick_ctx(run_t *r)
{
    int live[MAX_CTX], n = 0;
    for (int c = 0; c < MAX_CTX; c++)
        if (r->ctx[c].live)
            live[n++] = c;
    return n ? live[pick(r, (uint32_t)n)] : -1;
}

static int free_slot(run_t *r)
{
    for (int c = 0; c < MAX_CTX; c++)
        if (!r->ctx[c].live)
            return c;
    return -1;
}

static ptr_t rand_va(run_t *r) { return r->arena[pick(r, NARENAS)] + (ptr_t)pick(r, ARENA_PAGES) * PAGE_SIZE; }

static size_t rand_npages(run_t *r) { return pick(r, 8) ? 1 + pick(r, 8) : 1 + pick(r, 40); }

static mvmap_t *rand_vmap(run_t *r, mctx_t *c)
{
    return c->nv ? &c->v[pick(r, (uint32_t)c->nv)] : NULL;
}

/* An address mostly inside a vmap of c, else anywhere in the arenas. */
static ptr_t rand_target(run_t *r, mctx_t *c)
{
    mvmap_t *v = pick(r, 5) ? rand_vmap(r, c) : NULL;
    return v ? v->va + (ptr_t)pick(r, (uint32_t)v->npages) * PAGE_SIZE : rand_va(r);
}

static uint64_t rand_value(run_t *r) { return ((uint64_t)(r->step + 1) << 32) | (1 + pick(r, 0xfffffffeu)); }

static bool range_ok(ptr_t va, size_t n)
{
    ptr_t end = hal_user_end(mm_geometry);
    return n && !(va & PAGE_MASK) && va < end && n <= (end - va) >> PAGE_SHIFT;
}

static bool overlaps(mctx_t *c, ptr_t va, size_t n)
{
    for (size_t i = 0; i < c->nv; i++)
        if (va < c->v[i].va + c->v[i].npages * PAGE_SIZE && c->v[i].va < va + n * PAGE_SIZE)
            return true;
    return false;
}

/* ---- injection and outcomes ---- */

static void arm(run_t *r)
{
    r->armed = r->cfg->inject && pick(r, 12) == 0;
    if (r->armed) {
        pmm_fail_after(1 + pick(r, 4));
        r->res->injected++;
    }
}

static void disarm(run_t *r)
{
    if (r->armed)
        pmm_fail_after(0);
}

/* Compares the real return code with the model's; true if the call
 * succeeded as predicted (apply the prediction). */
static bool outcome(run_t *r, int got, int want)
{
    bool armed = r->armed;
    r->armed = false;
    if (got == -ENOMEM && want == 0 && (armed || pmm_free_frames() < LOW_MEMORY)) {
        if (armed)
            r->res->injected_failed++;
        LOG(r, "  -> -ENOMEM (%s)\n", armed ? "injected" : "memory low");
        return false;
    }
    EXPECT(r, got == want, "%s returned %d, the model expects %d", r->op, got, want);
    if (want)
        r->res->refused++;
    LOG(r, "  -> %d\n", got);
    return got == 0 && want == 0;
}

static int err_of(const void *p) { return IS_ERR(p) ? (int)PTR_ERR(p) : 0; }

/* The result of mm_get_free_vaddr_locked(c, n, base, exact), restated. */
static int predict_place(mctx_t *c, size_t n, ptr_t base, bool exact, ptr_t *at)
{
    ptr_t end = hal_user_end(mm_geometry);
    if (exact) {
        if (!range_ok(base, n) || base < MM_USER_MIN)
            return -EINVAL; /* page 0 and its neighbours are never mapped */
        *at = base;
        return overlaps(c, base, n) ? -EEXIST : 0;
    }
    if (n == 0 || (base & PAGE_MASK) || base >= end || n > (end >> PAGE_SHIFT))
        return -EINVAL;
    return find_free(c, n, base, at) ? 0 : -ENOMEM;
}

/* ---- faults on the model ---- */

typedef enum { PL_NONE, PL_ZERO, PL_FILL, PL_REUSE, PL_COPY, PL_SHM } plan_kind_t;
typedef struct plan {
    plan_kind_t kind;
    int want;
    mvmap_t *v;
    mpage_t *p;
} plan_t;

static bool rights_allow(vm_flags f, hal_access_t acc)
{
    if ((acc & HAL_ACCESS_WRITE) && !(f & VM_WRITE))
        return false;
    if ((acc & HAL_ACCESS_EXEC) && !(f & VM_EXEC))
        return false;
    return (f & VM_READ) != 0;
}

/* What mm_handle_fault(c, user access at va) must do, from the model. */
static plan_t fault_plan(run_t *r, mctx_t *c, ptr_t va, hal_access_t acc)
{
    plan_t pl = { PL_NONE, -EFAULT, NULL, NULL };
    mvmap_t *v = vmap_find(c, va);
    if (!v)
        return pl;
    size_t idx = (va - v->va) >> PAGE_SHIFT;
    mpage_t *p = &v->pages[idx];
    pl.v = v;
    pl.p = p;
    if (p->frame >= 0 && (p->pte & VM_USER) && rights_allow(p->pte, acc)) {
        pl.want = 0; /* spurious: the tables allow it already */
        return pl;
    }
    if (!rights_allow(v->flags, acc) || v->handler == H_NONE)
        return pl;
    if (v->handler == H_SHM) {
        int32_t f = r->objs[v->obj].frames[v->objoff + idx];
        if (f < 0 || p->frame != f || (acc & HAL_ACCESS_WRITE))
            pl = (plan_t){ PL_SHM, 0, v, p };
        return pl;
    }
    bool write = acc & HAL_ACCESS_WRITE;
    if (p->frame < 0)
        return (plan_t){ write ? PL_FILL : PL_ZERO, 0, v, p };
    if (!write)
        return pl;
    if (p->frame == 0)
        pl.kind = PL_FILL;
    else if (r->frames[p->frame].holders == 1 && v->type == VMAP_TYPE_PRIVATE)
        pl.kind = PL_REUSE;
    else
        pl.kind = PL_COPY;
    pl.want = 0;
    return pl;
}

static void fault_apply(run_t *r, const plan_t *pl)
{
    mvmap_t *v = pl->v;
    mpage_t *p = pl->p;
    switch (pl->kind) {
    case PL_NONE:
        break;
    case PL_ZERO:
        page_map(r, p, 0, v->flags & ~VM_WRITE);
        break;
    case PL_FILL:
        page_map(r, p, frame_new(r, 0, PMM_NO_FRAME), v->flags);
        break;
    case PL_REUSE:
        p->pte = v->flags;
        break;
    case PL_COPY:
        page_map(r, p, frame_new(r, r->frames[p->frame].value, PMM_NO_FRAME), v->flags);
        break;
    case PL_SHM: {
        mobj_t *o = &r->objs[v->obj];
        size_t idx = v->objoff + (size_t)(p - v->pages);
        if (o->frames[idx] < 0) {
            o->frames[idx] = frame_new(r, 0, PMM_NO_FRAME);
            r->frames[o->frames[idx]].holders++; /* the object's reference */
        }
        page_map(r, p, o->frames[idx], v->flags);
        break;
    }
    }
}

/* ---- operations ---- */

static void op_create(run_t *r)
{
    int c = free_slot(r);
    if (c < 0)
        return;
    LOG(r, "%zu create -> slot %d\n", r->step, c);
    arm(r);
    mm_context_t *real = mm_create_context();
    disarm(r);
    if (outcome(r, err_of(real), 0)) {
        r->ctx[c] = (mctx_t){ .live = true, .real = real };
        touch(r, c, r->arena[0], 1);
    }
}

static void op_destroy(run_t *r)
{
    int c = pick_ctx(r);
    if (c < 0)
        return;
    LOG(r, "%zu destroy %d\n", r->step, c);
    mm_destroy_context(r->ctx[c].real);
    while (r->ctx[c].nv)
        vmap_remove(r, &r->ctx[c], &r->ctx[c].v[r->ctx[c].nv - 1]);
    r->ctx[c].live = false;
    r->touched_all = true;
}

/* The model of copying vmap s (of context sc) into context dc at the same
 * address, copy-on-write (fork, cow_clone) or as is (shared, raw clone). */
static void model_copy_vmap(run_t *r, mctx_t *sc, mvmap_t *s, mctx_t *dc, bool cow)
{
    size_t si = (size_t)(s - sc->v);
    mvmap_t *d = vmap_insert(r, dc, s->va, s->npages);
    s = &sc->v[si];
    if (cow && s->handler == H_NONE && s->flags != VM_NONE)
        s->handler = H_COW; /* a guard (no flags) stays a guard */
    d->flags = s->flags;
    d->type = s->type;
    d->handler = s->handler;
    d->obj = s->obj;
    d->objoff = s->objoff;
    if (s->obj >= 0)
        r->objs[s->obj].refs++;
    for (size_t k = 0; k < s->npages; k++) {
        mpage_t *p = &s->pages[k];
        if (p->frame < 0)
            continue;
        if (cow)
            p->pte &= ~VM_WRITE;
        page_map(r, &d->pages[k], p->frame, p->pte);
    }
}

static void op_fork(run_t *r)
{
    int p = pick_ctx(r), c = free_slot(r);
    if (p < 0 || c < 0)
        return;
    LOG(r, "%zu fork %d -> %d\n", r->step, p, c);
    arm(r);
    mm_context_t *child = mm_clone_context(r->ctx[p].real);
    disarm(r);
    if (!outcome(r, err_of(child), 0))
        return;
    r->ctx[c] = (mctx_t){ .live = true, .real = child };
    for (size_t i = 0; i < r->ctx[p].nv; i++)
        model_copy_vmap(r, &r->ctx[p], &r->ctx[p].v[i], &r->ctx[c], r->ctx[p].v[i].type != VMAP_TYPE_SHARED);
    r->touched_all = true;
}

/* Room for `vmaps` more vmaps and `pages` more pages in c. */
static bool room(mctx_t *c, size_t vmaps, size_t pages) { return c->nv + vmaps <= MAX_VMAPS && ctx_pages(c) + pages <= MAX_CTX_PAGES; }

/* A run of frames already mapped, in order, by an explicit shared vmap of
 * some context (they may be mapped again, shared, anywhere): its first pfn
 * and model frames, or false. */
static bool shared_run(run_t *r, int32_t *frames, size_t *n, pfn_t *pfn)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !r->ctx[ci].nv)
        return false;
    mctx_t *c = &r->ctx[ci];
    size_t start = pick(r, (uint32_t)c->nv);
    for (size_t k = 0; k < c->nv; k++) {
        mvmap_t *v = &c->v[(start + k) % c->nv];
        if (v->type != VMAP_TYPE_SHARED || v->handler != H_NONE || v->npages > 64)
            continue;
        bool ok = true;
        for (size_t i = 0; i < v->npages && ok; i++) {
            int32_t f = v->pages[i].frame;
            ok = f >= 0 && r->frames[f].pfn != PMM_NO_FRAME && r->frames[f].pfn == r->frames[v->pages[0].frame].pfn + i;
            frames[i] = f;
        }
        if (!ok)
            continue;
        *n = v->npages;
        *pfn = r->frames[frames[0]].pfn;
        return true;
    }
    return false;
}

static void new_area(run_t *r, int kind)
{
    int ci = pick_ctx(r);
    if (ci < 0)
        return;
    mctx_t *c = &r->ctx[ci];
    size_t n = rand_npages(r);
    ptr_t base = rand_va(r);
    bool exact = pick(r, 2);
    if (pick(r, 32) == 0)
        base += 8; /* unaligned: refused */
    if (pick(r, 64) == 0)
        n = 0; /* empty: refused */
    vm_flags flags = user_flag_choices[pick(r, ARRAY_SIZE(user_flag_choices))];
    vmap_type_t type = pick(r, 3) ? VMAP_TYPE_PRIVATE : VMAP_TYPE_SHARED;
    if (!room(c, 1, n))
        return;
    ptr_t at = 0;
    int want = predict_place(c, n, base, exact, &at);
    vmap_t *v;
    touch(r, ci, ALIGN_DOWN(base, PAGE_SIZE), n ? n : 1); /* refused or not, nothing else may change */
    if (kind == 0) { /* anonymous memory */
        r->op = type == VMAP_TYPE_SHARED ? "mm_map_anonymous_locked(shared)" : "mm_map_anonymous_locked(private)";
        if (!(flags & VM_READ))
            want = -EINVAL;
        LOG(r, "%zu %s ctx %d n %zu base %#lx exact %d flags %#x\n", r->step, r->op, ci, n, (unsigned long)base, exact,
            flags);
        spinlock_acquire(&c->real->mm_lock);
        arm(r);
        v = mm_map_anonymous_locked(c->real, n, base, exact ? VALLOC_EXACT : VALLOC_DEFAULT, flags, type);
        disarm(r);
        spinlock_release(&c->real->mm_lock);
    } else if (kind == 1) { /* free-range search only: an empty vmap */
        r->op = exact ? "mm_get_free_vaddr_locked(exact)" : "mm_get_free_vaddr_locked";
        LOG(r, "%zu %s ctx %d n %zu base %#lx\n", r->step, r->op, ci, n, (unsigned long)base);
        spinlock_acquire(&c->real->mm_lock);
        arm(r);
        v = mm_get_free_vaddr_locked(c->real, n, base, exact ? VALLOC_EXACT : VALLOC_DEFAULT);
        disarm(r);
        spinlock_release(&c->real->mm_lock);
        flags = VM_NONE;
        type = VMAP_TYPE_PRIVATE;
    } else { /* mm_map_user_pages over fresh frames */
        r->op = "mm_map_user_pages";
        int32_t shared[64];
        pfn_t spfn;
        size_t sn;
        if (pick(r, 3) == 0 && shared_run(r, shared, &sn, &spfn) && room(c, 1, sn)) {
            /* the same frames once more, in another (or the same) context */
            r->op = "mm_map_user_pages(frames already mapped)";
            want = predict_place(c, sn, base, exact, &at);
            if (!(flags & VM_READ))
                want = -EINVAL;
            LOG(r, "%zu %s ctx %d n %zu base %#lx exact %d flags %#x pfn %#llx\n", r->step, r->op, ci, sn,
                (unsigned long)base, exact, flags, (unsigned long long)spfn);
            touch(r, ci, ALIGN_DOWN(base, PAGE_SIZE), sn);
            arm(r);
            v = mm_map_user_pages(c->real, base, spfn, sn, flags, exact ? VALLOC_EXACT : VALLOC_DEFAULT,
                                  VMAP_TYPE_SHARED, VMAP_FILE);
            disarm(r);
            if (!outcome(r, err_of(v), want))
                return;
            EXPECT(r, v->vaddr == at, "%s placed the vmap at %#lx, the model expects %#lx", r->op,
                   (unsigned long)v->vaddr, (unsigned long)at);
            mvmap_t *m = vmap_insert(r, c, at, sn);
            m->flags = flags | VM_USER;
            m->type = VMAP_TYPE_SHARED;
            for (size_t i = 0; i < sn; i++)
                page_map(r, &m->pages[i], shared[i], flags | VM_USER);
            touch(r, ci, at, sn);
            return;
        }
        if (n == 0)
            n = 1;
        unsigned order = 0;
        while (((size_t)1 << order) < n)
            order++;
        pfn_t pfn = pmm_alloc_order(order);
        if (pfn == PMM_NO_FRAME)
            return;
        for (size_t i = n; i < ((size_t)1 << order); i++)
            pmm_free(pfn + i);
        uint64_t values[64];
        for (size_t i = 0; i < n; i++) {
            uint64_t *w = pfn_va(pfn + i);
            values[i] = rand_value(r);
            w[0] = values[i];
            w[PAGE_SIZE / 8 - 1] = values[i] ^ VALUE_SALT;
        }
        want = predict_place(c, n, base, exact, &at);
        if (!(flags & VM_READ))
            want = -EINVAL;
        LOG(r, "%zu %s ctx %d n %zu base %#lx exact %d flags %#x type %d pfn %#llx\n", r->step, r->op, ci, n,
            (unsigned long)base, exact, flags, type, (unsigned long long)pfn);
        arm(r);
        v = mm_map_user_pages(c->real, base, pfn, n, flags, exact ? VALLOC_EXACT : VALLOC_DEFAULT, type, VMAP_MMAP);
        disarm(r);
        bool ok = outcome(r, err_of(v), want);
        if (!ok) {
            for (size_t i = 0; i < n; i++)
                pmm_free(pfn + i);
            return;
        }
        EXPECT(r, v->vaddr == at, "%s placed the vmap at %#lx, the model expects %#lx", r->op, (unsigned long)v->vaddr,
               (unsigned long)at);
        mvmap_t *m = vmap_insert(r, c, at, n);
        m->flags = flags | VM_USER;
        m->type = type;
        for (size_t i = 0; i < n; i++)
            page_map(r, &m->pages[i], frame_new(r, values[i], pfn + i), flags | VM_USER);
        touch(r, ci, at, n);
        return;
    }
    if (!outcome(r, err_of(v), want))
        return;
    EXPECT(r, v->vaddr == at, "%s placed the vmap at %#lx, the model expects %#lx", r->op, (unsigned long)v->vaddr,
           (unsigned long)at);
    mvmap_t *m = vmap_insert(r, c, at, n);
    if (kind == 0) {
        m->flags = flags | VM_USER;
        m->type = type;
        m->handler = type == VMAP_TYPE_SHARED ? H_SHM : H_COW;
        if (type == VMAP_TYPE_SHARED)
            m->obj = obj_new(r, n);
    }
    touch(r, ci, at, n);
}

static void op_anon(run_t *r) { new_area(r, 0); }
static void op_free_vaddr(run_t *r) { new_area(r, 1); }
static void op_map_user(run_t *r) { new_area(r, 2); }

/* A read or write through the software MMU (faults included): from user
 * mode, or from kernel mode with user access enabled (what the copy helpers
 * do, STAC / SUM), which faults and resolves the same way. */
static void access_op(run_t *r, bool write)
{
    int ci = pick_ctx(r);
    if (ci < 0)
        return;
    mctx_t *c = &r->ctx[ci];
    ptr_t va = rand_target(r, c);
    plan_t pl = fault_plan(r, c, va, write ? HAL_ACCESS_WRITE : HAL_ACCESS_READ);
    bool user = pick(r, 4) != 0;
    r->op = write ? (user ? "softmmu_write" : "softmmu_write(kernel, user access)")
                  : (user ? "softmmu_read" : "softmmu_read(kernel, user access)");
    LOG(r, "%zu %s ctx %d va %#lx plan %d\n", r->step, r->op, ci, (unsigned long)va, pl.kind);
    touch(r, ci, va, 1);
    if (!user)
        softmmu_set_user_access(true);
    arm(r);
    uint64_t w[2] = { 0, 0 };
    int err;
    if (write) {
        w[0] = rand_value(r);
        w[1] = w[0] ^ VALUE_SALT;
        err = softmmu_write(c->real, va, &w[0], 8, user);
        if (!err)
            err = softmmu_write(c->real, va + PAGE_SIZE - 8, &w[1], 8, user);
    } else {
        err = softmmu_read(c->real, va, &w[0], 8, user);
        if (!err)
            err = softmmu_read(c->real, va + PAGE_SIZE - 8, &w[1], 8, user);
    }
    disarm(r);
    if (!user)
        softmmu_set_user_access(false);
    if (!outcome(r, err, pl.want))
        return;
    fault_apply(r, &pl);
    mframe_t *f = &r->frames[pl.p->frame];
    if (write) {
        f->value = w[0];
    } else {
        uint64_t v1 = f->value ? f->value ^ VALUE_SALT : 0;
        EXPECT(r, w[0] == f->value && w[1] == v1, "read at %#lx gave %#llx..%#llx, the model expects %#llx..%#llx",
               (unsigned long)va, (unsigned long long)w[0], (unsigned long long)w[1], (unsigned long long)f->value,
               (unsigned long long)v1);
    }
}

static void op_read(run_t *r) { access_op(r, false); }
static void op_write(run_t *r) { access_op(r, true); }

/* A fault handed to mm_handle_fault directly: exec in a vmap, or any access
 * anywhere (outside vmaps, kernel half from user mode, non-canonical). */
static void fault_op(run_t *r, bool exec_only)
{
    int ci = pick_ctx(r);
    if (ci < 0)
        return;
    mctx_t *c = &r->ctx[ci];
    static const hal_access_t accs[] = { HAL_ACCESS_READ, HAL_ACCESS_WRITE, HAL_ACCESS_EXEC };
    hal_access_t acc = exec_only ? HAL_ACCESS_EXEC : accs[pick(r, 3)];
    ptr_t va = rand_target(r, c);
    unsigned where = exec_only ? 0 : pick(r, 4);
    if (where == 1)
        va = hal_user_end(mm_geometry) + ((ptr_t)pick(r, 1024) << PAGE_SHIFT); /* non-canonical */
    else if (where == 2)
        va = r->karea + ((ptr_t)pick(r, KAREA_PAGES) << PAGE_SHIFT); /* kernel half, from user mode */
    plan_t pl = where == 1 || where == 2 ? (plan_t){ PL_NONE, -EFAULT, NULL, NULL } : fault_plan(r, c, va, acc);
    va += pick(r, PAGE_SIZE / 8) * 8; /* any byte of the page */
    r->op = "mm_handle_fault(user)";
    LOG(r, "%zu %s ctx %d va %#lx access %d plan %d\n", r->step, r->op, ci, (unsigned long)va, acc, pl.kind);
    hal_fault_t f = { .addr = va, .access = acc, .user_mode = true, .present = -1 };
    if (where != 1 && where != 2)
        touch(r, ci, ALIGN_DOWN(va, PAGE_SIZE), 1);
    arm(r);
    int err = mm_handle_fault(c->real, &f);
    disarm(r);
    if (outcome(r, err, pl.want))
        fault_apply(r, &pl);
}

static void op_exec(run_t *r) { fault_op(r, true); }
static void op_fault_any(run_t *r) { fault_op(r, false); }

/* The model of mm_unmap_user_pages_locked / the split part of mprotect
 * (guards, vmaps without flags, are never split). */
static void model_split_edges(run_t *r, mctx_t *c, ptr_t va, size_t n)
{
    ptr_t last = va + n * PAGE_SIZE - 1;
    mvmap_t *v = vmap_find(c, va);
    if (v && v->va < va && v->flags != VM_NONE)
        vmap_split_at(r, c, v, (va - v->va) >> PAGE_SHIFT);
    v = vmap_find(c, last);
    if (v && v->va + v->npages * PAGE_SIZE - 1 > last && v->flags != VM_NONE)
        vmap_split_at(r, c, v, (last + 1 - v->va) >> PAGE_SHIFT);
}

static void op_unmap(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0)
        return;
    mctx_t *c = &r->ctx[ci];
    ptr_t va = rand_target(r, c);
    size_t n = pick(r, 4) ? 1 + pick(r, 12) : 1 + pick(r, 64);
    if (!room(c, 2, 0))
        return;
    int want = range_ok(va, n) ? 0 : -EINVAL;
    r->op = "mm_unmap_user_pages_locked";
    LOG(r, "%zu %s ctx %d va %#lx n %zu\n", r->step, r->op, ci, (unsigned long)va, n);
    spinlock_acquire(&c->real->mm_lock);
    arm(r);
    int err = mm_unmap_user_pages_locked(c->real, va, n);
    disarm(r);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, va, n < 80 ? n : 80);
    if (!outcome(r, err, want))
        return;
    model_split_edges(r, c, va, n);
    for (;;) { /* every vmap starting in the range goes, guards excepted */
        mvmap_t *v = NULL;
        for (size_t i = 0; i < c->nv; i++)
            if (c->v[i].va >= va && c->v[i].va - va < n * PAGE_SIZE && c->v[i].flags != VM_NONE)
                v = &c->v[i];
        if (!v)
            break;
        vmap_remove(r, c, v);
    }
}

static void op_vmap_destroy(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !r->ctx[ci].nv)
        return;
    mctx_t *c = &r->ctx[ci];
    mvmap_t *m = rand_vmap(r, c);
    r->op = "vmap_destroy";
    LOG(r, "%zu %s ctx %d va %#lx\n", r->step, r->op, ci, (unsigned long)m->va);
    spinlock_acquire(&c->real->mm_lock);
    vmap_t *v = vmap_obtain(c->real, m->va, NULL);
    EXPECT(r, !IS_ERR(v) && v->vaddr == m->va, "vmap_obtain(%#lx) found no vmap", (unsigned long)m->va);
    if (!r->stop)
        vmap_destroy(v);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, m->va, m->npages);
    vmap_remove(r, c, m);
}

static void op_split(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !r->ctx[ci].nv || !room(&r->ctx[ci], 1, 0))
        return;
    mctx_t *c = &r->ctx[ci];
    mvmap_t *m = rand_vmap(r, c);
    size_t k = pick(r, 16) ? 1 + pick(r, (uint32_t)m->npages) : 0; /* 0 and npages are refused */
    int want = k > 0 && k < m->npages ? 0 : -EINVAL;
    r->op = "vmap_split";
    LOG(r, "%zu %s ctx %d va %#lx at %zu\n", r->step, r->op, ci, (unsigned long)m->va, k);
    spinlock_acquire(&c->real->mm_lock);
    vmap_t *v = vmap_obtain(c->real, m->va, NULL);
    arm(r);
    vmap_t *s = IS_ERR(v) ? v : vmap_split(v, k);
    disarm(r);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, m->va, m->npages);
    if (outcome(r, err_of(s), want))
        vmap_split_at(r, c, m, k);
}

/* The entry flags a protection change gives a present page: write stays
 * withheld only in copy-on-write memory, while the frame is shared. */
static vm_flags guarded(run_t *r, const mvmap_t *v, const mpage_t *p, vm_flags f)
{
    if (v->handler == H_COW && v->type == VMAP_TYPE_PRIVATE && (f & VM_WRITE) && (p->frame == 0 || r->frames[p->frame].holders > 1))
        f &= ~VM_WRITE;
    return f;
}

static void op_protect(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !room(&r->ctx[ci], 2, 0))
        return;
    mctx_t *c = &r->ctx[ci];
    ptr_t va = rand_target(r, c);
    size_t n = 1 + pick(r, 16);
    vm_flags flags = user_flag_choices[pick(r, ARRAY_SIZE(user_flag_choices))];
    int want = !range_ok(va, n) || !(flags & VM_READ) ? -EINVAL : 0;
    for (size_t i = 0; i < n && !want; i++) {
        mvmap_t *v = vmap_find(c, va + i * PAGE_SIZE);
        if (!v || v->flags == VM_NONE)
            want = -ENOMEM; /* a hole, or a guard, in the range */
    }
    r->op = "mm_protect_locked";
    LOG(r, "%zu %s ctx %d va %#lx n %zu flags %#x\n", r->step, r->op, ci, (unsigned long)va, n, flags);
    spinlock_acquire(&c->real->mm_lock);
    arm(r);
    int err = mm_protect_locked(c->real, va, n, flags);
    disarm(r);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, va, n);
    if (!outcome(r, err, want))
        return;
    model_split_edges(r, c, va, n);
    for (size_t i = 0; i < c->nv; i++) {
        mvmap_t *v = &c->v[i];
        if (v->va < va || v->va - va >= n * PAGE_SIZE)
            continue;
        v->flags = flags | VM_USER; /* the handler stays as it is */
        for (size_t k = 0; k < v->npages; k++)
            if (v->pages[k].frame >= 0)
                v->pages[k].pte = guarded(r, v, &v->pages[k], flags | VM_USER);
    }
}

static void op_flag(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !r->ctx[ci].nv)
        return;
    mctx_t *c = &r->ctx[ci];
    mvmap_t *v = rand_vmap(r, c);
    if (!(v->flags & VM_READ))
        return;
    size_t off = pick(r, (uint32_t)v->npages), n = 1 + pick(r, (uint32_t)(v->npages - off));
    vm_flags flags = (v->flags & ((pick(r, 4) ? VM_WRITE : 0) | (pick(r, 2) ? VM_EXEC : 0))) | VM_READ | VM_USER;
    ptr_t va = v->va + off * PAGE_SIZE;
    r->op = "mm_flag_pages_locked";
    LOG(r, "%zu %s ctx %d va %#lx n %zu flags %#x\n", r->step, r->op, ci, (unsigned long)va, n, flags);
    spinlock_acquire(&c->real->mm_lock);
    mm_flag_pages_locked(c->real, va, n, flags);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, va, n);
    for (size_t k = off; k < off + n; k++)
        if (v->pages[k].frame >= 0)
            v->pages[k].pte = guarded(r, v, &v->pages[k], flags);
}

static void op_replace(run_t *r)
{
    int ci = pick_ctx(r);
    if (ci < 0 || !r->ctx[ci].nv)
        return;
    mctx_t *c = &r->ctx[ci];
    mvmap_t *v = rand_vmap(r, c);
    if (v->obj >= 0 || !(v->flags & VM_READ))
        return; /* a shared object's page must stay the object's frame */
    size_t k = pick(r, (uint32_t)v->npages);
    ptr_t va = v->va + k * PAGE_SIZE;
    vm_flags flags = (v->flags & ((pick(r, 4) ? VM_WRITE : 0) | (pick(r, 2) ? VM_EXEC : 0))) | VM_READ | VM_USER;
    pfn_t pfn = pmm_alloc();
    if (pfn == PMM_NO_FRAME)
        return;
    uint64_t value = rand_value(r);
    uint64_t *w = pfn_va(pfn);
    w[0] = value;
    w[PAGE_SIZE / 8 - 1] = value ^ VALUE_SALT;
    r->op = "mm_do_replace";
    LOG(r, "%zu %s ctx %d va %#lx pfn %#llx flags %#x\n", r->step, r->op, ci, (unsigned long)va, (unsigned long long)pfn,
        flags);
    spinlock_acquire(&c->real->mm_lock);
    arm(r);
    int err = mm_do_replace(c->real, va, pfn, flags);
    disarm(r);
    spinlock_release(&c->real->mm_lock);
    touch(r, ci, va, 1);
    if (!outcome(r, err, 0)) {
        pmm_free(pfn);
        return;
    }
    page_map(r, &v->pages[k], frame_new(r, value, pfn), flags);
}

/* cow_clone_vmap_locked (any vmap) or mm_clone_vmap_locked (shared ones
 * only: a raw copy of a private writable page would share it writable,
 * which the invariant checker rightly refuses). */
static void clone_op(run_t *r, bool cow)
{
    int si = pick_ctx(r), di = pick_ctx(r);
    if (si < 0 || !r->ctx[si].nv || !room(&r->ctx[di], 1, 0))
        return;
    mctx_t *s = &r->ctx[si], *d = &r->ctx[di];
    mvmap_t *m = rand_vmap(r, s);
    if ((!cow && m->type != VMAP_TYPE_SHARED) || !room(d, 1, m->npages))
        return;
    int want = si == di ? -EINVAL : overlaps(d, m->va, m->npages) ? -EEXIST : 0;
    r->op = cow ? "cow_clone_vmap_locked" : "mm_clone_vmap_locked";
    LOG(r, "%zu %s ctx %d -> %d va %#lx n %zu\n", r->step, r->op, si, di, (unsigned long)m->va, m->npages);
    mm_lock_ctx_pair(s->real, d->real);
    vmap_t *v = vmap_obtain(s->real, m->va, NULL);
    arm(r);
    vmap_t *cl = cow ? cow_clone_vmap_locked(d->real, v) : mm_clone_vmap_locked(v, d->real);
    disarm(r);
    mm_unlock_ctx_pair(s->real, d->real);
    touch(r, si, m->va, m->npages);
    touch(r, di, m->va, m->npages);
    if (outcome(r, err_of(cl), want))
        model_copy_vmap(r, s, m, d, cow);
}

static void op_cow_clone(run_t *r) { clone_op(r, true); }
static void op_raw_clone(run_t *r) { clone_op(r, false); }

static void op_kmap(run_t *r)
{
    static const vm_flags kflags[] = { VM_READ, VM_RW, VM_RX, VM_RW | VM_GLOBAL };
    size_t first, n;
    pfn_t pfn;
    if (pick(r, 3) == 0) { /* a whole 2 MiB block: a huge leaf */
        first = pick(r, KAREA_PAGES / 512) * 512;
        n = 512;
        pfn = (pfn_t)pick(r, 1u << 11) << 9;
    } else {
        first = pick(r, KAREA_PAGES);
        n = 1 + pick(r, 16);
        n = MIN(n, KAREA_PAGES - first);
        pfn = pick(r, 1u << 20);
    }
    vm_flags flags = kflags[pick(r, ARRAY_SIZE(kflags))];
    ptr_t va = r->karea + first * PAGE_SIZE;
    r->op = "mm_do_map_kernel";
    LOG(r, "%zu %s va %#lx n %zu pfn %#llx flags %#x\n", r->step, r->op, (unsigned long)va, n, (unsigned long long)pfn,
        flags);
    arm(r);
    int err = mm_do_map_kernel(mm_kernel_context(), va, pfn, n, flags);
    disarm(r);
    r->touched_kernel = true;
    if (outcome(r, err, 0))
        for (size_t i = 0; i < n; i++)
            r->kpages[first + i] = (kpage_t){ pfn + i, flags };
}

static void op_kunmap(run_t *r)
{
    size_t first = pick(r, KAREA_PAGES), n = pick(r, 2) ? 1 + pick(r, 16) : 1 + pick(r, 600);
    n = MIN(n, KAREA_PAGES - first);
    ptr_t va = r->karea + first * PAGE_SIZE;
    r->op = "mm_do_unmap(kernel)";
    LOG(r, "%zu %s va %#lx n %zu\n", r->step, r->op, (unsigned long)va, n);
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    arm(r);
    int err = mm_do_unmap(k, va, n);
    disarm(r);
    spinlock_release(&k->mm_lock);
    r->touched_kernel = true;
    if (outcome(r, err, 0))
        for (size_t i = 0; i < n; i++)
            r->kpages[first + i] = (kpage_t){ PMM_NO_FRAME, VM_NONE };
}

/* A kernel-mode fault on the kernel test area: only spurious ones succeed. */
static void op_kfault(run_t *r)
{
    static const hal_access_t accs[] = { HAL_ACCESS_READ, HAL_ACCESS_WRITE, HAL_ACCESS_EXEC };
    size_t i = pick(r, KAREA_PAGES);
    hal_access_t acc = accs[pick(r, 3)];
    kpage_t *k = &r->kpages[i];
    int ci = pick_ctx(r);
    mm_context_t *ctx = ci < 0 ? mm_kernel_context() : r->ctx[ci].real;
    int want = k->pfn != PMM_NO_FRAME && rights_allow(k->flags, acc) ? 0 : -EFAULT;
    hal_fault_t f = { .addr = r->karea + i * PAGE_SIZE, .access = acc, .user_mode = false, .present = -1 };
    r->op = "mm_handle_fault(kernel)";
    LOG(r, "%zu %s va %#lx access %d\n", r->step, r->op, (unsigned long)f.addr, acc);
    outcome(r, mm_handle_fault(ctx, &f), want);
}

typedef struct op_desc {
    const char *name;
    unsigned weight;
    void (*fn)(run_t *r);
} op_desc_t;

static const op_desc_t ops[] = {
    { "create", 3, op_create },       { "destroy", 2, op_destroy },       { "fork", 3, op_fork },
    { "anon", 9, op_anon },           { "free_vaddr", 3, op_free_vaddr }, { "map_user", 5, op_map_user },
    { "read", 13, op_read },          { "write", 16, op_write },          { "exec", 3, op_exec },
    { "fault_any", 5, op_fault_any }, { "unmap", 6, op_unmap },           { "vmap_destroy", 2, op_vmap_destroy },
    { "split", 4, op_split },         { "protect", 5, op_protect },       { "flag", 3, op_flag },
    { "replace", 3, op_replace },     { "cow_clone", 3, op_cow_clone },   { "raw_clone", 2, op_raw_clone },
    { "kmap", 2, op_kmap },           { "kunmap", 2, op_kunmap },         { "kfault", 1, op_kfault },
};

void run_one_op(run_t *r)
{
    unsigned total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        total += ops[i].weight;
    unsigned x = pick(r, total);
    size_t i = 0;
    while (x >= ops[i].weight)
        x -= ops[i++].weight;
    r->op = ops[i].name;
    r->armed = false;
    if (pick_ctx(r) < 0 && ops[i].fn != op_kmap && ops[i].fn != op_kunmap)
        op_create(r); /* nothing to work on yet */
    else
        ops[i].fn(r);
}
