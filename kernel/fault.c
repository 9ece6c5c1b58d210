/* kernel/fault.c - the generic fault path (STYLE 11): the arch decodes;
 * here the memory manager gets the first word on user-half addresses, then
 * the exception table, then a readable report and a panic. */
#include "kernel/fault.h"

#include "kernel/arch.h"
#include "kernel/panic.h"
#include "kernel/kstack.h"
#include "kernel/printk.h"
#include "kernel/process.h"
#include "kernel/ptwalk.h"
#include "mm/paging.h"

kernel_fault_stats_t kernel_fault_stats;
bool kernel_fault_verbose;

static const char *access_name(hal_access_t a)
{
    return a == HAL_ACCESS_WRITE ? "write" : a == HAL_ACCESS_EXEC ? "instruction fetch" : "read";
}

/* Prints what is known about the fault: the record, the registers and the
 * walk of the address through the active tables. */
static void fault_report(const hal_fault_t *f, void *regs, const char *why)
{
    printk("  %s\n", why);
    printk("  address %016lx: %s in %s mode, %s\n", (unsigned long)f->addr, access_name(f->access),
           f->user_mode ? "user" : "kernel",
           f->present > 0 ? "page present" : f->present == 0 ? "page not present" : "presence not reported");
    printk("  ip %016lx\n", (unsigned long)f->ip);
    arch_dump_regs(regs);
    if (kernel_geometry && hal_is_canonical(kernel_geometry, f->addr))
        pt_print_path(hal_mmu_active_root(), kernel_geometry, f->addr);
    else
        printk("  address is not canonical: no walk\n");
}

static bool try_fixup(const hal_fault_t *f, void *regs, const char *why)
{
    ptr_t fixup = extable_lookup(f->ip);
    if (!fixup && f->access == HAL_ACCESS_EXEC)
        fixup = arch_exec_probe_fixup(f->ip);
    if (!fixup)
        return false;
    kernel_fault_stats.fixups++;
    if (kernel_fault_verbose && !kernel_panicking) {
        printk("fault caught by the exception table (resuming at %016lx):\n", (unsigned long)fixup);
        fault_report(f, regs, why);
    }
    arch_regs_set_ip(regs, fixup);
    return true;
}

_Noreturn static void fault_panic(const hal_fault_t *f, void *regs, const char *why)
{
    if (kernel_panicking) {
        printk("PANIC: fault during panic at ip %016lx, address %016lx\n", (unsigned long)f->ip, (unsigned long)f->addr);
        arch_exit(1);
    }
    kernel_panicking = true;
    printk("PANIC: unresolved page fault\n");
    fault_report(f, regs, why);
    arch_exit(1);
}

bool kernel_handle_fault(const hal_fault_t *f, void *regs)
{
    /* First, before anything under the direct map: a kernel address that
     * another CPU's break-before-make window has made invalid for a while
     * (mm/paging.h); the access is retried once the window has closed. */
    if (!f->user_mode && f->present <= 0 && kernel_geometry && !hal_is_user_addr(kernel_geometry, f->addr) &&
        !kernel_panicking && mm_break_window_retry(f->addr)) {
        kernel_fault_stats.break_window_retries++;
        return true;
    }
    kernel_fault_stats.page_faults++;
    kernel_fault_stats.last = *f;
    kernel_fault_stats.last_was_page_fault = true;

    const hal_geometry_t *g = kernel_geometry;
    mm_context_t *current_context = g ? mm_active_context() : NULL;
    const char *why;
    if (g && !hal_is_canonical(g, f->addr)) {
        why = "non-canonical address";
    } else if (current_context && g && hal_is_user_addr(g, f->addr) && !kernel_panicking) {
        int rc = mm_handle_fault(current_context, f);
        if (rc == 0) {
            kernel_fault_stats.mm_resolved++;
            return true;
        }
        why = rc == -ENOMEM ? "the memory manager ran out of memory resolving the fault"
                            : "the memory manager refused the access (no vmap or handler resolves it)";
    } else if (g && hal_is_user_addr(g, f->addr)) {
        why = "user address before the memory manager runs";
    } else if (!f->user_mode && kstack_guard_hit(f->addr)) {
        why = "kernel stack overflow: a process's kernel stack ran into its guard page";
    } else {
        why = f->present == 0 ? "nothing is mapped at this kernel address"
                              : "the kernel mapping does not allow this access";
    }
    if (f->user_mode) {
        if (proc_current())
            proc_kill_current(f->addr, f->access, f->ip, why);
        return false;
    }
    if (try_fixup(f, regs, why))
        return true;
    fault_panic(f, regs, why);
}

void kernel_fault_refused(const hal_fault_t *f, void *regs, const char *why)
{
    kernel_fault_stats.page_faults++;
    kernel_fault_stats.last = *f;
    kernel_fault_stats.last_was_page_fault = true;
    if (f->user_mode && proc_current())
        proc_kill_current(f->addr, f->access, f->ip, why);
    if (!f->user_mode && try_fixup(f, regs, why))
        return;
    fault_panic(f, regs, why);
}

void kernel_trap_refused(void *regs, ptr_t ip, const char *what)
{
    kernel_fault_stats.other_traps++;
    kernel_fault_stats.last_was_page_fault = false;
    if (arch_regs_user_mode(regs) && proc_current() && !kernel_panicking)
        proc_kill_current(0, 0, ip, what);
    ptr_t fixup = extable_lookup(ip);
    if (fixup && !kernel_panicking) {
        kernel_fault_stats.fixups++;
        if (kernel_fault_verbose) {
            printk("trap caught by the exception table: %s at %016lx\n", what, (unsigned long)ip);
            arch_dump_regs(regs);
        }
        arch_regs_set_ip(regs, fixup);
        return;
    }
    if (kernel_panicking) {
        printk("PANIC: %s during panic at ip %016lx\n", what, (unsigned long)ip);
        arch_exit(1);
    }
    kernel_panicking = true;
    printk("PANIC: %s\n  ip %016lx\n", what, (unsigned long)ip);
    arch_dump_regs(regs);
    arch_exit(1);
}
