/* mm/paging.c - the seed's paging API over the walker and the vmaps.
 * Contracts are in mm/paging.h. */
#include "mm/paging.h"

#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/shm.h"

/* Every frame of [pfn, +npages) is allocated from the frame allocator. */
static bool frames_allocated(pfn_t pfn, size_t npages)
{
    for (size_t i = 0; i < npages; i++)
        if (!pmm_is_allocated(pfn + i))
            return false;
    return true;
}

vmap_t *mm_get_free_vaddr_locked(mm_context_t *mmctx, size_t n_pages, ptr_t base_vaddr, valloc_flags flags)
{
    ASSERT_LOCKED(mmctx);
    if (flags & ~VALLOC_EXACT)
        return ERR_PTR(-EINVAL);
    if (flags & VALLOC_EXACT)
        return vmap_create(mmctx, base_vaddr, n_pages);

    ptr_t user_end = hal_user_end(mm_geometry);
    if (n_pages == 0 || (base_vaddr & PAGE_MASK) || base_vaddr >= user_end || n_pages > (user_end >> PAGE_SHIFT))
        return ERR_PTR(-EINVAL);
    ptr_t size = (ptr_t)n_pages << PAGE_SHIFT, at;
    ptr_t from = base_vaddr < MM_USER_MIN ? MM_USER_MIN : base_vaddr;
    if (vm_tree_find_free(&mmctx->vmaps, from, size, MM_USER_MIN, user_end, PAGE_SIZE, &at) != 0 &&
        vm_tree_find_free(&mmctx->vmaps, MM_USER_MIN, size, MM_USER_MIN, user_end, PAGE_SIZE, &at) != 0)
        return ERR_PTR(-ENOMEM);
    return vmap_create(mmctx, at, n_pages);
}

int mm_range_begin(mm_context_t *mmctx, ptr_t vaddr, size_t npages, const vm_flags *flags, ptr_t *last,
                   mm_context_t **ctx)
{
    bool user = hal_is_user_addr(mm_geometry, vaddr);
    int err = mm_check_range(vaddr, npages, user, last);
    if (!err && flags)
        err = mm_check_flags(*flags, user);
    if (err)
        return err;
    *ctx = user ? mmctx : mm_kernel_context();
    ASSERT_LOCKED(*ctx);
    /* A reserved vmap's pages are the kernel's: the -errno layer leaves them. */
    if (user && (*ctx)->reserved_vmaps)
        for (vmap_t *v = mm_vmap_first_from(*ctx, vaddr); v && v->vaddr <= *last; v = mm_vmap_next(v))
            if (v->reserved)
                return -EINVAL;
    return 0;
}

vmap_t *mm_map_reserved_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags)
{
    ASSERT_LOCKED(mmctx);
    if (mmctx->is_kernel || mm_check_flags(flags, false) || (flags & VM_GLOBAL) || npages == 0 ||
        npages - 1 > hal_max_pfn(mm_geometry) || pfn > hal_max_pfn(mm_geometry) - (npages - 1))
        return ERR_PTR(-EINVAL);
    vmap_t *v = vmap_create(mmctx, vaddr, npages);
    if (IS_ERR(v))
        return v;
    v->reserved = true;
    mmctx->reserved_vmaps++;
    pt_gather_t g;
    pt_gather_init(&g);
    int err = pt_map_uncounted(mmctx, vaddr, vmap_last(v), pfn, flags, &g);
    pt_finish(mmctx, &g);
    if (err) {
        vmap_destroy(v);
        return ERR_PTR(err);
    }
    return v;
}

int mm_do_map(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags)
{
    ptr_t last;
    mm_context_t *ctx;
    int err = mm_range_begin(mmctx, vaddr, npages, &flags, &last, &ctx);
    if (err)
        return err;
    bool user = hal_is_user_addr(mm_geometry, vaddr);
    if (user ? vaddr < MM_USER_MIN || !frames_allocated(pfn, npages)
             : pfn > hal_max_pfn(mm_geometry) - (npages - 1) || npages - 1 > hal_max_pfn(mm_geometry))
        return -EINVAL;
    pt_gather_t g;
    pt_gather_init(&g);
    if (user && npages == 1)
        err = pt_map_page(ctx, vaddr, pfn, flags, &g); /* faults, mm_replace_page_locked */
    else
        err = pt_map(ctx, vaddr, last, pfn, flags, &g);
    pt_finish(ctx, &g);
    return err;
}

