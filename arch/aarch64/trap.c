/* arch/aarch64/trap.c - decode exceptions for the generic fault path.
 *
 * Instruction and data aborts that are translation, access-flag or
 * permission faults become a hal_fault_t (hal/aarch64/fault_decode.h: the
 * ESR says whether an entry existed) for kernel_handle_fault. Two
 * kernel-mode aborts on user pages are refused before the generic layer
 * sees them, because retrying would fault again for ever: a fetch (every
 * user page is PXN) and a data access with PAN set (outside the copy
 * helpers); a64_page_fault_refusal names them. A fault on the guard page
 * below the boot stack is reported as an overflow. Everything else
 * (alignment, undefined instructions, other aborts) goes to
 * kernel_trap_refused: the exception table or a report. From EL0 the same
 * paths kill the process (kernel/fault.c), and an SVC is a system call.
 * Interrupts come from EL0 or from arch_wait_for_interrupt; the kernel
 * masks them elsewhere. A kernel trap resumed at a fixup returns with
 * SPSR.PAN set. */
#include "trap.h"

#include "cpu.h"
#include "fault_decode.h"
#include "hal/hal.h"
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/printk.h"
#include "kernel/process.h"

#define A64_EC_SVC64 0x15u

/* Armed by arch_probe_exec (probe.S) around its call. */
extern ptr_t a64_exec_probe_target, a64_exec_probe_fixup;
extern char a64_stack_guard[], a64_stack_guard_end[]; /* entry.S */

const char *a64_ec_name(uint64_t esr)
{
    switch (a64_esr_ec(esr)) {
    case 0x00: return "unknown reason";
    case 0x01: return "WFI or WFE";
    case 0x07: return "SIMD or floating point access";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC from AArch64";
    case 0x18: return "MSR, MRS or system instruction";
    case 0x20: return "instruction abort from EL0";
    case 0x21: return "instruction abort from EL1";
    case 0x22: return "PC alignment fault";
    case 0x24: return "data abort from EL0";
    case 0x25: return "data abort from EL1";
    case 0x26: return "SP alignment fault";
    case 0x2f: return "SError";
    case 0x3c: return "BRK instruction";
    default: return "reserved or unexpected exception class";
    }
}

ptr_t arch_regs_ip(const void *regs) { return ((const a64_regs_t *)regs)->elr; }
void arch_regs_set_ip(void *regs, ptr_t ip) { ((a64_regs_t *)regs)->elr = ip; }

ptr_t arch_exec_probe_fixup(ptr_t fault_ip)
{
    if (a64_exec_probe_target == 0 || fault_ip != a64_exec_probe_target)
        return 0;
    return a64_exec_probe_fixup;
}

void arch_dump_regs(const void *regs)
{
    const a64_regs_t *r = regs;
    uint64_t ttbr0, ttbr1;
    __asm__ volatile("mrs %0, ttbr0_el1\n\tmrs %1, ttbr1_el1" : "=r"(ttbr0), "=r"(ttbr1));
    printk("  esr %08lx (EC %02x: %s, ISS %07lx) far %016lx\n", (unsigned long)r->esr, a64_esr_ec(r->esr),
           a64_ec_name(r->esr), (unsigned long)(r->esr & 0x1ffffff), (unsigned long)r->far);
    printk("  elr %016lx spsr %016lx (EL%lu%s%s)\n", (unsigned long)r->elr, (unsigned long)r->spsr,
           (unsigned long)((r->spsr >> 2) & 3), (r->spsr & A64_SPSR_PAN_BIT) ? ", PAN" : "",
           (r->spsr & A64_SPSR_I) ? ", IRQs masked" : "");
    printk("  sp  %016lx ttbr0 %016lx ttbr1 %016lx\n", (unsigned long)r->sp, (unsigned long)ttbr0,
           (unsigned long)ttbr1);
    for (int i = 0; i < 31; i += 4) {
        printk("  x%-2d %016lx", i, (unsigned long)r->x[i]);
        for (int j = i + 1; j < i + 4 && j < 31; j++)
            printk(" x%-2d %016lx", j, (unsigned long)r->x[j]);
        printk("\n");
    }
}

static void page_fault(a64_regs_t *r)
{
    hal_fault_t f = a64_decode_page_fault(r->esr, r->far, r->elr, r->spsr);
    if (!f.user_mode && f.addr >= (ptr_t)a64_stack_guard && f.addr < (ptr_t)a64_stack_guard_end) {
        kernel_fault_refused(&f, r, "kernel stack overflow (guard page below the kernel stack)");
        return;
    }
    const char *why = a64_page_fault_refusal(&f, kernel_geometry && hal_is_user_addr(kernel_geometry, f.addr));
    if (why) {
        kernel_fault_refused(&f, r, why);
        return;
    }
    if (!kernel_handle_fault(&f, r))
        kernel_fault_refused(&f, r, "user-mode fault nobody resolved (no process to signal)");
}

void a64_trap(a64_regs_t *r)
{
    uint64_t elr = r->elr;
    if (a64_exiting && r->kind == A64_VEC_EL1_SYNC)
        arch_halt(); /* arch_exit's HLT without -semihosting: nothing left to report to */
    switch (r->kind) {
    case A64_VEC_EL1_IRQ:
    case A64_VEC_EL0_IRQ:
        a64_irq(r);
        break;
    case A64_VEC_EL0_SYNC:
        if (a64_esr_ec(r->esr) == A64_EC_SVC64) {
            kernel_syscall(r); /* ELR is already past the svc (a forked child too) */
            break;
        }
        /* fall through */
    case A64_VEC_EL1_SYNC:
        if (a64_is_page_fault(r->esr))
            page_fault(r);
        else
            kernel_trap_refused(r, r->elr, a64_ec_name(r->esr));
        break;
    default:
        kernel_trap_refused(r, r->elr, "unexpected exception vector (FIQ, SError or AArch32)");
        break;
    }
    /* A kernel access resumed at a fixup has no user access any more. */
    if (!arch_regs_user_mode(r) && r->elr != elr)
        r->spsr |= A64_SPSR_PAN_BIT;
}
