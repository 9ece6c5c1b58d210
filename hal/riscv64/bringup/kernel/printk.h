/* Stand-in for the kernel's printk (owned by the x86_64 branch), for the
 * riscv64 bring-up build only. */
#pragma once

void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
