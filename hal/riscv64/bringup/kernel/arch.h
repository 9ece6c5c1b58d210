/* Stand-in for kernel/arch.h (owned by the x86_64 branch) with the
 * interface fixed in the common brief, for the riscv64 bring-up build only. */
#pragma once

#include "hal/hal.h"

void arch_console_putc(char c);
_Noreturn void arch_exit(int code);
void arch_trap_init(void);
bool arch_cpu_has(const char *feature);
int arch_probe_read(const volatile void *addr, uint8_t *out);
int arch_probe_write(volatile void *addr, uint8_t val);
int arch_probe_exec(const void *addr);
int arch_probe_user_read(const volatile void *uaddr, uint8_t *out);
int arch_probe_user_write(volatile void *uaddr, uint8_t val);

bool kernel_handle_fault(const hal_fault_t *f, void *regs);
