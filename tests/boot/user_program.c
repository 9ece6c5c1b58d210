/* tests/boot/user_program.c - run_program, shared by the generated boot
 * test of each user program and by tests/boot/test_user.c. */
#include "tests/boot/user_program.h"

#include "kernel/process.h"
#include "kernel/uapi.h"
#include "mm/check.h"
#include "tests/boot/boot_test.h"

void run_program(ktest_state_t *t, const char *name)
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
