/* mm/vmap_tree.c - a B-tree of disjoint half-open ranges whose inner
 * entries carry the smallest start, the largest end and the largest gap of
 * the child under them (vmap_tree.h says the node layout).
 *
 * Every operation descends once from the root, recording the node and the
 * entry index it took at each level (path_t), and then works bottom-up along
 * that path: an insert into a full node first moves entries to a neighbour
 * with room (so that nodes filled in address order end up full, not half
 * full), and splits only when both neighbours are full; a removal that
 * leaves a node below VM_TREE_MIN borrows from a neighbour or merges with
 * it. Afterwards the entries that sum up the changed nodes are recomputed
 * up to the root, O(VM_TREE_MAX) per level.
 *
 * Freestanding: no allocation but through t->alloc, no platform calls, no
 * locking. */
#include "vmap_tree.h"

enum { VMT_ENOMEM = 12, VMT_EEXIST = 17, VMT_EINVAL = 22 };

typedef vm_tree_bnode_t bnode_t;

/* One entry, moved between nodes as a whole. */
typedef struct entry {
    uintptr_t lo, hi, gap;
    void *ptr;
} entry_t;

/* The node and the entry index taken at each level; level 0 is the leaf
 * (its index: where the range is or would go), height - 1 the root. */
typedef struct path {
    bnode_t *n[VM_TREE_MAX_HEIGHT];
    unsigned i[VM_TREE_MAX_HEIGHT];
} path_t;

static uintptr_t max_u(uintptr_t a, uintptr_t b)
{
    return a > b ? a : b;
}

static entry_t get(const bnode_t *n, unsigned i)
{
    return (entry_t){ n->lo[i], n->hi[i], n->gap[i], n->ptr[i] };
}

static void put(bnode_t *n, unsigned i, entry_t e)
{
    n->lo[i] = e.lo;
    n->hi[i] = e.hi;
    n->gap[i] = e.gap;
    n->ptr[i] = e.ptr;
}

static void clear_slot(bnode_t *n, unsigned i)
{
    put(n, i, (entry_t){ 0, UINTPTR_MAX, 0, NULL });
}

static void init_node(bnode_t *n, unsigned level)
{
    n->count = 0;
    n->level = level;
    for (unsigned i = 0; i < VM_TREE_MAX; i++)
        clear_slot(n, i);
}

static entry_t range_entry(vm_tree_node_t *r)
{
    return (entry_t){ r->start, r->end, 0, r };
}

/* The entry that sums up node n (non-empty) in its parent. */
static entry_t summary(bnode_t *n)
{
    uintptr_t gap = n->gap[0];
    for (unsigned i = 1; i < n->count; i++)
        gap = max_u(gap, max_u(n->gap[i], n->lo[i] - n->hi[i - 1]));
    return (entry_t){ n->lo[0], n->hi[n->count - 1], gap, n };
}

static void refresh(bnode_t *parent, unsigned i)
{
    put(parent, i, summary(parent->ptr[i]));
}

/* Recomputes the entries summing up the path's nodes from level l up. */
static void refresh_up(const vm_tree_t *t, const path_t *p, unsigned l)
{
    for (; l + 1 < t->height; l++)
        refresh(p->n[l + 1], p->i[l + 1]);
}

/* Makes room at pos (count < VM_TREE_MAX) and stores e there. */
static void insert_entry(bnode_t *n, unsigned pos, entry_t e)
{
    for (unsigned j = n->count; j > pos; j--)
        put(n, j, get(n, j - 1));
    put(n, pos, e);
    n->count++;
}

static void delete_entry(bnode_t *n, unsigned pos)
{
    for (unsigned j = pos; j + 1 < n->count; j++)
        put(n, j, get(n, j + 1));
    n->count--;
    clear_slot(n, n->count);
}

/* Appends n's entries to buf; returns how many. */
static unsigned gather(entry_t *buf, const bnode_t *n)
{
    for (unsigned j = 0; j < n->count; j++)
        buf[j] = get(n, j);
    return n->count;
}

