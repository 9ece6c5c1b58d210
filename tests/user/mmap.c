/* tests/user/mmap.c - the mapping calls: mmap at a hint or an exact
 * address, munmap of part of a mapping, mprotect both ways, the argument
 * checks, a shared mapping far larger than the machine's RAM, the stack's
 * guard page (no call makes it memory) and page 0 (never mapped). */
#include "ulib.h"

static volatile uint8_t sink;
static void read_byte(void *p) { sink = *(volatile uint8_t *)p; }
static void write_byte(void *p) { *(volatile uint8_t *)p = 1; }

/* Below the stack's 16 pages: one guard page, then nothing. */
#define GUARD (USER_STACK_TOP - (USER_STACK_PAGES + 1) * PAGE)
/* Lowest address the memory manager maps (MM_USER_MIN, mm/mm.h). */
#define USER_MIN 0x10000ul

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
    t_plan(23);
    long a = sys_mmap(0, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    t_check(a >= (long)USER_MMAP_BASE && (a & (PAGE - 1)) == 0, "mmap without a hint maps at %lx", (unsigned long)a);
    volatile uint8_t *p = (uint8_t *)a;
    t_check(p[0] == 0 && p[2 * PAGE + 100] == 0 && (p[PAGE] = 9, p[PAGE] == 9), "fresh pages read zero and take writes");

    uintptr_t fixed = 0x20000000;
    t_check(sys_mmap(fixed, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) == (long)fixed, "mmap MAP_FIXED maps exactly there");
    t_check(sys_mmap(fixed, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) == -EEXIST, "a second MAP_FIXED there is -EEXIST");
    long h = sys_mmap(fixed, PAGE, PROT_READ, MAP_PRIVATE);
    t_check(h > 0 && h != (long)fixed, "a hint at a taken address maps elsewhere (%lx)", (unsigned long)h);

    t_check(sys_munmap((uintptr_t)a + PAGE, PAGE) == 0, "munmap of the middle page");
    int st = t_in_child(read_byte, (void *)(p + PAGE));
    t_check(st == KILLED_BY(1) && p[0] == 0 && (p[2 * PAGE] = 3, p[2 * PAGE] == 3),
            "the middle page is gone (child status %x), its neighbours stay", st);

    t_check(sys_mprotect((uintptr_t)a, PAGE, PROT_READ) == 0 && t_in_child(write_byte, (void *)p) == KILLED_BY(2),
            "mprotect read-only: a write kills");
    t_check(sys_mprotect((uintptr_t)a, PAGE, PROT_READ | PROT_WRITE) == 0 && (p[0] = 4, p[0] == 4),
            "mprotect read+write again: writes work");

    int bad = 0;
    bad += sys_mmap(0, 0, PROT_READ, MAP_PRIVATE) != -EINVAL;
    bad += sys_mmap(fixed + 123, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) != -EINVAL;
    bad += sys_mmap(0, PAGE, 0, MAP_PRIVATE) != -EINVAL;
    bad += sys_mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_SHARED) != -EINVAL;
    bad += sys_mmap(0, PAGE, PROT_READ, 0) != -EINVAL;
    bad += sys_mmap(0, PAGE, PROT_READ | 0x100, MAP_PRIVATE) != -EINVAL;
    t_check(bad == 0, "mmap refuses a zero length, an unaligned fixed address, no PROT_READ, bad flags (%d wrong)", bad);
    bad = 0;
    bad += sys_munmap((uintptr_t)a + 1, PAGE) != -EINVAL;
    bad += sys_munmap((uintptr_t)a, 0) != -EINVAL;
    bad += sys_mprotect((uintptr_t)a, PAGE, PROT_WRITE) != -EINVAL;
    t_check(bad == 0, "munmap and mprotect refuse unaligned, empty and write-only requests (%d wrong)", bad);
    t_check(sys_munmap((uintptr_t)a, 3 * PAGE) == 0 && sys_munmap(fixed, PAGE) == 0 && sys_munmap((uintptr_t)h, PAGE) == 0,
            "everything unmaps");

    /* A shared mapping 128 times the machine's RAM (128 MiB) costs only the
     * pages touched (issue 11, item 5): the object's index grows with them. */
    struct kmm_meminfo m0, m1, m2;
    sys_meminfo(&m0);
    const size_t big = (size_t)16 << 30;
    long s = sys_mmap(0, big, PROT_READ | PROT_WRITE, MAP_SHARED);
    sys_meminfo(&m1);
    t_check(s > 0 && m0.free_frames - m1.free_frames <= 2,
            "a 16 GiB MAP_SHARED mapping maps (%lx) and takes %ld frames (slab pages at most)", (unsigned long)s,
            (long)(m0.free_frames - m1.free_frames));
    if (s > 0) {
        volatile uint64_t *first = (uint64_t *)s, *mid = (uint64_t *)(s + big / 2), *last = (uint64_t *)(s + big - 8);
        *first = 1, *mid = 2, *last = 3;
        sys_meminfo(&m2);
        t_check(*first == 1 && *mid == 2 && *last == 3 && m1.free_frames - m2.free_frames < 32,
                "three pages of it touched: %ld frames more (pages, index nodes, tables)",
                (long)(m1.free_frames - m2.free_frames));
        long err = sys_munmap((uintptr_t)s, big);
        sys_meminfo(&m2);
        t_check(err == 0 && m2.free_frames == m0.free_frames, "unmapped (%ld), every frame is back (%ld missing)", err,
                (long)(m0.free_frames - m2.free_frames));
    } else {
        t_check(0, "no mapping to touch");
        t_check(0, "no mapping to unmap");
    }

    /* The stack's guard page stays a guard: mprotect over it fails as over
     * unmapped memory, munmap leaves it, mmap never lands there. */
    long unmapped = sys_mprotect(fixed, PAGE, PROT_READ | PROT_WRITE); /* unmapped just above */
    long g1 = sys_mprotect(GUARD, PAGE, PROT_READ | PROT_WRITE);
    long g2 = sys_mprotect(GUARD, 2 * PAGE, PROT_READ);
    t_check(unmapped == -ENOMEM && g1 == unmapped && g2 == unmapped,
            "mprotect of the guard page (%ld), and of it with a stack page (%ld), fail as over unmapped memory (%ld)", g1,
            g2, unmapped);
    st = t_in_child(write_byte, (void *)(GUARD + 8));
    t_check(st == KILLED_BY(2), "after mprotect, a write to the guard page still kills, status %x", st);
    st = t_in_child(read_byte, (void *)GUARD);
    t_check(st == KILLED_BY(1), "and so does a read, status %x", st);
    long gm = sys_munmap(GUARD, PAGE);
    long gh = sys_mmap(GUARD, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    long gf = sys_mmap(GUARD, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED);
    t_check(gm == 0 && gh > 0 && gh != (long)GUARD && gf == -EEXIST,
            "munmap of the guard is 0 (%ld), a hint there maps elsewhere (%lx), MAP_FIXED there is -EEXIST (%ld)", gm,
            (unsigned long)gh, gf);
    st = t_in_child(write_byte, (void *)(GUARD + 16));
    t_check(st == KILLED_BY(2), "after munmap and mmap, a write to the guard page still kills, status %x", st);
    st = t_in_child(overflow_stack, 0);
    t_check(st == KILLED_BY(2), "a stack overflow still runs into the guard and kills, status %x", st);
    t_check(sys_munmap((uintptr_t)gh, PAGE) == 0, "the hinted page unmaps");

    /* Page 0 and its neighbours are never mapped, whatever the flags. */
    bad = 0;
    bad += sys_mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) != -EINVAL;
    bad += sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED) != -EINVAL;
    bad += sys_mmap(PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) != -EINVAL;
    bad += sys_mmap(USER_MIN - PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED) != -EINVAL;
    st = t_in_child(read_byte, (void *)0);
    t_check(bad == 0 && st == KILLED_BY(1), "mmap MAP_FIXED at page 0 or below 64 KiB is -EINVAL (%d wrong), page 0 faults (status %x)",
            bad, st);
    return t_done();
}
