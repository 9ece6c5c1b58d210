/* tests/unit/test_vmap_tree.c - the range tree (mm/vmap_tree.c): basics with
 * exact values, the free-range search at its edges (base, lo, hi, align,
 * the top of the address space), a randomized differential test against a
 * sorted-array model, and the height and search cost at 100 000 ranges. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "mm/vmap_tree.h"

#define EEXIST_ 17
#define ENOMEM_ 12
#define EINVAL_ 22

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
    vm_tree_t t = VM_TREE_INIT;
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
    vm_tree_t t = VM_TREE_INIT;
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
    cr_assert_null(n[0].parent);
    cr_assert_null(n[0].left);
    cr_assert_null(n[0].right);
    cr_assert_eq(vm_tree_find(&t, 0x1000), &n[2]);
    cr_assert_eq(vm_tree_find(&t, 0x5000), &n[1]);

    vm_tree_remove(&t, &n[2]);
    vm_tree_remove(&t, &n[1]);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
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
    vm_tree_t t = VM_TREE_INIT;
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
    vm_tree_t t = VM_TREE_INIT;
    vm_tree_node_t a, b;

    cr_assert_eq(vm_tree_insert(&t, mk(&a, 0x1000, 0x1000)), -EINVAL_);
    cr_assert_eq(vm_tree_insert(&t, mk(&b, 0x2000, 0x1000)), -EINVAL_);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
}

Test(vmap_tree, adjacent_ranges_accepted)
{
    static const uintptr_t want[][2] = { { 0x0, 0x1000 }, { 0x1000, 0x2000 }, { 0x2000, 0x3000 } };
    vm_tree_t t = VM_TREE_INIT;
    vm_tree_node_t n[3];

    cr_assert_eq(vm_tree_insert(&t, mk(&n[1], 0x1000, 0x2000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[2], 0x2000, 0x3000)), 0);
    cr_assert_eq(vm_tree_insert(&t, mk(&n[0], 0x0, 0x1000)), 0);
    expect_ranges(&t, want, 3);
    cr_assert_eq(t.root->max_gap, 0);
    cr_assert_eq(vm_tree_find(&t, 0x1fff), &n[1]);
    cr_assert_eq(vm_tree_find(&t, 0x2000), &n[2]);
}

Test(vmap_tree, first_from_next_prev_walk_in_order)
{
    vm_tree_t t = VM_TREE_INIT;
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
    vm_tree_t t = VM_TREE_INIT;
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

    ff_tree = (vm_tree_t)VM_TREE_INIT;
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
    vm_tree_t t = VM_TREE_INIT;
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
    vm_tree_t t = VM_TREE_INIT;
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

Test(vmap_tree, remove_of_node_with_two_children_keeps_order)
{
    vm_tree_t t = VM_TREE_INIT;
    vm_tree_node_t n[64];
    uintptr_t want[64][2];
    size_t i, k = 0;

    for (i = 0; i < 64; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&n[i], i * 0x10, i * 0x10 + 0x8)), 0);
    /* Remove the root repeatedly: always an interior node while it has two children. */
    for (i = 0; i < 32; i++)
        vm_tree_remove(&t, t.root);
    for (i = 0; i < 64; i++)
        if (n[i].parent || t.root == &n[i])
            want[k][0] = n[i].start, want[k][1] = n[i].end, k++;
    cr_assert_eq(k, 32);
    expect_ranges(&t, (const uintptr_t (*)[2])want, 32);
}

