/* arch/riscv64/smp.c - several harts: the per-hart areas (tp), start-up of
 * the other harts through SBI HSM, IPIs through the SBI IPI extension, and
 * idling with wfi (the "Several CPUs" part of kernel/arch.h).
 *
 * A hart starts at rv_ap_start (entry.S) with the MMU off, a0 its hart id
 * and a1 its rv_hart_t; it turns on entry.S's boot table, jumps to the
 * higher half, points tp at its area, installs the trap vector, switches to
 * the kernel context's satp and its own kernel stack (kernel/kstack.h), and
 * reaches rv_ap_main. The boot hart starts them one at a time and waits for
 * each, so CPU ids follow the device tree's order of the usable harts. */
#include "hart.h"

#include <stddef.h>

#include "early_paging.h"
#include "kernel/lib/fdt.h"
#include "kernel/arch.h"
#include "kernel/kstack.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "riscv.h"
#include "sbi.h"

_Static_assert(offsetof(rv_hart_t, kstack_top) == RV_HART_KSTACK_TOP, "hart.h offsets");
_Static_assert(offsetof(rv_hart_t, user_sp) == RV_HART_USER_SP, "hart.h offsets");
_Static_assert(offsetof(rv_hart_t, trap_stack_top) == RV_HART_TRAP_STACK, "hart.h offsets");
_Static_assert(offsetof(rv_hart_t, satp) == RV_HART_SATP, "hart.h offsets");
_Static_assert(offsetof(rv_hart_t, start_sp) == RV_HART_START_SP, "hart.h offsets");
_Static_assert(offsetof(rv_hart_t, state) == RV_HART_STATE && sizeof(atomic_uint_least32_t) == 4, "hart.h offsets");

#define RV_TRAP_STACK_SIZE 8192
/* How long a started hart may take to answer (QEMU on a loaded host is slow). */
#define RV_HART_ARRIVAL_S 10

rv_hart_t rv_harts[SMP_MAX_CPUS];
static kstack_t ap_kstacks[SMP_MAX_CPUS];
static uint8_t ap_trap_stacks[SMP_MAX_CPUS][RV_TRAP_STACK_SIZE] __attribute__((aligned(16)));

/* The device tree's usable harts other than the boot hart, in its order. */
static uint64_t candidates[FDT_MAX_HARTS];
static size_t ncandidates;

extern const uint64_t rv_ap_start_pa; /* entry.S: physical address of rv_ap_start */

rv_hart_t *rv_hart(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("cpu id %u out of range (max %u)", id, SMP_MAX_CPUS);
    return &rv_harts[id];
}

unsigned arch_cpu_id(void) { return rv_this_hart()->cpu_id; }

void rv_smp_boot_init(uint64_t boot_hartid, const fdt_info_t *dt)
{
    rv_harts[0].hartid = boot_hartid;
    for (size_t i = 0; i < dt->nharts; i++) {
        const fdt_hart_t *h = &dt->harts[i];
        if (h->hartid == boot_hartid)
            continue;
        if (fdt_hart_usable(h))
            candidates[ncandidates++] = h->hartid;
        else
            printk("riscv64: hart %lu not used (%s)\n", (unsigned long)h->hartid,
                   h->okay ? "mmu-type riscv,none" : "status not okay");
    }
    if (dt->harts_dropped)
        printk("riscv64: %zu harts beyond the first %d of the device tree not used\n", dt->harts_dropped,
               FDT_MAX_HARTS);
}

/* Called by entry.S (rv_ap_high) on the hart's own stack with the kernel
 * context active, tp and stvec set, interrupts masked. */
_Noreturn void rv_ap_main(rv_hart_t *h);
_Noreturn void rv_ap_main(rv_hart_t *h)
{
    csr_clear(sstatus, SSTATUS_SUM | SSTATUS_SIE);
    csr_write(sie, RV_SIE_SSIE); /* IPIs; taken in U-mode or while idling */
    csr_set(scounteren, RV_SCOUNTEREN_TM);
    atomic_store_explicit(&h->state, RV_HART_ARRIVED, memory_order_release);
    h->entry(h->cpu_id);
    panic("cpu %u returned from its entry", h->cpu_id);
}

static uint64_t rdtime(void)
{
    uint64_t t;
    __asm__ volatile("csrr %0, time" : "=r"(t));
    return t;
}

