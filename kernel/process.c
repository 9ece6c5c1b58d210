/* kernel/process.c - the process table, the round-robin scheduler and the
 * life cycle: create from an embedded program, fork, wait, exit, kill.
 *
 * The scheduler runs on the stack of whoever called proc_run (kmain's) and
 * switches to a process's kernel stack with arch_switch_stack; a process
 * switches back when it yields, blocks in wait, exits or is preempted by the
 * timer (kernel_timer_tick, from user mode only). A zombie's kernel
 * stack is freed by whoever reaps it (its parent's wait, or the scheduler
 * for a process without parent), never while it runs on it. */
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
static process_t *current;
static process_t *runq_head, *runq_tail;
static ptr_t scheduler_sp;
static size_t nprocs;
static int next_pid = 1;
static size_t preemptions, switches;

const char *proc_output_prefix = "";

process_t *proc_current(void) { return current; }
size_t proc_count(void) { return nprocs; }
size_t proc_preemptions(void) { return preemptions; }
size_t proc_switches(void) { return switches; }

static void runq_push(process_t *p)
{
    p->state = PROC_RUNNABLE;
    p->run_next = NULL;
    if (runq_tail)
        runq_tail->run_next = p;
    else
        runq_head = p;
    runq_tail = p;
}

static process_t *runq_pop(void)
{
    process_t *p = runq_head;
    if (p) {
        runq_head = p->run_next;
        if (!runq_head)
            runq_tail = NULL;
        p->run_next = NULL;
    }
    return p;
}

/* A process object with its kernel stack, not yet linked anywhere.
 * NULL when memory ran out (nothing kept). */
static process_t *proc_alloc(const char *name)
{
    process_t *p = slab_alloc(&proc_cache);
    if (!p)
        return NULL;
    if (kstack_alloc(&p->kstack) != 0) {
        slab_free(&proc_cache, p);
        return NULL;
    }
    p->pid = next_pid++;
    p->kstack_top = kstack_top(&p->kstack);
    p->frame = (void *)(p->kstack_top - arch_user_frame_size);
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(p->name); i++)
        p->name[i] = name[i];
    p->name[i] = 0;
    nprocs++;
    return p;
}

/* Frees what proc_alloc made; the address space must be gone already. */
static void proc_free(process_t *p)
{
    if (p->mm)
        panic("process %d freed with its address space %p", p->pid, (void *)p->mm);
    kstack_free(&p->kstack);
    slab_free(&proc_cache, p);
    nprocs--;
}

static void link_child(process_t *parent, process_t *c)
{
    c->parent = parent;
    c->sibling = parent->children;
    parent->children = c;
}

static void unlink_child(process_t *c)
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

/* Frees a zombie (unlinked from its parent first). */
static void reap(process_t *z)
{
    if (z->state != PROC_ZOMBIE)
        panic("reaping process %d in state %d", z->pid, (int)z->state);
    if (z->parent)
        unlink_child(z);
    proc_free(z);
}

/* Runs p until it gives the CPU back. */
static void run(process_t *p)
{
    current = p;
    switches++;
    p->state = PROC_RUNNING;
    kernel_switch_context(p->mm);
    arch_set_kernel_stack(p->kstack_top);
    arch_switch_stack(&scheduler_sp, p->ksp);
    current = NULL;
}

/* Gives the CPU from the current process back to the scheduler. */
static void to_scheduler(void)
{
    process_t *p = current;
    arch_switch_stack(&p->ksp, scheduler_sp);
}

/* A fresh process running program `prog` (no parent), or -errno. */
static int proc_create(const user_program_t *prog, process_t **out)
{
    process_t *p = proc_alloc(prog->name);
    if (!p)
        return -ENOMEM;
    mm_context_t *mm = mm_create_context();
    if (IS_ERR(mm)) {
        proc_free(p);
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
        proc_free(p);
        return err;
    }
    p->mm = mm;
    arch_user_frame_init(p->frame, entry, USER_STACK_TOP);
    p->ksp = arch_kstack_init(p->kstack_top, p->frame);
    *out = p;
    return 0;
}