int mm_do_unmap(mm_context_t *mmctx, ptr_t vaddr, size_t npages)
{
    ptr_t last;
    mm_context_t *ctx;
    int err = mm_range_begin(mmctx, vaddr, npages, NULL, &last, &ctx);
    if (err)
        return err;
    pt_gather_t g;
    pt_gather_init(&g);
    err = pt_unmap(ctx, vaddr, last, &g);
    pt_finish(ctx, &g);
    return err;
}

int mm_do_copy(mm_context_t *src, mm_context_t *dst, ptr_t vaddr, size_t npages, bool cow)
{
    ptr_t last;
    int err = mm_check_range(vaddr, npages, true, &last);
    if (err)
        return err;
    if (src == dst)
        return -EINVAL;
    ASSERT_LOCKED(src);
    ASSERT_LOCKED(dst);
    pt_gather_t g;
    pt_gather_init(&g);
    err = pt_copy(src, dst, vaddr, last, cow, &g);
    pt_finish(src, &g);
    return err;
}

int mm_do_translate(mm_context_t *mmctx, ptr_t vaddr, uint64_t *paddr, vm_flags *flags)
{
    if (!hal_is_canonical(mm_geometry, vaddr))
        return -EINVAL;
    if (!hal_is_user_addr(mm_geometry, vaddr))
        mmctx = mm_kernel_context(); /* the kernel half's tables (every root's, or the kernel root's alone) */
    pte_t e;
    unsigned level;
    int err = pt_lookup(mmctx, vaddr, &e, &level);
    if (err)
        return err;
    if (paddr)
        *paddr = ((uint64_t)hal_pte_pfn(level, e) << PAGE_SHIFT) + (vaddr & (hal_level_span(level) - 1));
    if (flags)
        *flags = hal_pte_flags(level, e);
    return 0;
}

int mm_do_replace(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags)
{
    if (!hal_is_user_addr(mm_geometry, vaddr))
        return -EINVAL;
    return mm_do_map(mmctx, vaddr, pfn, 1, flags | VM_USER);
}

int mm_do_map_kernel(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags)
{
    (void)mmctx; /* the kernel half is shared: it is always the kernel context's */
    if (hal_is_user_addr(mm_geometry, vaddr))
        return -EINVAL;
    mm_context_t *k = mm_kernel_context();
    spinlock_acquire(&k->mm_lock);
    int err = mm_do_map(k, vaddr, pfn, npages, flags);
    spinlock_release(&k->mm_lock);
    return err;
}

void mm_map_kernel_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags)
{
    int err = mm_do_map_kernel(mmctx, vaddr, pfn, npages, flags);
    if (err)
        mm_panic("cannot map %zu pages at %#lx to pfn %#llx with flags %#x: error %d", npages, (unsigned long)vaddr,
                 (unsigned long long)pfn, flags, err);
}

void mm_unmap_kernel_pages(mm_context_t *mmctx, ptr_t vaddr, size_t npages)
{
    (void)mmctx;
    mm_context_t *k = mm_kernel_context();
    int err = hal_is_user_addr(mm_geometry, vaddr) ? -EINVAL : 0;
    if (!err) {
        spinlock_acquire(&k->mm_lock);
        err = mm_do_unmap(k, vaddr, npages);
        spinlock_release(&k->mm_lock);
    }
    if (err)
        mm_panic("cannot unmap %zu pages at %#lx: error %d", npages, (unsigned long)vaddr, err);
}

vmap_t *mm_map_user_pages(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, size_t npages, vm_flags flags,
                          valloc_flags vaflags, vmap_type_t type, vmap_content_t content)
{
    flags |= VM_USER;
    if (mm_check_flags(flags, true) || !frames_allocated(pfn, npages) ||
        (type != VMAP_TYPE_PRIVATE && type != VMAP_TYPE_SHARED))
        return ERR_PTR(-EINVAL);
    spinlock_acquire(&mmctx->mm_lock);
    vmap_t *v = mm_get_free_vaddr_locked(mmctx, npages, vaddr, vaflags);
    if (!IS_ERR(v)) {
        int err = mm_do_map(mmctx, v->vaddr, pfn, npages, flags);
        if (err) {
            vmap_forget(v);
            v = ERR_PTR(err);
        } else {
            v->vmflags = flags;
            v->type = type;
            v->content = content;
        }
    }
    spinlock_release(&mmctx->mm_lock);
    return v;
}

