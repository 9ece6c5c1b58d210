/* mm/paging.h - the platform-independent paging API (MOS's "Paging" module:
 * same names, parameters and documented semantics), plus the -errno layer
 * underneath it (mm_do_*), which callers that must recover use.
 *
 * Conventions for every function here:
 * - Addresses are page-aligned virtual addresses, canonical for the active
 *   geometry; npages > 0; a range never overflows nor crosses the user/kernel
 *   split. Violations are -EINVAL (or ERR_PTR(-EINVAL)), with nothing changed.
 * - *_locked functions need the lock of every context they touch held (the
 *   caller takes two with mm_lock_ctx_pair, which orders them) and assert
 *   each on entry; they never take a context lock themselves.
 * - User mappings (mm_map_user_pages, mm_replace_page_locked,
 *   mm_clone_vmap_locked) live in the user half at or above MM_USER_MIN
 *   (page 0 is never mapped), are 4 KiB each and hold one reference on
 *   their frame, which must be a frame the allocator manages (-EINVAL
 *   otherwise). Kernel mappings (mm_map_kernel_pages) live in the
 *   kernel half, take no reference, may name any frame the arch can encode
 *   (device memory included; -EINVAL beyond that) and use 2 MiB / 1 GiB
 *   leaves wherever the virtual and physical addresses are aligned.
 * - Leaf flags must include VM_READ (-EINVAL otherwise).
 * - A failed call leaves no partial state: every table and frame reference
 *   it took is given back (-ENOMEM when frames run out).
 * - The seed's void functions stop the kernel (mm_panic) with the function
 *   and the values when their mm_do_* counterpart fails.
 *
 * Frames a caller owns (MOS's convention, mm/pmm.h):
 * - pmm_alloc() gives a frame with count 0 that the caller owns. Mapping it
 *   (mm_map_user_pages, mm_replace_page_locked) takes a reference per
 *   mapping; the last reference dropped (unmap, vmap_destroy, the context's
 *   end) frees the frame. A caller that maps a frame and keeps nothing of it
 *   has handed it over: it owns nothing any more and never frees it.
 * - A caller that keeps using a frame it maps (reads it, maps it again
 *   later) holds it by a reference of its own: pmm_ref() before the mapping
 *   can go away.
 * - pmm_release() is the one way to drop what the caller owns: its
 *   reference (the frame is freed if that was the last), or a frame nothing
 *   ever referenced (freed), e.g. after a map call failed. */
#pragma once

#include "mm/mm.h"

/* mmap_flags_t and valloc_flags (VALLOC_EXACT, and kmm's VALLOC_POPULATE:
 * anonymous memory filled at creation) are in mm/kmm.h. */

/* Gets npages unmapped free pages from a page table: creates an empty vmap
 * of n_pages at the lowest free address >= max(base_vaddr, MM_USER_MIN)
 * (wrapping to MM_USER_MIN if nothing is free above it), or exactly at
 * base_vaddr with VALLOC_EXACT. Neither allocates frames nor maps pages; the
 * vmap holds only the address and the page count, and until the caller sets
 * its flags it is a guard (mm/mm.h, vmap_is_guard). Needs mmctx->mm_lock
 * (mm_lock_ctx_pair(mmctx, NULL) takes just that one).
 * Returns the vmap, or ERR_PTR: -EINVAL (n_pages 0, base unaligned or not a
 * user address, VALLOC_EXACT below MM_USER_MIN, range overflows the user
 * half), -EEXIST (VALLOC_EXACT over an existing vmap), -ENOMEM (no free range
 * that large, or no memory for the vmap object). */
vmap_t *mm_get_free_vaddr_locked(mm_context_t *mmctx, size_t n_pages, ptr_t base_vaddr, valloc_flags flags);

/* Map a block of virtual memory (kernel half) to a block of physical memory:
 * npages from pfn on, with flags. Reference counts are NOT incremented.
 * Existing mappings in the range are replaced. Takes the kernel context's
 * lock (the kernel half is shared by every context). Panics where
 * mm_do_map_kernel would fail. */
void mm_map_kernel_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);

/* Finds a free range (as mm_get_free_vaddr_locked with vaflags), maps npages
 * frames from pfn there with flags | VM_USER, taking one reference per frame,
 * and records flags, type and content in the new vmap. Takes mm_lock.
 * Returns the vmap or ERR_PTR(-errno) as mm_get_free_vaddr_locked, plus
 * -EINVAL for frames the allocator does not manage or flags without VM_READ,
 * -ENOMEM for page tables; nothing is left mapped or allocated on failure. */
vmap_t *mm_map_user_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags,
                          valloc_flags vaflags, vmap_type_t type, vmap_content_t content);

