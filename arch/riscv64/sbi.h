/* arch/riscv64/sbi.h - calls into the SBI firmware (OpenSBI) from S-mode
 * (RISC-V SBI specification 2.0). */
#pragma once

#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_BASE 0x10
#define SBI_EXT_DBCN 0x4442434e /* "DBCN": debug console, SBI 2.0 */
#define SBI_EXT_HSM 0x48534d    /* "HSM": hart state management */
#define SBI_EXT_IPI 0x735049    /* "sPI": supervisor-mode IPIs */
#define SBI_EXT_RFENCE 0x52464e43 /* "RFNC": remote fences */
#define SBI_BASE_GET_SPEC_VERSION 0
#define SBI_BASE_PROBE_EXTENSION 3
#define SBI_DBCN_WRITE_BYTE 2
#define SBI_HSM_HART_START 0 /* (hartid, start_addr, opaque): the hart enters start_addr in S-mode, MMU off,
                                a0 = hartid, a1 = opaque */
#define SBI_HSM_HART_STOP 1  /* the calling hart stops; does not return on success */
#define SBI_IPI_SEND_IPI 0   /* (hart_mask, hart_mask_base): a supervisor software interrupt to each */
#define SBI_RFENCE_REMOTE_FENCE_I 0 /* (hart_mask, hart_mask_base): each runs fence.i; base -1: every hart */

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

typedef struct sbiret {
    long error;
    long value;
} sbiret_t;

sbiret_t sbi_call(long ext, long fid, long a0, long a1, long a2);
/* True if the firmware implements extension ext (Base probe_extension). */
bool sbi_has(long ext);

/* Pick the console call: DBCN write_byte when the firmware has it, else the
 * legacy console_putchar. Call once before printing. */
void rv_console_init(void);
/* Which console call is used: "dbcn" or "legacy". */
const char *rv_console_kind(void);
#endif
