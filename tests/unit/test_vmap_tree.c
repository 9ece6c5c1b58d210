/* tests/unit/test_vmap_tree.c - the range tree (mm/vmap_tree.c): basics with
 * exact values, the free-range search at its edges (base, lo, hi, align,
 * the top of the address space), node allocation failing at every point of
 * an insert, a randomized differential test against a sorted-array model
 * (with failing allocations and end moves), the invariant checker naming
 * each broken invariant, and the height, fill and search cost at 100 000
 * ranges. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mm/vmap_tree.h"

#define EEXIST_ 17
#define ENOMEM_ 12
#define EINVAL_ 22

/* The tests' node allocator: malloc, counting live nodes; when budget is
 * not negative, only that many more allocations succeed. */
static size_t nodes_live;
static long budget = -1;

/* Every node the tests' allocator hands out, so that the suite's teardown
 * frees what a test's tree still holds when the test ends (tests that prove
 * the tree gives every node back check nodes_live themselves). */
typedef struct tracked {
    struct tracked *prev, *next;
    vm_tree_bnode_t node;
} tracked_t;
static tracked_t live_list = { .prev = &live_list, .next = &live_list };

static vm_tree_bnode_t *test_alloc(void *arg)
{
    (void)arg;
    if (budget == 0)
        return NULL;
    if (budget > 0)
        budget--;
    tracked_t *w = malloc(sizeof *w);
    cr_assert_not_null(w);
    memset(&w->node, 0xa5, sizeof w->node); /* undefined contents, as the contract says */
    w->next = live_list.next;
    w->prev = &live_list;
    live_list.next->prev = w;
    live_list.next = w;
    nodes_live++;
    return &w->node;
}

static void test_free(void *arg, vm_tree_bnode_t *n)
{
    (void)arg;
    cr_assert_gt(nodes_live, 0);
    tracked_t *w = (tracked_t *)((char *)n - offsetof(tracked_t, node));
    w->prev->next = w->next;
    w->next->prev = w->prev;
    nodes_live--;
    free(w);
}

static void free_leftover_nodes(void)
{
    while (live_list.next != &live_list) {
        tracked_t *w = live_list.next;
        live_list.next = w->next;
        free(w);
    }
    live_list.prev = &live_list;
    nodes_live = 0;
    budget = -1;
}

TestSuite(vmap_tree, .fini = free_leftover_nodes);

static const vm_tree_alloc_t talloc = { test_alloc, test_free, NULL };

#define TREE_INIT VM_TREE_INIT(&talloc)

static vm_tree_node_t *mk(vm_tree_node_t *n, uintptr_t start, uintptr_t end)
{
    n->start = start;
    n->end = end;
    return n;
}

/* Asserts that the tree holds exactly the given ranges, in order, walking
 * forward with next and backward with prev. */
static void expect_ranges(const vm_tree_t *t, const uintptr_t (*r)[2], size_t n)
{
    vm_tree_node_t *x = vm_tree_first_from(t, 0), *last = NULL;
    size_t i;

    cr_assert_eq(t->count, n);
    for (i = 0; i < n; i++, x = vm_tree_next(x)) {
        cr_assert_not_null(x, "range %zu missing", i);
        cr_assert_eq(x->start, r[i][0], "range %zu start %#lx", i, (unsigned long)x->start);
        cr_assert_eq(x->end, r[i][1], "range %zu end %#lx", i, (unsigned long)x->end);
        last = x;
    }
    cr_assert_null(x);
    for (i = n; i-- > 0; last = vm_tree_prev(last)) {
        cr_assert_not_null(last);
        cr_assert_eq(last->start, r[i][0]);
    }
    cr_assert_null(last);
    cr_assert_eq(vm_tree_check(t), 0);
}

Test(vmap_tree, empty_tree_finds_nothing_and_is_valid)
{
    vm_tree_t t = TREE_INIT;
    uintptr_t a = 7;

    cr_assert_null(vm_tree_find(&t, 0));
    cr_assert_null(vm_tree_first_from(&t, 0));
    cr_assert_not(vm_tree_overlaps(&t, 0, UINTPTR_MAX));
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(vm_tree_find_free(&t, 0x1000, 0x2000, 0, 0x10000, 0x1000, &a), 0);
    cr_assert_eq(a, 0x1000);
}

Test(vmap_tree, insert_find_remove_basics)
{
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[3];

    cr_assert_eq(vm_tree_insert(&t, mk(&n[0], 0x2000, 0x3000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[1], 0x5000, 0x8000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[2], 0x1000, 0x1800)), 0);
    cr_assert_eq(t.count, 3);
    cr_assert_eq(vm_tree_check(&t), 0);

    cr_assert_eq(vm_tree_find(&t, 0x1000), &n[2]);
    cr_assert_eq(vm_tree_find(&t, 0x17ff), &n[2]);
    cr_assert_null(vm_tree_find(&t, 0x1800));
    cr_assert_eq(vm_tree_find(&t, 0x2000), &n[0]);
    cr_assert_eq(vm_tree_find(&t, 0x2fff), &n[0]);
    cr_assert_null(vm_tree_find(&t, 0x3000));
    cr_assert_null(vm_tree_find(&t, 0x4fff));
    cr_assert_eq(vm_tree_find(&t, 0x7fff), &n[1]);
    cr_assert_null(vm_tree_find(&t, 0x8000));
    cr_assert_null(vm_tree_find(&t, 0xfff));

    vm_tree_remove(&t, &n[0]);
    cr_assert_eq(t.count, 2);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_null(vm_tree_find(&t, 0x2000));
    cr_assert_null(n[0].prev);
    cr_assert_null(n[0].next);
    cr_assert_eq(n[2].next, &n[1]);
    cr_assert_eq(n[1].prev, &n[2]);
    cr_assert_eq(vm_tree_find(&t, 0x1000), &n[2]);
    cr_assert_eq(vm_tree_find(&t, 0x5000), &n[1]);

    vm_tree_remove(&t, &n[2]);
    vm_tree_remove(&t, &n[1]);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
    cr_assert_eq(t.height, 0);
    cr_assert_eq(t.nodes, 0);
    cr_assert_eq(nodes_live, 0, "%zu tree nodes not given back", nodes_live);
    cr_assert_eq(vm_tree_check(&t), 0);
}