/* Replace the mapping of the user page at vaddr with frame pfn and flags:
 * the new frame's reference count is incremented, the old one's (if a page
 * was mapped) decremented; the page's TLB entry is invalidated. Maps the page
 * if nothing was mapped. Needs mm_lock. Panics where mm_do_replace fails. */
void mm_replace_page_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags);

/* Remap a block of virtual memory from one page table to another, i.e. copy
 * the mappings (entries as they are: on a private vmap this shares writable
 * frames writable; clone private memory with cow_clone_vmap_locked): creates
 * a vmap at the same address in dst_ctx (which must
 * have no vmap overlapping it), then copies every present mapping of the
 * source range, flags and frames included, taking one reference per copied
 * mapping. The new vmap gets the source's flags, type, content and handler.
 * Needs both src_vmap->mmctx->mm_lock and dst_ctx->mm_lock held, as MOS's
 * fork holds them: mm_lock_ctx_pair(src, dst). Returns the new vmap, or
 * ERR_PTR(-EINVAL) if dst_ctx is the source's context, ERR_PTR(-EEXIST /
 * -ENOMEM) with dst_ctx unchanged. */
vmap_t *mm_clone_vmap_locked(vmap_t *src_vmap, mm_context_t *dst_ctx);

/* True if vaddr is mapped (a present leaf covers it). False for
 * non-canonical addresses. Needs mm_lock. */
bool mm_get_is_mapped_locked(mm_context_t *mmctx, ptr_t vaddr);

/* Update the flags of a block of virtual memory: every present page in
 * [vaddr, +npages) gets flags (holes stay holes, no table is created; huge
 * leaves covered in part are split first); one TLB invalidation for the
 * range. One exception keeps copy-on-write in force: in copy-on-write memory
 * (a private vmap whose fault handler is cow_fault_handler) a page whose
 * frame is still shared (the zero page, or a count above one) gets flags
 * without VM_WRITE, and its next write fault copies. Everywhere else (vmaps
 * without a handler, shared vmaps, outside vmaps) the flags are set as
 * asked, whoever else holds the frame. Does not change vmap->vmflags. Needs
 * mm_lock. Panics where mm_do_flag fails. */
void mm_flag_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);

/* The physical address vaddr translates to (page offset kept, through huge
 * leaves too), or 0 if vaddr is not mapped or not canonical. Takes mm_lock
 * (the kernel context's for kernel-half addresses). */
ptr_t mm_get_phys_addr(mm_context_t *ctx, ptr_t vaddr);

/* kmm's addition: a reserved vmap, the kernel's own supervisor pages in a
 * user half (a trampoline, a trap frame): [vaddr, +npages) mapped to
 * pfn.. with flags (VM_READ needed; no VM_USER, no VM_GLOBAL), frames kmm
 * need not manage (no reference taken; the caller owns them and frees them
 * after vmap_destroy or the context's end); a mapping mm_do_map left in
 * the range outside any vmap is replaced, its frame's reference dropped.
 * To everything else it is a
 * guard: a user-mode access (and mm_get_user_page) is refused, a later vmap
 * or mm_get_free_vaddr_locked never overlaps it (-EEXIST / skipped),
 * mm_unmap_user_pages_locked and mm_protect_locked leave it or fail as
 * over a guard, fork does not copy it (the child has nothing there), the
 * clones refuse it (-EINVAL), and the -errno layer (mm_do_map, _unmap,
 * _flag, _replace) refuses any range that touches it (-EINVAL). Needs
 * mm_lock. Returns the vmap, or ERR_PTR: -EINVAL (bad flags, the kernel
 * context, a range as vmap_create refuses, frames the arch cannot encode),
 * -EEXIST (overlaps a vmap), -ENOMEM (nothing left behind). */
vmap_t *mm_map_reserved_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);

/* ---- The layer underneath: 0 or -errno, nothing changed on failure ---- */

/* Maps [vaddr, +npages) to pfn.. with flags, replacing existing mappings.
 * User half: at or above MM_USER_MIN (-EINVAL below), 4 KiB pages, one
 * reference taken per frame (managed frames only), references of replaced
 * pages dropped. Kernel half: no references,
 * huge leaves where aligned. Needs the lock of the context owning the range
 * (the kernel context's for the kernel half). */
int mm_do_map(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);
/* Unmaps present pages of [vaddr, +npages) (holes skipped), dropping one
 * reference per user frame; splits huge leaves covered in part; frees tables
 * left empty and unreferenced frames after the single TLB invalidation of the
 * operation. Touches page tables only (vmaps are the caller's business).
 * Needs the lock of the context owning the range. */