void mm_replace_page_locked(mm_context_t *mmctx, ptr_t vaddr, pfn_t pfn, vm_flags flags)
{
    ASSERT_LOCKED(mmctx);
    int err = mm_do_replace(mmctx, vaddr, pfn, flags);
    if (err)
        mm_panic("cannot replace the page at %#lx by pfn %#llx with flags %#x: error %d", (unsigned long)vaddr,
                 (unsigned long long)pfn, flags, err);
}

vmap_t *vmap_clone_into(vmap_t *src_vmap, mm_context_t *dst_ctx, bool cow)
{
    mm_context_t *src = src_vmap->mmctx;
    ASSERT_LOCKED(src);
    if (dst_ctx == src || src_vmap->reserved)
        return ERR_PTR(-EINVAL);
    ASSERT_LOCKED(dst_ctx);
    vmap_t *v = mm_get_free_vaddr_locked(dst_ctx, src_vmap->npages, src_vmap->vaddr, VALLOC_EXACT);
    if (!IS_ERR(v)) {
        ptr_t last = v->vaddr + v->npages * PAGE_SIZE - 1;
        /* Mappings outside any vmap may linger there (mm_do_map): drop them. */
        int err = mm_do_unmap(dst_ctx, v->vaddr, v->npages);
        if (!err && (err = pt_copy_prepare(src, dst_ctx, v->vaddr, last)) != 0)
            pt_prune(dst_ctx, v->vaddr, last);
        if (err) {
            vmap_forget(v);
            v = ERR_PTR(err);
        } else {
            pt_gather_t g;
            pt_gather_init(&g);
            pt_copy_apply(src, dst_ctx, v->vaddr, last, cow, &g);
            pt_finish(src, &g);
            vmap_copy_attributes(v, src_vmap);
        }
    }
    return v;
}

vmap_t *mm_clone_vmap_locked(vmap_t *src_vmap, mm_context_t *dst_ctx)
{
    return vmap_clone_into(src_vmap, dst_ctx, false);
}

bool mm_get_is_mapped_locked(mm_context_t *mmctx, ptr_t vaddr)
{
    ASSERT_LOCKED(mmctx);
    return mm_do_translate(mmctx, vaddr, NULL, NULL) == 0;
}

ptr_t mm_get_phys_addr(mm_context_t *ctx, ptr_t vaddr)
{
    if (!hal_is_canonical(mm_geometry, vaddr))
        return 0;
    mm_context_t *c = hal_is_user_addr(mm_geometry, vaddr) ? ctx : mm_kernel_context();
    uint64_t pa = 0;
    spinlock_acquire(&c->mm_lock);
    if (mm_do_translate(c, vaddr, &pa, NULL) != 0)
        pa = 0;
    spinlock_release(&c->mm_lock);
    return (ptr_t)pa;
}

int mm_unmap_user_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages)
{
    ASSERT_LOCKED(mmctx);
    ptr_t last;
    int err = mm_check_range(vaddr, npages, true, &last);
    if (err)
        return err;
    /* Split first (the only step that can fail), then drop what is inside. */
    err = vmap_split_at_edges(mmctx, vaddr, last);
    if (err)
        return err;
    /* Guards stay (munmap over one is munmap over unmapped memory). */
    for (vmap_t *v = mm_vmap_first_from(mmctx, vaddr), *next; v && v->vaddr <= last; v = next) {
        next = mm_vmap_next(v);
        if (!vmap_is_guard(v))
            vmap_forget(v);
    }
    /* The pages in the range, but a reserved vmap's (the kernel's, left as
     * they are: the range around each is unmapped on its own). */
    pt_gather_t g;
    pt_gather_init(&g);
    ptr_t from = vaddr;
    for (vmap_t *v = mmctx->reserved_vmaps ? mm_vmap_first_from(mmctx, vaddr) : NULL; v && v->vaddr <= last;
         v = mm_vmap_next(v)) {
        if (!v->reserved)
            continue;
        if (v->vaddr > from) {
            err = pt_unmap(mmctx, from, v->vaddr - 1, &g);
            MM_ASSERT(err == 0, "user-half unmap cannot need a split, got %d", err);
        }
        from = vmap_last(v) + 1;
    }
    if (from <= last && from != 0) {
        err = pt_unmap(mmctx, from, last, &g);
        MM_ASSERT(err == 0, "user-half unmap cannot need a split, got %d", err);
    }
    pt_finish(mmctx, &g);
    return 0;
}
