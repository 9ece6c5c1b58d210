/* arch/aarch64/ktests.c - boot tests of what only aarch64 has: the EL the
 * kernel runs at and the MMU registers it set, PSTATE.PAN outside the copy
 * helpers, the abort decoding seen end to end, the regions taken from the
 * device tree, the counter EL0 reads and the virtual timer's ticks. They
 * run with the arch-neutral suite of tests/boot (same runner, same KTAP). */
#include "a64.h"
#include "cache.h"
#include "cpu.h"
#include "early_paging.h"
#include "kernel/cmdline.h"
#include "kernel/fault.h"
#include "kernel/kstack.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "tests/boot/boot_test.h"

extern char a64_vectors[];

/* EL1, the MMU and caches on, WXN and SPAN clear, TCR_EL1 as
 * a64_tcr_value says for the geometry booted (T0SZ = T1SZ = 64 - va_bits,
 * 4 KiB granules, DS for the 52-bit one), the MAIR of hal_arch.h, the
 * kernel context's root in TTBR1, the vectors and CPU 0's area installed. */
KTEST(aarch64_runs_at_el1_with_the_mmu_registers_the_hal_expects)
{
    uint64_t el = (a64_sysreg_read(CurrentEL) >> 2) & 3;
    uint64_t sctlr = a64_sysreg_read(sctlr_el1), tcr = a64_sysreg_read(tcr_el1);
    KT_EXPECT(t, el == 1 && (a64_entry_el == 1 || a64_entry_el == 2), "running at EL%lu, entered at EL%u",
              (unsigned long)el, a64_entry_el);
    KT_EXPECT(t, (sctlr & 0x1005) == 0x1005, "SCTLR_EL1 %lx: M, C or I clear", (unsigned long)sctlr);
    KT_EXPECT(t, !(sctlr & (1u << 19)) && !(sctlr & (1u << 23)), "SCTLR_EL1 %lx: WXN or SPAN set", (unsigned long)sctlr);
    KT_EXPECT(t, (sctlr & (A64_SCTLR_UCT | A64_SCTLR_UCI)) == (A64_SCTLR_UCT | A64_SCTLR_UCI),
              "SCTLR_EL1 %lx: EL0 may not read CTR_EL0 (UCT) or maintain caches (UCI)", (unsigned long)sctlr);
    const hal_geometry_t *g = kernel_boot_info->geometry;
    bool lpa2 = g->pa_bits > 48;
    uint64_t tsz = 64 - g->va_bits;
    KT_EXPECT(t, tcr == a64_tcr_value(g, a64_read_mmfr0()), "TCR_EL1 %lx, a64_tcr_value(%s) %lx", (unsigned long)tcr,
              g->name, (unsigned long)a64_tcr_value(g, a64_read_mmfr0()));
    KT_EXPECT(t, (tcr & 0x3f) == tsz && ((tcr >> 16) & 0x3f) == tsz, "TCR_EL1 %lx: T0SZ / T1SZ not %lu",
              (unsigned long)tcr, (unsigned long)tsz);
    KT_EXPECT(t, ((tcr & A64_TCR_DS) != 0) == lpa2 && a64_lpa2 == lpa2, "TCR_EL1 %lx: DS, codec layout %d, %s",
              (unsigned long)tcr, a64_lpa2, g->name);
    KT_EXPECT(t, ((tcr >> 14) & 3) == 0 && ((tcr >> 30) & 3) == 2, "TCR_EL1 %lx: not 4 KiB granules", (unsigned long)tcr);
    KT_EXPECT(t, ((tcr >> 32) & 7) <= (lpa2 ? 6 : 5), "TCR_EL1 %lx: IPS beyond %u bits", (unsigned long)tcr,
              g->pa_bits);
    KT_EXPECT(t, a64_sysreg_read(mair_el1) == A64_MAIR_VALUE, "MAIR_EL1 %lx, hal_arch.h says %llx",
              (unsigned long)a64_sysreg_read(mair_el1), A64_MAIR_VALUE);
    uint64_t ttbr1 = a64_sysreg_read(ttbr1_el1) & A64_TTBR_ADDR;
    KT_EXPECT(t, ttbr1 >> PAGE_SHIFT == mm_kernel_context()->pgd, "TTBR1_EL1 %lx, kernel context root %llx",
              (unsigned long)ttbr1, (unsigned long long)mm_kernel_context()->pgd);
    KT_EXPECT(t, ttbr1 >> PAGE_SHIFT != a64_early_root(), "still on the early kernel root");
    KT_EXPECT(t, a64_sysreg_read(vbar_el1) == (uint64_t)(uintptr_t)a64_vectors, "VBAR_EL1 %lx",
              (unsigned long)a64_sysreg_read(vbar_el1));
    KT_EXPECT(t, a64_this_cpu() == a64_cpu(0) && arch_cpu_id() == 0, "TPIDR_EL1 %p, CPU 0's area %p",
              (void *)a64_this_cpu(), (void *)a64_cpu(0));
    KT_EXPECT(t, (a64_sysreg_read(daif) & A64_SPSR_I) != 0, "the kernel runs with IRQs unmasked");
}

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* The geometry is the widest the CPU has (ID_AA64MMFR0_EL1.TGran4 0b0001:
 * FEAT_LPA2, aarch64-5level), unless paging=4level caps it; paging=5level
 * on a CPU without LPA2 falls back to aarch64-4level. */
