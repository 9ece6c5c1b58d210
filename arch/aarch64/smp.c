/* arch/aarch64/smp.c - several CPUs: the per-CPU areas (TPIDR_EL1),
 * start-up of the other CPUs through PSCI CPU_ON (hvc or smc, as the device
 * tree's /psci says), IPIs as GIC SGIs, and idling with WFI (the "Several
 * CPUs" part of kernel/arch.h). TLB shootdowns need no IPI here: the
 * inner-shareable TLBI broadcasts (hal/aarch64/mmu.c).
 *
 * A CPU starts at a64_ap_start (entry.S) with the MMU off, x0 its
 * a64_cpu_t; it drops to EL1 if it was started at EL2, turns on entry.S's
 * boot tables, jumps to the higher half, points TPIDR_EL1 at its area,
 * installs the vectors, switches to the boot CPU's TCR_EL1 (the geometry)
 * and the kernel context's roots (a64_mmu_switch), and to its own
 * kernel stack (kernel/kstack.h), and reaches a64_ap_main. The boot CPU
 * starts them one at a time and waits for each, so CPU ids follow the
 * device tree's order of the usable CPUs. */
#include <stddef.h>

#include "a64.h"
#include "cpu.h"
#include "kernel/arch.h"
#include "kernel/kstack.h"
#include "kernel/lib/fdt.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp.h"

_Static_assert(offsetof(a64_cpu_t, scratch) == A64_CPU_SCRATCH, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, trap_stack_top) == A64_CPU_TRAP_STACK, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, ttbr0) == A64_CPU_TTBR0, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, ttbr1) == A64_CPU_TTBR1, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, start_sp) == A64_CPU_START_SP, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, tcr) == A64_CPU_TCR, "cpu.h offsets");

#define A64_TRAP_STACK_SIZE 8192
/* How long a started CPU may take to answer (QEMU on a loaded host is slow). */
#define A64_CPU_ARRIVAL_S 10
#define A64_MPIDR_AFF 0xff00ffffffull /* Aff3, Aff2, Aff1, Aff0: what the device tree's reg holds */
#define PSCI_CPU_ON_64 0xc4000003ull

a64_cpu_t a64_cpus[SMP_MAX_CPUS];
static kstack_t ap_kstacks[SMP_MAX_CPUS];
static uint8_t ap_trap_stacks[SMP_MAX_CPUS][A64_TRAP_STACK_SIZE] __attribute__((aligned(16)));

/* The device tree's usable CPUs other than the boot CPU, in its order. */
static uint64_t candidates[FDT_MAX_HARTS];
static size_t ncandidates;
static enum fdt_psci psci;

extern const uint64_t a64_ap_start_pa; /* entry.S: physical address of a64_ap_start */

a64_cpu_t *a64_cpu(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("cpu id %u out of range (max %u)", id, SMP_MAX_CPUS);
    return &a64_cpus[id];
}

unsigned arch_cpu_id(void) { return a64_this_cpu()->cpu_id; }

void a64_smp_boot_init(const struct fdt_info *dt)
{
    uint64_t me = a64_sysreg_read(mpidr_el1) & A64_MPIDR_AFF;
    a64_cpus[0].mpidr = me;
    psci = dt->psci;
    for (size_t i = 0; i < dt->nharts; i++) {
        const fdt_hart_t *h = &dt->harts[i];
        if (h->hartid == me)
            continue;
        if (h->okay)
            candidates[ncandidates++] = h->hartid;
        else
            printk("aarch64: cpu %lx not used (status not okay)\n", (unsigned long)h->hartid);
    }
    if (dt->harts_dropped)
        printk("aarch64: %zu cpus beyond the first %d of the device tree not used\n", dt->harts_dropped,
               FDT_MAX_HARTS);
}

/* A PSCI call through the conduit of the device tree (SMCCC: x0 function,
 * x1-x3 arguments, result in x0; x4-x17 may be clobbered). */
