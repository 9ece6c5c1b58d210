/* tests/user/fork_oom.c - forking until memory runs out. Each process of a
 * chain forks the next one and waits for it, so every process stays alive;
 * the last fork fails, and must fail with -ENOMEM in the process that asked,
 * which reports it up the chain through exit statuses. Afterwards the free
 * frame count is back where it started. */
#include "ulib.h"

#define FORK_FAILED_ENOMEM 100
#define FORK_FAILED_OTHER 101

static long depth; /* in .bss: every link writes its own copy */

int main(void)
{
    t_plan(4);
    struct kmm_meminfo before;
    sys_meminfo(&before);
    for (;;) {
        long pid = sys_fork();
        if (pid == 0) {
            depth++;
            continue; /* the child forks the next link */
        }
        if (pid < 0) {
            struct kmm_meminfo now;
            sys_meminfo(&now);
            uprintf("# fork failed with %ld at depth %ld (%lu processes, %lu frames free)\n", pid, depth,
                    (unsigned long)now.processes, (unsigned long)now.free_frames);
            if (depth == 0)
                break;
            sys_exit(pid == -ENOMEM ? FORK_FAILED_ENOMEM : FORK_FAILED_OTHER);
        }
        int st = -1;
        long w = sys_wait(&st);
        if (depth > 0)
            sys_exit(w == pid && WAIT_EXITED(st) ? WAIT_EXIT_CODE(st) : 102);
        t_check(w == pid && st == FORK_FAILED_ENOMEM,
                "forking until memory runs out fails with -ENOMEM in the last parent (status %d)", st);
        break;
    }
    struct kmm_meminfo after;
    sys_meminfo(&after);
    t_check(after.processes == 1, "every other process is gone (%lu left)", (unsigned long)after.processes);
    t_check(after.free_frames == before.free_frames, "free frames back where they started (%lu, then %lu)",
            (unsigned long)before.free_frames, (unsigned long)after.free_frames);
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(5);
    int st = -1;
    t_check(pid > 0 && sys_wait(&st) == pid && st == 5, "fork works again afterwards");
    return t_done();
}
