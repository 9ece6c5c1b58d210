/* tests/unit/test_x86_fault.c - the x86_64 page-fault decoding on the host
 * (hal/x86_64/fault_decode.h): each error code gives the exact generic
 * record, and the faults SMEP, SMAP or a reserved bit refused are told
 * apart from those the memory manager decides. */
#include <criterion/criterion.h>

#include "fault_decode.h"

#define KADDR 0xffffffff80123456ull
#define UADDR 0x0000000000401234ull
#define RIP 0xffffffff80201000ull

Test(x86_fault, error_code_bits_give_access_mode_and_presence)
{
    const struct { uint64_t error; hal_access_t access; bool user; int8_t present; } cases[] = {
        { 0, HAL_ACCESS_READ, false, 0 },
        { X86_PF_P, HAL_ACCESS_READ, false, 1 },
        { X86_PF_W, HAL_ACCESS_WRITE, false, 0 },
        { X86_PF_W | X86_PF_P, HAL_ACCESS_WRITE, false, 1 },
        { X86_PF_U, HAL_ACCESS_READ, true, 0 },
        { X86_PF_U | X86_PF_W | X86_PF_P, HAL_ACCESS_WRITE, true, 1 },
        { X86_PF_I, HAL_ACCESS_EXEC, false, 0 },
        { X86_PF_I | X86_PF_U | X86_PF_P, HAL_ACCESS_EXEC, true, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hal_fault_t f = x86_decode_page_fault(cases[i].error, KADDR, RIP, 0, true);
        cr_assert_eq(f.addr, KADDR);
        cr_assert_eq(f.ip, RIP);
        cr_assert_eq(f.access, cases[i].access, "error %#llx", (unsigned long long)cases[i].error);
        cr_assert_eq(f.user_mode, cases[i].user, "error %#llx", (unsigned long long)cases[i].error);
        cr_assert_eq(f.present, cases[i].present, "error %#llx", (unsigned long long)cases[i].error);
    }
}

Test(x86_fault, kernel_has_user_pages_open_only_with_ac_or_without_smap)
{
    cr_assert_not(x86_decode_page_fault(X86_PF_P, UADDR, RIP, 0, true).user_access);
    cr_assert(x86_decode_page_fault(X86_PF_P, UADDR, RIP, X86_RFLAGS_AC_BIT, true).user_access, "STAC");
    cr_assert(x86_decode_page_fault(X86_PF_P, UADDR, RIP, 0, false).user_access, "no SMAP: always open");
    cr_assert_not(x86_decode_page_fault(X86_PF_U | X86_PF_P, UADDR, RIP, X86_RFLAGS_AC_BIT, true).user_access,
                  "a user-mode fault is never a kernel access to user pages");
}

Test(x86_fault, smep_smap_and_reserved_bits_are_refused_whatever_the_tables_say)
{
    hal_fault_t f = x86_decode_page_fault(X86_PF_I | X86_PF_P, UADDR, UADDR, 0, true);
    cr_assert_str_eq(x86_page_fault_refusal(&f, X86_PF_I | X86_PF_P, true, true, true), "SMEP: kernel fetch from a user page");
    cr_assert_null(x86_page_fault_refusal(&f, X86_PF_I | X86_PF_P, true, false, true), "no SMEP: the tables decide");

    f = x86_decode_page_fault(X86_PF_W | X86_PF_P, UADDR, RIP, 0, true);
    cr_assert_str_eq(x86_page_fault_refusal(&f, X86_PF_W | X86_PF_P, true, true, true),
                     "SMAP: kernel access to a user page outside the copy helpers");
    f = x86_decode_page_fault(X86_PF_W | X86_PF_P, UADDR, RIP, X86_RFLAGS_AC_BIT, true);
    cr_assert_null(x86_page_fault_refusal(&f, X86_PF_W | X86_PF_P, true, true, true), "inside a copy helper");

    f = x86_decode_page_fault(X86_PF_W, UADDR, RIP, 0, true);
    cr_assert_null(x86_page_fault_refusal(&f, X86_PF_W, true, true, true), "not present: the memory manager decides");
    f = x86_decode_page_fault(X86_PF_P, KADDR, RIP, 0, true);
    cr_assert_null(x86_page_fault_refusal(&f, X86_PF_P, false, true, true), "a kernel page");
    f = x86_decode_page_fault(X86_PF_U | X86_PF_W | X86_PF_P, UADDR, UADDR, 0, true);
    cr_assert_null(x86_page_fault_refusal(&f, X86_PF_U | X86_PF_W | X86_PF_P, true, true, true), "from ring 3");

    f = x86_decode_page_fault(X86_PF_RSVD | X86_PF_P, KADDR, RIP, 0, true);
    cr_assert_str_eq(x86_page_fault_refusal(&f, X86_PF_RSVD | X86_PF_P, false, true, true),
                     "reserved bit set in a page-table entry");
}
