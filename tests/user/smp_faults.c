/* tests/user/smp_faults.c - page faults of one address space on several
 * CPUs at once, and copy-on-write between processes on different CPUs.
 *
 * Concurrent faults: THREADS threads touch a fresh mapping at once, every
 * thread its own bytes of the same pages (the first half) and pages of its
 * own (the second half), each thread starting at a different page. Every
 * page must end with exactly one frame (the free-frame count drops by the
 * page count exactly, measured while the threads are parked), every byte
 * must be the one its thread wrote (a frame installed twice would lose a
 * thread's writes), and unmapping gives every frame back.
 * Cross-CPU copy-on-write: parent and child write the same inherited
 * private pages at once, each its own bytes; each must see only its own,
 * and every frame comes back once the child is gone. */
#include "ulib.h"

#define THREADS 4
#define NPAGES 64 /* inside one last-level table: page 0 is touched first */
#define ROUNDS 3

typedef struct shared {
    volatile unsigned long ready, go, done, release, cpus, bad, gathered;
} shared_t;

static shared_t *S;
static volatile uint8_t *region;

static uint8_t byte_of(unsigned thread, unsigned page) { return (uint8_t)(0x11 * (thread + 1) + page); }

static void toucher(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    u_gather(&S->gathered, THREADS, &S->cpus);
    u_add(&S->ready, 1);
    u_await(&S->go, 1);
    u_note_cpu(&S->cpus);
    for (unsigned k = 0; k < NPAGES - 1; k++) {
        unsigned page = 1 + (k + id * (NPAGES / THREADS)) % (NPAGES - 1); /* each starts elsewhere */
        if (page < NPAGES / 2)
            region[page * PAGE + id * 8] = byte_of(id, page); /* the same pages, its own byte */
        else if (page % THREADS == id)
            for (unsigned off = 0; off < PAGE; off += 512)
                region[page * PAGE + off] = byte_of(id, page); /* its own pages */
    }
    u_note_cpu(&S->cpus);
    u_add(&S->done, 1);
    u_await(&S->release, 1); /* parked: no frame of ours changes while the parent counts */
}

/* Who wrote page's byte at off (or -1 for a zero byte nobody wrote). */
static int check_page(unsigned page)
{
    int bad = 0;
    for (unsigned off = 0; off < PAGE; off++) {
        uint8_t want = 0;
        if (page < NPAGES / 2) {
            if (off % 8 == 0 && off / 8 < THREADS)
                want = byte_of(off / 8, page);
        } else if (off % 512 == 0) {
            want = byte_of(page % THREADS, page);
        }
        if (page == 0)
            want = off == 0 ? 1 : 0;
        bad += region[page * PAGE + off] != want;
    }
    return bad;
}

static void concurrent_faults(int round)
{
    struct kmm_meminfo a, b, c, d;
    memset((void *)S, 0, sizeof(*S));
    sys_meminfo(&a);
    region = (uint8_t *)sys_mmap(0, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if ((long)region < 0) {
        t_check(false, "round %d: mmap failed (%ld)", round, (long)region);
        return;
    }
    region[0] = 1; /* the tables above the region's pages exist from here on */
    uthread_t t[THREADS];
    int started = 0;
    for (unsigned i = 0; i < THREADS; i++)
        started += uthread_start(&t[i], toucher, (void *)(uintptr_t)i) == 0;
    u_await(&S->ready, (unsigned long)started);
    sys_meminfo(&b);
    S->go = 1;
    u_await(&S->done, (unsigned long)started);
    sys_meminfo(&c);
    int bad = 0;
    for (unsigned p = 0; p < NPAGES; p++)
        bad += check_page(p);
    S->release = 1;
    for (int i = 0; i < started; i++)
        uthread_join(&t[i], NULL);
    sys_munmap((uintptr_t)region, NPAGES * PAGE);
    sys_meminfo(&d);
    t_check(started == THREADS && b.free_frames - c.free_frames == NPAGES - 1 && bad == 0 &&
                d.free_frames == a.free_frames && u_cpus_spread(S->cpus),
            "round %d: %d threads fault %d pages at once: %lu frames taken for them, %d wrong bytes, free %lu -> %lu, "
            "CPUs %#lx",
            round, started, NPAGES - 1, (unsigned long)(b.free_frames - c.free_frames), bad,
            (unsigned long)a.free_frames, (unsigned long)d.free_frames, S->cpus);
}

#define COW_PAGES 32

/* Writes side's byte at its offset of every page, going around twice, then
 * checks: its own bytes everywhere, the other side's nowhere. */
static unsigned long cow_side(volatile uint8_t *r, unsigned side)
{
    unsigned long bad = 0;
    u_gather(&S->ready, 2, &S->cpus);
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned p = 0; p < COW_PAGES; p++) {
            unsigned page = side ? COW_PAGES - 1 - p : p; /* they meet in the middle */
            r[page * PAGE + side] = (uint8_t)(0xa0 + side * 16 + pass);
            r[page * PAGE + 64 + side * 64] = (uint8_t)(page + side);
        }
    u_note_cpu(&S->cpus);
    for (unsigned p = 0; p < COW_PAGES; p++) {
        bad += r[p * PAGE + side] != (uint8_t)(0xa1 + side * 16);
        bad += r[p * PAGE + (1 - side)] != 0x77; /* the other side's byte: still the inherited value */
        bad += r[p * PAGE + 64 + side * 64] != (uint8_t)(p + side);
        bad += r[p * PAGE + 64 + (1 - side) * 64] != 0x77;
    }
    return bad;
}

static void cross_cpu_cow(int round)
{
    memset((void *)S, 0, sizeof(*S));
    volatile uint8_t *r = (uint8_t *)sys_mmap(0, COW_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if ((long)r < 0) {
        t_check(false, "cow round %d: mmap failed (%ld)", round, (long)r);
        return;
    }
    for (unsigned i = 0; i < COW_PAGES * PAGE; i++)
        r[i] = 0x77;
    struct kmm_meminfo a, b;
    sys_meminfo(&a);
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(cow_side(r, 1) ? 1 : 0);
    unsigned long bad = cow_side(r, 0);
    int st = -1;
    long w = sys_wait(&st);
    sys_meminfo(&b);
    t_check(pid > 0 && w == pid && st == 0 && bad == 0 && b.free_frames == a.free_frames && u_cpus_spread(S->cpus),
            "cow round %d: parent and child write %d inherited pages at once, each sees its own bytes only (child "
            "status %#x, %lu wrong in the parent), free %lu -> %lu, CPUs %#lx",
            round, COW_PAGES, (unsigned)st, bad, (unsigned long)a.free_frames, (unsigned long)b.free_frames, S->cpus);
    sys_munmap((uintptr_t)r, COW_PAGES * PAGE);
}

int main(void)
{
    t_plan(2 * ROUNDS);
    S = (shared_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    S->bad = 0;
    for (int r = 1; r <= ROUNDS; r++)
        concurrent_faults(r);
    for (int r = 1; r <= ROUNDS; r++)
        cross_cpu_cow(r);
    return t_done();
}
