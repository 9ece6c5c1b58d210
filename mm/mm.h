/* mm/mm.h - address spaces (mm_context_t) and virtual memory areas (vmap_t).
 *
 * Every context shares the kernel half: its root table's kernel-half entries
 * point to the same tables as the kernel context's, which are allocated once
 * at mm_init and never freed; or, in a geometry with
 * HAL_GEOMETRY_SEPARATE_KERNEL_ROOT, the kernel half is translated from the
 * kernel context's root alone and a context's root has no kernel-half entry
 * (hal/hal.h). The user half belongs to the context. vmaps
 * describe the user half only and are kept in a B-tree with O(log n)
 * lookup and free-range search (mm/vmap_tree.h). */
#pragma once

#include "hal/hal.h"
#include "mm/lock.h"
#include "mm/pmm.h"
#include "mm/vmap_tree.h"

typedef struct mm_context mm_context_t;
typedef struct vmap vmap_t;

/* vmap_type_t and vmap_content_t: mm/kmm.h. */

/* What a vmap's fault handler asks the generic fault path to do. */
typedef enum vmfault_result {
    VMFAULT_COMPLETE,            /* handled, nothing left to do */
    VMFAULT_MAP_BACKING_PAGE,    /* map info->backing_page with the vmap's flags */
    VMFAULT_MAP_BACKING_PAGE_RO, /* map info->backing_page read-only */
    VMFAULT_COPY_BACKING_PAGE,   /* copy info->backing_page into a fresh frame, map that */
    VMFAULT_CANNOT_HANDLE,       /* refuse the access */
} vmfault_result_t;

typedef struct vmfault_info {
    ptr_t fault_addr;     /* page-aligned */
    hal_access_t access;
    bool user_mode;
    bool is_present;      /* a translation exists (found by walking, whatever the hardware said) */
    pfn_t faulting_pfn;   /* the frame mapped there, if is_present */
    pfn_t backing_page;   /* set by the handler for MAP_/COPY_BACKING_PAGE */
    int error;            /* with VMFAULT_CANNOT_HANDLE: the -errno to report (default -EFAULT) */
} vmfault_info_t;

/* Called with the context's lock held. The fault path stores a MAP_ or
 * COPY_BACKING_PAGE answer at the entry its walk found before the call, so
 * a handler that changes the context's page tables itself (maps the page)
 * must answer VMFAULT_COMPLETE or VMFAULT_CANNOT_HANDLE. */
typedef vmfault_result_t (*vmfault_handler_t)(vmap_t *vmap, ptr_t fault_addr, vmfault_info_t *info);

struct vmap {
    vm_tree_node_t node;     /* position in the context's tree: [vaddr, vaddr + npages * PAGE_SIZE) */
    mm_context_t *mmctx;
    ptr_t vaddr;
    size_t npages;
    vm_flags vmflags;        /* what the area allows; pages may be mapped with fewer rights (COW);
                              * VM_NONE: a guard (vmap_is_guard) */
    vmap_type_t type;
    vmap_content_t content;
    vmfault_handler_t on_fault; /* NULL: faults inside the area are refused */
    void *private_data;
    struct shm_object *object;  /* shared anonymous memory behind a shared vmap, or NULL */
    size_t object_pgoff;        /* the object's page at vaddr */
    bool reserved;              /* supervisor pages of the kernel's (mm_map_reserved_locked): a guard to
                                 * everything else, its pages uncounted, never cloned */
};

struct mm_context {
    spinlock_t mm_lock;
    mm_context_t *next, *prev; /* every live context, for the invariant checker */
    pfn_t pgd;               /* root table */
    vm_tree_t vmaps;
    size_t table_pages;      /* user-half table pages owned by this context */
    size_t table_walks;      /* descents from the root towards one page (pt_walk_page: lookups, faults,
                              * one-page maps); a relaxed atomic counter, statistics for tests */
    /* CPUs that may cache this context's user-half translations: set by
     * mm_switch_context (or mm_context_loaded) before the CPU loads the root,
     * cleared when the CPU switches away (activation drops the old context's
     * translations), or for a CPU in loaded, at mm_context_unloaded. */
    _Atomic mm_cpumask_t cpus;
    /* CPUs between mm_context_loaded and mm_context_unloaded (their MMU may
     * walk the root): mm_destroy_context refuses to free it under them. */
    _Atomic mm_cpumask_t loaded;
    bool is_kernel;          /* the kernel context (mm_kernel_context) */
    size_t reserved_vmaps;   /* vmaps with reserved set: the range checks of mm_do_* look for them */
};

/* A vmap without flags, as mm_get_free_vaddr_locked / vmap_create leave it,
 * is a guard (the stack's guard page is one): it reserves its range and
 * allows no access (a touch is refused like an address outside every vmap).
 * It stays a guard: mm_protect_locked over it fails as over unmapped memory,
 * mm_unmap_user_pages_locked leaves it, the free-range search never hands its
 * range out, fork and the clones copy it as a guard (no fault handler).
 * vmap_destroy (or the context's end) removes it. */
static inline bool vmap_is_guard(const vmap_t *v) { return v->vmflags == VM_NONE; }

/* MM_USER_MIN (the lowest user address a vmap or a user mapping may start
 * at: page 0 and its neighbours stay unmapped) and mm_boot_info_t (with its
 * separate_kernel_root option) are in mm/kmm.h. */

