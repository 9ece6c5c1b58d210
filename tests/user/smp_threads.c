/* tests/user/smp_threads.c - threads (kernel/uapi.h thread calls, getcpu):
 * create, exit codes, join and its errors, threads of one address space
 * running on several CPUs at once, the last thread ending the process,
 * exit and a fault ending a process whose other threads run (spinning in
 * user mode, in system calls, blocked in join), and kernel stacks made and
 * unmapped again and again while threads run on the other CPUs. Every
 * frame comes back after each part. */
#include "ulib.h"

#define SPINNERS 3
#define CHURN_ROUNDS 40
#define SPIN_BOUND (1ul << 32) /* a spinner that is never stopped reports it (a failure) */

typedef struct shared {
    volatile unsigned long count, cpus, started, survived, stop, syscalls, bad;
    volatile unsigned long sum;
} shared_t;

static shared_t *S;

static struct kmm_meminfo info(void)
{
    struct kmm_meminfo m;
    sys_meminfo(&m);
    return m;
}

static void add_and_exit(void *arg)
{
    u_note_cpu(&S->cpus);
    u_add(&S->sum, (unsigned long)arg);
    sys_thread_exit((int)(uintptr_t)arg + 100);
}

static void basics(void)
{
    struct kmm_meminfo a = info();
    memset((void *)S, 0, sizeof(*S));
    uthread_t t[6];
    int ok = 0;
    for (int i = 0; i < 6; i++)
        ok += uthread_start(&t[i], add_and_exit, (void *)(uintptr_t)(i + 1)) == 0;
    int codes_ok = 0;
    for (int i = 0; i < 6; i++) {
        int code = -1;
        codes_ok += uthread_join(&t[i], &code) == 0 && code == i + 101;
    }
    t_check(ok == 6 && codes_ok == 6 && S->sum == 21, "six threads run, exit with their codes and are joined (%d, %d, sum %lu)",
            ok, codes_ok, S->sum);
    t_check(sys_thread_join(t[0].tid, NULL) == -ESRCH, "a joined thread cannot be joined again (-ESRCH)");
    t_check(sys_thread_join(9999999, NULL) == -ESRCH, "an unknown thread id is -ESRCH");
    long me = sys_getpid();
    t_check(sys_thread_join(me, NULL) == -EINVAL, "the main thread joining itself is -EINVAL");
    long stack = sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    uintptr_t kernel = 0 - (uintptr_t)PAGE * 16;
    t_check(sys_thread_create(add_and_exit, (uintptr_t)stack + PAGE - 8, 0) == -EINVAL &&
                sys_thread_create(add_and_exit, kernel, 0) == -EINVAL &&
                sys_thread_create((void (*)(void *))kernel, (uintptr_t)stack + PAGE, 0) == -EINVAL,
            "a misaligned or kernel stack, or a kernel entry, is -EINVAL");
    /* A bad code pointer: the thread stays joinable. */
    uthread_t u;
    int started = uthread_start(&u, add_and_exit, (void *)(uintptr_t)7);
    long r1 = sys_thread_join(u.tid, (int *)kernel);
    int code = -1;
    long r2 = uthread_join(&u, &code);
    t_check(started == 0 && r1 == -EFAULT && r2 == 0 && code == 107,
            "join into a bad pointer is -EFAULT and the thread stays joinable (%ld, %ld, code %d)", r1, r2, code);
    sys_munmap((uintptr_t)stack, PAGE);
    struct kmm_meminfo b = info();
    t_check(b.free_frames == a.free_frames, "every frame back after the threads: %lu -> %lu",
            (unsigned long)a.free_frames, (unsigned long)b.free_frames);
}

/* Spins in user mode (or in system calls) until stopped from outside:
 * by S->stop, or by its process ending (then it never reports). */
static void spinner(void *arg)
{
    bool syscalls = (uintptr_t)arg & 1;
    u_note_cpu(&S->cpus);
    u_add(&S->started, 1);
    unsigned long i = 0;
    for (; i < SPIN_BOUND && !S->stop; i++) {
        if (syscalls) {
            S->syscalls++;
            sys_getpid();
        }
        if ((i & 0xffff) == 0)
            u_note_cpu(&S->cpus);
    }
    if (!S->stop)
        u_add(&S->survived, 1);
}

static void blocked_joiner(void *arg)
{
    u_add(&S->started, 1);
    sys_thread_join((long)(uintptr_t)arg, NULL); /* the main thread: never ends before the process */
    u_add(&S->survived, 1);
}

/* On several CPUs, yields (bounded) until the threads of S->cpus have been
 * seen on two of them: an idle CPU takes a spinner only when its thread is
 * scheduled, which on a loaded host can take a while. */
static void await_spread(void)
{
    unsigned long ncpus = u_ncpus();
    for (unsigned long i = 0; ncpus > 1 && i < 200000 && u_popcount(S->cpus) < 2; i++)
        sys_yield();
}

/* A process with spinners on the other CPUs, one in system calls and one
 * blocked in join; its main thread ends it (how = 0: exit(7); 1: a write
 * to an unmapped page). Runs in a forked child. */