static int64_t psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    if (psci == FDT_PSCI_SMC)
        __asm__ volatile("smc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
                           "x17", "memory");
    else
        __asm__ volatile("hvc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
                           "x17", "memory");
    return (int64_t)x0;
}

/* Called by entry.S (a64_ap_high) on the CPU's own stack with the kernel
 * context active, TPIDR_EL1 and VBAR_EL1 set, interrupts masked. */
_Noreturn void a64_ap_main(a64_cpu_t *c);
_Noreturn void a64_ap_main(a64_cpu_t *c)
{
    a64_cpu_setup();
    a64_gic_init_cpu(); /* the timer and IPIs; taken at EL0 or while idling */
    atomic_store_explicit(&c->state, A64_CPU_ARRIVED, memory_order_release);
    c->entry(c->cpu_id);
    panic("cpu %u returned from its entry", c->cpu_id);
}

/* Starts the CPU with affinity mpidr as CPU id; true once it runs a64_ap_main. */
static bool start_cpu(unsigned id, uint64_t mpidr, void (*entry)(unsigned))
{
    kstack_t *ks = &ap_kstacks[id];
    if (kstack_alloc(ks) != 0) {
        printk("aarch64: no kernel stack for cpu %lx\n", (unsigned long)mpidr);
        return false;
    }
    a64_cpu_t *c = &a64_cpus[id];
    *c = (a64_cpu_t){ .trap_stack_top = (uint64_t)(uintptr_t)(ap_trap_stacks[id] + A64_TRAP_STACK_SIZE),
                      .ttbr0 = a64_sysreg_read(ttbr0_el1), .ttbr1 = a64_sysreg_read(ttbr1_el1), .tcr = a64_sysreg_read(tcr_el1),
                      .start_sp = kstack_top(ks), .state = A64_CPU_STARTING, .cpu_id = id, .mpidr = mpidr,
                      .entry = entry };
    smp_cpu(id)->hwid = mpidr;
    a64_dsb_ish(); /* the area before the CPU can read it (with its MMU and caches on) */
    int64_t r = psci_call(PSCI_CPU_ON_64, mpidr, a64_ap_start_pa, (uint64_t)(uintptr_t)c);
    if (r != 0) {
        printk("aarch64: cpu %lx did not start: PSCI error %ld\n", (unsigned long)mpidr, (long)r);
        kstack_free(ks);
        return false;
    }
    uint64_t hz = a64_counter_hz(), t0 = arch_cycles();
    while (atomic_load_explicit(&c->state, memory_order_acquire) == A64_CPU_STARTING)
        if (arch_cycles() - t0 > A64_CPU_ARRIVAL_S * hz)
            panic("cpu %lx started but did not arrive within %d s", (unsigned long)mpidr, A64_CPU_ARRIVAL_S);
    return true;
}

unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    smp_cpu(0)->hwid = a64_cpus[0].mpidr;
    if (max <= 1 || ncandidates == 0)
        return 1;
    if (psci != FDT_PSCI_HVC && psci != FDT_PSCI_SMC) {
        printk("aarch64: the device tree names no PSCI method (hvc or smc): one CPU\n");
        return 1;
    }
    unsigned n = 1;
    for (size_t i = 0; i < ncandidates && n < max; i++)
        n += start_cpu(n, candidates[i], entry);
    return n;
}

void arch_ipi_send(unsigned id)
{
    uint8_t mask = a64_cpu(id)->gic_mask;
    if (!mask)
        panic("IPI to cpu %u, which has no GIC CPU interface recorded", id);
    /* What the caller wrote before the IPI is visible to the target when it
     * takes it. */
    a64_dsb_ish();
    a64_gic_send_sgi(mask, A64_IPI_INTID);
}

/* WFI ends when an interrupt is pending, whatever PSTATE.I says (Arm ARM,
 * wake-up events), so one that arrived before it ends it at once; IRQs
 * unmasked for an instruction then take it through the vectors. */
void arch_wait_for_interrupt(void)
{
    __asm__ volatile("dsb sy\n\twfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}
