/* arch/x86_64/ktests.c - boot tests of what only x86_64 has: the paging mode
 * chosen by the 32-bit entry (CPUID LA57 and the paging=4 switch), the
 * protection bits in CR0/CR4/EFER/RFLAGS, the ranges the multiboot2 boot
 * keeps out of the allocator, and what each started CPU got (its own GDT,
 * TSS and IST stack, the boot CPU's control registers, its MADT APIC id,
 * the trampoline gone). They run with the arch-neutral suite. */
#include "kernel/cmdline.h"
#include "kernel/smp.h"
#include "lapic.h"
#include "tests/boot/boot_test.h"
#include "x86.h"

extern uint32_t x86_boot_mbi_phys; /* boot.S */

static uint64_t read_rflags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    return f;
}

KTEST(x86_paging_mode_follows_cpuid_and_command_line)
{
    const boot_info_t *bi = kernel_boot_info;
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    bool cpu_la57 = false;
    if (a >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        cpu_la57 = c & (1u << 16);
    }
    char value[8];
    bool forced4 = cmdline_get(bi->cmdline, "paging", value, sizeof(value)) && strcmp(value, "4") == 0;
    unsigned want = cpu_la57 && !forced4 ? 5 : 4;
    KT_EXPECT(t, bi->geometry->levels == want, "geometry %s, expected %u levels (cpu la57 %d, paging=4 %d)",
              bi->geometry->name, want, cpu_la57, forced4);
    KT_EXPECT(t, !!(read_cr4() & X86_CR4_LA57) == (want == 5), "CR4.LA57 %d with %u levels",
              !!(read_cr4() & X86_CR4_LA57), want);
    KT_EXPECT(t, arch_cpu_has("la57") == (want == 5), "arch_cpu_has(la57) disagrees with the mode");
    KT_EXPECT(t, (read_cr3() & X86_CR3_ADDR) >> PAGE_SHIFT == kernel_current_context()->pgd, "CR3 %lx, context root %llx",
              (unsigned long)read_cr3(), (unsigned long long)kernel_current_context()->pgd);
}

KTEST(x86_protection_bits_are_on)
{
    KT_EXPECT(t, read_cr0() & X86_CR0_WP, "CR0.WP clear: the kernel could write read-only pages");
    KT_EXPECT(t, !arch_cpu_has("nx") || (rdmsr(X86_MSR_EFER) & X86_EFER_NXE), "EFER.NXE clear on a CPU with NX");
    KT_EXPECT(t, !arch_cpu_has("smep") || (read_cr4() & X86_CR4_SMEP), "CR4.SMEP clear on a CPU with SMEP");
    KT_EXPECT(t, !arch_cpu_has("smap") || (read_cr4() & X86_CR4_SMAP), "CR4.SMAP clear on a CPU with SMAP");
    KT_EXPECT(t, !arch_cpu_has("pge") || (read_cr4() & X86_CR4_PGE), "CR4.PGE clear: kernel mappings not global");
    /* Not a protection bit we want: user programs read the TSC (meminfo.cycle_hz). */
    KT_EXPECT(t, !(read_cr4() & X86_CR4_TSD), "CR4.TSD set: rdtsc would fault in ring 3");
    uint32_t a, b, c, d, b7 = 0;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a >= 7)
        cpuid(7, 0, &a, &b7, &c, &d);
    cpuid(0x80000001u, 0, &a, &b, &c, &d);
    KT_EXPECT(t, arch_cpu_has("nx") == !!(d & (1u << 20)), "nx detection disagrees with CPUID");
    KT_EXPECT(t, arch_cpu_has("pdpe1gb") == !!(d & (1u << 26)), "pdpe1gb detection disagrees with CPUID");
    KT_EXPECT(t, arch_cpu_has("smep") == !!(b7 & (1u << 7)), "smep detection disagrees with CPUID");
    KT_EXPECT(t, arch_cpu_has("smap") == !!(b7 & (1u << 20)), "smap detection disagrees with CPUID");
    KT_EXPECT(t, arch_cpu_has("pdpe1gb") || !hal_level_may_leaf(kernel_geometry, 3),
              "1 GiB leaves allowed on a CPU without them");
    KT_EXPECT(t, !arch_cpu_has("") && !arch_cpu_has("sv39"), "unknown features reported");
}

