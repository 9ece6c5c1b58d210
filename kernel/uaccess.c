/* kernel/uaccess.c - copy_from_user / copy_to_user: check the range, check
 * that every page lies in a vmap that allows the access, then copy through
 * arch_copy_user, whose faults end in the exception table. */
#include "kernel/uaccess.h"

#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/context.h"

bool uaccess_range_ok(ptr_t uaddr, size_t len)
{
    const hal_geometry_t *g = kernel_geometry;
    if (!g || !hal_is_user_addr(g, uaddr))
        return false;
    if (len == 0)
        return true;
    ptr_t last = uaddr + (len - 1);
    return last >= uaddr && hal_is_user_addr(g, last);
}

/* True if every page of [uaddr, +len) is inside a vmap of the active
 * context whose flags include need. Takes the context's lock. */
static bool vmaps_allow(ptr_t uaddr, size_t len, vm_flags need)
{
    mm_context_t *ctx = kernel_current_context();
    if (!ctx || ctx == mm_kernel_context())
        return false;
    bool ok = true;
    spinlock_acquire(&ctx->mm_lock);
    ptr_t page = ALIGN_DOWN(uaddr, PAGE_SIZE), last = ALIGN_DOWN(uaddr + (len - 1), PAGE_SIZE);
    for (;;) {
        size_t off;
        vmap_t *v = vmap_obtain(ctx, page, &off);
        if (IS_ERR(v) || (v->vmflags & need) != need) {
            ok = false;
            break;
        }
        /* The rest of this vmap is covered: step to its end (or stop). */
        ptr_t vend_last = v->vaddr + (v->npages - 1) * PAGE_SIZE;
        if (vend_last >= last)
            break;
        page = vend_last + PAGE_SIZE;
    }
    spinlock_release(&ctx->mm_lock);
    return ok;
}

int copy_from_user(void *dst, ptr_t usrc, size_t len)
{
    if (!uaccess_range_ok(usrc, len))
        return -EFAULT;
    if (len == 0)
        return 0;
    if (!vmaps_allow(usrc, len, VM_READ | VM_USER))
        return -EFAULT;
    return arch_copy_user(dst, (const void *)usrc, len);
}

int copy_to_user(ptr_t udst, const void *src, size_t len)
{
    if (!uaccess_range_ok(udst, len))
        return -EFAULT;
    if (len == 0)
        return 0;
    if (!vmaps_allow(udst, len, VM_WRITE | VM_USER))
        return -EFAULT;
    return arch_copy_user((void *)udst, src, len);
}
