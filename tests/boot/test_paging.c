/* tests/boot/test_paging.c - the seed paging API on the real MMU. */
#include "tests/boot/boot_test.h"

KTEST(printk_formats_numbers)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%d %u %x %05d %-3s| %016lx %#lx %zu %lld %c%%", -42, 42u, 0xbeefu, 7, "ab",
             0x1234ul, 0xfful, (size_t)9, -5ll, 'z');
    KT_ASSERT(t, strcmp(buf, "-42 42 beef 00007 ab | 0000000000001234 0xff 9 -5 z%") == 0, "got '%s'", buf);
}
