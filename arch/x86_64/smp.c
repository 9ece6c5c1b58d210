/* arch/x86_64/smp.c - starting the other CPUs (arch_smp_start, kernel/arch.h).
 *
 * The boot code finds the CPUs in the ACPI MADT (x86_smp_discover) and a
 * run of free pages below 1 MiB (x86_smp_set_low_pages): the first holds
 * the trampoline (trampoline.S), the others a start-up root that maps that
 * page at its own address (a 2 MiB leaf over [0, 2 MiB)) and shares the
 * kernel half of the kernel context (its top-level entries copied). All of
 * them lie in the first MiB, which the allocator never manages.
 *
 * One AP at a time: the boot CPU gives it a kernel stack (kstack_alloc),
 * fills the trampoline's parameter block, sends INIT, waits 10 ms, sends a
 * STARTUP IPI, waits 200 us and sends the second one if the AP has not
 * checked in (Intel SDM vol. 3A, 8.4.4.1), then waits for the check-in. The
 * AP, in the kernel half, switches to the kernel context's root, loads its
 * own GDT and TSS (which name it: arch_cpu_id) and the shared IDT, enables
 * the CPU features the boot CPU has, enables its local APIC and checks in; only then does the boot CPU reuse the parameter block. After the last
 * AP the start-up root and the trampoline are cleared. */
#include "acpi.h"
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/kstack.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "lapic.h"
#include "mm/mm.h"
#include "trampoline.h"
#include "x86.h"

#define AP_CHECKIN_TIMEOUT_US 2000000 /* 2 s: generous for TCG on a busy host */
#define PTE_P_RW 0x003ull
#define PTE_P_RW_PS 0x083ull

static x86_acpi_cpus_t acpi_cpus;
static int acpi_status = -ENOENT; /* x86_acpi_find_cpus's result, or -ENOENT with no RSDP tag */
static uint64_t low_pages;       /* X86_SMP_LOW_PAGES pages below 1 MiB, or 0 */

/* What the AP being started reads in the kernel half (the trampoline's
 * block holds only what it needs before). */
static struct {
    unsigned id;
    void (*entry)(unsigned id);
    uint64_t root; /* the kernel context's root, physical */
} ap_boot;
static _Atomic unsigned ap_checked_in; /* id of the last AP that checked in */
static kstack_t ap_stacks[SMP_MAX_CPUS];

void x86_smp_discover(const void *rsdp, size_t len, x86_acpi_map_fn map)
{
    acpi_status = x86_acpi_find_cpus(rsdp, len, map, &acpi_cpus);
}

void x86_smp_set_low_pages(uint64_t pa) { low_pages = pa; }

uint64_t x86_smp_low_pages(void) { return low_pages; }

const x86_acpi_cpus_t *x86_smp_acpi_cpus(void) { return acpi_status == 0 ? &acpi_cpus : NULL; }

static uint64_t *low_page(unsigned i) { return mm_phys_to_virt(low_pages + (uint64_t)i * PAGE_SIZE); }

/* Copies the trampoline to low page 0 and builds the start-up root in low
 * pages 1 ... (a chain to one 2 MiB leaf at 0, the kernel half shared);
 * the parameter block names it. Returns the block. */
static x86_trampoline_params_t *trampoline_install(void)
{
    size_t code = (size_t)(x86_trampoline_end - x86_trampoline_start);
    uint8_t *tp = (uint8_t *)low_page(0);
    memcpy(tp, x86_trampoline_start, code);
    x86_trampoline_params_t *p = (x86_trampoline_params_t *)(void *)(tp + (x86_trampoline_params - x86_trampoline_start));
    uint32_t base = (uint32_t)low_pages;
    p->gdtr_limit = (uint16_t)(x86_trampoline_gdt_end - x86_trampoline_gdt - 1);
    p->gdtr_base = base + (uint32_t)(x86_trampoline_gdt - x86_trampoline_start);
    p->far32_offset = base + (uint32_t)(x86_trampoline_pm32 - x86_trampoline_start);
    p->far32_selector = TRP_SEL_CODE32;
    p->far64_offset = base + (uint32_t)(x86_trampoline_lm64 - x86_trampoline_start);
    p->far64_selector = TRP_SEL_CODE64;
    p->cr0 = (uint32_t)((read_cr0() | X86_CR0_PE | X86_CR0_PG) & ~(X86_CR0_CD | X86_CR0_NW));
    p->cr4 = (uint32_t)(X86_CR4_PAE | (x86_features.la57 ? X86_CR4_LA57 : 0));
    p->efer = (uint32_t)(X86_EFER_LME | (x86_features.nx ? X86_EFER_NXE : 0));

    unsigned levels = kernel_geometry->levels;
    uint64_t *root = low_page(1);
    const uint64_t *kroot = pfn_va(mm_kernel_context()->pgd);
    memset(root, 0, PAGE_SIZE);
    memcpy(root + 256, kroot + 256, 256 * sizeof(uint64_t));
    uint64_t *t = root;
    for (unsigned l = 1; l + 1 < levels; l++) { /* the tables between root and the PD */
        uint64_t *next = low_page(1 + l);
        memset(next, 0, PAGE_SIZE);
        t[0] = (low_pages + (uint64_t)(1 + l) * PAGE_SIZE) | PTE_P_RW;
        t = next;
    }
    t[0] = 0 | PTE_P_RW_PS; /* [0, 2 MiB) at its own address, the trampoline page included */
    p->cr3 = (uint32_t)(low_pages + PAGE_SIZE);
    return p;
}