KTEST(aarch64_paging_is_the_widest_the_cpu_has_unless_the_command_line_caps_it)
{
    const boot_info_t *bi = kernel_boot_info;
    uint64_t mmfr0 = a64_read_mmfr0();
    char cap[16];
    bool capped4 = cmdline_get(bi->cmdline, "paging", cap, sizeof cap) && same(cap, "4level");
    const char *want = a64_mmfr0_has_lpa2(mmfr0) && !capped4 ? "aarch64-5level" : "aarch64-4level";
    KT_EXPECT(t, same(bi->geometry->name, want), "geometry %s, expected %s (TGran4 %u, paging=4level %d)",
              bi->geometry->name, want, a64_mmfr0_tgran4(mmfr0), capped4);
    KT_EXPECT(t, kernel_geometry == bi->geometry, "the generic layer runs %s", kernel_geometry->name);
}

/* Asked of the MMU itself: the kernel half's root is walked from the level
 * T1SZ gives (64 - T1SZ = 52 bits: Arm's level -1, 16 entries indexed by
 * VA[51:48]; 48: level 0, 512 entries), which is the generic layer's root
 * (hal_level_entries / hal_level_shift of the top level); every kernel
 * region (image, direct map, devices, kernel stacks) sits under a root
 * entry of the upper half (8..15, or 256..511) of TTBR1's root, the lower
 * half and the slots past the last entry are empty; AT S1E1R translates
 * the image to its physical address; and an address under the first empty
 * root entry of the kernel half faults at the start level: level -1 (FST
 * 0x2b) with LPA2, level 0 (FST 0x04) without. */