Test(vmap_tree, overlapping_insert_refused_tree_unchanged)
{
    static const uintptr_t want[][2] = { { 0x1000, 0x2000 }, { 0x4000, 0x6000 }, { 0x8000, 0x9000 } };
    static const uintptr_t bad[][2] = {
        { 0x4000, 0x6000 }, /* identical */
        { 0x3000, 0x7000 }, /* contains */
        { 0x4800, 0x5000 }, /* contained */
        { 0x3000, 0x4001 }, /* overlaps the first byte */
        { 0x5fff, 0x7000 }, /* overlaps the last byte */
        { 0x1fff, 0x8001 }, /* spans three */
        { 0x0, UINTPTR_MAX },
    };
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[3], extra;
    size_t i;

    for (i = 0; i < 3; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&n[i], want[i][0], want[i][1])), 0);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(vm_tree_insert(&t, mk(&extra, bad[i][0], bad[i][1])), -EEXIST_, "case %zu", i);
        expect_ranges(&t, want, 3);
    }
}

Test(vmap_tree, empty_or_inverted_range_refused_einval)
{
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t a, b;

    cr_assert_eq(vm_tree_insert(&t, mk(&a, 0x1000, 0x1000)), -EINVAL_);
    cr_assert_eq(vm_tree_insert(&t, mk(&b, 0x2000, 0x1000)), -EINVAL_);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
}

Test(vmap_tree, adjacent_ranges_accepted)
{
    static const uintptr_t want[][2] = { { 0x0, 0x1000 }, { 0x1000, 0x2000 }, { 0x2000, 0x3000 } };
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[3];

    cr_assert_eq(vm_tree_insert(&t, mk(&n[1], 0x1000, 0x2000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[2], 0x2000, 0x3000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[0], 0x0, 0x1000)), 0);
    expect_ranges(&t, want, 3);
    uintptr_t a = 0xdead;
    cr_assert_eq(vm_tree_find_free(&t, 0, 1, 0, 0x3000, 1, &a), -ENOMEM_, "no gap between adjacent ranges");
    cr_assert_eq(a, 0xdead);
    cr_assert_eq(vm_tree_find(&t, 0x1fff), &n[1]);
    cr_assert_eq(vm_tree_find(&t, 0x2000), &n[2]);
}

Test(vmap_tree, first_from_next_prev_walk_in_order)
{
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[10];
    vm_tree_node_t *x;
    int i;

    /* Inserted out of order: range i is [i * 0x100 + 0x10, i * 0x100 + 0x80). */
    for (i = 0; i < 10; i++) {
        int k = (i * 7) % 10;
        cr_assert_eq(vm_tree_insert(&t, mk(&n[k], (uintptr_t)k * 0x100 + 0x10, (uintptr_t)k * 0x100 + 0x80)), 0);
    }
    cr_assert_eq(vm_tree_first_from(&t, 0), &n[0]);
    cr_assert_eq(vm_tree_first_from(&t, 0x7f), &n[0]);
    cr_assert_eq(vm_tree_first_from(&t, 0x80), &n[1]);  /* end is exclusive */
    cr_assert_eq(vm_tree_first_from(&t, 0x90), &n[1]);  /* in a gap: the next range */
    cr_assert_eq(vm_tree_first_from(&t, 0x950), &n[9]);
    cr_assert_null(vm_tree_first_from(&t, 0x980));
    for (i = 0, x = vm_tree_first_from(&t, 0); x; x = vm_tree_next(x), i++)
        cr_assert_eq(x, &n[i]);
    cr_assert_eq(i, 10);
    for (i = 9, x = &n[9]; x; x = vm_tree_prev(x), i--)
        cr_assert_eq(x, &n[i]);
    cr_assert_eq(i, -1);
}

Test(vmap_tree, overlaps_reports_any_intersection)
{
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t a, b;

    vm_tree_insert(&t, mk(&a, 0x1000, 0x2000));
    vm_tree_insert(&t, mk(&b, 0x3000, 0x4000));
    cr_assert(vm_tree_overlaps(&t, 0x1fff, 0x2001));
    cr_assert(vm_tree_overlaps(&t, 0x0, 0x1001));
    cr_assert(vm_tree_overlaps(&t, 0x2000, 0x3001));
    cr_assert(vm_tree_overlaps(&t, 0x0, UINTPTR_MAX));
    cr_assert_not(vm_tree_overlaps(&t, 0x2000, 0x3000));
    cr_assert_not(vm_tree_overlaps(&t, 0x0, 0x1000));
    cr_assert_not(vm_tree_overlaps(&t, 0x4000, UINTPTR_MAX));
    cr_assert_not(vm_tree_overlaps(&t, 0x1800, 0x1800)); /* empty */
}

