/* tests/user/preempt.c - the timer ends time slices: a process that spins
 * without a single system call does not keep the CPU from the others (on
 * one CPU; on several the child runs beside it), and its CPU's timer ends
 * its slices (it spins on until a tick has come). */
#include "ulib.h"

#define SPIN_BOUND (1ul << 31) /* far beyond a few time slices; a bound, not a hang */

int main(void)
{
    t_plan(3);
    struct kmm_meminfo before, after;
    sys_meminfo(&before);
    volatile uint8_t *flag = (uint8_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    flag[0] = 0;
    long pid = sys_fork();
    if (pid == 0) {
        flag[0] = 1; /* runs only if the parent's slice ends */
        sys_exit(0);
    }
    unsigned long spins = 0;
    while (flag[0] == 0 && spins < SPIN_BOUND)
        spins++;
    t_check(flag[0] == 1, "a child ran while its parent spun without system calls (%lu spins)", spins);
    int st = -1;
    long w = sys_wait(&st);
    t_check(w == pid && st == 0, "and exited normally");
    spins = 0;
    do { /* on several CPUs the child may have needed no tick of ours */
        for (unsigned i = 0; i < 100000; i++, spins++)
            flag[1] = (uint8_t)i;
        sys_meminfo(&after);
    } while (after.preemptions == before.preemptions && spins < SPIN_BOUND);
    t_check(after.preemptions > before.preemptions, "the timer ended %lu time slices",
            (unsigned long)(after.preemptions - before.preemptions));
    return t_done();
}