static void trampoline_remove(void) { memset(low_page(0), 0, X86_SMP_LOW_PAGES * PAGE_SIZE); }

/* The AP's first C code: on its own stack in the kernel half, still on the
 * start-up root, interrupts off. */
_Noreturn void x86_ap_entry(void);
_Noreturn void x86_ap_entry(void)
{
    unsigned id = ap_boot.id;
    void (*entry)(unsigned) = ap_boot.entry;
    write_cr3(ap_boot.root);
    x86_gdt_init(id);
    x86_idt_load();
    x86_cpu_enable();
    x86_lapic_cpu_init();
    atomic_store_explicit(&ap_checked_in, id, memory_order_release);
    entry(id);
    panic("cpu %u: entry returned", id);
}

static bool checked_in(unsigned id) { return atomic_load_explicit(&ap_checked_in, memory_order_acquire) == id; }

/* INIT, STARTUP, STARTUP; then waits for the check-in (or panics). */
static void start_ap(unsigned id, uint32_t apic_id)
{
    uint32_t vector = (uint32_t)(low_pages >> PAGE_SHIFT);
    x86_lapic_send(apic_id, LAPIC_ICR_INIT | LAPIC_ICR_ASSERT | LAPIC_ICR_LEVEL);
    x86_lapic_send(apic_id, LAPIC_ICR_INIT | LAPIC_ICR_LEVEL); /* de-assert (older APICs need it) */
    x86_udelay(10000);
    for (int sipi = 0; sipi < 2 && !checked_in(id); sipi++) {
        x86_lapic_send(apic_id, LAPIC_ICR_STARTUP | LAPIC_ICR_ASSERT | vector);
        x86_udelay(200);
    }
    uint64_t hz = arch_cycle_hz(), t0 = arch_cycles();
    while (!checked_in(id)) {
        if ((arch_cycles() - t0) / (hz / 1000000 ? hz / 1000000 : 1) > AP_CHECKIN_TIMEOUT_US)
            panic("x86: cpu %u (local APIC id %u) did not start within %u ms", id, apic_id,
                  AP_CHECKIN_TIMEOUT_US / 1000);
        __asm__ volatile("pause");
    }
}

unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    uint64_t base = x86_lapic_setup();
    uint32_t self = x86_lapic_id();
    smp_cpu(0)->hwid = self;
    if (acpi_status != 0) {
        printk("x86: no CPU list from ACPI (error %d): one CPU\n", acpi_status);
        return 1;
    }
    printk("x86: ACPI MADT lists %u CPU%s, local APIC at %llx (MADT %llx), boot CPU has APIC id %u\n",
           acpi_cpus.ncpus, acpi_cpus.ncpus == 1 ? "" : "s", (unsigned long long)base,
           (unsigned long long)acpi_cpus.lapic_base, self);
    unsigned listed = MIN(acpi_cpus.ncpus, X86_ACPI_MAX_CPUS);
    if (max <= 1 || listed <= 1)
        return 1;
    if (!low_pages) {
        printk("x86: no free pages below 1 MiB for the trampoline, staying on one CPU\n");
        return 1;
    }
    ap_boot.root = (uint64_t)mm_kernel_context()->pgd << PAGE_SHIFT;
    ap_boot.entry = entry;
    x86_trampoline_params_t *p = trampoline_install();
    unsigned next = 1;
    for (unsigned i = 0; i < listed && next < max; i++) {
        uint32_t apic_id = acpi_cpus.apic_id[i];
        if (apic_id == self)
            continue;
        if (apic_id > 0xff) {
            printk("x86: cpu with local APIC id %u needs x2APIC mode, not started\n", apic_id);
            continue;
        }
        if (kstack_alloc(&ap_stacks[next]) != 0) {
            printk("x86: no kernel stack for cpu %u, %u CPUs started\n", next, next);
            break;
        }
        smp_cpu(next)->hwid = apic_id;
        ap_boot.id = next;
        p->stack = kstack_top(&ap_stacks[next]);
        p->entry = (uint64_t)(uintptr_t)x86_ap_entry;
        atomic_thread_fence(memory_order_seq_cst); /* the block is written before the IPIs */
        start_ap(next, apic_id);
        next++;
    }
    trampoline_remove();
    return next;
}
