/* kernel/panic.c - panic, and the platform services the generic memory
 * manager needs from the kernel (mm/platform.h). */
#include "kernel/panic.h"

#include <stdarg.h>
#include <stdatomic.h>

#include "kernel/arch.h"
#include "kernel/printk.h"
#include "mm/platform.h"

bool kernel_panicking;
ptr_t kernel_direct_map_base;

/* The CPU whose panic reports (id + 1), 0 before any. */
static _Atomic unsigned panic_cpu;

_Noreturn static void vpanic(const char *func, const char *fmt, va_list ap)
{
    unsigned me = arch_cpu_id() + 1, none = 0;
    if (!atomic_compare_exchange_strong(&panic_cpu, &none, me) && none != me)
        arch_halt(); /* another CPU reports and ends the run: its report stays whole */
    if (kernel_panicking) {
        printk("PANIC (nested) in %s\n", func);
        arch_exit(1);
    }
    kernel_panicking = true;
    printk("PANIC in %s: ", func);
    vprintk(fmt, ap);
    printk("\n");
    arch_exit(1);
}

_Noreturn void panic_at(const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(func, fmt, ap);
}

_Noreturn void mm_panic_at(const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(func, fmt, ap);
}

void *mm_phys_to_virt(uint64_t paddr) { return (void *)(kernel_direct_map_base + (ptr_t)paddr); }

/* The CPU: the kernel is not preempted, so a lock is held by a CPU. */
uintptr_t mm_lock_owner_token(void) { return arch_cpu_id() + 1; }