KTEST(aarch64_kernel_root_is_walked_from_the_level_tcr_says)
{
    const hal_geometry_t *g = kernel_geometry;
    uint64_t tcr = a64_sysreg_read(tcr_el1);
    unsigned va_bits = 64 - (unsigned)((tcr >> 16) & 0x3f);
    unsigned root_bits = (va_bits - PAGE_SHIFT - 1) % HAL_BITS_PER_LEVEL + 1, root_shift = va_bits - root_bits;
    size_t entries = (size_t)1 << root_bits;
    KT_EXPECT(t, va_bits == g->va_bits && entries == hal_level_entries(g, g->levels) &&
                     root_shift == hal_level_shift(g->levels),
              "T1SZ says %u-bit VAs, a root of %zu entries from bit %u; %s has %u, %zu, %u", va_bits, entries,
              root_shift, g->name, g->va_bits, (size_t)hal_level_entries(g, g->levels), hal_level_shift(g->levels));
    const pte_t *root = mm_phys_to_virt((uint64_t)a64_ttbr_root(a64_sysreg_read(ttbr1_el1)) << PAGE_SHIFT);
    kstack_t ks;
    KT_ASSERT(t, kstack_alloc(&ks) == 0, "no kernel stack");
    ptr_t regions[] = { (ptr_t)_text_start, A64_DIRECT_MAP_BASE + kernel_boot_info->kernel_phys_start,
                        A64_DEVICE_BASE + A64_PL011_PHYS, kstack_top(&ks) - 8 };
    for (size_t i = 0; i < ARRAY_SIZE(regions); i++) {
        size_t idx = (regions[i] >> root_shift) & (entries - 1);
        KT_EXPECT(t, idx >= entries / 2 && idx < entries, "%lx: root index %zu of %zu", (unsigned long)regions[i], idx,
                  entries);
        KT_EXPECT(t, hal_pte_present(root[idx]) && !hal_pte_is_leaf(g->levels, root[idx]),
                  "%lx: root entry %zu is %llx, not a table", (unsigned long)regions[i], idx,
                  (unsigned long long)root[idx]);
    }
    size_t used_low = 0, used_past = 0;
    for (size_t i = 0; i < HAL_ENTRIES_PER_TABLE; i++) {
        used_low += i < entries / 2 && root[i] != 0;
        used_past += i >= entries && root[i] != 0;
    }
    KT_EXPECT(t, used_low == 0 && used_past == 0, "TTBR1's root: %zu entries of the lower half, %zu past entry %zu",
              used_low, used_past, entries - 1);
    kstack_free(&ks);
    __asm__ volatile("at s1e1r, %0\n\tisb" ::"r"((uint64_t)(uintptr_t)_text_start) : "memory");
    uint64_t par = a64_sysreg_read(par_el1);
    KT_EXPECT(t, !(par & 1) && (par & 0x000ffffffffff000ull) == A64_KVA_TO_PA(_text_start),
              "AT S1E1R %p: PAR_EL1 %lx, image at %lx", (void *)_text_start, (unsigned long)par,
              (unsigned long)A64_KVA_TO_PA(_text_start));
    /* The first empty root entry of the kernel half (8, or 257). */
    size_t hole = entries / 2;
    while (hole < entries && root[hole])
        hole++;
    KT_ASSERT(t, hole < entries, "every kernel-half root entry is in use");
    ptr_t va = hal_kernel_start(g) + (ptr_t)(hole - entries / 2) * ((ptr_t)1 << root_shift);
    __asm__ volatile("at s1e1r, %0\n\tisb" ::"r"((uint64_t)va) : "memory");
    par = a64_sysreg_read(par_el1);
    unsigned fst = (unsigned)(par >> 1) & 0x3f;
    KT_EXPECT(t, (par & 1) && fst == (va_bits == 52 ? 0x2bu : 0x04u), "AT S1E1R %lx (root entry %zu): PAR_EL1 %lx (FST %#x)",
              (unsigned long)va, hole, (unsigned long)par, fst);
}

KTEST(aarch64_pan_is_clear_only_inside_the_copy_helpers)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_zeroed();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    uint8_t b = 0;
    KT_EXPECT(t, arch_cpu_has("smap") && arch_cpu_has("pan") && a64_read_pan(), "PAN clear before the helpers");
    KT_EXPECT(t, arch_probe_user_write((volatile void *)v->vaddr, 0x5a) == 0, "user_write");
    KT_EXPECT(t, a64_read_pan(), "PAN left clear by user_write");
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)v->vaddr, &b) == 0 && b == 0x5a, "user_read %x", b);
    KT_EXPECT(t, a64_read_pan(), "PAN left clear by user_read");
    /* The same page through a plain access: PAN refuses it (a permission
     * fault on a present page), the exception table returns -EFAULT. */
    KT_EXPECT(t, arch_probe_read((const volatile void *)v->vaddr, &b) == -EFAULT, "plain read of a user page");
    KT_EXPECT(t, kernel_fault_stats.last.present == 1 && kernel_fault_stats.last.access == HAL_ACCESS_READ &&
                     !kernel_fault_stats.last.user_access && !kernel_fault_stats.last.user_mode,
              "recorded as present %d access %d user_access %d", kernel_fault_stats.last.present,
              kernel_fault_stats.last.access, kernel_fault_stats.last.user_access);
    /* The page after it is not mapped: the helper faults (translation
     * fault: not present), the fixup sets PAN again. */
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)(v->vaddr + PAGE_SIZE), &b) == -EFAULT,
              "user_read of an unmapped page");
    KT_EXPECT(t, kernel_fault_stats.last.present == 0 && kernel_fault_stats.last.user_access &&
                     kernel_fault_stats.last.addr == v->vaddr + PAGE_SIZE,
              "recorded as present %d user_access %d at %lx", kernel_fault_stats.last.present,
              kernel_fault_stats.last.user_access, (unsigned long)kernel_fault_stats.last.addr);
    KT_EXPECT(t, a64_read_pan(), "PAN left clear by a faulting user_read");
    bt_leave_context(ctx);
}

