/* arch/aarch64/smp.c - the per-CPU areas (TPIDR_EL1) and, for now, one
 * CPU: arch_smp_start starts no other (PSCI CPU_ON is the next step), so
 * the SMP boot tests skip themselves as on any one-CPU machine. Idling is
 * WFI with IRQs unmasked for one instruction afterwards. */
#include <stddef.h>

#include "a64.h"
#include "cpu.h"
#include "kernel/arch.h"
#include "kernel/panic.h"
#include "kernel/smp.h"

_Static_assert(offsetof(a64_cpu_t, scratch) == A64_CPU_SCRATCH, "cpu.h offsets");
_Static_assert(offsetof(a64_cpu_t, trap_stack_top) == A64_CPU_TRAP_STACK, "cpu.h offsets");

a64_cpu_t a64_cpus[SMP_MAX_CPUS];

a64_cpu_t *a64_cpu(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("cpu id %u out of range (max %u)", id, SMP_MAX_CPUS);
    return &a64_cpus[id];
}

unsigned arch_cpu_id(void) { return a64_this_cpu()->cpu_id; }

unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    (void)max;
    (void)entry;
    smp_cpu(0)->hwid = a64_sysreg_read(mpidr_el1) & 0xff00ffffffull;
    return 1;
}

/* WFI ends when an interrupt is pending, whatever PSTATE.I says (Arm ARM,
 * wake-up events), so one that arrived before it ends it at once; IRQs
 * unmasked for an instruction then take it through the vectors. */
void arch_wait_for_interrupt(void)
{
    __asm__ volatile("dsb sy\n\twfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}
