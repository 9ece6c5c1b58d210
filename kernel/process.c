/* kernel/process.c - the process table, threads, the scheduler of every
 * CPU and the life cycle: create from an embedded program, fork, threads,
 * wait and join, exit, kill (contracts and the lock rule in process.h).
 *
 * Each CPU's scheduler runs on its own stack (the caller's of proc_run on
 * that CPU, the idle stack on the others) and switches to a thread's kernel
 * stack with arch_switch_stack. A thread switches back with sched_lock held
 * when it yields, blocks, ends or is preempted; the scheduler releases the
 * lock, switches its CPU to the kernel context and, for a thread that
 * ended, finishes it there: frees its kernel stack (it is off it now), and
 * if it was its process's last, destroys the address space (no CPU runs it
 * any more), orphans the children and makes the process a zombie for its
 * parent's wait (or frees it at once without parent). */
#include "kernel/process.h"

#include "kernel/arch.h"
#include "kernel/context.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/uaccess.h"
#include "kernel/uapi.h"
#include "mm/cow.h"
#include "mm/slab.h"

static slab_cache_t proc_cache = SLAB_CACHE_INIT("process", process_t);
static slab_cache_t thread_cache = SLAB_CACHE_INIT("thread", thread_t);

/* Guards what process.h says; the counters below are atomics. */
static spinlock_t sched_lock = SPINLOCK_INIT;
static thread_t *runq_head, *runq_tail;
static int next_id = 1;                       /* pids and tids, one sequence */
static _Atomic size_t runq_len;               /* written under sched_lock, read by idling CPUs */
static thread_t *cpu_thread[SMP_MAX_CPUS];    /* each CPU's current thread (written by that CPU) */
static ptr_t sched_sp[SMP_MAX_CPUS];          /* each CPU's scheduler stack while it runs a thread */
static _Atomic unsigned long idle_cpus;       /* CPUs in proc_idle_wait */
static _Atomic unsigned busy_cpus;            /* CPUs between taking a thread and being done with it */
static _Atomic size_t nprocs;
static _Atomic size_t preemptions, switches;
/* proc_quiesce: no CPU takes a thread, and running ones give their CPU back. */
static _Atomic bool paused;
/* The run proc_run drives: its CPU, the root's pid and, once reaped, its status. */
static unsigned runner_cpu;
static int root_pid;
static int root_status;

const char *proc_output_prefix = "";

thread_t *thread_current(void) { return cpu_thread[arch_cpu_id()]; }

process_t *proc_current(void)
{
    thread_t *t = thread_current();
    return t ? t->proc : NULL;
}

size_t proc_count(void) { return atomic_load(&nprocs); }
size_t proc_preemptions(void) { return atomic_load(&preemptions); }
size_t proc_switches(void) { return atomic_load(&switches); }

static bool exiting(const process_t *p) { return __atomic_load_n(&p->exiting, __ATOMIC_ACQUIRE); }

/* ---- the run queue (sched_lock) ---- */

static void runq_push_locked(thread_t *t)
{
    t->state = THREAD_RUNNABLE;
    t->run_next = NULL;
    if (runq_tail)
        runq_tail->run_next = t;
    else
        runq_head = t;
    runq_tail = t;
    atomic_fetch_add(&runq_len, 1);
}

static thread_t *runq_pop_locked(void)
{
    thread_t *t = runq_head;
    if (t) {
        runq_head = t->run_next;
        if (!runq_head)
            runq_tail = NULL;
        t->run_next = NULL;
        atomic_fetch_sub(&runq_len, 1);
    }
    return t;
}

/* Wakes one idle CPU other than the caller, if any, to look at the run
 * queue. An idling CPU sets its bit and then reads runq_len; a pusher
 * counts runq_len and then reads the bits (both sequentially consistent):
 * one of the two sees the other, so a queued thread never waits for a CPU
 * that went to sleep just then. */
static void wake_one_idle_cpu(void)
{
    unsigned long others = atomic_load(&idle_cpus) & ~(1ul << arch_cpu_id());
    while (others) {
        unsigned cpu = (unsigned)__builtin_ctzl(others);
        unsigned long bit = 1ul << cpu;
        if (atomic_fetch_and(&idle_cpus, ~bit) & bit) {
            arch_ipi_send(cpu);
            return;
        }
        others &= ~bit;
    }
}

/* Queues t (new, or blocked) and wakes an idle CPU for it. */
static void make_runnable_locked(thread_t *t)
{
    runq_push_locked(t);
    wake_one_idle_cpu();
}

