/* kernel/process.h - processes, threads and the scheduler (arch-neutral).
 *
 * A process owns an address space (mm_context_t), its threads and its place
 * in the process tree. A thread owns a kernel stack whose top holds its
 * saved user registers (the arch's frame). Every CPU runs threads: one FIFO
 * run queue, and each CPU's scheduler loop (proc_run's on the CPU that
 * called it, smp_ap_main's idle loop on the others) takes the head. A
 * thread runs until it gives the CPU away (yield, a wait or join that
 * blocks, exit), is stopped, or its time slice ends (its CPU's timer
 * interrupts user mode, PROC_TIMER_HZ). The kernel itself is never
 * preempted: interrupts are only open while user code runs or a CPU idles.
 *
 * Locking: sched_lock (process.c) guards the run queue, every thread's and
 * process's state, the process tree and each process's thread list. It is
 * taken before any memory-manager lock and never while one is held; nothing
 * allocates or frees under it. A thread that gives the CPU away holds it
 * across the switch to its CPU's scheduler, which releases it: nobody can
 * resume a thread before its registers are saved. docs/design.md has the
 * whole lock order.
 *
 * A process ends when its last thread does. exit, or a fault that kills a
 * thread, ends every thread of the process: the others are flagged, woken
 * if blocked, and hurried with an IPI if they run user code on another CPU;
 * each ends at its next kernel entry (system call, timer tick, IPI) or
 * before it first runs. The address space is destroyed once the last
 * thread is off its CPU and that CPU has switched to the kernel context, so
 * no CPU runs it then. */
#pragma once

#include "kernel/kstack.h"
#include "mm/mm.h"

#ifndef ENOEXEC
#define ENOEXEC 8
#endif

/* A fork fails with -ENOMEM unless this many frames stay free after it, so
 * that the copy-on-write faults both sides take right after a fork (stack,
 * data) do not kill them: mm_clone_context_opts's reserve_frames. */
#define PROC_FORK_RESERVE_FRAMES 64
/* Time slices per second (each CPU's timer). */
#define PROC_TIMER_HZ 100
/* Threads a process may hold at once, ended ones not yet joined included
 * (thread_create beyond it: -EAGAIN). */
#define PROC_THREADS_MAX 64

typedef enum thread_state {
    THREAD_RUNNABLE, /* on the run queue */
    THREAD_RUNNING,  /* some CPU runs it (or is about to switch to it) */
    THREAD_BLOCKED,  /* in wait or join until something it waits for happens */
    THREAD_EXITING,  /* ended; still on its stack until its CPU's scheduler finishes it */
    THREAD_DEAD,     /* kernel stack gone; the record waits for join or the process's end */
} thread_state_t;

typedef enum proc_state {
    PROC_LIVE,   /* at least one thread not finished */
    PROC_ZOMBIE, /* every thread finished: address space gone, status kept for wait */
} proc_state_t;

struct process;

typedef struct thread {
    int tid;                  /* the main thread's is its process's pid */
    thread_state_t state;
    struct process *proc;
    struct thread *proc_next; /* in proc->threads */
    struct thread *run_next;  /* run queue link */
    unsigned cpu;             /* the CPU that runs it, while THREAD_RUNNING */
    bool started;             /* has run at least once */
    kstack_t kstack;          /* its kernel stack (kernel/kstack.h) */
    ptr_t kstack_top;
    void *frame;              /* saved user registers, at the top of the kernel stack */
    ptr_t ksp;                /* saved kernel stack pointer while switched out */
    int exit_code;            /* thread_exit's code, once ended */
} thread_t;

typedef struct process {
    int pid;
    proc_state_t state;
    struct process *parent;   /* NULL: the kernel reaps it */
    struct process *children; /* first child; siblings linked through sibling */
    struct process *sibling;
    mm_context_t *mm;         /* NULL once the last thread finished */
    thread_t *threads;        /* every thread record, ended ones not joined included */
    unsigned nthreads;        /* records in threads */
    unsigned live;            /* threads not finished yet */
    bool exiting;             /* exit or a kill ends every thread; status is set */
    int status;               /* wait status (kernel/uapi.h), once exiting or a zombie */
    char name[24];
} process_t;

/* The thread the calling CPU runs, or NULL in its scheduler / idle loop. */
thread_t *thread_current(void);
/* Its process, or NULL. */
process_t *proc_current(void);
/* Live processes (zombies included). */
size_t proc_count(void);
/* Time slices ended by a timer tick from user mode since boot (every CPU). */
size_t proc_preemptions(void);
/* Times a scheduler switched to a thread since boot (every CPU). */
size_t proc_switches(void);

/* A timer interrupt (the arch acknowledged it): counted for the calling
 * CPU (smp_cpu(id)->ticks); if it interrupted user code, the current
 * thread ends if its process is ending, else yields its CPU (goes to the
 * back of the run queue if another thread is waiting). */