/* Tree used by the find_free tests: [0x1000,0x3000) [0x4000,0x5000) [0x7000,0x9000) [0xa000,0xc000). */
static vm_tree_t ff_tree;
static vm_tree_node_t ff_nodes[4];

static void ff_setup(void)
{
    static const uintptr_t r[][2] = {
        { 0x1000, 0x3000 }, { 0x4000, 0x5000 }, { 0x7000, 0x9000 }, { 0xa000, 0xc000 } };
    int i;

    ff_tree = (vm_tree_t)TREE_INIT;
    for (i = 0; i < 4; i++)
        cr_assert_eq(vm_tree_insert(&ff_tree, mk(&ff_nodes[i], r[i][0], r[i][1])), 0);
}

static uintptr_t ff(uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi, uintptr_t align)
{
    uintptr_t a = 0xdead;
    int rc = vm_tree_find_free(&ff_tree, base, size, lo, hi, align, &a);

    cr_assert_eq(rc, 0, "find_free(base %#lx size %#lx lo %#lx hi %#lx align %#lx) = %d", (unsigned long)base,
                 (unsigned long)size, (unsigned long)lo, (unsigned long)hi, (unsigned long)align, rc);
    return a;
}

static void ff_none(uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi, uintptr_t align)
{
    uintptr_t a = 0xdead;

    cr_assert_eq(vm_tree_find_free(&ff_tree, base, size, lo, hi, align, &a), -ENOMEM_);
    cr_assert_eq(a, 0xdead, "out written on failure");
}

Test(vmap_tree, find_free_returns_lowest_fit, .init = ff_setup)
{
    cr_assert_eq(ff(0, 0x1000, 0, 0x100000, 0x1000), 0x0);
    cr_assert_eq(ff(0x1000, 0x1000, 0, 0x100000, 0x1000), 0x3000);
    cr_assert_eq(ff(0, 0x2000, 0, 0x100000, 0x1000), 0x5000);   /* skips the 0x1000 gaps */
    cr_assert_eq(ff(0, 0x3000, 0, 0x100000, 0x1000), 0xc000);   /* only after the last */
    cr_assert_eq(ff(0, 0x1, 0x2000, 0x100000, 1), 0x3000);
}

Test(vmap_tree, find_free_respects_base_and_lo, .init = ff_setup)
{
    cr_assert_eq(ff(0x5800, 0x1000, 0, 0x100000, 0x800), 0x5800);   /* base inside a gap */
    cr_assert_eq(ff(0x6800, 0x1000, 0, 0x100000, 0x800), 0x9000);   /* gap too short after base */
    cr_assert_eq(ff(0x4000, 0x1000, 0, 0x100000, 0x1000), 0x5000);  /* base inside a range */
    cr_assert_eq(ff(0, 0x1000, 0x4000, 0x100000, 0x1000), 0x5000);  /* lo acts like base */
    cr_assert_eq(ff(0x9000, 0x1000, 0x3000, 0x100000, 0x1000), 0x9000); /* the larger wins */
}

Test(vmap_tree, find_free_respects_hi_and_exact_fit_at_end, .init = ff_setup)
{
    cr_assert_eq(ff(0x5000, 0x2000, 0, 0x7000, 0x1000), 0x5000);    /* ends exactly at hi */
    ff_none(0x5000, 0x2000, 0, 0x6fff, 0x1000);
    cr_assert_eq(ff(0xc000, 0x4000, 0, 0x10000, 0x1000), 0xc000);   /* exact fit after the last */
    ff_none(0xc000, 0x4001, 0, 0x10000, 1);
    ff_none(0x9000, 0x2000, 0, 0xb000, 0x1000);  /* hi inside the last range */
    ff_none(0, 0x1000, 0x10000, 0x10000, 1);     /* lo == hi */
    ff_none(0, 0x1000, 0x20000, 0x10000, 1);     /* lo > hi */
    ff_none(0, 0x20000, 0, 0x10000, 1);          /* size > hi */
}

Test(vmap_tree, find_free_rounds_up_to_align_then_rechecks, .init = ff_setup)
{
    cr_assert_eq(ff(0x3001, 0x800, 0, 0x100000, 0x800), 0x3800);
    /* The 0x5000..0x7000 gap holds 0x2000 but not at a 0x4000 boundary. */
    cr_assert_eq(ff(0x4000, 0x2000, 0, 0x100000, 0x4000), 0xc000);
    cr_assert_eq(ff(0, 0x1000, 0, 0x100000, 0x10000), 0x0);
    cr_assert_eq(ff(1, 0x1000, 0, 0x100000, 0x10000), 0x10000);
    ff_none(1, 0x1000, 0, 0x10fff, 0x10000);
}

Test(vmap_tree, find_free_refuses_bad_size_and_align, .init = ff_setup)
{
    uintptr_t a = 0xdead;

    cr_assert_eq(vm_tree_find_free(&ff_tree, 0, 0, 0, 0x10000, 1, &a), -EINVAL_);
    cr_assert_eq(vm_tree_find_free(&ff_tree, 0, 0x1000, 0, 0x10000, 0, &a), -EINVAL_);
    cr_assert_eq(vm_tree_find_free(&ff_tree, 0, 0x1000, 0, 0x10000, 0x3000, &a), -EINVAL_);
    cr_assert_eq(a, 0xdead);
}

