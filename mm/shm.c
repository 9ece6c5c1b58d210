/* mm/shm.c - shared anonymous memory objects. */
#include "mm/shm.h"

#include "mm/platform.h"
#include "mm/pmm.h"
#include "mm/slab.h"

static slab_cache_t shm_cache = SLAB_CACHE_INIT("shm_object", shm_object_t);

void shm_reset(void) { shm_cache = (slab_cache_t)SLAB_CACHE_INIT("shm_object", shm_object_t); }

shm_object_t *shm_create(size_t npages)
{
    size_t bytes = npages * sizeof(pfn_t);
    unsigned order = 0;
    while (((size_t)PAGE_SIZE << order) < bytes)
        if (++order > PMM_MAX_ORDER)
            return NULL;
    shm_object_t *o = slab_alloc(&shm_cache);
    if (!o)
        return NULL;
    pfn_t array = pmm_alloc_order(order);
    if (array == PMM_NO_FRAME) {
        slab_free(&shm_cache, o);
        return NULL;
    }
    __builtin_memset(pfn_va(array), 0, (size_t)PAGE_SIZE << order);
    *o = (shm_object_t){ .lock = SPINLOCK_INIT, .refs = 1, .npages = npages, .pages = pfn_va(array),
                         .array_pfn = array, .array_order = order };
    return o;
}

void shm_get(shm_object_t *o)
{
    spinlock_acquire(&o->lock);
    MM_ASSERT(o->refs > 0 && o->refs < UINT32_MAX, "object %p has %u references", (void *)o, o->refs);
    o->refs++;
    spinlock_release(&o->lock);
}

void shm_put(shm_object_t *o)
{
    spinlock_acquire(&o->lock);
    MM_ASSERT(o->refs > 0, "object %p has no reference to drop", (void *)o);
    bool last = --o->refs == 0;
    spinlock_release(&o->lock);
    if (!last)
        return;
    for (size_t i = 0; i < o->npages; i++)
        if (o->pages[i])
            pmm_unref(o->pages[i]);
    pmm_free_order(o->array_pfn, o->array_order);
    slab_free(&shm_cache, o);
}

pfn_t shm_page(shm_object_t *o, size_t idx, bool *fresh)
{
    MM_ASSERT(idx < o->npages, "page %zu of a %zu-page object", idx, o->npages);
    spinlock_acquire(&o->lock);
    pfn_t p = o->pages[idx];
    *fresh = false;
    if (!p) {
        p = pmm_alloc_zeroed();
        if (p != PMM_NO_FRAME) {
            pmm_ref(p); /* the object's */
            o->pages[idx] = p;
            *fresh = true;
        }
    }
    if (p != PMM_NO_FRAME)
        pmm_ref(p); /* the caller's, taken under the lock: shm_page_abandon relies on it */
    spinlock_release(&o->lock);
    return p;
}

void shm_page_abandon(shm_object_t *o, size_t idx, pfn_t p)
{
    spinlock_acquire(&o->lock);
    MM_ASSERT(o->pages[idx] == p, "page %zu of object %p is %#llx, not %#llx", idx, (void *)o,
              (unsigned long long)o->pages[idx], (unsigned long long)p);
    /* the object's reference and ours only: nobody else found it yet */
    bool drop = pmm_refcount(p) == 2;
    if (drop) {
        o->pages[idx] = 0;
        pmm_unref(p);
    }
    spinlock_release(&o->lock);
    pmm_unref(p);
}
