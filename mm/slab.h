/* mm/slab.h - fixed-size object caches on whole frames (vmap_t,
 * mm_context_t). A page holds a header and as many objects as fit; a page
 * whose objects are all free goes back to the frame allocator. */
#pragma once

#include "mm/lock.h"

typedef struct slab_page slab_page_t;

typedef struct slab_cache {
    const char *name;
    size_t objsize;
    spinlock_t lock;
    slab_page_t *partial; /* pages with at least one free object */
    size_t pages;         /* frames held (changed under lock with atomics: readable without it) */
    size_t live;          /* objects handed out (same) */
} slab_cache_t;

#define SLAB_CACHE_INIT(n, type) { .name = (n), .objsize = sizeof(type), .lock = SPINLOCK_INIT }

/* A zeroed object, or NULL when no frame is left (or an injected failure). */
void *slab_alloc(slab_cache_t *c);
/* Gives obj back; a page left empty returns to the frame allocator. */
void slab_free(slab_cache_t *c, void *obj);
/* Frames held by every cache together (each page holds one reference). */
size_t slab_pages_total(void);
/* Forgets the count (mm_init: every cache of the generic layer starts afresh). */
void slab_reset(void);
