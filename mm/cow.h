/* mm/cow.h - zero-on-demand, copy-on-write, shared anonymous memory, fork
 * and protection changes, over the paging API. Every *_locked function needs
 * the lock of each context it touches (mm_lock_ctx_pair for two) and asserts
 * it; the others say what they take. */
#pragma once

#include "mm/paging.h"

/* Creates a vmap of npages (placed as mm_get_free_vaddr_locked with
 * allocflags) whose pages are filled on demand: a read maps the shared zero
 * page read-only, a write maps a fresh zeroed frame, a write after a read
 * replaces the zero page. Nothing is allocated until then, unless
 * allocflags has VALLOC_POPULATE: then every page gets a zeroed frame now
 * (a vmap without VM_WRITE maps the zero page), and when memory runs out
 * the call fails with ERR_PTR(-ENOMEM), the vmap and every frame and table
 * it took gone again.
 * Returns the vmap or ERR_PTR as mm_get_free_vaddr_locked, -EINVAL for bad
 * flags (VM_READ is needed; VM_USER is added). */
vmap_t *cow_allocate_zeroed_pages(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags);

/* Anonymous memory of either type: VMAP_TYPE_PRIVATE is
 * cow_allocate_zeroed_pages; VMAP_TYPE_SHARED is backed by a shared object,
 * so that after a fork both sides see the same frames, pages first touched
 * after the fork included. ERR_PTR(-ENOMEM) when the object does not fit.
 * VALLOC_POPULATE as for cow_allocate_zeroed_pages (a shared vmap's object
 * gets every frame). */
vmap_t *mm_map_anonymous_locked(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags,
                                vmap_type_t type);

/* Clones source_vmap into target_mmctx at the same address, copy-on-write
 * (MOS's argument order: target first): both sides share every frame
 * read-only (one more reference each), the source's TLB is invalidated, and
 * the next write on either side copies (or, for the last holder, just makes
 * the page writable again); a vmap without a fault handler gets the
 * copy-on-write one on both sides, a guard stays a guard. Needs both
 * contexts' locks (mm_lock_ctx_pair(source, target)). ERR_PTR(-EINVAL) if
 * target is the source's context, ERR_PTR(-EEXIST / -ENOMEM), target
 * unchanged. */
vmap_t *cow_clone_vmap_locked(mm_context_t *target_mmctx, vmap_t *source_vmap);

/* Fork: a new context with every vmap of parent cloned, private ones
 * copy-on-write, shared ones sharing frames writable on both sides, guards
 * as guards. Takes the parent's and the child's locks (mm_lock_ctx_pair), so
 * the caller must hold neither. Every table the child needs is made before
 * the parent is touched, so on ERR_PTR(-ENOMEM) the child is gone and the
 * parent is as it was. */
mm_context_t *mm_clone_context(mm_context_t *parent);

/* Options of a fork (mm_clone_opts_t, mm/kmm.h). Its reserve_frames is the
 * fork reserve: fail with -ENOMEM unless at least that many frames are
 * still free once the child is made, so that the copy-on-write faults both
 * sides take right after a fork (stack, data) find memory. Checked before
 * the parent is touched: on failure the parent is as it was and the child
 * is gone. */
/* mm_clone_context with options (opts NULL: none); same locks, same
 * results, plus the reserve's -ENOMEM. */
mm_context_t *mm_clone_context_opts(mm_context_t *parent, const mm_clone_opts_t *opts);

/* Changes what [vaddr, +npages) allows, like mprotect: vmaps covered in part
 * are split, each vmap's vmflags set, present pages re-flagged as
 * mm_flag_pages_locked does (in copy-on-write memory a frame still shared, or
 * the zero page, stays read-only whatever the new flags, so the next write
 * still copies; elsewhere pages get the flags asked). Fault handlers are left
 * as they are. 0, -EINVAL (bad range / flags), -ENOMEM (a hole or a guard in
 * the range, as over unmapped memory, or no memory for a split; nothing
 * changed). */
int mm_protect_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);

/* The fault handler that zero-on-demand and copy-on-write vmaps use. */
vmfault_result_t cow_fault_handler(vmap_t *vmap, ptr_t fault_addr, vmfault_info_t *info);

/* Counters of the fault paths since mm_init. */
typedef struct cow_stats {
    size_t zero_maps;   /* read of an untouched page: zero page mapped */
    size_t zero_fills;  /* write of an untouched page (or of the zero page): fresh zeroed frame */
    size_t copies;      /* write of a shared frame: copied */
    size_t reuses;      /* write of a frame no longer shared: made writable, no copy */
    size_t shared_fills;/* first touch of a shared object's page */
} cow_stats_t;
void cow_get_stats(cow_stats_t *out);
