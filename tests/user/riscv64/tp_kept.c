/* tests/user/riscv64/tp_kept.c - tp belongs to user code: a trap from
 * U-mode finds the hart's kernel data through sscratch, never through the
 * user's tp, and returns with the user's tp as it was (a system call, a
 * page fault the kernel resolves, timer interrupts). */
#include "ulib.h"

/* Not canonical in any paging mode: a kernel that used it would fault. */
#define TP_PATTERN 0x5a5a5a5a5a5a5a50ul
#define SPIN_BOUND (1ul << 31)

static inline void set_tp(unsigned long v) { __asm__ volatile("mv tp, %0" ::"r"(v) : "memory"); }
static inline unsigned long get_tp(void)
{
    unsigned long v;
    __asm__ volatile("mv %0, tp" : "=r"(v)::"memory");
    return v;
}

int main(void)
{
    t_plan(3);
    set_tp(TP_PATTERN);
    long pid = sys_getpid();
    unsigned long tp = get_tp();
    t_check(pid > 0 && tp == TP_PATTERN, "a system call returns with the user's tp (%lx)", tp);

    volatile uint8_t *page = (uint8_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    set_tp(TP_PATTERN + 8);
    page[0] = 1; /* zero-on-demand: a page fault the kernel resolves */
    tp = get_tp();
    t_check(page[0] == 1 && tp == TP_PATTERN + 8, "a resolved page fault returns with the user's tp (%lx)", tp);

    struct kmm_meminfo before, after;
    sys_meminfo(&before);
    set_tp(TP_PATTERN + 16);
    unsigned long spins = 0, bad = 0;
    do { /* until the timer has ended a slice, checking tp all along */
        for (unsigned i = 0; i < 100000; i++, spins++)
            bad += get_tp() != TP_PATTERN + 16;
        sys_meminfo(&after);
    } while (after.preemptions == before.preemptions && spins < SPIN_BOUND);
    t_check(after.preemptions > before.preemptions && bad == 0,
            "timer interrupts (%lu) return with the user's tp (%lu reads of another value)",
            (unsigned long)(after.preemptions - before.preemptions), bad);
    return t_done();
}
