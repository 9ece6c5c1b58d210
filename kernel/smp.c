/* kernel/smp.c - the CPU table, start-up of the other CPUs and cross-CPU
 * calls (contracts in kernel/smp.h). */
#include "kernel/smp.h"

#include "kernel/arch.h"
#include "kernel/context.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/process.h"
#include "mm/platform.h"

static cpu_t cpus[SMP_MAX_CPUS];
static _Atomic unsigned cpus_online = 1;

/* An arch that does not start other CPUs (yet) leaves the SMP services out
 * and runs on one CPU: nothing is started, the id is 0, and nothing can
 * send an IPI or idle (a call to the calling CPU itself runs directly). */
__attribute__((weak)) unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    (void)max;
    (void)entry;
    return 1;
}
__attribute__((weak)) unsigned arch_cpu_id(void) { return 0; }
__attribute__((weak)) void arch_ipi_send(unsigned id) { panic("arch_ipi_send(%u) on an arch with one CPU", id); }
__attribute__((weak)) void arch_wait_for_interrupt(void) { panic("arch_wait_for_interrupt on an arch with one CPU"); }
__attribute__((weak)) void arch_cpu_relax(void) {}

cpu_t *smp_cpu(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("cpu id %u out of range (max %u)", id, SMP_MAX_CPUS);
    return &cpus[id];
}

unsigned smp_cpu_id(void) { return arch_cpu_id(); }

unsigned smp_cpu_count(void) { return atomic_load(&cpus_online); }

unsigned long smp_online_mask(void)
{
    unsigned long mask = 0;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        if (atomic_load(&cpus[i].online))
            mask |= 1ul << i;
    return mask;
}

/* Takes the newest pending request of me, or NULL. Only me takes from its
 * list, and never from inside a take (the kernel runs with interrupts
 * masked, so no IPI lands inside one), and a request stays in place until
 * it is marked done after the take: the head's next cannot change under
 * the compare-and-swap (no ABA). */
static smp_call_t *take_one(cpu_t *me)
{
    smp_call_t *h = atomic_load_explicit(&me->pending, memory_order_acquire);
    while (h && !atomic_compare_exchange_weak_explicit(&me->pending, &h, h->next, memory_order_acquire,
                                                       memory_order_acquire))
        ;
    return h;
}

void smp_poll(void)
{
    cpu_t *me = &cpus[arch_cpu_id()];
    smp_call_t *c;
    while ((c = take_one(me)) != NULL) {
        c->fn(c->arg);
        atomic_fetch_add_explicit(&me->calls, 1, memory_order_relaxed);
        atomic_store_explicit(&c->done, true, memory_order_release); /* c may vanish from here on */
    }
}

void kernel_ipi(void *frame)
{
    atomic_fetch_add_explicit(&cpus[arch_cpu_id()].ipis, 1, memory_order_relaxed);
    smp_poll();
    proc_user_interrupt(frame); /* a thread of an ending process ends here */
}

void smp_call_many(unsigned long mask, smp_call_fn_t fn, void *arg)
{
    unsigned self = arch_cpu_id();
    if (mask >> SMP_MAX_CPUS)
        panic("call on cpu mask %lx: ids beyond %u", mask, SMP_MAX_CPUS - 1);
    smp_call_t req[SMP_MAX_CPUS];
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        if (!(mask & (1ul << i)) || i == self)
            continue;
        cpu_t *t = &cpus[i];
        if (!atomic_load(&t->online))
            panic("call on cpu %u, which is not online", i);
        req[i].fn = fn;
        req[i].arg = arg;
        atomic_init(&req[i].done, false);
        smp_call_t *h = atomic_load_explicit(&t->pending, memory_order_relaxed);
        do
            req[i].next = h;
        while (!atomic_compare_exchange_weak_explicit(&t->pending, &h, &req[i], memory_order_release,
                                                      memory_order_relaxed));
        arch_ipi_send(i);
    }
    if (mask & (1ul << self))
        fn(arg);
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
        if (!(mask & (1ul << i)) || i == self)
            continue;
        while (!atomic_load_explicit(&req[i].done, memory_order_acquire))
            smp_poll();
    }
}