Test(vmap_tree, find_free_near_top_of_address_space_does_not_overflow)
{
    const uintptr_t top = UINTPTR_MAX;
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[2];
    uintptr_t a = 0;

    cr_assert_eq(vm_tree_insert(&t, mk(&n[0], top - 0x3fff, top - 0x2fff)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[1], top - 0xfff, top)), 0);
    /* base + size wraps: no fit. */
    cr_assert_eq(vm_tree_find_free(&t, top - 0x10, 0x100, 0, top, 1, &a), -ENOMEM_);
    /* Rounding base up to align wraps: no fit. */
    cr_assert_eq(vm_tree_find_free(&t, top - 0x10, 0x1, 0, top, (uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1), &a),
                 -ENOMEM_);
    /* The gap between the two nodes, ending exactly at the upper node. */
    cr_assert_eq(vm_tree_find_free(&t, top - 0x3000, 0x2000, 0, top, 0x1000, &a), 0);
    cr_assert_eq(a, top - 0x2fff);
    cr_assert_eq(vm_tree_find_free(&t, top - 0x2000, 0x1000, 0, top, 1, &a), 0);
    cr_assert_eq(a, top - 0x2000);
    cr_assert_eq(vm_tree_find_free(&t, top - 0x2fff, 0x2001, 0, top, 1, &a), -ENOMEM_);
    /* Below them, with the whole space allowed. */
    cr_assert_eq(vm_tree_find_free(&t, top - 0x100000, 0x10000, 0, top, 0x1000, &a), 0);
    cr_assert_eq(a, top - 0xfffff);
}

Test(vmap_tree, find_free_ignores_ranges_above_hi)
{
    const uintptr_t hi = (uintptr_t)1 << 47;
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t n[3];
    uintptr_t a = 0;

    cr_assert_eq(vm_tree_insert(&t, mk(&n[0], hi - 0x2000, hi - 0x1000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[1], hi - 0x800, hi + 0x1000)), 0);  /* straddles hi */
    cr_assert_eq(vm_tree_insert(&t, mk(&n[2], hi + 0x10000, hi + 0x20000)), 0);
    cr_assert_eq(vm_tree_find_free(&t, hi - 0x1000, 0x800, 0, hi, 0x800, &a), 0);
    cr_assert_eq(a, hi - 0x1000);
    cr_assert_eq(vm_tree_find_free(&t, hi - 0x1000, 0x801, 0, hi, 1, &a), -ENOMEM_);
    cr_assert_eq(vm_tree_find_free(&t, hi - 0x800, 0x1, 0, hi, 1, &a), -ENOMEM_);
    cr_assert_eq(vm_tree_find_free(&t, hi - 0x10000, 0x1000, 0, hi, 0x1000, &a), 0);
    cr_assert_eq(a, hi - 0x10000);
}

Test(vmap_tree, removals_that_borrow_and_merge_keep_order_and_free_nodes)
{
    static vm_tree_node_t n[600];
    static uintptr_t want[600][2];
    vm_tree_t t = TREE_INIT;
    size_t i, k = 0, full_nodes;

    for (i = 0; i < 600; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&n[i], i * 0x10, i * 0x10 + 0x8)), 0);
    cr_assert_eq(t.height, 3);
    cr_assert_eq(vm_tree_check(&t), 0);
    full_nodes = t.nodes;
    cr_assert_eq(nodes_live, full_nodes);
    /* From the left edge (the leftmost leaf borrows from its right
     * neighbour, then merges with it), then every third of the rest. */
    for (i = 0; i < 200; i++) {
        vm_tree_remove(&t, &n[i]);
        cr_assert_eq(vm_tree_check(&t), 0, "after removing %zu", i);
    }
    for (i = 200; i < 600; i++)
        if (i % 3 == 0) {
            vm_tree_remove(&t, &n[i]);
            cr_assert_eq(vm_tree_check(&t), 0, "after removing %zu", i);
        }
    for (i = 200; i < 600; i++)
        if (i % 3 != 0)
            want[k][0] = n[i].start, want[k][1] = n[i].end, k++;
    cr_assert_eq(k, 267);
    expect_ranges(&t, (const uintptr_t (*)[2])want, k);
    cr_assert_eq(nodes_live, t.nodes);
    cr_assert_lt(t.nodes, full_nodes, "%zu nodes for 267 ranges (%zu for 600): none freed", t.nodes, full_nodes);
    /* The rest from the right edge: the tree shrinks to nothing. */
    for (i = 600; i-- > 200;)
        if (i % 3 != 0) {
            vm_tree_remove(&t, &n[i]);
            cr_assert_eq(vm_tree_check(&t), 0, "after removing %zu", i);
        }
    cr_assert_null(t.root);
    cr_assert_eq(t.height, 0);
    cr_assert_eq(nodes_live, 0);
}

Test(vmap_tree, set_end_moves_an_end_and_refuses_overlap)
{
    static const uintptr_t grown[][2] = { { 0x1000, 0x3000 }, { 0x3000, 0x4000 } };
    static const uintptr_t shrunk[][2] = { { 0x1000, 0x1001 }, { 0x3000, 0x4000 } };
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t a, b;
    uintptr_t at = 0;

    cr_assert_eq(vm_tree_insert(&t, mk(&a, 0x1000, 0x2000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&b, 0x3000, 0x4000)), 0);
    cr_assert_eq(vm_tree_set_end(&t, &a, 0x3001), -EEXIST_);
    cr_assert_eq(a.end, 0x2000);
    cr_assert_eq(vm_tree_set_end(&t, &a, 0x1000), -EINVAL_);
    cr_assert_eq(vm_tree_set_end(&t, &a, 0x3000), 0);
    expect_ranges(&t, grown, 2);
    cr_assert_eq(vm_tree_find(&t, 0x2fff), &a);
    cr_assert_eq(vm_tree_find_free(&t, 0x1000, 1, 0, 0x5000, 1, &at), 0);
    cr_assert_eq(at, 0x4000, "the gap closed by the move is not offered");
    cr_assert_eq(vm_tree_set_end(&t, &a, 0x1001), 0);
    expect_ranges(&t, shrunk, 2);
    cr_assert_null(vm_tree_find(&t, 0x1001));
    cr_assert_eq(vm_tree_find_free(&t, 0x1000, 0x1fff, 0, 0x5000, 1, &at), 0);
    cr_assert_eq(at, 0x1001, "the gap opened by the move is offered");
}

