/* mm/shm.c - shared anonymous memory objects: a radix tree of frame numbers
 * indexed by page index (see shm.h).
 *
 * A node is one frame of SHM_NODE_ENTRIES entries holding one reference
 * (like a page table); an entry is 0 when empty, else the frame number of
 * the child node (levels above 1) or of the page (level 1) plus one, so that
 * frame 0 needs no special case. */
#include "mm/shm.h"

#include "mm/internal.h"
#include "mm/platform.h"
#include "mm/pmm.h"
#include "mm/slab.h"

typedef uint64_t shm_entry_t;

static slab_cache_t shm_cache = SLAB_CACHE_INIT("shm_object", shm_object_t);
static size_t node_pages_total; /* every object's nodes (atomic: statistics read it without a lock) */

void shm_reset(void)
{
    shm_cache = (slab_cache_t)SLAB_CACHE_INIT("shm_object", shm_object_t);
    __atomic_store_n(&node_pages_total, 0, __ATOMIC_RELAXED);
}

size_t shm_node_pages_total(void) { return __atomic_load_n(&node_pages_total, __ATOMIC_RELAXED); }

static inline shm_entry_t entry_make(pfn_t p) { return (shm_entry_t)p + 1; }
static inline pfn_t entry_pfn(shm_entry_t e) { return (pfn_t)(e - 1); }
static inline shm_entry_t *node_entries(pfn_t node) { return pfn_va(node); }
static inline unsigned slot_of(size_t idx, unsigned level)
{
    return (unsigned)(idx >> (SHM_NODE_BITS * (level - 1))) & (SHM_NODE_ENTRIES - 1);
}

shm_object_t *shm_create(size_t npages)
{
    MM_ASSERT(npages > 0 && npages <= (size_t)1 << (SHM_NODE_BITS * SHM_MAX_HEIGHT), "object of %zu pages", npages);
    unsigned height = 1;
    while ((npages - 1) >> (SHM_NODE_BITS * height))
        height++;
    shm_object_t *o = slab_alloc(&shm_cache);
    if (!o)
        return NULL;
    *o = (shm_object_t){ .lock = SPINLOCK_INIT, .refs = 1, .npages = npages, .height = height, .root = PMM_NO_FRAME };
    return o;
}

void shm_get(shm_object_t *o)
{
    spinlock_acquire(&o->lock);
    MM_ASSERT(o->refs > 0 && o->refs < UINT32_MAX, "object %p has %u references", (void *)o, o->refs);
    o->refs++;
    spinlock_release(&o->lock);
}

static pfn_t node_alloc(void)
{
    pfn_t n = pmm_alloc_zeroed();
    if (n != PMM_NO_FRAME)
        pmm_ref(n); /* the object's, as a table holds its own */
    return n;
}

static void node_free(shm_object_t *o, pfn_t node)
{
    o->nodes--;
    __atomic_fetch_sub(&node_pages_total, 1, __ATOMIC_RELAXED);
    pmm_unref(node);
}

/* Drops every frame and node under node (at level), node included. */
static void free_subtree(shm_object_t *o, pfn_t node, unsigned level)
{
    shm_entry_t *e = node_entries(node);
    for (unsigned i = 0; i < SHM_NODE_ENTRIES; i++) {
        if (!e[i])
            continue;
        if (level == 1) {
            o->resident--;
            pmm_unref(entry_pfn(e[i]));
        } else {
            free_subtree(o, entry_pfn(e[i]), level - 1);
        }
    }
    node_free(o, node);
}

void shm_put(shm_object_t *o)
{
    spinlock_acquire(&o->lock);
    MM_ASSERT(o->refs > 0, "object %p has no reference to drop", (void *)o);
    bool last = --o->refs == 0;
    spinlock_release(&o->lock);
    if (!last)
        return;
    if (o->root != PMM_NO_FRAME)
        free_subtree(o, o->root, o->height);
    MM_ASSERT(o->resident == 0 && o->nodes == 0, "object %p: %zu pages and %zu nodes left after freeing its tree",
              (void *)o, o->resident, o->nodes);
    slab_free(&shm_cache, o);
}

/* The level-1 entry of idx, or NULL where a node on its path is missing. */
static shm_entry_t *leaf_slot(const shm_object_t *o, size_t idx)
{
    if (o->root == PMM_NO_FRAME)
        return NULL;
    pfn_t node = o->root;
    for (unsigned level = o->height; level > 1; level--) {
        shm_entry_t e = node_entries(node)[slot_of(idx, level)];
        if (!e)
            return NULL;
        node = entry_pfn(e);
    }
    return &node_entries(node)[slot_of(idx, 1)];
}

pfn_t shm_lookup(const shm_object_t *o, size_t idx)
{
    MM_ASSERT(idx < o->npages, "page %zu of a %zu-page object", idx, o->npages);
    shm_entry_t *s = leaf_slot(o, idx);
    return s && *s ? entry_pfn(*s) : PMM_NO_FRAME;
}

/* Adds page p at idx with the object's reference, creating the missing
 * nodes of its path: all of them are allocated before anything is linked,
 * so on -ENOMEM the object is untouched (and p not referenced). */
