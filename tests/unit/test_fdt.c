/* tests/unit/test_fdt.c - the device-tree reader (kernel/lib/fdt.c) on the host, with riscv64 blobs.
 *
 * Inputs: tests/unit/data/virt.dtb (dumped from QEMU:
 *   qemu-system-riscv64 -machine virt,dumpdtb=tests/unit/data/virt.dtb -m 256M
 * then cut to the header's totalsize), virt-smp4.dtb (the same with -smp 4),
 * tests/unit/data/resv.dtb and cpus.dtb (from resv.dts and cpus.dts with
 * dtc), and truncated or corrupted variants made here.
 *
 * Every parse runs on a copy placed so that its last byte sits just before
 * an inaccessible guard page: a read past the bytes the reader was given
 * crashes the test instead of passing unnoticed. Every failing parse must
 * return the expected error and leave the output untouched.
 *
 * The last tests turn a parsed tree into boot_info_t regions as the riscv64
 * boot does (arch/riscv64/boot_regions.c).
 *
 * Build and run from the repository root:
 *   gcc -I. -Ihal/riscv64 -Iarch/riscv64 tests/unit/test_fdt.c kernel/lib/fdt.c arch/riscv64/boot_regions.c \
 *       kernel/boot.c -lcriterion -o /tmp/test_fdt && /tmp/test_fdt
 * (FDT_TEST_DATA may name the data directory when run from elsewhere.) */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot_regions.h"
#include "kernel/lib/fdt.h"

#ifndef FDT_TEST_DATA
#define FDT_TEST_DATA "tests/unit/data"
#endif

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob_t;

static blob_t load(const char *name)
{
    const char *dir = getenv("FDT_TEST_DATA") ? getenv("FDT_TEST_DATA") : FDT_TEST_DATA;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root or set FDT_TEST_DATA)", path);
    blob_t b = { malloc(1 << 20), 0 };
    cr_assert_not_null(b.data);
    b.size = fread(b.data, 1, 1 << 20, f);
    fclose(f);
    cr_assert_gt(b.size, 0u, "%s is empty", path);
    return b;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)), put32(p + 4, (uint32_t)v); }

/* Header fields by byte offset. */
enum { H_TOTAL = 4, H_OFF_STRUCT = 8, H_OFF_STRINGS = 12, H_OFF_RSVMAP = 16, H_VERSION = 20, H_LAST_COMP = 24,
       H_SIZE_STRINGS = 32, H_SIZE_STRUCT = 36 };

/* Run fdt_parse on `len` bytes of `src` copied right below a guard page, with
 * the output pre-filled with a pattern; checks the output is untouched on
 * failure. Returns the result and, on success, the info. */
static int parse_guarded(const uint8_t *src, size_t len, fdt_info_t *info)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t span = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
    uint8_t *map = mmap(NULL, span + (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_assert_eq(mprotect(map + span, (size_t)pg, PROT_NONE), 0);
    uint8_t *at = map + span - len;
    memcpy(at, src, len);
    fdt_info_t out, before;
    memset(&out, 0xa5, sizeof out);
    before = out;
    int r = fdt_parse(at, len, &out);
    if (r != 0)
        cr_assert_eq(memcmp(&out, &before, sizeof out), 0, "failed parse (%d) wrote to the output", r);
    else if (info) {
        *info = out;
        /* bootargs points into the blob: make it point into src instead. */
        if (out.bootargs[0])
            info->bootargs = (const char *)src + (out.bootargs - (const char *)at);
        else
            info->bootargs = "";
    }
    munmap(map, span + (size_t)pg);
    return r;
}

/* Offset of the value of the first property `prop` of the first node whose
 * name starts with `node` (trusting a well-formed blob); the length field is
 * 8 bytes before it. */
static size_t find_prop(const blob_t *b, const char *node, const char *prop)
{
    uint32_t pos = get32(b->data + H_OFF_STRUCT), strings = get32(b->data + H_OFF_STRINGS);
    bool in_node = false;
    for (;;) {
        uint32_t tok = get32(b->data + pos);
        pos += 4;
        if (tok == 1) {
            const char *name = (const char *)b->data + pos;
            in_node = strncmp(name, node, strlen(node)) == 0;
            pos += (uint32_t)(strlen(name) + 4) & ~3u;
        } else if (tok == 3) {
            uint32_t len = get32(b->data + pos), nameoff = get32(b->data + pos + 4);
            pos += 8;
            if (in_node && strcmp((const char *)b->data + strings + nameoff, prop) == 0)
                return pos;
            pos += (len + 3) & ~3u;
        } else if (tok == 9) {
            cr_assert_fail("no property %s in a node %s", prop, node);
        }
    }
}

static void expect_error(const blob_t *b, int err)
{
    int r = parse_guarded(b->data, b->size, NULL);
    cr_assert_eq(r, err, "expected %d (%s), got %d (%s)", err, fdt_strerror(err), r, fdt_strerror(r));
}

Test(fdt, virt_dtb_has_256m_at_0x80000000_and_no_reservations)
{
    blob_t b = load("virt.dtb");
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.total_size, 4222u);
    cr_assert_eq(info.nmemory, 1u);
    cr_assert_eq(info.memory[0].base, 0x80000000ull);
    cr_assert_eq(info.memory[0].size, 0x10000000ull);
    cr_assert_eq(info.nreserved, 0u);
    cr_assert_str_eq(info.bootargs, "");
    cr_assert_eq(info.timebase_hz, 10000000u, "QEMU virt's /cpus timebase-frequency");
    free(b.data);
}

