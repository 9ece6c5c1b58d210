/* tests/embed/proc.c - user processes of the embedding kernel: each one a
 * kmm context, entered in U-mode through the trampoline (trampoline.S),
 * with its traps handled here: system calls (copy-in through physical
 * addresses with mm_get_user_page), page faults (mm_handle_fault), the
 * timer. The scheduler is the smallest that can fork: the running process
 * runs until it waits for a child; the child then runs to its end, and the
 * parent resumes. */
#include "ekernel.h"
#include "mm/kmm.h"
#include "usys.h"

#define USER_TEXT ((ptr_t)0x10000)
#define USER_STACK_TOP ((ptr_t)0x100000)
#define USER_STACK_PAGES 4
#define USER_HEAP ((ptr_t)0x400000)
#define FORK_RESERVE 16
#define NPROC 4

#define SSTATUS_SIE (1ul << 1)
#define SSTATUS_SPIE (1ul << 5)
#define SSTATUS_SPP (1ul << 8)
#define SATP_SV39 (8ul << 60)

/* Layout known to trampoline.S. */
struct ek_trapframe {
    uint64_t kernel_satp, kernel_sp, kernel_trap, epc;
    uint64_t x[32]; /* x[i]: register x_i (x[0] unused) */
};
_Static_assert(sizeof(struct ek_trapframe) == 32 + 8 * 32, "trampoline.S offsets");

enum { UNUSED, RUNNABLE, WAITING };

struct proc {
    int state, pid;
    mm_context_t *ctx;
    struct ek_trapframe *tf; /* a page of this kernel's allocator */
    ptr_t brk;
    struct proc *parent;
};

static struct proc procs[NPROC];
static struct proc *cur;
static int next_pid = 1;
static uint64_t ctx_main[14]; /* ek_main's registers while processes run */
static char trap_stack[16384] __attribute__((aligned(16)));

extern char ek_trampoline[], ek_trampoline_end[], ek_uservec[], ek_kernelvec[], ek_user_start[], ek_user_end[];
extern void user_main(unsigned long trampoline);
void ek_userret(struct ek_trapframe *tf, uint64_t satp);
int ek_ctx_save(uint64_t *ctx);
_Noreturn void ek_ctx_jump(uint64_t *ctx);
_Noreturn void ek_user_trap(struct ek_trapframe *tf);
void ek_kernel_trap(void);

struct ek_user_stats ek_user;

#define csr_read(csr)                                                                                                  \
    ({                                                                                                                 \
        unsigned long v_;                                                                                              \
        __asm__ volatile("csrr %0, " #csr : "=r"(v_));                                                                 \
        v_;                                                                                                            \
    })
#define csr_write(csr, v) __asm__ volatile("csrw " #csr ", %0" ::"r"((unsigned long)(v)) : "memory")
#define csr_set(csr, v) __asm__ volatile("csrs " #csr ", %0" ::"r"((unsigned long)(v)) : "memory")
#define csr_clear(csr, v) __asm__ volatile("csrc " #csr ", %0" ::"r"((unsigned long)(v)) : "memory")

/* ---- the timer: interrupts stay on in the kernel ---- */

#define TICK 5000 /* 0.5 ms of QEMU virt's 10 MHz time base */

static void timer_arm(void)
{
    register unsigned long a0 __asm__("a0") = csr_read(time) + TICK;
    register unsigned long a6 __asm__("a6") = 0;
    register unsigned long a7 __asm__("a7") = 0x54494D45; /* SBI TIME extension, set_timer */
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a6), "r"(a7) : "a1", "memory");
}

void ek_timer_start(void)
{
    csr_write(stvec, (uintptr_t)ek_kernelvec);
    timer_arm();
    csr_set(sie, 1ul << 5); /* STIE */
    csr_set(sstatus, SSTATUS_SIE);
}

static void tick(bool from_user)
{
    if (from_user)
        ek_user.user_ticks++;
    else
        ek_user.kernel_ticks++;
    if (ek_irq_depth)
        ek_user.ticks_inside_kmm_locks++; /* the lock hook failed to mask */
    timer_arm();
}

