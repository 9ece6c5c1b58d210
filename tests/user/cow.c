/* tests/user/cow.c - the copy-on-write scenarios as user programs: 2/3 of
 * free memory written and forked twice (no eager copy, free frames back),
 * three processes writing overlapping ranges of one inherited mapping, and
 * a system call writing into a copy-on-write buffer. */
#include "ulib.h"

static struct kmm_meminfo info(void)
{
    struct kmm_meminfo m;
    sys_meminfo(&m);
    return m;
}

static void two_thirds(int round)
{
    struct kmm_meminfo a = info();
    size_t n = a.free_frames * 2 / 3;
    volatile uint8_t *p = (uint8_t *)sys_mmap(0, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if ((long)p < 0) {
        t_check(false, "round %d: mmap of %lu pages: %ld", round, (unsigned long)n, (long)p);
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i * PAGE] = (uint8_t)(i * 7 + round);
    struct kmm_meminfo b = info();
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(0);
    int st = -1;
    sys_wait(&st);
    struct kmm_meminfo c = info();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += p[i * PAGE] != (uint8_t)(i * 7 + round);
    uprintf("# round %d: %lu pages (%lu MiB) written, free %lu before the fork, %lu after the child, %lu copies\n",
            round, (unsigned long)n, (unsigned long)(n >> 8), (unsigned long)b.free_frames,
            (unsigned long)c.free_frames, (unsigned long)(c.cow_copies - b.cow_copies));
    t_check(st == 0 && bad == 0 && c.cow_copies - b.cow_copies < 8 && c.free_frames == b.free_frames,
            "round %d: fork of 2/3 of memory copies nothing and the child leaks nothing", round);
    /* Written again: the parent is the last holder of every frame. */
    for (size_t i = 0; i < n; i++)
        p[i * PAGE] = 1;
    struct kmm_meminfo d = info();
    sys_munmap((uintptr_t)p, n * PAGE);
    struct kmm_meminfo e = info();
    t_check(d.cow_copies - c.cow_copies < 8 && d.cow_reuses - c.cow_reuses >= n - 8 && e.free_frames >= a.free_frames,
            "round %d: rewriting reuses every frame (%lu reuses, %lu copies), unmapping frees them (%lu -> %lu)", round,
            (unsigned long)(d.cow_reuses - c.cow_reuses), (unsigned long)(d.cow_copies - c.cow_copies),
            (unsigned long)a.free_frames, (unsigned long)e.free_frames);
}

#define NPAGES 8
/* Process id writes its value over pages [2*id, 2*id + 4) for three rounds,
 * yielding in between; it must read back its own value there and the
 * original pattern everywhere else. Returns the number of wrong reads. */
static int overlap_writer(volatile uint8_t *r, int id)
{
    int bad = 0;
    for (int round = 0; round < 3; round++) {
        uint8_t v = (uint8_t)(0x10 * (id + 1) + round);
        for (int pg = 2 * id; pg < 2 * id + 4; pg++)
            r[pg * PAGE] = r[pg * PAGE + PAGE - 1] = v;
        sys_yield();
        for (int pg = 0; pg < NPAGES; pg++) {
            uint8_t want = pg >= 2 * id && pg < 2 * id + 4 ? v : (uint8_t)(0xa0 + pg);
            bad += r[pg * PAGE] != want || r[pg * PAGE + PAGE - 1] != want;
        }
        sys_yield();
    }
    return bad;
}

static void three_writers(void)
{
    volatile uint8_t *r = (uint8_t *)sys_mmap(0, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    for (int pg = 0; pg < NPAGES; pg++)
        r[pg * PAGE] = r[pg * PAGE + PAGE - 1] = (uint8_t)(0xa0 + pg);
    long c1 = sys_fork();
    if (c1 == 0)
        sys_exit(overlap_writer(r, 1));
    long c2 = sys_fork();
    if (c2 == 0)
        sys_exit(overlap_writer(r, 2));
    int mine = overlap_writer(r, 0);
    int s1 = -1, s2 = -1;
    long w1 = sys_wait(&s1), w2 = sys_wait(&s2);
    t_check(mine == 0 && s1 == 0 && s2 == 0 && w1 > 0 && w2 > 0,
            "three processes writing overlapping ranges each read back only their own (%d %d %d wrong)", mine, s1, s2);
    sys_munmap((uintptr_t)r, NPAGES * PAGE);
}

static void syscall_into_cow(void)
{
    volatile uint8_t *buf = (uint8_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    for (size_t i = 0; i < sizeof(struct kmm_meminfo); i++)
        buf[i] = 0x5a;
    struct kmm_meminfo before = info();
    long pid = sys_fork();
    if (pid == 0) {
        /* The kernel writes into the shared read-only frame: it must copy
         * (the parent's bytes, checked below, prove it did). */
        long r = sys_meminfo((struct kmm_meminfo *)buf);
        const struct kmm_meminfo *m = (const struct kmm_meminfo *)buf;
        sys_exit(r != 0 || m->total_frames != before.total_frames || m->user_end != before.user_end);
    }
    int st = -1;
    sys_wait(&st);
    int changed = 0;
    for (size_t i = 0; i < sizeof(struct kmm_meminfo); i++)
        changed += buf[i] != 0x5a;
    t_check(st == 0 && changed == 0,
            "a system call writing into a copy-on-write buffer copies it: the child got the data (%d), the parent kept "
            "its bytes (%d changed)", st, changed);
    sys_munmap((uintptr_t)buf, PAGE);
}

int main(void)
{
    t_plan(6);
    two_thirds(1);
    two_thirds(2);
    three_writers();
    syscall_into_cow();
    return t_done();
}
