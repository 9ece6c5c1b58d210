/* kernel/printk.h - formatted output on the console.
 * Formats: %s %c %d %i %u %x %X %p %% with l/ll/z length modifiers, a width,
 * the # flag (0x prefix)
 * and the 0 and - flags (%016lx, %-10s). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Formats into buf (always NUL-terminated when size > 0). Returns the
 * length the full output would have had. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints on the console as one piece (the console lock held throughout:
 * output of other CPUs never lands inside it); returns the number of
 * characters written. */
int vprintk(const char *fmt, va_list ap);
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes n bytes as one piece (takes the console lock). */
void console_write(const char *s, size_t n);
/* The console lock, for output written in several pieces: console_lock
 * returns whether it took the lock (not while the kernel panics), and
 * console_unlock gets that answer back; console_write_locked writes in
 * between. A leaf lock: nothing else may be taken while it is held. */
bool console_lock(void);
void console_unlock(bool locked);
void console_write_locked(const char *s, size_t n);