Test(fdt, resv_dtb_gives_memory_reservations_and_bootargs)
{
    blob_t b = load("resv.dtb");
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nmemory, 3u, "memory-controller@1000 must not count as memory");
    cr_assert_eq(info.memory[0].base, 0x80000000ull);
    cr_assert_eq(info.memory[0].size, 0x8000000ull);
    cr_assert_eq(info.memory[1].base, 0x90000000ull);
    cr_assert_eq(info.memory[1].size, 0x4000000ull);
    cr_assert_eq(info.memory[2].base, 0x100000000ull);
    cr_assert_eq(info.memory[2].size, 0x20000000ull);
    cr_assert_eq(info.nreserved, 3u, "the cma node (no reg) and the depth-4 node must be skipped");
    cr_assert_eq(info.reserved[0].base, 0x87000000ull); /* the /memreserve/ entry comes first */
    cr_assert_eq(info.reserved[0].size, 0x100000ull);
    cr_assert_eq(info.reserved[1].base, 0x80000000ull);
    cr_assert_eq(info.reserved[1].size, 0x80000ull);
    cr_assert_eq(info.reserved[2].base, 0x84000000ull);
    cr_assert_eq(info.reserved[2].size, 0x2000ull);
    cr_assert_str_eq(info.bootargs, "paging=sv48 console=sbi");
    free(b.data);
}

Test(fdt, total_size_reads_the_header_only)
{
    blob_t b = load("virt.dtb");
    cr_assert_eq(fdt_total_size(b.data, FDT_HEADER_SIZE), 4222);
    cr_assert_eq(fdt_total_size(b.data, FDT_HEADER_SIZE - 1), FDT_ERR_TRUNCATED);
    b.data[0] ^= 1;
    cr_assert_eq(fdt_total_size(b.data, b.size), FDT_ERR_MAGIC);
    b.data[0] ^= 1;
    put32(b.data + H_TOTAL, 39);
    cr_assert_eq(fdt_total_size(b.data, b.size), FDT_ERR_LAYOUT);
    free(b.data);
}

Test(fdt, every_truncation_is_refused_as_truncated)
{
    blob_t b = load("virt.dtb");
    for (size_t n = 0; n < b.size; n++) {
        int r = parse_guarded(b.data, n, NULL);
        cr_assert_eq(r, FDT_ERR_TRUNCATED, "cut to %zu bytes: got %d (%s)", n, r, fdt_strerror(r));
    }
    free(b.data);
}

/* A blob cut short whose header is rewritten to agree with the cut (as a
 * careless tool would leave it). Cutting the structure block anywhere loses
 * its FDT_END; cutting the strings block loses names properties refer to. */