/* Fills a tree with n ranges of 0x10 bytes at 0x20 steps from 0x1000. */
static void fill(vm_tree_t *t, vm_tree_node_t *n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(vm_tree_insert(t, mk(&n[i], 0x1000 + i * 0x20, 0x1010 + i * 0x20)), 0);
}

Test(vmap_tree, insert_that_splits_up_to_the_root_fails_cleanly_at_each_allocation)
{
    static vm_tree_node_t n[VM_TREE_MAX * VM_TREE_MAX + 1];
    const size_t count = VM_TREE_MAX * VM_TREE_MAX; /* full leaves under a full root, in address order */
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t extra;
    size_t failures = 0;

    fill(&t, n, count);
    cr_assert_eq(t.height, 2);
    cr_assert_eq(t.nodes, VM_TREE_MAX + 1, "ascending inserts fill every node: %zu nodes", t.nodes);
    cr_assert_eq(t.root->count, VM_TREE_MAX);
    /* One more range in the middle: its leaf, both neighbours and the root
     * are full, so the leaf splits, the root splits and a new root comes:
     * three allocations, each of which may fail. */
    for (size_t k = 0;; k++) {
        size_t nodes = t.nodes, live = nodes_live;
        budget = (long)k;
        int rc = vm_tree_insert(&t, mk(&extra, 0x1000 + 100 * 0x20 + 0x10, 0x1000 + 100 * 0x20 + 0x18));
        budget = -1;
        if (rc == 0) {
            cr_assert_eq(k, 3, "the insert needed %zu allocations, not 3", k);
            cr_assert_eq(t.height, 3);
            cr_assert_eq(t.nodes, nodes + 3);
            break;
        }
        failures++;
        cr_assert_eq(rc, -ENOMEM_, "allocation %zu failed: %d", k, rc);
        cr_assert_eq(t.nodes, nodes);
        cr_assert_eq(nodes_live, live, "allocation %zu failed: %zu nodes leaked", k, nodes_live - live);
        cr_assert_eq(t.count, count);
        cr_assert_eq(t.height, 2);
        cr_assert_eq(vm_tree_check(&t), 0);
        cr_assert_null(vm_tree_find(&t, 0x1000 + 100 * 0x20 + 0x10));
        cr_assert_eq(n[100].next, &n[101], "links changed by a failed insert");
    }
    cr_assert_eq(failures, 3);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(vm_tree_find(&t, 0x1000 + 100 * 0x20 + 0x17), &extra);
    cr_assert_eq(n[100].next, &extra);
    cr_assert_eq(extra.next, &n[101]);
}

Test(vmap_tree, insert_into_a_full_leaf_moves_ranges_to_a_neighbour_without_allocating)
{
    static vm_tree_node_t n[2 * VM_TREE_MAX];
    vm_tree_t t = TREE_INIT;
    vm_tree_node_t extra;

    /* Ascending inserts: the first leaf splits once, then the right leaf
     * fills and gives ranges back to the left one. */
    fill(&t, n, VM_TREE_MAX + 1);
    cr_assert_eq(t.height, 2);
    cr_assert_eq(t.nodes, 3);
    budget = 0; /* none of these may allocate */
    for (size_t i = VM_TREE_MAX + 1; i < 2 * VM_TREE_MAX; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&n[i], 0x1000 + i * 0x20, 0x1010 + i * 0x20)), 0, "range %zu", i);
    budget = -1;
    cr_assert_eq(t.nodes, 3, "two full leaves and the root");
    cr_assert_eq(((vm_tree_bnode_t *)t.root->ptr[0])->count, VM_TREE_MAX);
    cr_assert_eq(((vm_tree_bnode_t *)t.root->ptr[1])->count, VM_TREE_MAX);
    /* Both full now: the next one splits (and cannot without memory). */
    budget = 0;
    cr_assert_eq(vm_tree_insert(&t, mk(&extra, 0x1000 + 2 * VM_TREE_MAX * 0x20, 0x1010 + 2 * VM_TREE_MAX * 0x20)),
                 -ENOMEM_);
    budget = -1;
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(t.count, 2 * VM_TREE_MAX);
}

