/* mm/slab.c - fixed-size object caches. */
#include "mm/slab.h"

#include "mm/platform.h"
#include "mm/pmm.h"

struct slab_page {
    slab_page_t *next, *prev; /* in the cache's partial list */
    void *free;               /* first free object, linked through the objects */
    pfn_t pfn;
    unsigned inuse, capacity;
};

#define SLAB_HEADER ALIGN_UP(sizeof(slab_page_t), 16)

static size_t pages_total; /* every cache's pages (atomic: statistics read it without a lock) */

size_t slab_pages_total(void) { return __atomic_load_n(&pages_total, __ATOMIC_RELAXED); }

void slab_reset(void) { __atomic_store_n(&pages_total, 0, __ATOMIC_RELAXED); }

static void partial_remove(slab_cache_t *c, slab_page_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        c->partial = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

static void partial_push(slab_cache_t *c, slab_page_t *p)
{
    p->prev = NULL;
    p->next = c->partial;
    if (c->partial)
        c->partial->prev = p;
    c->partial = p;
}

static slab_page_t *slab_grow(slab_cache_t *c)
{
    size_t size = ALIGN_UP(c->objsize, 16);
    MM_ASSERT(size + SLAB_HEADER <= PAGE_SIZE, "cache %s: object of %zu bytes does not fit a page", c->name, c->objsize);
    pfn_t pfn = pmm_alloc_order(0);
    if (pfn == PMM_NO_FRAME)
        return NULL;
    pmm_ref(pfn);
    slab_page_t *p = pfn_va(pfn);
    *p = (slab_page_t){ .pfn = pfn, .capacity = (unsigned)((PAGE_SIZE - SLAB_HEADER) / size) };
    char *obj = (char *)p + SLAB_HEADER;
    for (unsigned i = 0; i < p->capacity; i++, obj += size) {
        *(void **)obj = p->free;
        p->free = obj;
    }
    __atomic_fetch_add(&c->pages, 1, __ATOMIC_RELAXED); /* read without the lock (statistics) */
    __atomic_fetch_add(&pages_total, 1, __ATOMIC_RELAXED);
    partial_push(c, p);
    return p;
}

void *slab_alloc(slab_cache_t *c)
{
    if (pmm_injected_failure())
        return NULL;
    spinlock_acquire(&c->lock);
    slab_page_t *p = c->partial;
    if (!p && !(p = slab_grow(c))) {
        spinlock_release(&c->lock);
        return NULL;
    }
    void *obj = p->free;
    p->free = *(void **)obj;
    if (++p->inuse == p->capacity)
        partial_remove(c, p);
    __atomic_fetch_add(&c->live, 1, __ATOMIC_RELAXED);
    spinlock_release(&c->lock);
    __builtin_memset(obj, 0, c->objsize);
    return obj;
}

void slab_free(slab_cache_t *c, void *obj)
{
    slab_page_t *p = (slab_page_t *)ALIGN_DOWN((uintptr_t)obj, PAGE_SIZE);
    spinlock_acquire(&c->lock);
    MM_ASSERT(p->inuse > 0 && p->inuse <= p->capacity, "cache %s: object %p in a page with %u in use", c->name, obj, p->inuse);
    if (p->inuse-- == p->capacity)
        partial_push(c, p);
    *(void **)obj = p->free;
    p->free = obj;
    __atomic_fetch_sub(&c->live, 1, __ATOMIC_RELAXED);
    if (p->inuse == 0) {
        partial_remove(c, p);
        __atomic_fetch_sub(&c->pages, 1, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&pages_total, 1, __ATOMIC_RELAXED);
        pmm_unref(p->pfn);
    }
    spinlock_release(&c->lock);
}