Test(fdt, truncation_with_a_consistent_header_is_refused)
{
    blob_t b = load("virt.dtb");
    uint32_t off_struct = get32(b.data + H_OFF_STRUCT), off_strings = get32(b.data + H_OFF_STRINGS);
    uint32_t size_struct = get32(b.data + H_SIZE_STRUCT), size_strings = get32(b.data + H_SIZE_STRINGS);
    cr_assert_eq(off_struct + size_struct, off_strings, "virt.dtb layout: struct then strings");
    uint8_t *cut = malloc(b.size);
    for (uint32_t k = 0; k < size_struct; k += 4) { /* keep k bytes of the structure block */
        memcpy(cut, b.data, off_struct + k);
        memcpy(cut + off_struct + k, b.data + off_strings, size_strings);
        uint32_t n = off_struct + k + size_strings;
        put32(cut + H_TOTAL, n);
        put32(cut + H_SIZE_STRUCT, k);
        put32(cut + H_OFF_STRINGS, off_struct + k);
        int r = parse_guarded(cut, n, NULL);
        cr_assert_eq(r, FDT_ERR_STRUCT, "structure cut to %u bytes: got %d (%s)", k, r, fdt_strerror(r));
    }
    for (uint32_t k = 0; k < size_strings; k++) { /* keep k bytes of the strings block */
        memcpy(cut, b.data, off_strings + k);
        put32(cut + H_TOTAL, off_strings + k);
        put32(cut + H_SIZE_STRINGS, k);
        int r = parse_guarded(cut, off_strings + k, NULL);
        cr_assert_eq(r, FDT_ERR_STRING, "strings cut to %u bytes: got %d (%s)", k, r, fdt_strerror(r));
    }
    free(cut);
    free(b.data);
}

Test(fdt, bad_magic_and_versions_are_refused)
{
    blob_t b = load("virt.dtb");
    put32(b.data, 0xedfe0dd0); /* little-endian magic */
    expect_error(&b, FDT_ERR_MAGIC);
    put32(b.data, FDT_MAGIC);
    put32(b.data + H_VERSION, 16);
    expect_error(&b, FDT_ERR_VERSION);
    put32(b.data + H_VERSION, 17);
    put32(b.data + H_LAST_COMP, 18);
    expect_error(&b, FDT_ERR_VERSION);
    put32(b.data + H_LAST_COMP, 16);
    cr_assert_eq(parse_guarded(b.data, b.size, NULL), 0);
    free(b.data);
}

Test(fdt, blocks_outside_the_blob_or_misaligned_are_refused)
{
    blob_t b = load("virt.dtb");
    uint32_t off_struct = get32(b.data + H_OFF_STRUCT), off_strings = get32(b.data + H_OFF_STRINGS);
    uint32_t size_struct = get32(b.data + H_SIZE_STRUCT), size_strings = get32(b.data + H_SIZE_STRINGS);
    uint32_t off_rsvmap = get32(b.data + H_OFF_RSVMAP);
    const struct { int field; uint32_t value, restore; } cases[] = {
        { H_SIZE_STRUCT, size_struct + 4 + (uint32_t)b.size, size_struct },
        { H_SIZE_STRUCT, 0xfffffffc, size_struct }, /* offset + size overflows 32 bits */
        { H_OFF_STRUCT, off_struct + 2, off_struct },
        { H_OFF_STRUCT, 8, off_struct }, /* inside the header */
        { H_SIZE_STRUCT, size_struct - 2, size_struct },
        { H_OFF_STRINGS, (uint32_t)b.size, off_strings },
        { H_SIZE_STRINGS, size_strings + 1, size_strings },
        { H_OFF_RSVMAP, off_rsvmap + 4, off_rsvmap },
        { H_OFF_RSVMAP, 0, off_rsvmap },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put32(b.data + cases[i].field, cases[i].value);
        int r = parse_guarded(b.data, b.size, NULL);
        cr_assert_eq(r, FDT_ERR_LAYOUT, "case %zu: got %d (%s)", i, r, fdt_strerror(r));
        put32(b.data + cases[i].field, cases[i].restore);
    }
    cr_assert_eq(parse_guarded(b.data, b.size, NULL), 0);
    free(b.data);
}

Test(fdt, reservation_block_without_terminator_is_refused)
{
    blob_t b = load("virt.dtb");
    uint32_t at = ((uint32_t)b.size - 8) & ~7u; /* 16-byte entries cannot fit before the end */
    put32(b.data + H_OFF_RSVMAP, at);
    expect_error(&b, FDT_ERR_RSVMAP);
    free(b.data);
}

/* Rebuild virt.dtb with `k` reservation entries in front of its structure. */
static blob_t with_reservations(const blob_t *src, unsigned k, uint64_t base, uint64_t size)
{
    uint32_t off_struct = get32(src->data + H_OFF_STRUCT), off_strings = get32(src->data + H_OFF_STRINGS);
    uint32_t size_struct = get32(src->data + H_SIZE_STRUCT), size_strings = get32(src->data + H_SIZE_STRINGS);
    uint32_t rsv = 40, new_struct = rsv + 16 * (k + 1), new_strings = new_struct + size_struct;
    blob_t b = { calloc(1, new_strings + size_strings), new_strings + size_strings };
    memcpy(b.data, src->data, 40);
    for (unsigned i = 0; i < k; i++) {
        put64(b.data + rsv + 16 * i, base + i * size);
        put64(b.data + rsv + 16 * i + 8, size);
    }
    memcpy(b.data + new_struct, src->data + off_struct, size_struct);
    memcpy(b.data + new_strings, src->data + off_strings, size_strings);
    put32(b.data + H_TOTAL, (uint32_t)b.size);
    put32(b.data + H_OFF_RSVMAP, rsv);
    put32(b.data + H_OFF_STRUCT, new_struct);
    put32(b.data + H_OFF_STRINGS, new_strings);
    return b;
}

