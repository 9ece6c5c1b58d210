/* tests/user/smp_races.c - address-space changes racing with threads on
 * other CPUs.
 *
 * fork while sibling threads write: writer threads store a counter in
 * their own pages and read each store back, while the main thread forks
 * again and again. A fork write-protects the pages under the writers; a
 * store through a translation the fork did not shoot down would land in
 * the frame the child now shares, so each child checks that its copy does
 * not change after the fork (it watches it a while), and each writer that
 * its read-back always sees its own last store.
 * munmap while another thread faults in the same range: one thread touches
 * the pages of a fresh mapping, faulting them in, while another unmaps the
 * range under it; the toucher's next touch of an unmapped page kills the
 * process (a write), and every frame comes back. */
#include "ulib.h"

#define WRITERS 3
#define WPAGES 4      /* pages per writer */
#define FORKS 12
#define WATCH 20000ul /* reads of its copy by each child */
#define RANGE_PAGES 256
#define MUNMAP_ROUNDS 4
#define LOOP_BOUND (1ul << 30)

typedef struct shared {
    volatile unsigned long started, stop, bad_readback, writes, cpus, child_changed, touched, unmapped, survived;
    volatile unsigned long gathered;
} shared_t;

static shared_t *S;
static volatile unsigned long *wregion; /* WRITERS * WPAGES private pages */

static void writer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    volatile unsigned long *mine = wregion + (size_t)id * WPAGES * (PAGE / sizeof(long));
    u_gather(&S->gathered, WRITERS, &S->cpus);
    u_add(&S->started, 1);
    for (unsigned long v = 1; v < LOOP_BOUND && !S->stop; v++) {
        unsigned slot = (unsigned)(v % (WPAGES * 8)) * (PAGE / sizeof(long) / 8);
        mine[slot] = v;
        if (mine[slot] != v)
            u_add(&S->bad_readback, 1);
        if ((v & 1023) == 0) {
            u_add(&S->writes, 1024);
            u_note_cpu(&S->cpus);
        }
    }
}

/* In the child: the copy of the writers' pages must not change. */
static int watch_copy(void)
{
    static unsigned long snap[WRITERS * WPAGES * 8];
    size_t step = PAGE / sizeof(long) / 8, n = WRITERS * WPAGES * 8;
    for (size_t i = 0; i < n; i++)
        snap[i] = wregion[i * step];
    unsigned long changed = 0;
    for (unsigned long r = 0; r < WATCH; r++) {
        size_t i = r % n;
        changed += wregion[i * step] != snap[i];
    }
    if (changed)
        u_add(&S->child_changed, changed);
    return changed ? 1 : 0;
}

static void fork_while_writing(void)
{
    struct kmm_meminfo a, b;
    memset((void *)S, 0, sizeof(*S));
    sys_meminfo(&a);
    wregion = (unsigned long *)sys_mmap(0, WRITERS * WPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    uthread_t t[WRITERS];
    int started = 0;
    for (unsigned i = 0; i < WRITERS; i++)
        started += uthread_start(&t[i], writer, (void *)(uintptr_t)i) == 0;
    u_await(&S->started, (unsigned long)started);
    int forks = 0, children_ok = 0;
    for (int f = 0; f < FORKS; f++) {
        u_await(&S->writes, (unsigned long)(f + 1) * 2048); /* the writers are under way */
        long pid = sys_fork();
        if (pid == 0)
            sys_exit(watch_copy());
        if (pid < 0)
            continue;
        forks++;
        int st = -1;
        children_ok += sys_wait(&st) == pid && st == 0;
    }
    S->stop = 1;
    for (int i = 0; i < started; i++)
        uthread_join(&t[i], NULL);
    sys_munmap((uintptr_t)wregion, WRITERS * WPAGES * PAGE);
    sys_meminfo(&b);
    t_check(started == WRITERS && forks == FORKS && children_ok == FORKS && S->bad_readback == 0 &&
                S->child_changed == 0 && b.free_frames == a.free_frames && u_cpus_spread(S->cpus),
            "%d forks while %d threads write: every child's copy stays still (%lu changes), every read-back sees its "
            "store (%lu wrong), %lu writes, free %lu -> %lu, CPUs %#lx",
            forks, started, S->child_changed, S->bad_readback, S->writes, (unsigned long)a.free_frames,
            (unsigned long)b.free_frames, S->cpus);
}

static volatile uint8_t *range;

static void toucher(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    for (unsigned long i = 0; i < LOOP_BOUND; i++) {
        range[(i % RANGE_PAGES) * PAGE + (i / RANGE_PAGES) % PAGE] = (uint8_t)i; /* faults the pages in, then rewrites */
        S->touched = i + 1;
        if (S->unmapped == 1 && i % RANGE_PAGES == RANGE_PAGES - 1)
            break; /* a whole pass after munmap returned without a fault */
    }
    S->survived = 1;
}

static void unmapper(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    u_await(&S->touched, RANGE_PAGES / 2); /* half the range faulted in */
    u_note_cpu(&S->cpus);
    /* 3 while the call runs: the toucher's fault may end the process (this
     * thread too) before the call's return is recorded. */
    S->unmapped = 3;
    S->unmapped = sys_munmap((uintptr_t)range, RANGE_PAGES * PAGE) == 0 ? 1 : 2;
}

static int munmap_child(void)
{
    range = (uint8_t *)sys_mmap(0, RANGE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if ((long)range < 0)
        return 10;
    uthread_t a, b;
    if (uthread_start(&a, toucher, NULL) || uthread_start(&b, unmapper, NULL))
        return 11;
    uthread_join(&b, NULL);
    uthread_join(&a, NULL);
    return 12; /* the toucher was never stopped */
}

static void munmap_while_faulting(int round)
{
    struct kmm_meminfo a, b;
    memset((void *)S, 0, sizeof(*S));
    sys_meminfo(&a);
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(munmap_child());
    int st = -1;
    long w = sys_wait(&st);
    sys_meminfo(&b);
    t_check(w == pid && st == KILLED_BY(2) && (S->unmapped == 1 || S->unmapped == 3) && !S->survived && b.free_frames == a.free_frames &&
                u_cpus_spread(S->cpus),
            "round %d: munmap while another thread faults the range in: the toucher faults (status %#x) after %lu "
            "touches, free %lu -> %lu, CPUs %#lx",
            round, (unsigned)st, S->touched, (unsigned long)a.free_frames, (unsigned long)b.free_frames, S->cpus);
}

int main(void)
{
    t_plan(1 + MUNMAP_ROUNDS);
    S = (shared_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    fork_while_writing();
    for (int r = 1; r <= MUNMAP_ROUNDS; r++)
        munmap_while_faulting(r);
    return t_done();
}
