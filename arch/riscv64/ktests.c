/* arch/riscv64/ktests.c - boot tests of what only riscv64 has: the paging
 * mode probed at boot and its command-line cap, sstatus.SUM outside the copy
 * helpers, the regions taken from the device tree, and the state of every
 * hart (its area, trap vector, satp, timer). They run with the
 * arch-neutral suite of tests/boot (same runner, same KTAP). */
#include "early_paging.h"
#include "hart.h"
#include "kernel/cmdline.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "riscv.h"
#include "tests/boot/boot_test.h"

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

KTEST(riscv_paging_mode_is_the_widest_allowed_by_the_command_line)
{
    const boot_info_t *bi = kernel_boot_info;
    char cap[16];
    const char *mode = cmdline_get(bi->cmdline, "paging", cap, sizeof cap) ? cap
                       : arch_cpu_has("sv57")                                 ? "sv57"
                       : arch_cpu_has("sv48")                                 ? "sv48"
                                                                              : "sv39";
    KT_EXPECT(t, arch_cpu_has(mode), "paging=%s but the hart refused that mode", mode);
    char want[24] = "riscv64-";
    for (int i = 0; mode[i] && i < 8; i++)
        want[8 + i] = mode[i];
    KT_EXPECT(t, same(bi->geometry->name, want), "geometry %s, expected %s", bi->geometry->name, want);
    uint64_t satp_mode = csr_read(satp) >> SATP_MODE_SHIFT;
    uint64_t expect = bi->geometry->levels == 5   ? SATP_MODE_SV57
                      : bi->geometry->levels == 4 ? SATP_MODE_SV48
                                                  : SATP_MODE_SV39;
    KT_EXPECT(t, satp_mode == expect && rv_mmu_mode() == expect, "satp mode %lu, hal mode %lu, expected %lu",
              (unsigned long)satp_mode, (unsigned long)rv_mmu_mode(), (unsigned long)expect);
    KT_EXPECT(t, arch_cpu_has("sv39"), "a paging riscv64 hart must have Sv39");
    KT_EXPECT(t, !arch_cpu_has("sv64") && !arch_cpu_has("svpbmt") && !arch_cpu_has(""), "unknown features reported");
}

/* User programs read the time CSR (meminfo.cycle_hz is its rate). */
KTEST(riscv_time_csr_is_readable_in_u_mode)
{
    KT_EXPECT(t, csr_read(scounteren) & RV_SCOUNTEREN_TM, "scounteren %lx: TM clear",
              (unsigned long)csr_read(scounteren));
    KT_EXPECT(t, arch_cycle_hz() != 0, "no timebase-frequency in the device tree");
    uint64_t a = arch_cycles(), b = arch_cycles();
    KT_EXPECT(t, b >= a, "time went back: %llx then %llx", (unsigned long long)a, (unsigned long long)b);
}

KTEST(riscv_sum_is_set_only_inside_the_copy_helpers)
{
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_zeroed();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    uint8_t b = 0;
    KT_EXPECT(t, !(csr_read(sstatus) & SSTATUS_SUM), "SUM set before the helpers");
    KT_EXPECT(t, arch_probe_user_write((volatile void *)v->vaddr, 0x5a) == 0, "user_write");
    KT_EXPECT(t, !(csr_read(sstatus) & SSTATUS_SUM), "SUM left set by user_write");
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)v->vaddr, &b) == 0 && b == 0x5a, "user_read %x", b);
    KT_EXPECT(t, !(csr_read(sstatus) & SSTATUS_SUM), "SUM left set by user_read");
    /* The page after it is not mapped: the helper faults, the fixup clears SUM. */
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)(v->vaddr + PAGE_SIZE), &b) == -EFAULT,
              "user_read of an unmapped page");
    KT_EXPECT(t, !(csr_read(sstatus) & SSTATUS_SUM), "SUM left set by a faulting user_read");
    bt_leave_context(ctx);
}

