/* tests/user/smp_soak.c - random operations from several processes and
 * threads at once (tests/boot/test_user.c runs it with the memory
 * manager's invariant checker between time slices, every CPU's threads
 * held off meanwhile, and checks that every frame comes back).
 *
 * PROCS processes (the root and the workers it forks) run THREADS threads
 * each. Every thread owns a few slots: mappings it alone makes, unmaps,
 * protects, reads and writes, and whose bytes it knows; all of them also
 * add to counters on a page every process shares. The main thread of each
 * process forks short children now and then, which check the forking
 * thread's slots, write the private ones (copy-on-write) and exit. Each
 * thread follows its own random sequence of OPS operations; every read is
 * checked, and the counters must add up at the end. */
#include "ulib.h"

#define PROCS 3
#define THREADS 3
#define OPS 500
#define SLOTS 4
#define MAX_PAGES 6

typedef struct slot {
    uintptr_t addr;
    unsigned npages;
    bool shared, writable;
    uint8_t value;
} slot_t;

typedef struct shared {
    volatile unsigned long ops, bad, counter, cpus, forks, fork_bad, failed_calls;
} shared_t;

static shared_t *S;

typedef struct worker {
    unsigned id;
    uint32_t rng;
    slot_t slot[SLOTS];
    bool may_fork;
} worker_t;

static uint32_t rnd(worker_t *w, uint32_t n)
{
    w->rng = w->rng * 1664525u + 1013904223u;
    return (w->rng >> 8) % n;
}

static void fill(slot_t *s)
{
    for (unsigned p = 0; p < s->npages; p++)
        ((volatile uint8_t *)s->addr)[p * PAGE + (p * 13) % PAGE] = (uint8_t)(s->value + p);
}

static unsigned long verify(const slot_t *s)
{
    unsigned long bad = 0;
    for (unsigned p = 0; p < s->npages; p++)
        bad += ((volatile uint8_t *)s->addr)[p * PAGE + (p * 13) % PAGE] != (uint8_t)(s->value + p);
    return bad;
}

/* A short child: checks the slots it inherited, writes the private ones. */
static int fork_child(worker_t *w)
{
    unsigned long bad = 0;
    for (int i = 0; i < SLOTS; i++) {
        slot_t *s = &w->slot[i];
        if (!s->addr)
            continue;
        bad += verify(s);
        if (!s->shared && s->writable) {
            s->value ^= 0x5a;
            fill(s);
            bad += verify(s);
        }
    }
    return bad ? 1 : 0;
}

static void one_op(worker_t *w)
{
    slot_t *s = &w->slot[rnd(w, SLOTS)];
    unsigned op = rnd(w, 8);
    if (!s->addr && op < 6)
        op = 0;
    switch (op) {
    case 0: { /* map (again) */
        if (s->addr)
            sys_munmap(s->addr, s->npages * PAGE);
        s->npages = 1 + rnd(w, MAX_PAGES);
        s->shared = rnd(w, 3) == 0;
        long a = sys_mmap(0, s->npages * PAGE, PROT_READ | PROT_WRITE, s->shared ? MAP_SHARED : MAP_PRIVATE);
        if (a < 0) {
            u_add(&S->failed_calls, 1);
            s->addr = 0;
            break;
        }
        s->addr = (uintptr_t)a;
        s->writable = true;
        s->value = (uint8_t)rnd(w, 256);
        fill(s);
        break;
    }
    case 1: /* unmap */
        if (sys_munmap(s->addr, s->npages * PAGE) != 0)
            u_add(&S->failed_calls, 1);
        s->addr = 0;
        break;
    case 2: /* protect: read-only or read-write */
        s->writable = !s->writable;
        if (sys_mprotect(s->addr, s->npages * PAGE, s->writable ? PROT_READ | PROT_WRITE : PROT_READ) != 0)
            u_add(&S->failed_calls, 1);
        break;
    case 3:
    case 4: /* read */
        u_add(&S->bad, verify(s));
        break;
    case 5: /* write */
        if (s->writable) {
            s->value++;
            fill(s);
            u_add(&S->bad, verify(s));
        }
        break;
    case 6: /* the shared counters */
        u_add(&S->counter, 1);
        u_note_cpu(&S->cpus);
        break;
    case 7: /* a short child (main threads only: a wait reaps any child of the process) */
        if (w->may_fork) {
            long pid = sys_fork();
            if (pid == 0)
                sys_exit(fork_child(w));
            int st = -1;
            if (pid < 0 || sys_wait(&st) != pid || st != 0)
                u_add(&S->fork_bad, 1);
            u_add(&S->forks, 1);
        } else {
            sys_yield();
        }
        break;
    }
    u_add(&S->ops, 1);
}

static void run_worker(void *arg)
{
    worker_t *w = arg;
    u_note_cpu(&S->cpus);
    for (int i = 0; i < OPS; i++)
        one_op(w);
    for (int i = 0; i < SLOTS; i++)
        if (w->slot[i].addr)
            sys_munmap(w->slot[i].addr, w->slot[i].npages * PAGE);
}

/* The threads of one process: the caller is worker 0 (it may fork). */
static void process_body(unsigned proc)
{
    static worker_t workers[THREADS];
    uthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        workers[i] = (worker_t){ .id = proc * THREADS + i, .rng = 0x2026u + proc * 7919u + i * 104729u,
                                 .may_fork = i == 0 && proc != 0 }; /* the root's waits are for its workers */
    }
    for (unsigned i = 1; i < THREADS; i++)
        if (uthread_start(&t[i], run_worker, &workers[i]) != 0)
            u_add(&S->failed_calls, 1), t[i].tid = 0;
    run_worker(&workers[0]);
    for (unsigned i = 1; i < THREADS; i++)
        if (t[i].tid)
            uthread_join(&t[i], NULL);
}

int main(void)
{
    t_plan(3);
    S = (shared_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    long pids[PROCS];
    for (unsigned p = 1; p < PROCS; p++) {
        pids[p] = sys_fork();
        if (pids[p] == 0) {
            process_body(p);
            sys_exit(0);
        }
    }
    process_body(0);
    int exited = 0;
    for (unsigned p = 1; p < PROCS; p++) {
        int st = -1;
        long w = sys_wait(&st);
        exited += w > 0 && st == 0;
    }
    unsigned long want = PROCS * THREADS * OPS;
    uprintf("# smp_soak: %lu operations by %d threads in %d processes (%lu forks, %lu counter adds), CPUs %#lx\n",
            S->ops, PROCS * THREADS, PROCS, S->forks, S->counter, S->cpus);
    t_check(exited == PROCS - 1 && S->ops == want && S->failed_calls == 0,
            "every worker ran its %d operations (%lu of %lu), no call failed (%lu)", OPS, S->ops, want, S->failed_calls);
    t_check(S->bad == 0 && S->fork_bad == 0, "every read saw its thread's bytes (%lu wrong), every child its "
            "inherited ones (%lu failed)", S->bad, S->fork_bad);
    t_check(u_cpus_spread(S->cpus), "the workers ran on CPUs %#lx", S->cpus);
    return t_done();
}