void kernel_timer_tick(void *frame);
/* An interrupt other than the timer interrupted user code of the current
 * thread (an IPI, kernel/smp.c): the thread ends here if its process is
 * ending, else nothing happens. */
void proc_user_interrupt(void *frame);

/* Loads the embedded program `name` into a fresh process (no parent),
 * starts every online CPU's timer and runs the scheduler on the calling
 * CPU (the others run it in their idle loop) until every process has ended
 * and been reaped; then stops the timers. The kernel context is active on
 * every CPU again on return and every frame the run used is free. Returns
 * 0 with the root's wait status in *status, -ENOENT (no such program),
 * -ENOEXEC (bad image) or -ENOMEM (nothing left allocated). Boot CPU only,
 * not while a run is in progress. */
int proc_run(const char *name, int *status);
/* As proc_run, and every `every_ticks` ticks of the calling CPU's timer
 * (when it is back in its scheduler loop) calls check(arg) there at a
 * quiescent moment: no thread runs on any CPU meanwhile (running ones are
 * hurried back to the run queue with an IPI) and no CPU is finishing one,
 * so no address space changes (mm_check_invariants may run). */
int proc_run_checked(const char *name, int *status, void (*check)(void *), void *arg, unsigned every_ticks);
/* A CPU's scheduler step: runs the thread at the head of the run queue on
 * the calling CPU until it gives the CPU back (and finishes it if it
 * ended). Returns false if there was none to run. No lock held. */
bool proc_schedule(void);
/* Idles the calling CPU (arch_wait_for_interrupt) unless the run queue has
 * a thread; a thread queued meanwhile wakes one idle CPU with an IPI. */
void proc_idle_wait(void);

/* System calls of the current thread (kernel/syscall.c). */
long proc_fork(void);            /* child pid, -ENOMEM (nothing allocated) */
long proc_wait(ptr_t ustatus);   /* reaped pid, -ECHILD, -EFAULT (child kept) */
long proc_yield(void);           /* 0 */
/* A new thread of the current process at entry(arg) on stack_top (16-byte
 * aligned, a user address). Thread id, -EINVAL (bad entry or stack),
 * -ENOMEM, -EAGAIN (PROC_THREADS_MAX reached, or the process is ending);
 * nothing kept on failure. */
long proc_thread_create(ptr_t entry, ptr_t stack_top, unsigned long arg);
/* Waits until thread tid of the current process has ended, stores its code
 * at ucode (if not 0) and frees its record. 0, -EINVAL (tid is the caller),
 * -ESRCH (no such thread, or another join took it), -EFAULT (ucode not
 * writable: the thread stays joinable). */
long proc_thread_join(long tid, ptr_t ucode);
/* Ends the calling thread with code; the process ends with it if it was the
 * last (wait status: code & 0xff). */
_Noreturn void proc_thread_exit(int code);
/* Ends the whole process with wait status `status`: every other thread is
 * stopped (see above), then the calling one ends. */
_Noreturn void proc_exit(int status);
/* Called by kernel_syscall before it returns to user mode: the thread ends
 * there if its process is ending. */
void proc_syscall_return(void);

/* Kills the current process after a user fault or trap nobody resolved,
 * with a one-line report (pid, name, access and address, ip, why; access 0
 * for a trap that is not a page fault); the wait status says
 * WAIT_KILLED | access. Its other threads end too (proc_exit). */
_Noreturn void proc_kill_current(ptr_t addr, hal_access_t access, ptr_t ip, const char *why);

/* Console output of user programs starts each line with this prefix (the
 * boot tests nest a program's KTAP under theirs with four spaces). */
extern const char *proc_output_prefix;
/* Writes user output (prefix at line starts) as one piece: output of other
 * CPUs never lands inside it. */
void proc_console_write(const char *s, size_t n);

/* Dispatches the system call saved in frame (called by the arch trap path
 * for `int $0x80` / ecall from U-mode). May not return (exit). */
void kernel_syscall(void *frame);
/* System calls made since boot (every CPU). */
size_t kernel_syscall_count(void);

/* The embedded user programs (generated table, NULL name ends it). */
typedef struct user_program {
    const char *name;
    const uint8_t *start, *end;
} user_program_t;
extern const user_program_t user_programs[];

/* Maps the PT_LOAD segments of the ELF image into mm (anonymous private
 * memory, each segment with exactly its R/W/X, never W and X) and copies
 * their bytes in; mm must be active. Returns 0 with the entry point in
 * *entry, -ENOEXEC for a malformed image or a W+X segment, -ENOMEM or the
 * mapping's error; on failure mm may hold part of the image (the caller
 * destroys it). */
int elf_load(mm_context_t *mm, const uint8_t *image, size_t size, ptr_t *entry);
