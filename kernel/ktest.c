/* kernel/ktest.c - the in-kernel test runner: KTAP on the console
 * ("KTAP version 1", "1..N", "ok N name" / "not ok N name", "# ..." lines).
 * After each test the free-frame count must be back where it was. */
#include "kernel/ktest.h"

#include <stdarg.h>

#include "kernel/lib/string.h"
#include "mm/pmm.h"

extern const ktest_t __ktests_start[], __ktests_end[];

void ktest_fail_at(ktest_state_t *t, const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printk("# %s: %s:%d: expected %s: %s\n", t->name, file, line, cond, msg);
    t->failed = true;
}

static bool selected(const ktest_t *k, const char *filter)
{
    if (!filter || !*filter)
        return true;
    size_t n = strlen(filter);
    for (const char *p = k->name; *p; p++)
        if (strncmp(p, filter, n) == 0)
            return true;
    return false;
}

#define KTEST_MAX 512

static bool runs_before(const ktest_t *a, const ktest_t *b)
{
    int c = strcmp(a->file, b->file);
    return c < 0 || (c == 0 && a->line < b->line);
}

int ktest_run_all(const char *filter)
{
    static const ktest_t *order[KTEST_MAX];
    size_t total = 0;
    for (const ktest_t *k = __ktests_start; k < __ktests_end; k++) {
        if (!selected(k, filter))
            continue;
        if (total == KTEST_MAX) {
            printk("# ktest: more than %d tests, the rest are not run\n", KTEST_MAX);
            break;
        }
        size_t i = total++;
        for (; i > 0 && runs_before(k, order[i - 1]); i--)
            order[i] = order[i - 1];
        order[i] = k;
    }

    printk("KTAP version 1\n");
    printk("1..%zu\n", total);
    int failures = 0, skipped = 0, n = 0;
    for (size_t idx = 0; idx < total; idx++) {
        const ktest_t *k = order[idx];
        ktest_state_t t = { .name = k->name };
        size_t free_before = pmm_free_frames();
        k->fn(&t);
        size_t free_after = pmm_free_frames();
        if (!t.skip_reason && free_after != free_before)
            ktest_fail_at(&t, __FILE__, __LINE__, "free frames unchanged", "%zu before, %zu after (leak of %ld)",
                          free_before, free_after, (long)free_before - (long)free_after);
        n++;
        if (t.skip_reason && !t.failed) {
            printk("ok %d %s # SKIP %s\n", n, k->name, t.skip_reason);
            skipped++;
        } else if (t.failed) {
            printk("not ok %d %s\n", n, k->name);
            failures++;
        } else {
            printk("ok %d %s\n", n, k->name);
        }
    }
    printk("# kmm boot tests: %d passed, %d failed, %d skipped\n", n - failures - skipped, failures, skipped);
    return failures;
}