/* The geometry in force, set by mm_init (a copy of info->geometry, with
 * HAL_GEOMETRY_SEPARATE_KERNEL_ROOT if info->separate_kernel_root). */
extern const hal_geometry_t *mm_geometry;

/* Brings the generic layer up: frames, the shared zero page, the kernel
 * context with every kernel-half table under the root allocated (none with
 * a separate kernel root). Call it once, before any other function of kmm,
 * on one CPU (the host tests call it again, after everything is
 * destroyed). Returns 0, -EINVAL on a bad geometry (or one with
 * flags hal/hal.h does not know) or bad regions, -ENOMEM when memory is too
 * small. */
int mm_init(const mm_boot_info_t *info);
/* The kernel's context (its root is the template for every other one). */
mm_context_t *mm_kernel_context(void);
/* The shared zero page: never written, never freed (it holds a permanent reference). */
pfn_t mm_zero_page(void);

/* A new context with an empty user half and the shared kernel half (none in
 * its root with a separate kernel root).
 * Returns the context or ERR_PTR(-ENOMEM); on failure nothing is left allocated. */
mm_context_t *mm_create_context(void);
/* Destroys every vmap (dropping the references of their pages), frees the
 * user-half tables, the root and the context. The context must not be active
 * (nor loaded on a CPU by mm_context_loaded without mm_context_unloaded) nor
 * locked, and must not be the kernel context: each of these panics. */
void mm_destroy_context(mm_context_t *ctx);
/* Makes ctx the active address space of the calling CPU (hal_mmu_activate
 * with ctx's root and the kernel context's) and records it in ctx->cpus (the
 * previous context of this CPU loses the CPU's bit). */
void mm_switch_context(mm_context_t *ctx);
/* The context active on the calling CPU (NULL before the first switch). */
mm_context_t *mm_active_context(void);

/* Locks ctx1's mm_lock and, unless ctx2 is NULL or ctx1, ctx2's as well
 * (MOS's mm_lock_ctx_pair): the lower address first, so two threads that
 * lock the same pair in opposite argument order cannot deadlock. Hold the
 * pair for every call that touches both contexts (mm_clone_vmap_locked,
 * cow_clone_vmap_locked). Neither lock may be held by the caller already. */
void mm_lock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2);
/* Releases what mm_lock_ctx_pair(ctx1, ctx2) took (same arguments). */
void mm_unlock_ctx_pair(mm_context_t *ctx1, mm_context_t *ctx2);

/* ---- vmaps (all need ctx->mm_lock held; every function asserts it) ---- */

/* Creates an empty vmap (no flags: a guard until the caller sets them)
 * covering [vaddr, vaddr + npages pages) in the user half and inserts it.
 * Returns it, or ERR_PTR(-EINVAL) for an unaligned or empty range, one that
 * starts below MM_USER_MIN, overflows or leaves the user half,
 * ERR_PTR(-EEXIST) if it overlaps a vmap, ERR_PTR(-ENOMEM). Maps nothing. */
vmap_t *vmap_create(mm_context_t *mmctx, ptr_t vaddr, size_t npages);
/* Unmaps the vmap's pages (dropping one reference per mapped frame,
 * invalidating the TLB, freeing tables left empty), removes it and frees it. */
void vmap_destroy(vmap_t *vmap);
/* The vmap containing vaddr; *out_offset (if not NULL) gets vaddr's byte
 * offset in it. ERR_PTR(-ENOENT) if no vmap contains vaddr. */
vmap_t *vmap_obtain(mm_context_t *mmctx, ptr_t vaddr, size_t *out_offset);
/* Splits vmap after its first `split` pages: vmap keeps [vaddr, +split),
 * the returned new vmap gets the rest with the same flags, type, content and
 * handler. Mappings are untouched. ERR_PTR(-EINVAL) unless 0 < split < npages,
 * ERR_PTR(-ENOMEM) (vmap unchanged). */
vmap_t *vmap_split(vmap_t *vmap, size_t split);
/* Number of vmaps in the context. */
size_t mm_vmap_count(mm_context_t *mmctx);
/* Iteration in address order: first vmap at or above vaddr, or NULL. */
vmap_t *mm_vmap_first_from(mm_context_t *mmctx, ptr_t vaddr);
vmap_t *mm_vmap_next(vmap_t *vmap);

/* Global counters, for tests and statistics. Every frame with a reference
 * is in exactly one of table_pages, object_pages, user_pages, or is the zero
 * page; the frames allocated and not referenced (free-standing frames a
 * caller owns, the invariant checker's scratch) are in none. Exact when
 * quiescent; read while other threads work, each counter is a recent value
 * (user_pages, derived from the others, may be off by the frames in flight).
 * mm_stats_t (mm/kmm.h): table_pages: every page-table page in use, kernel
 * half and roots included; contexts: live contexts, the kernel's included;
 * vmaps: live vmaps; object_pages: frames holding objects (every slab
 * cache's pages: contexts, vmaps, shared objects and any cache of the
 * embedding kernel; and shared objects' index nodes); user_pages: frames of
 * user memory, referenced by user mappings, by shared objects or by a
 * caller holding a reference (the zero page excluded); shootdowns:
 * invalidation requests sent to other CPUs (one per operation). */
void mm_get_stats(mm_stats_t *out);
