/* mm/vmap_tree.h - an ordered set of disjoint half-open ranges [start, end)
 * in a B-tree of wide nodes (VM_TREE_MAX entries in a few cache lines, as
 * Linux's maple tree), each entry of an inner node carrying the smallest
 * start, the largest end and the largest gap between consecutive ranges of
 * the child under it. Lookup by address and the search for the lowest free
 * range of a given size at or above a hint are both O(log n), and touch one
 * node per level: 5 levels at 100 000 ranges, where a binary tree has 17.
 *
 * The ranges are the owner's objects (vm_tree_node_t embedded in them,
 * linked in address order by the tree); the tree's own nodes come from the
 * allocator the owner gives (vm_tree_alloc_t). Only an insert allocates; it
 * takes every node it needs before it changes anything, so -ENOMEM leaves
 * the tree as it was. Removal, lookup and search never allocate and cannot
 * fail. No locking (the owner's lock protects the tree); pure C, no platform
 * services. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_TREE_MAX 15        /* entries per tree node */
#define VM_TREE_MIN 7         /* entries of every node but the root, at least */
#define VM_TREE_MAX_HEIGHT 24 /* more levels than 2^64 ranges need at the minimum fill */

/* A range, embedded in the owner's object. start and end are set by the
 * owner before the insert and changed only through the tree afterwards
 * (vm_tree_set_end); prev and next are the tree's. */
typedef struct vm_tree_node {
    uintptr_t start, end;            /* the range, start < end */
    struct vm_tree_node *prev, *next; /* neighbours in address order, NULL at the ends */
} vm_tree_node_t;

/* A node of the B-tree. Its entries 0..count-1 are in address order; those
 * past count hold hi = UINTPTR_MAX, so a lookup can count the entries that
 * end at or below an address over the whole array without a bound check.
 * Entry i of a leaf is a range: lo/hi its start/end, gap 0, ptr its
 * vm_tree_node_t. Entry i of an inner node is a child (ptr): lo the smallest
 * start and hi the largest end under it, gap the largest distance between
 * consecutive ranges under it. The arrays are apart so that a lookup reads
 * only hi[] and one ptr[] per level. */
typedef struct vm_tree_bnode {
    uintptr_t hi[VM_TREE_MAX];
    uintptr_t lo[VM_TREE_MAX];
    uintptr_t gap[VM_TREE_MAX];
    void *ptr[VM_TREE_MAX];
    unsigned count;
    unsigned level; /* 0 for a leaf, the parent's level - 1 */
} vm_tree_bnode_t;

/* Where a tree's nodes come from: alloc returns a node of
 * sizeof(vm_tree_bnode_t) bytes (contents undefined), or NULL when out of
 * memory; free gives one back. */
typedef struct vm_tree_alloc {
    vm_tree_bnode_t *(*alloc)(void *arg);
    void (*free)(void *arg, vm_tree_bnode_t *node);
    void *arg;
} vm_tree_alloc_t;

typedef struct vm_tree {
    vm_tree_bnode_t *root; /* NULL when empty */
    unsigned height;       /* levels: 0 empty, 1 the root is a leaf */
    size_t count;          /* ranges */
    size_t nodes;          /* tree nodes held (memory: nodes * sizeof(vm_tree_bnode_t)) */
    const vm_tree_alloc_t *alloc;
} vm_tree_t;

#define VM_TREE_INIT(allocator) { NULL, 0, 0, 0, (allocator) }

/* Inserts node (start/end already set; prev/next are set here). Returns 0,
 * -EINVAL (22) if start >= end, -EEXIST (17) if it overlaps a range in the
 * tree, -ENOMEM (12) if the allocator failed; on failure the tree is
 * unchanged (every node taken is given back). Allocates at most one node
 * per level plus a new root, and only when the nodes on its path and their
 * neighbours are full. */
int vm_tree_insert(vm_tree_t *t, vm_tree_node_t *node);
/* Removes node, which must be in the tree, and clears its prev/next. Frees
 * the tree nodes left underfull (merging neighbours); never allocates. */
void vm_tree_remove(vm_tree_t *t, vm_tree_node_t *node);
/* Moves the end of node (in the tree) to end: 0, -EINVAL (22) if end <=
 * node->start, -EEXIST (17) if it would overlap the next range (node is
 * unchanged then). Never allocates. */
int vm_tree_set_end(vm_tree_t *t, vm_tree_node_t *node, uintptr_t end);
/* The node whose range contains addr, or NULL. */
vm_tree_node_t *vm_tree_find(const vm_tree_t *t, uintptr_t addr);
/* The first node (lowest start) whose range ends above addr, or NULL. */
vm_tree_node_t *vm_tree_first_from(const vm_tree_t *t, uintptr_t addr);
/* In-order neighbours, or NULL. O(1). */
static inline vm_tree_node_t *vm_tree_next(const vm_tree_node_t *node) { return node->next; }
static inline vm_tree_node_t *vm_tree_prev(const vm_tree_node_t *node) { return node->prev; }
/* True if some node overlaps [start, end). */
bool vm_tree_overlaps(const vm_tree_t *t, uintptr_t start, uintptr_t end);
/* The lowest address a with max(base, lo) <= a, a + size <= hi, such that
 * [a, a + size) overlaps no node; a is a multiple of `align` (a power of
 * two). Returns 0 and sets *out, or -ENOMEM (12) if there is none.
 * O(log n) node visits when ranges and base are multiples of align. */
int vm_tree_find_free(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                      uintptr_t align, uintptr_t *out);
/* Same as vm_tree_find_free, and adds the number of tree nodes it visited
 * to *visits (for tests that bound the search cost). size == 0 or an align
 * that is not a power of two is refused by both with -EINVAL (22). */
int vm_tree_find_free_visits(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                             uintptr_t align, uintptr_t *out, size_t *visits);
/* Checks every invariant (see the codes below); returns 0 or the code of
 * the first broken one. For tests and the invariant checker. */
int vm_tree_check(const vm_tree_t *t);

/* The codes vm_tree_check returns. Per node, it checks the node's shape
 * (fill, unused slots) before its entries, and a child before the entry
 * that sums it up, so the lowest broken node is named. */
enum vm_tree_check_error {
    VM_TREE_BAD_COUNT = -1,  /* more or fewer ranges than t->count, or tree nodes than t->nodes */
    VM_TREE_BAD_HEIGHT = -2, /* a node's level is not its depth from the root (leaves at t->height - 1
                                levels below it), or height 0 or above VM_TREE_MAX_HEIGHT */
    VM_TREE_BAD_FILL = -3,   /* a node with fewer than VM_TREE_MIN entries (root: 1, inner root: 2) or more
                                than VM_TREE_MAX, or an unused slot with hi != UINTPTR_MAX */
    VM_TREE_BAD_RANGE = -4,  /* start >= end, or a leaf entry's lo/hi differ from its node's start/end */
    VM_TREE_BAD_ORDER = -5,  /* ranges not sorted and disjoint */
    VM_TREE_BAD_LINK = -6,   /* prev/next disagree with the order */
    VM_TREE_BAD_LO = -7,     /* an inner entry's lo is not its child's smallest start */
    VM_TREE_BAD_HI = -8,     /* an inner entry's hi is not its child's largest end */
    VM_TREE_BAD_GAP = -9,    /* an entry's gap is not its child's largest inner gap (a leaf's: not 0) */
};
