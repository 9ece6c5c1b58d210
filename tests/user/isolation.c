/* tests/user/isolation.c - what the memory manager keeps out: each bad
 * access runs in a child, which must be killed for exactly that access
 * while this process carries on; mapping requests both writable and
 * executable are refused and leave nothing behind. */
#include "ulib.h"

static struct kmm_meminfo mi;
static volatile uint8_t sink;
static const uint8_t ret_insn[] = ARCH_RET_INSN;

static void read_kernel_text(void *a) { (void)a; sink = *(volatile uint8_t *)mi.kernel_text; }
static void read_kernel_data(void *a) { (void)a; sink = *(volatile uint8_t *)mi.kernel_data; }
static void write_kernel_data(void *a) { (void)a; *(volatile uint8_t *)mi.kernel_data = 0x55; }
static void exec_kernel_text(void *a) { (void)a; ((void (*)(void))mi.kernel_text)(); }
static void exec_page(void *page) { ((void (*)(void))page)(); }
static void write_byte(void *p) { *(volatile uint8_t *)p = 0x77; }
static void read_byte(void *p) { sink = *(volatile uint8_t *)p; }

static void privileged(void *a) { (void)a; arch_privileged_insn(); }

static unsigned long recurse(unsigned long depth)
{
    volatile uint8_t pad[512];
    pad[0] = (uint8_t)depth;
    if (depth > (1ul << 30))
        return depth;
    return recurse(depth + 1) + pad[0];
}
static void overflow_stack(void *a) { (void)a; sink = (uint8_t)recurse(1); }

int main(void)
{
    t_plan(19);
    sys_meminfo(&mi);

    t_check(t_in_child(read_kernel_text, 0) == KILLED_BY(1), "reading kernel text kills the process");
    t_check(t_in_child(read_kernel_data, 0) == KILLED_BY(1), "reading kernel data kills the process");
    t_check(t_in_child(write_kernel_data, 0) == KILLED_BY(2), "writing kernel data kills the process");
    t_check(t_in_child(exec_kernel_text, 0) == KILLED_BY(4), "executing kernel text kills the process");

    /* A data page holding a return instruction: readable, not executable. */
    uint8_t *data = (uint8_t *)sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    memcpy(data, ret_insn, sizeof(ret_insn));
    arch_sync_icache(data, sizeof(ret_insn));
    int st = t_in_child(exec_page, data);
    t_check(st == KILLED_BY(4) && data[0] == ret_insn[0], "executing a data page kills the process (NX), status %x", st);

    /* The same bytes made read+exec run. */
    t_check(sys_mprotect((uintptr_t)data, PAGE, PROT_READ | PROT_EXEC) == 0 && t_in_child(exec_page, data) == 0,
            "the same page made read+exec runs");

    uint8_t *ro = (uint8_t *)sys_mmap(0, PAGE, PROT_READ, MAP_PRIVATE);
    st = t_in_child(write_byte, ro);
    t_check(st == KILLED_BY(2) && ro[0] == 0, "writing a read-only mapping kills the process, status %x", st);
    st = t_in_child(write_byte, (void *)(uintptr_t)main);
    t_check(st == KILLED_BY(2), "writing the program's own text kills the process, status %x", st);

    uintptr_t guard = USER_STACK_TOP - USER_STACK_PAGES * PAGE - 8;
    t_check(t_in_child(write_byte, (void *)guard) == KILLED_BY(2), "writing the stack guard page kills the process");
    t_check(t_in_child(overflow_stack, 0) == KILLED_BY(2), "a stack overflow into the guard page kills the process");
    st = t_in_child(read_byte, (void *)0x8000000000000000ul);
    t_check(st >= 0 && (st & WAIT_KILLED), "a non-canonical access kills the process, status %x", st);
    t_check(t_in_child(read_byte, (void *)0x1000) == KILLED_BY(1), "reading an unmapped page kills the process");

    /* Write + exec is refused whatever the route, and maps nothing. */
    uintptr_t fixed = 0x30000000;
    t_check(sys_mmap(0, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE) == -EINVAL,
            "mmap read+write+exec is refused with -EINVAL");
    t_check(sys_mmap(fixed, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_FIXED) == -EINVAL &&
                sys_mmap(fixed, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED) == (long)fixed,
            "a refused fixed W+X mapping leaves the address free");
    t_check(sys_mmap(fixed + PAGE, PAGE, PROT_WRITE | PROT_EXEC | PROT_READ, MAP_SHARED | MAP_FIXED) == -EINVAL,
            "a shared W+X mapping is refused too");
    uint8_t *rw = (uint8_t *)fixed;
    rw[0] = 0x42;
    t_check(sys_mprotect(fixed, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) == -EINVAL && (rw[0] = 0x43, rw[0] == 0x43),
            "mprotect to W+X is refused and the page stays writable");
    st = t_in_child(exec_page, rw);
    t_check(st == KILLED_BY(4), "and not executable, status %x", st);

    st = t_in_child(privileged, 0);
    t_check(st == WAIT_KILLED, "a privileged instruction kills the process, status %x", st);
    t_check(kmm_syscall(SYS_COUNT + 100, 0, 0, 0, 0) == -ENOSYS && kmm_syscall(-1, 0, 0, 0, 0) == -ENOSYS,
            "an unknown system call is -ENOSYS");
    return t_done();
}