/* A write to read-only kernel data is a permission fault (present, write);
 * a read of an unmapped kernel address a translation fault (not present). */
KTEST(aarch64_kernel_aborts_decode_to_the_access_and_presence_the_esr_gives)
{
    KT_EXPECT(t, bt_write((ptr_t)_rodata_start, false, 0x11) == -EFAULT, "rodata write did not fault");
    KT_EXPECT(t, kernel_fault_stats.last.present == 1 && kernel_fault_stats.last.access == HAL_ACCESS_WRITE &&
                     kernel_fault_stats.last.addr == (ptr_t)_rodata_start,
              "rodata write recorded as present %d access %d at %lx", kernel_fault_stats.last.present,
              kernel_fault_stats.last.access, (unsigned long)kernel_fault_stats.last.addr);
    uint8_t b;
    ptr_t hole = A64_DEVICE_BASE - PAGE_SIZE; /* nothing maps the page below the device window */
    KT_EXPECT(t, arch_probe_read((const volatile void *)hole, &b) == -EFAULT, "read of %lx did not fault",
              (unsigned long)hole);
    KT_EXPECT(t, kernel_fault_stats.last.present == 0 && kernel_fault_stats.last.access == HAL_ACCESS_READ &&
                     kernel_fault_stats.last.addr == hole,
              "unmapped read recorded as present %d access %d at %lx", kernel_fault_stats.last.present,
              kernel_fault_stats.last.access, (unsigned long)kernel_fault_stats.last.addr);
}

/* arch_sync_icache_range (cache.h) cleans and invalidates each line of the
 * range once, from the line below its start, with the line sizes CTR_EL0
 * gives, and skips the step IDC or DIC says is not needed. */
KTEST(aarch64_icache_sync_touches_each_line_of_the_range_once)
{
    static uint8_t buf[256] __attribute__((aligned(64)));
    ptr_t b = (ptr_t)buf;
    uint64_t d64i64 = 4ull << A64_CTR_DMINLINE_SHIFT | 4, d32i64 = 3ull << A64_CTR_DMINLINE_SHIFT | 4;
    a64_icache_sync_t d = a64_sync_icache(d64i64, b + 0x30, 0x60); /* 0x30..0x8f: lines 0x00, 0x40, 0x80 */
    KT_EXPECT(t, d.dc_lines == 3 && d.ic_lines == 3, "64-byte lines: %zu cleaned, %zu invalidated", d.dc_lines, d.ic_lines);
    d = a64_sync_icache(d32i64, b + 0x30, 0x60); /* 32-byte D lines 0x20..0x80 */
    KT_EXPECT(t, d.dc_lines == 4 && d.ic_lines == 3, "32/64-byte lines: %zu cleaned, %zu invalidated", d.dc_lines, d.ic_lines);
    d = a64_sync_icache(d64i64, b + 0x40, 0x40);
    KT_EXPECT(t, d.dc_lines == 1 && d.ic_lines == 1, "one aligned line: %zu, %zu", d.dc_lines, d.ic_lines);
    d = a64_sync_icache(d64i64 | A64_CTR_IDC, b, sizeof buf);
    KT_EXPECT(t, d.dc_lines == 0 && d.ic_lines == 4, "IDC: %zu cleaned, %zu invalidated", d.dc_lines, d.ic_lines);
    d = a64_sync_icache(d64i64 | A64_CTR_DIC, b, sizeof buf);
    KT_EXPECT(t, d.dc_lines == 4 && d.ic_lines == 0, "DIC: %zu cleaned, %zu invalidated", d.dc_lines, d.ic_lines);
    d = a64_sync_icache(d64i64, b, 0);
    KT_EXPECT(t, d.dc_lines == 0 && d.ic_lines == 0, "len 0: %zu, %zu", d.dc_lines, d.ic_lines);
    uint64_t ctr = a64_sysreg_read(ctr_el0);
    d = a64_sync_icache(ctr, b, sizeof buf);
    size_t want_dc = (ctr & A64_CTR_IDC) ? 0 : (sizeof buf + a64_dcache_line(ctr) - 1) / a64_dcache_line(ctr);
    size_t want_ic = (ctr & A64_CTR_DIC) ? 0 : (sizeof buf + a64_icache_line(ctr) - 1) / a64_icache_line(ctr);
    KT_EXPECT(t, d.dc_lines == want_dc && d.ic_lines == want_ic, "CTR_EL0 %lx: %zu cleaned, %zu invalidated, expected %zu, %zu",
              (unsigned long)ctr, d.dc_lines, d.ic_lines, want_dc, want_ic);
}

