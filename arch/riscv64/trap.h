/* arch/riscv64/trap.h - the register frame trap_entry.S saves. */
#pragma once

#include <stdint.h>

typedef struct rv_regs {
    uint64_t x[32]; /* x[0] reads 0; x[2] is sp before the trap */
    uint64_t sepc, sstatus, scause, stval;
} rv_regs_t;

/* Called by trap_entry.S with the saved frame; returns to sret. */
void rv_trap(rv_regs_t *regs);

/* The supervisor timer interrupt (timer.c): re-arm, then the tick. */
void rv_timer_interrupt(rv_regs_t *regs);

/* A name for an scause value ("load page fault"). */
const char *rv_cause_name(uint64_t scause);
