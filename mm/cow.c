/* mm/cow.c - anonymous memory: zero-on-demand and copy-on-write faults,
 * shared anonymous faults, anonymous mmap, the copy-on-write clone of a
 * vmap. Fork is mm/fork.c, protection changes mm/protect.c; the contracts
 * of all three are in mm/cow.h. */
#include "mm/cow.h"

#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/platform.h"
#include "mm/shm.h"

static cow_stats_t stats;

void cow_reset(void) { stats = (cow_stats_t){ 0 }; }

void cow_get_stats(cow_stats_t *out)
{
    out->zero_maps = __atomic_load_n(&stats.zero_maps, __ATOMIC_RELAXED);
    out->zero_fills = __atomic_load_n(&stats.zero_fills, __ATOMIC_RELAXED);
    out->copies = __atomic_load_n(&stats.copies, __ATOMIC_RELAXED);
    out->reuses = __atomic_load_n(&stats.reuses, __ATOMIC_RELAXED);
    out->shared_fills = __atomic_load_n(&stats.shared_fills, __ATOMIC_RELAXED);
}

#define COUNT(field) __atomic_fetch_add(&stats.field, 1, __ATOMIC_RELAXED)

/* Private pages: the decision table of a fault the vmap's flags allow. */
vmfault_result_t cow_fault_handler(vmap_t *vmap, ptr_t fault_addr, vmfault_info_t *info)
{
    (void)fault_addr;
    bool write = info->access & HAL_ACCESS_WRITE;
    if (!info->is_present) {
        info->backing_page = mm_zero_page();
        if (!write) {
            COUNT(zero_maps);
            return VMFAULT_MAP_BACKING_PAGE_RO; /* reads share the zero page */
        }
        COUNT(zero_fills);
        return VMFAULT_COPY_BACKING_PAGE;
    }
    if (!write)
        return VMFAULT_CANNOT_HANDLE; /* present and readable: the access itself is not allowed */
    info->backing_page = info->faulting_pfn;
    if (info->faulting_pfn == mm_zero_page()) {
        COUNT(zero_fills);
        return VMFAULT_COPY_BACKING_PAGE;
    }
    if (pmm_refcount(info->faulting_pfn) == 1 && vmap->type == VMAP_TYPE_PRIVATE) {
        COUNT(reuses);
        return VMFAULT_MAP_BACKING_PAGE; /* the last holder: writable again, no copy */
    }
    COUNT(copies);
    return VMFAULT_COPY_BACKING_PAGE;
}

bool vmap_is_cow(const vmap_t *v) { return v->type == VMAP_TYPE_PRIVATE && v->on_fault == cow_fault_handler; }

/* Shared anonymous pages: every context maps the object's frame. A frame
 * the fault adds to the object is mapped here, so that when the mapping
 * fails (no memory for a table) it can be taken out again: a failed fault
 * leaves the object as it was. */
static vmfault_result_t shm_fault_handler(vmap_t *vmap, ptr_t fault_addr, vmfault_info_t *info)
{
    size_t idx = vmap->object_pgoff + ((fault_addr - vmap->vaddr) >> PAGE_SHIFT);
    bool fresh;
    pfn_t p = shm_page(vmap->object, idx, &fresh);
    if (p == PMM_NO_FRAME) {
        info->error = -ENOMEM;
        return VMFAULT_CANNOT_HANDLE;
    }
    if (!fresh) {
        pmm_unref(p); /* the object's reference keeps it while we hold the context's lock */
        /* The object's frame is mapped already: a write the vmap allows gets
         * the vmap's rights back (the entry was write-protected, e.g. by a
         * copy-on-write clone); any other access is not allowed. */
        if (info->is_present && info->faulting_pfn == p && !(info->access & HAL_ACCESS_WRITE))
            return VMFAULT_CANNOT_HANDLE;
        info->backing_page = p;
        return VMFAULT_MAP_BACKING_PAGE;
    }
    int err = mm_do_replace(vmap->mmctx, fault_addr, p, vmap->vmflags);
    if (err) {
        shm_page_abandon(vmap->object, idx, p);
        info->error = err;
        return VMFAULT_CANNOT_HANDLE;
    }
    pmm_unref(p);
    COUNT(shared_fills);
    return VMFAULT_COMPLETE;
}

static int check_anon_flags(vm_flags flags) { return mm_check_flags(flags | VM_USER, true); }

/* VALLOC_POPULATE: every page now, or the vmap is gone again. */
static vmap_t *populate_or_destroy(vmap_t *v, valloc_flags allocflags)
{
    if (IS_ERR(v) || !(allocflags & VALLOC_POPULATE))
        return v;
    int err = vmap_populate_locked(v);
    if (err) {
        vmap_destroy(v);
        return ERR_PTR(err);
    }
    return v;
}

vmap_t *cow_allocate_zeroed_pages(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags)
{
    ASSERT_LOCKED(mmctx);
    if (check_anon_flags(flags))
        return ERR_PTR(-EINVAL);
    vmap_t *v = mm_get_free_vaddr_locked(mmctx, npages, vaddr, allocflags & ~VALLOC_POPULATE);
    if (IS_ERR(v))
        return v;
    v->vmflags = flags | VM_USER;
    v->type = VMAP_TYPE_PRIVATE;
    v->content = VMAP_MMAP;
    v->on_fault = cow_fault_handler;
    return populate_or_destroy(v, allocflags);
}

vmap_t *mm_map_anonymous_locked(mm_context_t *mmctx, size_t npages, ptr_t vaddr, valloc_flags allocflags, vm_flags flags,
                                vmap_type_t type)
{
    ASSERT_LOCKED(mmctx);
    if (type == VMAP_TYPE_PRIVATE)
        return cow_allocate_zeroed_pages(mmctx, npages, vaddr, allocflags, flags);
    if (type != VMAP_TYPE_SHARED || check_anon_flags(flags))
        return ERR_PTR(-EINVAL);
    vmap_t *v = mm_get_free_vaddr_locked(mmctx, npages, vaddr, allocflags & ~VALLOC_POPULATE);
    if (IS_ERR(v))
        return v;
    shm_object_t *o = shm_create(npages);
    if (!o) {
        vmap_forget(v);
        return ERR_PTR(-ENOMEM);
    }
    v->vmflags = flags | VM_USER;
    v->type = VMAP_TYPE_SHARED;
    v->content = VMAP_MMAP;
    v->on_fault = shm_fault_handler;
    v->object = o;
    v->object_pgoff = 0;
    return populate_or_destroy(v, allocflags);
}

/* A guard stays a guard (it has nothing to copy, and allows nothing). */
void vmap_make_cow(vmap_t *a, vmap_t *b)
{
    if (!a->on_fault && !vmap_is_guard(a))
        a->on_fault = b->on_fault = cow_fault_handler;
}

vmap_t *cow_clone_vmap_locked(mm_context_t *target_mmctx, vmap_t *source_vmap)
{
    ASSERT_LOCKED(source_vmap->mmctx);
    ASSERT_LOCKED(target_mmctx);
    vmap_t *v = vmap_clone_into(source_vmap, target_mmctx, true);
    if (!IS_ERR(v))
        vmap_make_cow(source_vmap, v);
    return v;
}