/* Makes n hold exactly buf[0..k). */
static void scatter(bnode_t *n, const entry_t *buf, unsigned k)
{
    for (unsigned j = 0; j < VM_TREE_MAX; j++) {
        if (j < k)
            put(n, j, buf[j]);
        else
            clear_slot(n, j);
    }
    n->count = k;
}

/* Spreads the entries of parent's children a and a + 1 (plus e at position
 * epos of their concatenation, if extra) evenly over the two, the left one
 * taking the odd one. Both are in the same level; the total fits 2 nodes. */
static void spread_pair(bnode_t *parent, unsigned a, bool extra, unsigned epos, entry_t e)
{
    entry_t buf[2 * VM_TREE_MAX + 1];
    bnode_t *l = parent->ptr[a], *r = parent->ptr[a + 1];
    unsigned k = gather(buf, l);
    k += gather(buf + k, r);
    if (extra) {
        for (unsigned j = k; j > epos; j--)
            buf[j] = buf[j - 1];
        buf[epos] = e;
        k++;
    }
    scatter(l, buf, (k + 1) / 2);
    scatter(r, buf + (k + 1) / 2, k - (k + 1) / 2);
    refresh(parent, a);
    refresh(parent, a + 1);
}

/* Which neighbour of parent's child i has room: -1 the left, +1 the right,
 * 0 neither. The insert's count of nodes to allocate and its placing ask
 * the same question, so they agree. */
static int neighbour_with_room(const bnode_t *parent, unsigned i)
{
    if (i > 0 && ((const bnode_t *)parent->ptr[i - 1])->count < VM_TREE_MAX)
        return -1;
    if (i + 1 < parent->count && ((const bnode_t *)parent->ptr[i + 1])->count < VM_TREE_MAX)
        return 1;
    return 0;
}

/* Asks for every cache line of n at once: a lookup reads hi[] and then
 * lo[i] and ptr[i], which would otherwise be two misses one after the
 * other at each level that is not in the cache. */
static inline void prefetch_node(const bnode_t *n)
{
    for (size_t off = 0; off < sizeof(*n); off += 64)
        __builtin_prefetch((const char *)n + off);
}

/* The index of the first entry of n that ends above addr; n->count (or
 * more, up to VM_TREE_MAX) if none does. Unused slots end at UINTPTR_MAX,
 * which no addr passes, so the loop has a fixed bound and no branch; it is
 * unrolled (every fault looks its vmap up here), so that it is also one
 * straight block for an emulator that translates a block per branch. */
static unsigned first_above(const bnode_t *n, uintptr_t addr)
{
    unsigned i = 0;
#pragma GCC unroll 16
    for (unsigned j = 0; j < VM_TREE_MAX; j++)
        i += n->hi[j] <= addr;
    return i;
}

/* Descends towards addr, filling p: at each inner level the first child
 * that ends above addr (the last child if none does), at the leaf the first
 * entry ending above addr (count if none). t must not be empty. */
static void descend(const vm_tree_t *t, uintptr_t addr, path_t *p)
{
    bnode_t *n = t->root;
    for (unsigned l = t->height - 1; l > 0; l--) {
        unsigned i = first_above(n, addr);
        if (i >= n->count)
            i = n->count - 1;
        p->n[l] = n;
        p->i[l] = i;
        n = n->ptr[i];
    }
    unsigned i = first_above(n, addr);
    p->n[0] = n;
    p->i[0] = i < n->count ? i : n->count;
}

/* Tree nodes an insert along p needs: one per level whose node and
 * neighbours are full, and a new root if the root splits. */
static unsigned nodes_needed(const vm_tree_t *t, const path_t *p)
{
    unsigned need = 0;
    for (unsigned l = 0; l < t->height; l++) {
        if (p->n[l]->count < VM_TREE_MAX)
            return need;
        if (l + 1 == t->height)
            return need + 2;
        if (neighbour_with_room(p->n[l + 1], p->i[l + 1]))
            return need;
        need++;
    }
    return need;
}

/* Puts e at position pos of the level-l node of p, making room as
 * nodes_needed foresaw (spare holds that many nodes), then refreshes the
 * entries above. */
