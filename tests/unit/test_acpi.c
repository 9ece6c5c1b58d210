/* tests/unit/test_acpi.c - the x86_64 MADT reader (arch/x86_64/acpi.c) on
 * ACPI tables built here in a fake physical memory: the CPUs it finds
 * (enabled local APIC and x2APIC entries, in table order), both root
 * tables (RSDT for ACPI 1.0, XSDT after), the local APIC address override,
 * and every kind of broken input: each gives its error and leaves the
 * output untouched. */
#include <criterion/criterion.h>
#include <string.h>

#include "acpi.h"

#define MEM_SIZE 0x10000
static uint8_t mem[MEM_SIZE];

static const void *map(uint64_t pa, size_t len)
{
    if (pa >= MEM_SIZE || len > MEM_SIZE - pa)
        return NULL;
    return &mem[pa];
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void fix_checksum(uint8_t *p, size_t len, size_t at)
{
    p[at] = 0;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    p[at] = (uint8_t)-sum;
}

/* An SDT header with sig and total length len at pa; the checksum is fixed later. */
static uint8_t *sdt(uint64_t pa, const char *sig, uint32_t len)
{
    uint8_t *t = &mem[pa];
    memset(t, 0, len);
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = 1;
    return t;
}

#define RSDT_PA 0x1000
#define XSDT_PA 0x2000
#define FACP_PA 0x3000
#define MADT_PA 0x4000

static size_t madt_len;

/* A MADT with the given entry bytes, checksummed. */
static void make_madt(const uint8_t *entries, size_t n)
{
    madt_len = 44 + n;
    uint8_t *m = sdt(MADT_PA, "APIC", (uint32_t)madt_len);
    put32(m + 36, 0xfee00000u);
    put32(m + 40, 1); /* PCAT_COMPAT */
    memcpy(m + 44, entries, n);
    fix_checksum(m, madt_len, 9);
}

/* RSDT and XSDT that list a FACP, then the MADT; returns the RSDP. */
static void make_roots(uint8_t rsdp[36], bool v2)
{
    uint8_t *f = sdt(FACP_PA, "FACP", 36);
    fix_checksum(f, 36, 9);
    uint8_t *r = sdt(RSDT_PA, "RSDT", 36 + 8);
    put32(r + 36, FACP_PA);
    put32(r + 40, MADT_PA);
    fix_checksum(r, 44, 9);
    uint8_t *x = sdt(XSDT_PA, "XSDT", 36 + 16);
    put64(x + 36, FACP_PA);
    put64(x + 44, MADT_PA);
    fix_checksum(x, 52, 9);
    memset(rsdp, 0, 36);
    memcpy(rsdp, "RSD PTR ", 8);
    rsdp[15] = v2 ? 2 : 0;
    put32(rsdp + 16, RSDT_PA);
    fix_checksum(rsdp, 20, 8);
    if (v2) {
        put32(rsdp + 20, 36);
        put64(rsdp + 24, XSDT_PA);
        fix_checksum(rsdp, 36, 32);
    }
}

/* Entries: APIC id 0 enabled, id 1 disabled, id 2 online-capable only,
 * an I/O APIC, id 3 enabled, x2APIC id 300 enabled, x2APIC id 301 disabled. */
static const uint8_t qemu_like[] = {
    0, 8, 0, 0, 1, 0, 0, 0,
    0, 8, 1, 1, 0, 0, 0, 0,
    0, 8, 2, 2, 2, 0, 0, 0,
    1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0,
    0, 8, 3, 3, 1, 0, 0, 0,
    9, 16, 0, 0, 0x2c, 0x01, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
    9, 16, 0, 0, 0x2d, 0x01, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0,
};

static x86_acpi_cpus_t untouched(void)
{
    x86_acpi_cpus_t c;
    memset(&c, 0xa5, sizeof(c));
    return c;
}

static void expect_untouched(const x86_acpi_cpus_t *c)
{
    x86_acpi_cpus_t u = untouched();
    cr_expect(memcmp(c, &u, sizeof(u)) == 0, "a failed parse changed the output");
}

Test(acpi, xsdt_madt_lists_enabled_local_apic_and_x2apic_cpus_in_order)
{
    uint8_t rsdp[36];
    make_roots(rsdp, true);
    make_madt(qemu_like, sizeof(qemu_like));
    x86_acpi_cpus_t c = untouched();
    cr_assert_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), 0);
    cr_expect_eq(c.lapic_base, 0xfee00000u);
    cr_assert_eq(c.ncpus, 3);
    cr_expect_eq(c.apic_id[0], 0);
    cr_expect_eq(c.apic_id[1], 3);
    cr_expect_eq(c.apic_id[2], 300);
}

