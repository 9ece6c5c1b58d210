/* tests/boot/test_user.c - user programs (tests/user/) run as processes on
 * the real MMU. Each program prints its own checks as a KTAP block that the
 * kernel nests under its test (four spaces), and exits with the number of
 * checks that failed; a program killed by a fault ends with WAIT_KILLED.
 * The runner then checks that every frame came back. The test that runs
 * each program as is comes from tests/user/meson.build's list (generated
 * user_program_tests.c, run_program in tests/boot/user_program.c); this
 * file holds the others: process and loader failures. These tests need a
 * small machine (the fork-until-out-of-memory and 2/3-of-memory programs
 * scale with RAM): the boot suites run them in their own QEMU with
 * `ktest.filter=^userprog_` and exclude them elsewhere (`ktest.exclude=userprog_`). */
#include "kernel/process.h"
#include "kernel/smp.h"
#include "kernel/uapi.h"
#include "mm/check.h"
#include "tests/boot/boot_test.h"
#include "tests/boot/user_program.h"

KTEST(userprog_unknown_program_is_enoent)
{
    int status = 0;
    KT_EXPECT(t, proc_run("no-such-program", &status) == -ENOENT, "an unknown program must be -ENOENT");
    KT_EXPECT(t, proc_count() == 0, "%zu processes left", proc_count());
}

/* A process object and its kernel stack come back when the address space
 * cannot be made: every allocation failing in turn leaves nothing behind. */
KTEST(userprog_program_load_failing_at_each_allocation_leaks_nothing)
{
    int failures_seen = 0;
    for (size_t nth = 1; nth < 400; nth++) {
        size_t before = pmm_free_frames();
        pmm_fail_after(nth);
        int status = -1;
        proc_output_prefix = "    # "; /* a run hit by the failure later prints failures: diagnostics only */
        int err = proc_run("mmap", &status);
        proc_output_prefix = "";
        pmm_fail_after(0);
        if (err == 0)
            break;
        failures_seen++;
        KT_ASSERT(t, err == -ENOMEM, "allocation %zu failing gave %d", nth, err);
        KT_ASSERT(t, pmm_free_frames() == before, "allocation %zu failing leaked %ld frames", nth,
                  (long)before - (long)pmm_free_frames());
        KT_ASSERT(t, proc_count() == 0, "allocation %zu failing left %zu processes", nth, proc_count());
    }
    KT_EXPECT(t, failures_seen > 3, "only %d allocations could fail", failures_seen);
}

/* Every allocation of a run of fork_once fails in turn (frames and objects
 * alike): loading fails with -ENOMEM, or the fork fails with -ENOMEM in the
 * parent, or a process whose fault found no memory is killed; never another
 * outcome, and every frame comes back each time. */
KTEST(userprog_fork_failing_at_each_allocation_fails_cleanly)
{
    int load = 0, fork_enomem = 0, killed = 0, runs = 0;
    for (size_t nth = 1; nth < 1000; nth++) {
        size_t before = pmm_free_frames();
        pmm_fail_after(nth);
        int status = -1;
        int err = proc_run("fork_once", &status);
        pmm_fail_after(0);
        runs++;
        KT_ASSERT(t, pmm_free_frames() == before, "allocation %zu failing leaked %ld frames", nth,
                  (long)before - (long)pmm_free_frames());
        KT_ASSERT(t, proc_count() == 0, "allocation %zu failing left %zu processes", nth, proc_count());
        if (err) {
            KT_ASSERT(t, err == -ENOMEM, "allocation %zu failing: load gave %d", nth, err);
            load++;
        } else if (status == 0) {
            break; /* the run needs fewer allocations: nothing failed */
        } else if (status == 100) {
            fork_enomem++;
        } else {
            KT_ASSERT(t, status == 102 || (status & WAIT_KILLED), "allocation %zu failing: status %#x", nth,
                      (unsigned)status);
            killed++;
        }
    }
    printk("# %d runs: %d load failures, %d forks failed with -ENOMEM, %d processes killed for memory\n", runs, load,
           fork_enomem, killed);
    KT_EXPECT(t, fork_enomem >= 3, "only %d allocations inside fork failed it", fork_enomem);
    KT_EXPECT(t, load >= 3, "only %d allocations failed the load", load);
}

/* A minimal ELF64 executable of this arch in buf: one PT_LOAD segment at
 * 0x400000 with flags pf, holding a return instruction, entry at its start. */
static size_t make_elf(uint8_t *buf, size_t cap, uint32_t pf)
{
    memset(buf, 0, cap);
    uint8_t *eh = buf, *ph = buf + 64;
    memcpy(eh, "\177ELF", 4);
    eh[4] = 2; /* ELFCLASS64 */
    eh[5] = 1; /* little endian */
    eh[6] = 1; /* EV_CURRENT */
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
#define PUT(off, v, var) (var = (v), memcpy(buf + (off), &var, sizeof(var)))
    PUT(16, 2, u16);                 /* e_type ET_EXEC */
    PUT(18, arch_elf_machine, u16);  /* e_machine */
    PUT(20, 1, u32);                 /* e_version */
    PUT(24, 0x400000, u64);          /* e_entry */
    PUT(32, 64, u64);                /* e_phoff */
    PUT(52, 64, u16);                /* e_ehsize */
    PUT(54, 56, u16);                /* e_phentsize */
    PUT(56, 1, u16);                 /* e_phnum */
    PUT(64 + 0, 1, u32);             /* p_type PT_LOAD */
    PUT(64 + 4, pf, u32);            /* p_flags */
    PUT(64 + 8, 0x1000, u64);        /* p_offset */
    PUT(64 + 16, 0x400000, u64);     /* p_vaddr */
    PUT(64 + 32, arch_ret_insn_len, u64); /* p_filesz */
    PUT(64 + 40, 0x1000, u64);       /* p_memsz */
#undef PUT
    (void)ph;
    memcpy(buf + 0x1000, arch_ret_insn, arch_ret_insn_len);
    return 0x1000 + arch_ret_insn_len;
}