/* A trap taken in kernel mode: only the timer is expected. */
void ek_kernel_trap(void)
{
    unsigned long cause = csr_read(scause);
    if (cause == (1ul << 63 | 5)) {
        tick(false);
        return;
    }
    ek_printf("# kernel trap: scause %#lx sepc %#lx stval %#lx\n", cause, csr_read(sepc), csr_read(stval));
    ek_exit(false);
}

/* ---- processes ---- */

static uint64_t user_satp(struct proc *p) { return SATP_SV39 | mm_context_root(p->ctx); }

/* The kernel's two pages in p's user half: the trampoline and p's trap
 * frame, supervisor-only, at their physical addresses (identity). 0 or
 * kmm's -errno. */
static int map_kernel_pages(struct proc *p)
{
    ptr_t tramp = (ptr_t)(uintptr_t)ek_trampoline, tf = (ptr_t)(uintptr_t)p->tf;
    mm_lock_ctx_pair(p->ctx, NULL);
    vmap_t *a = mm_map_reserved_locked(p->ctx, tramp, tramp >> KMM_PAGE_SHIFT, 1, VM_RX);
    vmap_t *b = kmm_is_err(a) ? a : mm_map_reserved_locked(p->ctx, tf, tf >> KMM_PAGE_SHIFT, 1, VM_RW);
    mm_unlock_ctx_pair(p->ctx, NULL);
    return kmm_is_err(b) ? (int)kmm_ptr_err(b) : 0;
}

static struct proc *proc_alloc(void)
{
    for (int i = 0; i < NPROC; i++) {
        if (procs[i].state == UNUSED) {
            struct proc *p = &procs[i];
            *p = (struct proc){ .state = RUNNABLE, .pid = next_pid++ };
            p->tf = ek_page_alloc();
            return p->tf ? p : NULL;
        }
    }
    return NULL;
}

/* Ends p: its address space goes back to kmm, its trap frame to this
 * kernel's allocator (kmm holds no reference on it). */
static void proc_free(struct proc *p)
{
    mm_destroy_context(p->ctx);
    ek_page_free(p->tf);
    p->state = UNUSED;
}

/* copyin through physical addresses, a page at a time (the frame pinned
 * while the bytes move). 0 or kmm's -errno. */
static long copy_in(mm_context_t *ctx, ptr_t uva, char *buf, size_t n)
{
    while (n) {
        size_t off = uva & (KMM_PAGE_SIZE - 1), chunk = MIN(n, KMM_PAGE_SIZE - off);
        pfn_t pfn;
        int err = mm_get_user_page(ctx, uva, HAL_ACCESS_READ, &pfn);
        if (err)
            return err;
        const char *k = (const char *)(uintptr_t)((pfn << KMM_PAGE_SHIFT) + off);
        for (size_t i = 0; i < chunk; i++)
            buf[i] = k[i];
        pmm_release(pfn);
        uva += chunk, buf += chunk, n -= chunk;
    }
    return 0;
}

/* copyout, the same way (a write: copy-on-write resolved first). */
static long copy_out(mm_context_t *ctx, ptr_t uva, const char *buf, size_t n)
{
    while (n) {
        size_t off = uva & (KMM_PAGE_SIZE - 1), chunk = MIN(n, KMM_PAGE_SIZE - off);
        pfn_t pfn;
        int err = mm_get_user_page(ctx, uva, HAL_ACCESS_WRITE, &pfn);
        if (err)
            return err;
        char *k = (char *)(uintptr_t)((pfn << KMM_PAGE_SHIFT) + off);
        for (size_t i = 0; i < chunk; i++)
            k[i] = buf[i];
        pmm_release(pfn);
        uva += chunk, buf += chunk, n -= chunk;
    }
    return 0;
}

static _Noreturn void run_current(void);

/* p ends with status: its parent, waiting (a child runs only while its
 * parent waits), gets it and runs again; the first process's end returns
 * to ek_main. Children p never waited for never ran: they go with it. */
static _Noreturn void proc_exit(struct proc *p, long status)
{
    struct proc *parent = p->parent;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == RUNNABLE && procs[i].parent == p)
            proc_free(&procs[i]);
    proc_free(p);
    if (!parent) {
        ek_user.init_status = status;
        ek_ctx_jump(ctx_main);
    }
    parent->state = RUNNABLE;
    parent->tf->x[10] = (uint64_t)status;
    cur = parent;
    run_current();
}

