/* mm/shm.h - shared anonymous memory objects: the frames behind shared
 * vmaps, found by page index, so every context mapping the object sees the
 * same frame for a page however late it is first touched.
 *
 * The frames are indexed by a radix tree of node pages, SHM_NODE_ENTRIES
 * entries each (like a page table), whose nodes are allocated as pages are
 * first touched: an untouched object of any size costs its slab slot only,
 * and a touched page costs its frame plus the nodes on its path that did not
 * exist yet. The tree's height is fixed at creation (the fewest levels that
 * cover npages), and no node of it is ever empty. */
#pragma once

#include "mm/lock.h"
#include "mm/types.h"

#define SHM_NODE_BITS 9
#define SHM_NODE_ENTRIES (1u << SHM_NODE_BITS) /* one page of 8-byte entries */
#define SHM_MAX_HEIGHT 6                        /* covers 2^54 pages: any user half */

typedef struct shm_object {
    spinlock_t lock;
    uint32_t refs;      /* vmaps referring to the object */
    size_t npages;
    unsigned height;    /* levels of nodes: the tree covers SHM_NODE_ENTRIES^height pages */
    pfn_t root;         /* top node, PMM_NO_FRAME while no page is touched */
    size_t resident;    /* touched pages: frames holding one reference of the object */
    size_t nodes;       /* node pages of the tree */
    uint32_t check_mark; /* used by the invariant checker */
} shm_object_t;

/* An object of npages untouched pages (0 < npages <= 2^54) with one
 * reference, or NULL (-ENOMEM: no slab object). Takes no frame beyond the
 * slab's. */
shm_object_t *shm_create(size_t npages);
void shm_get(shm_object_t *o);
/* Drops a reference; the last one drops every frame's reference and frees
 * every node and the object. */
void shm_put(shm_object_t *o);
/* The frame of page idx, allocated zeroed on first use (with the nodes its
 * path lacks), with one more reference that the caller owns and drops
 * (pmm_unref) once it has mapped the frame or given up; PMM_NO_FRAME when
 * memory is exhausted, the object then unchanged. *fresh tells whether it
 * was just allocated. Takes o->lock. */
pfn_t shm_page(shm_object_t *o, size_t idx, bool *fresh);
/* Undo of a shm_page() that allocated p and whose mapping failed: drops the
 * caller's reference, and takes p back out of the object (freeing it and
 * the nodes left empty, so the object is as before the shm_page) if nobody
 * else took it meanwhile. Takes o->lock. */
void shm_page_abandon(shm_object_t *o, size_t idx, pfn_t p);
/* The frame of page idx, or PMM_NO_FRAME if untouched; no reference taken.
 * Needs o->lock, or a quiescent object (the invariant checker, tests). */
pfn_t shm_lookup(const shm_object_t *o, size_t idx);
/* Calls fn on every node page (with its level, 1 = the leaves' nodes) and
 * every frame (level 0) of the object. Same locking as shm_lookup. */
void shm_for_each_frame(const shm_object_t *o, void (*fn)(void *arg, pfn_t pfn, unsigned level, size_t nentries),
                        void *arg);
