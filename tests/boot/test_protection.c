/* tests/boot/test_protection.c - what the MMU refuses: writes to read-only
 * pages, execution of NX pages, kernel access to user pages (SMAP/SMEP or
 * the arch's equivalent), the kernel image's W^X, non-canonical addresses.
 * Every refused access must come back as -EFAULT through the exception
 * table, with the memory unchanged. */
#include "tests/boot/boot_test.h"

/* Maps one fresh frame at the kernel test window with flags; 0 or -errno. */
static int map_window_page(pfn_t *pfn_out, vm_flags flags)
{
    pfn_t pfn = pmm_alloc_zeroed();
    if (pfn == PMM_NO_FRAME)
        return -ENOMEM;
    int err = mm_do_map_kernel(mm_kernel_context(), bt_kernel_window(), pfn, 1, flags);
    if (err) {
        pmm_free(pfn);
        return err;
    }
    *pfn_out = pfn;
    return 0;
}

static void unmap_window_page(pfn_t pfn)
{
    mm_unmap_kernel_pages(mm_kernel_context(), bt_kernel_window(), 1);
    pmm_free(pfn);
}

KTEST(flag_read_only_then_write_faults_kernel_page)
{
    pfn_t pfn;
    KT_ASSERT(t, map_window_page(&pfn, VM_RW | VM_GLOBAL) == 0, "map");
    ptr_t w = bt_kernel_window();
    uint8_t *direct = pfn_va(pfn);
    KT_EXPECT(t, bt_write(w + 10, false, 0x77) == 0 && direct[10] == 0x77, "write before flagging");
    bt_flag(mm_kernel_context(), w, 1, VM_READ | VM_GLOBAL);
    size_t fixups = kernel_fault_stats.fixups;
    KT_EXPECT(t, bt_write(w + 10, false, 0x88) == -EFAULT, "write to a read-only page did not fault");
    KT_EXPECT(t, kernel_fault_stats.fixups == fixups + 1, "fault not resolved by the exception table");
    KT_EXPECT(t, kernel_fault_stats.last.access == HAL_ACCESS_WRITE && kernel_fault_stats.last.addr == w + 10,
              "fault recorded as access %d at %lx", kernel_fault_stats.last.access,
              (unsigned long)kernel_fault_stats.last.addr);
    KT_EXPECT(t, direct[10] == 0x77, "the refused write changed the byte to %x", direct[10]);
    uint8_t b = 0;
    KT_EXPECT(t, bt_read(w + 10, false, &b) == 0 && b == 0x77, "read of the read-only page");
    bt_flag(mm_kernel_context(), w, 1, VM_RW | VM_GLOBAL);
    KT_EXPECT(t, bt_write(w + 10, false, 0x99) == 0 && direct[10] == 0x99, "write after flagging back to RW");
    unmap_window_page(pfn);
}

KTEST(flag_read_only_then_write_faults_user_page)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_zeroed();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    uint8_t *direct = pfn_va(pfn);
    KT_EXPECT(t, bt_write(v->vaddr + 3, true, 0x42) == 0 && direct[3] == 0x42, "write before flagging");
    bt_flag(ctx, v->vaddr, 1, VM_USER_RO);
    KT_EXPECT(t, bt_write(v->vaddr + 3, true, 0x43) == -EFAULT, "write to a read-only user page did not fault");
    KT_EXPECT(t, direct[3] == 0x42, "the refused write changed the byte to %x", direct[3]);
    bt_leave_context(ctx);
}

KTEST(nx_page_faults_on_execution)
{
    if (!arch_cpu_has("nx"))
        KT_SKIP(t, "the CPU cannot withhold execution");
    pfn_t pfn;
    KT_ASSERT(t, map_window_page(&pfn, VM_RW | VM_GLOBAL) == 0, "map");
    memcpy(pfn_va(pfn), arch_ret_insn, arch_ret_insn_len);
    ptr_t w = bt_kernel_window();
    KT_EXPECT(t, arch_probe_exec((const void *)w) == -EFAULT, "executing an NX page did not fault");
    KT_EXPECT(t, kernel_fault_stats.last.access == HAL_ACCESS_EXEC && kernel_fault_stats.last.addr == w,
              "fault recorded as access %d at %lx", kernel_fault_stats.last.access,
              (unsigned long)kernel_fault_stats.last.addr);
    bt_flag(mm_kernel_context(), w, 1, VM_RX | VM_GLOBAL);
    KT_EXPECT(t, arch_probe_exec((const void *)w) == 0, "executing the page once it is RX faulted");
    unmap_window_page(pfn);
}

