/* mm/protect.c - protection changes: mm_do_flag and the seed's
 * mm_flag_pages_locked over the walker (contracts in mm/paging.h), and
 * mprotect's mm_protect_locked over the vmaps (mm/cow.h). */
#include "mm/cow.h"

#include "mm/internal.h"
#include "mm/pagetable.h"

int mm_do_flag(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags)
{
    ptr_t last;
    mm_context_t *ctx;
    int err = mm_range_begin(mmctx, vaddr, npages, &flags, &last, &ctx);
    if (err)
        return err;
    bool user = hal_is_user_addr(mm_geometry, vaddr);
    pt_gather_t g;
    pt_gather_init(&g);
    if (!user) {
        err = pt_protect(ctx, vaddr, last, flags, false, &g);
    } else {
        /* In copy-on-write memory a page whose frame is still shared (the
         * zero page, or a count above one) stays read-only: its next write
         * fault copies. Anywhere else no write fault could make it writable
         * again (other holders are not copy-on-write sharers), so the flags
         * are set as asked. The user half has no huge leaves, so nothing
         * here can fail. */
        for (ptr_t cur = vaddr; cur <= last && !err;) {
            vmap_t *v = mm_vmap_first_from(ctx, cur);
            ptr_t seg_last = last;
            bool cow = false;
            if (v && v->vaddr <= cur) {
                seg_last = MIN(last, v->vaddr + v->npages * PAGE_SIZE - 1);
                cow = vmap_is_cow(v);
            } else if (v && v->vaddr <= last) {
                seg_last = v->vaddr - 1;
            }
            err = pt_protect(ctx, cur, seg_last, flags, cow, &g);
            if (seg_last == last)
                break;
            cur = seg_last + 1;
        }
    }
    pt_finish(ctx, &g);
    return err;
}

void mm_flag_pages_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags)
{
    ASSERT_LOCKED(mmctx);
    int err = mm_do_flag(mmctx, vaddr, npages, flags);
    if (err)
        mm_panic("cannot set flags %#x on %zu pages at %#lx: error %d", flags, npages, (unsigned long)vaddr, err);
}

int mm_protect_locked(mm_context_t *mmctx, ptr_t vaddr, size_t npages, vm_flags flags)
{
    ASSERT_LOCKED(mmctx);
    ptr_t last;
    int err = mm_check_range(vaddr, npages, true, &last);
    if (!err)
        err = mm_check_flags(flags | VM_USER, true); /* VM_READ needed, VM_USER added */
    if (err)
        return err;
    flags |= VM_USER;
    /* the range must be covered by vmaps, without holes; a guard counts as a
     * hole (it is not memory, and must stay a guard) */
    ptr_t cur = vaddr;
    for (vmap_t *v = mm_vmap_first_from(mmctx, vaddr); cur <= last; v = mm_vmap_next(v)) {
        if (!v || v->vaddr > cur || vmap_is_guard(v))
            return -ENOMEM;
        if (vmap_last(v) >= last)
            break;
        cur = vmap_last(v) + 1;
    }
    err = vmap_split_at_edges(mmctx, vaddr, last); /* the only step that can fail */
    if (err)
        return err;
    /* The handlers stay as they are: mm_do_flag withholds write only in
     * copy-on-write memory, where the handler resolves the next write. */
    for (vmap_t *v = mm_vmap_first_from(mmctx, vaddr); v && v->vaddr <= last; v = mm_vmap_next(v))
        v->vmflags = flags;
    return mm_do_flag(mmctx, vaddr, npages, flags);
}