static void place(vm_tree_t *t, path_t *p, unsigned l, unsigned pos, entry_t e, bnode_t **spare)
{
    for (;;) {
        bnode_t *n = p->n[l];
        if (n->count < VM_TREE_MAX) {
            insert_entry(n, pos, e);
            break;
        }
        if (l + 1 < t->height) {
            bnode_t *parent = p->n[l + 1];
            unsigned pi = p->i[l + 1];
            int side = neighbour_with_room(parent, pi);
            if (side < 0) {
                unsigned before = ((bnode_t *)parent->ptr[pi - 1])->count;
                spread_pair(parent, pi - 1, true, before + pos, e);
                break;
            }
            if (side > 0) {
                spread_pair(parent, pi, true, pos, e);
                break;
            }
        }
        /* Split: n keeps the lower half, m takes the upper one. */
        entry_t buf[VM_TREE_MAX + 1];
        unsigned k = gather(buf, n);
        for (unsigned j = k; j > pos; j--)
            buf[j] = buf[j - 1];
        buf[pos] = e;
        k++;
        bnode_t *m = *spare++;
        m->level = n->level;
        scatter(n, buf, k / 2);
        scatter(m, buf + k / 2, k - k / 2);
        t->nodes++;
        if (l + 1 == t->height) {
            bnode_t *root = *spare++;
            init_node(root, n->level + 1);
            insert_entry(root, 0, summary(n));
            insert_entry(root, 1, summary(m));
            t->root = root;
            t->height++;
            t->nodes++;
            return;
        }
        refresh(p->n[l + 1], p->i[l + 1]);
        e = summary(m);
        pos = p->i[l + 1] + 1;
        l++;
    }
    refresh_up(t, p, l);
}

int vm_tree_insert(vm_tree_t *t, vm_tree_node_t *node)
{
    if (node->start >= node->end)
        return -VMT_EINVAL;
    if (!t->root) {
        bnode_t *leaf = t->alloc->alloc(t->alloc->arg);
        if (!leaf)
            return -VMT_ENOMEM;
        init_node(leaf, 0);
        insert_entry(leaf, 0, range_entry(node));
        node->prev = node->next = NULL;
        t->root = leaf;
        t->height = 1;
        t->nodes = 1;
        t->count = 1;
        return 0;
    }
    path_t p;
    descend(t, node->start, &p);
    bnode_t *leaf = p.n[0];
    unsigned pos = p.i[0];
    /* Everything before pos ends at or below start; the range at pos is the
     * only one that can overlap. */
    if (pos < leaf->count && leaf->lo[pos] < node->end)
        return -VMT_EEXIST;
    bnode_t *spare[VM_TREE_MAX_HEIGHT + 1];
    unsigned need = nodes_needed(t, &p);
    for (unsigned k = 0; k < need; k++) {
        spare[k] = t->alloc->alloc(t->alloc->arg);
        if (!spare[k]) {
            while (k-- > 0)
                t->alloc->free(t->alloc->arg, spare[k]);
            return -VMT_ENOMEM;
        }
    }
    /* The leaf is not empty (only an empty tree has an empty leaf). */
    vm_tree_node_t *prev = pos > 0 ? leaf->ptr[pos - 1] : ((vm_tree_node_t *)leaf->ptr[0])->prev;
    vm_tree_node_t *next = pos > 0 ? prev->next : leaf->ptr[0];
    node->prev = prev;
    node->next = next;
    if (prev)
        prev->next = node;
    if (next)
        next->prev = node;
    place(t, &p, 0, pos, range_entry(node), spare);
    t->count++;
    return 0;
}

/* Descends to node (in t); false if it is not there. */
static bool find_path(const vm_tree_t *t, const vm_tree_node_t *node, path_t *p)
{
    if (!t->root)
        return false;
    descend(t, node->start, p);
    return p->i[0] < p->n[0]->count && p->n[0]->ptr[p->i[0]] == node;
}