/* Makes every blocked thread of p runnable: each looks again at what it
 * waits for (a child's end, a thread's end, its process's end). */
static void wake_blocked_locked(process_t *p)
{
    for (thread_t *t = p->threads; t; t = t->proc_next)
        if (t->state == THREAD_BLOCKED)
            make_runnable_locked(t);
}

/* ---- objects ---- */

/* A thread record with its kernel stack, not linked anywhere; NULL when
 * memory ran out (nothing kept). */
static thread_t *thread_alloc(process_t *p)
{
    thread_t *t = slab_alloc(&thread_cache);
    if (!t)
        return NULL;
    if (kstack_alloc(&t->kstack) != 0) {
        slab_free(&thread_cache, t);
        return NULL;
    }
    t->proc = p;
    t->kstack_top = kstack_top(&t->kstack);
    t->frame = (void *)(t->kstack_top - arch_user_frame_size);
    return t;
}

/* Frees a thread that never ran and was never linked. */
static void thread_discard(thread_t *t)
{
    kstack_free(&t->kstack);
    slab_free(&thread_cache, t);
}

/* A process object with its main thread, not yet linked or counted.
 * NULL when memory ran out (nothing kept). */
static process_t *proc_alloc(const char *name)
{
    process_t *p = slab_alloc(&proc_cache);
    if (!p)
        return NULL;
    thread_t *t = thread_alloc(p);
    if (!t) {
        slab_free(&proc_cache, p);
        return NULL;
    }
    spinlock_acquire(&sched_lock);
    p->pid = t->tid = next_id++;
    spinlock_release(&sched_lock);
    p->threads = t;
    p->nthreads = p->live = 1;
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(p->name); i++)
        p->name[i] = name[i];
    p->name[i] = 0;
    return p;
}

/* Frees what proc_alloc made for a process that never ran. */
static void proc_discard(process_t *p)
{
    if (p->mm)
        panic("process %d discarded with its address space %p", p->pid, (void *)p->mm);
    thread_discard(p->threads);
    slab_free(&proc_cache, p);
}

/* Frees a reaped zombie (unlinked from its parent): its thread records,
 * then itself; the last process gone wakes proc_run's CPU. */
static void proc_free(process_t *p)
{
    if (p->mm || p->state != PROC_ZOMBIE || p->parent)
        panic("process %d freed in state %d (address space %p, parent %p)", p->pid, (int)p->state, (void *)p->mm,
              (void *)p->parent);
    while (p->threads) {
        thread_t *t = p->threads;
        if (t->state != THREAD_DEAD)
            panic("process %d freed with thread %d in state %d", p->pid, t->tid, (int)t->state);
        p->threads = t->proc_next;
        slab_free(&thread_cache, t);
    }
    slab_free(&proc_cache, p);
    if (atomic_fetch_sub(&nprocs, 1) == 1 && runner_cpu != arch_cpu_id())
        arch_ipi_send(runner_cpu);
}

static void link_child_locked(process_t *parent, process_t *c)
{
    c->parent = parent;
    c->sibling = parent->children;
    parent->children = c;
}

static void unlink_child_locked(process_t *c)
{
    process_t **pp = &c->parent->children;
    while (*pp != c) {
        if (!*pp)
            panic("process %d is not a child of %d", c->pid, c->parent->pid);
        pp = &(*pp)->sibling;
    }
    *pp = c->sibling;
    c->parent = NULL;
    c->sibling = NULL;
}

/* ---- ending ---- */

/* Every thread of p has finished (the last one on this CPU, whose context
 * is the kernel's again): no CPU runs p's address space. Destroys it,
 * orphans the children (zombies among them are freed), makes p a zombie
 * and wakes its parent's waiters, or frees p without parent. */
static void proc_end(process_t *p, int last_code)
{
    mm_destroy_context(p->mm);
    p->mm = NULL;
    process_t *zombies = NULL;
    spinlock_acquire(&sched_lock);
    while (p->children) {
        process_t *c = p->children;
        unlink_child_locked(c);
        if (c->state == PROC_ZOMBIE) { /* nobody else can reach it now */
            c->sibling = zombies;
            zombies = c;
        }
    }
    if (!p->exiting)
        p->status = last_code & 0xff;
    p->state = PROC_ZOMBIE;
    bool orphan = !p->parent;
    if (p->parent)
        wake_blocked_locked(p->parent);
    spinlock_release(&sched_lock);
    while (zombies) {
        process_t *c = zombies;
        zombies = c->sibling;
        c->sibling = NULL;
        proc_free(c);
    }
    if (orphan) {
        if (p->pid == root_pid)
            root_status = p->status;
        proc_free(p);
    }
}