/* Starts hartid as CPU id; true once it runs rv_ap_main. */
static bool start_hart(unsigned id, uint64_t hartid, uint64_t satp, void (*entry)(unsigned))
{
    kstack_t *ks = &ap_kstacks[id];
    if (kstack_alloc(ks) != 0) {
        printk("riscv64: no kernel stack for hart %lu\n", (unsigned long)hartid);
        return false;
    }
    rv_hart_t *h = &rv_harts[id];
    *h = (rv_hart_t){ .trap_stack_top = (uint64_t)(uintptr_t)(ap_trap_stacks[id] + RV_TRAP_STACK_SIZE),
                      .satp = satp, .start_sp = kstack_top(ks), .state = RV_HART_STARTING, .cpu_id = id,
                      .hartid = hartid, .entry = entry };
    smp_cpu(id)->hwid = hartid;
    __asm__ volatile("fence rw, rw" ::: "memory"); /* the area before the hart can read it */
    sbiret_t r = sbi_call(SBI_EXT_HSM, SBI_HSM_HART_START, (long)hartid, (long)rv_ap_start_pa, (long)(uintptr_t)h);
    if (r.error) {
        printk("riscv64: hart %lu did not start: SBI error %ld\n", (unsigned long)hartid, r.error);
        kstack_free(ks);
        return false;
    }
    uint64_t hz = rv_timebase_hz ? rv_timebase_hz : 10000000, t0 = rdtime();
    uint32_t state;
    while ((state = atomic_load_explicit(&h->state, memory_order_acquire)) == RV_HART_STARTING)
        if (rdtime() - t0 > RV_HART_ARRIVAL_S * hz)
            panic("hart %lu started but did not arrive within %d s", (unsigned long)hartid, RV_HART_ARRIVAL_S);
    if (state == RV_HART_REFUSED) {
        /* It never touched its stack and stops itself (SBI hart_stop). */
        printk("riscv64: hart %lu refused the kernel's paging mode (satp %lx)\n", (unsigned long)hartid,
               (unsigned long)satp);
        kstack_free(ks);
        return false;
    }
    return true;
}

unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    smp_cpu(0)->hwid = rv_harts[0].hartid;
    csr_set(sie, RV_SIE_SSIE); /* the boot hart takes IPIs while it runs user code */
    if (max <= 1 || ncandidates == 0)
        return 1;
    if (!sbi_has(SBI_EXT_HSM) || !sbi_has(SBI_EXT_IPI) || !sbi_has(SBI_EXT_RFENCE)) {
        printk("riscv64: the firmware has no SBI %s extension: one hart\n",
               !sbi_has(SBI_EXT_HSM) ? "HSM" : !sbi_has(SBI_EXT_IPI) ? "IPI" : "RFENCE");
        return 1;
    }
    uint64_t satp = csr_read(satp); /* the kernel context (smp_init runs with it active) */
    unsigned n = 1;
    for (size_t i = 0; i < ncandidates && n < max; i++)
        n += start_hart(n, candidates[i], satp, entry);
    return n;
}

void arch_ipi_send(unsigned id)
{
    uint64_t hartid = smp_cpu(id)->hwid;
    /* What the caller wrote before the IPI is visible to the target when it
     * takes it (the firmware raises it with a device write). */
    __asm__ volatile("fence iorw, iorw" ::: "memory");
    sbiret_t r = sbi_call(SBI_EXT_IPI, SBI_IPI_SEND_IPI, 1, (long)hartid, 0);
    if (r.error)
        panic("IPI to cpu %u (hart %lu) failed: SBI error %ld", id, (unsigned long)hartid, r.error);
}

void rv_ipi_interrupt(struct rv_regs *r)
{
    /* Clear first: an IPI sent after this point sets SSIP again, so the
     * call it announces is served now or at the next interrupt. */
    csr_clear(sip, RV_SIP_SSIP);
    kernel_ipi(r);
}

/* wfi resumes when an interrupt enabled in sie is pending, whatever
 * sstatus.SIE says (privileged spec, WFI), so an IPI that arrived before
 * the wfi ends it at once; SIE set for one instruction then takes it
 * through the trap entry (rv_trap -> rv_ipi_interrupt or the timer). */
void arch_wait_for_interrupt(void)
{
    __asm__ volatile("wfi\n\tcsrsi sstatus, %0\n\tcsrci sstatus, %0" ::"i"(SSTATUS_SIE) : "memory");
}

/* Code the kernel wrote (the ELF loader) is fetched by whichever hart runs
 * the program: fence.i orders this hart's fetches after its stores, and
 * every other hart runs one too, through SBI RFENCE (the unprivileged
 * spec's Zifencei: fence.i acts on the executing hart only). */
_Atomic unsigned long rv_icache_syncs, rv_icache_remote_fences;

void arch_sync_icache_range(ptr_t start, size_t len)
{
    (void)start;
    (void)len;
    __asm__ volatile("fence.i" ::: "memory");
    atomic_fetch_add(&rv_icache_syncs, 1);
    if (smp_cpu_count() > 1) {
        sbiret_t r = sbi_call(SBI_EXT_RFENCE, SBI_RFENCE_REMOTE_FENCE_I, 0, -1, 0);
        if (r.error)
            panic("remote fence.i failed: SBI error %ld", r.error);
        atomic_fetch_add(&rv_icache_remote_fences, 1);
    }
}
