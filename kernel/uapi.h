/* kernel/uapi.h - the system-call ABI shared by the kernel and the user
 * programs (tests/user/): call numbers, flags, error numbers, the wait
 * status and the fixed user address-space layout. Plain constants only, so
 * that a freestanding user program can include it.
 *
 * Calling convention: the call number and up to four arguments in
 * registers (x86_64: rax; rdi, rsi, rdx, r10, then `int $0x80`; riscv64:
 * a7; a0..a3, then `ecall`); the result comes back in rax / a0: a value >= 0,
 * or -errno. */
#pragma once

#include <stdint.h>

enum {
    SYS_EXIT = 0,     /* exit(status): never returns */
    SYS_WRITE = 1,    /* write(fd 1 or 2, buf, len): bytes written or -EBADF/-EFAULT */
    SYS_FORK = 2,     /* fork(): child pid in the parent, 0 in the child, -ENOMEM */
    SYS_WAIT = 3,     /* wait(int *status or 0): pid of a reaped child, -ECHILD, -EFAULT */
    SYS_GETPID = 4,   /* getpid() */
    SYS_MMAP = 5,     /* mmap(addr, len, prot, flags): address or -EINVAL/-EEXIST/-ENOMEM */
    SYS_MUNMAP = 6,   /* munmap(addr, len): 0 or -EINVAL/-ENOMEM */
    SYS_MPROTECT = 7, /* mprotect(addr, len, prot): 0 or -EINVAL/-ENOMEM */
    SYS_YIELD = 8,    /* yield(): 0 once the other runnable processes had a turn */
    SYS_MEMINFO = 9,  /* meminfo(struct kmm_meminfo *): 0 or -EFAULT */
    /* Threads share the caller's address space (several CPUs run it at once). */
    SYS_THREAD_CREATE = 10, /* thread_create(entry, stack_top, arg): thread id (> 0) or -EINVAL/-ENOMEM/-EAGAIN;
                               the thread starts at entry(arg) on stack_top; returning from entry is not allowed */
    SYS_THREAD_EXIT = 11,   /* thread_exit(code): ends the calling thread; the last thread ends the process */
    SYS_THREAD_JOIN = 12,   /* thread_join(tid, int *code or 0): 0 once the thread ended, -ESRCH/-EINVAL/-EFAULT */
    SYS_GETCPU = 13,        /* getcpu(): the CPU the caller runs on (tests) */
    SYS_COUNT
};

/* mmap / mprotect protections: PROT_READ is required; WRITE with EXEC is
 * refused (-EINVAL): no user mapping is ever writable and executable. */
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4

/* mmap flags: exactly one of PRIVATE (copy-on-write after fork) and SHARED
 * (the same frames in parent and child); FIXED maps exactly at addr (-EEXIST
 * if taken), otherwise addr is a hint (0: USER_MMAP_BASE). */
#define MAP_PRIVATE 0x1
#define MAP_SHARED 0x2
#define MAP_FIXED 0x4

/* Wait status: the exit code (0..255), or WAIT_KILLED with the access that
 * was refused (1 read, 2 write, 4 instruction fetch; 0 for a trap that was
 * not a page fault, such as x86 #GP). */
#define WAIT_KILLED 0x100
#define WAIT_ACCESS_MASK 0x7
#define WAIT_EXITED(s) (((s)&WAIT_KILLED) == 0)
#define WAIT_EXIT_CODE(s) ((s)&0xff)

/* The user address-space layout the loader builds. */
#define USER_TEXT_BASE 0x400000ul      /* programs are linked here */
#define USER_MMAP_BASE 0x10000000ul    /* where mmap hints start */
#define USER_STACK_TOP 0x40000000ul    /* stack: [TOP - PAGES * 4096, TOP) */
#define USER_STACK_PAGES 16ul          /* with one unmapped guard page below */
#define USER_PAGE_SIZE 4096ul

/* What meminfo reports. */
struct kmm_meminfo {
    uint64_t free_frames;  /* frames the allocator has free now */
    uint64_t total_frames; /* frames it manages */
    uint64_t user_end;     /* first address above the user half (geometry) */
    uint64_t kernel_text;  /* a mapped kernel text address (to prove it is out of reach) */
    uint64_t kernel_data;  /* a mapped kernel data address */
    uint64_t cow_copies;   /* copy-on-write copies since boot */
    uint64_t cow_reuses;   /* copy-on-write faults resolved without a copy */
    uint64_t processes;    /* live processes (zombies included) */
    uint64_t preemptions;  /* time slices ended by the timer since boot */
    uint64_t switches;     /* switches of the scheduler to a process since boot */
    uint64_t faults;       /* page faults the memory manager resolved since boot (user
                              and kernel mode: copy_to_user into a copy-on-write page counts) */
    uint64_t cycle_hz;     /* rate of the cycle counter user code may read, 0 if none:
                              x86_64 rdtsc (CR4.TSD is kept clear), calibrated against
                              the PIT on the first call (~0.15 s); riscv64 rdtime
                              (scounteren.TM set), the device tree's timebase-frequency */
    uint64_t cpus;         /* CPUs online: the scheduler runs threads on each of them */
};

/* Error numbers (Linux values), returned negated. */
#ifndef EPERM
#define EPERM 1
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EBADF
#define EBADF 9
#endif
#ifndef ECHILD
#define ECHILD 10
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EFAULT
#define EFAULT 14
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOSYS
#define ENOSYS 38
#endif
#ifndef ESRCH
#define ESRCH 3
#endif
#ifndef EAGAIN
#define EAGAIN 11
#endif
