/* tests/user/fork_once.c - one fork, for the boot test that makes each
 * allocation of a run fail in turn. Silent; the exit status says what
 * happened: 0 (fork, child exited 0, reaped), 100 (fork failed with
 * -ENOMEM), 101 (fork failed with another error), 102 (the child did not
 * exit normally, e.g. killed when a fault found no memory). */
#include "ulib.h"

int main(void)
{
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(0);
    if (pid < 0)
        return pid == -ENOMEM ? 100 : 101;
    int st = -1;
    long w = sys_wait(&st);
    return w == pid && st == 0 ? 0 : 102;
}
