/* kernel/syscall.c - the system calls of kernel/uapi.h. Every argument is
 * checked here; user memory is reached only through copy_from_user /
 * copy_to_user; a failing call changes nothing. */
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/fault.h"
#include "kernel/process.h"
#include "kernel/smp.h"
#include "kernel/uaccess.h"
#include "kernel/uapi.h"
#include "mm/cow.h"

#define WRITE_MAX 1024 /* longer writes are short writes */

static long sys_write(unsigned long fd, ptr_t buf, size_t len)
{
    static char bufs[SMP_MAX_CPUS][WRITE_MAX]; /* one per CPU: the kernel is never preempted */
    char *kbuf = bufs[arch_cpu_id()];
    if (fd != 1 && fd != 2)
        return -EBADF;
    if (!uaccess_range_ok(buf, len))
        return -EFAULT;
    size_t n = MIN(len, (size_t)WRITE_MAX);
    if (copy_from_user(kbuf, buf, n) != 0)
        return -EFAULT;
    proc_console_write(kbuf, n);
    return (long)n;
}

/* Byte length to page count: 0 when len is 0 or the rounding overflows. */
static size_t pages_of(size_t len)
{
    if (len == 0 || len > (size_t)-1 - PAGE_MASK)
        return 0;
    return (len + PAGE_MASK) >> PAGE_SHIFT;
}

/* PROT_* to vm_flags; VM_NONE for unknown bits, no read, or write+exec. */
static vm_flags prot_flags(unsigned long prot)
{
    if ((prot & ~(unsigned long)(PROT_READ | PROT_WRITE | PROT_EXEC)) || !(prot & PROT_READ) ||
        ((prot & PROT_WRITE) && (prot & PROT_EXEC)))
        return VM_NONE;
    return VM_READ | ((prot & PROT_WRITE) ? VM_WRITE : 0) | ((prot & PROT_EXEC) ? VM_EXEC : 0);
}

/* A page-aligned user range of npages, else false. */
static bool user_pages_ok(ptr_t addr, size_t npages)
{
    return npages && !(addr & PAGE_MASK) && npages <= (~(ptr_t)0 >> PAGE_SHIFT) &&
           uaccess_range_ok(addr, npages << PAGE_SHIFT);
}

static long sys_mmap(ptr_t addr, size_t len, unsigned long prot, unsigned long flags)
{
    size_t npages = pages_of(len);
    vm_flags vf = prot_flags(prot);
    unsigned long type = flags & (MAP_PRIVATE | MAP_SHARED);
    if (!npages || vf == VM_NONE || (flags & ~(unsigned long)(MAP_PRIVATE | MAP_SHARED | MAP_FIXED)) ||
        (type != MAP_PRIVATE && type != MAP_SHARED) || (addr & PAGE_MASK))
        return -EINVAL;
    bool fixed = flags & MAP_FIXED;
    if (fixed && !user_pages_ok(addr, npages))
        return -EINVAL;
    if (!fixed && (addr == 0 || !user_pages_ok(addr, npages)))
        addr = USER_MMAP_BASE;
    mm_context_t *mm = proc_current()->mm;
    spinlock_acquire(&mm->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(mm, npages, addr, fixed ? VALLOC_EXACT : VALLOC_DEFAULT, vf,
                                        type == MAP_SHARED ? VMAP_TYPE_SHARED : VMAP_TYPE_PRIVATE);
    if (!IS_ERR(v))
        v->content = VMAP_MMAP;
    spinlock_release(&mm->mm_lock);
    return IS_ERR(v) ? PTR_ERR(v) : (long)v->vaddr;
}

static long sys_munmap(ptr_t addr, size_t len)
{
    size_t npages = pages_of(len);
    if (!user_pages_ok(addr, npages))
        return -EINVAL;
    mm_context_t *mm = proc_current()->mm;
    spinlock_acquire(&mm->mm_lock);
    int err = mm_unmap_user_pages_locked(mm, addr, npages);
    spinlock_release(&mm->mm_lock);
    return err;
}

static long sys_mprotect(ptr_t addr, size_t len, unsigned long prot)
{
    size_t npages = pages_of(len);
    vm_flags vf = prot_flags(prot);
    if (!user_pages_ok(addr, npages) || vf == VM_NONE)
        return -EINVAL;
    mm_context_t *mm = proc_current()->mm;
    spinlock_acquire(&mm->mm_lock);
    int err = mm_protect_locked(mm, addr, npages, vf);
    spinlock_release(&mm->mm_lock);
    return err;
}

static long sys_meminfo(ptr_t out)
{
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    cow_stats_t cs;
    cow_get_stats(&cs);
    struct kmm_meminfo m = {
        .free_frames = ps.free_frames,
        .total_frames = ps.managed_frames,
        .user_end = hal_user_end(kernel_geometry),
        .kernel_text = (uint64_t)(ptr_t)_text_start,
        .kernel_data = (uint64_t)(ptr_t)_data_start,
        .cow_copies = cs.copies,
        .cow_reuses = cs.reuses,
        .processes = proc_count(),
        .preemptions = proc_preemptions(),
        .switches = proc_switches(),
        .faults = kernel_fault_stats.mm_resolved,
        .cycle_hz = arch_cycle_hz(),
        .cpus = smp_cpu_count(),
    };
    return copy_to_user(out, &m, sizeof(m));
}

static _Atomic size_t syscalls;

size_t kernel_syscall_count(void) { return atomic_load(&syscalls); }

void kernel_syscall(void *frame)
{
    atomic_fetch_add_explicit(&syscalls, 1, memory_order_relaxed);
    unsigned long a0 = arch_syscall_arg(frame, 0), a1 = arch_syscall_arg(frame, 1);
    unsigned long a2 = arch_syscall_arg(frame, 2), a3 = arch_syscall_arg(frame, 3);
    long r;
    switch (arch_syscall_nr(frame)) {
    case SYS_EXIT:
        proc_exit((int)(a0 & 0xff));
    case SYS_WRITE:
        r = sys_write(a0, a1, a2);
        break;
    case SYS_FORK:
        r = proc_fork();
        break;
    case SYS_WAIT:
        r = proc_wait(a0);
        break;
    case SYS_GETPID:
        r = proc_current()->pid;
        break;
    case SYS_MMAP:
        r = sys_mmap(a0, a1, a2, a3);
        break;
    case SYS_MUNMAP:
        r = sys_munmap(a0, a1);
        break;
    case SYS_MPROTECT:
        r = sys_mprotect(a0, a1, a2);
        break;
    case SYS_YIELD:
        r = proc_yield();
        break;
    case SYS_MEMINFO:
        r = sys_meminfo(a0);
        break;
    case SYS_THREAD_CREATE:
        r = proc_thread_create(a0, a1, a2);
        break;
    case SYS_THREAD_EXIT:
        proc_thread_exit((int)a0);
    case SYS_THREAD_JOIN:
        r = proc_thread_join((long)a0, a1);
        break;
    case SYS_GETCPU:
        r = (long)arch_cpu_id();
        break;
    default:
        r = -ENOSYS;
        break;
    }
    arch_syscall_set_result(frame, r);
    proc_syscall_return(); /* a thread of an ending process ends here */
}
