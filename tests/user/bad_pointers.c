/* tests/user/bad_pointers.c - system calls given pointers they must not
 * follow return -EFAULT (or -EINVAL for the mapping calls) and change
 * nothing: unmapped, kernel, crossing the end of user space,
 * non-canonical, a length that overflows. */
#include "ulib.h"

#define NBAD 7

int main(void)
{
    t_plan(16);
    struct kmm_meminfo mi;
    long r = sys_meminfo(&mi);
    t_check(r == 0 && mi.user_end != 0, "meminfo works (user half ends at %lx)", (unsigned long)mi.user_end);

    /* A page followed by a hole. */
    uint8_t *buf = (uint8_t *)sys_mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    sys_munmap((uintptr_t)buf + PAGE, PAGE);
    memset(buf, 0xaa, PAGE);

    static const char *const names[NBAD] = { "unmapped", "hole after a mapping", "kernel text", "kernel data",
                                             "crossing the end of user space", "non-canonical",
                                             "non-canonical high" };
    uintptr_t bad[NBAD] = { 0x1000, (uintptr_t)buf + PAGE, mi.kernel_text, mi.kernel_data, mi.user_end - 8,
                            mi.user_end, 0x8000000000000000ul };
    int ok_write = 0, ok_meminfo = 0;
    for (int i = 0; i < NBAD; i++) {
        long w = sys_write(1, (const void *)bad[i], 16);
        long m = sys_meminfo((struct kmm_meminfo *)bad[i]);
        ok_write += w == -EFAULT;
        ok_meminfo += m == -EFAULT;
        if (w != -EFAULT || m != -EFAULT)
            uprintf("# %s (%lx): write %ld, meminfo %ld\n", names[i], (unsigned long)bad[i], w, m);
    }
    t_check(ok_write == NBAD, "write with each bad buffer returns -EFAULT (%d of %d)", ok_write, NBAD);
    t_check(ok_meminfo == NBAD, "meminfo into each bad buffer returns -EFAULT (%d of %d)", ok_meminfo, NBAD);
    t_check(sys_write(1, buf, ~0ul - 100) == -EFAULT, "write with a length that overflows returns -EFAULT");
    t_check(sys_write(1, buf, mi.user_end) == -EFAULT, "write with a length past the user half returns -EFAULT");

    /* Half inside, half in the hole: nothing of the inside half changes. */
    struct kmm_meminfo *straddle = (struct kmm_meminfo *)(buf + PAGE - 16);
    r = sys_meminfo(straddle);
    int changed = 0;
    for (int i = 0; i < 16; i++)
        changed += buf[PAGE - 16 + i] != 0xaa;
    t_check(r == -EFAULT && changed == 0, "meminfo straddling a hole: -EFAULT, %d bytes changed", changed);
    t_check(sys_write(1, buf + PAGE - 4, 8) == -EFAULT, "write straddling a hole returns -EFAULT");

    /* Into a read-only mapping: refused, still zero. */
    uint8_t *ro = (uint8_t *)sys_mmap(0, PAGE, PROT_READ, MAP_PRIVATE);
    r = sys_meminfo((struct kmm_meminfo *)ro);
    t_check(r == -EFAULT && ro[0] == 0 && ro[8] == 0, "meminfo into a read-only page: -EFAULT, page unchanged");

    /* wait with a bad status pointer keeps the child for the next wait. */
    long pid = sys_fork();
    if (pid == 0)
        sys_exit(7);
    int ok_wait = 0;
    for (int i = 0; i < NBAD; i++)
        ok_wait += sys_wait((int *)bad[i]) == -EFAULT;
    t_check(ok_wait == NBAD, "wait into each bad status pointer returns -EFAULT (%d of %d)", ok_wait, NBAD);
    int st = -1;
    long w = sys_wait(&st);
    t_check(w == pid && st == 7, "the child is still there for the next wait (pid %ld, status %d)", w, st);
    t_check(sys_wait(&st) == -ECHILD, "then there is no child left");

    /* The mapping calls refuse kernel and non-canonical ranges. */
    t_check(sys_munmap(mi.kernel_data & ~(PAGE - 1), PAGE) == -EINVAL, "munmap of a kernel page is -EINVAL");
    t_check(sys_mprotect(mi.kernel_text & ~(PAGE - 1), PAGE, PROT_READ) == -EINVAL, "mprotect of a kernel page is -EINVAL");
    t_check(sys_mmap(mi.user_end, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) == -EINVAL,
            "mmap at a non-canonical address is -EINVAL");
    t_check(sys_mmap(mi.user_end - PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) == -EINVAL,
            "mmap crossing the end of user space is -EINVAL");
    t_check(sys_mmap(0, ~0ul - 100, PROT_READ, MAP_PRIVATE) == -EINVAL, "mmap with a length that overflows is -EINVAL");
    return t_done();
}
