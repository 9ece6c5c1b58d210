/* tests/embed/usys.h - the system calls of the embedding kernel, shared by
 * the kernel (proc.c) and its user program (user.c). ecall with the number
 * in a7, arguments in a0..a2, the result in a0 (negative: this kernel's
 * -EFAULT / -ENOMEM ... of ekernel.h). */
#pragma once

#define SYS_WRITE 1  /* (buf, len): prints len bytes copied in through physical addresses; len or -EFAULT */
#define SYS_SBRK 2   /* (pages): grows the heap, zero-filled on demand; the old break or -ENOMEM */
#define SYS_FORK 3   /* (): the child's pid to the parent, 0 to the child, or -ENOMEM */
#define SYS_WAIT 4   /* (): runs a child to its end, returns its exit status; -1 without children */
#define SYS_EXIT 5   /* (status) */
#define SYS_CHECK 6  /* (ok, name): one KTAP result, the name copied in; 0 or -EFAULT */
#define SYS_FAULTS 7 /* (): page faults of user mode the kernel resolved so far */

/* The status of a process the kernel killed (a wild access). */
#define EK_KILLED 137
