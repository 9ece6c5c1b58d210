/* tests/user/smp_tlb.c - no stale translation survives munmap or mprotect
 * on any CPU (kernel/process.h threads; the shootdown of mm/mm.c).
 *
 * munmap: in a child process a reader thread reads private pages in a
 * loop and checks every byte it sees; a second thread unmaps them
 * while a filler process allocates and fills frames with other bytes. The
 * reader must fault (the child is killed for a read) and must never see a
 * byte of the filler's: a CPU still translating to the page after munmap
 * returned would read the frame once a filler has it (two fillers fault
 * pages in all the time, so that a frame freed too early is taken at once).
 * mprotect: a writer thread writes a shared page in a loop; a second
 * thread makes it read-only and then watches it: nothing may change after
 * mprotect returned, and the writer's next write kills the child.
 * The reader (writer) also watches the flag the other thread sets once
 * munmap (mprotect) has returned: an access it makes after seeing the flag
 * must fault, so a CPU that kept the old translation shows up at once, as
 * `survived`, without any timing. Every round records the CPUs its threads
 * ran on (getcpu): on several CPUs they must have run on at least two. */
#include "ulib.h"

#define ROUNDS 3
#define MUNMAP_ROUNDS 6
#define VICTIM_PAGES 16         /* unmapped at once: 16 frames the filler may take at once */
#define READS_BEFORE 20000ul    /* the reader's reads before the unmap */
#define WRITES_BEFORE 20000ul   /* the writer's writes before the mprotect */
#define LOOP_BOUND (1ul << 30)  /* a bound on every loop (never reached when the kernel is right) */
#define AFTER_FLAG 1000ul       /* accesses after the flag that prove a stale translation */
#define WATCH_READS 200000ul    /* reads of the protected page by the watcher */
#define FILL_PAGES 256
#define FILLERS 2
#define PATTERN 0x5a
#define FILLER 0xbb

typedef struct shared {
    volatile unsigned long reads, bad, last_bad, unmapped, writes, watched, changed, protected_rc;
    volatile unsigned long stop, fills, cpus, survived, gathered;
} shared_t;

static shared_t *S;
static volatile uint8_t *page;

static void reader(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    unsigned long after = 0;
    for (unsigned long i = 0; i < LOOP_BOUND && after < AFTER_FLAG; i++) {
        after += S->unmapped == 1; /* munmap has returned: this read must fault */
        uint8_t b = page[(i * 4099) % (VICTIM_PAGES * PAGE)];
        if (b != PATTERN) {
            S->bad++;
            S->last_bad = b;
        }
        S->reads = i + 1;
        if ((i & 4095) == 0)
            u_note_cpu(&S->cpus);
    }
    S->survived = 1;
}

static void unmapper(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    u_await(&S->reads, READS_BEFORE);
    u_note_cpu(&S->cpus);
    /* 3 while the call runs: the reader's fault may end the process (this
     * thread too) before the call's return is recorded. */
    S->unmapped = 3;
    S->unmapped = sys_munmap((uintptr_t)page, VICTIM_PAGES * PAGE) == 0 ? 1 : 2;
}

/* The child of one munmap round: its main thread waits for the reader,
 * which ends only if it was never stopped. */
