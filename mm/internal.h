/* mm/internal.h - declarations shared between the files of mm/ only. */
#pragma once

#include "mm/mm.h"

/* The last byte of a vmap. */
static inline ptr_t vmap_last(const vmap_t *v) { return v->vaddr + v->npages * PAGE_SIZE - 1; }

#define ASSERT_LOCKED(ctx) MM_ASSERT(spinlock_is_locked(&(ctx)->mm_lock), "mm_lock of context %p not held", (void *)(ctx))

/* Forget all state of a previous mm_init (the host platform re-inits). */
void mm_contexts_reset(void);
void vmap_reset(void);
void pt_reset(void);
void shm_reset(void);
void cow_reset(void);

/* shm.c: node pages of every shared object's index. */
size_t shm_node_pages_total(void);

/* mm.c: the zero page (with its permanent reference) and the kernel
 * context with every kernel-half table under its root. 0 or -ENOMEM. */
int mm_contexts_init(void);
/* mm.c: the live contexts but the kernel's, linked by next (quiescent use only). */
mm_context_t *mm_context_list(void);
/* mm.c: live contexts, the kernel's included. */
size_t mm_live_contexts(void);

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
/* paging.c: what every range operation of the paging API starts with: a
 * valid range of one half (and valid leaf flags for that half, when flags is
 * given). *ctx becomes the context that owns the half (the kernel context's
 * for the kernel half), whose lock the caller must hold (asserted). 0 or
 * -EINVAL. */
int mm_range_begin(mm_context_t *mmctx, ptr_t vaddr, size_t npages, const vm_flags *flags, ptr_t *last,
                   mm_context_t **ctx);
/* cow.c: a vmap without a fault handler (and not a guard) gets the
 * copy-on-write one, and so does its clone b: after a copy-on-write clone
 * their shared frames are read-only on both sides, the next write copies. */
void vmap_make_cow(vmap_t *a, vmap_t *b);
/* paging.c: the clone behind mm_clone_vmap_locked (cow false) and
 * cow_clone_vmap_locked (cow true). Needs both contexts' locks. */
vmap_t *vmap_clone_into(vmap_t *src_vmap, mm_context_t *dst_ctx, bool cow);

/* fault.c: resolves every page of v as a user-mode access of its widest
 * kind (write if it allows writing, else read) would: anonymous memory gets
 * its frames now. Needs v's context lock. 0, -ENOMEM or -EFAULT (a page the
 * handler refuses); pages resolved before a failure stay mapped (the caller
 * destroys the vmap). */
int vmap_populate_locked(vmap_t *v);
/* cow.c: true if v is copy-on-write memory: a private vmap whose faults go
 * to cow_fault_handler. The only memory where a write fault resolves a page
 * whose frame is shared (by copying it), so the only one where flag changes
 * withhold write. (A shared vmap keeps sharing its frames writable on fork
 * and flag changes, whatever its handler.) */
bool vmap_is_cow(const vmap_t *v);

/* pagetable.c: checks that [vaddr, +npages) is a valid range of the user
 * half (user) or kernel half, as the walker needs; sets *last. 0 or -EINVAL. */
int mm_check_range(ptr_t vaddr, size_t npages, bool user, ptr_t *last);
/* 0 if flags are valid leaf flags for the half, else -EINVAL. */
int mm_check_flags(vm_flags flags, bool user);
