/* kernel/process.h - processes and the scheduler (arch-neutral).
 *
 * A process owns an address space (mm_context_t), a kernel stack whose top
 * holds its saved user registers (the arch's frame), and its place in the
 * process tree. Scheduling is round robin over a FIFO run queue: a process
 * runs until it gives the CPU away (yield, a wait that blocks, exit), is
 * killed, or its time slice ends (a timer interrupt from user mode,
 * PROC_TIMER_HZ). The kernel itself is never preempted: interrupts are only
 * open while user code runs. One CPU. */
#pragma once

#include "kernel/kstack.h"
#include "mm/mm.h"

#ifndef ENOEXEC
#define ENOEXEC 8
#endif

/* A fork fails with -ENOMEM unless this many frames stay free after it, so
 * that the copy-on-write faults both sides take right after a fork (stack,
 * data) do not kill them. */
#define PROC_FORK_RESERVE_FRAMES 64
/* Time slices per second. */
#define PROC_TIMER_HZ 100

typedef enum proc_state {
    PROC_RUNNABLE, /* on the run queue */
    PROC_RUNNING,  /* the current process */
    PROC_WAITING,  /* blocked in wait until a child exits */
    PROC_ZOMBIE,   /* exited: address space gone, status kept for wait */
} proc_state_t;

typedef struct process {
    int pid;
    proc_state_t state;
    struct process *parent;   /* NULL: the kernel reaps it */
    struct process *children; /* first child; siblings linked through sibling */
    struct process *sibling;
    struct process *run_next; /* run queue link */
    mm_context_t *mm;         /* NULL once exited */
    kstack_t kstack;          /* its kernel stack (kernel/kstack.h) */
    ptr_t kstack_top;
    void *frame;              /* saved user registers, at the top of the kernel stack */
    ptr_t ksp;                /* saved kernel stack pointer while switched out */
    int status;               /* wait status once a zombie (kernel/uapi.h) */
    char name[24];
} process_t;

/* The running process, or NULL in the scheduler / outside user mode. */
process_t *proc_current(void);
/* Live processes (zombies included). */
size_t proc_count(void);
/* Processes sent to the back of the run queue by the timer since boot. */
size_t proc_preemptions(void);
/* Times the scheduler switched to a process since boot. */
size_t proc_switches(void);

/* A timer interrupt (the arch acknowledged it): counted for the calling
 * CPU (smp_cpu(id)->ticks); if it interrupted user code, the current
 * process goes to the back of the run queue. */
void kernel_timer_tick(void *frame);

/* Loads the embedded program `name` into a fresh process (no parent) and
 * runs the scheduler until every process has exited and been reaped. The
 * kernel context is active again on return. Returns 0 with the root's wait
 * status in *status, -ENOENT (no such program), -ENOEXEC (bad image) or
 * -ENOMEM (nothing left allocated). */
int proc_run(const char *name, int *status);

/* System calls of the current process (kernel/syscall.c). */
long proc_fork(void);            /* child pid, -ENOMEM (nothing allocated) */
long proc_wait(ptr_t ustatus);   /* reaped pid, -ECHILD, -EFAULT (child kept) */
long proc_yield(void);           /* 0 */
_Noreturn void proc_exit(int status);

/* Kills the current process after a user fault or trap nobody resolved,
 * with a one-line report (pid, name, access and address, ip, why; access 0
 * for a trap that is not a page fault); the wait status says
 * WAIT_KILLED | access. */
_Noreturn void proc_kill_current(ptr_t addr, hal_access_t access, ptr_t ip, const char *why);

/* Console output of user programs starts each line with this prefix (the
 * boot tests nest a program's KTAP under theirs with four spaces). */
extern const char *proc_output_prefix;
/* Writes user output (prefix at line starts). */
void proc_console_write(const char *s, size_t n);

/* Dispatches the system call saved in frame (called by the arch trap path
 * for `int $0x80` / ecall from U-mode). May not return (exit). */
void kernel_syscall(void *frame);

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
