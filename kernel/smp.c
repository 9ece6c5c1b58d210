/* kernel/smp.c - the CPU table, start-up of the other CPUs and cross-CPU
 * calls (contracts in kernel/smp.h). */
#include "kernel/smp.h"

#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "mm/platform.h"

static cpu_t cpus[SMP_MAX_CPUS];
static _Atomic unsigned cpus_online = 1;

cpu_t *smp_cpu(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("cpu id %u out of range (max %u)", id, SMP_MAX_CPUS);
    return &cpus[id];
}

unsigned smp_cpu_id(void) { return arch_cpu_id(); }

unsigned smp_cpu_count(void) { return atomic_load(&cpus_online); }

void smp_poll(void)
{
    cpu_t *me = &cpus[arch_cpu_id()];
    unsigned seq = atomic_load_explicit(&me->seq, memory_order_acquire);
    /* Nothing pending, or the call this CPU is running already (it waits
     * for another CPU, so it polls too): never run a call twice. */
    if (seq == atomic_load_explicit(&me->done, memory_order_relaxed) || seq == me->running)
        return;
    me->running = seq;
    me->fn(me->arg);
    atomic_fetch_add_explicit(&me->calls, 1, memory_order_relaxed);
    atomic_store_explicit(&me->done, seq, memory_order_release);
}

void kernel_ipi(void)
{
    atomic_fetch_add_explicit(&cpus[arch_cpu_id()].ipis, 1, memory_order_relaxed);
    smp_poll();
}

/* Claims cpu's call slot (serving our own while it is taken), posts fn and
 * sends the IPI. Returns the sequence number to wait for. */
static unsigned post_call(unsigned cpu, smp_call_fn_t fn, void *arg)
{
    cpu_t *t = smp_cpu(cpu);
    if (!atomic_load(&t->online))
        panic("call on cpu %u, which is not online", cpu);
    unsigned expected = 0;
    while (!atomic_compare_exchange_weak_explicit(&t->busy, &expected, 1, memory_order_acquire, memory_order_relaxed)) {
        expected = 0;
        smp_poll();
    }
    t->fn = fn;
    t->arg = arg;
    unsigned seq = atomic_load_explicit(&t->seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&t->seq, seq, memory_order_release);
    arch_ipi_send(cpu);
    return seq;
}

/* Waits (serving our own calls) until cpu has run call seq, frees its slot. */
static void finish_call(unsigned cpu, unsigned seq)
{
    cpu_t *t = smp_cpu(cpu);
    while (atomic_load_explicit(&t->done, memory_order_acquire) != seq)
        smp_poll();
    atomic_store_explicit(&t->busy, 0, memory_order_release);
}

void smp_call_on(unsigned cpu, smp_call_fn_t fn, void *arg)
{
    if (cpu == arch_cpu_id()) {
        fn(arg);
        return;
    }
    finish_call(cpu, post_call(cpu, fn, arg));
}

void smp_call_many(uint64_t cpus, smp_call_fn_t fn, void *arg)
{
    unsigned self = arch_cpu_id(), seq[SMP_MAX_CPUS];
    cpus &= ~((uint64_t)1 << self);
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (cpus & ((uint64_t)1 << c))
            seq[c] = post_call(c, fn, arg);
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (cpus & ((uint64_t)1 << c))
            finish_call(c, seq[c]);
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
    arch_ipi_send(cpu);
}

void smp_wait_work(unsigned cpu)
{
    while (atomic_load_explicit(&smp_cpu(cpu)->work, memory_order_acquire))
        smp_poll();
}

uint64_t smp_online_mask(void)
{
    uint64_t m = 0;
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (atomic_load_explicit(&cpus[c].online, memory_order_acquire))
            m |= (uint64_t)1 << c;
    return m;
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

void mm_tlb_shootdown(mm_cpumask_t cpus, const mm_shootdown_t *req)
{
    smp_call_many(cpus, shootdown_here, (void *)req);
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
    /* The same root as the boot code loaded, now recorded per CPU: the
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
        arch_wait_for_interrupt();
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

/* One CPU where the arch starts no others (kernel/arch.h): weak, so that the
 * arch's own definitions replace them. */
__attribute__((weak)) unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id))
{
    (void)max, (void)entry;
    return 1;
}
__attribute__((weak)) unsigned arch_cpu_id(void) { return 0; }
__attribute__((weak)) void arch_ipi_send(unsigned id) { panic("IPI to cpu %u on an arch with one CPU", id); }
__attribute__((weak)) void arch_wait_for_interrupt(void) { panic("idle on an arch with one CPU"); }
__attribute__((weak)) void arch_cpu_relax(void) {}
