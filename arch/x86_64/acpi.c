/* arch/x86_64/acpi.c - the CPU list of the ACPI MADT (contract in acpi.h).
 * Tables are read byte by byte (little endian, no alignment assumed) and
 * only after their length and checksum have been checked. */
#include "acpi.h"

#define SDT_HEADER_LEN 36
#define MADT_ENTRIES 44 /* header, local APIC address, flags */
#define MADT_LOCAL_APIC 0
#define MADT_LAPIC_OVERRIDE 5
#define MADT_LOCAL_X2APIC 9
#define MADT_ENABLED 1u

static uint32_t rd32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static bool same(const uint8_t *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)s[i])
            return false;
    return true;
}

static bool checksum_ok(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum == 0;
}

/* The table at pa, whole and checked (signature sig if not NULL); NULL with
 * *err set otherwise. */
static const uint8_t *map_table(uint64_t pa, const char *sig, x86_acpi_map_fn map, int *err)
{
    const uint8_t *h = map(pa, SDT_HEADER_LEN);
    if (!h) {
        *err = -EFAULT;
        return NULL;
    }
    uint32_t len = rd32(h + 4);
    if (len < SDT_HEADER_LEN || (sig && !same(h, sig, 4))) {
        *err = -EINVAL;
        return NULL;
    }
    const uint8_t *t = map(pa, len);
    if (!t) {
        *err = -EFAULT;
        return NULL;
    }
    if (!checksum_ok(t, len)) {
        *err = -EINVAL;
        return NULL;
    }
    return t;
}

static int parse_madt(const uint8_t *madt, x86_acpi_cpus_t *out)
{
    uint32_t len = rd32(madt + 4);
    if (len < MADT_ENTRIES)
        return -EINVAL;
    x86_acpi_cpus_t r = { .lapic_base = rd32(madt + SDT_HEADER_LEN) };
    for (uint32_t off = MADT_ENTRIES; off < len;) {
        if (len - off < 2)
            return -EINVAL;
        const uint8_t *e = madt + off;
        uint8_t type = e[0], elen = e[1];
        if (elen < 2 || elen > len - off)
            return -EINVAL;
        uint32_t id = 0, flags = 0;
        bool cpu = false;
        if (type == MADT_LOCAL_APIC) {
            if (elen < 8)
                return -EINVAL;
            id = e[3];
            flags = rd32(e + 4);
            cpu = true;
        } else if (type == MADT_LOCAL_X2APIC) {
            if (elen < 16)
                return -EINVAL;
            id = rd32(e + 4);
            flags = rd32(e + 8);
            cpu = true;
        } else if (type == MADT_LAPIC_OVERRIDE) {
            if (elen < 12)
                return -EINVAL;
            r.lapic_base = rd64(e + 4);
        }
        if (cpu && (flags & MADT_ENABLED)) {
            if (r.ncpus < X86_ACPI_MAX_CPUS)
                r.apic_id[r.ncpus] = id;
            r.ncpus++;
        }
        off += elen;
    }
    *out = r;
    return 0;
}

int x86_acpi_find_cpus(const void *rsdp_copy, size_t len, x86_acpi_map_fn map, x86_acpi_cpus_t *out)
{
    const uint8_t *rsdp = rsdp_copy;
    if (len < 20 || !same(rsdp, "RSD PTR ", 8) || !checksum_ok(rsdp, 20))
        return -EINVAL;
    bool xsdt = rsdp[15] >= 2 && len >= 36;
    if (xsdt && (rd32(rsdp + 20) < 36 || rd32(rsdp + 20) > len || !checksum_ok(rsdp, rd32(rsdp + 20))))
        return -EINVAL;
    int err = 0;
    const uint8_t *root = xsdt ? map_table(rd64(rsdp + 24), "XSDT", map, &err)
                               : map_table(rd32(rsdp + 16), "RSDT", map, &err);
    if (!root)
        return err;
    size_t esize = xsdt ? 8 : 4, n = (rd32(root + 4) - SDT_HEADER_LEN) / esize;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = root + SDT_HEADER_LEN + i * esize;
        uint64_t pa = xsdt ? rd64(p) : rd32(p);
        const uint8_t *h = map(pa, SDT_HEADER_LEN);
        if (!h)
            return -EFAULT;
        if (!same(h, "APIC", 4))
            continue;
        const uint8_t *madt = map_table(pa, "APIC", map, &err);
        if (!madt)
            return err;
        return parse_madt(madt, out);
    }
    return -ENOENT;
}