Test(fdt, reservation_block_fills_up_to_the_limit_then_refuses)
{
    blob_t v = load("virt.dtb");
    blob_t full = with_reservations(&v, FDT_MAX_REGIONS, 0x80000000, 0x1000);
    fdt_info_t info;
    cr_assert_eq(parse_guarded(full.data, full.size, &info), 0);
    cr_assert_eq(info.nreserved, (size_t)FDT_MAX_REGIONS);
    cr_assert_eq(info.reserved[FDT_MAX_REGIONS - 1].base, 0x80000000ull + (FDT_MAX_REGIONS - 1) * 0x1000ull);
    cr_assert_eq(info.nmemory, 1u);
    blob_t over = with_reservations(&v, FDT_MAX_REGIONS + 1, 0x80000000, 0x1000);
    expect_error(&over, FDT_ERR_TOO_MANY);
    blob_t wrap = with_reservations(&v, 1, 0xfffffffffffff000ull, 0x2000);
    expect_error(&wrap, FDT_ERR_RSVMAP);
    free(full.data), free(over.data), free(wrap.data), free(v.data);
}

Test(fdt, bad_tokens_and_unbalanced_nodes_are_refused)
{
    blob_t b = load("virt.dtb");
    uint32_t off_struct = get32(b.data + H_OFF_STRUCT), size_struct = get32(b.data + H_SIZE_STRUCT);
    uint32_t end_tok = off_struct + size_struct - 4;
    cr_assert_eq(get32(b.data + end_tok), 9u, "virt.dtb ends with FDT_END");
    cr_assert_eq(get32(b.data + end_tok - 4), 2u, "and the root's FDT_END_NODE before it");

    put32(b.data + off_struct, 7); /* not a token */
    expect_error(&b, FDT_ERR_STRUCT);
    put32(b.data + off_struct, 2); /* FDT_END_NODE with nothing open */
    expect_error(&b, FDT_ERR_STRUCT);
    put32(b.data + off_struct, 1);

    put32(b.data + end_tok, 4); /* FDT_END replaced by FDT_NOP: runs off the block */
    expect_error(&b, FDT_ERR_STRUCT);
    put32(b.data + end_tok, 9);
    put32(b.data + end_tok - 4, 4); /* root never closed */
    expect_error(&b, FDT_ERR_STRUCT);
    put32(b.data + end_tok - 4, 2);
    b.data[off_struct + 4] = 'x'; /* the root with a name */
    expect_error(&b, FDT_ERR_STRUCT);
    b.data[off_struct + 4] = 0;
    cr_assert_eq(parse_guarded(b.data, b.size, NULL), 0);
    free(b.data);
}

Test(fdt, property_overruns_and_bad_names_are_refused)
{
    blob_t b = load("virt.dtb");
    size_t v = find_prop(&b, "", "#address-cells"); /* the root's first property */
    uint32_t size_strings = get32(b.data + H_SIZE_STRINGS);
    put32(b.data + v - 4, size_strings); /* nameoff just past the strings */
    expect_error(&b, FDT_ERR_STRING);
    put32(b.data + v - 4, 0xffffffff);
    expect_error(&b, FDT_ERR_STRING);
    put32(b.data + v - 4, 0);
    put32(b.data + v - 8, 0xfffffff0); /* value runs off the block */
    expect_error(&b, FDT_ERR_STRUCT);
    free(b.data);

    /* The last string loses its NUL: a name that runs off the strings block. */
    b = load("virt.dtb");
    uint32_t off_strings = get32(b.data + H_OFF_STRINGS);
    cr_assert_eq(b.data[off_strings + size_strings - 1], 0);
    b.data[off_strings + size_strings - 1] = 'x';
    expect_error(&b, FDT_ERR_STRING);
    free(b.data);
}

