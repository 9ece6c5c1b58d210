/* hal/riscv64/trap.c - decode traps for the generic layer.
 *
 * Page faults become a hal_fault_t for the generic fault handler. RISC-V
 * does not say whether a translation existed (a missing entry and a
 * permission failure raise the same cause), so `present` is -1 and the
 * generic layer walks the tables to find out. Access faults (PMP, bus
 * errors) and page faults nobody resolved fall back to the exception table;
 * anything else stops the kernel with the registers. */
#include "trap.h"

#include "hal/hal.h"
#include "kernel/arch.h"
#include "kernel/printk.h"
#include "mm/platform.h"
#include "riscv.h"

typedef struct ex_entry {
    uint64_t insn, fixup;
} ex_entry_t;
extern const ex_entry_t __ex_table_start[], __ex_table_end[];

static const ex_entry_t *ex_find(uint64_t ip)
{
    for (const ex_entry_t *e = __ex_table_start; e < __ex_table_end; e++)
        if (e->insn == ip)
            return e;
    return NULL;
}

static bool is_fetch_fault(uint64_t scause)
{
    return scause == EXC_INSN_PAGE_FAULT || scause == EXC_INSN_ACCESS;
}

bool rv_extable_fixup(rv_regs_t *regs)
{
    const ex_entry_t *e = ex_find(regs->sepc);
    /* A fetch fault stops at the target, not at the jalr that went there. */
    if (!e && is_fetch_fault(regs->scause))
        e = ex_find(regs->x[1] - 4);
    if (!e)
        return false;
    regs->sepc = e->fixup;
    return true;
}

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

/* The generic record of a page fault (scause 12, 13 or 15). */
static hal_fault_t decode_page_fault(const rv_regs_t *regs)
{
    hal_fault_t f = {
        .addr = regs->stval,
        .ip = regs->sepc,
        .access = regs->scause == EXC_INSN_PAGE_FAULT ? HAL_ACCESS_EXEC
                  : regs->scause == EXC_STORE_PAGE_FAULT ? HAL_ACCESS_WRITE
                                                          : HAL_ACCESS_READ,
        .user_mode = !(regs->sstatus & SSTATUS_SPP),
        .present = -1,
    };
    return f;
}

void rv_dump_regs(const rv_regs_t *regs)
{
    static const char *const abi[32] = { "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0",
                                         "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5",
                                         "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6" };
    printk("trap: scause %lx (%s) stval %016lx sepc %016lx sstatus %lx\n", (unsigned long)regs->scause,
           rv_cause_name(regs->scause), (unsigned long)regs->stval, (unsigned long)regs->sepc,
           (unsigned long)regs->sstatus);
    for (int i = 1; i < 32; i += 4)
        printk("  %s=%016lx %s=%016lx %s=%016lx %s=%016lx\n", abi[i], (unsigned long)regs->x[i],
               abi[i + 1], (unsigned long)regs->x[i + 1], abi[i + 2], (unsigned long)regs->x[i + 2],
               i + 3 < 32 ? abi[i + 3] : "", i + 3 < 32 ? (unsigned long)regs->x[i + 3] : 0ul);
}

void rv_trap(rv_regs_t *regs)
{
    uint64_t cause = regs->scause;
    if (cause == EXC_INSN_PAGE_FAULT || cause == EXC_LOAD_PAGE_FAULT || cause == EXC_STORE_PAGE_FAULT) {
        hal_fault_t f = decode_page_fault(regs);
        if (kernel_handle_fault(&f, regs))
            return;
        if (rv_extable_fixup(regs))
            return;
    } else if (cause == EXC_INSN_ACCESS || cause == EXC_LOAD_ACCESS || cause == EXC_STORE_ACCESS) {
        if (rv_extable_fixup(regs))
            return;
    }
    rv_dump_regs(regs);
    mm_panic("unhandled %s at %lx (stval %lx)", rv_cause_name(cause), (unsigned long)regs->sepc,
             (unsigned long)regs->stval);
}