int proc_run(const char *name, int *status)
{
    const user_program_t *prog = user_programs;
    while (prog->name && strcmp(prog->name, name) != 0)
        prog++;
    if (!prog->name)
        return -ENOENT;
    if (current || nprocs)
        panic("proc_run(%s) while %zu processes exist", name, nprocs);
    process_t *root = NULL;
    int err = proc_create(prog, &root);
    if (err)
        return err;
    int root_pid = root->pid;
    *status = -1;
    runq_push(root);
    arch_timer_start(PROC_TIMER_HZ);
    process_t *p;
    while ((p = runq_pop()) != NULL) {
        run(p);
        if (p->state == PROC_ZOMBIE && !p->parent) {
            if (p->pid == root_pid)
                *status = p->status;
            reap(p);
        }
    }
    arch_timer_stop();
    kernel_switch_context(mm_kernel_context());
    if (nprocs)
        panic("scheduler idle with %zu processes blocked", nprocs);
    return 0;
}

long proc_fork(void)
{
    process_t *parent = current;
    process_t *c = proc_alloc(parent->name);
    if (!c)
        return -ENOMEM;
    mm_context_t *mm = mm_clone_context(parent->mm);
    if (IS_ERR(mm)) {
        proc_free(c);
        return PTR_ERR(mm);
    }
    if (pmm_free_frames() < PROC_FORK_RESERVE_FRAMES) {
        mm_destroy_context(mm);
        proc_free(c);
        return -ENOMEM;
    }
    c->mm = mm;
    memcpy(c->frame, parent->frame, arch_user_frame_size);
    arch_syscall_set_result(c->frame, 0);
    c->ksp = arch_kstack_init(c->kstack_top, c->frame);
    link_child(parent, c);
    runq_push(c);
    return c->pid;
}

long proc_wait(ptr_t ustatus)
{
    process_t *p = current;
    for (;;) {
        if (!p->children)
            return -ECHILD;
        for (process_t *c = p->children; c; c = c->sibling) {
            if (c->state != PROC_ZOMBIE)
                continue;
            if (ustatus && copy_to_user(ustatus, &c->status, sizeof(int)) != 0)
                return -EFAULT; /* the child stays for the next wait */
            int pid = c->pid;
            reap(c);
            return pid;
        }
        p->state = PROC_WAITING;
        to_scheduler();
    }
}

long proc_yield(void)
{
    runq_push(current);
    to_scheduler();
    return 0;
}

void kernel_timer_tick(void *frame)
{
    atomic_fetch_add_explicit(&smp_cpu(arch_cpu_id())->ticks, 1, memory_order_relaxed);
    if (!arch_regs_user_mode(frame) || !current)
        return; /* the kernel is not preempted (and runs with interrupts masked) */
    preemptions++;
    proc_yield();
}

_Noreturn void proc_exit(int status)
{
    process_t *p = current;
    kernel_switch_context(mm_kernel_context());
    mm_destroy_context(p->mm);
    p->mm = NULL;
    /* Orphans: zombies are reaped now, live ones by the scheduler later. */
    while (p->children) {
        process_t *c = p->children;
        unlink_child(c);
        if (c->state == PROC_ZOMBIE)
            proc_free(c);
    }
    p->state = PROC_ZOMBIE;
    p->status = status;
    if (p->parent && p->parent->state == PROC_WAITING)
        runq_push(p->parent);
    to_scheduler();
    panic("zombie %d resumed", p->pid);
}

static const char *access_word(hal_access_t a)
{
    return a == HAL_ACCESS_WRITE ? "write" : a == HAL_ACCESS_EXEC ? "exec" : "read";
}

_Noreturn void proc_kill_current(ptr_t addr, hal_access_t access, ptr_t ip, const char *why)
{
    process_t *p = current;
    if (!p)
        panic("user fault without a current process at ip %lx", (unsigned long)ip);
    if (access)
        printk("# kmm: pid %d (%s) killed: %s at %016lx, ip %016lx: %s\n", p->pid, p->name, access_word(access),
               (unsigned long)addr, (unsigned long)ip, why);
    else
        printk("# kmm: pid %d (%s) killed: trap at ip %016lx: %s\n", p->pid, p->name, (unsigned long)ip, why);
    proc_exit(WAIT_KILLED | ((int)access & WAIT_ACCESS_MASK));
}

void proc_console_write(const char *s, size_t n)
{
    static bool line_start = true;
    size_t prefix = strlen(proc_output_prefix);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (line_start && prefix) {
            console_write(s + from, i - from);
            console_write(proc_output_prefix, prefix);
            from = i;
        }
        line_start = s[i] == '\n';
    }
    console_write(s + from, n - from);
}
