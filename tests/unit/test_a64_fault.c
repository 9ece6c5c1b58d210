/* tests/unit/test_a64_fault.c - the aarch64 abort decoding on the host:
 * each exception class, fault status and PSTATE gives the exact generic
 * record, and the aborts the hardware refused are named. */
#include <criterion/criterion.h>

#include "fault_decode.h"

/* An ESR_EL1 value: EC, IL set (32-bit instruction), ISS. */
static uint64_t esr(unsigned ec, uint32_t iss) { return (uint64_t)ec << 26 | 1u << 25 | iss; }

Test(a64_fault, each_abort_class_gives_its_access_and_mode)
{
    const struct {
        unsigned ec;
        uint32_t iss;
        hal_access_t access;
        bool user;
    } cases[] = {
        { A64_EC_IABT_LOWER, 0x07, HAL_ACCESS_EXEC, true },
        { A64_EC_IABT_SAME, 0x07, HAL_ACCESS_EXEC, false },
        { A64_EC_DABT_LOWER, 0x07, HAL_ACCESS_READ, true },
        { A64_EC_DABT_LOWER, 0x07 | A64_ESR_WNR, HAL_ACCESS_WRITE, true },
        { A64_EC_DABT_SAME, 0x07, HAL_ACCESS_READ, false },
        { A64_EC_DABT_SAME, 0x07 | A64_ESR_WNR, HAL_ACCESS_WRITE, false },
        { A64_EC_DABT_SAME, 0x07 | A64_ESR_WNR | A64_ESR_CM, HAL_ACCESS_READ, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t e = esr(cases[i].ec, cases[i].iss);
        cr_assert(a64_is_page_fault(e), "case %zu", i);
        hal_fault_t f = a64_decode_page_fault(e, 0xffff800000123456ull, 0xffff800040201000ull, A64_SPSR_PAN);
        cr_assert_eq(f.access, cases[i].access, "case %zu", i);
        cr_assert_eq(f.user_mode, cases[i].user, "case %zu", i);
        cr_assert_eq(f.addr, 0xffff800000123456ull);
        cr_assert_eq(f.ip, 0xffff800040201000ull);
        cr_assert_eq(f.present, 0, "a translation fault: no entry");
        cr_assert_not(f.user_access, "PAN set: user pages closed");
    }
}

Test(a64_fault, fault_status_says_whether_an_entry_existed_at_every_level)
{
    for (uint32_t level = 0; level < 4; level++) {
        hal_fault_t f = a64_decode_page_fault(esr(A64_EC_DABT_LOWER, A64_FSC_TRANSLATION | level), 1, 2, 0);
        cr_assert_eq(f.present, 0, "translation fault, level %u", level);
        f = a64_decode_page_fault(esr(A64_EC_DABT_LOWER, A64_FSC_PERMISSION | level), 1, 2, 0);
        cr_assert_eq(f.present, 1, "permission fault, level %u", level);
        f = a64_decode_page_fault(esr(A64_EC_DABT_LOWER, A64_FSC_ACCESS_FLAG | level), 1, 2, 0);
        cr_assert_eq(f.present, 1, "access-flag fault, level %u", level);
    }
}

/* FEAT_LPA2 walks start at Arm's level -1 (aarch64-5level's root of 16
 * entries): an empty root entry is a translation fault with FSC 0x2b, a
 * user access to a fresh 256 TiB region for instance, which the memory
 * manager resolves like any other missing entry. */
Test(a64_fault, translation_fault_at_level_minus_one_is_a_page_fault_without_an_entry)
{
    uint64_t e = esr(A64_EC_DABT_LOWER, A64_FSC_TRANSLATION_LM1) | A64_ESR_WNR;
    cr_assert_eq(A64_FSC_TRANSLATION_LM1, 0x2bu);
    cr_assert(a64_is_page_fault(e));
    hal_fault_t f = a64_decode_page_fault(e, 0x0001000000000000ull, 0x400000, 0);
    cr_assert_eq(f.present, 0);
    cr_assert_eq(f.access, HAL_ACCESS_WRITE);
    cr_assert_eq(f.addr, 0x0001000000000000ull);
    cr_assert(a64_is_page_fault(esr(A64_EC_IABT_SAME, A64_FSC_TRANSLATION_LM1)));
}

Test(a64_fault, other_classes_and_statuses_are_not_page_faults)
{
    for (unsigned ec = 0; ec < 64; ec++)
        cr_assert_eq(a64_is_page_fault(esr(ec, 0x05)), ec == 0x20 || ec == 0x21 || ec == 0x24 || ec == 0x25,
                     "EC %#x", ec);
    for (uint32_t fsc = 0; fsc < 64; fsc++)
        cr_assert_eq(a64_is_page_fault(esr(A64_EC_DABT_SAME, fsc)), (fsc >= 0x04 && fsc <= 0x0f) || fsc == 0x2b,
                     "FSC %#x (address size, external, alignment, TLB conflict: not for the memory manager)", fsc);
    cr_assert_not(a64_is_page_fault(esr(A64_EC_DABT_SAME, 0x07 | A64_ESR_FNV)), "FAR not valid");
}

Test(a64_fault, pan_clear_in_kernel_mode_means_a_copy_helper)
{
    hal_fault_t f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x0f), 0x1000, 0x2000, 0);
    cr_assert(f.user_access);
    f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x0f), 0x1000, 0x2000, A64_SPSR_PAN);
    cr_assert_not(f.user_access);
    f = a64_decode_page_fault(esr(A64_EC_DABT_LOWER, 0x0f), 0x1000, 0x2000, 0);
    cr_assert_not(f.user_access, "user mode: not a kernel access with user pages open");
}

Test(a64_fault, kernel_fetch_or_closed_access_to_a_present_user_page_is_refused)
{
    hal_fault_t f = a64_decode_page_fault(esr(A64_EC_IABT_SAME, 0x0f), 0x1000, 0x1000, A64_SPSR_PAN);
    cr_assert_str_eq(a64_page_fault_refusal(&f, true), "PXN: kernel fetch from a user page");
    f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x0f), 0x1000, 0xffff800040201000ull, A64_SPSR_PAN);
    cr_assert_str_eq(a64_page_fault_refusal(&f, true), "PAN: kernel access to a user page outside the copy helpers");
    f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x0f), 0x1000, 0xffff800040201000ull, 0);
    cr_assert_null(a64_page_fault_refusal(&f, true), "PAN clear: the memory manager decides");
    f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x07), 0x1000, 0xffff800040201000ull, A64_SPSR_PAN);
    cr_assert_null(a64_page_fault_refusal(&f, true), "no entry: the memory manager decides");
    f = a64_decode_page_fault(esr(A64_EC_DABT_SAME, 0x0f), 0xffff800000001000ull, 0xffff800040201000ull, A64_SPSR_PAN);
    cr_assert_null(a64_page_fault_refusal(&f, false), "a kernel page: the memory manager decides");
    f = a64_decode_page_fault(esr(A64_EC_DABT_LOWER, 0x0f), 0x1000, 0x400000, 0);
    cr_assert_null(a64_page_fault_refusal(&f, true), "a user-mode fault: the memory manager decides");
}
