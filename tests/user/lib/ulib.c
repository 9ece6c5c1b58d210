/* tests/user/lib/ulib.c - the user runtime: string functions, uprintf,
 * KTAP checks, running a function in a child. */
#include "ulib.h"

void *memset(void *dst, int c, size_t n)
{
    volatile uint8_t *d = dst; /* volatile: the compiler must not turn this into a memset call */
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

typedef struct out {
    char *buf;
    size_t len, cap;
} out_t;

static void put(out_t *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len++] = c;
}

static void put_num(out_t *o, unsigned long v, unsigned base, bool neg)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        put(o, '-');
    while (n)
        put(o, tmp[--n]);
}

static int vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    out_t o = { buf, 0, cap };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        bool lng = false;
        if (p[1] == 'l') {
            lng = true;
            p++;
        }
        switch (*++p) {
        case 'd': {
            long v = lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0);
            break;
        }
        case 'u':
            put_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, false);
            break;
        case 'x':
            put_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, false);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (unsigned long)va_arg(ap, void *), 16, false);
            break;
        case 's':
            for (const char *s = va_arg(ap, const char *); *s; s++)
                put(&o, *s);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case '%':
            put(&o, '%');
            break;
        default:
            put(&o, '?');
            break;
        }
    }
    o.buf[o.len] = 0;
    return (int)o.len;
}

int uprintf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sys_write(1, buf, (size_t)n);
    return n;
}

static int planned, ran, failed;

void t_plan(int n)
{
    planned = n;
    uprintf("KTAP version 1\n1..%d\n", n);
}

bool t_check(bool cond, const char *fmt, ...)
{
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vformat(name, sizeof(name), fmt, ap);
    va_end(ap);
    ran++;
    if (!cond)
        failed++;
    uprintf("%sok %d %s\n", cond ? "" : "not ", ran, name);
    return cond;
}

int t_done(void)
{
    if (ran != planned) {
        uprintf("# plan was %d checks, %d ran\n", planned, ran);
        failed++;
    }
    return failed;
}

int t_in_child(void (*fn)(void *), void *arg)
{
    long pid = sys_fork();
    if (pid < 0)
        return (int)pid;
    if (pid == 0) {
        fn(arg);
        sys_exit(0);
    }
    int status = -1;
    long w = sys_wait(&status);
    if (w != pid)
        return w < 0 ? (int)w : -1;
    return status;
}