KTEST(x86_rflags_ac_is_clear_outside_the_copy_helpers)
{
    if (!arch_cpu_has("smap"))
        KT_SKIP(t, "no SMAP");
    mm_context_t *ctx = bt_enter_context(t);
    KT_ASSERT(t, ctx, "no context");
    pfn_t pfn = pmm_alloc_zeroed();
    KT_ASSERT(t, pfn != PMM_NO_FRAME, "no frame");
    vmap_t *v = mm_map_user_pages(ctx, 0, pfn, 1, VM_USER_RW, VALLOC_DEFAULT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
    uint8_t b;
    KT_EXPECT(t, !(read_rflags() & X86_RFLAGS_AC), "AC set before the helpers");
    KT_EXPECT(t, arch_probe_user_write((volatile void *)v->vaddr, 0x6b) == 0, "user_write");
    KT_EXPECT(t, !(read_rflags() & X86_RFLAGS_AC), "AC left set by user_write");
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)v->vaddr, &b) == 0 && b == 0x6b, "user_read %x", b);
    KT_EXPECT(t, !(read_rflags() & X86_RFLAGS_AC), "AC left set by user_read");
    KT_EXPECT(t, arch_probe_user_read((const volatile void *)(v->vaddr + PAGE_SIZE), &b) == -EFAULT,
              "user_read of an unmapped page");
    KT_EXPECT(t, !(read_rflags() & X86_RFLAGS_AC), "AC left set by a faulting user_read");
    bt_leave_context(ctx);
}

KTEST(x86_boot_keeps_first_mib_image_and_boot_info_out)
{
    const boot_info_t *bi = kernel_boot_info;
    size_t handed_out = 0;
    pfn_t first_bad = 0;
    /* Frames the allocator must never hand out: the first MiB, the image,
     * the multiboot2 information. */
    pfn_t ranges[][2] = {
        { 0, (1u << 20) >> PAGE_SHIFT },
        { bi->kernel_phys_start >> PAGE_SHIFT, ALIGN_UP(bi->kernel_phys_end, PAGE_SIZE) >> PAGE_SHIFT },
        { x86_boot_mbi_phys >> PAGE_SHIFT, (x86_boot_mbi_phys >> PAGE_SHIFT) + 1 },
    };
    for (size_t r = 0; r < ARRAY_SIZE(ranges); r++)
        for (pfn_t p = ranges[r][0]; p < ranges[r][1]; p++)
            if (pmm_is_managed(p) && !handed_out++)
                first_bad = p;
    KT_EXPECT(t, handed_out == 0, "%zu reserved frames are managed by the allocator (first %llx)", handed_out,
              (unsigned long long)first_bad);
    KT_EXPECT(t, bi->kernel_phys_start == 0x100000, "image loaded at %llx, linked for 0x100000",
              (unsigned long long)bi->kernel_phys_start);
    KT_EXPECT(t, bi->direct_map_base == X86_DIRECT_MAP_BASE, "direct map at %lx", (unsigned long)bi->direct_map_base);
}

/* ---- Several CPUs ---- */

typedef struct cpu_state {
    uint64_t gdt_base, idt_base, tss_ist1, cr0, cr3, cr4, efer;
    uint16_t tr;
    uint32_t apic_id;
} cpu_state_t;

static void read_cpu_state(void *arg)
{
    cpu_state_t *s = arg;
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr, idtr;
    __asm__ volatile("sgdt %0\n\tsidt %1\n\tstr %2" : "=m"(gdtr), "=m"(idtr), "=r"(s->tr));
    s->gdt_base = gdtr.base;
    s->idt_base = idtr.base;
    const uint64_t *gdt = (const uint64_t *)(uintptr_t)gdtr.base;
    uint64_t lo = gdt[s->tr / 8], hi = gdt[s->tr / 8 + 1];
    uint64_t tss = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
    s->tss_ist1 = *(const uint64_t *)(uintptr_t)(tss + 36); /* after reserved0, rsp[3], reserved1 */
    s->cr0 = read_cr0();
    s->cr3 = read_cr3();
    s->cr4 = read_cr4();
    s->efer = rdmsr(X86_MSR_EFER);
    s->apic_id = x86_lapic_id();
}

KTEST(x86_each_cpu_has_its_own_gdt_tss_and_ist_stack_and_shares_the_idt)
{
    unsigned n = smp_cpu_count();
    cpu_state_t st[SMP_MAX_CPUS];
    for (unsigned i = 0; i < n; i++)
        smp_call_on(i, read_cpu_state, &st[i]);
    for (unsigned i = 0; i < n; i++) {
        KT_EXPECT(t, st[i].tr == 0x28, "cpu %u: task register %x", i, st[i].tr);
        KT_EXPECT(t, st[i].idt_base == st[0].idt_base, "cpu %u: IDT at %lx, the boot CPU's at %lx", i,
                  (unsigned long)st[i].idt_base, (unsigned long)st[0].idt_base);
        KT_EXPECT(t, st[i].tss_ist1 >= KERNEL_VMA, "cpu %u: double-fault stack at %lx", i, (unsigned long)st[i].tss_ist1);
        for (unsigned j = 0; j < i; j++) {
            KT_EXPECT(t, st[i].gdt_base != st[j].gdt_base, "cpus %u and %u share the GDT at %lx", j, i,
                      (unsigned long)st[i].gdt_base);
            KT_EXPECT(t, st[i].tss_ist1 != st[j].tss_ist1, "cpus %u and %u share the double-fault stack %lx", j, i,
                      (unsigned long)st[i].tss_ist1);
        }
    }
}

