/* mm/vmap.c - virtual memory areas of a context's user half, kept in the
 * context's vm_tree (O(log n) lookup and free-range search), whose nodes
 * come from a slab cache of their own. */
#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/shm.h"
#include "mm/slab.h"

static slab_cache_t vmap_cache = SLAB_CACHE_INIT("vmap", vmap_t);
static slab_cache_t node_cache = SLAB_CACHE_INIT("vmap tree node", vm_tree_bnode_t);

void vmap_reset(void)
{
    vmap_cache = (slab_cache_t)SLAB_CACHE_INIT("vmap", vmap_t);
    node_cache = (slab_cache_t)SLAB_CACHE_INIT("vmap tree node", vm_tree_bnode_t);
}

size_t vmap_live_count(void) { return __atomic_load_n(&vmap_cache.live, __ATOMIC_RELAXED); }

size_t vmap_tree_nodes_live(void) { return __atomic_load_n(&node_cache.live, __ATOMIC_RELAXED); }

static vm_tree_bnode_t *node_alloc(void *arg)
{
    (void)arg;
    return slab_alloc(&node_cache);
}

static void node_free(void *arg, vm_tree_bnode_t *node)
{
    (void)arg;
    slab_free(&node_cache, node);
}

const vm_tree_alloc_t vmap_tree_alloc = { node_alloc, node_free, NULL };

static inline vmap_t *vmap_of(vm_tree_node_t *n) { return (vmap_t *)n; } /* node is the first member */

vmap_t *vmap_create(mm_context_t *mmctx, ptr_t vaddr, size_t npages)
{
    ASSERT_LOCKED(mmctx);
    ptr_t last;
    int err = mm_check_range(vaddr, npages, true, &last);
    if (err)
        return ERR_PTR(err);
    if (vaddr < MM_USER_MIN)
        return ERR_PTR(-EINVAL);
    if (vm_tree_overlaps(&mmctx->vmaps, vaddr, last + 1))
        return ERR_PTR(-EEXIST);
    vmap_t *v = slab_alloc(&vmap_cache);
    if (!v)
        return ERR_PTR(-ENOMEM);
    v->node.start = vaddr;
    v->node.end = last + 1;
    v->mmctx = mmctx;
    v->vaddr = vaddr;
    v->npages = npages;
    v->type = VMAP_TYPE_PRIVATE;
    v->content = VMAP_UNKNOWN;
    err = vm_tree_insert(&mmctx->vmaps, &v->node);
    if (err) {
        MM_ASSERT(err == -ENOMEM, "insert of [%#lx, %#lx) failed after the overlap check: %d", (unsigned long)vaddr,
                  (unsigned long)(last + 1), err);
        slab_free(&vmap_cache, v);
        return ERR_PTR(err);
    }
    return v;
}

void vmap_forget(vmap_t *vmap)
{
    if (vmap->reserved)
        vmap->mmctx->reserved_vmaps--;
    if (vmap->object)
        shm_put(vmap->object);
    vm_tree_remove(&vmap->mmctx->vmaps, &vmap->node);
    slab_free(&vmap_cache, vmap);
}

void vmap_destroy(vmap_t *vmap)
{
    mm_context_t *ctx = vmap->mmctx;
    ASSERT_LOCKED(ctx);
    pt_gather_t g;
    pt_gather_init(&g);
    ptr_t last = vmap->vaddr + vmap->npages * PAGE_SIZE - 1;
    int err = vmap->reserved ? pt_unmap_uncounted(ctx, vmap->vaddr, last, &g) : pt_unmap(ctx, vmap->vaddr, last, &g);
    MM_ASSERT(err == 0, "unmapping vmap [%#lx, +%zu pages) failed: %d", (unsigned long)vmap->vaddr, vmap->npages, err);
    pt_finish(ctx, &g);
    vmap_forget(vmap);
}

vmap_t *vmap_obtain(mm_context_t *mmctx, ptr_t vaddr, size_t *out_offset)
{
    ASSERT_LOCKED(mmctx);
    vm_tree_node_t *n = vm_tree_find(&mmctx->vmaps, vaddr);
    if (!n)
        return ERR_PTR(-ENOENT);
    if (out_offset)
        *out_offset = vaddr - n->start;
    return vmap_of(n);
}