Test(fdt, memory_reg_must_be_whole_pairs_with_sane_cells)
{
    blob_t b = load("virt.dtb");
    size_t reg = find_prop(&b, "memory@", "reg");
    cr_assert_eq(get32(b.data + reg - 8), 16u);
    put32(b.data + reg - 8, 12); /* 12 bytes of reg, the last 4 turned into an FDT_NOP */
    put32(b.data + reg + 12, 4);
    expect_error(&b, FDT_ERR_REG);
    put32(b.data + reg - 8, 16);
    put32(b.data + reg + 12, 0x10000000);
    put64(b.data + reg + 8, 0xffffffffffffffffull); /* base + size wraps */
    expect_error(&b, FDT_ERR_REG);
    put64(b.data + reg + 8, 0x10000000);

    size_t ac = find_prop(&b, "", "#address-cells"), sc = find_prop(&b, "", "#size-cells");
    put32(b.data + ac, 3);
    expect_error(&b, FDT_ERR_CELLS);
    put32(b.data + ac, 2);
    put32(b.data + sc, 0);
    expect_error(&b, FDT_ERR_CELLS);
    put32(b.data + sc, 2);
    put32(b.data + ac - 8, 2); /* #address-cells two bytes long */
    expect_error(&b, FDT_ERR_CELLS);
    put32(b.data + ac - 8, 4);

    /* With 1-cell sizes a pair is 12 bytes: 16 is not a whole number of them. */
    put32(b.data + sc, 1);
    expect_error(&b, FDT_ERR_REG);
    put32(b.data + sc, 2);
    cr_assert_eq(parse_guarded(b.data, b.size, NULL), 0);
    free(b.data);
}

Test(fdt, no_memory_node_is_an_error)
{
    blob_t b = load("virt.dtb");
    size_t dt = find_prop(&b, "memory@", "device_type");
    cr_assert_str_eq((const char *)b.data + dt, "memory");
    b.data[dt] = 'M'; /* device_type "Memory" */
    uint8_t *name = memmem(b.data, b.size, "memory@80000000", 16);
    cr_assert_not_null(name);
    name[0] = 'M'; /* node "Memory@80000000" */
    expect_error(&b, FDT_ERR_NO_MEMORY);
    b.data[dt] = 'm'; /* the device_type alone makes it memory */
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nmemory, 1u);
    free(b.data);
}

Test(fdt, bootargs_must_be_terminated)
{
    blob_t b = load("resv.dtb");
    size_t v = find_prop(&b, "chosen", "bootargs");
    uint32_t len = get32(b.data + v - 8);
    cr_assert_eq(len, sizeof "paging=sv48 console=sbi");
    b.data[v + len - 1] = '!';
    expect_error(&b, FDT_ERR_PROP);
    b.data[v + len - 1] = 0;
    put32(b.data + v - 8, 0);
    expect_error(&b, FDT_ERR_PROP);
    free(b.data);
}

Test(fdt, timebase_frequency_is_4_or_8_bytes)
{
    blob_t b = load("virt.dtb");
    size_t v = find_prop(&b, "cpus", "timebase-frequency");
    cr_assert_eq(get32(b.data + v - 8), 4u);
    put32(b.data + v - 8, 2); /* still inside the padded value: only the length check catches it */
    expect_error(&b, FDT_ERR_PROP);
    put32(b.data + v - 8, 4);
    put32(b.data + v, 12345678);
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.timebase_hz, 12345678u);
    free(b.data);
}

/* Flip every byte of the structure and strings blocks in turn: each parse
 * either succeeds or fails cleanly, and never reads outside the blob. */
Test(fdt, single_byte_corruptions_never_read_outside_the_blob)
{
    blob_t b = load("virt.dtb");
    uint32_t from = get32(b.data + H_OFF_STRUCT);
    unsigned failed = 0;
    for (size_t i = from; i < b.size; i++) {
        b.data[i] ^= 0xff;
        int r = parse_guarded(b.data, b.size, NULL);
        cr_assert(r == 0 || (r <= FDT_ERR_TRUNCATED && r >= FDT_ERR_CPU), "byte %zu: result %d", i, r);
        failed += r != 0;
        b.data[i] ^= 0xff;
    }
    /* Every token and every length is in there: many flips must be caught. */
    cr_assert_gt(failed, 100u);
    free(b.data);
}

Test(fdt, every_error_has_its_own_message)
{
    for (int e = FDT_ERR_TRUNCATED; e >= FDT_ERR_CPU; e--) {
        cr_assert_str_neq(fdt_strerror(e), "unknown error", "code %d", e);
        for (int f = e + 1; f <= FDT_ERR_TRUNCATED; f++)
            cr_assert_str_neq(fdt_strerror(e), fdt_strerror(f));
    }
    cr_assert_str_eq(fdt_strerror(-99), "unknown error");
}