KTEST(riscv_boot_regions_reserve_firmware_device_tree_and_image)
{
    const boot_info_t *bi = kernel_boot_info;
    bool firmware = false, image = false, dtb = false;
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        if (r->usable)
            continue;
        if (r->base <= RV_OPENSBI_DEFAULT_BASE && r->base + r->size >= RV_OPENSBI_DEFAULT_BASE + RV_OPENSBI_DEFAULT_SIZE) {
            firmware = true;
            continue; /* PMP keeps S-mode out: never read it */
        }
        if (r->base == bi->kernel_phys_start && r->size == bi->kernel_phys_end - bi->kernel_phys_start)
            image = true;
        /* The device tree: a reserved region in RAM holding an FDT header. */
        else if (r->base >= RV_OPENSBI_DEFAULT_BASE + RV_OPENSBI_DEFAULT_SIZE && r->size >= PAGE_SIZE) {
            const uint8_t *p = mm_phys_to_virt(r->base);
            if (p[0] == 0xd0 && p[1] == 0x0d && p[2] == 0xfe && p[3] == 0xed)
                dtb = true;
        }
    }
    KT_EXPECT(t, firmware, "OpenSBI's %llx-%llx is not reserved", (unsigned long long)RV_OPENSBI_DEFAULT_BASE,
              (unsigned long long)(RV_OPENSBI_DEFAULT_BASE + RV_OPENSBI_DEFAULT_SIZE - 1));
    KT_EXPECT(t, image, "the kernel image %llx-%llx is not reserved", (unsigned long long)bi->kernel_phys_start,
              (unsigned long long)bi->kernel_phys_end);
    KT_EXPECT(t, dtb, "no reserved region holds the device tree");
    KT_EXPECT(t, bi->kernel_phys_start == 0x80200000ull, "the image starts at %llx",
              (unsigned long long)bi->kernel_phys_start);
}

/* ---- several harts (arch/riscv64/smp.c) ---- */

typedef struct hart_view {
    uint64_t hartid, satp, stvec, sscratch, sie, sstatus, tp;
    unsigned cpu_id;
} hart_view_t;

static void look_at_hart(void *arg)
{
    hart_view_t *v = arg;
    rv_hart_t *h = rv_this_hart();
    *v = (hart_view_t){ .hartid = h->hartid, .satp = csr_read(satp), .stvec = csr_read(stvec),
                        .sscratch = csr_read(sscratch), .sie = csr_read(sie), .sstatus = csr_read(sstatus),
                        .tp = (uint64_t)(uintptr_t)h, .cpu_id = h->cpu_id };
}

/* Each CPU is a hart of the device tree (the boot hart is CPU 0) running
 * with its own area in tp, the trap vector, the kernel context, IPIs
 * enabled, SUM and SIE clear. */
KTEST(riscv_smp_each_hart_runs_on_the_kernel_context_with_its_own_area)
{
    extern char rv_trap_entry[];
    uint64_t kernel_satp = rv_mmu_mode() << SATP_MODE_SHIFT | mm_kernel_context()->pgd;
    for (unsigned i = 0; i < smp_cpu_count(); i++) {
        hart_view_t v = { 0 };
        smp_call_on(i, look_at_hart, &v);
        KT_EXPECT(t, v.cpu_id == i && v.tp == (uint64_t)(uintptr_t)rv_hart(i), "cpu %u: tp %lx (id %u), expected %p",
                  i, (unsigned long)v.tp, v.cpu_id, (void *)rv_hart(i));
        KT_EXPECT(t, v.hartid == smp_cpu(i)->hwid, "cpu %u: hart %lu, table says %lu", i, (unsigned long)v.hartid,
                  smp_cpu(i)->hwid);
        KT_EXPECT(t, v.satp == kernel_satp, "cpu %u: satp %lx, the kernel context's is %lx", i,
                  (unsigned long)v.satp, (unsigned long)kernel_satp);
        KT_EXPECT(t, v.stvec == (uint64_t)(uintptr_t)rv_trap_entry && v.sscratch == 0, "cpu %u: stvec %lx sscratch %lx",
                  i, (unsigned long)v.stvec, (unsigned long)v.sscratch);
        KT_EXPECT(t, (v.sie & RV_SIE_SSIE) && !(v.sstatus & (SSTATUS_SUM | SSTATUS_SIE)), "cpu %u: sie %lx sstatus %lx",
                  i, (unsigned long)v.sie, (unsigned long)v.sstatus);
    }
}

static void timer_on(void *arg) { arch_timer_start(*(unsigned *)arg); }
static void timer_off(void *arg)
{
    (void)arg;
    arch_timer_stop();
}

/* Waits until hart h has taken `want` ticks in all; false after 5 s. */
static bool wait_ticks(rv_hart_t *h, uint64_t want)
{
    uint64_t t0 = arch_cycles();
    while (atomic_load(&h->ticks) < want) {
        smp_poll();
        if (arch_cycles() - t0 > 5 * arch_cycle_hz())
            return false;
    }
    return true;
}

