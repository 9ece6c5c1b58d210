/* tests/boot/test_kstack.c - process kernel stacks (kernel/kstack.h): mapped
 * read+write, a guard page below each that faults, gone after the free, and
 * every frame and page-table page back. */
#include "kernel/kstack.h"
#include "tests/boot/boot_test.h"

KTEST(kstack_is_mapped_above_a_faulting_guard_page_and_gone_after_free)
{
    size_t before = pmm_free_frames();
    kstack_t a, b;
    KT_ASSERT(t, kstack_alloc(&a) == 0, "first stack");
    if (kstack_alloc(&b) != 0) {
        kstack_free(&a);
        KT_ASSERT(t, false, "second stack");
    }
    uint8_t v = 0;
    KT_EXPECT(t, arch_probe_write((void *)a.base, 0x11) == 0 && arch_probe_write((void *)(kstack_top(&a) - 1), 0x22) == 0,
              "the stack's first and last bytes take writes");
    KT_EXPECT(t, arch_probe_read((const void *)(kstack_top(&a) - 1), &v) == 0 && v == 0x22, "and read back (%u)", v);
    KT_EXPECT(t, arch_probe_read((const void *)(a.base - 1), &v) == -EFAULT, "the byte below the stack faults");
    KT_EXPECT(t, arch_probe_read((const void *)(a.base - KSTACK_GUARD_SIZE), &v) == -EFAULT,
              "the bottom of the guard faults too");
    KT_EXPECT(t, kstack_guard_hit(a.base - 1) && kstack_guard_hit(a.base - KSTACK_GUARD_SIZE) && !kstack_guard_hit(a.base),
              "the guard is recognised as one");
    KT_EXPECT(t, b.base != a.base && (b.base > a.base ? b.base - a.base : a.base - b.base) >= KSTACK_SIZE + KSTACK_GUARD_SIZE,
              "two stacks are a guard apart (%lx, %lx)", (unsigned long)a.base, (unsigned long)b.base);
    ptr_t gone = a.base;
    kstack_free(&a);
    KT_EXPECT(t, arch_probe_read((const void *)gone, &v) == -EFAULT, "a freed stack is unmapped");
    kstack_free(&b);
    KT_EXPECT(t, pmm_free_frames() == before, "frames and tables back: %zu before, %zu after", before,
              pmm_free_frames());
}

KTEST(kstack_alloc_failing_at_each_allocation_keeps_nothing)
{
    int failed = 0;
    for (size_t nth = 1; nth < 64; nth++) {
        size_t before = pmm_free_frames();
        kstack_t s;
        pmm_fail_after(nth);
        int err = kstack_alloc(&s);
        pmm_fail_after(0);
        if (err == 0) {
            kstack_free(&s);
            KT_EXPECT(t, pmm_free_frames() == before, "allocation %zu: leak after free", nth);
            break;
        }
        failed++;
        KT_ASSERT(t, err == -ENOMEM, "allocation %zu failing gave %d", nth, err);
        KT_ASSERT(t, pmm_free_frames() == before, "allocation %zu failing leaked %ld frames", nth,
                  (long)before - (long)pmm_free_frames());
    }
    KT_EXPECT(t, failed >= KSTACK_PAGES, "only %d allocations could fail", failed);
}
