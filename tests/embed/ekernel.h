/* tests/embed/ekernel.h - the embedding kernel's own header. It defines on
 * purpose the names a kernel commonly has and that kmm's internal headers
 * also define (PAGE_SIZE, MIN/MAX, ERR_PTR, pte_t, struct spinlock, errno
 * values), with other values and types: mm/kmm.h, the one header of kmm
 * this kernel includes, must not clash with any of them (the build uses
 * -Werror, so even a redefined macro fails it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096u
#define PAGE_SHIFT 12
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define EINVAL 1001 /* this kernel's own numbering, not Linux's */
#define ENOMEM 1002
#define EFAULT 1003
typedef uint32_t pte_t; /* a Sv32-style entry in this kernel's own world */
struct spinlock {
    volatile int locked;
    const char *name;
};
static inline void *ERR_PTR(int e) { return (void *)(intptr_t)(e - 5000); }

/* The console (SBI legacy putchar) and the machine's end (sifive_test). */
void ek_putc(char c);
void ek_printf(const char *fmt, ...);
_Noreturn void ek_exit(bool pass);

/* This kernel's page allocator: a free list of 4 KiB frames over a range of
 * RAM (identity-mapped: a physical address is the kernel's pointer). */
void ek_pages_init(uintptr_t start, uintptr_t end);
void *ek_page_alloc(void);
void ek_page_free(void *p);
/* Gives npages contiguous pages away for good (to kmm), or NULL. */
void *ek_pages_give_away(size_t npages);
size_t ek_pages_free(void);

/* Interrupt bookkeeping of the platform glue (platform.c): saves so far,
 * the deepest nesting, the current depth (kmm locks held). */
extern unsigned long ek_irq_saves, ek_irq_masked_max, ek_irq_depth;

/* One KTAP result (main.c). */
void ek_check(bool ok, const char *name);

/* User processes (proc.c): the timer, on in the kernel from ek_timer_start
 * on; the user program run to its end (its exit status, -1 if it could not
 * start); what happened meanwhile. */
void ek_timer_start(void);
long ek_run_user_program(void);
struct ek_user_stats {
    unsigned long faults;                 /* user page faults kmm resolved */
    unsigned long killed;                 /* processes killed for a wild access */
    unsigned long user_ticks, kernel_ticks; /* timer interrupts taken in each mode */
    unsigned long ticks_inside_kmm_locks; /* taken while a kmm lock was held (must stay 0) */
    long init_status;                     /* the first process's exit status */
    unsigned long write_faults;           /* of the faults, writes */
    unsigned long write_faults_in_region; /* writes whose page landed in [region_lo, region_hi) */
    uint64_t region_lo, region_hi;        /* the region added after start-up */
};
extern struct ek_user_stats ek_user;
