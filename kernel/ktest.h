/* kernel/ktest.h - boot tests: KTEST(name) { ... } registers a test in the
 * `ktests` linker section; the runner prints KTAP on the console.
 *
 *   KTEST(map_then_read_back) {
 *       KT_ASSERT(t, x == 1, "x is %d", x);   // records the failure and returns
 *       KT_EXPECT(t, y == 2, "y is %d", y);   // records the failure and goes on
 *       KT_SKIP(t, "no SMAP on this CPU");   // marks the test skipped, returns
 *   }
 *
 * A test must give back what it took (frames, contexts, locks): the runner
 * checks the free-frame count after each test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kernel/printk.h"

typedef struct ktest_state {
    const char *name;
    bool failed;
    const char *skip_reason;
} ktest_state_t;

typedef struct ktest {
    const char *name;
    void (*fn)(ktest_state_t *t);
    const char *file; /* tests run in (file, line) order, whatever the linker did */
    int line;
} ktest_t;

#define KTEST(tname)                                                                                                  \
    static void ktest_fn_##tname(ktest_state_t *t);                                                                    \
    __attribute__((used, section("ktests"), aligned(16))) static const ktest_t ktest_entry_##tname = {                 \
        #tname, ktest_fn_##tname, __FILE__, __LINE__                                                                   \
    };                                                                                                                 \
    static void ktest_fn_##tname(ktest_state_t *t)

void ktest_fail_at(ktest_state_t *t, const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define KT_EXPECT(t, cond, ...)                                                                                        \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            ktest_fail_at((t), __FILE__, __LINE__, #cond, __VA_ARGS__);                                                \
    } while (0)
#define KT_ASSERT(t, cond, ...)                                                                                        \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            ktest_fail_at((t), __FILE__, __LINE__, #cond, __VA_ARGS__);                                                \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)
#define KT_SKIP(t, reason)                                                                                             \
    do {                                                                                                               \
        (t)->skip_reason = (reason);                                                                                   \
        return;                                                                                                        \
    } while (0)

/* Runs every registered test (or those whose name contains `filter`, if
 * not NULL/empty) and prints KTAP. Returns the number of failures. */
int ktest_run_all(const char *filter);