/* Loads image into a fresh context; returns elf_load's result. */
static int try_load(const uint8_t *image, size_t size, ptr_t *entry, vm_flags *text_flags)
{
    mm_context_t *mm = mm_create_context();
    if (IS_ERR(mm))
        return (int)PTR_ERR(mm);
    kernel_switch_context(mm);
    int err = elf_load(mm, image, size, entry);
    if (err == 0 && text_flags) {
        uint64_t pa;
        if (mm_do_translate(mm, 0x400000, &pa, text_flags) != 0)
            *text_flags = VM_NONE;
    }
    kernel_switch_context(mm_kernel_context());
    mm_destroy_context(mm);
    return err;
}

KTEST(userprog_elf_loader_maps_segments_with_their_rights_and_refuses_bad_images)
{
    static uint8_t img[0x1100];
    ptr_t entry = 0;
    vm_flags f = VM_NONE;
    size_t n = make_elf(img, sizeof(img), 5 /* R+X */);
    KT_EXPECT(t, try_load(img, n, &entry, &f) == 0 && entry == 0x400000, "a read+exec segment loads");
    KT_EXPECT(t, (f & (VM_READ | VM_WRITE | VM_EXEC | VM_USER)) == (VM_READ | VM_EXEC | VM_USER),
              "text mapped user read+exec, got flags %#x", (unsigned)f);
    n = make_elf(img, sizeof(img), 7 /* R+W+X */);
    KT_EXPECT(t, try_load(img, n, &entry, NULL) == -ENOEXEC, "a writable and executable segment is refused");
    n = make_elf(img, sizeof(img), 6 /* R+W: the entry is not executable */);
    KT_EXPECT(t, try_load(img, n, &entry, NULL) == -ENOEXEC, "an entry point outside executable segments is refused");
    n = make_elf(img, sizeof(img), 5);
    KT_EXPECT(t, try_load(img, 40, &entry, NULL) == -ENOEXEC, "a truncated header is refused");
    KT_EXPECT(t, try_load(img, 0x1000, &entry, NULL) == -ENOEXEC, "a segment past the end of the image is refused");
    img[18] ^= 0xff;
    KT_EXPECT(t, try_load(img, n, &entry, NULL) == -ENOEXEC, "another machine's image is refused");
    img[18] ^= 0xff;
    uint64_t kva = (uint64_t)(ptr_t)_text_start;
    memcpy(img + 64 + 16, &kva, 8);
    KT_EXPECT(t, try_load(img, n, &entry, NULL) == -ENOEXEC, "a segment in the kernel half is refused");
}

typedef struct soak_checks {
    size_t runs, violations, no_memory;
    char first[200];
} soak_checks_t;

/* Runs at a quiescent moment (proc_run_checked): no thread runs anywhere. */
static void soak_check(void *arg)
{
    soak_checks_t *c = arg;
    mm_check_report_t r;
    int err = mm_check_invariants(&r);
    c->runs++;
    if (err == -ENOMEM)
        c->no_memory++;
    if (err == -EINVAL && !c->violations)
        memcpy(c->first, r.first, sizeof(c->first));
    if (err == -EINVAL)
        c->violations += r.violations;
}

/* The SMP soak (tests/user/smp_soak.c): several processes and threads do
 * random operations on every CPU; every 2 ticks of this CPU's timer all
 * threads are held off and the invariant checker runs; every frame comes
 * back. The line says how many operations the kernel saw (system calls and
 * resolved page faults) and what the checker found, like model-check's. */
KTEST(userprog_smp_soak_random_operations_keep_the_invariants)
{
    soak_checks_t c = { 0 };
    size_t free_before = pmm_free_frames();
    size_t calls = kernel_syscall_count(), faults = kernel_fault_stats.mm_resolved;
    int status = -1;
    proc_output_prefix = "    ";
    printk("    # Subtest: smp_soak\n");
    int err = proc_run_checked("smp_soak", &status, soak_check, &c, 2);
    proc_output_prefix = "";
    size_t ops = kernel_syscall_count() - calls + (kernel_fault_stats.mm_resolved - faults);
    long leaks = (long)free_before - (long)pmm_free_frames();
    mm_check_report_t r;
    int final = mm_check_invariants(&r);
    c.runs++;
    if (final == -EINVAL)
        c.violations += r.violations;
    printk("# smp-soak %s: %zu ops, %zu checks, %zu violations, %ld leaks (%u CPUs)\n", kernel_geometry->name, ops,
           c.runs, c.violations, leaks, smp_cpu_count());
    KT_ASSERT(t, err == 0, "proc_run_checked(smp_soak) failed with %d", err);
    KT_EXPECT(t, status == 0, "smp_soak ended with wait status %#x", (unsigned)status);
    KT_EXPECT(t, c.violations == 0, "the checker found %zu violations, first: %s", c.violations,
              final == -EINVAL ? r.first : c.first);
    KT_EXPECT(t, c.runs >= 2 && c.no_memory == 0, "the checker ran %zu times (%zu without memory)", c.runs, c.no_memory);
    KT_EXPECT(t, leaks == 0, "%ld frames not back", leaks);
    KT_EXPECT(t, proc_count() == 0, "%zu processes left", proc_count());
}
