/* kernel/ptwalk.c - read-only page-table walks with the HAL codec only. */
#include "kernel/ptwalk.h"

#include "kernel/printk.h"
#include "mm/platform.h"

/* va of index i of the root, made canonical (sign-extended from va_bits). */
static ptr_t root_entry_va(const hal_geometry_t *g, unsigned i)
{
    ptr_t va = (ptr_t)i << hal_level_shift(g->levels);
    if (va & ((ptr_t)1 << (g->va_bits - 1)))
        va |= ~(ptr_t)0 << g->va_bits;
    return va;
}

size_t pt_walk_path(pfn_t root, const hal_geometry_t *g, ptr_t va, pt_step_t *steps)
{
    size_t n = 0;
    pfn_t table = root;
    for (unsigned level = g->levels; level >= 1; level--) {
        const pte_t *t = pfn_va(table);
        unsigned idx = hal_level_index(g, level, va);
        pte_t e = hal_pte_load(&t[idx]);
        steps[n++] = (pt_step_t){ .level = level, .index = idx, .table = table, .entry = e };
        if (!hal_pte_present(e) || hal_pte_is_leaf(level, e) || level == 1)
            break;
        table = hal_pte_pfn(level, e);
    }
    return n;
}

const char *pt_flags_str(vm_flags f, char *buf)
{
    buf[0] = (f & VM_READ) ? 'r' : '-';
    buf[1] = (f & VM_WRITE) ? 'w' : '-';
    buf[2] = (f & VM_EXEC) ? 'x' : '-';
    buf[3] = ' ';
    buf[4] = (f & VM_USER) ? 'u' : 'k';
    buf[5] = (f & VM_GLOBAL) ? 'g' : '-';
    buf[6] = (f & VM_CACHE_DISABLED) ? 'c' : '-';
    buf[7] = (f & VM_WRITE_THROUGH) ? 't' : '-';
    buf[8] = 0;
    return buf;
}

void pt_print_path(pfn_t root, const hal_geometry_t *g, ptr_t va)
{
    pt_step_t steps[HAL_MAX_LEVELS];
    size_t n = pt_walk_path(root, g, va, steps);
    printk("  page-table walk of %016lx (%s, root pfn %llx):\n", (unsigned long)va, g->name, (unsigned long long)root);
    for (size_t i = 0; i < n; i++) {
        const pt_step_t *s = &steps[i];
        pte_t e = s->entry;
        char fl[16];
        if (!hal_pte_present(e))
            printk("    L%u [%3u] %016llx  not present\n", s->level, s->index, (unsigned long long)e);
        else if (hal_pte_is_leaf(s->level, e))
            printk("    L%u [%3u] %016llx  leaf: frame %llx, %s\n", s->level, s->index, (unsigned long long)e,
                   (unsigned long long)hal_pte_pfn(s->level, e), pt_flags_str(hal_pte_flags(s->level, e), fl));
        else
            printk("    L%u [%3u] %016llx  table at frame %llx\n", s->level, s->index, (unsigned long long)e,
                   (unsigned long long)hal_pte_pfn(s->level, e));
    }
}

typedef struct leaf_walk {
    const hal_geometry_t *g;
    ptr_t first, last;
    pt_leaf_fn fn;
    void *arg;
} leaf_walk_t;

static void walk_table(const leaf_walk_t *w, unsigned level, pfn_t table, ptr_t base, bool is_root)
{
    const pte_t *t = pfn_va(table);
    ptr_t span = (ptr_t)hal_level_span(level);
    for (unsigned i = 0; i < hal_level_entries(w->g, level); i++) {
        ptr_t va = is_root ? root_entry_va(w->g, i) : base + (ptr_t)i * span;
        ptr_t va_last = va + (span - 1);
        if (va_last < w->first || va > w->last)
            continue;
        pte_t e = hal_pte_load(&t[i]);
        if (!hal_pte_present(e))
            continue;
        if (hal_pte_is_leaf(level, e)) {
            pt_leaf_t leaf = { .va = va, .level = level, .entry = e };
            w->fn(&leaf, w->arg);
        } else if (level > 1) {
            walk_table(w, level - 1, hal_pte_pfn(level, e), va, false);
        }
    }
}

void pt_for_each_leaf(pfn_t root, const hal_geometry_t *g, ptr_t first, ptr_t last, pt_leaf_fn fn, void *arg)
{
    leaf_walk_t w = { g, first, last, fn, arg };
    walk_table(&w, g->levels, root, 0, true);
}

typedef struct dump_run {
    bool open;
    ptr_t start, end;     /* [start, end) virtual; end 0 = top */
    uint64_t pa_start, pa_next;
    unsigned level;
    vm_flags flags;
    size_t count;
    pt_dump_stats_t *stats;
} dump_run_t;

static const char *size_str(uint64_t bytes, char *buf, size_t n)
{
    if (bytes >= (1ull << 30) && !(bytes & ((1ull << 30) - 1)))
        snprintf(buf, n, "%lluG", (unsigned long long)(bytes >> 30));
    else if (bytes >= (1ull << 20) && !(bytes & ((1ull << 20) - 1)))
        snprintf(buf, n, "%lluM", (unsigned long long)(bytes >> 20));
    else
        snprintf(buf, n, "%lluK", (unsigned long long)(bytes >> 10));
    return buf;
}

static void dump_flush(dump_run_t *r)
{
    if (!r->open)
        return;
    char fl[16], total[16], page[16];
    uint64_t span = hal_level_span(r->level);
    printk("%016lx-%016lx %7s  pa %012llx  %s  %zu x %s\n", (unsigned long)r->start, (unsigned long)r->end,
           size_str(span * r->count, total, sizeof(total)), (unsigned long long)r->pa_start, pt_flags_str(r->flags, fl),
           r->count, size_str(span, page, sizeof(page)));
    if (r->stats)
        r->stats->ranges++;
    r->open = false;
}

static void dump_leaf(const pt_leaf_t *leaf, void *arg)
{
    dump_run_t *r = arg;
    vm_flags f = hal_pte_flags(leaf->level, leaf->entry);
    uint64_t pa = (uint64_t)hal_pte_pfn(leaf->level, leaf->entry) << PAGE_SHIFT;
    uint64_t span = hal_level_span(leaf->level);
    if (r->stats) {
        r->stats->leaves[leaf->level]++;
        if ((f & VM_WRITE) && (f & VM_EXEC))
            r->stats->writable_exec++;
    }
    if (r->open && r->end == leaf->va && r->level == leaf->level && r->flags == f && r->pa_next == pa) {
        r->end += span;
        r->pa_next += span;
        r->count++;
        return;
    }
    dump_flush(r);
    *r = (dump_run_t){ .open = true, .start = leaf->va, .end = leaf->va + span, .pa_start = pa, .pa_next = pa + span,
                       .level = leaf->level, .flags = f, .count = 1, .stats = r->stats };
}

void pt_dump(pfn_t root, const hal_geometry_t *g, ptr_t first, ptr_t last, pt_dump_stats_t *stats)
{
    dump_run_t run = { .stats = stats };
    if (stats)
        *stats = (pt_dump_stats_t){ 0 };
    pt_for_each_leaf(root, g, first, last, dump_leaf, &run);
    dump_flush(&run);
}
