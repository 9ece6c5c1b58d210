/* kernel/printk.c - a small vsnprintf and the console printk on top of it.
 * The console has one lock (a leaf: nothing else is taken under it), held
 * for each printk's whole output, so that lines of different CPUs do not
 * mix; while the kernel panics it is not taken (the panicking CPU may hold
 * it, or another CPU that will never let it go). */
#include "kernel/printk.h"

#include <stdbool.h>
#include <stdint.h>

#include "kernel/arch.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "mm/lock.h"

static spinlock_t console_spinlock = SPINLOCK_INIT;

typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

static void out_char(out_t *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void out_padded(out_t *o, const char *s, size_t n, int width, bool left, char pad)
{
    size_t w = width > 0 ? (size_t)width : 0;
    if (!left)
        for (size_t i = n; i < w; i++)
            out_char(o, pad);
    for (size_t i = 0; i < n; i++)
        out_char(o, s[i]);
    if (left)
        for (size_t i = n; i < w; i++)
            out_char(o, ' ');
}

static void out_number(out_t *o, unsigned long long v, bool negative, unsigned base, bool upper, int width, bool left,
                       char pad)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    if (negative && pad == '0') {
        out_char(o, '-');
        if (width > 0)
            width--;
        negative = false;
    }
    if (negative)
        tmp[n++] = '-';
    char rev[24];
    for (size_t i = 0; i < n; i++)
        rev[i] = tmp[n - 1 - i];
    out_padded(o, rev, n, width, left, left ? ' ' : pad);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    out_t o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            out_char(&o, *p);
            continue;
        }
        p++;
        bool left = false, alt = false;
        char pad = ' ';
        for (;; p++) {
            if (*p == '-')
                left = true;
            else if (*p == '#')
                alt = true;
            else if (*p == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        int longs = 0;
        bool size_t_mod = false;
        while (*p == 'l')
            longs++, p++;
        if (*p == 'z')
            size_t_mod = true, p++;

        switch (*p) {
        case 'd':
        case 'i': {
            long long v = size_t_mod ? (long long)va_arg(ap, intptr_t)
                          : longs >= 2 ? va_arg(ap, long long)
                          : longs == 1 ? va_arg(ap, long)
                                       : va_arg(ap, int);
            unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            out_number(&o, mag, v < 0, 10, false, width, left, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = size_t_mod ? va_arg(ap, size_t)
                                   : longs >= 2 ? va_arg(ap, unsigned long long)
                                   : longs == 1 ? va_arg(ap, unsigned long)
                                                : va_arg(ap, unsigned int);
            if (alt && *p != 'u' && v != 0) {
                out_char(&o, '0');
                out_char(&o, *p == 'X' ? 'X' : 'x');
                width = width > 2 ? width - 2 : 0;
            }
            out_number(&o, v, false, *p == 'u' ? 10 : 16, *p == 'X', width, left, pad);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            out_char(&o, '0');
            out_char(&o, 'x');
            out_number(&o, v, false, 16, false, width > 2 ? width - 2 : 0, left, pad);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            out_padded(&o, &c, 1, width, left, ' ');
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            out_padded(&o, s, strlen(s), width, left, ' ');
            break;
        }
        case '%':
            out_char(&o, '%');
            break;
        case '\0':
            p--;
            break;
        default: /* unknown conversion: print it as written */
            out_char(&o, '%');
            out_char(&o, *p);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

bool console_lock(void)
{
    if (kernel_panicking)
        return false;
    spinlock_acquire(&console_spinlock);
    return true;
}

void console_unlock(bool locked)
{
    if (locked)
        spinlock_release(&console_spinlock);
}

void console_write_locked(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        arch_console_putc(s[i]);
}

void console_write(const char *s, size_t n)
{
    bool locked = console_lock();
    console_write_locked(s, n);
    console_unlock(locked);
}

int vprintk(const char *fmt, va_list ap)
{
    char buf[512];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(buf, sizeof(buf), fmt, copy);
    va_end(copy);
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    bool locked = console_lock();
    console_write_locked(buf, len);
    if ((size_t)n >= sizeof(buf))
        console_write_locked("[...]\n", 6);
    console_unlock(locked);
    return (int)len;
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}
