/* mm/fault.c - the memory manager's part of a page fault, a decision table.
 * The kernel's trap path decoded the fault into a hal_fault_t (the arch's
 * pure decoder, hal/<arch>/fault_decode.h) and calls mm_handle_fault (the
 * test kernel: through kernel_handle_fault, which owns the exception table
 * and the report): walk to the page's entry once -> find the vmap -> check
 * the access against its flags -> ask the vmap's handler -> apply the answer
 * at the entry the walk found. */
#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/paging.h"
#include "mm/platform.h"

/* The flags a present leaf needs for the access. */
static bool entry_allows(vm_flags f, hal_access_t access, bool user_mode)
{
    if (user_mode && !(f & VM_USER))
        return false;
    if ((access & HAL_ACCESS_WRITE) && !(f & VM_WRITE))
        return false;
    if ((access & HAL_ACCESS_EXEC) && !(f & VM_EXEC))
        return false;
    return (f & VM_READ) != 0;
}

static bool vmap_allows(const vmap_t *v, hal_access_t access)
{
    if ((access & HAL_ACCESS_WRITE) && !(v->vmflags & VM_WRITE))
        return false;
    if ((access & HAL_ACCESS_EXEC) && !(v->vmflags & VM_EXEC))
        return false;
    return (v->vmflags & VM_READ) != 0;
}

/* Maps pfn at the page the fault's walk found (cur), with the vmap's flags
 * (which include VM_READ and VM_USER: vmap_allows checked them). Where
 * nothing was mapped and the table is there (most faults), nothing is
 * replaced and no table can be freed, so no gather is needed. Where a page
 * was mapped (a copy-on-write break, a write to the zero page), its frame's
 * reference is dropped by pt_finish only after every CPU that may cache
 * the context invalidated the page. 0 or -ENOMEM. */
static int map_at(mm_context_t *ctx, pt_cursor_t *cur, ptr_t addr, pfn_t pfn, vm_flags flags)
{
    if (cur->level == 1 && !hal_pte_present(cur->entry))
        return pt_set_page(ctx, addr, cur, pfn, flags, NULL);
    pt_gather_t g;
    pt_gather_init(&g);
    int err = pt_set_page(ctx, addr, cur, pfn, flags, &g);
    pt_finish(ctx, &g);
    return err;
}

/* Applies a handler's answer at the page the fault's walk found. 0 or -errno. */
static int apply(mm_context_t *ctx, vmap_t *v, pt_cursor_t *cur, ptr_t addr, vmfault_result_t r,
                 const vmfault_info_t *info)
{
    switch (r) {
    case VMFAULT_COMPLETE:
        return 0;
    case VMFAULT_MAP_BACKING_PAGE:
        return map_at(ctx, cur, addr, info->backing_page, v->vmflags);
    case VMFAULT_MAP_BACKING_PAGE_RO:
        return map_at(ctx, cur, addr, info->backing_page, v->vmflags & ~VM_WRITE);
    case VMFAULT_COPY_BACKING_PAGE: {
        /* A copy of the zero page is a cleared frame: no need to read it. */
        bool zero = info->backing_page == mm_zero_page();
        pfn_t copy = zero ? pmm_alloc_zeroed() : pmm_alloc();
        if (copy == PMM_NO_FRAME)
            return -ENOMEM;
        if (!zero)
            __builtin_memcpy(pfn_va(copy), pfn_va(info->backing_page), PAGE_SIZE);
        int err = map_at(ctx, cur, addr, copy, v->vmflags);
        if (err)
            pmm_free(copy);
        return err;
    }
    case VMFAULT_CANNOT_HANDLE:
        return info->error ? info->error : -EFAULT;
    }
    mm_panic("vmap %#lx: handler returned unknown result %d", (unsigned long)v->vaddr, (int)r);
}

/* One walk finds the page's entry; the decision uses what it read and the
 * answer is stored at that entry. A handler that returns MAP_ or
 * COPY_BACKING_PAGE leaves the context's tables alone (one that maps the
 * page itself returns COMPLETE, as shm_fault_handler does), so the entry
 * found is still the one to change. */
