/* tests/user/aarch64/tpidr_kept.c - TPIDR_EL0 (the thread register) and
 * SP_EL0 belong to user code: every trap from EL0 saves them in the frame
 * and gives them back (a system call, a page fault the kernel resolves,
 * timer interrupts), and the kernel never uses TPIDR_EL0 for itself. */
#include "ulib.h"

#define PATTERN 0x5a5a5a5a5a5a5a50ul
#define SPIN_BOUND (1ul << 31)

static inline void set_tpidr(unsigned long v) { __asm__ volatile("msr tpidr_el0, %0" ::"r"(v) : "memory"); }
static inline unsigned long get_tpidr(void)
{
    unsigned long v;
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(v)::"memory");
    return v;
}

int main(void)
{
    t_plan(3);
    set_tpidr(PATTERN);
    long pid = sys_getpid();
    unsigned long v = get_tpidr();
    t_check(pid > 0 && v == PATTERN, "a system call returns with the user's TPIDR_EL0 (%lx)", v);

    volatile uint8_t *page = (uint8_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    set_tpidr(PATTERN + 8);
    page[0] = 1; /* zero-on-demand: a page fault the kernel resolves */
    v = get_tpidr();
    t_check(page[0] == 1 && v == PATTERN + 8, "a resolved page fault returns with the user's TPIDR_EL0 (%lx)", v);

    struct kmm_meminfo before, after;
    sys_meminfo(&before);
    set_tpidr(PATTERN + 16);
    unsigned long spins = 0, bad = 0;
    do { /* until the timer has ended a slice, checking the register all along */
        for (unsigned i = 0; i < 100000; i++, spins++)
            bad += get_tpidr() != PATTERN + 16;
        sys_meminfo(&after);
    } while (after.preemptions == before.preemptions && spins < SPIN_BOUND);
    t_check(after.preemptions > before.preemptions && bad == 0,
            "timer interrupts (%lu) return with the user's TPIDR_EL0 (%lu reads of another value)",
            (unsigned long)(after.preemptions - before.preemptions), bad);
    return t_done();
}