Test(vmap_tree, check_names_each_broken_invariant)
{
    vm_tree_t t = VM_TREE_INIT;
    vm_tree_node_t n[7];
    vm_tree_node_t *r;
    vm_tree_node_t saved;
    size_t i;

    for (i = 0; i < 7; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&n[i], i * 0x100, i * 0x100 + 0x80)), 0);
    r = t.root;
    cr_assert_eq(r, &n[3]);
    saved = *r;

    t.count = 6;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_COUNT);
    t.count = 8;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_COUNT);
    t.count = 7;
    r->left->parent = r->right;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_PARENT);
    r->left->parent = r;
    r->end = r->start;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_RANGE);
    r->start = 0x250;  /* overlaps its predecessor [0x200, 0x280) */
    r->end = 0x380;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_ORDER);
    *r = saved;
    r->height = 2;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_HEIGHT);
    *r = saved;
    r->min_start = 0x10;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_MIN_START);
    *r = saved;
    r->max_end = 0x10000;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_MAX_END);
    *r = saved;
    r->max_gap = 0x81;
    cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_MAX_GAP);
    *r = saved;
    cr_assert_eq(vm_tree_check(&t), 0);
    /* Unbalance: hang the right subtree's leaves off as a chain. */
    {
        vm_tree_node_t *b = r->right, *c = b->right, *d = b->left;  /* n[5], n[6], n[4] */
        b->left = NULL;
        b->right = NULL;
        r->right = d;
        d->parent = r;
        d->right = b;
        b->parent = d;
        b->right = c;
        c->parent = b;
        c->height = 1; c->max_gap = 0; c->min_start = c->start; c->max_end = c->end;
        b->height = 2; b->max_gap = c->start - b->end; b->min_start = b->start; b->max_end = c->end;
        d->height = 3; d->max_gap = b->start - d->end; d->min_start = d->start; d->max_end = c->end;
        r->height = 4;
        cr_assert_eq(vm_tree_check(&t), VM_TREE_BAD_BALANCE);
    }
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
    vm_tree_t t = VM_TREE_INIT;
    int op, inserted = 0, refused = 0, found_free = 0, no_free = 0;

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
            int rc = vm_tree_insert(&t, mk(&pool[k], s, e));
            cr_assert_eq(rc, clash ? -EEXIST_ : 0, "seed %llu op %d", (unsigned long long)seed, op);
            if (!clash) {
                used[k] = true;
                model_insert(&m, &pool[k]);
                inserted++;
            } else {
                refused++;
            }
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
        if (op % 256 == 0)
            expect_same(&t, &m);
    }
    expect_same(&t, &m);
    /* The run must have exercised both outcomes of each kind. */
    cr_assert_gt(inserted, 100);
    cr_assert_gt(refused, 10);
    cr_assert_gt(found_free, 50);
    cr_assert_gt(no_free, 5);
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

/* 1.45 * log2(n) + 2 for the two sizes used (log2 of 100 000 is
 * 16.60964, of 50 000 is 15.60964), without libm. */
static double height_bound(size_t n)
{
    cr_assert(n == BIG || n == BIG / 2);
    return 1.45 * (n == BIG ? 16.60964 : 15.60964) + 2;
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
    vm_tree_t t = VM_TREE_INIT;
    size_t i;

    /* Ascending inserts (the worst order for an unbalanced tree). */
    for (i = 0; i < BIG; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[i], i * 0x2000, i * 0x2000 + 0x1000)), 0);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_leq(t.root->height, height_bound(BIG), "height %d", t.root->height);
    /* Random removal of half, then the rest in reverse. */
    rng_state = 42;
    for (i = 0; i < BIG; i++)
        big_order[i] = i;
    shuffle(big_order, BIG);
    for (i = 0; i < BIG / 2; i++)
        vm_tree_remove(&t, &big_nodes[big_order[i]]);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_eq(t.count, BIG / 2);
    cr_assert_leq(t.root->height, height_bound(BIG / 2), "height %d", t.root->height);
    for (i = BIG; i-- > BIG / 2;)
        vm_tree_remove(&t, &big_nodes[big_order[i]]);
    cr_assert_eq(t.count, 0);
    cr_assert_null(t.root);
    /* Random-order inserts. */
    for (i = 0; i < BIG; i++)
        cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[big_order[i]], big_order[i] * 0x2000,
                                           big_order[i] * 0x2000 + 0x1000)), 0);
    cr_assert_eq(vm_tree_check(&t), 0);
    cr_assert_leq(t.root->height, height_bound(BIG), "height %d", t.root->height);
}

Test(vmap_tree, hundred_thousand_ranges_find_free_visits_few_nodes)
{
    vm_tree_t t = VM_TREE_INIT;
    const uintptr_t page = 0x1000, hi = (uintptr_t)1 << 47;
    size_t i, visits, max_visits = 0;
    uintptr_t a;
    int h;

    /* Range i covers pages [3i, 3i + 2): one-page gaps everywhere, except a
     * four-page gap where range 77 777 is missing. */
    for (i = 0; i < BIG; i++)
        if (i != 77777)
            cr_assert_eq(vm_tree_insert(&t, mk(&big_nodes[i], 3 * i * page, (3 * i + 2) * page)), 0);
    h = t.root->height;

    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, 2 * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %d", visits, h);

    /* Two pages fit only in the hole left by range 77 777. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 2 * page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, (3 * 77777 - 1) * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %d", visits, h);

    /* Five pages fit only after the last range. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 5 * page, 0, hi, page, &a, &visits), 0);
    cr_assert_eq(a, (3 * (BIG - 1) + 2) * page);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %d", visits, h);

    /* Nothing when hi stops before the end. */
    visits = 0;
    cr_assert_eq(vm_tree_find_free_visits(&t, 0, 5 * page, 0, 3 * BIG * page - page, page, &a, &visits),
                 -ENOMEM_);
    cr_assert_leq(visits, (size_t)(2 * h + 2), "visits %zu height %d", visits, h);

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
    cr_assert_leq(max_visits, (size_t)(3 * h), "max visits %zu height %d", max_visits, h);
}