void vm_tree_remove(vm_tree_t *t, vm_tree_node_t *node)
{
    path_t p;
    if (!find_path(t, node, &p))
        return;
    if (node->prev)
        node->prev->next = node->next;
    if (node->next)
        node->next->prev = node->prev;
    node->prev = node->next = NULL;
    delete_entry(p.n[0], p.i[0]);
    t->count--;
    for (unsigned l = 0;; l++) {
        bnode_t *n = p.n[l];
        if (l + 1 == t->height) {
            /* The root: an empty leaf goes, an inner root with one child
             * hands the tree to it. */
            if (n->count == 0 || (l > 0 && n->count == 1)) {
                t->root = n->count ? n->ptr[0] : NULL;
                t->height--;
                t->nodes--;
                t->alloc->free(t->alloc->arg, n);
            }
            return;
        }
        if (n->count >= VM_TREE_MIN) {
            refresh_up(t, &p, l);
            return;
        }
        /* Too few: borrow from or merge with a neighbour (the left one if
         * there is one; a non-root node always has one of the two). */
        bnode_t *parent = p.n[l + 1];
        unsigned a = p.i[l + 1] > 0 ? p.i[l + 1] - 1 : 0;
        bnode_t *left = parent->ptr[a], *right = parent->ptr[a + 1];
        if (left->count + right->count > VM_TREE_MAX) {
            spread_pair(parent, a, false, 0, (entry_t){ 0 });
            refresh_up(t, &p, l + 1);
            return;
        }
        entry_t buf[2 * VM_TREE_MAX];
        unsigned k = gather(buf, left);
        k += gather(buf + k, right);
        scatter(left, buf, k);
        delete_entry(parent, a + 1);
        refresh(parent, a);
        t->nodes--;
        t->alloc->free(t->alloc->arg, right);
        /* The parent lost an entry: go on one level up, where the path's
         * index may have named the freed node. */
        p.i[l + 1] = a;
    }
}

int vm_tree_set_end(vm_tree_t *t, vm_tree_node_t *node, uintptr_t end)
{
    path_t p;
    if (end <= node->start)
        return -VMT_EINVAL;
    if (node->next && end > node->next->start)
        return -VMT_EEXIST;
    if (!find_path(t, node, &p))
        return -VMT_EINVAL;
    node->end = end;
    p.n[0]->hi[p.i[0]] = end;
    refresh_up(t, &p, 0);
    return 0;
}

/* Returns the lowest node with end > addr, or NULL. */
vm_tree_node_t *vm_tree_first_from(const vm_tree_t *t, uintptr_t addr)
{
    const bnode_t *n = t->root;
    if (!n)
        return NULL;
    for (unsigned l = t->height - 1;; l--) {
        unsigned i = first_above(n, addr);
        if (i >= n->count)
            return NULL;
        if (l == 0)
            return n->ptr[i];
        n = n->ptr[i];
        prefetch_node(n);
    }
}