static int insert_locked(shm_object_t *o, size_t idx, pfn_t p)
{
    /* Descend while the nodes exist: `level` is the level of the first
     * missing node's parent, whose entry `link` it goes into (NULL: the
     * missing node is the root, level is height + 1). */
    unsigned level = o->height + 1;
    shm_entry_t *link = NULL;
    if (o->root != PMM_NO_FRAME) {
        pfn_t node = o->root;
        for (level = o->height; level > 1; level--) {
            link = &node_entries(node)[slot_of(idx, level)];
            if (!*link)
                break;
            node = entry_pfn(*link);
        }
        if (level == 1)
            link = &node_entries(node)[slot_of(idx, 1)];
    }
    /* fresh[i] is the node of level (level - 1 - i); the last is level 1. */
    pfn_t fresh[SHM_MAX_HEIGHT] = { 0 };
    unsigned missing = level - 1;
    for (unsigned i = 0; i < missing; i++) {
        fresh[i] = node_alloc();
        if (fresh[i] == PMM_NO_FRAME) {
            while (i--)
                pmm_unref(fresh[i]);
            return -ENOMEM;
        }
    }
    shm_entry_t value = entry_make(p);
    for (unsigned i = missing; i-- > 0;) {
        node_entries(fresh[i])[slot_of(idx, level - 1 - i)] = value;
        value = entry_make(fresh[i]);
    }
    if (link)
        *link = value;
    else
        o->root = fresh[0];
    o->nodes += missing;
    __atomic_fetch_add(&node_pages_total, missing, __ATOMIC_RELAXED);
    pmm_ref(p); /* the object's */
    o->resident++;
    return 0;
}

pfn_t shm_page(shm_object_t *o, size_t idx, bool *fresh)
{
    MM_ASSERT(idx < o->npages, "page %zu of a %zu-page object", idx, o->npages);
    spinlock_acquire(&o->lock);
    shm_entry_t *s = leaf_slot(o, idx);
    pfn_t p = s && *s ? entry_pfn(*s) : PMM_NO_FRAME;
    *fresh = false;
    if (p == PMM_NO_FRAME) {
        p = pmm_alloc_zeroed();
        if (p != PMM_NO_FRAME && insert_locked(o, idx, p)) {
            pmm_free(p);
            p = PMM_NO_FRAME;
        }
        *fresh = p != PMM_NO_FRAME;
    }
    if (p != PMM_NO_FRAME)
        pmm_ref(p); /* the caller's, taken under the lock: shm_page_abandon relies on it */
    spinlock_release(&o->lock);
    return p;
}

static bool node_empty(pfn_t node)
{
    const shm_entry_t *e = node_entries(node);
    for (unsigned i = 0; i < SHM_NODE_ENTRIES; i++)
        if (e[i])
            return false;
    return true;
}

/* Takes page idx (present) out of the tree, freeing the nodes left empty. */
static void remove_locked(shm_object_t *o, size_t idx)
{
    pfn_t path[SHM_MAX_HEIGHT]; /* path[level - 1]: the node of that level */
    pfn_t node = o->root;
    for (unsigned level = o->height; level >= 1; level--) {
        path[level - 1] = node;
        if (level > 1)
            node = entry_pfn(node_entries(node)[slot_of(idx, level)]);
    }
    shm_entry_t *leaf = &node_entries(path[0])[slot_of(idx, 1)];
    pfn_t p = entry_pfn(*leaf);
    *leaf = 0;
    o->resident--;
    pmm_unref(p);
    for (unsigned level = 1; level <= o->height && node_empty(path[level - 1]); level++) {
        if (level == o->height)
            o->root = PMM_NO_FRAME;
        else
            node_entries(path[level])[slot_of(idx, level + 1)] = 0;
        node_free(o, path[level - 1]);
    }
}

void shm_page_abandon(shm_object_t *o, size_t idx, pfn_t p)
{
    spinlock_acquire(&o->lock);
    pfn_t cur = shm_lookup(o, idx);
    MM_ASSERT(cur == p, "page %zu of object %p is %#llx, not %#llx", idx, (void *)o, (unsigned long long)cur,
              (unsigned long long)p);
    /* the object's reference and ours only: nobody else found it yet */
    if (pmm_refcount(p) == 2)
        remove_locked(o, idx);
    spinlock_release(&o->lock);
    pmm_unref(p);
}

static void visit(const shm_object_t *o, pfn_t node, unsigned level,
                  void (*fn)(void *arg, pfn_t pfn, unsigned level, size_t nentries), void *arg)
{
    const shm_entry_t *e = node_entries(node);
    size_t n = 0;
    for (unsigned i = 0; i < SHM_NODE_ENTRIES; i++) {
        if (!e[i])
            continue;
        n++;
        if (level == 1)
            fn(arg, entry_pfn(e[i]), 0, 0);
        else
            visit(o, entry_pfn(e[i]), level - 1, fn, arg);
    }
    fn(arg, node, level, n);
}

void shm_for_each_frame(const shm_object_t *o, void (*fn)(void *arg, pfn_t pfn, unsigned level, size_t nentries),
                        void *arg)
{
    if (o->root != PMM_NO_FRAME)
        visit(o, o->root, o->height, fn, arg);
}
