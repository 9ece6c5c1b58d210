/* kernel/panic.h - stopping the kernel with a report. */
#pragma once

#include <stdbool.h>

/* Prints "PANIC in func: message", a backtrace-free report, and exits the
 * machine with a failure status. Never returns. */
_Noreturn void panic_at(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define panic(...) panic_at(__func__, __VA_ARGS__)

/* True once a panic started (a fault during the report must not recurse). */
extern bool kernel_panicking;