void smp_call_on(unsigned cpu, smp_call_fn_t fn, void *arg)
{
    if (cpu >= SMP_MAX_CPUS)
        panic("call on cpu %u: out of range (max %u)", cpu, SMP_MAX_CPUS);
    smp_call_many(1ul << cpu, fn, arg);
}

void smp_start_work(unsigned cpu, smp_work_fn_t fn, void *arg)
{
    cpu_t *t = smp_cpu(cpu);
    if (cpu == arch_cpu_id() || !atomic_load(&t->online))
        panic("work for cpu %u: %s", cpu, cpu == arch_cpu_id() ? "the calling CPU" : "not online");
    while (atomic_load_explicit(&t->work, memory_order_acquire))
        smp_poll();
    t->work_arg = arg;
    atomic_store_explicit(&t->work, fn, memory_order_release);
    arch_ipi_send(cpu); /* wakes it from its idle wait */
}

void smp_wait_work(unsigned cpu)
{
    while (atomic_load_explicit(&smp_cpu(cpu)->work, memory_order_acquire))
        smp_poll();
}

/* ---- the memory manager's CPU services (mm/platform.h) ---- */

unsigned mm_cpu_id(void) { return arch_cpu_id(); }

mm_cpumask_t mm_cpus_online(void) { return smp_online_mask(); }

static void shootdown_here(void *arg)
{
    const mm_shootdown_t *req = arg;
    if (req->all)
        hal_tlb_invalidate_all(req->root);
    else
        hal_tlb_invalidate(req->root, req->start, req->end);
    atomic_fetch_add_explicit(&smp_cpu(arch_cpu_id())->shootdowns, 1, memory_order_relaxed);
}

static void (*_Atomic shootdown_hook)(void *);
static void *shootdown_hook_arg;

void smp_test_set_shootdown_hook(void (*fn)(void *arg), void *arg)
{
    shootdown_hook_arg = arg;
    atomic_store(&shootdown_hook, fn);
}

void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req)
{
    void (*hook)(void *) = atomic_exchange(&shootdown_hook, NULL);
    if (hook)
        hook(shootdown_hook_arg);
    smp_call_many((unsigned long)cpus, shootdown_here, (void *)req);
}

/* Every spin loop of the memory manager (and of the kernel's locks, which
 * are the same spinlock) serves the calls aimed at this CPU while it waits:
 * a CPU spinning with interrupts masked on a lock whose holder waits for
 * this CPU's acknowledgement would deadlock otherwise. */
void mm_spin_wait(void)
{
    smp_poll();
    arch_cpu_relax();
}

_Noreturn void smp_ap_main(unsigned id)
{
    cpu_t *me = smp_cpu(id);
    if (arch_cpu_id() != id)
        panic("cpu %u started, but arch_cpu_id says %u", id, arch_cpu_id());
    /* The same root as the start-up code loaded, now recorded per CPU: the
     * memory manager knows what this CPU may cache. */
    kernel_switch_context(mm_kernel_context());
    atomic_store(&me->online, true);
    atomic_fetch_add(&cpus_online, 1);
    for (;;) {
        smp_poll();
        smp_work_fn_t work = atomic_load_explicit(&me->work, memory_order_acquire);
        if (work) {
            work(me->work_arg);
            atomic_store_explicit(&me->work, NULL, memory_order_release);
            continue;
        }
        if (proc_schedule()) /* user threads (kernel/process.h) */
            continue;
        proc_idle_wait();
    }
}

void smp_init(unsigned max_cpus)
{
    if (max_cpus == 0 || max_cpus > SMP_MAX_CPUS)
        max_cpus = SMP_MAX_CPUS;
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        cpus[i].id = i;
    atomic_store(&cpus[0].online, true);
    unsigned started = arch_smp_start(max_cpus, smp_ap_main);
    while (smp_cpu_count() < started)
        ;
    printk("kmm: %u CPU%s online\n", started, started == 1 ? "" : "s");
}