static long sys_fork(void)
{
    struct proc *c = proc_alloc();
    if (!c)
        return -ENOMEM;
    c->ctx = mm_clone_context_opts(cur->ctx, &(mm_clone_opts_t){ .reserve_frames = FORK_RESERVE });
    if (kmm_is_err(c->ctx) || map_kernel_pages(c)) {
        if (!kmm_is_err(c->ctx))
            mm_destroy_context(c->ctx);
        ek_page_free(c->tf);
        c->state = UNUSED;
        return -ENOMEM;
    }
    *c->tf = *cur->tf;
    c->tf->x[10] = 0; /* the child's fork returns 0 */
    c->brk = cur->brk;
    c->parent = cur;
    return c->pid;
}

static long sys_wait(void)
{
    for (int i = 0; i < NPROC; i++) {
        struct proc *c = &procs[i];
        if (c->state == RUNNABLE && c->parent == cur) {
            cur->state = WAITING;
            cur = c;
            run_current(); /* the child's exit resumes the parent with the status in a0 */
        }
    }
    return -1;
}

static long syscall(struct ek_trapframe *tf)
{
    uint64_t a0 = tf->x[10], a1 = tf->x[11];
    switch (tf->x[17]) {
    case SYS_WRITE: {
        char buf[128];
        if (a1 > sizeof buf)
            return -EINVAL;
        long err = copy_in(cur->ctx, a0, buf, a1);
        if (err)
            return -EFAULT;
        ek_printf("# user: ");
        for (size_t i = 0; i < a1; i++)
            ek_putc(buf[i]);
        return (long)a1;
    }
    case SYS_SBRK: {
        ptr_t old = cur->brk;
        mm_lock_ctx_pair(cur->ctx, NULL);
        vmap_t *v = cow_allocate_zeroed_pages(cur->ctx, a0, old, VALLOC_EXACT, VM_USER_RW);
        mm_unlock_ctx_pair(cur->ctx, NULL);
        if (kmm_is_err(v))
            return -ENOMEM;
        cur->brk += a0 * KMM_PAGE_SIZE;
        return (long)old;
    }
    case SYS_FORK: return sys_fork();
    case SYS_WAIT: return sys_wait();
    case SYS_EXIT: proc_exit(cur, (long)a0);
    case SYS_CHECK: {
        char name[96];
        size_t n = 0;
        /* a string: byte by byte up to its end (a real kernel copies in chunks) */
        while (n < sizeof name - 1) {
            if (copy_in(cur->ctx, a1 + n, &name[n], 1))
                return -EFAULT;
            if (!name[n++])
                break;
        }
        name[n] = 0;
        ek_check(a0 != 0, name);
        return 0;
    }
    case SYS_FAULTS: return (long)ek_user.faults;
    default: return -EINVAL;
    }
}

static const char *fault_name(unsigned long cause)
{
    return cause == 12 ? "instruction page fault" : cause == 13 ? "load page fault" : "store page fault";
}

_Noreturn void ek_user_trap(struct ek_trapframe *tf)
{
    unsigned long cause = csr_read(scause), tval = csr_read(stval);
    csr_write(stvec, (uintptr_t)ek_kernelvec);
    mm_context_unloaded(cur->ctx); /* the trampoline flushed the TLB on its way in */
    csr_set(sstatus, SSTATUS_SIE); /* the timer may interrupt the kernel from here on */
    if (cause == (1ul << 63 | 5)) {
        tick(true);
    } else if (cause == 8) { /* ecall from U-mode */
        tf->epc += 4;
        tf->x[10] = (uint64_t)syscall(tf);
    } else if (cause == 12 || cause == 13 || cause == 15) {
        hal_fault_t f = {
            .addr = tval,
            .ip = tf->epc,
            .access = cause == 12 ? HAL_ACCESS_EXEC : cause == 15 ? HAL_ACCESS_WRITE : HAL_ACCESS_READ,
            .user_mode = true,
            .present = -1,
        };
        int err = mm_handle_fault(cur->ctx, &f);
        if (err) {
            ek_printf("# pid %d killed: %s at %#lx (pc %#lx): kmm says %d\n", cur->pid, fault_name(cause), tval,
                      (unsigned long)tf->epc, err);
            ek_user.killed++;
            proc_exit(cur, EK_KILLED);
        }
        ek_user.faults++;
        if (cause == 15) {
            uint64_t pa = mm_get_phys_addr(cur->ctx, tval);
            ek_user.write_faults++;
            ek_user.write_faults_in_region += pa >= ek_user.region_lo && pa < ek_user.region_hi;
        }
    } else {
        ek_printf("# pid %d killed: scause %#lx at pc %#lx, stval %#lx\n", cur->pid, cause, (unsigned long)tf->epc, tval);
        ek_user.killed++;
        proc_exit(cur, EK_KILLED);
    }
    run_current();
}

