/* tests/user/fork.c - fork, wait, getpid and yield, and what each side of a
 * fork sees: private writes stay private (pages touched before and after
 * the fork), shared writes are seen by both (pages first touched after the
 * fork included). */
#include "ulib.h"

/* On one CPU each yield runs the other side; on several both run at once
 * and a yield with nobody queued returns at once, so the bound is a large
 * number of yields, not a time: it is only reached when the other side
 * never writes. */
#define SPIN_LIMIT 10000000

/* Yields until *flag == want (or the limit); true if it got there. */
static bool await(volatile uint8_t *flag, uint8_t want)
{
    for (int i = 0; i < SPIN_LIMIT; i++) {
        if (*flag == want)
            return true;
        sys_yield();
    }
    return *flag == want;
}

int main(void)
{
    t_plan(11);
    long me = sys_getpid();
    volatile uint8_t *priv = (uint8_t *)sys_mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    volatile uint8_t *shared = (uint8_t *)sys_mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    t_check((long)priv > 0 && (long)shared > 0, "private and shared anonymous mappings");
    priv[0] = 1;
    shared[0] = 1; /* shared pages 1..3 are first touched after the fork */

    long pid = sys_fork();
    if (pid == 0) {
        int bad = 0;
        bad += sys_getpid() == me;
        bad += priv[0] != 1;       /* inherited */
        priv[0] = 2;               /* private write before the fork's page */
        priv[PAGE] = 2;            /* and a page nobody touched before */
        shared[0] = 2;
        shared[PAGE] = 22;
        if (!await(&shared[2 * PAGE], 33)) /* the parent's shared write, after the fork */
            bad += 10;
        bad += priv[0] != 2 || priv[PAGE] != 2; /* still our own values */
        bad += priv[3 * PAGE] != 0;             /* the parent's private write is not seen */
        sys_exit(bad);
    }
    t_check(pid > 0 && pid != me, "fork returns the child's pid (%ld) in the parent (%ld)", pid, me);
    t_check(await(&shared[0], 2), "the parent sees the child's write to a shared page");
    /* The child writes it after shared[0]: on several CPUs it may land a
     * moment later. */
    t_check(await(&shared[PAGE], 22), "and to a shared page first touched after the fork");
    t_check(priv[0] == 1, "the child's private write is not seen (%d)", priv[0]);
    t_check(priv[PAGE] == 0, "nor its write to a fresh private page (%d)", priv[PAGE]);
    priv[3 * PAGE] = 44;
    shared[2 * PAGE] = 33;
    int st = -1;
    long w = sys_wait(&st);
    t_check(w == pid, "wait returns the child's pid (%ld)", w);
    t_check(st == 0, "the child saw the parent's shared write and kept its private values (status %d)", st);
    t_check(shared[PAGE] == 22 && priv[3 * PAGE] == 44, "after the child exits the shared page keeps its value");
    t_check(sys_wait(&st) == -ECHILD, "wait with no child left is -ECHILD");

    /* Yield gives the CPU away: two children count and yield; on one CPU
     * each yield returns only after the scheduler switched to the other and
     * back (two switches at least; the timer may add more, never fewer). On
     * several CPUs both run at once and nobody waits for the CPU: each
     * yield returns, and both count to the end. */
    struct kmm_meminfo mi;
    sys_meminfo(&mi);
    bool one_cpu = mi.cpus == 1;
    volatile uint32_t *cnt = (uint32_t *)(shared + 3 * PAGE), *done = cnt + 2;
    for (int c = 0; c < 2; c++) {
        if (sys_fork() == 0) {
            int stalls = 0;
            for (int i = 0; i < 5; i++) {
                struct kmm_meminfo a, b;
                cnt[c]++;
                bool other_runnable = !done[1 - c]; /* children never block */
                sys_meminfo(&a);
                stalls += sys_yield() != 0;
                sys_meminfo(&b);
                stalls += one_cpu && other_runnable && b.switches < a.switches + 2;
            }
            done[c] = 1;
            sys_exit(stalls);
        }
    }
    int s1 = -1, s2 = -1;
    sys_wait(&s1);
    sys_wait(&s2);
    t_check(s1 == 0 && s2 == 0 && cnt[0] == 5 && cnt[1] == 5,
            "yield hands the CPU to the other runnable process (%d and %d stalls, %lu CPUs)", s1, s2,
            (unsigned long)mi.cpus);
    return t_done();
}
