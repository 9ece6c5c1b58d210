/* mm/internal.h - declarations shared between the files of mm/ only. */
#pragma once

#include "mm/mm.h"

#define ASSERT_LOCKED(ctx) MM_ASSERT(spinlock_is_locked(&(ctx)->mm_lock), "mm_lock of context %p not held", (void *)(ctx))

/* Forget all state of a previous mm_init (the host platform re-inits). */
void vmap_reset(void);
void pt_reset(void);
void shm_reset(void);
void cow_reset(void);

/* shm.c: node pages of every shared object's index. */
size_t shm_node_pages_total(void);

/* mm.c: invalidates [start, end) of ctx, or all of it, on every CPU that may
 * cache it (the calling one through the HAL, the others through
 * mm_tlb_shootdown), returning when all have done it. */
void mm_tlb_flush(mm_context_t *ctx, bool all, ptr_t start, ptr_t end);

/* mm.c: the live contexts but the kernel's, linked by next (quiescent use only). */
mm_context_t *mm_context_list(void);

/* vmap.c */
size_t vmap_live_count(void);
/* Tree nodes held by every context's vmap tree (the slab cache's objects). */
size_t vmap_tree_nodes_live(void);
/* Where every context's vmap tree takes its nodes (a slab cache). */
extern const vm_tree_alloc_t vmap_tree_alloc;
/* Removes vmap from its context and frees it without touching mappings. */
void vmap_forget(vmap_t *vmap);
/* Undoes vmap_split(first, n) that returned second (nothing else changed
 * them since): first covers both again, second is freed. Cannot fail. */
void vmap_unsplit(vmap_t *first, vmap_t *second);
/* dst gets src's flags, type, content, handler and object (one more reference). */
void vmap_copy_attributes(vmap_t *dst, const vmap_t *src);
/* Splits the vmaps that straddle vaddr or last + 1, so that [vaddr, last] is
 * made of whole vmaps (guards excepted: they are left whole). 0 or -ENOMEM
 * with nothing changed (a failed second split undoes the first with
 * vmap_unsplit). */
int vmap_split_at_edges(mm_context_t *ctx, ptr_t vaddr, ptr_t last);
/* paging.c: the clone behind mm_clone_vmap_locked (cow false) and
 * cow_clone_vmap_locked (cow true). Needs both contexts' locks. */
vmap_t *vmap_clone_into(vmap_t *src_vmap, mm_context_t *dst_ctx, bool cow);

/* cow.c: true if v is copy-on-write memory: a private vmap whose faults go
 * to cow_fault_handler. The only memory where a write fault resolves a page
 * whose frame is shared (by copying it), so the only one where flag changes
 * withhold write. (A shared vmap keeps sharing its frames writable on fork
 * and flag changes, whatever its handler.) */
bool vmap_is_cow(const vmap_t *v);

/* paging.c: checks that [vaddr, +npages) is a valid range of the user half
 * (user) or kernel half; sets *last. 0 or -EINVAL. */
int mm_check_range(ptr_t vaddr, size_t npages, bool user, ptr_t *last);
/* 0 if flags are valid leaf flags for the half, else -EINVAL. */
int mm_check_flags(vm_flags flags, bool user);