/* t ended (THREAD_EXITING) and is off its stack; the calling CPU runs the
 * kernel context. Frees the stack, marks t dead for join, and ends the
 * process after its last thread. */
static void finish_thread(thread_t *t)
{
    process_t *p = t->proc;
    kstack_free(&t->kstack);
    spinlock_acquire(&sched_lock);
    t->state = THREAD_DEAD;
    bool last = --p->live == 0;
    wake_blocked_locked(p);
    spinlock_release(&sched_lock);
    if (last)
        proc_end(p, t->exit_code);
}

/* ---- switching ---- */

/* Runs t (just taken from the queue; sched_lock held, released here) until
 * it gives the CPU back, then finishes it if it ended. */
static void run_locked(thread_t *t)
{
    unsigned cpu = arch_cpu_id();
    t->state = THREAD_RUNNING;
    t->cpu = cpu;
    t->started = true;
    cpu_thread[cpu] = t;
    spinlock_release(&sched_lock);
    atomic_fetch_add(&switches, 1);
    kernel_switch_context(t->proc->mm);
    arch_set_kernel_stack(t->kstack_top);
    arch_switch_stack(&sched_sp[cpu], t->ksp);
    /* Back, on this CPU, with sched_lock taken by the thread for us. Off
     * its address space before the lock goes: once it is released another
     * CPU may take t, run it to its end and destroy the context, which must
     * then be active nowhere (mm_destroy_context asserts it). */
    cpu_thread[cpu] = NULL;
    thread_state_t state = t->state;
    kernel_switch_context(mm_kernel_context());
    spinlock_release(&sched_lock);
    if (state == THREAD_EXITING)
        finish_thread(t);
}

/* Gives the CPU from the current thread (its state set, sched_lock held)
 * to its scheduler, which releases the lock. Returns when some CPU runs
 * the thread again, without the lock. */
static void switch_to_scheduler_locked(thread_t *me)
{
    arch_switch_stack(&me->ksp, sched_sp[arch_cpu_id()]);
}

bool proc_schedule(void)
{
    spinlock_acquire(&sched_lock);
    thread_t *t = atomic_load(&paused) ? NULL : runq_pop_locked();
    if (!t) {
        spinlock_release(&sched_lock);
        return false;
    }
    atomic_fetch_add(&busy_cpus, 1);
    if (exiting(t->proc) && !t->started) {
        /* Its process is ending before it ever ran: it ends here. */
        t->state = THREAD_EXITING;
        spinlock_release(&sched_lock);
        finish_thread(t);
    } else {
        run_locked(t);
    }
    atomic_fetch_sub(&busy_cpus, 1);
    return true;
}

void proc_idle_wait(void)
{
    unsigned cpu = arch_cpu_id();
    unsigned long bit = 1ul << cpu;
    atomic_fetch_or(&idle_cpus, bit);
    bool run_over = cpu == runner_cpu && atomic_load(&nprocs) == 0;
    if ((atomic_load(&runq_len) == 0 || atomic_load(&paused)) && !run_over)
        arch_wait_for_interrupt();
    atomic_fetch_and(&idle_cpus, ~bit);
}

/* Ends the current thread if its process is ending; gives the CPU back
 * while proc_quiesce holds the threads off (then checks again). Called at
 * the kernel's exits to user mode: system calls, timer ticks, IPIs. */
static void end_if_exiting(thread_t *me)
{
    if (atomic_load(&paused) && !exiting(me->proc)) {
        spinlock_acquire(&sched_lock);
        runq_push_locked(me); /* taken again once the pause ends */
        switch_to_scheduler_locked(me);
    }
    if (exiting(me->proc))
        proc_thread_exit(0);
}

/* Runs fn(arg) on the calling CPU (proc_run's) while no CPU runs a thread
 * or finishes one: a quiescent moment for the memory manager's invariant
 * checker. Running threads are hurried off their CPUs with an IPI and go
 * back to the queue; blocked ones stay blocked. */