/* User programs read CNTVCT_EL0 (meminfo.cycle_hz is its rate). */
KTEST(aarch64_counter_is_readable_at_el0)
{
    KT_EXPECT(t, a64_sysreg_read(cntkctl_el1) & A64_CNTKCTL_EL0VCTEN, "CNTKCTL_EL1 %lx: EL0VCTEN clear",
              (unsigned long)a64_sysreg_read(cntkctl_el1));
    KT_EXPECT(t, arch_cycle_hz() == a64_sysreg_read(cntfrq_el0) && arch_cycle_hz() != 0, "cycle_hz %lu",
              (unsigned long)arch_cycle_hz());
    uint64_t a = arch_cycles(), b = arch_cycles();
    KT_EXPECT(t, b >= a, "the counter went back: %llx then %llx", (unsigned long long)a, (unsigned long long)b);
}

KTEST(aarch64_boot_regions_reserve_the_device_tree_and_the_image)
{
    const boot_info_t *bi = kernel_boot_info;
    bool image = false, dtb = false;
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        if (r->usable)
            continue;
        if (r->base == bi->kernel_phys_start && r->size == bi->kernel_phys_end - bi->kernel_phys_start)
            image = true;
        else if (r->size >= PAGE_SIZE) {
            const uint8_t *p = mm_phys_to_virt(r->base);
            if (p[0] == 0xd0 && p[1] == 0x0d && p[2] == 0xfe && p[3] == 0xed)
                dtb = true;
        }
    }
    KT_EXPECT(t, image, "the kernel image %llx-%llx is not reserved", (unsigned long long)bi->kernel_phys_start,
              (unsigned long long)bi->kernel_phys_end);
    KT_EXPECT(t, dtb, "no reserved region holds the device tree");
    KT_EXPECT(t, bi->kernel_phys_start == A64_KERNEL_PHYS, "the image starts at %llx",
              (unsigned long long)bi->kernel_phys_start);
    KT_EXPECT(t, !pmm_is_managed(bi->kernel_phys_start >> PAGE_SHIFT) && !pmm_is_managed(A64_RAM_BASE >> PAGE_SHIFT),
              "the image or the device tree is managed RAM");
}

/* The virtual timer interrupts the idle CPU at the rate asked; stopped, it
 * is silent. */
