/* tests/user/lib/ulib.h - the runtime of the user test programs: system
 * call wrappers (kernel/uapi.h ABI), a small printf, and KTAP checks.
 *
 * A program calls t_plan(n), then t_check(cond, "name") n times, and
 * returns t_done() from main: the exit status is the number of failed
 * checks (a plan not met counts as one more), which the boot test turns
 * into its verdict. Output lines are KTAP; the kernel indents them under
 * the boot test's own result. A conversion the printf below does not know
 * is printed as `%?c` and counted, and the count is added to the process's
 * exit status (sys_exit), so a wrong format fails the test that ran it. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "kernel/uapi.h"

#define PAGE USER_PAGE_SIZE

/* Ends the process (main's return value comes here too). If uprintf met
 * unknown conversions, says how many on the console and exits with status
 * + that count (at most 255) instead. */
_Noreturn void sys_exit(int status);
static inline long sys_write(int fd, const void *buf, size_t len) { return kmm_syscall(SYS_WRITE, fd, (long)buf, (long)len, 0); }
static inline long sys_fork(void) { return kmm_syscall(SYS_FORK, 0, 0, 0, 0); }
static inline long sys_wait(int *status) { return kmm_syscall(SYS_WAIT, (long)status, 0, 0, 0); }
static inline long sys_getpid(void) { return kmm_syscall(SYS_GETPID, 0, 0, 0, 0); }
static inline long sys_mmap(uintptr_t addr, size_t len, int prot, int flags)
{
    return kmm_syscall(SYS_MMAP, (long)addr, (long)len, prot, flags);
}
static inline long sys_munmap(uintptr_t addr, size_t len) { return kmm_syscall(SYS_MUNMAP, (long)addr, (long)len, 0, 0); }
static inline long sys_mprotect(uintptr_t addr, size_t len, int prot)
{
    return kmm_syscall(SYS_MPROTECT, (long)addr, (long)len, prot, 0);
}
static inline long sys_yield(void) { return kmm_syscall(SYS_YIELD, 0, 0, 0, 0); }
static inline long sys_meminfo(struct kmm_meminfo *out) { return kmm_syscall(SYS_MEMINFO, (long)out, 0, 0, 0); }
/* Threads (kernel/uapi.h): entry(arg) runs on stack_top and must not return. */
static inline long sys_thread_create(void (*entry)(void *), uintptr_t stack_top, void *arg)
{
    return kmm_syscall(SYS_THREAD_CREATE, (long)entry, (long)stack_top, (long)arg, 0);
}
_Noreturn void sys_thread_exit(int code);
static inline long sys_thread_join(long tid, int *code) { return kmm_syscall(SYS_THREAD_JOIN, tid, (long)code, 0, 0); }
static inline long sys_getcpu(void) { return kmm_syscall(SYS_GETCPU, 0, 0, 0, 0); }

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* printf subset: conversions d i u x c s p %; length modifiers l, ll, z;
 * flags '#' (0x before a non-zero %x), '0' and '-'; a decimal width.
 * Anything else prints `%?` and the character met (`%?q` for %q) and adds
 * one to the count of unknown conversions (see sys_exit). uprintf writes
 * once per call, at most 255 bytes; usnprintf stores at most cap - 1 bytes
 * and a NUL (cap > 0) and returns the number stored. */
int uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usnprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Unknown conversions met so far by this process (a child starts with its
 * parent's count). */
int uprintf_unknown_conversions(void);

void t_plan(int n);
/* Records one KTAP result; returns cond. */
bool t_check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit status: failed checks, plus one if the plan was not met. */
int t_done(void);

/* A thread with a stack of its own (UTHREAD_STACK_PAGES pages from mmap).
 * uthread_start runs fn(arg) in a new thread, which exits with code 0 when
 * fn returns (or earlier through sys_thread_exit); returns 0, or the error
 * of mmap or thread_create with nothing kept. uthread_join waits for it,
 * stores its exit code in *code (if code is not NULL), unmaps the stack and
 * returns 0, or the error of thread_join (the stack is then kept). The
 * check functions (t_check) belong to one thread: other threads record
 * what they saw and the main thread checks it. */
#define UTHREAD_STACK_PAGES 4
typedef struct uthread {
    long tid;
    uintptr_t stack;
} uthread_t;
int uthread_start(uthread_t *t, void (*fn)(void *), void *arg);
int uthread_join(uthread_t *t, int *code);

/* Several CPUs: u_ncpus is meminfo's count of online CPUs; u_note_cpu adds
 * the caller's CPU (getcpu) to a set shared by threads or processes;
 * u_cpus_spread says whether a set proves that work ran on different CPUs:
 * two or more in it, or any at all on a one-CPU machine. */
unsigned long u_ncpus(void);
void u_note_cpu(volatile unsigned long *set);
bool u_cpus_spread(unsigned long set);
int u_popcount(unsigned long v);
/* Waits (yielding, so that one CPU runs the others meanwhile) until
 * *v >= want; false after U_AWAIT_BOUND yields (a count, not a time: only a
 * side that never gets there reaches it). */
#define U_AWAIT_BOUND 20000000ul
bool u_await(volatile unsigned long *v, unsigned long want);
/* A barrier that also spreads: adds one to *count, then waits (noting its
 * CPU in *cpus and yielding) until *count >= n and, on several CPUs, *cpus
 * holds two or more: the parties then run on different CPUs (a CPU that
 * idled takes the threads that yield meanwhile). false after U_AWAIT_BOUND
 * rounds. */
bool u_gather(volatile unsigned long *count, unsigned long n, volatile unsigned long *cpus);
/* Atomic add on a word shared by threads or processes (returns the new value). */
static inline unsigned long u_add(volatile unsigned long *v, unsigned long n)
{
    return __atomic_add_fetch(v, n, __ATOMIC_SEQ_CST);
}

/* Runs fn(arg) in a forked child that exits 0 if fn returns; returns the
 * child's wait status, or a negative error if fork or wait failed. */
int t_in_child(void (*fn)(void *), void *arg);
/* Wait status of a child killed for `access` (1 read, 2 write, 4 exec). */
#define KILLED_BY(access) (WAIT_KILLED | (access))
