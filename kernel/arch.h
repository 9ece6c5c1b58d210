/* kernel/arch.h - the services the generic kernel asks of each arch
 * (implemented in hal/<arch>/). Nothing here knows an arch's bits. */
#pragma once

#include "hal/hal.h"

/* Writes one character on the console (blocking). */
void arch_console_putc(char c);
/* Ends the run: QEMU exits with success for code 0, failure otherwise. */
_Noreturn void arch_exit(int code);
/* Installs the trap vectors; faults reach kernel_handle_fault from then on. */
void arch_trap_init(void);
/* True if the CPU has the named feature and the kernel enabled it.
 * Protections under their generic names, which the boot tests ask for:
 *   "nx"   pages can be made non-executable (x86 EFER.NXE; riscv: always)
 *   "smap" kernel data access to user pages faults outside the copy helpers
 *          (x86 SMAP; riscv: SUM clear outside them)
 *   "smep" the kernel cannot execute user pages (x86 SMEP; riscv: always)
 * and arch-specific ones: "la57", "pdpe1gb", "pge" (x86); "sv39", "sv48",
 * "sv57", "svpbmt" (riscv). Unknown names are false. */
bool arch_cpu_has(const char *feature);

/* Touch memory that may fault. 0 on success, -EFAULT if the access faulted
 * (the fault is resolved through the exception table, nothing else changes). */
int arch_probe_read(const volatile void *addr, uint8_t *out);
int arch_probe_write(volatile void *addr, uint8_t val);
/* Calls addr (which must hold a return instruction); 0, or -EFAULT if the
 * instruction fetch faulted. */
int arch_probe_exec(const void *addr);
/* As probe_read / probe_write with kernel access to user pages enabled for
 * that one access (STAC/CLAC on x86, SUM on riscv): the copy helpers. */
int arch_probe_user_read(const volatile void *uaddr, uint8_t *out);
int arch_probe_user_write(volatile void *uaddr, uint8_t val);
/* The byte sequence of a return instruction, to place where probe_exec calls. */
extern const uint8_t arch_ret_insn[];
extern const size_t arch_ret_insn_len;

/* The trap path's view of saved registers (regs is the arch's frame). */
ptr_t arch_regs_ip(const void *regs);
/* Resumes the interrupted code at ip instead (exception-table fixups). */
void arch_regs_set_ip(void *regs, ptr_t ip);
/* Prints the registers of the frame, one line per few registers. */
void arch_dump_regs(const void *regs);
/* When an exec probe is armed and the faulting instruction address is its
 * target, the address to resume at (which returns -EFAULT from the probe);
 * else 0. */
ptr_t arch_exec_probe_fixup(ptr_t fault_ip);

/* Stops the CPU for good (interrupts off). */
_Noreturn void arch_halt(void);