static int munmap_child(void)
{
    page = (uint8_t *)sys_mmap(0, VICTIM_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if ((long)page < 0)
        return 10;
    for (unsigned i = 0; i < VICTIM_PAGES * PAGE; i++)
        page[i] = PATTERN;
    uthread_t r, u;
    if (uthread_start(&r, reader, NULL) || uthread_start(&u, unmapper, NULL))
        return 11;
    uthread_join(&u, NULL);
    uthread_join(&r, NULL);
    return 12; /* the reader read on after the unmap */
}

/* The filler: allocates, fills with FILLER bytes and frees frames until
 * told to stop (bounded). */
static int filler(void)
{
    u_note_cpu(&S->cpus);
    for (unsigned long round = 0; round < LOOP_BOUND && !S->stop; round++) {
        volatile uint8_t *p = (uint8_t *)sys_mmap(0, FILL_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
        if ((long)p < 0)
            return 20;
        for (unsigned i = 0; i < FILL_PAGES * PAGE; i += 512)
            p[i] = FILLER;
        sys_munmap((uintptr_t)p, FILL_PAGES * PAGE);
        S->fills = round + 1;
        if ((round & 15) == 0)
            u_note_cpu(&S->cpus);
    }
    return 0;
}

/* Waits for the victim and the fillers; the victim's status in
 * *victim_st, the fillers' statuses or-ed in *filler_st. */
static void reap_all(long victim, int *victim_st, int *filler_st)
{
    *filler_st = 0;
    for (int i = 0; i < 1 + FILLERS; i++) {
        int st = -1;
        long w = sys_wait(&st);
        if (w == victim) {
            *victim_st = st;
            S->stop = 1; /* the victim is gone: the fillers may stop */
        } else {
            *filler_st |= w > 0 ? st : 0x80;
        }
    }
}

static void munmap_round(int round)
{
    memset((void *)S, 0, sizeof(*S));
    for (int f = 0; f < FILLERS; f++)
        if (sys_fork() == 0)
            sys_exit(filler());
    long vpid = sys_fork();
    if (vpid == 0)
        sys_exit(munmap_child());
    int vst = -1, fst = -1;
    reap_all(vpid, &vst, &fst);
    t_check(vst == KILLED_BY(1) && (S->unmapped == 1 || S->unmapped == 3) && S->bad == 0 && S->reads >= READS_BEFORE && !S->survived &&
                fst == 0 && u_cpus_spread(S->cpus),
            "munmap round %d: the reader faults after the unmap (status %#x, unmap %lu), %lu reads, never the filler's "
            "bytes (%lu bad, last %#lx), %lu fills, CPUs %#lx",
            round, (unsigned)vst, S->unmapped, S->reads, S->bad, S->last_bad, S->fills, S->cpus);
}

static volatile unsigned long *shared_words;

static void writer(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    unsigned long after = 0;
    for (unsigned long i = 1; i < LOOP_BOUND && after < AFTER_FLAG; i++) {
        after += S->protected_rc == 1; /* mprotect has returned: this write must fault */
        shared_words[i % 64] = i;
        S->writes = i;
        if ((i & 4095) == 0)
            u_note_cpu(&S->cpus);
    }
    S->survived = 1;
}

/* Makes the page read-only once the writer is under way, then watches it:
 * no word may change after mprotect returned. */
static void protector(void *arg)
{
    (void)arg;
    u_gather(&S->gathered, 2, &S->cpus);
    u_await(&S->writes, WRITES_BEFORE);
    long rc = sys_mprotect((uintptr_t)shared_words, PAGE, PROT_READ);
    unsigned long snap[64];
    for (int i = 0; i < 64; i++)
        snap[i] = shared_words[i];
    S->protected_rc = rc == 0 ? 1 : 2;
    u_note_cpu(&S->cpus);
    for (unsigned long n = 0; n < WATCH_READS; n++) {
        unsigned w = (unsigned)(n % 64);
        if (shared_words[w] != snap[w])
            S->changed++;
        S->watched = n + 1;
    }
}

static int mprotect_child(void)
{
    uthread_t w, p;
    if (uthread_start(&w, writer, NULL) || uthread_start(&p, protector, NULL))
        return 11;
    uthread_join(&p, NULL);
    uthread_join(&w, NULL);
    return 12; /* the writer wrote on after the mprotect */
}

static void mprotect_round(int round)
{
    memset((void *)S, 0, sizeof(*S));
    shared_words = (unsigned long *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    if ((long)shared_words < 0) {
        t_check(false, "mprotect round %d: mmap failed (%ld)", round, (long)shared_words);
        return;
    }
    shared_words[0] = 0;
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(mprotect_child());
    int st = -1;
    long w = sys_wait(&st);
    /* The writer's process is gone: what the page holds now is final. */
    unsigned long last = 0;
    for (int i = 0; i < 64; i++)
        last = shared_words[i] > last ? shared_words[i] : last;
    t_check(w == pid && st == KILLED_BY(2) && S->changed == 0 && S->writes >= WRITES_BEFORE && !S->survived &&
                (S->protected_rc == 0 || S->protected_rc == 1) && last <= S->writes && u_cpus_spread(S->cpus),
            "mprotect round %d: the writer faults after mprotect (status %#x), %lu writes, nothing lands after it "
            "returned (%lu changes in %lu watched reads), CPUs %#lx",
            round, (unsigned)st, S->writes, S->changed, S->watched, S->cpus);
    sys_munmap((uintptr_t)shared_words, PAGE);
}

int main(void)
{
    t_plan(MUNMAP_ROUNDS + ROUNDS + 1);
    S = (shared_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
    memset((void *)S, 0, sizeof(*S)); /* its frame and tables exist before the count */
    struct kmm_meminfo before, after;
    sys_meminfo(&before);
    for (int r = 1; r <= MUNMAP_ROUNDS; r++)
        munmap_round(r);
    for (int r = 1; r <= ROUNDS; r++)
        mprotect_round(r);
    sys_meminfo(&after);
    t_check(after.free_frames == before.free_frames, "every frame back: %lu free before, %lu after (%lu CPUs)",
            (unsigned long)before.free_frames, (unsigned long)after.free_frames, (unsigned long)after.cpus);
    return t_done();
}
