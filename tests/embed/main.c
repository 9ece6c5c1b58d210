/* tests/embed/main.c - a second, deliberately different kernel that adopts
 * kmm for its user address spaces through mm/kmm.h alone: riscv64, MMU off
 * for itself (identity-mapped, low half), its own page allocator handing a
 * block of frames to kmm, its own headers with the names kmm's internal ones
 * also define. It copies to and from user memory through physical addresses
 * (mm_get_user_page), as xv6 does, and runs a fork / copy-on-write / sbrk /
 * bad-pointer scenario from the kernel, gives kmm a second region after
 * start-up (pmm_add_region), then runs a user program in U-mode on kmm's
 * roots (proc.c, user.c, trampoline.S) with the timer on, printed as KTAP.
 * docs/embedding.md walks through it. */
#include "ekernel.h"
#include "mm/kmm.h"

extern char ek_image_end[];

#define RAM_END 0x88000000ul   /* QEMU virt, -m 128M */
#define KMM_FRAMES 2048        /* 8 MiB handed to kmm at start-up */
#define MORE_FRAMES 1024       /* 4 MiB more after start-up (pmm_add_region) */
#define MORE_RECORDS 4         /* of those, the frames holding their records (16 bytes each) */
#define HEAP ((ptr_t)0x400000) /* the user heap sbrk grows */
#define RODATA ((ptr_t)0x200000)

static unsigned test_no, failures;

void ek_check(bool ok, const char *name)
{
    ek_printf("%sok %u %s\n", ok ? "" : "not ", ++test_no, name);
    failures += !ok;
}

/* copyout / copyin through physical addresses, a page at a time: the page
 * is pinned by mm_get_user_page while the bytes move. 0 or kmm's -errno. */
static long copy_user(mm_context_t *ctx, ptr_t uva, void *buf, size_t n, bool out)
{
    char *b = buf;
    while (n) {
        size_t off = uva & (KMM_PAGE_SIZE - 1), chunk = MIN(n, KMM_PAGE_SIZE - off);
        pfn_t pfn;
        int err = mm_get_user_page(ctx, uva, out ? HAL_ACCESS_WRITE : HAL_ACCESS_READ, &pfn);
        if (err)
            return err;
        char *k = (char *)(uintptr_t)((pfn << KMM_PAGE_SHIFT) + off);
        for (size_t i = 0; i < chunk; i++) {
            if (out)
                k[i] = b[i];
            else
                b[i] = k[i];
        }
        pmm_release(pfn);
        uva += chunk, b += chunk, n -= chunk;
    }
    return 0;
}

