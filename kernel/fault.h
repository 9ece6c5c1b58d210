/* kernel/fault.h - the generic end of the trap path: faults the memory
 * manager resolves, faults the exception table turns into -EFAULT, and the
 * report for the rest. */
#pragma once

#include <stdatomic.h>

#include "hal/hal.h"
#include "kernel/boot.h"    /* kernel_geometry */
#include "kernel/context.h" /* kernel_current_context, kernel_switch_context */
#include "mm/mm.h"

/* A decoded page fault from the arch trap path. Asks the memory manager
 * (user-half addresses, once it runs) to resolve it; else, for a kernel-mode
 * access, resumes at the exception-table fixup of f->ip; else stops the
 * kernel with a report. Returns true if the access may resume (retried or
 * fixed up), false for a user-mode fault nobody resolved outside any
 * process; inside one, that process is killed (proc_kill_current) and the
 * call does not return. */
bool kernel_handle_fault(const hal_fault_t *f, void *regs);
/* A page fault the arch knows must not be resolved (SMAP/SMEP violation,
 * reserved bits): kills the current process for a user-mode fault, else a
 * fixup from the exception table, or a report and panic. */
void kernel_fault_refused(const hal_fault_t *f, void *regs, const char *why);
/* A trap that is not a page fault (#GP, invalid opcode...): kills the
 * current process if it came from user mode, else fixup or panic. */
void kernel_trap_refused(void *regs, ptr_t ip, const char *what);

/* The fault path's record, for tests and the demo. The counters are
 * atomics (every CPU faults at once); `last` and `last_was_page_fault` are
 * the last fault of any CPU, meaningful to a test only while no other CPU
 * faults. */
typedef struct kernel_fault_stats {
    _Atomic size_t page_faults;   /* page faults seen */
    _Atomic size_t mm_resolved;   /* resolved by mm_handle_fault */
    _Atomic size_t fixups;        /* resumed at an exception-table fixup */
    _Atomic size_t other_traps;   /* traps that were not page faults */
    _Atomic size_t break_window_retries; /* kernel faults retried after a break window (not counted above) */
    hal_fault_t last;             /* the last page fault */
    bool last_was_page_fault;     /* false when the last fixed-up trap was not a #PF */
} kernel_fault_stats_t;
extern kernel_fault_stats_t kernel_fault_stats;
/* When true, a fault resolved through a fixup is reported too (the demo). */
extern bool kernel_fault_verbose;

/* Exception table: the fixup address for a faulting instruction, or 0. */
ptr_t extable_lookup(ptr_t ip);
