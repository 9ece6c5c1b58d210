/* tests/boot/test_smp.c - several CPUs (kernel/smp.h): every CPU the
 * machine has is online, knows its id, runs the calls aimed at it, and two
 * CPUs that wait on each other both finish. The expected count comes from
 * the command line (`smp.expect=N`, what QEMU's -smp says); the tests that
 * need a second CPU skip on one. */
#include "kernel/cmdline.h"
#include "kernel/smp.h"
#include "tests/boot/boot_test.h"

/* Waits until *v reaches want; false after about 5 s (arch_cycles), or
 * after a bound of polls where the arch has no counter. */
static bool wait_for(_Atomic unsigned long *v, unsigned long want)
{
    uint64_t hz = arch_cycle_hz(), t0 = arch_cycles();
    for (unsigned long polls = 0; atomic_load(v) < want; polls++) {
        smp_poll();
        if (hz ? arch_cycles() - t0 > 5 * hz : polls > (1ul << 30))
            return false;
    }
    return true;
}

KTEST(smp_every_cpu_is_online)
{
    unsigned expect = 0;
    if (cmdline_get_uint(kernel_boot_info->cmdline, "smp.expect", &expect) != 0)
        KT_SKIP(t, "no smp.expect=N on the command line");
    unsigned n = smp_cpu_count();
    KT_EXPECT(t, n == expect, "%u CPUs online, expected %u", n, expect);
    KT_EXPECT(t, smp_cpu_id() == 0, "the tests run on cpu %u, not the boot CPU", smp_cpu_id());
    for (unsigned i = 0; i < n && i < SMP_MAX_CPUS; i++) {
        KT_EXPECT(t, atomic_load(&smp_cpu(i)->online) && smp_cpu(i)->id == i, "cpu %u: online %d, id %u", i,
                  atomic_load(&smp_cpu(i)->online), smp_cpu(i)->id);
        for (unsigned j = 0; j < i; j++)
            KT_EXPECT(t, smp_cpu(i)->hwid != smp_cpu(j)->hwid, "cpus %u and %u share hardware id %lu", j, i,
                      smp_cpu(i)->hwid);
    }
    for (unsigned i = n; i < SMP_MAX_CPUS; i++)
        KT_EXPECT(t, !atomic_load(&smp_cpu(i)->online), "cpu %u online beyond the count %u", i, n);
}

static void read_cpu_id(void *arg) { *(unsigned *)arg = arch_cpu_id(); }

KTEST(smp_cpu_id_on_each_cpu_is_its_own)
{
    for (unsigned i = 0; i < smp_cpu_count(); i++) {
        unsigned id = ~0u;
        smp_call_on(i, read_cpu_id, &id);
        KT_EXPECT(t, id == i, "arch_cpu_id on cpu %u says %u", i, id);
    }
}

static void count_here(void *arg) { ((unsigned *)arg)[arch_cpu_id()]++; }

KTEST(smp_call_on_every_cpu_runs_once_there)
{
    unsigned n = smp_cpu_count(), ran[SMP_MAX_CPUS] = { 0 };
    unsigned long calls[SMP_MAX_CPUS];
    for (unsigned i = 0; i < n; i++)
        calls[i] = atomic_load(&smp_cpu(i)->calls);
    for (unsigned i = 0; i < n; i++)
        smp_call_on(i, count_here, ran);
    for (unsigned i = 0; i < n; i++) {
        KT_EXPECT(t, ran[i] == 1, "the call for cpu %u ran there %u times", i, ran[i]);
        /* The caller runs its own call directly, not through the slot. */
        unsigned long served = atomic_load(&smp_cpu(i)->calls) - calls[i];
        KT_EXPECT(t, served == (i == 0 ? 0u : 1u), "cpu %u served %lu calls", i, served);
    }
}

/* Runs on cpu 1 while cpu 0 waits for it, and calls cpu 0 back: each waits
 * on the other, so both must serve calls while they wait. */
static void call_back_cpu0(void *arg)
{
    unsigned *ids = arg;
    ids[0] = arch_cpu_id();
    smp_call_on(0, read_cpu_id, &ids[1]);
}

KTEST(smp_cpus_calling_each_other_at_once_both_finish)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    unsigned long served0 = atomic_load(&smp_cpu(0)->calls), served1 = atomic_load(&smp_cpu(1)->calls);
    unsigned ids[2] = { ~0u, ~0u };
    smp_call_on(1, call_back_cpu0, ids);
    KT_EXPECT(t, ids[0] == 1 && ids[1] == 0, "the call ran on cpu %u, its call back on cpu %u", ids[0], ids[1]);
    KT_EXPECT(t, atomic_load(&smp_cpu(0)->calls) - served0 == 1 && atomic_load(&smp_cpu(1)->calls) - served1 == 1,
              "calls served: cpu 0 %lu, cpu 1 %lu (1 each)", atomic_load(&smp_cpu(0)->calls) - served0,
              atomic_load(&smp_cpu(1)->calls) - served1);
}

/* A call that waits on another CPU polls while it runs: the poll must not
 * run the same call again. */
static void poll_inside(void *arg)
{
    (*(unsigned *)arg)++;
    smp_poll();
}

KTEST(smp_call_that_polls_while_it_runs_runs_once)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    unsigned runs = 0;
    smp_call_on(1, poll_inside, &runs);
    KT_EXPECT(t, runs == 1, "the call ran %u times", runs);
}

static void nothing(void *arg) { (void)arg; }

/* An idle CPU sleeps until an IPI wakes it: a call sends exactly one, which
 * the target takes exactly once (it may serve the call before it takes it). */
KTEST(smp_ipi_wakes_each_idle_cpu_once_per_call)
{
    if (smp_cpu_count() < 2)
        KT_SKIP(t, "one CPU");
    for (unsigned i = 1; i < smp_cpu_count(); i++) {
        cpu_t *c = smp_cpu(i);
        unsigned long before = atomic_load(&c->ipis);
        smp_call_on(i, nothing, NULL);
        KT_EXPECT(t, wait_for(&c->ipis, before + 1), "cpu %u took no IPI for a call", i);
        KT_EXPECT(t, atomic_load(&c->ipis) == before + 1, "cpu %u took %lu IPIs for one call", i,
                  atomic_load(&c->ipis) - before);
    }
}
