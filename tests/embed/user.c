/* tests/embed/user.c - the user program of the embedding kernel, run in
 * U-mode on a kmm context. Compiled into the kernel image (embed.ld puts
 * this file's code and constants in a page-aligned block the kernel copies
 * to USER_TEXT; -mcmodel=medany addresses everything PC-relative, and the
 * program has no writable globals, jump tables nor pointer tables, so it
 * runs where it is copied). Everything it learns it reports with
 * SYS_CHECK; the kernel prints the results. */
#include "usys.h"

typedef unsigned long ulong;

static long sys(long n, long a0, long a1)
{
    register long r0 __asm__("a0") = a0;
    register long r1 __asm__("a1") = a1;
    register long r7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(r0) : "r"(r1), "r"(r7) : "memory");
    return r0;
}

static void check(int ok, const char *name) { sys(SYS_CHECK, ok, (long)name); }

#define PAGE 4096

/* trampoline: an address the kernel keeps mapped, supervisor-only, in
 * every user root (its trampoline page). */
__attribute__((noreturn, used)) void user_main(ulong trampoline);
__attribute__((noreturn, used)) void user_main(ulong trampoline)
{
    /* sbrk: 4 pages, nothing allocated until touched; every touch is a
     * fault the kernel resolves through mm_handle_fault. */
    volatile char *heap = (volatile char *)sys(SYS_SBRK, 4, 0);
    long f0 = sys(SYS_FAULTS, 0, 0);
    int ok = heap[0] == 0 && heap[3 * PAGE + 100] == 0; /* reads: the zero page */
    for (int i = 0; i < 4; i++)
        heap[i * PAGE] = (char)('A' + i);
    for (int i = 0; i < 4; i++)
        ok = ok && heap[i * PAGE] == 'A' + i && heap[i * PAGE + 1] == 0;
    /* two reads (zero page), four writes (a frame each, the zero page's two copied) */
    check(ok && sys(SYS_FAULTS, 0, 0) - f0 == 6, "user_heap_faults_in_zero_pages_then_private_ones");

    long pid = sys(SYS_FORK, 0, 0);
    if (pid == 0) {
        /* The child runs when the parent waits: the parent's write after the
         * fork is not visible here, the untouched page is. */
        ok = heap[0] == 'A' && heap[PAGE] == 'B';
        heap[PAGE] = 'c';
        ok = ok && heap[PAGE] == 'c' && heap[0] == 'A';
        check(ok, "child_sees_the_bytes_of_the_fork_and_writes_its_own_copy");
        sys(SYS_EXIT, ok ? 42 : 1, 0);
    }
    heap[0] = 'p'; /* copy-on-write: the child still shares the page */
    long st = sys(SYS_WAIT, 0, 0);
    check(pid > 0 && st == 42 && heap[0] == 'p' && heap[PAGE] == 'B' && heap[2 * PAGE] == 'C',
          "parent_keeps_its_bytes_after_both_wrote_shared_pages");

    /* System calls with bad pointers: an error, nothing printed. */
    static const char hello[] = "hello from user mode\n";
    long good = sys(SYS_WRITE, (long)hello, sizeof hello - 1);
    long bad0 = sys(SYS_WRITE, 0, 1);
    long badk = sys(SYS_WRITE, (long)trampoline, 8);         /* mapped, but the kernel's */
    long badh = sys(SYS_WRITE, (long)(heap + 4 * PAGE), 1);  /* past the break */
    long badx = sys(SYS_WRITE, (long)(heap + 4 * PAGE - 2), 4); /* runs past the break */
    check(good == sizeof hello - 1 && bad0 < 0 && badk < 0 && badh < 0 && badx < 0 && bad0 == badk &&
              bad0 == badh && bad0 == badx,
          "bad_pointers_given_to_a_system_call_return_an_error");

    /* Wild accesses kill the process that makes them, and only it. */
    if (sys(SYS_FORK, 0, 0) == 0) {
        *(volatile long *)0x7fff0000ul = 1; /* no vmap there */
        sys(SYS_EXIT, 0, 0);
    }
    long st1 = sys(SYS_WAIT, 0, 0);
    if (sys(SYS_FORK, 0, 0) == 0) {
        (void)*(volatile long *)trampoline; /* supervisor-only */
        sys(SYS_EXIT, 0, 0);
    }
    long st2 = sys(SYS_WAIT, 0, 0);
    check(st1 == EK_KILLED && st2 == EK_KILLED && heap[0] == 'p', "wild_accesses_kill_the_process");
    sys(SYS_EXIT, 0, 0);
    for (;;)
        ;
}
