/* kernel/smp.h - several CPUs in the test kernel: the CPU table, start-up
 * and cross-CPU calls. The arch part (kernel/arch.h, "Several CPUs") starts
 * the CPUs and delivers IPIs; everything else is here.
 *
 * The kernel runs with interrupts masked, so an IPI only interrupts a CPU
 * that runs user code or idles. A CPU that waits for another one in kernel
 * mode (a cross-CPU call, a lock, an acknowledgement) therefore keeps
 * serving the calls aimed at itself by polling (smp_poll): two CPUs that
 * call each other at once, or one that spins on a lock whose holder waits
 * for it, both finish. That is the deadlock rule every wait loop keeps. */
#pragma once

#include "mm/types.h"
#include <stdatomic.h>

#define SMP_MAX_CPUS 8

typedef void (*smp_call_fn_t)(void *arg);
typedef void (*smp_work_fn_t)(void *arg);

typedef struct cpu {
    unsigned id;                 /* 0 .. smp_cpu_count() - 1; 0 is the boot CPU */
    unsigned long hwid;          /* the arch's name for it: local APIC id, hart id */
    _Atomic bool online;         /* reached smp_ap_main (always true for CPU 0) */
    /* One pending cross-CPU call: a caller owns the slot from claiming
     * `busy` until it has seen `done` equal to its `seq`. */
    _Atomic unsigned busy;
    _Atomic unsigned seq;
    _Atomic unsigned done;
    smp_call_fn_t fn;
    void *arg;
    unsigned running;            /* seq of the call this CPU started (written by it alone) */
    _Atomic unsigned long ipis;  /* IPIs this CPU handled (tests, statistics) */
    _Atomic unsigned long calls; /* cross-CPU calls this CPU ran */
    _Atomic unsigned long shootdowns; /* TLB shootdowns this CPU carried out for others */
    /* Work an idle CPU runs outside any call (smp_start_work), or NULL. */
    _Atomic smp_work_fn_t work;
    void *work_arg;
} cpu_t;

/* The CPU table entry of id (id < SMP_MAX_CPUS). */
cpu_t *smp_cpu(unsigned id);
/* The calling CPU's id (arch_cpu_id). */
unsigned smp_cpu_id(void);
/* CPUs online, the boot CPU included (1 before smp_init). */
unsigned smp_cpu_count(void);

/* Boot CPU, once, after the kernel context is active: starts up to
 * max_cpus - 1 further CPUs (command line `smp=N` caps it; 0 means all the
 * firmware reports) and returns when each of them is online and idle. */
void smp_init(unsigned max_cpus);

/* Runs fn(arg) on CPU `cpu` and returns once it has run there (on the
 * calling CPU itself: runs it directly). While waiting, serves the calls
 * aimed at the calling CPU. fn runs with interrupts masked and must not
 * block; it may itself call smp_call_on (it waits polling, as every
 * caller does). */
void smp_call_on(unsigned cpu, smp_call_fn_t fn, void *arg);
/* As smp_call_on for every CPU in the mask (bit i: CPU i; the calling CPU
 * is left out): posts to all of them first, then waits for each. */
void smp_call_many(uint64_t cpus, smp_call_fn_t fn, void *arg);
/* Starts fn(arg) on the idle CPU `cpu` (not the calling one) as work of
 * its own, outside the call machinery: it may run for long, and it serves
 * the calls aimed at its CPU by calling smp_poll in its loops. Waits first
 * for earlier work there to end. */
void smp_start_work(unsigned cpu, smp_work_fn_t fn, void *arg);
/* Waits, serving calls, until the work started on cpu has returned. */
void smp_wait_work(unsigned cpu);
/* The CPUs online as a mask (bit i: CPU i). */
uint64_t smp_online_mask(void);
/* Serves a call pending for the calling CPU, if any. Every loop that waits
 * on another CPU in kernel mode calls it. */
void smp_poll(void);

/* Entry of every CPU but the boot one (the arch calls it on the CPU's own
 * stack, traps installed, kernel context active, interrupts masked). */
_Noreturn void smp_ap_main(unsigned id);
/* The arch's IPI handler calls this (interrupts masked). */
void kernel_ipi(void);