/* Returns the node containing addr, or NULL. */
vm_tree_node_t *vm_tree_find(const vm_tree_t *t, uintptr_t addr)
{
    const bnode_t *n = t->root;
    if (!n)
        return NULL;
    for (unsigned l = t->height - 1;; l--) {
        unsigned i = first_above(n, addr);
        if (i >= n->count)
            return NULL;
        if (l == 0)
            return n->lo[i] <= addr ? n->ptr[i] : NULL;
        n = n->ptr[i];
        prefetch_node(n);
    }
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

/* The lowest fit among the free intervals between the ranges under n (a
 * level-`level` node): in order, the gaps inside entry 0, the gap between
 * entries 0 and 1, the gaps inside entry 1, ... An entry is entered only
 * if its largest gap holds size and its range reaches low + size; once an
 * entry starts above hi - size nothing from there on can fit. A child
 * entered without success must contain low or miss by alignment, so when
 * ranges and base are multiples of align the search enters at most two
 * nodes per level. */
static bool search(struct fit_req *q, const bnode_t *n, unsigned level, uintptr_t *out)
{
    q->visits++;
    for (unsigned i = 0; i < n->count; i++) {
        if (i > 0 && gap_fit(q, n->hi[i - 1], n->lo[i], out))
            return true;
        if (n->lo[i] > q->hi - q->size)
            return false;
        if (level > 0 && n->gap[i] >= q->size && n->hi[i] >= q->low + q->size &&
            search(q, n->ptr[i], level - 1, out))
            return true;
    }
    return false;
}

/* Returns 0 and sets *out to the lowest fit, -ENOMEM if none, -EINVAL for
 * size 0 or a bad align; adds the nodes visited to *visits. The free space
 * is below the first range, between ranges, and above the last one (up to
 * hi: nothing beyond it can be returned). */
int vm_tree_find_free_visits(const vm_tree_t *t, uintptr_t base, uintptr_t size, uintptr_t lo, uintptr_t hi,
                             uintptr_t align, uintptr_t *out, size_t *visits)
{
    struct fit_req q = { max_u(base, lo), hi, size, align, 0 };
    const bnode_t *r = t->root;
    bool found;

    if (size == 0 || align == 0 || (align & (align - 1)) != 0)
        return -VMT_EINVAL;
    if (hi < size || q.low > hi - size)
        return -VMT_ENOMEM;
    if (!r)
        found = gap_fit(&q, 0, hi, out);
    else
        found = gap_fit(&q, 0, r->lo[0], out) || search(&q, r, t->height - 1, out) ||
                gap_fit(&q, r->hi[r->count - 1], hi, out);
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
    const vm_tree_t *t;
    size_t ranges, nodes;
    const vm_tree_node_t *prev; /* the last range seen */
};

/* Checks the subtree of n (a level-`level` node; root says whether it is
 * the tree's root) in order; returns 0 or the first vm_tree_check_error.
 * Stops once more nodes or ranges are met than counted, so a cycle ends. */
static int check_node(struct check_walk *w, const bnode_t *n, unsigned level, bool root)
{
    unsigned min = root ? (level > 0 ? 2 : 1) : VM_TREE_MIN;

    if (++w->nodes > w->t->nodes)
        return VM_TREE_BAD_COUNT;
    if (n->level != level)
        return VM_TREE_BAD_HEIGHT;
    if (n->count < min || n->count > VM_TREE_MAX)
        return VM_TREE_BAD_FILL;
    for (unsigned i = n->count; i < VM_TREE_MAX; i++)
        if (n->hi[i] != UINTPTR_MAX)
            return VM_TREE_BAD_FILL;
    for (unsigned i = 0; i < n->count; i++) {
        if (level == 0) {
            const vm_tree_node_t *r = n->ptr[i];
            if (++w->ranges > w->t->count)
                return VM_TREE_BAD_COUNT;
            if (r->start >= r->end || n->lo[i] != r->start || n->hi[i] != r->end)
                return VM_TREE_BAD_RANGE;
            if (w->prev && r->start < w->prev->end)
                return VM_TREE_BAD_ORDER;
            if (r->prev != w->prev || (w->prev && w->prev->next != r))
                return VM_TREE_BAD_LINK;
            if (n->gap[i] != 0)
                return VM_TREE_BAD_GAP;
            w->prev = r;
            continue;
        }
        const bnode_t *c = n->ptr[i];
        int err = check_node(w, c, level - 1, false);
        if (err)
            return err;
        entry_t s = summary((bnode_t *)c);
        if (n->lo[i] != s.lo)
            return VM_TREE_BAD_LO;
        if (n->hi[i] != s.hi)
            return VM_TREE_BAD_HI;
        if (n->gap[i] != s.gap)
            return VM_TREE_BAD_GAP;
    }
    return 0;
}

/* Returns 0 if every invariant holds, else the first broken one. */
int vm_tree_check(const vm_tree_t *t)
{
    struct check_walk w = { t, 0, 0, NULL };
    int err;

    if (!t->root)
        return t->height == 0 && t->count == 0 && t->nodes == 0 ? 0 : VM_TREE_BAD_COUNT;
    if (t->height == 0 || t->height > VM_TREE_MAX_HEIGHT)
        return VM_TREE_BAD_HEIGHT;
    err = check_node(&w, t->root, t->height - 1, true);
    if (err)
        return err;
    if (w.prev && w.prev->next != NULL)
        return VM_TREE_BAD_LINK;
    return w.ranges == t->count && w.nodes == t->nodes ? 0 : VM_TREE_BAD_COUNT;
}
