/* mm/vmap_tree.c - an AVL tree of disjoint half-open ranges, each node
 * augmented with the smallest start, the largest end and the largest gap
 * between consecutive ranges of its subtree.
 *
 * Order: the ranges are disjoint, so ordering by start also orders the ends.
 * Every change (link, unlink, rotation) is followed by a walk from the
 * lowest changed node up to the root that recomputes heights and
 * augmentation and rebalances, so each operation costs O(log n).
 *
 * Freestanding: no allocation, no platform calls, no locking. */
#include "vmap_tree.h"

enum { VMT_ENOMEM = 12, VMT_EEXIST = 17, VMT_EINVAL = 22 };

static int height(const vm_tree_node_t *n)
{
    return n ? n->height : 0;
}

static uintptr_t max_u(uintptr_t a, uintptr_t b)
{
    return a > b ? a : b;
}

/* The length of [a, b), or 0 when the interval is empty or inverted. */
static uintptr_t span(uintptr_t a, uintptr_t b)
{
    return b > a ? b - a : 0;
}

/* Recomputes n's height and augmentation from its children (which must be
 * up to date). */
static void update(vm_tree_node_t *n)
{
    const vm_tree_node_t *l = n->left, *r = n->right;
    int hl = height(l), hr = height(r);
    uintptr_t gap = 0;

    n->height = 1 + (hl > hr ? hl : hr);
    n->min_start = l ? l->min_start : n->start;
    n->max_end = r ? r->max_end : n->end;
    if (l)
        gap = max_u(l->max_gap, n->start - l->max_end);
    if (r)
        gap = max_u(gap, max_u(r->max_gap, r->min_start - n->end));
    n->max_gap = gap;
}

/* Makes `to` take the place of child `from` under parent (or as root). */
static void replace_child(vm_tree_t *t, vm_tree_node_t *parent, vm_tree_node_t *from, vm_tree_node_t *to)
{
    if (!parent)
        t->root = to;
    else if (parent->left == from)
        parent->left = to;
    else
        parent->right = to;
    if (to)
        to->parent = parent;
}

