/* tests/boot/test_smp.c - several CPUs (kernel/smp.h): every CPU the
 * machine has is online, each knows its id, cross-CPU calls run on their
 * target, CPUs that call each other at the same time all finish (the
 * deadlock rule: waiting CPUs serve the calls aimed at them), IPIs are
 * counted, and every CPU's timer ticks. The expected CPU count comes from
 * the command line (smp.expect=N; 1 without it). Arch-neutral. */
#include "kernel/cmdline.h"
#include "kernel/smp.h"
#include "tests/boot/boot_test.h"

#define SPIN_LIMIT 100000000ul /* bounded waits for what needs no other CPU's help */

static unsigned online_count(void) { return smp_cpu_count(); }
static unsigned long all_mask(void) { return (1ul << online_count()) - 1; }

KTEST(smp_every_cpu_of_the_machine_is_online)
{
    unsigned want = 1;
    KT_ASSERT(t, cmdline_get_uint(kernel_boot_info->cmdline, "smp.expect", &want) != -EINVAL,
              "smp.expect on the command line is not a number");
    unsigned n = online_count();
    KT_EXPECT(t, n == want, "%u CPUs online, the machine has %u", n, want);
    KT_EXPECT(t, smp_online_mask() == all_mask(), "online mask %lx for %u CPUs", smp_online_mask(), n);
    KT_EXPECT(t, smp_cpu_id() == 0, "the tests run on cpu %u, not on the boot CPU", smp_cpu_id());
    for (unsigned i = 0; i < n; i++) {
        KT_EXPECT(t, smp_cpu(i)->id == i, "cpu %u's table entry says id %u", i, smp_cpu(i)->id);
        for (unsigned j = 0; j < i; j++)
            KT_EXPECT(t, smp_cpu(i)->hwid != smp_cpu(j)->hwid, "cpus %u and %u share hardware id %lu", j, i,
                      smp_cpu(i)->hwid);
    }
}

static void record_cpu_id(void *arg) { *(unsigned *)arg = arch_cpu_id(); }

KTEST(smp_cpu_id_on_each_cpu_is_its_own_id)
{
    for (unsigned i = 0; i < online_count(); i++) {
        unsigned got = ~0u;
        smp_call_on(i, record_cpu_id, &got);
        KT_EXPECT(t, got == i, "arch_cpu_id on cpu %u says %u", i, got);
    }
}

typedef struct call_log {
    _Atomic unsigned runs;
    _Atomic unsigned ran_on_mask;
} call_log_t;

static void log_call(void *arg)
{
    call_log_t *log = arg;
    atomic_fetch_add(&log->runs, 1);
    atomic_fetch_or(&log->ran_on_mask, 1u << arch_cpu_id());
}

KTEST(smp_call_on_runs_once_on_its_target_cpu)
{
    unsigned n = online_count();
    if (n < 2)
        KT_SKIP(t, "one CPU: no other CPU to call");
    for (unsigned i = 1; i < n; i++) {
        call_log_t log = { 0, 0 };
        unsigned long calls = atomic_load(&smp_cpu(i)->calls), mine = atomic_load(&smp_cpu(0)->calls);
        for (int k = 0; k < 5; k++)
            smp_call_on(i, log_call, &log);
        KT_EXPECT(t, atomic_load(&log.runs) == 5, "5 calls to cpu %u ran %u times", i, atomic_load(&log.runs));
        KT_EXPECT(t, atomic_load(&log.ran_on_mask) == 1u << i, "calls to cpu %u ran on mask %x", i,
                  atomic_load(&log.ran_on_mask));
        KT_EXPECT(t, atomic_load(&smp_cpu(i)->calls) == calls + 5, "cpu %u counted %lu calls, not 5", i,
                  atomic_load(&smp_cpu(i)->calls) - calls);
        KT_EXPECT(t, atomic_load(&smp_cpu(0)->calls) == mine, "the caller counted calls it did not run");
    }
    call_log_t self = { 0, 0 };
    smp_call_on(0, log_call, &self);
    KT_EXPECT(t, atomic_load(&self.runs) == 1 && atomic_load(&self.ran_on_mask) == 1u,
              "a call to the calling CPU itself runs there, directly");
}

KTEST(smp_call_many_runs_once_on_every_cpu_of_the_mask)
{
    unsigned n = online_count();
    call_log_t log = { 0, 0 };
    smp_call_many(all_mask(), log_call, &log);
    KT_EXPECT(t, atomic_load(&log.runs) == n, "ran %u times on %u CPUs", atomic_load(&log.runs), n);
    KT_EXPECT(t, atomic_load(&log.ran_on_mask) == all_mask(), "ran on mask %x, not %lx", atomic_load(&log.ran_on_mask),
              all_mask());
    if (n < 2)
        return;
    call_log_t others = { 0, 0 };
    smp_call_many(all_mask() & ~1ul, log_call, &others);
    KT_EXPECT(t, atomic_load(&others.ran_on_mask) == (all_mask() & ~1ul) && atomic_load(&others.runs) == n - 1,
              "a mask without the caller ran on %x, %u times", atomic_load(&others.ran_on_mask),
              atomic_load(&others.runs));
}

static void nop_call(void *arg) { (void)arg; }

