/* tests/boot/boot_util.c - helpers shared by the boot tests. */
#include "tests/boot/boot_test.h"

ptr_t bt_kernel_window(void)
{
    return ALIGN_DOWN((ptr_t)_text_start, (ptr_t)1 << 30) - ((ptr_t)16 << 30);
}

mm_context_t *bt_enter_context(ktest_state_t *t)
{
    mm_context_t *ctx = mm_create_context();
    if (IS_ERR(ctx)) {
        ktest_fail_at(t, __FILE__, __LINE__, "mm_create_context", "error %ld", PTR_ERR(ctx));
        return NULL;
    }
    kernel_switch_context(ctx);
    return ctx;
}

void bt_leave_context(mm_context_t *ctx)
{
    kernel_switch_context(mm_kernel_context());
    if (ctx)
        mm_destroy_context(ctx);
}

void bt_fill_frames(pfn_t pfn, size_t npages, uint8_t seed)
{
    for (size_t p = 0; p < npages; p++) {
        uint8_t *b = pfn_va(pfn + p);
        for (size_t off = 0; off < PAGE_SIZE; off++)
            b[off] = bt_pattern(seed, p, off);
    }
}

int bt_read(ptr_t va, bool user, uint8_t *out)
{
    return user ? arch_probe_user_read((const volatile void *)va, out) : arch_probe_read((const volatile void *)va, out);
}

int bt_write(ptr_t va, bool user, uint8_t val)
{
    return user ? arch_probe_user_write((volatile void *)va, val) : arch_probe_write((volatile void *)va, val);
}

size_t bt_check_mapped(ptr_t va, size_t npages, uint8_t seed, bool user)
{
    static const size_t offsets[] = { 0, 1, PAGE_SIZE / 2, PAGE_SIZE - 1 };
    size_t bad = 0;
    for (size_t p = 0; p < npages; p++) {
        for (size_t i = 0; i < ARRAY_SIZE(offsets); i++) {
            uint8_t b;
            if (bt_read(va + p * PAGE_SIZE + offsets[i], user, &b) != 0 || b != bt_pattern(seed, p, offsets[i]))
                bad++;
        }
    }
    return bad;
}

void bt_flag(mm_context_t *ctx, ptr_t va, size_t npages, vm_flags flags)
{
    mm_context_t *lock = hal_is_user_addr(kernel_geometry, va) ? ctx : mm_kernel_context();
    spinlock_acquire(&lock->mm_lock);
    mm_flag_pages_locked(lock, va, npages, flags);
    spinlock_release(&lock->mm_lock);
}

int bt_unmap_user(mm_context_t *ctx, ptr_t va, size_t npages)
{
    spinlock_acquire(&ctx->mm_lock);
    int err = mm_unmap_user_pages_locked(ctx, va, npages);
    spinlock_release(&ctx->mm_lock);
    return err;
}
