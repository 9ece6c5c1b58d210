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

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
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

static int unknown_conversions;

int uprintf_unknown_conversions(void) { return unknown_conversions; }

/* One conversion's layout: flags and width as parsed. */
typedef struct spec {
    bool alt, zero, left;
    int width;
} spec_t;

/* Puts prefix (sign or 0x) and body[0..n), padded to the width: spaces
 * before (or after, with '-'), or zeros between prefix and body. */
static void put_field(out_t *o, const spec_t *sp, const char *prefix, const char *body, int n)
{
    int plen = (int)strlen(prefix), pad = sp->width - plen - n;
    if (!sp->left && !sp->zero)
        for (; pad > 0; pad--)
            put(o, ' ');
    while (*prefix)
        put(o, *prefix++);
    if (!sp->left && sp->zero)
        for (; pad > 0; pad--)
            put(o, '0');
    for (int i = 0; i < n; i++)
        put(o, body[i]);
    for (; pad > 0; pad--)
        put(o, ' ');
}

static void put_num(out_t *o, const spec_t *sp, unsigned long long v, unsigned base, const char *prefix)
{
    char tmp[24];
    int at = (int)sizeof(tmp);
    do {
        tmp[--at] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    put_field(o, sp, prefix, tmp + at, (int)sizeof(tmp) - at);
}

/* An unknown conversion: visible in the output, and counted. */
static void put_unknown(out_t *o, char c)
{
    put(o, '%');
    put(o, '?');
    if (c)
        put(o, c);
    unknown_conversions++;
}

static int vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    out_t o = { buf, 0, cap };
    if (cap == 0)
        return 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        spec_t sp = { false, false, false, 0 };
        for (;; p++) {
            if (p[1] == '#')
                sp.alt = true;
            else if (p[1] == '0')
                sp.zero = true;
            else if (p[1] == '-')
                sp.left = true;
            else
                break;
        }
        while (p[1] >= '0' && p[1] <= '9') {
            sp.width = sp.width * 10 + (*++p - '0');
            if (sp.width > 255)
                sp.width = 255; /* wider than any output buffer */
        }
        int size = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
        if (p[1] == 'l' && p[2] == 'l')
            size = 2, p += 2;
        else if (p[1] == 'l')
            size = 1, p++;
        else if (p[1] == 'z')
            size = 3, p++;
        char c = *++p;
        switch (c) {
        case 'd':
        case 'i': {
            long long v = size == 0 ? va_arg(ap, int)
                          : size == 1 ? va_arg(ap, long)
                          : size == 2 ? va_arg(ap, long long)
                                      : (long long)va_arg(ap, size_t);
            put_num(&o, &sp, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0 ? "-" : "");
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = size == 0 ? va_arg(ap, unsigned)
                                   : size == 1 ? va_arg(ap, unsigned long)
                                   : size == 2 ? va_arg(ap, unsigned long long)
                                               : va_arg(ap, size_t);
            put_num(&o, &sp, v, c == 'u' ? 10 : 16, c == 'x' && sp.alt && v ? "0x" : "");
            break;
        }
        case 'p':
            put_num(&o, &sp, (uintptr_t)va_arg(ap, void *), 16, "0x");
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            sp.zero = false;
            put_field(&o, &sp, "", s, (int)strlen(s));
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            sp.zero = false;
            put_field(&o, &sp, "", &ch, 1);
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            put_unknown(&o, c);
            if (!c)
                p--; /* a '%' (and flags) at the end: stop at the NUL */
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

int usnprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

_Noreturn void sys_exit(int status)
{
    if (unknown_conversions) {
        uprintf("# uprintf: %d unknown conversion(s), printed as %%?, count as failures\n", unknown_conversions);
        status += unknown_conversions;
        if (status > 255 || status < 0)
            status = 255;
    }
    kmm_syscall(SYS_EXIT, status, 0, 0, 0);
    for (;;)
        ;
}

_Noreturn void sys_thread_exit(int code)
{
    kmm_syscall(SYS_THREAD_EXIT, code, 0, 0, 0);
    for (;;)
        ;
}

/* What a new thread finds at the top of its stack. */
typedef struct uthread_start_block {
    void (*fn)(void *);
    void *arg;
} uthread_start_block_t;

static void uthread_entry(void *arg)
{
    uthread_start_block_t *b = arg;
    b->fn(b->arg);
    sys_thread_exit(0);
}

int uthread_start(uthread_t *t, void (*fn)(void *), void *arg)
{
    size_t len = UTHREAD_STACK_PAGES * PAGE;
    long stack = sys_mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (stack < 0)
        return (int)stack;
    uintptr_t top = (uintptr_t)stack + len - 32; /* the start block above, 16-byte aligned */
    uthread_start_block_t *b = (uthread_start_block_t *)top;
    b->fn = fn;
    b->arg = arg;
    long tid = sys_thread_create(uthread_entry, top, b);
    if (tid < 0) {
        sys_munmap((uintptr_t)stack, len);
        return (int)tid;
    }
    t->tid = tid;
    t->stack = (uintptr_t)stack;
    return 0;
}

int uthread_join(uthread_t *t, int *code)
{
    long r = sys_thread_join(t->tid, code);
    if (r < 0)
        return (int)r;
    sys_munmap(t->stack, UTHREAD_STACK_PAGES * PAGE);
    return 0;
}

unsigned long u_ncpus(void)
{
    struct kmm_meminfo m;
    return sys_meminfo(&m) == 0 ? (unsigned long)m.cpus : 0;
}

void u_note_cpu(volatile unsigned long *set)
{
    long cpu = sys_getcpu();
    if (cpu >= 0 && cpu < 64)
        __atomic_fetch_or(set, 1ul << cpu, __ATOMIC_SEQ_CST);
}

int u_popcount(unsigned long v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

bool u_cpus_spread(unsigned long set) { return u_ncpus() == 1 ? set != 0 : u_popcount(set) >= 2; }

bool u_await(volatile unsigned long *v, unsigned long want)
{
    for (unsigned long i = 0; i < U_AWAIT_BOUND; i++) {
        if (__atomic_load_n(v, __ATOMIC_SEQ_CST) >= want)
            return true;
        sys_yield();
    }
    return __atomic_load_n(v, __ATOMIC_SEQ_CST) >= want;
}

bool u_gather(volatile unsigned long *count, unsigned long n, volatile unsigned long *cpus)
{
    bool several = u_ncpus() > 1;
    __atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
    for (unsigned long i = 0; i < U_AWAIT_BOUND; i++) {
        u_note_cpu(cpus);
        if (__atomic_load_n(count, __ATOMIC_SEQ_CST) >= n && (!several || u_popcount(*cpus) >= 2))
            return true;
        sys_yield();
    }
    return false;
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
