/* mm/pagetable.h - the page-table walker (internal to mm/).
 *
 * One recursive loop over levels serves every operation. Ranges are given
 * as [va, last] (inclusive last, so the top of the address space never
 * wraps) and must lie in one half. Changes are gathered: the leaf range to
 * invalidate, whether tables were freed, and the frames to free after the
 * invalidation; pt_finish() does the single TLB call and the freeing. */
#pragma once

#include "mm/mm.h"

typedef struct pt_gather {
    pmm_gather_t frames;      /* frames and tables to free after the invalidation */
    ptr_t flush_lo, flush_hi; /* inclusive hull of changed leaves; lo > hi: none */
    bool tables_freed;        /* a table was unlinked: invalidate everything */
} pt_gather_t;

/* Makes g empty (pmm_gather_init: no clearing of the reference array). */
static inline void pt_gather_init(pt_gather_t *g)
{
    pmm_gather_init(&g->frames);
    g->flush_lo = (ptr_t)-1;
    g->flush_hi = 0;
    g->tables_freed = false;
}

/* Maps [va, last] to pfn.. (user half: 4 KiB leaves, a reference per frame,
 * replaced frames unreferenced; kernel half: huge leaves where aligned, no
 * references). flags must be encodable. Returns 0 or -ENOMEM with the tables
 * as they were (huge leaves possibly split, which changes no translation). */
int pt_map(mm_context_t *ctx, ptr_t va, ptr_t last, pfn_t pfn, vm_flags flags, pt_gather_t *g);
/* pt_map and pt_unmap in the user half without references: the supervisor
 * pages of a reserved vmap (frames kmm may not manage). pt_map_uncounted
 * maps a range no vmap held, where a present entry can only be a counted
 * one mm_do_map left outside any vmap: it drops that entry's reference. */
int pt_map_uncounted(mm_context_t *ctx, ptr_t va, ptr_t last, pfn_t pfn, vm_flags flags, pt_gather_t *g);
int pt_unmap_uncounted(mm_context_t *ctx, ptr_t va, ptr_t last, pt_gather_t *g);
/* pt_map of the one user-half page at va: pt_walk_page then pt_set_page.
 * 0 or -ENOMEM with the tables as they were. */
int pt_map_page(mm_context_t *ctx, ptr_t va, pfn_t pfn, vm_flags flags, pt_gather_t *g);

/* Where one descent towards a page stopped: the page's level-1 entry, or
 * the entry above it that is not present or is a huge leaf. */
typedef struct pt_cursor {
    pte_t *slot;    /* the entry */
    pte_t entry;    /* its value when the walk read it */
    unsigned level; /* its level (1: the page's own entry) */
} pt_cursor_t;

/* One descent from ctx's root towards the page at va (canonical), creating
 * nothing; counted in ctx->table_walks. c->entry is present exactly when
 * va is mapped (by a leaf at c->level). Needs the lock of the context that
 * owns va's half (or a caller that knows nothing changes the tables). */
void pt_walk_page(mm_context_t *ctx, ptr_t va, pt_cursor_t *c);
/* Maps the user page va to pfn with flags (encodable) where pt_walk_page(ctx,
 * va, c) stopped, the tables unchanged since: makes the tables missing below
 * c->slot, takes a reference on pfn, and if a page was mapped there hands
 * its reference and its invalidation to g (dropped by pt_finish after every
 * CPU invalidated it). c then names the page's entry. 0, or -ENOMEM with
 * the tables as they were (the ones made on the way gathered into g). g may
 * be NULL only when c is at level 1 and not present: nothing can be
 * gathered then. Needs ctx->mm_lock. */
int pt_set_page(mm_context_t *ctx, ptr_t va, pt_cursor_t *c, pfn_t pfn, vm_flags flags, pt_gather_t *g);
/* Unmaps every present page of [va, last]. -ENOMEM only when a huge leaf
 * at an edge cannot be split; then nothing is unmapped. */
int pt_unmap(mm_context_t *ctx, ptr_t va, ptr_t last, pt_gather_t *g);
/* Gives every present page of [va, last] the flags (encodable). With
 * guard_shared, a 4 KiB page whose frame is shared (the zero page, or a count
 * above one) never becomes writable: copy-on-write stays in force.
 * -ENOMEM as pt_unmap. */
int pt_protect(mm_context_t *ctx, ptr_t va, ptr_t last, vm_flags flags, bool guard_shared, pt_gather_t *g);
/* Copies the present 4 KiB mappings of [va, last] (user half) from src into
 * dst, where that range is empty, taking a reference per frame; with cow,
 * writable pages become read-only on both sides (the source's changes go
 * into g). -ENOMEM with dst unchanged. */
int pt_copy(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last, bool cow, pt_gather_t *g);
/* pt_copy in two steps, so that a fork can create every table it needs
 * before it changes anything: prepare may fail (-ENOMEM, the tables it made
 * are left for pt_prune), apply cannot. */
int pt_copy_prepare(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last);
void pt_copy_apply(mm_context_t *src, mm_context_t *dst, ptr_t va, ptr_t last, bool cow, pt_gather_t *g);
/* Frees the empty tables of [va, last] (not the pinned ones), invalidating. */
void pt_prune(mm_context_t *ctx, ptr_t va, ptr_t last);
/* The leaf mapping va: 0 with *entry and *level, or -ENOENT. */
int pt_lookup(mm_context_t *ctx, ptr_t va, pte_t *entry, unsigned *level);
/* Ends an operation: orders its entry stores (hal_tables_sync), invalidates
 * what g gathered in ctx's address space and frees its frames. */
void pt_finish(mm_context_t *ctx, pt_gather_t *g);

/* Page-table pages: allocated zeroed with one reference (the tree's),
 * counted globally and, for the user half, per context. */
pfn_t pt_alloc_table(mm_context_t *ctx, bool user_half);
void pt_free_table(mm_context_t *ctx, pfn_t table, bool user_half, pmm_gather_t *g);
size_t pt_table_pages_total(void);
/* Invalidation requests sent to other CPUs since mm_init (one per operation). */
size_t pt_shootdowns_total(void);