KTEST(x86_every_cpu_runs_with_the_boot_cpus_paging_and_protection_bits)
{
    unsigned n = smp_cpu_count();
    cpu_state_t st[SMP_MAX_CPUS];
    for (unsigned i = 0; i < n; i++)
        smp_call_on(i, read_cpu_state, &st[i]);
    uint64_t root = (uint64_t)mm_kernel_context()->pgd << PAGE_SHIFT;
    for (unsigned i = 0; i < n; i++) {
        KT_EXPECT(t, st[i].cr0 == st[0].cr0, "cpu %u: CR0 %lx, boot CPU %lx", i, (unsigned long)st[i].cr0,
                  (unsigned long)st[0].cr0);
        KT_EXPECT(t, st[i].cr4 == st[0].cr4, "cpu %u: CR4 %lx, boot CPU %lx", i, (unsigned long)st[i].cr4,
                  (unsigned long)st[0].cr4);
        KT_EXPECT(t, st[i].efer == st[0].efer, "cpu %u: EFER %lx, boot CPU %lx", i, (unsigned long)st[i].efer,
                  (unsigned long)st[0].efer);
        if (i > 0) /* the boot CPU runs the tests in whatever context they made active */
            KT_EXPECT(t, (st[i].cr3 & X86_CR3_ADDR) == root, "cpu %u: CR3 %lx, kernel context root %lx", i,
                      (unsigned long)st[i].cr3, (unsigned long)root);
    }
}

KTEST(x86_local_apic_ids_are_the_madts)
{
    const x86_acpi_cpus_t *madt = x86_smp_acpi_cpus();
    KT_ASSERT(t, madt, "no CPU list from the ACPI MADT");
    unsigned n = smp_cpu_count();
    KT_EXPECT(t, madt->ncpus >= n, "%u CPUs online, the MADT lists %u", n, madt->ncpus);
    for (unsigned i = 0; i < n; i++) {
        cpu_state_t st;
        smp_call_on(i, read_cpu_state, &st);
        KT_EXPECT(t, st.apic_id == smp_cpu(i)->hwid, "cpu %u: local APIC id %u, table says %lu", i, st.apic_id,
                  smp_cpu(i)->hwid);
        bool listed = false;
        for (unsigned k = 0; k < madt->ncpus && k < X86_ACPI_MAX_CPUS; k++)
            listed = listed || madt->apic_id[k] == st.apic_id;
        KT_EXPECT(t, listed, "cpu %u: local APIC id %u is not in the MADT", i, st.apic_id);
    }
    KT_EXPECT(t, madt->lapic_base == (rdmsr(X86_MSR_APIC_BASE) & X86_CR3_ADDR), "MADT local APIC at %llx, MSR says %llx",
              (unsigned long long)madt->lapic_base, (unsigned long long)(rdmsr(X86_MSR_APIC_BASE) & X86_CR3_ADDR));
}

KTEST(x86_trampoline_pages_are_below_1mib_never_managed_and_cleared_after_start)
{
    uint64_t lp = x86_smp_low_pages();
    KT_ASSERT(t, lp >= PAGE_SIZE && lp + X86_SMP_LOW_PAGES * PAGE_SIZE <= (1u << 20) && !(lp & PAGE_MASK),
              "trampoline pages at %llx", (unsigned long long)lp);
    KT_EXPECT(t, lp + X86_SMP_LOW_PAGES * PAGE_SIZE <= ALIGN_DOWN(x86_boot_mbi_phys, PAGE_SIZE) ||
                     lp >= ALIGN_UP(x86_boot_mbi_phys + 1, PAGE_SIZE),
              "trampoline pages %llx overlap the boot information at %x", (unsigned long long)lp, x86_boot_mbi_phys);
    size_t nonzero = 0;
    for (unsigned i = 0; i < X86_SMP_LOW_PAGES; i++) {
        pfn_t pfn = (lp >> PAGE_SHIFT) + i;
        KT_EXPECT(t, !pmm_is_managed(pfn), "trampoline frame %llx is managed by the allocator", (unsigned long long)pfn);
        const uint8_t *p = mm_phys_to_virt(lp + (uint64_t)i * PAGE_SIZE);
        for (size_t b = 0; b < PAGE_SIZE; b++)
            nonzero += p[b] != 0;
    }
    if (smp_cpu_count() > 1)
        KT_EXPECT(t, nonzero == 0, "%zu bytes of the trampoline and its start-up root are left after start-up", nonzero);
}
