/* arch/riscv64/sbi.c - SBI calls and the console on top of them. */
#include "sbi.h"

#include "kernel/arch.h"

sbiret_t sbi_call(long ext, long fid, long a0, long a1, long a2)
{
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a6 __asm__("a6") = fid;
    register long r_a7 __asm__("a7") = ext;
    __asm__ volatile("ecall" : "+r"(r_a0), "+r"(r_a1) : "r"(r_a2), "r"(r_a6), "r"(r_a7) : "memory");
    return (sbiret_t){ .error = r_a0, .value = r_a1 };
}

bool sbi_has(long ext)
{
    sbiret_t r = sbi_call(SBI_EXT_BASE, SBI_BASE_PROBE_EXTENSION, ext, 0, 0);
    return r.error == 0 && r.value != 0;
}

static bool console_dbcn;

void rv_console_init(void) { console_dbcn = sbi_has(SBI_EXT_DBCN); }

const char *rv_console_kind(void) { return console_dbcn ? "dbcn" : "legacy"; }

void arch_console_putc(char c)
{
    if (console_dbcn)
        sbi_call(SBI_EXT_DBCN, SBI_DBCN_WRITE_BYTE, (unsigned char)c, 0, 0);
    else
        sbi_call(SBI_EXT_LEGACY_PUTCHAR, 0, (unsigned char)c, 0, 0);
}