KTEST(smp_ipis_wake_idle_cpus_and_are_counted)
{
    unsigned n = online_count();
    if (n < 2)
        KT_SKIP(t, "one CPU: no IPI to send");
    for (unsigned i = 1; i < n; i++) {
        unsigned long before = atomic_load(&smp_cpu(i)->ipis);
        /* The target idles: only the IPI wakes it up to run the call. */
        smp_call_on(i, nop_call, NULL);
        unsigned long spins = 0;
        while (atomic_load(&smp_cpu(i)->ipis) == before && ++spins < SPIN_LIMIT)
            smp_poll();
        KT_EXPECT(t, atomic_load(&smp_cpu(i)->ipis) > before, "cpu %u handled no IPI for a call (%lu)", i, before);
    }
}

/* A call that calls its caller back: the caller, waiting, must serve it. */
static void mark_cpu(void *arg) { atomic_fetch_or((_Atomic unsigned *)arg, 1u << arch_cpu_id()); }
static void call_back_cpu0(void *arg) { smp_call_on(0, mark_cpu, arg); }

KTEST(smp_waiting_caller_serves_a_call_back_from_its_target)
{
    unsigned n = online_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    for (unsigned i = 1; i < n; i++) {
        _Atomic unsigned marks = 0;
        smp_call_on(i, call_back_cpu0, &marks);
        KT_EXPECT(t, atomic_load(&marks) == 1u, "cpu %u's call back to cpu 0 ran on mask %x", i, atomic_load(&marks));
    }
}

/* Every CPU of the mask calls every other one at the same moment. */
typedef struct storm {
    unsigned long mask;
    _Atomic unsigned arrived;
    unsigned expected;
    _Atomic unsigned hits[SMP_MAX_CPUS];
} storm_t;

static void storm_hit(void *arg)
{
    storm_t *s = arg;
    atomic_fetch_add(&s->hits[arch_cpu_id()], 1);
}

static void storm_call_all_others(void *arg)
{
    storm_t *s = arg;
    /* Wait (serving calls, as every wait does) until all have arrived, so
     * that the calls below really cross. */
    atomic_fetch_add(&s->arrived, 1);
    while (atomic_load(&s->arrived) < s->expected)
        smp_poll();
    smp_call_many(s->mask & ~(1ul << arch_cpu_id()), storm_hit, s);
}

static void run_storm(ktest_state_t *t, unsigned long mask, unsigned rounds)
{
    unsigned members = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        members += (mask >> i) & 1;
    storm_t s = { .mask = mask, .expected = members };
    for (unsigned r = 0; r < rounds; r++) {
        atomic_store(&s.arrived, 0);
        smp_call_many(mask, storm_call_all_others, &s);
    }
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        unsigned want = (mask & (1ul << i)) ? rounds * (members - 1) : 0;
        KT_EXPECT(t, atomic_load(&s.hits[i]) == want, "cpu %u was called %u times, expected %u", i,
                  atomic_load(&s.hits[i]), want);
    }
}

KTEST(smp_two_cpus_calling_each_other_at_once_both_finish)
{
    if (online_count() < 3)
        KT_SKIP(t, "needs two CPUs besides the caller");
    /* CPUs 1 and 2 each call the other while the other waits. */
    run_storm(t, (1ul << 1) | (1ul << 2), 20);
}

KTEST(smp_all_cpus_calling_all_others_at_once_finish)
{
    if (online_count() < 2)
        KT_SKIP(t, "one CPU");
    run_storm(t, all_mask(), 50);
}

#define TICK_HZ 100
#define TICKS_WANTED 3

static void timer_start(void *arg)
{
    (void)arg;
    arch_timer_start(TICK_HZ);
}
static void timer_stop(void *arg)
{
    (void)arg;
    arch_timer_stop();
}

KTEST(smp_each_cpu_timer_ticks_on_its_own)
{
    unsigned n = online_count();
    if (n < 2)
        KT_SKIP(t, "one CPU: its tick is what userprog_timer_preempts_a_spinning_process proves");
    unsigned long before[SMP_MAX_CPUS];
    for (unsigned i = 0; i < n; i++)
        before[i] = atomic_load(&smp_cpu(i)->ticks);
    /* Only the even CPUs tick: the odd ones must not see ticks of others. */
    unsigned long even = 0;
    for (unsigned i = 0; i < n; i += 2)
        even |= 1ul << i;
    smp_call_many(even, timer_start, NULL);
    bool all = false;
    /* The boot CPU idles until each even CPU has ticked (at most 5 s of its own ticks). */
    while (!all && atomic_load(&smp_cpu(0)->ticks) - before[0] < 5 * TICK_HZ) {
        smp_poll();
        arch_wait_for_interrupt();
        all = true;
        for (unsigned i = 0; i < n; i += 2)
            all = all && atomic_load(&smp_cpu(i)->ticks) - before[i] >= TICKS_WANTED;
    }
    smp_call_many(even, timer_stop, NULL);
    for (unsigned i = 0; i < n; i++) {
        unsigned long got = atomic_load(&smp_cpu(i)->ticks) - before[i];
        if (i % 2 == 0)
            KT_EXPECT(t, got >= TICKS_WANTED, "cpu %u ticked %lu times", i, got);
        else
            KT_EXPECT(t, got == 0, "cpu %u ticked %lu times without a timer of its own", i, got);
    }
}

static void poll_inside(void *arg)
{
    (*(unsigned *)arg)++;
    smp_poll();
}

/* A call that itself polls (it waits on something) is not run again by its
 * own poll. */
KTEST(smp_call_that_polls_while_it_runs_runs_once)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    unsigned runs = 0;
    smp_call_on(1, poll_inside, &runs);
    KT_EXPECT(t, runs == 1, "the call ran %u times", runs);
}
