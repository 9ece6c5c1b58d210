/* hal/riscv64/sbi.h - calls into the SBI firmware (OpenSBI) from S-mode
 * (RISC-V SBI specification 2.0). */
#pragma once

#include <stdint.h>

#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_BASE 0x10
#define SBI_EXT_DBCN 0x4442434e /* "DBCN": debug console, SBI 2.0 */
#define SBI_BASE_GET_SPEC_VERSION 0
#define SBI_BASE_PROBE_EXTENSION 3
#define SBI_DBCN_WRITE_BYTE 2

typedef struct sbiret {
    long error;
    long value;
} sbiret_t;

sbiret_t sbi_call(long ext, long fid, long a0, long a1, long a2);

/* Pick the console call: DBCN write_byte when the firmware has it, else the
 * legacy console_putchar. Call once before printing. */
void rv_console_init(void);
/* Which console call is used: "dbcn" or "legacy". */
const char *rv_console_kind(void);