/* ---- harts (/cpus) ---- */

static void expect_hart(const fdt_info_t *info, size_t i, uint64_t hartid, bool okay, int mmu)
{
    cr_assert_lt(i, info->nharts);
    const fdt_hart_t *h = &info->harts[i];
    cr_assert(h->hartid == hartid && h->okay == okay && h->mmu == mmu, "hart %zu: id %llx okay %d mmu %d, expected %llx %d %d",
              i, (unsigned long long)h->hartid, h->okay, h->mmu, (unsigned long long)hartid, okay, mmu);
}

Test(fdt, virt_dtbs_list_their_harts)
{
    blob_t b = load("virt.dtb");
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nharts, 1u);
    cr_assert_eq(info.harts_dropped, 0u);
    expect_hart(&info, 0, 0, true, 48); /* QEMU 7.2 says sv48 even where the hart takes sv57 */
    free(b.data);
    b = load("virt-smp4.dtb");
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nharts, 4u, "four cpu nodes; cpu-map and the interrupt controllers are no harts");
    for (size_t i = 0; i < 4; i++)
        expect_hart(&info, i, i, true, 48);
    cr_assert_eq(info.nmemory, 1u);
    cr_assert_eq(info.timebase_hz, 10000000u);
    free(b.data);
}

Test(fdt, harts_keep_their_ids_status_and_mmu_type)
{
    blob_t b = load("cpus.dtb");
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nharts, 6u, "cpu-map and not-a-cpu@5 are no harts");
    expect_hart(&info, 0, 4, true, 57);
    expect_hart(&info, 1, 0, true, 39);           /* no status: okay */
    expect_hart(&info, 2, 0x100000002ull, true, 48); /* 2-cell reg; status "ok" */
    expect_hart(&info, 3, 7, false, 48);          /* disabled */
    expect_hart(&info, 4, 8, true, 0);            /* riscv,none */
    expect_hart(&info, 5, 9, true, -1);           /* an mmu-type nobody knows */
    const bool usable[] = { true, true, true, false, false, true };
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(fdt_hart_usable(&info.harts[i]), usable[i], "hart %zu", i);
    cr_assert_eq(info.timebase_hz, 1000000u);
    free(b.data);
}

Test(fdt, bad_cpu_nodes_are_refused)
{
    blob_t b = load("virt-smp4.dtb");
    size_t ac = find_prop(&b, "cpus", "#address-cells"), sc = find_prop(&b, "cpus", "#size-cells");
    cr_assert_eq(get32(b.data + ac), 1u);
    put32(b.data + ac, 2); /* each reg is 4 bytes: not one 2-cell hart id */
    expect_error(&b, FDT_ERR_CPU);
    put32(b.data + ac, 3);
    expect_error(&b, FDT_ERR_CELLS);
    put32(b.data + ac, 1);
    put32(b.data + sc, 1); /* cpu nodes have no size */
    expect_error(&b, FDT_ERR_CPU);
    put32(b.data + sc, 0);

    size_t st = find_prop(&b, "cpu@2", "status"), mmu = find_prop(&b, "cpu@2", "mmu-type");
    uint32_t st_len = get32(b.data + st - 8), mmu_len = get32(b.data + mmu - 8);
    cr_assert_str_eq((const char *)b.data + st, "okay");
    b.data[st + st_len - 1] = 'y'; /* no NUL */
    expect_error(&b, FDT_ERR_PROP);
    b.data[st + st_len - 1] = 0;
    b.data[mmu + mmu_len - 1] = '8';
    expect_error(&b, FDT_ERR_PROP);
    b.data[mmu + mmu_len - 1] = 0;

    b.data[st + 3] = 'x'; /* status "okax": not available */
    cr_assert_eq(mmu_len, sizeof "riscv,none");
    memcpy(b.data + mmu, "riscv,none", mmu_len); /* no MMU */
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.nharts, 4u);
    expect_hart(&info, 2, 2, false, 0);
    cr_assert_not(fdt_hart_usable(&info.harts[2]));
    expect_hart(&info, 3, 3, true, 48);
    free(b.data);
}