/* Rotates x's right child up into x's place; returns the new subtree root. */
static vm_tree_node_t *rotate_left(vm_tree_t *t, vm_tree_node_t *x)
{
    vm_tree_node_t *y = x->right;

    x->right = y->left;
    if (y->left)
        y->left->parent = x;
    replace_child(t, x->parent, x, y);
    y->left = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

/* Rotates x's left child up into x's place; returns the new subtree root. */
static vm_tree_node_t *rotate_right(vm_tree_t *t, vm_tree_node_t *x)
{
    vm_tree_node_t *y = x->left;

    x->left = y->right;
    if (y->right)
        y->right->parent = x;
    replace_child(t, x->parent, x, y);
    y->right = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

/* Updates n and restores the AVL balance at n (its subtrees are balanced);
 * returns the root of what was n's subtree. */
static vm_tree_node_t *balance(vm_tree_t *t, vm_tree_node_t *n)
{
    int bf;

    update(n);
    bf = height(n->left) - height(n->right);
    if (bf > 1) {
        if (height(n->left->left) < height(n->left->right))
            rotate_left(t, n->left);
        return rotate_right(t, n);
    }
    if (bf < -1) {
        if (height(n->right->right) < height(n->right->left))
            rotate_right(t, n->right);
        return rotate_left(t, n);
    }
    return n;
}

/* Rebalances and re-augments every node from n up to the root. */
static void fix_upwards(vm_tree_t *t, vm_tree_node_t *n)
{
    while (n)
        n = balance(t, n)->parent;
}

/* Returns 0, -EINVAL (start >= end) or -EEXIST (overlap); the tree is
 * changed only on 0. The search path passes both future neighbours, so
 * checking overlap along it is enough. */
int vm_tree_insert(vm_tree_t *t, vm_tree_node_t *node)
{
    vm_tree_node_t *parent = NULL, **link = &t->root;

    if (node->start >= node->end)
        return -VMT_EINVAL;
    while (*link) {
        parent = *link;
        if (node->end <= parent->start)
            link = &parent->left;
        else if (node->start >= parent->end)
            link = &parent->right;
        else
            return -VMT_EEXIST;
    }
    node->left = node->right = NULL;
    node->parent = parent;
    update(node);
    *link = node;
    t->count++;
    fix_upwards(t, parent);
    return 0;
}

/* Unlinks node (which must be in t) and clears its links. A node with two
 * children is replaced by its in-order successor, relinked (not copied),
 * since the nodes are embedded in their owners. */
void vm_tree_remove(vm_tree_t *t, vm_tree_node_t *node)
{
    vm_tree_node_t *fix;

    if (node->left && node->right) {
        vm_tree_node_t *succ = node->right;

        while (succ->left)
            succ = succ->left;
        if (succ->parent == node) {
            fix = succ;
        } else {
            fix = succ->parent;
            fix->left = succ->right;
            if (succ->right)
                succ->right->parent = fix;
            succ->right = node->right;
            node->right->parent = succ;
        }
        succ->left = node->left;
        node->left->parent = succ;
        replace_child(t, node->parent, node, succ);
    } else {
        vm_tree_node_t *child = node->left ? node->left : node->right;

        fix = node->parent;
        replace_child(t, node->parent, node, child);
    }
    node->left = node->right = node->parent = NULL;
    t->count--;
    fix_upwards(t, fix);
}

/* Returns the node containing addr, or NULL. */
vm_tree_node_t *vm_tree_find(const vm_tree_t *t, uintptr_t addr)
{
    vm_tree_node_t *n = t->root;

    while (n) {
        if (addr < n->start)
            n = n->left;
        else if (addr >= n->end)
            n = n->right;
        else
            return n;
    }
    return NULL;
}

/* Returns the lowest node with end > addr, or NULL. */
vm_tree_node_t *vm_tree_first_from(const vm_tree_t *t, uintptr_t addr)
{
    vm_tree_node_t *n = t->root, *best = NULL;

    while (n) {
        if (n->end > addr) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

/* Returns the in-order successor of node, or NULL. */
vm_tree_node_t *vm_tree_next(const vm_tree_node_t *node)
{
    const vm_tree_node_t *n = node->right;

    if (n) {
        while (n->left)
            n = n->left;
        return (vm_tree_node_t *)n;
    }
    for (n = node; n->parent && n->parent->right == n; n = n->parent)
        ;
    return n->parent;
}

/* Returns the in-order predecessor of node, or NULL. */
vm_tree_node_t *vm_tree_prev(const vm_tree_node_t *node)
{
    const vm_tree_node_t *n = node->left;

    if (n) {
        while (n->right)
            n = n->right;
        return (vm_tree_node_t *)n;
    }
    for (n = node; n->parent && n->parent->left == n; n = n->parent)
        ;
    return n->parent;
}

/* True if some node overlaps [start, end); false for an empty range. */
bool vm_tree_overlaps(const vm_tree_t *t, uintptr_t start, uintptr_t end)
{
    const vm_tree_node_t *n;

    if (start >= end)
        return false;
    n = vm_tree_first_from(t, start);
    return n && n->start < end;
}

/* One free-range request; low = max(base, lo), with low <= hi - size. */
struct fit_req {
    uintptr_t low, hi, size, align;
    size_t visits;
};

/* Tries the free interval [g0, g1): sets *out to the lowest aligned a in it
 * with low <= a and a + size <= min(g1, hi). */
static bool gap_fit(const struct fit_req *q, uintptr_t g0, uintptr_t g1, uintptr_t *out)
{
    uintptr_t a = max_u(g0, q->low), top = g1 < q->hi ? g1 : q->hi;

    if (a > UINTPTR_MAX - (q->align - 1))
        return false;
    a = (a + (q->align - 1)) & ~(q->align - 1);
    if (top < q->size || a > top - q->size)
        return false;
    *out = a;
    return true;
}

/* The lowest fit among the free intervals of n's subtree, which sits in the
 * window [wlo, whi) between its neighbours' ranges. In order, those are the
 * intervals of n->left in [wlo, n->start) and of n->right in [n->end, whi);
 * an empty subtree is the single interval [wlo, whi). A subtree is skipped
 * when its window cannot hold a fit (starts above hi - size or ends below
 * low + size) or when its largest interval is shorter than size. Only
 * windows that contain low escape the size test, one per level. The right
 * descent loops, so the stack depth is the tree height. */
static bool search(struct fit_req *q, const vm_tree_node_t *n, uintptr_t wlo, uintptr_t whi, uintptr_t *out)
{
    for (;;) {
        if (!n)
            return gap_fit(q, wlo, whi, out);
        q->visits++;
        if (wlo > q->hi - q->size || whi < q->low + q->size)
            return false;
        if (max_u(max_u(span(wlo, n->min_start), n->max_gap), span(n->max_end, whi)) < q->size)
            return false;
        if (search(q, n->left, wlo, n->start, out))
            return true;
        wlo = n->end;
        n = n->right;
    }
}

/* Returns 0 and sets *out to the lowest fit, -ENOMEM if none, -EINVAL for
 * size 0 or a bad align; adds the nodes visited to *visits. The outermost
 * window ends at hi: nothing beyond it can be returned. */
int vm_tree_find_free_visits(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                             uintptr_t align, uintptr_t *out, size_t *visits)
{
    struct fit_req q = { max_u(base, lo), hi, size, align, 0 };
    bool found;

    if (size == 0 || align == 0 || (align & (align - 1)) != 0)
        return -VMT_EINVAL;
    if (hi < size || q.low > hi - size)
        return -VMT_ENOMEM;
    found = search(&q, t->root, 0, hi, out);
    *visits += q.visits;
    return found ? 0 : -VMT_ENOMEM;
}

/* Returns 0 and sets *out, -ENOMEM (out untouched) or -EINVAL. */
int vm_tree_find_free(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                      uintptr_t align, uintptr_t *out)
{
    size_t visits = 0;

    return vm_tree_find_free_visits(t, base, size, lo, hi, align, out, &visits);
}

/* State of one in-order check walk. */
struct check_walk {
    size_t seen, limit;
    bool have_prev;
    uintptr_t prev_end;
};

/* Checks the subtree at n (whose parent must be `parent`) in order; returns
 * 0 or the first vm_tree_check_error. Stops at limit nodes so a cycle ends. */
static int check_node(struct check_walk *w, const vm_tree_node_t *n, const vm_tree_node_t *parent)
{
    const vm_tree_node_t *l, *r;
    uintptr_t gap = 0;
    int err, hl, hr;

    if (!n)
        return 0;
    if (++w->seen > w->limit)
        return VM_TREE_BAD_COUNT;
    if (n->parent != parent)
        return VM_TREE_BAD_PARENT;
    l = n->left;
    r = n->right;
    if ((err = check_node(w, l, n)) != 0)
        return err;
    if (n->start >= n->end)
        return VM_TREE_BAD_RANGE;
    if (w->have_prev && n->start < w->prev_end)
        return VM_TREE_BAD_ORDER;
    w->have_prev = true;
    w->prev_end = n->end;
    if ((err = check_node(w, r, n)) != 0)
        return err;
    hl = height(l);
    hr = height(r);
    if (n->height != 1 + (hl > hr ? hl : hr))
        return VM_TREE_BAD_HEIGHT;
    if (hl - hr > 1 || hr - hl > 1)
        return VM_TREE_BAD_BALANCE;
    if (n->min_start != (l ? l->min_start : n->start))
        return VM_TREE_BAD_MIN_START;
    if (n->max_end != (r ? r->max_end : n->end))
        return VM_TREE_BAD_MAX_END;
    if (l)
        gap = max_u(l->max_gap, n->start - l->max_end);
    if (r)
        gap = max_u(gap, max_u(r->max_gap, r->min_start - n->end));
    return n->max_gap == gap ? 0 : VM_TREE_BAD_MAX_GAP;
}

/* Returns 0 if every invariant holds, else the first broken one (children
 * are checked before their parent, so the lowest broken node is named). */
int vm_tree_check(const vm_tree_t *t)
{
    struct check_walk w = { 0, t->count, false, 0 };
    int err = check_node(&w, t->root, NULL);

    if (err)
        return err;
    return w.seen == t->count ? 0 : VM_TREE_BAD_COUNT;
}
