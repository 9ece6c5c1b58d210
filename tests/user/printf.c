/* tests/user/printf.c - the user library's printf: every conversion, length
 * modifier, flag and width the test programs use gives the exact text; an
 * unknown conversion prints `%?c` and fails the process that used it. */
#include "ulib.h"

#define LONG_MIN_ (-0x7fffffffffffffffl - 1)

static int checks_failed;
static const char *volatile null_string; /* NULL the compiler cannot see (it would warn) */

/* One format, checked against the text C's printf gives for it (but %p of
 * NULL, which is 0x0 here). */
#define EXPECT(want, ...)                                                                                              \
    do {                                                                                                               \
        char got[64];                                                                                                  \
        usnprintf(got, sizeof(got), __VA_ARGS__);                                                                      \
        if (strcmp(got, want) != 0) {                                                                                  \
            uprintf("# %s: got '%s', want '%s'\n", #__VA_ARGS__, got, want);                                           \
            checks_failed++;                                                                                           \
        }                                                                                                              \
    } while (0)

/* In a child: two unknown conversions must print as %?q and %? (a '%' at
 * the end), leave the rest of the text alone, and be counted. Exits 0 when
 * they did, 100 when they did not; sys_exit then adds the count (2). */
static void unknown_conversions(void *arg)
{
    (void)arg;
    char got[32];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
    usnprintf(got, sizeof(got), "a%qb%d%", 5);
#pragma GCC diagnostic pop
    bool ok = strcmp(got, "a%?qb5%?") == 0 && uprintf_unknown_conversions() == 2;
    if (!ok)
        uprintf("# unknown conversions gave '%s', counted %d\n", got, uprintf_unknown_conversions());
    sys_exit(ok ? 0 : 100);
}

int main(void)
{
    t_plan(6);

    EXPECT("-42 4000000000 deadbeef", "%d %u %x", -42, 4000000000u, 0xdeadbeefu);
    EXPECT("-2147483648 7", "%i %i", (int)0x80000000u, 7);
    EXPECT("0x1f 0 0xffffffff", "%#x %#x %#x", 0x1fu, 0u, 0xffffffffu);
    EXPECT("ffffffff80000000 123456789abcdef", "%lx %llx", 0xffffffff80000000ul, 0x123456789abcdefull);
    EXPECT("-9223372036854775808 18446744073709551615", "%ld %lu", LONG_MIN_, ~0ul);
    EXPECT("-9223372036854775807 18446744073709551615", "%lld %llu", -0x7fffffffffffffffll, ~0ull);
    EXPECT("12345 0", "%zu %zu", (size_t)12345, (size_t)0);
    t_check(checks_failed == 0, "integers: %%d %%i %%u %%x %%#x %%lx %%llx %%ld %%lu %%lld %%llu %%zu");

    int before = checks_failed;
    EXPECT("0x400000 0x0", "%p %p", (void *)0x400000, (void *)0);
    EXPECT("k|abc|(null)|%", "%c|%s|%s|%%", 'k', "abc", null_string);
    t_check(checks_failed == before, "%%p %%c %%s %%%%, and a NULL string");

    before = checks_failed;
    EXPECT("   42|-0042|0000beef|7   |0x00ab|  x|ab  ", "%5d|%05d|%08lx|%-4d|%#06x|%3c|%-4s", 42, -42, 0xbeeful, 7,
           0xabu, 'x', "ab");
    EXPECT("00000000000000000000000000000000000001", "%038d", 1);
    t_check(checks_failed == before, "widths, zero padding and left adjustment");

    char small[8];
    int n = usnprintf(small, sizeof(small), "%s", "0123456789");
    t_check(n == 7 && strcmp(small, "0123456") == 0, "usnprintf truncates to its buffer (%d bytes stored)", n);

    t_check(uprintf_unknown_conversions() == 0, "no known format was counted as unknown (%d)",
            uprintf_unknown_conversions());

    int st = t_in_child(unknown_conversions, 0);
    t_check(st == 2, "an unknown conversion prints %%?c and adds one to the exit status (child status %d, want 2)",
            st);
    return t_done();
}