/* virt-smp4.dtb with cpu@3 copied `extra` more times right after itself. */
static blob_t with_more_harts(const blob_t *src, unsigned extra)
{
    uint32_t off_struct = get32(src->data + H_OFF_STRUCT), size_struct = get32(src->data + H_SIZE_STRUCT);
    uint32_t off_strings = get32(src->data + H_OFF_STRINGS), size_strings = get32(src->data + H_SIZE_STRINGS);
    uint8_t *node = memmem(src->data + off_struct, size_struct, "cpu@3", 6);
    cr_assert_not_null(node);
    uint32_t start = (uint32_t)(node - src->data) - 4, pos = start + 4 + 8; /* after "cpu@3\0" padded */
    for (int depth = 1; depth; pos += 4) { /* walk to the END_NODE that closes it */
        uint32_t tok = get32(src->data + pos);
        if (tok == 1) {
            depth++;
            pos += (uint32_t)(strlen((const char *)src->data + pos + 4) + 4) & ~3u;
        } else if (tok == 2) {
            depth--;
        } else if (tok == 3) {
            pos += 8 + ((get32(src->data + pos + 4) + 3) & ~3u);
        }
    }
    uint32_t len = pos - start, grow = extra * len;
    blob_t b = { calloc(1, src->size + grow), src->size + grow };
    memcpy(b.data, src->data, pos);
    for (unsigned i = 0; i < extra; i++)
        memcpy(b.data + pos + i * len, src->data + start, len);
    memcpy(b.data + pos + grow, src->data + pos, src->size - pos);
    cr_assert_eq(off_strings, off_struct + size_struct, "struct, then strings");
    (void)size_strings;
    put32(b.data + H_TOTAL, (uint32_t)b.size);
    put32(b.data + H_SIZE_STRUCT, size_struct + grow);
    put32(b.data + H_OFF_STRINGS, off_strings + grow);
    return b;
}

Test(fdt, harts_past_the_table_are_counted_not_kept)
{
    blob_t v = load("virt-smp4.dtb");
    blob_t full = with_more_harts(&v, FDT_MAX_HARTS - 4), over = with_more_harts(&v, FDT_MAX_HARTS - 4 + 3);
    fdt_info_t info;
    cr_assert_eq(parse_guarded(full.data, full.size, &info), 0);
    cr_assert_eq(info.nharts, (size_t)FDT_MAX_HARTS);
    cr_assert_eq(info.harts_dropped, 0u);
    expect_hart(&info, FDT_MAX_HARTS - 1, 3, true, 48);
    cr_assert_eq(parse_guarded(over.data, over.size, &info), 0);
    cr_assert_eq(info.nharts, (size_t)FDT_MAX_HARTS);
    cr_assert_eq(info.harts_dropped, 3u);
    free(full.data), free(over.data), free(v.data);
}

/* ---- regions for boot_info_t ---- */

static void expect_region(const boot_info_t *bi, size_t i, uint64_t base, uint64_t size, bool usable)
{
    cr_assert_lt(i, bi->nregions);
    const mm_region_t *r = &bi->regions[i];
    cr_assert(r->base == base && r->size == size && r->usable == usable,
              "region %zu: %llx+%llx %s, expected %llx+%llx %s", i, (unsigned long long)r->base,
              (unsigned long long)r->size, r->usable ? "usable" : "reserved", (unsigned long long)base,
              (unsigned long long)size, usable ? "usable" : "reserved");
}

Test(boot_regions, firmware_region_comes_from_reserved_memory_when_the_tree_has_it)
{
    blob_t b = load("resv.dtb");
    fdt_info_t dt;
    cr_assert_eq(parse_guarded(b.data, b.size, &dt), 0);
    static boot_info_t bi;
    memset(&bi, 0, sizeof bi);
    bi.kernel_phys_start = 0x80200000, bi.kernel_phys_end = 0x80246000;
    bool fw_default = true;
    cr_assert_eq(rv_boot_regions(&bi, &dt, 0x8fe00000, &fw_default), 0);
    cr_assert_not(fw_default, "the tree reserves 0x80000000: no default range");
    cr_assert_eq(bi.nregions, 8u);
    expect_region(&bi, 0, 0x80000000, 0x8000000, true);
    expect_region(&bi, 1, 0x90000000, 0x4000000, true);
    expect_region(&bi, 2, 0x100000000, 0x20000000, true);
    expect_region(&bi, 3, 0x87000000, 0x100000, false);
    expect_region(&bi, 4, 0x80000000, 0x80000, false);
    expect_region(&bi, 5, 0x84000000, 0x2000, false);
    expect_region(&bi, 6, 0x8fe00000, 0x1000, false); /* 786 bytes of tree: one page */
    expect_region(&bi, 7, 0x80200000, 0x46000, false);
    free(b.data);
}

