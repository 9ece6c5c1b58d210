/* kernel/smp.h - several CPUs in the test kernel: the CPU table, start-up
 * and cross-CPU calls. The arch part (kernel/arch.h, "Several CPUs") starts
 * the CPUs and delivers IPIs; everything else is here.
 *
 * The kernel runs with interrupts masked, so an IPI only interrupts a CPU
 * that runs user code or idles. A CPU that waits for another one in kernel
 * mode (a cross-CPU call, a lock, an acknowledgement) therefore keeps
 * serving the calls aimed at itself by polling (smp_poll): two CPUs that
 * call each other at once, or one that spins on a lock whose holder waits
 * for it, both finish. That is the deadlock rule every wait loop keeps.
 *
 * A call is a request record on the caller's stack, pushed onto the
 * target's list of pending requests (any number of callers at once, calls
 * made from inside a call included); the target takes them one by one,
 * runs them and marks each done, and the caller, polling meanwhile, returns
 * when its records are done. */
#pragma once

#include "mm/types.h"
#include <stdatomic.h>

#define SMP_MAX_CPUS 8
_Static_assert(SMP_MAX_CPUS <= 64, "a CPU mask is one unsigned long");

typedef void (*smp_call_fn_t)(void *arg);
typedef void (*smp_work_fn_t)(void *arg);

/* One cross-CPU request (smp.c makes them on the caller's stack). */
typedef struct smp_call {
    smp_call_fn_t fn;
    void *arg;
    struct smp_call *next; /* in the target's pending list */
    _Atomic bool done;     /* set by the target once fn has returned */
} smp_call_t;

typedef struct cpu {
    unsigned id;                       /* 0 .. smp_cpu_count() - 1; 0 is the boot CPU */
    unsigned long hwid;                /* the arch's name for it: local APIC id, hart id */
    _Atomic bool online;               /* reached smp_ap_main (always true for CPU 0) */
    _Atomic(smp_call_t *) pending;     /* requests aimed at this CPU, newest first */
    _Atomic unsigned long ipis;        /* IPIs this CPU handled (tests, statistics) */
    _Atomic unsigned long calls;       /* cross-CPU calls this CPU ran */
    _Atomic unsigned long ticks;       /* timer interrupts it took (kernel_timer_tick counts them) */
    _Atomic unsigned long shootdowns;  /* TLB shootdowns it carried out for other CPUs */
    _Atomic(smp_work_fn_t) work;       /* work an idle CPU runs outside any call (smp_start_work), or NULL */
    void *work_arg;
} cpu_t;

/* The CPU table entry of id (id < SMP_MAX_CPUS; panics otherwise). */
cpu_t *smp_cpu(unsigned id);
/* The calling CPU's id (arch_cpu_id). */
unsigned smp_cpu_id(void);
/* CPUs online, the boot CPU included (1 before smp_init). */
unsigned smp_cpu_count(void);
/* The online CPUs as a mask (bit id). */
unsigned long smp_online_mask(void);

/* Boot CPU, once, after the kernel context is active: starts up to
 * max_cpus - 1 further CPUs (command line `smp=N` caps it; 0 means all the
 * firmware reports, at most SMP_MAX_CPUS) and returns when each of them is
 * online and idle. */
void smp_init(unsigned max_cpus);

/* Runs fn(arg) on CPU `cpu` and returns once it has run there (on the
 * calling CPU itself: runs it directly). While waiting, serves the calls
 * aimed at the calling CPU. fn runs with interrupts masked; it may itself
 * wait on other CPUs (polling, as every wait does) but must not block
 * otherwise. Panics if the CPU is not online. */
void smp_call_on(unsigned cpu, smp_call_fn_t fn, void *arg);
/* Runs fn(arg) on every CPU of mask (bit id; the calling CPU too if its bit
 * is set, directly, after the requests to the others are sent) and returns
 * once it has run on all of them; the same rules as smp_call_on. One
 * request per CPU, sent together: a shootdown's shape. */
void smp_call_many(unsigned long mask, smp_call_fn_t fn, void *arg);
/* Starts fn(arg) on the idle CPU `cpu` (not the calling one) as work of
 * its own, outside the call machinery: it may run for long, and it serves
 * the calls aimed at its CPU by calling smp_poll in its loops. Waits first
 * for earlier work there to end. */
void smp_start_work(unsigned cpu, smp_work_fn_t fn, void *arg);
/* Waits, serving calls, until the work started on cpu has returned. */
void smp_wait_work(unsigned cpu);
/* Tests: runs fn(arg) once, at the start of the next TLB shootdown, after the
 * operation changed the tables and before any other CPU invalidated: the
 * window in which other CPUs still hold the old translations. */
void smp_test_set_shootdown_hook(void (*fn)(void *arg), void *arg);
/* Serves the calls pending for the calling CPU, if any. Every loop that
 * waits on another CPU in kernel mode calls it. */
void smp_poll(void);

/* Entry of every CPU but the boot one (the arch calls it on the CPU's own
 * stack, traps installed, kernel context active, interrupts masked). Its
 * idle loop serves calls, runs work, runs user threads from the run queue
 * (proc_schedule) and idles (proc_idle_wait), again. */
_Noreturn void smp_ap_main(unsigned id);
/* The arch's IPI handler calls this with the interrupted frame (interrupts
 * masked, the interrupt already acknowledged: it may not return when it
 * interrupted a thread of an ending process, proc_user_interrupt). */
void kernel_ipi(void *frame);