static void proc_quiesce(void (*fn)(void *), void *arg)
{
    unsigned self = arch_cpu_id();
    unsigned long others = smp_online_mask() & ~(1ul << self);
    atomic_store(&paused, true);
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (others & (1ul << c))
            arch_ipi_send(c);
    while (atomic_load(&busy_cpus))
        smp_poll();
    fn(arg);
    atomic_store(&paused, false);
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (others & (1ul << c))
            arch_ipi_send(c);
}

/* ---- creation and the run ---- */

/* A fresh process running program `prog` (no parent, not counted), or -errno. */
static int proc_create(const user_program_t *prog, process_t **out)
{
    process_t *p = proc_alloc(prog->name);
    if (!p)
        return -ENOMEM;
    mm_context_t *mm = mm_create_context();
    if (IS_ERR(mm)) {
        proc_discard(p);
        return (int)PTR_ERR(mm);
    }
    mm_context_t *was = kernel_current_context();
    kernel_switch_context(mm);
    ptr_t entry = 0;
    int err = elf_load(mm, prog->start, (size_t)(prog->end - prog->start), &entry);
    kernel_switch_context(was);
    if (!err) {
        /* The stack, and an empty vmap under it: a guard (mm/mm.h,
         * vmap_is_guard) that nothing may take and no call makes memory;
         * a touch there is refused. */
        ptr_t base = USER_STACK_TOP - USER_STACK_PAGES * PAGE_SIZE;
        spinlock_acquire(&mm->mm_lock);
        vmap_t *stack = mm_map_anonymous_locked(mm, USER_STACK_PAGES, base, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
        vmap_t *guard = IS_ERR(stack) ? stack : mm_get_free_vaddr_locked(mm, 1, base - PAGE_SIZE, VALLOC_EXACT);
        spinlock_release(&mm->mm_lock);
        if (IS_ERR(guard))
            err = (int)PTR_ERR(guard);
        else
            stack->content = VMAP_STACK;
    }
    if (err) {
        mm_destroy_context(mm);
        proc_discard(p);
        return err;
    }
    p->mm = mm;
    thread_t *t = p->threads;
    arch_user_frame_init(t->frame, entry, USER_STACK_TOP);
    t->ksp = arch_kstack_init(t->kstack_top, t->frame);
    *out = p;
    return 0;
}

static void timer_on(void *arg)
{
    (void)arg;
    arch_timer_start(PROC_TIMER_HZ);
}

static void timer_off(void *arg)
{
    (void)arg;
    arch_timer_stop();
}

int proc_run(const char *name, int *status) { return proc_run_checked(name, status, NULL, NULL, 0); }

int proc_run_checked(const char *name, int *status, void (*check)(void *), void *arg, unsigned every_ticks)
{
    const user_program_t *prog = user_programs;
    while (prog->name && strcmp(prog->name, name) != 0)
        prog++;
    if (!prog->name)
        return -ENOENT;
    if (thread_current() || atomic_load(&nprocs))
        panic("proc_run(%s) while %zu processes exist", name, atomic_load(&nprocs));
    process_t *root = NULL;
    int err = proc_create(prog, &root);
    if (err)
        return err;
    runner_cpu = arch_cpu_id();
    root_pid = root->pid;
    root_status = -1;
    *status = -1;
    unsigned long cpus = smp_online_mask();
    smp_call_many(cpus, timer_on, NULL);
    spinlock_acquire(&sched_lock);
    atomic_fetch_add(&nprocs, 1);
    runq_push_locked(root->threads); /* this CPU takes it: no other is woken */
    spinlock_release(&sched_lock);
    unsigned long last_check = atomic_load(&smp_cpu(runner_cpu)->ticks);
    while (atomic_load(&nprocs)) {
        smp_poll();
        if (check && atomic_load(&smp_cpu(runner_cpu)->ticks) - last_check >= every_ticks) {
            proc_quiesce(check, arg);
            last_check = atomic_load(&smp_cpu(runner_cpu)->ticks);
        }
        if (proc_schedule())
            continue;
        spinlock_acquire(&sched_lock);
        bool stuck = atomic_load(&nprocs) && !atomic_load(&runq_len) && !atomic_load(&busy_cpus);
        spinlock_release(&sched_lock);
        if (stuck)
            panic("every thread of %zu processes is blocked", atomic_load(&nprocs));
        proc_idle_wait();
    }
    smp_call_many(cpus, timer_off, NULL);
    kernel_switch_context(mm_kernel_context());
    *status = root_status;
    return 0;
}

/* ---- system calls ---- */

long proc_fork(void)
{
    thread_t *me = thread_current();
    process_t *parent = me->proc;
    process_t *c = proc_alloc(parent->name);
    if (!c)
        return -ENOMEM;
    mm_context_t *mm = mm_clone_context_opts(parent->mm, &(mm_clone_opts_t){ .reserve_frames = PROC_FORK_RESERVE_FRAMES });
    if (IS_ERR(mm)) {
        proc_discard(c);
        return PTR_ERR(mm);
    }
    c->mm = mm;
    thread_t *ct = c->threads;
    memcpy(ct->frame, me->frame, arch_user_frame_size);
    arch_syscall_set_result(ct->frame, 0);
    ct->ksp = arch_kstack_init(ct->kstack_top, ct->frame);
    int pid = c->pid;
    spinlock_acquire(&sched_lock);
    link_child_locked(parent, c);
    atomic_fetch_add(&nprocs, 1);
    make_runnable_locked(ct);
    spinlock_release(&sched_lock);
    return pid;
}

/* The zombie child z of p with pid, still there (sched_lock held). */
static bool is_zombie_child_locked(process_t *p, process_t *z, int pid)
{
    for (process_t *c = p->children; c; c = c->sibling)
        if (c == z)
            return c->pid == pid && c->state == PROC_ZOMBIE;
    return false;
}

long proc_wait(ptr_t ustatus)
{
    thread_t *me = thread_current();
    process_t *p = me->proc;
    spinlock_acquire(&sched_lock);
    for (;;) {
        if (p->exiting || !p->children) {
            spinlock_release(&sched_lock);
            return -ECHILD; /* an ending process's thread ends on the way out */
        }
        process_t *z = p->children;
        while (z && z->state != PROC_ZOMBIE)
            z = z->sibling;
        if (!z) {
            me->state = THREAD_BLOCKED;
            switch_to_scheduler_locked(me);
            spinlock_acquire(&sched_lock);
            continue;
        }
        int pid = z->pid, st = z->status;
        spinlock_release(&sched_lock);
        if (ustatus && copy_to_user(ustatus, &st, sizeof(st)) != 0)
            return -EFAULT; /* the child stays for the next wait */
        spinlock_acquire(&sched_lock);
        if (is_zombie_child_locked(p, z, pid)) {
            unlink_child_locked(z);
            spinlock_release(&sched_lock);
            proc_free(z);
            return pid;
        }
        /* Another thread of p reaped it meanwhile: look again. */
    }
}

long proc_yield(void)
{
    thread_t *me = thread_current();
    spinlock_acquire(&sched_lock);
    if (!atomic_load(&runq_len)) {
        spinlock_release(&sched_lock);
        return 0; /* nobody else wants a CPU */
    }
    runq_push_locked(me);
    wake_one_idle_cpu(); /* two queued now: an idle CPU takes one */
    switch_to_scheduler_locked(me);
    return 0;
}

long proc_thread_create(ptr_t entry, ptr_t stack_top, unsigned long arg)
{
    if (!uaccess_range_ok(entry, 1) || (stack_top & 15) || stack_top < 16 || !uaccess_range_ok(stack_top - 16, 16))
        return -EINVAL;
    process_t *p = proc_current();
    thread_t *t = thread_alloc(p);
    if (!t)
        return -ENOMEM;
    arch_user_frame_init_thread(t->frame, entry, stack_top, arg);
    t->ksp = arch_kstack_init(t->kstack_top, t->frame);
    spinlock_acquire(&sched_lock);
    if (p->exiting || p->nthreads >= PROC_THREADS_MAX) {
        spinlock_release(&sched_lock);
        thread_discard(t);
        return -EAGAIN;
    }
    int tid = t->tid = next_id++;
    t->proc_next = p->threads;
    p->threads = t;
    p->nthreads++;
    p->live++;
    make_runnable_locked(t);
    spinlock_release(&sched_lock);
    return tid;
}

/* Thread tid of p (sched_lock held), or NULL. */
static thread_t *find_thread_locked(process_t *p, long tid)
{
    for (thread_t *t = p->threads; t; t = t->proc_next)
        if (t->tid == tid)
            return t;
    return NULL;
}

long proc_thread_join(long tid, ptr_t ucode)
{
    thread_t *me = thread_current();
    process_t *p = me->proc;
    if (tid == me->tid)
        return -EINVAL;
    spinlock_acquire(&sched_lock);
    for (;;) {
        thread_t *t = p->exiting ? NULL : find_thread_locked(p, tid);
        if (!t) {
            spinlock_release(&sched_lock);
            return -ESRCH;
        }
        if (t->state != THREAD_DEAD) {
            me->state = THREAD_BLOCKED;
            switch_to_scheduler_locked(me);
            spinlock_acquire(&sched_lock);
            continue;
        }
        int code = t->exit_code;
        spinlock_release(&sched_lock);
        if (ucode && copy_to_user(ucode, &code, sizeof(code)) != 0)
            return -EFAULT; /* it stays joinable */
        spinlock_acquire(&sched_lock);
        t = find_thread_locked(p, tid);
        if (!t || t->state != THREAD_DEAD)
            continue; /* another join took it: -ESRCH above */
        thread_t **pp = &p->threads;
        while (*pp != t)
            pp = &(*pp)->proc_next;
        *pp = t->proc_next;
        p->nthreads--;
        spinlock_release(&sched_lock);
        slab_free(&thread_cache, t);
        return 0;
    }
}

_Noreturn void proc_thread_exit(int code)
{
    thread_t *me = thread_current();
    spinlock_acquire(&sched_lock);
    me->state = THREAD_EXITING;
    me->exit_code = code;
    switch_to_scheduler_locked(me);
    panic("thread %d resumed after its exit", me->tid);
}

_Noreturn void proc_exit(int status)
{
    thread_t *me = thread_current();
    process_t *p = me->proc;
    unsigned cpu = arch_cpu_id();
    unsigned long hurry = 0;
    spinlock_acquire(&sched_lock);
    if (!p->exiting) {
        p->status = status;
        __atomic_store_n(&p->exiting, true, __ATOMIC_RELEASE);
    }
    for (thread_t *t = p->threads; t; t = t->proc_next) {
        if (t == me)
            continue;
        if (t->state == THREAD_BLOCKED)
            make_runnable_locked(t); /* it sees the flag when it resumes */
        else if (t->state == THREAD_RUNNING && t->cpu != cpu)
            hurry |= 1ul << t->cpu;
    }
    spinlock_release(&sched_lock);
    /* Threads in user code on other CPUs take the IPI there and end
     * (proc_user_interrupt); one that has left the CPU meanwhile ends where
     * it resumes. */
    for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
        if (hurry & (1ul << c))
            arch_ipi_send(c);
    proc_thread_exit(status & 0xff);
}

void proc_syscall_return(void) { end_if_exiting(thread_current()); }

void kernel_timer_tick(void *frame)
{
    atomic_fetch_add_explicit(&smp_cpu(arch_cpu_id())->ticks, 1, memory_order_relaxed);
    thread_t *me = thread_current();
    if (!arch_regs_user_mode(frame) || !me)
        return; /* the kernel is not preempted (and runs with interrupts masked) */
    atomic_fetch_add(&preemptions, 1);
    end_if_exiting(me);
    proc_yield();
    end_if_exiting(me);
}

void proc_user_interrupt(void *frame)
{
    thread_t *me = thread_current();
    if (me && arch_regs_user_mode(frame))
        end_if_exiting(me);
}

static const char *access_word(hal_access_t a)
{
    return a == HAL_ACCESS_WRITE ? "write" : a == HAL_ACCESS_EXEC ? "exec" : "read";
}

_Noreturn void proc_kill_current(ptr_t addr, hal_access_t access, ptr_t ip, const char *why)
{
    thread_t *me = thread_current();
    if (!me)
        panic("user fault without a current thread at ip %lx", (unsigned long)ip);
    process_t *p = me->proc;
    if (access)
        printk("# kmm: pid %d (%s) killed: %s at %016lx, ip %016lx: %s\n", p->pid, p->name, access_word(access),
               (unsigned long)addr, (unsigned long)ip, why);
    else
        printk("# kmm: pid %d (%s) killed: trap at ip %016lx: %s\n", p->pid, p->name, (unsigned long)ip, why);
    proc_exit(WAIT_KILLED | ((int)access & WAIT_ACCESS_MASK));
}

void proc_console_write(const char *s, size_t n)
{
    static bool line_start = true; /* console lock */
    size_t prefix = strlen(proc_output_prefix);
    size_t from = 0;
    bool locked = console_lock();
    for (size_t i = 0; i < n; i++) {
        if (line_start && prefix) {
            console_write_locked(s + from, i - from);
            console_write_locked(proc_output_prefix, prefix);
            from = i;
        }
        line_start = s[i] == '\n';
    }
    console_write_locked(s + from, n - from);
    console_unlock(locked);
}
