/* mm/vmap_tree.h - an ordered set of disjoint half-open ranges [start, end)
 * in a balanced (AVL) tree whose nodes carry the largest free gap in their
 * subtree, so that lookup by address and the search for the lowest free
 * range of a given size at or above a hint are both O(log n).
 *
 * Intrusive: embed vm_tree_node_t in your object. No allocation, no locking
 * (the owner's lock protects the tree). Pure C, no platform services. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vm_tree_node {
    struct vm_tree_node *left, *right, *parent;
    uintptr_t start, end;   /* the range, start < end */
    /* Augmentation, maintained by the tree: */
    uintptr_t min_start;    /* smallest start in this subtree */
    uintptr_t max_end;      /* largest end in this subtree */
    uintptr_t max_gap;      /* largest gap between consecutive ranges inside this subtree */
    int height;
} vm_tree_node_t;

typedef struct vm_tree {
    vm_tree_node_t *root;
    size_t count;
} vm_tree_t;

#define VM_TREE_INIT { NULL, 0 }

/* Inserts node (start/end already set). Returns 0, or -EEXIST (17) if it
 * overlaps a range already in the tree (the tree is unchanged). A node with
 * start >= end is refused with -EINVAL (22), tree unchanged. */
int vm_tree_insert(vm_tree_t *t, vm_tree_node_t *node);
/* Removes node, which must be in the tree. */
void vm_tree_remove(vm_tree_t *t, vm_tree_node_t *node);
/* The node whose range contains addr, or NULL. */
vm_tree_node_t *vm_tree_find(const vm_tree_t *t, uintptr_t addr);
/* The first node (lowest start) whose range ends above addr, or NULL. */
vm_tree_node_t *vm_tree_first_from(const vm_tree_t *t, uintptr_t addr);
/* In-order neighbours, or NULL. */
vm_tree_node_t *vm_tree_next(const vm_tree_node_t *node);
vm_tree_node_t *vm_tree_prev(const vm_tree_node_t *node);
/* True if some node overlaps [start, end). */
bool vm_tree_overlaps(const vm_tree_t *t, uintptr_t start, uintptr_t end);
/* The lowest address a with max(base, lo) <= a, a + size <= hi, such that
 * [a, a + size) overlaps no node; a is a multiple of `align` (a power of
 * two). Returns 0 and sets *out, or -ENOMEM (12) if there is none.
 * O(log n) visits when ranges and base are multiples of align. */
int vm_tree_find_free(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                      uintptr_t align, uintptr_t *out);
/* Same as vm_tree_find_free, and adds the number of tree nodes it visited
 * to *visits (for tests that bound the search cost). size == 0 or an align
 * that is not a power of two is refused by both with -EINVAL (22). */
int vm_tree_find_free_visits(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                             uintptr_t align, uintptr_t *out, size_t *visits);
/* Checks every invariant (order, disjointness, balance, augmentation,
 * parent links, count); returns 0 or a negative code naming the first
 * broken one. For tests. */
int vm_tree_check(const vm_tree_t *t);

/* The codes vm_tree_check returns, in the order it tests them per node. */
enum vm_tree_check_error {
    VM_TREE_BAD_COUNT = -1,    /* more or fewer nodes reachable than t->count (or a cycle) */
    VM_TREE_BAD_PARENT = -2,   /* a parent pointer disagrees with the child link */
    VM_TREE_BAD_RANGE = -3,    /* start >= end */
    VM_TREE_BAD_ORDER = -4,    /* ranges not sorted and disjoint in order */
    VM_TREE_BAD_HEIGHT = -5,   /* stored height wrong */
    VM_TREE_BAD_BALANCE = -6,  /* subtree heights differ by more than one */
    VM_TREE_BAD_MIN_START = -7,
    VM_TREE_BAD_MAX_END = -8,
    VM_TREE_BAD_MAX_GAP = -9,
};