Test(vmap_tree, check_names_each_broken_invariant)
{
    static vm_tree_node_t n[300];
    vm_tree_t t = TREE_INIT;
    vm_tree_bnode_t *root, *inner, *leaf;
    vm_tree_node_t *r;
    uintptr_t saved;
    unsigned c;

    fill(&t, n, 300);
    cr_assert_eq(t.height, 3);
    cr_assert_eq(vm_tree_check(&t), 0);
    root = t.root;
    inner = root->ptr[0];
    leaf = inner->ptr[1];
    r = leaf->ptr[3];

    t.count--;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_COUNT);
    t.count += 2;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_COUNT);
    t.count--;
    t.nodes--;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_COUNT);
    t.nodes++;

    t.height++;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_HEIGHT);
    t.height--;
    leaf->level = 1;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_HEIGHT);
    leaf->level = 0;

    c = leaf->count;
    leaf->count = VM_TREE_MIN - 1;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_FILL);
    leaf->count = c;
    if (c < VM_TREE_MAX) {
        leaf->hi[c] = 0;
        cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_FILL);
        leaf->hi[c] = UINTPTR_MAX;
    }

    saved = r->end;
    r->end = r->start;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_RANGE);
    r->end = saved;
    leaf->lo[3]++;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_RANGE);
    leaf->lo[3]--;

    saved = r->start;
    r->start = r->prev->end - 1; /* overlaps its predecessor */
    leaf->lo[3] = r->start;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_ORDER);
    r->start = saved;
    leaf->lo[3] = saved;

    r->prev = r->prev->prev;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_LINK);
    r->prev = r->prev->next;
    n[299].next = &n[0];
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_LINK);
    n[299].next = NULL;

    inner->lo[1]++;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_LO);
    inner->lo[1]--;
    root->hi[0]--;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_HI);
    root->hi[0]++;
    inner->gap[1]++;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_GAP);
    inner->gap[1]--;
    leaf->gap[2] = 1;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_GAP);
    leaf->gap[2] = 0;

    cr_assert_eq(vm_tree_check(&t), 0);
}

/* ---- Differential test against a sorted array ---- */

typedef struct model {
    uintptr_t s[512], e[512];
    vm_tree_node_t *node[512];
    size_t n;
} model_t;

/* Index of the first range with end > addr (n if none). */
static size_t model_first_from(const model_t *m, uintptr_t addr)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->e[mid] > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static bool model_overlaps(const model_t *m, uintptr_t s, uintptr_t e)
{
    size_t i = model_first_from(m, s);
    return i < m->n && m->s[i] < e;
}

static void model_insert(model_t *m, vm_tree_node_t *node)
{
    size_t i = model_first_from(m, node->start), j;

    for (j = m->n; j > i; j--) {
        m->s[j] = m->s[j - 1];
        m->e[j] = m->e[j - 1];
        m->node[j] = m->node[j - 1];
    }
    m->s[i] = node->start;
    m->e[i] = node->end;
    m->node[i] = node;
    m->n++;
}

static void model_remove(model_t *m, size_t i)
{
    for (; i + 1 < m->n; i++) {
        m->s[i] = m->s[i + 1];
        m->e[i] = m->e[i + 1];
        m->node[i] = m->node[i + 1];
    }
    m->n--;
}

/* Rounds a up to align; false if that wraps. */
static bool round_up(uintptr_t a, uintptr_t align, uintptr_t *out)
{
    if (a % align == 0) {
        *out = a;
        return true;
    }
    if (a > UINTPTR_MAX - (align - a % align))
        return false;
    *out = a + (align - a % align);
    return true;
}

/* Brute force: the lowest fit is round_up(low) or round_up(e) for some
 * range end e >= low (any other candidate could slide down by align). */
