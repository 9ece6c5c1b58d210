/* tests/unit/test_rv_fault.c - the riscv64 page-fault decoding on the host:
 * each cause and privilege gives the exact generic record. */
#include <criterion/criterion.h>

#include "fault_decode.h"

Test(rv_fault, each_page_fault_cause_gives_its_access)
{
    const struct { uint64_t scause; hal_access_t access; } cases[] = {
        { EXC_INSN_PAGE_FAULT, HAL_ACCESS_EXEC },
        { EXC_LOAD_PAGE_FAULT, HAL_ACCESS_READ },
        { EXC_STORE_PAGE_FAULT, HAL_ACCESS_WRITE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert(rv_is_page_fault(cases[i].scause));
        hal_fault_t f = rv_decode_page_fault(cases[i].scause, 0xffffffc000123456ull, 0xffffffff80201000ull,
                                             SSTATUS_SPP);
        cr_assert_eq(f.access, cases[i].access, "scause %llu", (unsigned long long)cases[i].scause);
        cr_assert_eq(f.addr, 0xffffffc000123456ull);
        cr_assert_eq(f.ip, 0xffffffff80201000ull);
        cr_assert_not(f.user_mode);
        cr_assert_eq(f.present, -1, "riscv never says whether a translation existed");
    }
}

Test(rv_fault, spp_clear_means_the_access_came_from_user_mode)
{
    hal_fault_t f = rv_decode_page_fault(EXC_LOAD_PAGE_FAULT, 0x1000, 0x2000, SSTATUS_SUM | SSTATUS_SPIE);
    cr_assert(f.user_mode);
    f = rv_decode_page_fault(EXC_LOAD_PAGE_FAULT, 0x1000, 0x2000, SSTATUS_SPP | SSTATUS_SUM);
    cr_assert_not(f.user_mode);
}

Test(rv_fault, other_causes_are_not_page_faults)
{
    for (uint64_t c = 0; c < 16; c++)
        cr_assert_eq(rv_is_page_fault(c), c == 12 || c == 13 || c == 15, "scause %llu", (unsigned long long)c);
    cr_assert_not(rv_is_page_fault(SCAUSE_INTERRUPT | 13), "an interrupt with code 13 is not a page fault");
}

Test(rv_fault, a_kernel_trap_resumed_at_a_fixup_returns_without_sum)
{
    const uint64_t kern = SSTATUS_SPP | SSTATUS_SPIE | SSTATUS_SUM, user = SSTATUS_SPIE | SSTATUS_SUM;
    cr_assert_eq(rv_sstatus_on_return(kern, 0x1000, 0x2000), SSTATUS_SPP | SSTATUS_SPIE, "fixup: SUM dropped");
    cr_assert_eq(rv_sstatus_on_return(kern, 0x1000, 0x1000), kern, "resolved fault: SUM back for the retry");
    cr_assert_eq(rv_sstatus_on_return(user, 0x1000, 0x1004), user, "user trap (ecall): sstatus as saved");
    cr_assert_eq(rv_sstatus_on_return(SSTATUS_SPP, 0x1000, 0x2000), SSTATUS_SPP, "SUM already clear");
}

Test(rv_fault, sum_in_a_supervisor_fault_says_user_access_was_open)
{
    /* Issue 11 item 6: the generic handler takes a kernel fault on an allowed
     * user page as spurious only inside a copy helper (SUM set). */
    hal_fault_t f = rv_decode_page_fault(EXC_STORE_PAGE_FAULT, 0x1000, 0x2000, SSTATUS_SPP | SSTATUS_SUM);
    cr_assert(f.user_access, "S-mode with SUM: a copy helper");
    f = rv_decode_page_fault(EXC_STORE_PAGE_FAULT, 0x1000, 0x2000, SSTATUS_SPP);
    cr_assert_not(f.user_access, "S-mode without SUM: user pages closed");
    f = rv_decode_page_fault(EXC_STORE_PAGE_FAULT, 0x1000, 0x2000, SSTATUS_SUM);
    cr_assert_not(f.user_access, "U-mode: not a kernel access at all");
}