KTEST(kernel_data_and_stack_are_not_executable)
{
    static uint8_t data_ret[16] __attribute__((aligned(16)));
    uint8_t stack_ret[16];
    memcpy(data_ret, arch_ret_insn, arch_ret_insn_len);
    memcpy(stack_ret, arch_ret_insn, arch_ret_insn_len);
    KT_EXPECT(t, arch_probe_exec(data_ret) == -EFAULT, "kernel .bss is executable");
    KT_EXPECT(t, arch_probe_exec(stack_ret) == -EFAULT, "the kernel stack is executable");
}

KTEST(kernel_text_and_rodata_are_not_writable)
{
    uint8_t before_text = *(volatile uint8_t *)_text_start, before_ro = *(volatile uint8_t *)_rodata_start;
    KT_EXPECT(t, bt_write((ptr_t)_text_start, false, (uint8_t)~before_text) == -EFAULT, "kernel text is writable");
    KT_EXPECT(t, bt_write((ptr_t)_rodata_start, false, (uint8_t)~before_ro) == -EFAULT, "kernel rodata is writable");
    KT_EXPECT(t, *(volatile uint8_t *)_text_start == before_text && *(volatile uint8_t *)_rodata_start == before_ro,
              "a refused write changed the image");
}

KTEST(user_page_refused_to_kernel_outside_copy_helpers)
{
    if (!arch_cpu_has("smap"))
        KT_SKIP(t, "the CPU has no supervisor access protection");
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    bt_fill_frames(pfn, 1, 0x70);
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    uint8_t b = 0;
    KT_EXPECT(t, arch_probe_read((const volatile void *)v->vaddr, &b) == -EFAULT, "plain kernel read of a user page");
    KT_EXPECT(t, arch_probe_write((volatile void *)v->vaddr, 1) == -EFAULT, "plain kernel write of a user page");
    KT_EXPECT(t, kernel_fault_stats.last.present == 1 || kernel_fault_stats.last.present == -1,
              "the refused access was recorded as not present");
    KT_EXPECT(t, ((uint8_t *)pfn_va(pfn))[0] == bt_pattern(0x70, 0, 0), "refused write changed the page");
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)v->vaddr, &b) == 0 && b == bt_pattern(0x70, 0, 0),
              "the copy helper cannot read the page");
    KT_EXPECT(t, arch_probe_user_write((volatile void *)v->vaddr, 0x3c) == 0 && ((uint8_t *)pfn_va(pfn))[0] == 0x3c,
              "the copy helper cannot write the page");
    bt_leave_context(ctx);
}

KTEST(user_page_not_executable_by_kernel)
{
    if (!arch_cpu_has("smep"))
        KT_SKIP(t, "the CPU has no supervisor execution protection");
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_zeroed();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    memcpy(pfn_va(pfn), arch_ret_insn, arch_ret_insn_len);
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RX, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    KT_EXPECT(t, arch_probe_exec((const void *)v->vaddr) == -EFAULT, "the kernel executed a user page");
    KT_EXPECT(t, kernel_fault_stats.last.access == HAL_ACCESS_EXEC, "recorded access %d", kernel_fault_stats.last.access);
    bt_leave_context(ctx);
}

KTEST(noncanonical_address_is_refused)
{
    const hal_geometry_t *g = kernel_geometry;
    if (g->va_bits >= 64)
        KT_SKIP(t, "every address is canonical");
    ptr_t bad = hal_user_end(g) + 0x1000; /* just above the user half: in the hole */
    KT_ASSERT(t, !hal_is_canonical(g, bad), "%lx is canonical", (unsigned long)bad);
    size_t pf = kernel_fault_stats.page_faults, traps = kernel_fault_stats.other_traps;
    uint8_t b;
    KT_EXPECT(t, arch_probe_read((const volatile void *)bad, &b) == -EFAULT, "non-canonical read did not fault");
    KT_EXPECT(t, arch_probe_write((volatile void *)bad, 0) == -EFAULT, "non-canonical write did not fault");
    /* Either a general-protection trap (no address reported: x86) or a page
     * fault that names the address; never a page fault at another address. */
    bool as_trap = !kernel_fault_stats.last_was_page_fault && kernel_fault_stats.other_traps == traps + 2 &&
                   kernel_fault_stats.page_faults == pf;
    bool as_pf = kernel_fault_stats.last_was_page_fault && kernel_fault_stats.last.addr == bad;
    KT_EXPECT(t, as_trap || as_pf, "recorded as %s (page faults +%zu, traps +%zu, last address %lx)",
              kernel_fault_stats.last_was_page_fault ? "page fault" : "trap", kernel_fault_stats.page_faults - pf,
              kernel_fault_stats.other_traps - traps, (unsigned long)kernel_fault_stats.last.addr);
}
