/* mm/fork.c - fork: a context cloned whole, private memory copy-on-write,
 * every table made before the parent is touched. Contract in mm/cow.h. */
#include "mm/cow.h"

#include "mm/internal.h"
#include "mm/pagetable.h"

mm_context_t *mm_clone_context(mm_context_t *parent) { return mm_clone_context_opts(parent, NULL); }

mm_context_t *mm_clone_context_opts(mm_context_t *parent, const mm_clone_opts_t *opts)
{
    mm_context_t *child = mm_create_context();
    if (IS_ERR(child))
        return child;
    mm_lock_ctx_pair(parent, child);
    int err = 0;
    /* 1. every vmap and every table of the child; the parent is not touched */
    for (vmap_t *v = mm_vmap_first_from(parent, 0); v && !err; v = mm_vmap_next(v)) {
        if (v->reserved)
            continue; /* the kernel's own pages: never copied */
        vmap_t *c = vmap_create(child, v->vaddr, v->npages);
        if (IS_ERR(c)) {
            err = (int)PTR_ERR(c);
            break;
        }
        vmap_copy_attributes(c, v);
        err = pt_copy_prepare(parent, child, v->vaddr, vmap_last(v));
    }
    /* The reserve, once everything the child needs is taken (step 2
     * allocates nothing), before the parent is touched. */
    if (!err && opts && pmm_free_frames() < opts->reserve_frames)
        err = -ENOMEM;
    if (err) {
        mm_unlock_ctx_pair(parent, child);
        mm_destroy_context(child);
        return ERR_PTR(err);
    }
    /* 2. copy the mappings: this cannot fail */
    pt_gather_t g;
    pt_gather_init(&g);
    vmap_t *c = mm_vmap_first_from(child, 0);
    for (vmap_t *v = mm_vmap_first_from(parent, 0); v; v = mm_vmap_next(v)) {
        if (v->reserved)
            continue; /* the child has no counterpart */
        bool cow = v->type != VMAP_TYPE_SHARED;
        pt_copy_apply(parent, child, v->vaddr, vmap_last(v), cow, &g);
        if (cow)
            vmap_make_cow(v, c);
        c = mm_vmap_next(c);
    }
    pt_finish(parent, &g);
    mm_unlock_ctx_pair(parent, child);
    return child;
}
