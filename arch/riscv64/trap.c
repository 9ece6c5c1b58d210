/* arch/riscv64/trap.c - decode traps for the generic fault path.
 *
 * Page faults become a hal_fault_t for kernel_handle_fault. RISC-V does not
 * say whether a translation existed (a missing entry and a permission
 * failure raise the same cause), so `present` is -1 and the generic layer
 * walks the tables to find out. Two kernel-mode faults on user addresses
 * are refused before the generic layer sees them, because retrying would
 * fault again for ever: a fetch (S-mode never executes user pages) and a
 * data access with sstatus.SUM clear (outside the copy helpers). Access
 * faults (PMP, bus errors) and everything else go to kernel_trap_refused:
 * the exception table or a report. From U-mode the same paths kill the
 * process (kernel/fault.c), and an ecall is a system call. The timer and
 * the supervisor software interrupt (an IPI, smp.c) come from U-mode or
 * from arch_wait_for_interrupt; the kernel masks them elsewhere. A kernel trap
 * resumed at a fixup returns with sstatus.SUM clear (fault_decode.h). */
#include "trap.h"

#include "fault_decode.h"
#include "hal/hal.h"
#include "hart.h"
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/printk.h"
#include "kernel/process.h"
#include "riscv.h"

/* Armed by arch_probe_exec (probe.S) around its call. */
extern ptr_t rv_exec_probe_target, rv_exec_probe_fixup;
extern char rv_stack_guard[], rv_stack_guard_end[]; /* entry.S */

const char *rv_cause_name(uint64_t scause)
{
    static const char *const names[] = {
        [EXC_INSN_MISALIGNED] = "instruction address misaligned",
        [EXC_INSN_ACCESS] = "instruction access fault",
        [EXC_ILLEGAL_INSN] = "illegal instruction",
        [EXC_BREAKPOINT] = "breakpoint",
        [EXC_LOAD_MISALIGNED] = "load address misaligned",
        [EXC_LOAD_ACCESS] = "load access fault",
        [EXC_STORE_MISALIGNED] = "store/AMO address misaligned",
        [EXC_STORE_ACCESS] = "store/AMO access fault",
        [EXC_ECALL_U] = "environment call from U-mode",
        [EXC_ECALL_S] = "environment call from S-mode",
        [EXC_INSN_PAGE_FAULT] = "instruction page fault",
        [EXC_LOAD_PAGE_FAULT] = "load page fault",
        [EXC_STORE_PAGE_FAULT] = "store/AMO page fault",
    };
    if (scause & SCAUSE_INTERRUPT)
        return "interrupt";
    if (scause < ARRAY_SIZE(names) && names[scause])
        return names[scause];
    return "reserved exception";
}

ptr_t arch_regs_ip(const void *regs) { return ((const rv_regs_t *)regs)->sepc; }
void arch_regs_set_ip(void *regs, ptr_t ip) { ((rv_regs_t *)regs)->sepc = ip; }

ptr_t arch_exec_probe_fixup(ptr_t fault_ip)
{
    if (rv_exec_probe_target == 0 || fault_ip != rv_exec_probe_target)
        return 0;
    return rv_exec_probe_fixup;
}

void arch_dump_regs(const void *regs)
{
    static const char *const abi[32] = { "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0",
                                         "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5",
                                         "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6" };
    const rv_regs_t *r = regs;
    printk("  scause %lx (%s) stval %016lx\n", (unsigned long)r->scause, rv_cause_name(r->scause),
           (unsigned long)r->stval);
    printk("  sepc %016lx sstatus %016lx satp %016lx\n", (unsigned long)r->sepc, (unsigned long)r->sstatus,
           (unsigned long)csr_read(satp));
    for (int i = 0; i < 32; i += 4)
        printk("  %-4s %016lx %-4s %016lx %-4s %016lx %-4s %016lx\n", abi[i], (unsigned long)r->x[i], abi[i + 1],
               (unsigned long)r->x[i + 1], abi[i + 2], (unsigned long)r->x[i + 2], abi[i + 3],
               (unsigned long)r->x[i + 3]);
}

static void page_fault(rv_regs_t *r)
{
    hal_fault_t f = rv_decode_page_fault(r->scause, r->stval, r->sepc, r->sstatus);
    if (!f.user_mode && f.addr >= (ptr_t)rv_stack_guard && f.addr < (ptr_t)rv_stack_guard_end) {
        kernel_fault_refused(&f, r, "kernel stack overflow (guard page below the kernel stack)");
        return;
    }
    if (!f.user_mode && kernel_geometry && hal_is_user_addr(kernel_geometry, f.addr)) {
        if (f.access == HAL_ACCESS_EXEC) {
            kernel_fault_refused(&f, r, "kernel fetch from a user address (S-mode never executes user pages)");
            return;
        }
        if (!(r->sstatus & SSTATUS_SUM)) {
            kernel_fault_refused(&f, r, "kernel access to a user address outside the copy helpers (SUM clear)");
            return;
        }
    }
    if (!kernel_handle_fault(&f, r))
        kernel_fault_refused(&f, r, "user-mode fault nobody resolved (no process to signal)");
}

void rv_trap(rv_regs_t *r)
{
    uint64_t sepc = r->sepc;
    if (r->scause == (SCAUSE_INTERRUPT | IRQ_S_TIMER))
        rv_timer_interrupt(r);
    else if (r->scause == (SCAUSE_INTERRUPT | RV_IRQ_S_SOFT))
        rv_ipi_interrupt(r);
    else if (rv_is_page_fault(r->scause))
        page_fault(r);
    else if (r->scause == EXC_ECALL_U) {
        r->sepc += 4; /* resume after the ecall (a forked child too) */
        kernel_syscall(r);
    } else
        kernel_trap_refused(r, r->sepc, rv_cause_name(r->scause));
    r->sstatus = rv_sstatus_on_return(r->sstatus, sepc, r->sepc);
}