/* Returns to user mode in the current process. */
static _Noreturn void run_current(void)
{
    struct ek_trapframe *tf = cur->tf;
    csr_clear(sstatus, SSTATUS_SIE); /* until sret: stvec is the user's from here */
    tf->kernel_satp = 0; /* this kernel runs with paging off */
    tf->kernel_sp = (uintptr_t)(trap_stack + sizeof trap_stack);
    tf->kernel_trap = (uintptr_t)ek_user_trap;
    csr_write(stvec, (uintptr_t)ek_uservec);
    csr_write(sscratch, (uintptr_t)tf);
    csr_write(sepc, tf->epc);
    csr_clear(sstatus, SSTATUS_SPP);
    csr_set(sstatus, SSTATUS_SPIE);
    mm_context_loaded(cur->ctx); /* this hart now gets the context's shootdowns */
    ek_userret(tf, user_satp(cur));
    for (;;)
        ;
}

/* A process running the user program: its text copied in (mapped
 * read-write for the copy, then read-execute, as an exec does), a stack
 * populated at once, an empty heap, the kernel's two pages. */
static struct proc *proc_create_init(void)
{
    struct proc *p = proc_alloc();
    if (!p)
        return NULL;
    p->ctx = mm_create_context();
    if (kmm_is_err(p->ctx)) {
        ek_page_free(p->tf);
        p->state = UNUSED;
        return NULL;
    }
    size_t text_pages = (size_t)(ek_user_end - ek_user_start) / KMM_PAGE_SIZE;
    mm_lock_ctx_pair(p->ctx, NULL);
    vmap_t *t = cow_allocate_zeroed_pages(p->ctx, text_pages, USER_TEXT, VALLOC_EXACT, VM_USER_RW);
    vmap_t *s = cow_allocate_zeroed_pages(p->ctx, USER_STACK_PAGES, USER_STACK_TOP - USER_STACK_PAGES * KMM_PAGE_SIZE,
                                          VALLOC_EXACT | VALLOC_POPULATE, VM_USER_RW);
    mm_unlock_ctx_pair(p->ctx, NULL);
    int err = kmm_is_err(t) || kmm_is_err(s) || copy_out(p->ctx, USER_TEXT, ek_user_start, text_pages * KMM_PAGE_SIZE);
    if (!err) {
        mm_lock_ctx_pair(p->ctx, NULL);
        err = mm_protect_locked(p->ctx, USER_TEXT, text_pages, VM_USER_RX);
        mm_unlock_ctx_pair(p->ctx, NULL);
    }
    if (err || map_kernel_pages(p)) {
        proc_free(p);
        return NULL;
    }
    p->brk = USER_HEAP;
    p->tf->epc = USER_TEXT + (ptr_t)((char *)user_main - ek_user_start);
    p->tf->x[2] = USER_STACK_TOP;
    p->tf->x[10] = (uintptr_t)ek_trampoline;
    return p;
}

/* Runs the user program to its end; its exit status, or -1 if it could not
 * start. Interrupts stay on in the kernel throughout (the timer). */
long ek_run_user_program(void)
{
    cur = proc_create_init();
    if (!cur)
        return -1;
    if (ek_ctx_save(ctx_main) == 0)
        run_current();
    /* back from the last exit, paging off, on ek_main's stack */
    csr_write(stvec, (uintptr_t)ek_kernelvec);
    csr_set(sstatus, SSTATUS_SIE);
    return ek_user.init_status;
}