int mm_do_unmap(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/* As mm_flag_pages_locked, returning -errno. Needs the lock of the context
 * owning the range. */
int mm_do_flag(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags);
/* Copies the present mappings of [vaddr, +npages) from src to dst (taking a
 * reference per frame); with cow, makes both sides read-only and
 * invalidates the source's TLB for the range. On -ENOMEM dst is unchanged.
 * Needs both contexts' locks (mm_lock_ctx_pair). */
int mm_do_copy(mm_context_t *src, mm_context_t *dst, ptr_t vaddr, size_t npages, bool cow);
/* The frame and flags of the page mapped at vaddr: 0, or -ENOENT if not
 * mapped, -EINVAL if not canonical. *paddr gets the full physical address.
 * A kernel-half vaddr is looked up in the kernel context's tables, whatever
 * mmctx is. Needs the lock of the context owning vaddr (the kernel
 * context's for a kernel-half one) while anything may change those tables;
 * it does not assert it (callers read quiescent tables without it, and
 * mm_get_is_mapped_locked holds a user context's lock for a kernel-half
 * address). */
int mm_do_translate(mm_context_t *mmctx, ptr_t vaddr, uint64_t *paddr, vm_flags *flags);
/* As mm_replace_page_locked, returning -errno. Needs mm_lock. */
int mm_do_replace(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags);
/* Kernel-half map/unmap with the kernel context's lock taken inside (the
 * caller must not hold it). */
int mm_do_map_kernel(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags);
void mm_unmap_kernel_pages(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/* Unmaps [vaddr, +npages) of the user half like munmap: vmaps wholly inside
 * are destroyed, ones covered in part are split and trimmed, frames'
 * references dropped; guards (mm/mm.h) are left as they are, as unmapped
 * memory would be. Needs mm_lock. 0, -EINVAL, -ENOMEM (nothing changed). */
int mm_unmap_user_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages);

/* ---- Faults ---- */

/* The generic fault handler: decides whether the access described by f in
 * ctx can be satisfied (spurious faults, zero-on-demand, copy-on-write ...)
 * and applies the answer. Takes ctx->mm_lock. Returns 0 when the access
 * may be retried, -EFAULT when it must be refused (nothing allocated),
 * -ENOMEM when memory ran out. A fault on an entry that already allows the
 * access is spurious (its page is invalidated, 0), except a kernel-mode one
 * on a user page without f->user_access (SMAP / SUM: -EFAULT). */
int mm_handle_fault(mm_context_t *ctx, const hal_fault_t *f);

/* Break-before-make windows of the kernel half (geometries with
 * HAL_GEOMETRY_BREAK_BEFORE_MAKE): while kmm replaces a kernel-half entry
 * through an invalid one (a direct-map leaf split into a table, a table
 * merged back into a leaf, another memory type), another CPU that touches
 * the range takes a translation fault on a kernel address. A kernel's fault
 * path calls mm_break_window_retry(addr) first on a kernel-mode fault at a
 * kernel-half address that nothing maps, before it touches anything under
 * the direct map (it reads only kmm's static data and calls mm_cpu_id and
 * mm_spin_wait): true when the access should just be retried, because a
 * window over addr was open (it waited for it to close), or because the
 * fault may have come from a window that closed before the call (once per
 * CPU, address and window count: a second fault there is not a window's);
 * false when no window was ever opened, for a second fault, and for an
 * open window of the calling CPU itself over addr (a bug, reported as the
 * fault it is).
 * mm_break_window_open: true while a window is open, with its range. */
bool mm_break_window_retry(ptr_t addr);
bool mm_break_window_open(ptr_t *lo, ptr_t *hi);

/* Resolves `access` (HAL_ACCESS_* bits) to the user page holding vaddr as
 * a user-mode access would (zero-on-demand, copy-on-write, shared memory),
 * then hands back its frame in *out_pfn with one reference taken for the
 * caller, who drops it with pmm_release (Linux's get_user_pages, one page):
 * for kernels that copy to and from user memory through physical
 * addresses. A write gets a frame private to ctx (copied if it was shared),
 * which the caller may write through pfn_va. Takes ctx->mm_lock (the caller
 * must not hold it). 0; -EINVAL (no context, the kernel context, no
 * out_pfn, no or unknown access bits); -EFAULT when a user-mode access
 * would be refused (not a user address, below MM_USER_MIN, outside every
 * vmap, in a guard, not allowed by the vmap or the entry); -ENOMEM. Nothing
 * is pinned on failure (a page the fault mapped before failing stays
 * mapped, as after a fault). */
int mm_get_user_page(mm_context_t *ctx, ptr_t vaddr, hal_access_t access, pfn_t *out_pfn);