static void ending_process(void *arg)
{
    int how = (int)(uintptr_t)arg;
    uthread_t t[SPINNERS + 1];
    for (int i = 0; i < SPINNERS; i++)
        uthread_start(&t[i], spinner, (void *)(uintptr_t)i);
    uthread_start(&t[SPINNERS], blocked_joiner, (void *)(uintptr_t)sys_getpid());
    u_await(&S->started, SPINNERS + 1);
    u_note_cpu(&S->cpus);
    await_spread();
    if (how == 0)
        sys_exit(7);
    *(volatile int *)0x1000 = 1; /* nothing is mapped there */
}

static void process_ends_with_running_threads(int how)
{
    struct kmm_meminfo a = info();
    memset((void *)S, 0, sizeof(*S));
    int st = t_in_child(ending_process, (void *)(uintptr_t)how);
    unsigned long survived = S->survived;
    S->stop = 1;
    struct kmm_meminfo b = info();
    t_check(st == (how == 0 ? 7 : KILLED_BY(2)) && S->started == SPINNERS + 1 && survived == 0 &&
                b.free_frames == a.free_frames && b.processes == a.processes && u_cpus_spread(S->cpus),
            "%s ends a process whose %d threads spin, call the kernel or wait in join: status %#x, %lu survived, free "
            "%lu -> %lu, CPUs %#lx",
            how == 0 ? "exit" : "a fault", SPINNERS + 1, (unsigned)st, survived, (unsigned long)a.free_frames,
            (unsigned long)b.free_frames, S->cpus);
}

/* The last thread to end ends the process, with its code as the status:
 * the main thread ends first (code 42), the other one joins it and ends
 * with 5 (6 if the join did not see 42). */
static void outlive_main(void *arg)
{
    int code = -1;
    long r = sys_thread_join((long)(uintptr_t)arg, &code);
    S->count = 1;
    sys_thread_exit(r == 0 && code == 42 ? 5 : 6);
}

static void last_thread_ends(void *arg)
{
    (void)arg;
    uthread_t t;
    if (uthread_start(&t, outlive_main, (void *)(uintptr_t)sys_getpid()) != 0)
        sys_exit(9);
    sys_thread_exit(42); /* not the last: the process lives on */
}

/* Makes and ends short threads while spinners on the other CPUs run:
 * kernel stacks are mapped and unmapped (a shootdown to every CPU) again
 * and again under running threads. */
static void sum_thread(void *arg) { u_add(&S->sum, (unsigned long)(uintptr_t)arg); }

static void kernel_stack_churn(void)
{
    struct kmm_meminfo a = info();
    memset((void *)S, 0, sizeof(*S));
    uthread_t sp[2];
    int spinners = 0;
    for (int i = 0; i < 2; i++)
        spinners += uthread_start(&sp[i], spinner, (void *)(uintptr_t)1) == 0;
    u_await(&S->started, (unsigned long)spinners);
    unsigned long want = 0;
    int made = 0;
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        uthread_t t[3];
        for (int i = 0; i < 3; i++) {
            if (uthread_start(&t[i], sum_thread, (void *)(uintptr_t)(round * 3 + i)) == 0) {
                want += (unsigned long)(round * 3 + i);
                made++;
            }
        }
        for (int i = 0; i < 3; i++)
            uthread_join(&t[i], NULL);
    }
    await_spread();
    unsigned long calls = S->syscalls;
    S->stop = 1;
    for (int i = 0; i < spinners; i++)
        uthread_join(&sp[i], NULL);
    struct kmm_meminfo b = info();
    t_check(spinners == 2 && made == 3 * CHURN_ROUNDS && S->sum == want && calls > 0 &&
                b.free_frames == a.free_frames && u_cpus_spread(S->cpus),
            "%d threads made and ended (kernel stacks unmapped) while 2 threads ran system calls (%lu): sum %lu of %lu, "
            "free %lu -> %lu, CPUs %#lx",
            made, calls, S->sum, want, (unsigned long)a.free_frames, (unsigned long)b.free_frames, S->cpus);
}

int main(void)
{
    t_plan(12);
    S = (shared_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    memset((void *)S, 0, sizeof(*S)); /* its frame and tables exist before the counts */
    basics();

    /* Threads on several CPUs at once: all spinning until told to stop. */
    memset((void *)S, 0, sizeof(*S));
    uthread_t t[SPINNERS];
    for (int i = 0; i < SPINNERS; i++)
        uthread_start(&t[i], spinner, (void *)0);
    u_await(&S->started, SPINNERS);
    await_spread();
    S->stop = 1;
    for (int i = 0; i < SPINNERS; i++)
        uthread_join(&t[i], NULL);
    t_check(u_cpus_spread(S->cpus), "threads of one address space ran on CPUs %#lx (%lu online)", S->cpus, u_ncpus());

    process_ends_with_running_threads(0);
    process_ends_with_running_threads(1);

    memset((void *)S, 0, sizeof(*S));
    int st = t_in_child(last_thread_ends, NULL);
    t_check(st == 5 && S->count == 1, "the last thread's end ends the process with its code (status %#x)", (unsigned)st);

    kernel_stack_churn();
    return t_done();
}