KTEST(aarch64_virtual_timer_ticks_while_idle_and_stops)
{
    a64_cpu_t *c = a64_this_cpu();
    uint64_t before = atomic_load(&c->ticks), hz = arch_cycle_hz(), t0 = arch_cycles();
    arch_timer_start(1000);
    while (atomic_load(&c->ticks) < before + 5 && arch_cycles() - t0 < 5 * hz)
        arch_wait_for_interrupt();
    arch_timer_stop();
    uint64_t got = atomic_load(&c->ticks) - before;
    KT_EXPECT(t, got >= 5, "%lu ticks in 5 s at 1000 Hz", (unsigned long)got);
    uint64_t stopped = atomic_load(&c->ticks);
    t0 = arch_cycles();
    while (arch_cycles() - t0 < hz / 50) /* 20 ms: 20 slices */
        __asm__ volatile("msr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
    KT_EXPECT(t, atomic_load(&c->ticks) == stopped, "%lu ticks after the timer stopped",
              (unsigned long)(atomic_load(&c->ticks) - stopped));
}

/* User code owns TPIDR_EL0 (tests/user/aarch64/tpidr_kept.c): traps from
 * EL0 save it and give it back, and the kernel's own TPIDR_EL1 (its CPU
 * area) is untouched by the run. Loading it cleaned and invalidated its
 * code's cache lines (the ELF loader's arch_sync_icache_range). */
KTEST(userprog_aarch64_user_tpidr_is_kept_across_traps)
{
    int status = -1;
    uint64_t syncs = atomic_load(&a64_icache_syncs), bytes = atomic_load(&a64_icache_synced_bytes);
    proc_output_prefix = "    ";
    printk("    # Subtest: tpidr_kept\n");
    int err = proc_run("tpidr_kept", &status);
    proc_output_prefix = "";
    KT_ASSERT(t, err == 0, "proc_run(tpidr_kept) failed with %d", err);
    KT_EXPECT(t, atomic_load(&a64_icache_syncs) > syncs && atomic_load(&a64_icache_synced_bytes) > bytes,
              "loading the program made no code visible to instruction fetch (%lu calls, %lu bytes)",
              (unsigned long)(atomic_load(&a64_icache_syncs) - syncs),
              (unsigned long)(atomic_load(&a64_icache_synced_bytes) - bytes));
    KT_EXPECT(t, status == 0, "tpidr_kept ended with wait status %#x", (unsigned)status);
    KT_EXPECT(t, a64_this_cpu() == a64_cpu(0) && arch_cpu_id() == 0, "the kernel's TPIDR_EL1 changed: %p",
              (void *)a64_this_cpu());
}

/* ---- several CPUs (arch/aarch64/smp.c) ---- */

typedef struct cpu_view {
    uint64_t tpidr, vbar, ttbr0, ttbr1, tcr, daif, pan, mpidr, el;
    unsigned cpu_id;
    uint8_t gic_mask;
} cpu_view_t;

static void look_at_cpu(void *arg)
{
    cpu_view_t *v = arg;
    a64_cpu_t *c = a64_this_cpu();
    *v = (cpu_view_t){ .tpidr = (uint64_t)(uintptr_t)c, .vbar = a64_sysreg_read(vbar_el1),
                       .ttbr0 = a64_sysreg_read(ttbr0_el1), .ttbr1 = a64_sysreg_read(ttbr1_el1),
                       .tcr = a64_sysreg_read(tcr_el1), .daif = a64_sysreg_read(daif), .pan = a64_read_pan(),
                       .mpidr = a64_sysreg_read(mpidr_el1) & 0xff00ffffffull,
                       .el = (a64_sysreg_read(CurrentEL) >> 2) & 3, .cpu_id = c->cpu_id, .gic_mask = c->gic_mask };
}

/* Each CPU is a cpu of the device tree (the boot CPU is CPU 0) running at
 * EL1 with its own area in TPIDR_EL1, the vectors, the kernel context in
 * both TTBRs and the boot CPU's TCR_EL1 (the geometry), IRQs masked, PAN set, and a GIC CPU interface of its own. */
KTEST(aarch64_smp_each_cpu_runs_on_the_kernel_context_with_its_own_area)
{
    uint64_t kroot = (uint64_t)mm_kernel_context()->pgd << PAGE_SHIFT;
    uint8_t masks = 0;
    for (unsigned i = 0; i < smp_cpu_count(); i++) {
        cpu_view_t v = { 0 };
        smp_call_on(i, look_at_cpu, &v);
        KT_EXPECT(t, v.cpu_id == i && v.tpidr == (uint64_t)(uintptr_t)a64_cpu(i), "cpu %u: TPIDR_EL1 %lx (id %u)", i,
                  (unsigned long)v.tpidr, v.cpu_id);
        KT_EXPECT(t, v.mpidr == smp_cpu(i)->hwid && v.mpidr == a64_cpu(i)->mpidr, "cpu %u: MPIDR %lx, table says %lx",
                  i, (unsigned long)v.mpidr, smp_cpu(i)->hwid);
        KT_EXPECT(t, v.el == 1 && v.vbar == (uint64_t)(uintptr_t)a64_vectors, "cpu %u: EL%lu, VBAR %lx", i,
                  (unsigned long)v.el, (unsigned long)v.vbar);
        KT_EXPECT(t, (v.ttbr0 & A64_TTBR_ADDR) == kroot && (v.ttbr1 & A64_TTBR_ADDR) == kroot,
                  "cpu %u: TTBR0 %lx TTBR1 %lx, the kernel context's root is %lx", i, (unsigned long)v.ttbr0,
                  (unsigned long)v.ttbr1, (unsigned long)kroot);
        KT_EXPECT(t, v.tcr == a64_sysreg_read(tcr_el1), "cpu %u: TCR_EL1 %lx, the boot CPU's %lx", i,
                  (unsigned long)v.tcr, (unsigned long)a64_sysreg_read(tcr_el1));
        KT_EXPECT(t, (v.daif & A64_SPSR_I) && v.pan, "cpu %u: DAIF %lx PAN %lx", i, (unsigned long)v.daif,
                  (unsigned long)v.pan);
        KT_EXPECT(t, v.gic_mask != 0 && (v.gic_mask & (v.gic_mask - 1)) == 0 && !(masks & v.gic_mask),
                  "cpu %u: GIC interface mask %#x (seen %#x)", i, v.gic_mask, masks);
        masks |= v.gic_mask;
    }
}

static void timer_on(void *arg) { arch_timer_start(*(unsigned *)arg); }
static void timer_off(void *arg)
{
    (void)arg;
    arch_timer_stop();
}

/* Waits until CPU c has taken `want` ticks in all; false after 5 s. */
static bool wait_ticks(a64_cpu_t *c, uint64_t want)
{
    uint64_t t0 = arch_cycles();
    while (atomic_load(&c->ticks) < want) {
        smp_poll();
        if (arch_cycles() - t0 > 5 * arch_cycle_hz())
            return false;
    }
    return true;
}

/* A CPU that starts its virtual timer (a private interrupt) gets ticks
 * while it idles, and no other CPU does; stopped, they end. */
KTEST(aarch64_smp_each_cpu_gets_its_own_timer_ticks)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    unsigned hz = 1000;
    for (unsigned i = 1; i < smp_cpu_count(); i++) {
        uint64_t mine[SMP_MAX_CPUS];
        for (unsigned j = 0; j < smp_cpu_count(); j++)
            mine[j] = atomic_load(&a64_cpu(j)->ticks);
        smp_call_on(i, timer_on, &hz);
        bool ticked = wait_ticks(a64_cpu(i), mine[i] + 3);
        smp_call_on(i, timer_off, NULL);
        KT_EXPECT(t, ticked, "cpu %u took %lu ticks in 5 s at %u Hz", i,
                  (unsigned long)(atomic_load(&a64_cpu(i)->ticks) - mine[i]), hz);
        for (unsigned j = 0; j < smp_cpu_count(); j++)
            KT_EXPECT(t, j == i || atomic_load(&a64_cpu(j)->ticks) == mine[j], "cpu %u ticked for cpu %u's timer", j,
                      i);
        uint64_t stopped = atomic_load(&a64_cpu(i)->ticks), t0 = arch_cycles();
        while (arch_cycles() - t0 < arch_cycle_hz() / 50) /* 20 ms: 20 slices */
            smp_poll();
        KT_EXPECT(t, atomic_load(&a64_cpu(i)->ticks) == stopped, "cpu %u ticked %lu times after its timer stopped", i,
                  (unsigned long)(atomic_load(&a64_cpu(i)->ticks) - stopped));
    }
}
