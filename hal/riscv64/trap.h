/* hal/riscv64/trap.h - the register frame trap_entry.S saves, and the
 * riscv64 trap services. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct rv_regs {
    uint64_t x[32]; /* x[0] reads 0; x[2] is sp before the trap */
    uint64_t sepc, sstatus, scause, stval;
} rv_regs_t;

/* Called by trap_entry.S with the saved frame; returns to sret. */
void rv_trap(rv_regs_t *regs);

/* If the faulting instruction of `regs` has an exception-table entry (for a
 * fetch fault: the call that jumped to the bad address, at ra - 4), point
 * sepc at its fixup and return true; otherwise change nothing, return false. */
bool rv_extable_fixup(rv_regs_t *regs);

/* Print the registers and the trap cause of `regs` on the console. */
void rv_dump_regs(const rv_regs_t *regs);

/* A name for an exception code of scause ("load page fault"). */
const char *rv_cause_name(uint64_t scause);