static bool model_find_free(const model_t *m, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                            uintptr_t align, uintptr_t *out)
{
    uintptr_t low = base > lo ? base : lo, best = 0, a;
    bool found = false;
    size_t i;

    for (i = 0; i <= m->n; i++) {
        uintptr_t c = i == m->n ? low : m->e[i];
        if (c < low || !round_up(c, align, &a))
            continue;
        if (a > UINTPTR_MAX - size || a + size > hi)
            continue;
        if (model_overlaps(m, a, a + size))
            continue;
        if (!found || a < best)
            best = a, found = true;
    }
    *out = best;
    return found;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static uintptr_t rnd_below(uintptr_t n)
{
    return (uintptr_t)(rnd() % n);
}

static void expect_same(const vm_tree_t *t, const model_t *m)
{
    vm_tree_node_t *x = vm_tree_first_from(t, 0);
    size_t i;

    cr_assert_eq(t->count, m->n);
    for (i = 0; i < m->n; i++, x = vm_tree_next(x))
        cr_assert_eq(x, m->node[i], "in-order position %zu", i);
    cr_assert_null(x);
}

/* One run: `ops` random operations over [origin, origin + span) with ranges
 * made of `grain`-sized units, checking every answer against the model. */
static void differential_run(uint64_t seed, uintptr_t origin, uintptr_t span, uintptr_t grain, int ops)
{
    static vm_tree_node_t pool[512];
    static bool used[512];
    static model_t m;
    vm_tree_t t = TREE_INIT;
    int op, inserted = 0, refused = 0, found_free = 0, no_free = 0, nomem = 0, moved = 0;

    rng_state = seed;
    m.n = 0;
    for (size_t i = 0; i < 512; i++)
        used[i] = false;
    for (op = 0; op < ops; op++) {
        int kind = (int)rnd_below(10);
        uintptr_t addr = origin + rnd_below(span);

        if (kind < 4) {                    /* insert */
            size_t k = rnd_below(512);
            uintptr_t s = origin + rnd_below(span / grain) * grain + (grain > 1 ? rnd_below(2) : 0);
            uintptr_t len = (1 + rnd_below(8)) * grain;
            uintptr_t e = s + len > origin + span || s + len < s ? origin + span : s + len;
            if (used[k] || s >= e)
                continue;
            bool clash = model_overlaps(&m, s, e);
            /* Every other insert may get only 0, 1 or 2 more nodes. */
            budget = rnd_below(2) ? -1 : (long)rnd_below(3);
            size_t nodes = t.nodes;
            int rc = vm_tree_insert(&t, mk(&pool[k], s, e));
            budget = -1;
            if (!clash && rc == -ENOMEM_) {
                cr_assert_eq(t.nodes, nodes, "seed %llu op %d", (unsigned long long)seed, op);
                expect_same(&t, &m);
                nomem++;
                clash = true; /* not inserted */
            } else {
                cr_assert_eq(rc, clash ? -EEXIST_ : 0, "seed %llu op %d", (unsigned long long)seed, op);
            }
            if (rc == -EEXIST_)
                refused++;
            if (!clash) {
                used[k] = true;
                model_insert(&m, &pool[k]);
                inserted++;
            }
        } else if (kind == 4 && m.n > 0) { /* move an end */
            size_t i = rnd_below(m.n);
            uintptr_t e = m.s[i] + rnd_below(8 * grain);
            int want = e <= m.s[i] ? -EINVAL_ : i + 1 < m.n && e > m.s[i + 1] ? -EEXIST_ : 0;
            if (e < m.s[i])
                e = m.s[i]; /* wrapped: ask for an empty range */
            cr_assert_eq(vm_tree_set_end(&t, m.node[i], e), want, "seed %llu op %d", (unsigned long long)seed, op);
            if (want == 0)
                m.e[i] = e, moved++;
            cr_assert_eq(m.node[i]->end, m.e[i]);
        } else if (kind < 6) {             /* remove */
            if (m.n == 0)
                continue;
            size_t i = rnd_below(m.n);
            vm_tree_node_t *node = m.node[i];
            vm_tree_remove(&t, node);
            used[node - pool] = false;
            model_remove(&m, i);
        } else if (kind < 7) {             /* find, first_from, overlaps */
            size_t i = model_first_from(&m, addr);
            vm_tree_node_t *want = i < m.n && m.s[i] <= addr ? m.node[i] : NULL;
            uintptr_t e2 = addr + rnd_below(4 * grain) + 1;
            cr_assert_eq(vm_tree_find(&t, addr), want, "seed %llu op %d", (unsigned long long)seed, op);
            cr_assert_eq(vm_tree_first_from(&t, addr), i < m.n ? m.node[i] : NULL);
            if (e2 > addr)
                cr_assert_eq(vm_tree_overlaps(&t, addr, e2), model_overlaps(&m, addr, e2));
        } else {                           /* find_free */
            uintptr_t size = 1 + rnd_below(6 * grain);
            uintptr_t align = (uintptr_t)1 << rnd_below(grain > 1 ? 10 : 3);
            uintptr_t lo = rnd_below(4) ? origin : origin + rnd_below(span);
            uintptr_t hi = rnd_below(4) ? origin + span : origin + rnd_below(span);
            uintptr_t got = 0xdead, want;
            if (rnd_below(2))
                size = (size + grain - 1) / grain * grain;
            if (origin + span == UINTPTR_MAX && rnd_below(2))
                hi = UINTPTR_MAX;
            bool ok = model_find_free(&m, addr, size, lo, hi, align, &want);
            int rc = vm_tree_find_free(&t, addr, size, lo, hi, align, &got);
            cr_assert_eq(rc, ok ? 0 : -ENOMEM_, "seed %llu op %d", (unsigned long long)seed, op);
            if (ok) {
                cr_assert_eq(got, want, "seed %llu op %d: got %#lx want %#lx", (unsigned long long)seed, op,
                             (unsigned long)got, (unsigned long)want);
                found_free++;
            } else {
                cr_assert_eq(got, 0xdead);
                no_free++;
            }
        }
        cr_assert_eq(vm_tree_check(&t), 0, "seed %llu op %d", (unsigned long long)seed, op);
        cr_assert_eq(t.count, m.n);
        cr_assert_eq(nodes_live, t.nodes, "seed %llu op %d", (unsigned long long)seed, op);
        if (op % 256 == 0)
            expect_same(&t, &m);
    }
    expect_same(&t, &m);
    /* The run must have exercised both outcomes of each kind. */
    cr_assert_gt(inserted, 100);
    cr_assert_gt(refused, 10);
    cr_assert_gt(found_free, 50);
    cr_assert_gt(no_free, 5);
    cr_assert_gt(nomem, 0); /* splits are rare: neighbours take ranges first */
    cr_assert_gt(moved, 50);
    /* Emptied, the tree gives every node back. */
    while (m.n > 0) {
        vm_tree_remove(&t, m.node[m.n - 1]);
        m.n--;
    }
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(nodes_live, 0, "seed %llu: %zu nodes left in an empty tree", (unsigned long long)seed, nodes_live);
}

Test(vmap_tree, differential_small_units_low_addresses)
{
    differential_run(1, 0, 4096, 1, 6000);
    differential_run(2, 0, 512, 1, 6000);
}

Test(vmap_tree, differential_page_units_with_alignment)
{
    differential_run(3, 0x400000, 0x400000, 0x1000, 6000);
    differential_run(4, 0x0, 0x200000, 0x1000, 6000);
}

Test(vmap_tree, differential_at_top_of_address_space)
{
    differential_run(5, UINTPTR_MAX - 0x200000, 0x200000, 0x1000, 6000);
    differential_run(6, UINTPTR_MAX - 0x1000, 0x1000, 1, 6000);
}

/* ---- Scale: 100 000 ranges ---- */

#define BIG 100000

static vm_tree_node_t big_nodes[BIG];
static size_t big_order[BIG];

/* The most levels a tree of n ranges can have: one of height h >= 2 holds
 * at least 2 * VM_TREE_MIN^(h-1) ranges (a root of two children, every
 * other node at least VM_TREE_MIN entries). */
static unsigned height_bound(size_t n)
{
    unsigned h = 1;
    size_t least = 2 * VM_TREE_MIN; /* ranges a tree of height h + 1 holds at least */
    while (least <= n) {
        h++;
        least *= VM_TREE_MIN;
    }
    return h;
}

static void shuffle(size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd_below(i);
        size_t x = a[i - 1];
        a[i - 1] = a[j];
        a[j] = x;
    }
}