/* A hart that starts its timer gets ticks while it idles, and no other
 * hart does; stopped, they end. */
KTEST(riscv_smp_each_hart_gets_its_own_timer_ticks)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    unsigned hz = 1000;
    for (unsigned i = 1; i < smp_cpu_count(); i++) {
        uint64_t mine[SMP_MAX_CPUS];
        for (unsigned j = 0; j < smp_cpu_count(); j++)
            mine[j] = atomic_load(&rv_hart(j)->ticks);
        smp_call_on(i, timer_on, &hz);
        bool ticked = wait_ticks(rv_hart(i), mine[i] + 3);
        smp_call_on(i, timer_off, NULL);
        KT_EXPECT(t, ticked, "cpu %u took %lu ticks in 5 s at %u Hz", i,
                  (unsigned long)(atomic_load(&rv_hart(i)->ticks) - mine[i]), hz);
        for (unsigned j = 0; j < smp_cpu_count(); j++)
            KT_EXPECT(t, j == i || atomic_load(&rv_hart(j)->ticks) == mine[j], "cpu %u ticked for cpu %u's timer",
                      j, i);
        uint64_t stopped = atomic_load(&rv_hart(i)->ticks), t0 = arch_cycles();
        while (arch_cycles() - t0 < arch_cycle_hz() / 50) /* 20 ms: 20 slices */
            smp_poll();
        KT_EXPECT(t, atomic_load(&rv_hart(i)->ticks) == stopped, "cpu %u ticked %lu times after its timer stopped", i,
                  (unsigned long)(atomic_load(&rv_hart(i)->ticks) - stopped));
    }
}

static void ipi_cpu0(void *arg)
{
    (void)arg;
    arch_ipi_send(0);
}

/* User code owns tp (tests/user/riscv64/tp_kept.c): traps from U-mode keep
 * the kernel's per-hart area out of its reach and give its value back. With
 * a second hart, an IPI sent to CPU 0 while it runs the kernel waits there
 * (interrupts masked) and is taken once the program runs in U-mode. */
KTEST(userprog_riscv_user_tp_is_kept_across_traps)
{
    int status = -1;
    unsigned long ipis = atomic_load(&smp_cpu(0)->ipis);
    bool ipi = smp_cpu_count() >= 2;
    if (ipi)
        smp_call_on(1, ipi_cpu0, NULL);
    proc_output_prefix = "    ";
    printk("    # Subtest: tp_kept\n");
    int err = proc_run("tp_kept", &status);
    proc_output_prefix = "";
    KT_ASSERT(t, err == 0, "proc_run(tp_kept) failed with %d", err);
    KT_EXPECT(t, status == 0, "tp_kept ended with wait status %#x", (unsigned)status);
    KT_EXPECT(t, arch_cpu_id() == 0 && rv_this_hart() == rv_hart(0), "the kernel's tp changed: %p",
              (void *)rv_this_hart());
    KT_EXPECT(t, atomic_load(&smp_cpu(0)->ipis) - ipis == (ipi ? 1u : 0u), "cpu 0 took %lu IPIs from U-mode (%u sent)",
              atomic_load(&smp_cpu(0)->ipis) - ipis, ipi ? 1u : 0u);
}

/* Code the kernel writes reaches instruction fetch on every hart: the
 * ELF loader's arch_sync_icache_range runs fence.i here and, with several
 * harts online, has the others run it through SBI RFENCE (accepted by the
 * firmware, or the call panics). */
KTEST(riscv_icache_sync_fences_this_hart_and_every_other)
{
    unsigned long syncs = atomic_load(&rv_icache_syncs), remote = atomic_load(&rv_icache_remote_fences);
    arch_sync_icache_range((ptr_t)arch_sync_icache_range, 64);
    KT_EXPECT(t, atomic_load(&rv_icache_syncs) == syncs + 1, "%lu syncs, expected 1",
              atomic_load(&rv_icache_syncs) - syncs);
    unsigned long expect_remote = smp_cpu_count() > 1 ? 1 : 0;
    KT_EXPECT(t, atomic_load(&rv_icache_remote_fences) == remote + expect_remote,
              "%lu remote fence.i with %u harts online, expected %lu", atomic_load(&rv_icache_remote_fences) - remote,
              smp_cpu_count(), expect_remote);
}