static int handle_locked(mm_context_t *ctx, const hal_fault_t *f)
{
    ptr_t addr = ALIGN_DOWN(f->addr, PAGE_SIZE);
    pt_cursor_t cur;
    pt_walk_page(ctx, addr, &cur);
    bool present = hal_pte_present(cur.entry);

    if (present && entry_allows(hal_pte_flags(cur.level, cur.entry), f->access, f->user_mode)) {
        /* The tables already allow it, so the TLB held a stale entry (riscv
         * may cache invalid ones, and a fresh mapping makes no TLB call):
         * drop it and retry. A kernel access to a user page counts only
         * from inside a copy helper (user access open): outside, SMAP / SUM
         * refused it, and a kernel fetch from a user page is never allowed. */
        if (!f->user_mode && hal_is_user_addr(mm_geometry, addr) &&
            (!f->user_access || (f->access & HAL_ACCESS_EXEC)))
            return -EFAULT;
        hal_tlb_invalidate(ctx->pgd, addr, addr + PAGE_SIZE);
        return 0;
    }
    if (!hal_is_user_addr(mm_geometry, addr))
        return -EFAULT; /* kernel-half mappings are never demand-filled */

    vmap_t *v = vmap_obtain(ctx, addr, NULL);
    if (IS_ERR(v) || !vmap_allows(v, f->access) || !v->on_fault)
        return -EFAULT;
    MM_ASSERT(!present || cur.level == 1, "huge leaf %#llx in the user half at %#lx", (unsigned long long)cur.entry,
              (unsigned long)addr);
    vmfault_info_t info = {
        .fault_addr = addr,
        .access = f->access,
        .user_mode = f->user_mode,
        .is_present = present,
        .faulting_pfn = present ? hal_pte_pfn(1, cur.entry) : PMM_NO_FRAME,
        .backing_page = PMM_NO_FRAME,
    };
    return apply(ctx, v, &cur, addr, v->on_fault(v, addr, &info), &info);
}

int mm_handle_fault(mm_context_t *ctx, const hal_fault_t *f)
{
    if (!ctx || !hal_is_canonical(mm_geometry, f->addr))
        return -EFAULT;
    mm_context_t *c = hal_is_user_addr(mm_geometry, f->addr) ? ctx : mm_kernel_context();
    if (f->user_mode && c != ctx)
        return -EFAULT;
    spinlock_acquire(&c->mm_lock);
    int err = handle_locked(c, f);
    spinlock_release(&c->mm_lock);
    return err;
}

int mm_get_user_page(mm_context_t *ctx, ptr_t vaddr, hal_access_t access, pfn_t *out_pfn)
{
    if (!ctx || ctx->is_kernel || !out_pfn || !access || (access & ~(HAL_ACCESS_READ | HAL_ACCESS_WRITE | HAL_ACCESS_EXEC)))
        return -EINVAL;
    if (!hal_is_user_addr(mm_geometry, vaddr) || vaddr < MM_USER_MIN)
        return -EFAULT;
    ptr_t addr = ALIGN_DOWN(vaddr, PAGE_SIZE);
    hal_fault_t f = { .addr = addr, .access = access, .user_mode = true, .present = -1 };
    spinlock_acquire(&ctx->mm_lock);
    int err = -EFAULT;
    /* A handler that completes without mapping what the access needs gets
     * one more chance (a read that mapped the zero page, then a write);
     * beyond that the access is refused. */
    for (int round = 0; round < 3; round++) {
        uint64_t pa;
        vm_flags cur = VM_NONE;
        if (mm_do_translate(ctx, addr, &pa, &cur) == 0 && entry_allows(cur, access, true)) {
            pfn_t pfn = (pfn_t)(pa >> PAGE_SHIFT);
            pmm_ref(pfn); /* user mappings only hold managed frames */
            *out_pfn = pfn;
            err = 0;
            break;
        }
        err = handle_locked(ctx, &f);
        if (err)
            break;
        err = -EFAULT;
    }
    spinlock_release(&ctx->mm_lock);
    return err;
}

int vmap_populate_locked(vmap_t *v)
{
    ASSERT_LOCKED(v->mmctx);
    hal_fault_t f = { .access = (v->vmflags & VM_WRITE) ? HAL_ACCESS_WRITE : HAL_ACCESS_READ, .user_mode = true, .present = 0 };
    for (size_t i = 0; i < v->npages; i++) {
        f.addr = v->vaddr + i * PAGE_SIZE;
        int err = handle_locked(v->mmctx, &f);
        if (err)
            return err;
    }
    return 0;
}
