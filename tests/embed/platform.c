/* tests/embed/platform.c - everything this kernel supplies to kmm (the
 * required services of mm/kmm.h, and the interrupt hook), its console, its
 * page allocator. One hart, identity-mapped physical memory. */
#include <stdarg.h>

#include "ekernel.h"
#include "mm/kmm.h"

/* ---- console and exit (QEMU virt: ns16550 UART, sifive_test) ---- */

#define UART ((volatile uint8_t *)0x10000000)
#define SIFIVE_TEST ((volatile uint32_t *)0x100000)

void ek_putc(char c)
{
    while (!(UART[5] & 0x20))
        ;
    UART[0] = (uint8_t)c;
}

static void put_str(const char *s)
{
    while (*s)
        ek_putc(*s++);
}

static void put_num(unsigned long long v, unsigned base, bool neg, bool alt)
{
    char buf[24];
    int n = 0;
    if (neg)
        ek_putc('-');
    if (alt && base == 16)
        put_str("0x");
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        ek_putc(buf[--n]);
}

/* %s %c %d %u %x %p, with l, ll, z and # : what kmm's reports use too. */
static void ek_vprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            ek_putc(*fmt);
            continue;
        }
        bool alt = false;
        int longs = 0;
        fmt++;
        if (*fmt == '#')
            alt = true, fmt++;
        while (*fmt == 'l' || *fmt == 'z')
            longs += *fmt == 'z' ? 2 : 1, fmt++;
        switch (*fmt) {
        case 's': put_str(va_arg(ap, const char *)); break;
        case 'c': ek_putc((char)va_arg(ap, int)); break;
        case 'p': put_num((uintptr_t)va_arg(ap, void *), 16, false, true); break;
        case 'd': {
            long long v = longs ? va_arg(ap, long long) : va_arg(ap, int);
            put_num(v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0, false);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            put_num(v, *fmt == 'x' ? 16 : 10, false, alt);
            break;
        }
        default: ek_putc('%'); ek_putc(*fmt); break;
        }
    }
}

void ek_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ek_vprintf(fmt, ap);
    va_end(ap);
}

_Noreturn void ek_exit(bool pass)
{
    *SIFIVE_TEST = pass ? 0x5555 : (1u << 16) | 0x3333;
    for (;;)
        __asm__ volatile("wfi");
}

/* ---- this kernel's page allocator ---- */

static void *free_list;
static size_t nfree;
static uintptr_t pool_start, pool_end;

void ek_pages_init(uintptr_t start, uintptr_t end)
{
    pool_start = (start + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1);
    pool_end = end & ~(uintptr_t)(PAGE_SIZE - 1);
    for (uintptr_t p = pool_end; p > pool_start; p -= PAGE_SIZE)
        ek_page_free((void *)(p - PAGE_SIZE));
}

void *ek_page_alloc(void)
{
    void *p = free_list;
    if (p) {
        free_list = *(void **)p;
        nfree--;
    }
    return p;
}

void ek_page_free(void *p)
{
    *(void **)p = free_list;
    free_list = p;
    nfree++;
}

size_t ek_pages_free(void) { return nfree; }

/* The top npages of the pool, if none of them is allocated: the free list
 * was built bottom-up, so they are its last entries. */
void *ek_pages_give_away(size_t npages)
{
    uintptr_t lo = pool_end - npages * PAGE_SIZE;
    if (npages > nfree || lo < pool_start)
        return NULL;
    void **link = &free_list;
    size_t taken = 0;
    while (*link) {
        uintptr_t p = (uintptr_t)*link;
        if (p >= lo) {
            *link = *(void **)*link;
            taken++;
        } else {
            link = (void **)*link;
        }
    }
    nfree -= taken;
    if (taken != npages)
        return NULL;
    pool_end = lo;
    return (void *)lo;
}

/* ---- what kmm asks of its platform (mm/kmm.h) ---- */

void *mm_phys_to_virt(uint64_t paddr) { return (void *)(uintptr_t)paddr; }

uintptr_t mm_lock_owner_token(void) { return 1; } /* one hart, no threads inside kmm */

_Noreturn void mm_panic_at(const char *func, const char *fmt, ...)
{
    va_list ap;
    ek_printf("kmm panic: %s: ", func);
    va_start(ap, fmt);
    ek_vprintf(fmt, ap);
    va_end(ap);
    ek_printf("\n");
    ek_exit(false);
}

unsigned mm_cpu_id(void) { return 0; }

mm_cpumask_t mm_cpus_online(void) { return 1; }

void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req)
{
    mm_panic_at(__func__, "one hart, yet a shootdown to %#llx (root %#llx)", (unsigned long long)cpus,
                (unsigned long long)req->root);
}

/* Interrupts are masked while a kmm lock is held (sstatus.SIE), and the
 * glue counts how deep: the scenario checks the hook ran and nested. */
unsigned long ek_irq_saves, ek_irq_masked_max, ek_irq_depth;

mm_irq_state_t mm_irq_save(void)
{
    unsigned long s;
    __asm__ volatile("csrrc %0, sstatus, %1" : "=r"(s) : "r"(2ul) : "memory");
    ek_irq_saves++;
    if (++ek_irq_depth > ek_irq_masked_max)
        ek_irq_masked_max = ek_irq_depth;
    return s & 2;
}

void mm_irq_restore(mm_irq_state_t state)
{
    ek_irq_depth--;
    if (state)
        __asm__ volatile("csrs sstatus, %0" ::"r"(2ul) : "memory");
}