static bool same(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* sbrk: grows the heap by n pages, all of them allocated now (a kernel
 * whose sbrk must fail when memory is short). The new break, or an error. */
static ptr_t heap_end = HEAP;
static long sbrk_pages(mm_context_t *ctx, size_t n)
{
    mm_lock_ctx_pair(ctx, NULL);
    vmap_t *v = cow_allocate_zeroed_pages(ctx, n, heap_end, VALLOC_EXACT | VALLOC_POPULATE, VM_USER_RW);
    mm_unlock_ctx_pair(ctx, NULL);
    if (kmm_is_err(v))
        return kmm_ptr_err(v);
    heap_end += n * KMM_PAGE_SIZE;
    return 0;
}

void ek_main(void);
void ek_main(void)
{
    ek_printf("KTAP version 1\n1..19\n");
    ek_timer_start(); /* interrupts on in the kernel from here: kmm's locks mask them (platform.c) */
    ek_pages_init((uintptr_t)ek_image_end, RAM_END);
    size_t own0 = ek_pages_free();
    void *block = ek_pages_give_away(KMM_FRAMES);
    mm_region_t region = { .base = (uintptr_t)block, .size = (uint64_t)KMM_FRAMES * KMM_PAGE_SIZE, .usable = true };
    mm_boot_info_t info = {
        .geometry = hal_geometry_find("riscv64-sv39"),
        .regions = &region,
        .nregions = 1,
        .separate_kernel_root = true, /* a low-half kernel: no kernel half in user roots */
    };
    int err = block && info.geometry ? mm_init(&info) : -KMM_EINVAL;
    mm_stats_t s;
    mm_get_stats(&s);
    ek_check(err == 0 && s.table_pages == 1 && ek_pages_free() == own0 - KMM_FRAMES,
          "kmm_starts_on_frames_this_kernel_gave_it_and_pins_no_kernel_half");
    if (err)
        ek_exit(false);
    size_t free0 = pmm_free_frames();

    mm_context_t *p = mm_create_context();
    bool ok = !kmm_is_err(p) && sbrk_pages(p, 2) == 0 && sbrk_pages(p, 2) == 0;
    mm_get_stats(&s);
    ek_check(ok && heap_end == HEAP + 4 * KMM_PAGE_SIZE && s.user_pages == 4, "sbrk_populates_the_heap_at_once");

    static const char msg[] = "written by the parent across a page boundary";
    ptr_t at = HEAP + KMM_PAGE_SIZE - 10;
    char back[sizeof msg] = { 0 };
    ok = copy_user(p, at, (void *)msg, sizeof msg, true) == 0 && copy_user(p, at, back, sizeof back, false) == 0;
    ek_check(ok && same(msg, back, sizeof msg), "copyout_then_copyin_through_physical_addresses");

    /* fork with a reserve; the child sees the parent's bytes in the same frames */
    size_t before_fork = pmm_free_frames();
    mm_context_t *c = mm_clone_context_opts(p, &(mm_clone_opts_t){ .reserve_frames = 16 });
    pfn_t pp = 0, cp = 0;
    ok = !kmm_is_err(c) && mm_get_user_page(p, HEAP, HAL_ACCESS_READ, &pp) == 0 &&
         mm_get_user_page(c, HEAP, HAL_ACCESS_READ, &cp) == 0;
    ek_check(ok && pp == cp && pmm_refcount(pp) == 4, "fork_shares_frames_copy_on_write");
    if (ok) {
        pmm_release(pp);
        pmm_release(cp);
    }

    /* the child writes: its page is copied, the parent's bytes stay */
    static const char mine[] = "child";
    char pb[sizeof msg] = { 0 }, cb[sizeof mine] = { 0 };
    ok = copy_user(c, at, (void *)mine, sizeof mine, true) == 0 && copy_user(p, at, pb, sizeof pb, false) == 0 &&
         copy_user(c, at, cb, sizeof cb, false) == 0;
    ek_check(ok && same(pb, msg, sizeof msg) && same(cb, mine, sizeof mine) && mm_get_phys_addr(c, HEAP) != mm_get_phys_addr(p, HEAP),
          "child_write_copies_and_parent_keeps_its_bytes");

    /* bad pointers: page 0, this kernel's own image (a low address, but in
     * no vmap), past the heap, a write to read-only memory */
    mm_lock_ctx_pair(p, NULL);
    vmap_t *ro = cow_allocate_zeroed_pages(p, 1, RODATA, VALLOC_EXACT, VM_USER_RO);
    mm_unlock_ctx_pair(p, NULL);
    char x = 'x';
    ok = !kmm_is_err(ro) && copy_user(p, RODATA, &x, 1, false) == 0 && x == 0; /* the zero page, and a table */
    size_t free_before_bad = pmm_free_frames();
    ok = ok && copy_user(p, 0, &x, 1, true) == -KMM_EFAULT &&
         copy_user(p, (ptr_t)(uintptr_t)ek_image_end - 64, &x, 1, false) == -KMM_EFAULT &&
         copy_user(p, heap_end, &x, 1, true) == -KMM_EFAULT && copy_user(p, RODATA, &x, 1, true) == -KMM_EFAULT;
    ek_check(ok && pmm_free_frames() == free_before_bad, "bad_user_pointers_are_refused_with_nothing_taken");

    /* sbrk beyond what is left fails at once, and leaves nothing */
    size_t left = pmm_free_frames();
    long e = sbrk_pages(p, left + 1);
    ek_check(e == -KMM_ENOMEM && pmm_free_frames() == left && heap_end == HEAP + 4 * KMM_PAGE_SIZE,
          "sbrk_beyond_memory_fails_with_enomem_and_leaves_nothing");

    /* a fork that would leave less than its reserve is refused */
    mm_context_t *c2 = mm_clone_context_opts(p, &(mm_clone_opts_t){ .reserve_frames = pmm_free_frames() + 1 });
    ek_check(kmm_ptr_err(c2) == -KMM_ENOMEM && pmm_free_frames() == left, "fork_below_its_reserve_is_refused");

    mm_destroy_context(c);
    mm_destroy_context(p);

    /* Memory added after start-up: this kernel's allocator gives up another
     * block (below the first: adjacent to mm_init's span, outside it). */
    size_t free_before_add = pmm_free_frames();
    char *more = ek_pages_give_away(MORE_FRAMES);
    uint64_t more_lo = (uintptr_t)more, more_hi = more_lo + (uint64_t)MORE_FRAMES * KMM_PAGE_SIZE;
    ek_user.region_lo = more_lo, ek_user.region_hi = more_hi;
    err = more ? pmm_add_region(more_lo, more_hi - more_lo) : -KMM_EINVAL;
    size_t free_added = pmm_free_frames();
    /* again, or overlapping mm_init's span: refused, nothing changes */
    int again = pmm_add_region(more_lo, more_hi - more_lo);
    int over = pmm_add_region(more_hi - KMM_PAGE_SIZE, 2 * KMM_PAGE_SIZE);
    int odd = pmm_add_region(more_lo + 8, KMM_PAGE_SIZE);
    ek_check(err == 0 && free_added == free_before_add + MORE_FRAMES - MORE_RECORDS && again == -KMM_EEXIST &&
                 over == -KMM_EEXIST && odd == -KMM_EINVAL && pmm_free_frames() == free_added &&
                 pmm_is_managed((more_hi >> KMM_PAGE_SHIFT) - 1) && !pmm_is_managed(more_lo >> KMM_PAGE_SHIFT),
             "a_region_given_after_start_up_is_managed_and_bad_ones_are_refused");

    /* A heap larger than what the first region has free lands in the second. */
    mm_context_t *q = mm_create_context();
    heap_end = HEAP;
    size_t want = free_before_add + 16, in_more = 0;
    ok = !kmm_is_err(q) && sbrk_pages(q, want) == 0;
    for (size_t i = 0; ok && i < want; i++) {
        uint64_t pa = mm_get_phys_addr(q, HEAP + i * KMM_PAGE_SIZE);
        in_more += pa >= more_lo && pa < more_hi;
    }
    if (!kmm_is_err(q))
        mm_destroy_context(q);
    ek_printf("# %u of %u heap pages in the added region\n", (unsigned)in_more, (unsigned)want);
    ek_check(ok && in_more >= 16 && pmm_free_frames() == free_added, "a_heap_beyond_the_first_region_lands_in_the_added_one");

    /* While the user program runs, every frame of the first region is held
     * here: what its writes fault in comes from the added region. */
    static pfn_t held[KMM_FRAMES + MORE_FRAMES];
    size_t nheld = 0, nmore = 0;
    for (pfn_t f; nheld < sizeof held / sizeof held[0] && (f = pmm_alloc()) != PMM_NO_FRAME;)
        held[nheld++] = f;
    for (size_t i = 0; i < nheld; i++) { /* the added region's go back: held[] keeps the first region's */
        if ((held[i] << KMM_PAGE_SHIFT) >= more_lo && (held[i] << KMM_PAGE_SHIFT) < more_hi)
            pmm_release(held[i]), nmore++;
        else
            held[i - nmore] = held[i];
    }
    nheld -= nmore;

    /* User mode: the program of user.c on kmm roots, through the trampoline;
     * it reports its own checks. The trap frames come from this kernel's
     * allocator and go back to it. */
    size_t own_before_user = ek_pages_free();
    long status = ek_run_user_program();
    ek_printf("# user program: status %d, %u faults resolved (%u writes, %u of them in the added region), %u killed, timer ticks %u in the kernel and %u in "
              "user mode, %u inside kmm locks\n",
              (int)status, (unsigned)ek_user.faults, (unsigned)ek_user.write_faults,
              (unsigned)ek_user.write_faults_in_region, (unsigned)ek_user.killed, (unsigned)ek_user.kernel_ticks,
              (unsigned)ek_user.user_ticks, (unsigned)ek_user.ticks_inside_kmm_locks);
    for (size_t i = 0; i < nheld; i++)
        pmm_release(held[i]);
    ek_check(status == 0 && ek_user.killed == 2 && ek_pages_free() == own_before_user,
             "user_program_ran_to_its_end_on_kmm_roots");
    ek_check(ek_user.write_faults > 0 && ek_user.write_faults_in_region == ek_user.write_faults,
             "user_pages_written_land_in_the_region_added_after_start_up");
    ek_check(ek_user.kernel_ticks > 0 && ek_user.ticks_inside_kmm_locks == 0,
             "timer_interrupts_taken_in_the_kernel_never_inside_a_kmm_lock");
    ek_printf("# frames: %u free of %u at the start, %u before the fork; %u interrupt saves, %u deep at most\n",
              (unsigned)pmm_free_frames(), (unsigned)free0, (unsigned)before_fork, (unsigned)ek_irq_saves,
              (unsigned)ek_irq_masked_max);
    ek_check(pmm_free_frames() == free0 + MORE_FRAMES - MORE_RECORDS && ek_irq_saves > 0 && ek_irq_masked_max >= 2,
          "every_frame_back_and_locks_masked_interrupts_nested");
    ek_exit(failures == 0);
}
