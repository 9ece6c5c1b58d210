/* mm/shm.h - shared anonymous memory objects: the frames behind shared
 * vmaps, found by page index, so every context mapping the object sees the
 * same frame for a page however late it is first touched. */
#pragma once

#include "mm/lock.h"
#include "mm/types.h"

typedef struct shm_object {
    spinlock_t lock;
    uint32_t refs;      /* vmaps referring to the object */
    size_t npages;
    pfn_t *pages;       /* 0: not yet touched; else a frame holding one reference of the object */
    pfn_t array_pfn;    /* frames holding `pages` */
    unsigned array_order;
    uint32_t check_mark; /* used by the invariant checker */
} shm_object_t;

/* An object of npages untouched pages with one reference, or NULL (-ENOMEM). */
shm_object_t *shm_create(size_t npages);
void shm_get(shm_object_t *o);
/* Drops a reference; the last one releases every frame and the object. */
void shm_put(shm_object_t *o);
/* The frame of page idx, allocated zeroed on first use, with one more
 * reference that the caller owns and drops (pmm_unref) once it has mapped
 * the frame or given up; PMM_NO_FRAME when memory is exhausted. *fresh
 * tells whether it was just allocated. */
pfn_t shm_page(shm_object_t *o, size_t idx, bool *fresh);
/* Undo of a shm_page() that allocated p and whose mapping failed: drops the
 * caller's reference, and takes p back out of the object (freeing it) if
 * nobody else took it meanwhile. */
void shm_page_abandon(shm_object_t *o, size_t idx, pfn_t p);