Test(acpi, acpi_1_rsdp_goes_through_the_rsdt)
{
    uint8_t rsdp[36];
    make_roots(rsdp, false);
    /* The XSDT must not be used: break it. */
    memcpy(&mem[XSDT_PA], "XXXX", 4);
    make_madt(qemu_like, 16);
    x86_acpi_cpus_t c = untouched();
    cr_assert_eq(x86_acpi_find_cpus(rsdp, 20, map, &c), 0);
    cr_assert_eq(c.ncpus, 1);
    cr_expect_eq(c.apic_id[0], 0);
}

Test(acpi, local_apic_address_override_replaces_the_base)
{
    uint8_t e[8 + 12] = { 0, 8, 0, 7, 1, 0, 0, 0, 5, 12, 0, 0 };
    put64(e + 12, 0x1234567000ull);
    uint8_t rsdp[36];
    make_roots(rsdp, true);
    make_madt(e, sizeof(e));
    x86_acpi_cpus_t c = untouched();
    cr_assert_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), 0);
    cr_expect_eq(c.lapic_base, 0x1234567000ull);
    cr_expect_eq(c.ncpus, 1);
    cr_expect_eq(c.apic_id[0], 7);
}

Test(acpi, more_cpus_than_the_array_are_counted_and_the_first_kept)
{
    static uint8_t e[8 * (X86_ACPI_MAX_CPUS + 3)];
    for (unsigned i = 0; i < X86_ACPI_MAX_CPUS + 3; i++) {
        uint8_t one[8] = { 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 };
        memcpy(e + 8 * i, one, 8);
    }
    uint8_t rsdp[36];
    make_roots(rsdp, true);
    make_madt(e, sizeof(e));
    x86_acpi_cpus_t c = untouched();
    cr_assert_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), 0);
    cr_expect_eq(c.ncpus, X86_ACPI_MAX_CPUS + 3);
    cr_expect_eq(c.apic_id[X86_ACPI_MAX_CPUS - 1], X86_ACPI_MAX_CPUS - 1);
}

Test(acpi, bad_rsdp_signature_checksum_or_length_is_einval)
{
    uint8_t rsdp[36];
    make_madt(qemu_like, sizeof(qemu_like));
    x86_acpi_cpus_t c = untouched();
    make_roots(rsdp, true);
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 19, map, &c), -EINVAL, "20 bytes at least");
    rsdp[0] = 'X';
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "signature");
    make_roots(rsdp, true);
    rsdp[16] ^= 1; /* the 1.0 checksum no longer holds */
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "1.0 checksum");
    make_roots(rsdp, true);
    rsdp[30] ^= 1; /* XSDT address: the extended checksum no longer holds */
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "extended checksum");
    expect_untouched(&c);
}

Test(acpi, bad_table_checksum_or_signature_is_einval)
{
    uint8_t rsdp[36];
    x86_acpi_cpus_t c = untouched();
    make_roots(rsdp, true);
    make_madt(qemu_like, sizeof(qemu_like));
    mem[MADT_PA + 50] ^= 0x10;
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "MADT checksum");
    make_madt(qemu_like, sizeof(qemu_like));
    mem[XSDT_PA + 40] ^= 1;
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "XSDT checksum");
    make_roots(rsdp, true);
    memcpy(&mem[XSDT_PA], "RSDT", 4);
    fix_checksum(&mem[XSDT_PA], 52, 9);
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "an RSDT where the XSDT should be");
    expect_untouched(&c);
}

Test(acpi, entry_of_length_zero_or_past_the_table_is_einval)
{
    uint8_t rsdp[36];
    x86_acpi_cpus_t c = untouched();
    make_roots(rsdp, true);
    uint8_t zero[16] = { 0, 8, 0, 0, 1, 0, 0, 0, 4, 0 };
    make_madt(zero, sizeof(zero));
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "length 0 (would loop for ever)");
    uint8_t past[12] = { 0, 8, 0, 0, 1, 0, 0, 0, 9, 16, 0, 0 };
    make_madt(past, sizeof(past));
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "an x2APIC entry running past the end");
    uint8_t short_lapic[6] = { 0, 6, 0, 0, 1, 0 };
    make_madt(short_lapic, sizeof(short_lapic));
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EINVAL, "a local APIC entry shorter than 8 bytes");
    expect_untouched(&c);
}

Test(acpi, no_madt_is_enoent_and_unreachable_table_is_efault)
{
    uint8_t rsdp[36];
    x86_acpi_cpus_t c = untouched();
    make_roots(rsdp, true);
    make_madt(qemu_like, sizeof(qemu_like));
    memcpy(&mem[MADT_PA], "SSDT", 4);
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -ENOENT);
    make_madt(qemu_like, sizeof(qemu_like));
    put64(&mem[XSDT_PA + 44], MEM_SIZE + 0x1000);
    fix_checksum(&mem[XSDT_PA], 52, 9);
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EFAULT, "MADT address beyond the map");
    make_roots(rsdp, true);
    put32(&mem[MADT_PA + 4], MEM_SIZE); /* a length that runs beyond the map */
    cr_expect_eq(x86_acpi_find_cpus(rsdp, 36, map, &c), -EFAULT, "MADT length beyond the map");
    expect_untouched(&c);
}
