/* mm/check.h - an invariant checker for tests (host and boot): it walks the
 * real tables of every live context on its own (independently of the
 * walker it checks) and verifies:
 *  - every present user entry is a 4 KiB leaf of an allocated frame, inside a
 *    vmap whose flags allow what the entry allows; a writable page of
 *    copy-on-write memory holds its frame alone (refcount 1, never the zero
 *    page);
 *    a page of a shared-object vmap maps the object's frame;
 *  - every mapped frame's refcount equals its user mappings plus its other
 *    known holders (the zero page's permanent reference, shared objects);
 *  - every table page holds one reference, and the tables found equal the
 *    table-page count (roots, shared kernel half, user halves);
 *  - every context's vmap tree keeps its invariants (vm_tree_check: order,
 *    fill, levels, each entry's lo/hi/largest gap, links), each vmap's
 *    range in it is its pages, and the vmaps and tree nodes of all trees
 *    equal those allocated (nothing leaked).
 * Call it quiescent: no other thread may change contexts meanwhile. */
#pragma once

#include "mm/mm.h"

typedef struct mm_check_report {
    size_t checks;     /* facts verified */
    size_t violations; /* facts found false */
    char first[200];   /* the first violation, readable */
} mm_check_report_t;

/* 0 if every invariant holds, -EINVAL if not (see *r), -ENOMEM if the
 * checker's scratch frames could not be allocated. */
int mm_check_invariants(mm_check_report_t *r);
