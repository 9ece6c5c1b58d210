/* kernel/kstack.c - the kernel-stack window: KSTACK_SLOTS slots of a 16 KiB
 * unmapped guard and KSTACK_PAGES stack pages each, 1 GiB aligned, 32 GiB below
 * the kernel image (clear of the direct map's RAM, the image and the boot
 * tests' window at 16 GiB below). Pages are mapped with mm_do_map_kernel;
 * the page-table pages they needed are freed again by the unmap once empty. */
#include "kernel/kstack.h"

#include "kernel/boot.h"
#include "kernel/panic.h"
#include "mm/lock.h"
#include "mm/paging.h"

#define SLOT_SIZE ((ptr_t)1 << KSTACK_SLOT_SHIFT)
_Static_assert(KSTACK_GUARD_SIZE + KSTACK_SIZE == SLOT_SIZE, "a slot is its guard and its stack");

/* The slot bitmap; every CPU makes and frees stacks (a leaf lock: the
 * mapping is done outside it). */
static spinlock_t slots_lock = SPINLOCK_INIT;
static uint64_t used[KSTACK_SLOTS / 64];
ptr_t kstack_window_base;

static ptr_t window(void) { return ALIGN_DOWN((ptr_t)_text_start, (ptr_t)1 << 30) - ((ptr_t)32 << 30); }

static long slot_take(void)
{
    long slot = -1;
    spinlock_acquire(&slots_lock);
    for (size_t w = 0; w < ARRAY_SIZE(used); w++) {
        if (used[w] == ~(uint64_t)0)
            continue;
        unsigned b = (unsigned)__builtin_ctzll(~used[w]);
        used[w] |= (uint64_t)1 << b;
        slot = (long)(w * 64 + b);
        break;
    }
    spinlock_release(&slots_lock);
    return slot;
}

static void slot_give(size_t slot)
{
    spinlock_acquire(&slots_lock);
    bool in_use = slot < KSTACK_SLOTS && (used[slot / 64] & ((uint64_t)1 << (slot % 64)));
    if (in_use)
        used[slot / 64] &= ~((uint64_t)1 << (slot % 64));
    spinlock_release(&slots_lock);
    if (!in_use)
        panic("kernel stack slot %zu is not in use", slot);
}

int kstack_alloc(kstack_t *ks)
{
    long slot = slot_take();
    if (slot < 0)
        return -ENOMEM;
    kstack_window_base = window();
    ptr_t base = window() + (size_t)slot * SLOT_SIZE + KSTACK_GUARD_SIZE;
    mm_context_t *k = mm_kernel_context();
    size_t i = 0;
    int err = 0;
    for (; i < KSTACK_PAGES; i++) {
        /* Cleared: no data of the frame's earlier owner. (Under QEMU's TCG
         * this also drops code translated from the frame in an earlier life,
         * e.g. the boot loader's: a page keeping such code takes every write
         * on a slow path, which made the whole fault path 15 times slower.) */
        pfn_t f = pmm_alloc_zeroed();
        if (f == PMM_NO_FRAME) {
            err = -ENOMEM;
            break;
        }
        err = mm_do_map_kernel(k, base + i * PAGE_SIZE, f, 1, VM_RW | VM_GLOBAL);
        if (err) {
            pmm_release(f);
            break;
        }
        ks->frames[i] = f;
    }
    if (err) {
        if (i)
            mm_unmap_kernel_pages(k, base, i);
        while (i--)
            pmm_release(ks->frames[i]);
        slot_give((size_t)slot);
        return err;
    }
    ks->base = base;
    return 0;
}

void kstack_free(kstack_t *ks)
{
    size_t slot = (ks->base - KSTACK_GUARD_SIZE - window()) / SLOT_SIZE;
    mm_unmap_kernel_pages(mm_kernel_context(), ks->base, KSTACK_PAGES);
    for (size_t i = 0; i < KSTACK_PAGES; i++)
        pmm_release(ks->frames[i]);
    slot_give(slot);
    ks->base = 0;
}

bool kstack_guard_hit(ptr_t addr)
{
    ptr_t w = window();
    if (addr < w || addr - w >= (ptr_t)KSTACK_SLOTS * SLOT_SIZE)
        return false;
    return (addr - w) % SLOT_SIZE < KSTACK_GUARD_SIZE;
}
