/* kernel/ptwalk.h - a read-only walker over page tables, written only with
 * the HAL codec (hal_pte_*): the fault report's walk and the ptdump. */
#pragma once

#include "hal/hal.h"

typedef struct pt_step {
    unsigned level;  /* geometry->levels (root) down to 1 */
    unsigned index;  /* entry index in the table at this level */
    pfn_t table;     /* the table read */
    pte_t entry;     /* its entry for the address */
} pt_step_t;

/* Walks va from root down to the leaf or the first non-present entry.
 * Fills steps (at most HAL_MAX_LEVELS) and returns how many. */
size_t pt_walk_path(pfn_t root, const hal_geometry_t *g, ptr_t va, pt_step_t *steps);
/* Prints the walk of va, one line per level. */
void pt_print_path(pfn_t root, const hal_geometry_t *g, ptr_t va);

typedef struct pt_leaf {
    ptr_t va;        /* first address the leaf maps */
    unsigned level;  /* 1: 4 KiB, 2: 2 MiB, 3: 1 GiB ... */
    pte_t entry;
} pt_leaf_t;
typedef void (*pt_leaf_fn)(const pt_leaf_t *leaf, void *arg);

/* Calls fn for every present leaf whose range meets [first, last], in
 * address order; holes are skipped. */
void pt_for_each_leaf(pfn_t root, const hal_geometry_t *g, ptr_t first, ptr_t last, pt_leaf_fn fn, void *arg);

typedef struct pt_dump_stats {
    size_t ranges;            /* lines printed */
    size_t leaves[HAL_MAX_LEVELS + 1]; /* leaves per level */
    size_t writable_exec;     /* leaves both writable and executable */
} pt_dump_stats_t;
/* Prints the mappings of [first, last] like Linux's ptdump: contiguous
 * leaves of one level with the same flags (and contiguous frames) merged
 * into one line. Fills *stats if not NULL. */
void pt_dump(pfn_t root, const hal_geometry_t *g, ptr_t first, ptr_t last, pt_dump_stats_t *stats);
/* The flags string of a leaf: "rwx u g" style, into buf (>= 16 bytes). */
const char *pt_flags_str(vm_flags f, char *buf);