Test(boot_regions, firmware_default_range_and_tree_pages_rounded_out)
{
    blob_t b = load("virt.dtb");
    fdt_info_t dt;
    cr_assert_eq(parse_guarded(b.data, b.size, &dt), 0);
    static boot_info_t bi;
    memset(&bi, 0, sizeof bi);
    bi.kernel_phys_start = 0x80200000, bi.kernel_phys_end = 0x80246000;
    bool fw_default = false;
    cr_assert_eq(rv_boot_regions(&bi, &dt, 0x8fe00800, &fw_default), 0);
    cr_assert(fw_default, "QEMU's own tree reserves nothing: the default range is used");
    cr_assert_eq(bi.nregions, 4u);
    expect_region(&bi, 0, 0x80000000, 0x10000000, true);
    expect_region(&bi, 1, 0x80000000, 0x80000, false);
    expect_region(&bi, 2, 0x8fe00000, 0x2000, false); /* 0x8fe00800 + 4222 bytes spans two pages */
    expect_region(&bi, 3, 0x80200000, 0x46000, false);
    free(b.data);
}

Test(boot_regions, a_full_table_is_refused_and_left_as_it_was)
{
    blob_t b = load("resv.dtb");
    fdt_info_t dt;
    cr_assert_eq(parse_guarded(b.data, b.size, &dt), 0);
    static boot_info_t bi;
    memset(&bi, 0, sizeof bi);
    bi.kernel_phys_start = 0x80200000, bi.kernel_phys_end = 0x80246000;
    bi.nregions = BOOT_MAX_REGIONS - 7; /* room for 7 of the 8 */
    bool fw_default = true;
    cr_assert_eq(rv_boot_regions(&bi, &dt, 0x8fe00000, &fw_default), -ENOMEM);
    cr_assert_eq(bi.nregions, (size_t)BOOT_MAX_REGIONS - 7);
    cr_assert(fw_default, "the flag was written on failure");
    bi.nregions = BOOT_MAX_REGIONS - 8;
    cr_assert_eq(rv_boot_regions(&bi, &dt, 0x8fe00000, &fw_default), 0);
    cr_assert_eq(bi.nregions, (size_t)BOOT_MAX_REGIONS);
    free(b.data);
}

/* ---- aarch64: QEMU virt -cpu max -smp 4, entered at EL1 (PSCI through
 * hvc) and with virtualization=on (at EL2: PSCI through smc) ---- */

Test(fdt, aarch64_virt_dtbs_give_memory_cpus_and_the_psci_method)
{
    const struct { const char *file; enum fdt_psci psci; } dtbs[] = {
        { "a64-virt-smp4.dtb", FDT_PSCI_HVC },
        { "a64-virt-el2.dtb", FDT_PSCI_SMC },
    };
    for (size_t d = 0; d < 2; d++) {
        blob_t b = load(dtbs[d].file);
        fdt_info_t info;
        cr_assert_eq(parse_guarded(b.data, b.size, &info), 0, "%s", dtbs[d].file);
        cr_assert_eq(info.nmemory, 1u);
        cr_assert_eq(info.memory[0].base, 0x40000000ull);
        cr_assert_eq(info.memory[0].size, 0x10000000ull);
        cr_assert_eq(info.nharts, 4u, "%s: four cpu nodes; cpu-map is no cpu", dtbs[d].file);
        for (size_t i = 0; i < 4; i++)
            expect_hart(&info, i, i, true, -1); /* reg: the MPIDR affinity; no mmu-type on arm */
        cr_assert_eq(info.psci, dtbs[d].psci, "%s: psci %d", dtbs[d].file, info.psci);
        cr_assert_eq(info.timebase_hz, 0u, "arm has CNTFRQ_EL0 instead");
        free(b.data);
    }
    blob_t b = load("virt.dtb");
    fdt_info_t info;
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.psci, FDT_PSCI_NONE, "riscv64 virt has no /psci");
    free(b.data);
}

Test(fdt, psci_method_must_be_a_string_and_another_name_is_unknown)
{
    blob_t b = load("a64-virt-smp4.dtb");
    size_t v = find_prop(&b, "psci", "method");
    uint32_t len = get32(b.data + v - 8);
    cr_assert_eq(len, sizeof "hvc");
    fdt_info_t info;
    b.data[v] = 'x'; /* "xvc" */
    cr_assert_eq(parse_guarded(b.data, b.size, &info), 0);
    cr_assert_eq(info.psci, FDT_PSCI_UNKNOWN);
    b.data[v + len - 1] = '!';
    expect_error(&b, FDT_ERR_PROP);
    b.data[v + len - 1] = 0;
    put32(b.data + v - 8, 0);
    expect_error(&b, FDT_ERR_PROP);
    free(b.data);
}