vmap_t *vmap_split(vmap_t *vmap, size_t split)
{
    mm_context_t *ctx = vmap->mmctx;
    ASSERT_LOCKED(ctx);
    if (split == 0 || split >= vmap->npages)
        return ERR_PTR(-EINVAL);
    vmap_t *second = slab_alloc(&vmap_cache);
    if (!second)
        return ERR_PTR(-ENOMEM);
    *second = *vmap;
    second->vaddr = vmap->vaddr + split * PAGE_SIZE;
    second->npages = vmap->npages - split;
    second->node = (vm_tree_node_t){ .start = second->vaddr, .end = vmap->node.end };
    second->object_pgoff = vmap->object_pgoff + split;
    /* Shrink the first half in place, then insert the second; an insert
     * that finds no memory for a tree node puts the end back. */
    ptr_t end = vmap->node.end;
    int err = vm_tree_set_end(&ctx->vmaps, &vmap->node, second->vaddr);
    MM_ASSERT(err == 0, "shrinking [%#lx, %#lx) failed: %d", (unsigned long)vmap->vaddr, (unsigned long)end, err);
    err = vm_tree_insert(&ctx->vmaps, &second->node);
    if (err) {
        int undo = vm_tree_set_end(&ctx->vmaps, &vmap->node, end);
        MM_ASSERT(err == -ENOMEM && undo == 0, "inserting the second half at %#lx failed: %d (undo %d)",
                  (unsigned long)second->vaddr, err, undo);
        slab_free(&vmap_cache, second);
        return ERR_PTR(err);
    }
    vmap->npages = split;
    if (second->object)
        shm_get(second->object);
    return second;
}

void vmap_unsplit(vmap_t *first, vmap_t *second)
{
    mm_context_t *ctx = first->mmctx;
    ASSERT_LOCKED(ctx);
    MM_ASSERT(second->mmctx == ctx && second->vaddr == first->vaddr + first->npages * PAGE_SIZE &&
                  second->object == first->object && second->object_pgoff == first->object_pgoff + first->npages,
              "vmaps [%#lx, +%zu) and [%#lx, +%zu) are not the halves of one split", (unsigned long)first->vaddr,
              first->npages, (unsigned long)second->vaddr, second->npages);
    ptr_t end = second->node.end;
    vm_tree_remove(&ctx->vmaps, &second->node);
    int err = vm_tree_set_end(&ctx->vmaps, &first->node, end);
    MM_ASSERT(err == 0, "growing [%#lx, +%zu pages) failed: %d", (unsigned long)first->vaddr, first->npages, err);
    first->npages += second->npages;
    if (second->object)
        shm_put(second->object);
    slab_free(&vmap_cache, second);
}

void vmap_copy_attributes(vmap_t *dst, const vmap_t *src)
{
    dst->vmflags = src->vmflags;
    dst->type = src->type;
    dst->content = src->content;
    dst->on_fault = src->on_fault;
    dst->private_data = src->private_data;
    dst->reserved = src->reserved;
    dst->mmctx->reserved_vmaps += src->reserved;
    dst->object = src->object;
    dst->object_pgoff = src->object_pgoff;
    if (dst->object)
        shm_get(dst->object);
}

int vmap_split_at_edges(mm_context_t *ctx, ptr_t vaddr, ptr_t last)
{
    vmap_t *v = mm_vmap_first_from(ctx, vaddr), *head = NULL, *head_tail = NULL;
    if (v && v->vaddr < vaddr && !vmap_is_guard(v)) {
        vmap_t *tail = vmap_split(v, (vaddr - v->vaddr) >> PAGE_SHIFT);
        if (IS_ERR(tail))
            return (int)PTR_ERR(tail);
        head = v;
        head_tail = tail;
    }
    v = mm_vmap_first_from(ctx, last);
    if (v && v->vaddr <= last && v->vaddr + v->npages * PAGE_SIZE - 1 > last && !vmap_is_guard(v)) {
        vmap_t *tail = vmap_split(v, ((last + 1) - v->vaddr) >> PAGE_SHIFT);
        if (IS_ERR(tail)) {
            if (head)
                vmap_unsplit(head, head_tail); /* -ENOMEM changes nothing */
            return (int)PTR_ERR(tail);
        }
    }
    return 0;
}

size_t mm_vmap_count(mm_context_t *mmctx) { return mmctx->vmaps.count; }

vmap_t *mm_vmap_first_from(mm_context_t *mmctx, ptr_t vaddr)
{
    vm_tree_node_t *n = vm_tree_first_from(&mmctx->vmaps, vaddr);
    return n ? vmap_of(n) : NULL;
}

vmap_t *mm_vmap_next(vmap_t *vmap)
{
    vm_tree_node_t *n = vm_tree_next(&vmap->node);
    return n ? vmap_of(n) : NULL;
}
