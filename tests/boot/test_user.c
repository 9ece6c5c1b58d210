/* tests/boot/test_user.c - user programs (tests/user/) run as processes on
 * the real MMU. Each program prints its own checks as a KTAP block that the
 * kernel nests under this test (four spaces), and exits with the number of
 * checks that failed; a program killed by a fault ends with WAIT_KILLED.
 * The runner then checks that every frame came back. These tests need a
 * small machine (the fork-until-out-of-memory and 2/3-of-memory programs
 * scale with RAM): the boot suites run them in their own QEMU with
 * `ktest.filter=^user_` and exclude them elsewhere (`ktest.exclude=user_`). */
#include "kernel/process.h"
#include "kernel/uapi.h"
#include "mm/check.h"
#include "tests/boot/boot_test.h"

static void run_program(ktest_state_t *t, const char *name)
{
    int status = -1;
    proc_output_prefix = "    ";
    printk("    # Subtest: %s\n", name);
    int err = proc_run(name, &status);
    proc_output_prefix = "";
    KT_ASSERT(t, err == 0, "proc_run(%s) failed with %d", name, err);
    KT_EXPECT(t, status == 0, "%s ended with wait status %#x (%s)", name, (unsigned)status,
              status & WAIT_KILLED ? "killed" : "failed checks");
    KT_EXPECT(t, proc_count() == 0, "%zu processes left", proc_count());
    KT_EXPECT(t, kernel_current_context() == mm_kernel_context(), "the kernel context is not active again");
    mm_check_report_t r;
    int inv = mm_check_invariants(&r);
    KT_EXPECT(t, inv == 0, "invariant checker: %zu violations, first: %s", r.violations, r.first);
}

KTEST(user_isolation_faults_kill_only_the_process) { run_program(t, "isolation"); }
KTEST(user_bad_pointers_return_efault_and_change_nothing) { run_program(t, "bad_pointers"); }
KTEST(user_fork_private_and_shared_memory) { run_program(t, "fork"); }
KTEST(user_mmap_munmap_mprotect) { run_program(t, "mmap"); }
KTEST(user_copy_on_write_scenarios) { run_program(t, "cow"); }
KTEST(user_fork_until_out_of_memory) { run_program(t, "fork_oom"); }

KTEST(user_unknown_program_is_enoent)
{
    int status = 0;
    KT_EXPECT(t, proc_run("no-such-program", &status) == -ENOENT, "an unknown program must be -ENOENT");
    KT_EXPECT(t, proc_count() == 0, "%zu processes left", proc_count());
}

/* A process object and its kernel stack come back when the address space
 * cannot be made: every allocation failing in turn leaves nothing behind. */
KTEST(user_program_load_failing_at_each_allocation_leaks_nothing)
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