Test(vmap_tree, hundred_thousand_ranges_stay_balanced)
{
    vm_tree_t t = TREE_INIT;
    size_t i;

    /* Ascending inserts (the worst order for an unbalanced tree). */
    for (i = 0; i < BIG; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[i], i * 0x2000, i * 0x2000 + 0x1000)), 0);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_leq(t.height, height_bound(BIG), "height %u", t.height);
    /* In address order every node fills up (all but the last two of each
     * level full): 100 000 ranges take 6 668 leaves and 477 inner nodes,
     * 35 bytes of tree per range. */
    cr_assert_leq(t.nodes, (BIG / VM_TREE_MAX + 2) * VM_TREE_MAX / (VM_TREE_MAX - 1) + t.height, "%zu nodes", t.nodes);
    cr_assert_eq(nodes_live, t.nodes);
    /* Random removal of half, then the rest in reverse. */
    rng_state = 42;
    for (i = 0; i < BIG; i++)
        big_order[i] = i;
    shuffle(big_order, BIG);
    for (i = 0; i < BIG / 2; i++)
        vm_tree_remove(&t, &big_nodes[big_order[i]]);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(t.count, BIG / 2);
    cr_assert_leq(t.height, height_bound(BIG / 2), "height %u", t.height);
    cr_assert_leq(t.nodes, BIG / 2 / VM_TREE_MIN + BIG / 2 / (VM_TREE_MIN * VM_TREE_MIN) + 20, "%zu nodes", t.nodes);
    for (i = BIG; i-- > BIG / 2;)
        vm_tree_remove(&t, &big_nodes[big_order[i]]);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
    cr_assert_eq(nodes_live, 0);
    /* Random-order inserts. */
    for (i = 0; i < BIG; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[big_order[i]], big_order[i] * 0x2000,
                                           big_order[i] * 0x2000 + 0x1000)), 0);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_leq(t.height, height_bound(BIG), "height %u", t.height);
    cr_assert_leq(t.nodes, BIG / VM_TREE_MIN + BIG / (VM_TREE_MIN * VM_TREE_MIN) + 20, "%zu nodes", t.nodes);
}

Test(vmap_tree, hundred_thousand_ranges_find_free_visits_few_nodes)
{
    vm_tree_t t = TREE_INIT;
    const uintptr_t page = 0x1000, hi = (uintptr_t)1 << 47;
    size_t i, visits, max_visits = 0;
    uintptr_t a;
    unsigned h;

    /* Range i covers pages [3i, 3i + 2): one-page gaps everywhere, except a
     * four-page gap where range 77 777 is missing. */
    for (i = 0; i < BIG; i++)
        if (i != 77777)
            cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[i], 3 * i * page, (3 * i + 2) * page)), 0);
    h = t.height;

    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, 2 * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %u", visits, h);

    /* Two pages fit only in the hole left by range 77 777. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 2 * page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, (3 * 77777 - 1) * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %u", visits, h);

    /* Five pages fit only after the last range. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 5 * page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, (3 * (BIG - 1) + 2) * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %u", visits, h);

    /* Nothing when hi stops before the end. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 5 * page, 0, 3 * BIG * page - page, page, &a, &visits),
                 -ENOMEM_);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %u", visits, h);

    /* Sampled bases, against the brute force over the same layout. */
    rng_state = 7;
    for (i = 0; i < 1000; i++) {
        uintptr_t base = rnd_below(3 * BIG + 10) * page, size = (1 + rnd_below(4)) * page, want;
        uintptr_t lim = rnd_below(8) ? hi : base + rnd_below(400) * page;
        uintptr_t k = base / page, p;
        bool ok = false;

        /* Free pages are those with page % 3 == 2 (and the hole 3*77777-1 .. 3*77777+2,
         * and everything from 3*BIG - 1 on): scan upwards page by page. */
        for (p = k; p + size / page <= lim / page && p < 3 * BIG + 10; p++) {
            uintptr_t q;
            for (q = p; q < p + size / page; q++)
                if (q % 3 != 2 && !(q >= 3 * 77777 && q < 3 * 77777 + 2) && q < 3 * BIG)
                    break;
            if (q == p + size / page) {
                ok = true;
                break;
            }
        }
        want = p * page;
        visits = 0;
        int rc = vm_tree_find_free_visits(&t, base, size, 0, lim, page, &a, &visits);
        cr_assert_eq(rc, ok ? 0 : -ENOMEM_, "base %#lx size %#lx hi %#lx", (unsigned long)base,
                     (unsigned long)size, (unsigned long)lim);
        if (ok)
            cr_assert_eq(a, want, "base %#lx size %#lx: got %#lx want %#lx", (unsigned long)base,
                         (unsigned long)size, (unsigned long)a, (unsigned long)want);
        if (visits > max_visits)
            max_visits = visits;
    }
    cr_assert_leq(max_visits, (size_t)(3 * h), "max visits %zu height %u", max_visits, h);
}
