/* arch/aarch64/trap.h - the register frame trap_entry.S saves, and the
 * kinds of exception vector it came through. */
#pragma once

#define A64_VEC_EL1_SYNC 0
#define A64_VEC_EL1_IRQ 1
#define A64_VEC_EL0_SYNC 2
#define A64_VEC_EL0_IRQ 3
#define A64_VEC_UNEXPECTED 4 /* + the vector's index (0-15) */

#define A64_F_SP (31 * 8)
#define A64_F_ELR (32 * 8)
#define A64_F_SPSR (33 * 8)
#define A64_F_ESR (34 * 8)
#define A64_F_FAR (35 * 8)
#define A64_F_TPIDR0 (36 * 8)
#define A64_F_KIND (37 * 8)
#define A64_FRAME_SIZE (38 * 8)

#ifndef __ASSEMBLER__
#include <stdint.h>

typedef struct a64_regs {
    uint64_t x[31]; /* x0..x30 (x30 the link register) */
    uint64_t sp;    /* sp before the trap (SP_EL0 for a trap from EL0) */
    uint64_t elr, spsr, esr, far;
    uint64_t tpidr_el0; /* EL0's thread register, kept across user traps */
    uint64_t kind;      /* A64_VEC_* */
} a64_regs_t;

_Static_assert(sizeof(a64_regs_t) == A64_FRAME_SIZE && A64_FRAME_SIZE % 16 == 0, "trap.h frame layout");

/* Called by trap_entry.S with the saved frame; returns to eret. */
void a64_trap(a64_regs_t *regs);
/* An interrupt (timer.c): acknowledge at the GIC, then the timer tick or
 * the IPI. */
void a64_irq(a64_regs_t *regs);
/* A name for an ESR exception class ("data abort from EL1"). */
const char *a64_ec_name(uint64_t esr);
#endif
