/* kernel/lib/fdt.h - a small, bounds-checked reader for the flattened
 * device tree (devicetree specification v0.4, chapter 5) that the firmware
 * or QEMU hands the kernel (riscv64: a1 from OpenSBI; shared by every arch
 * that boots from a device tree, so it lives here and not in one arch's
 * folder; an arch lists kernel/lib/fdt.c among its sources). It extracts what the boot code needs and nothing
 * else: the /memory regions, the reserved regions (the memory reservation
 * block and the children of /reserved-memory), /chosen/bootargs,
 * /cpus/timebase-frequency, the harts (/cpus nodes of device_type "cpu":
 * reg, status, mmu-type; on aarch64 reg is the MPIDR affinity) and
 * /psci/method (aarch64: the instruction that reaches the PSCI firmware).
 *
 * Pure C with no globals and no allocation: compiled into the kernel and on
 * the host, where tests/unit/test_fdt.c feeds it a blob dumped from QEMU and
 * truncated or corrupted variants of it. Every read is checked against the
 * size the caller vouches for; bad input gives a negative FDT_ERR_* code
 * (fdt_strerror names it) and leaves *out untouched. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDT_MAGIC 0xd00dfeedu
#define FDT_HEADER_SIZE 40u
#define FDT_MAX_REGIONS 32
#define FDT_MAX_HARTS 32

enum fdt_error {
    FDT_OK = 0,
    FDT_ERR_TRUNCATED = -1,  /* the blob is larger than the bytes available */
    FDT_ERR_MAGIC = -2,      /* no 0xd00dfeed at the start */
    FDT_ERR_VERSION = -3,    /* not a version 17 compatible blob */
    FDT_ERR_LAYOUT = -4,     /* a block lies outside the blob or is misaligned */
    FDT_ERR_STRUCT = -5,     /* unknown token, unbalanced nodes, data past the struct block */
    FDT_ERR_STRING = -6,     /* a property name outside the strings block or unterminated */
    FDT_ERR_CELLS = -7,      /* #address-cells / #size-cells not 1 or 2 where a reg is read */
    FDT_ERR_REG = -8,        /* a reg length that is not a whole number of (address, size) pairs */
    FDT_ERR_PROP = -9,       /* bootargs, status, mmu-type or method not a NUL-terminated string, timebase-frequency not 4 or 8 bytes */
    FDT_ERR_TOO_MANY = -10,  /* more than FDT_MAX_REGIONS memory or reserved regions */
    FDT_ERR_NO_MEMORY = -11, /* no /memory node with a non-empty reg */
    FDT_ERR_RSVMAP = -12,    /* the memory reservation block runs off its end */
    FDT_ERR_CPU = -13,       /* a cpu node whose reg is not one hart id (or /cpus #size-cells not 0) */
};

typedef struct fdt_region {
    uint64_t base, size;
} fdt_region_t;

/* A hart: a node of device_type "cpu" under /cpus. */
typedef struct fdt_hart {
    uint64_t hartid; /* its reg: the id SBI calls take */
    bool okay;       /* status absent, "okay" or "ok" (else "disabled", "fail", ...) */
    int mmu;         /* mmu-type "riscv,sv39" / "sv48" / "sv57": 39, 48, 57; "riscv,none": 0;
                        absent or another value: -1 (unknown; a hart tells by keeping satp) */
} fdt_hart_t;

/* /psci method (aarch64 cpus with enable-method "psci"). */
enum fdt_psci {
    FDT_PSCI_NONE = 0,    /* no /psci node, or one without method */
    FDT_PSCI_HVC = 1,     /* method "hvc" */
    FDT_PSCI_SMC = 2,     /* method "smc" */
    FDT_PSCI_UNKNOWN = 3, /* another method */
};

typedef struct fdt_info {
    fdt_region_t memory[FDT_MAX_REGIONS]; /* /memory reg entries, in blob order, size > 0 */
    size_t nmemory;
    fdt_region_t reserved[FDT_MAX_REGIONS]; /* reservation block, then /reserved-memory children */
    size_t nreserved;
    const char *bootargs; /* points into the blob; "" when /chosen has none */
    uint32_t total_size;  /* the blob's size from its header */
    uint64_t timebase_hz; /* /cpus timebase-frequency (rate of the time CSR); 0 if absent */
    fdt_hart_t harts[FDT_MAX_HARTS]; /* in blob order; harts past FDT_MAX_HARTS are counted only */
    size_t nharts;                   /* entries in harts[] */
    size_t harts_dropped;            /* cpu nodes that did not fit in harts[] */
    enum fdt_psci psci;              /* /psci method */
} fdt_info_t;

/* The total size recorded in a blob's header, after checking the magic:
 * lets the kernel bound a blob it only has a pointer to. `avail` is how many
 * bytes at `blob` may be read (at least FDT_HEADER_SIZE to succeed).
 * Returns the size (> 0), or a negative FDT_ERR_* code. */
long fdt_total_size(const void *blob, size_t avail);

/* Parse the blob at `blob`, of which `avail` bytes may be read (the header's
 * totalsize must fit inside). Returns 0 and fills *out, or a negative
 * FDT_ERR_* code with *out unchanged. Never reads outside [blob, blob+avail). */
int fdt_parse(const void *blob, size_t avail, fdt_info_t *out);

/* True if the kernel may start this hart: status okay and an MMU (a hart
 * whose mmu-type is absent or unknown is tried; it may refuse the mode). */
static inline bool fdt_hart_usable(const fdt_hart_t *h) { return h->okay && h->mmu != 0; }

/* A short English description of an FDT_ERR_* code. */
const char *fdt_strerror(int err);
