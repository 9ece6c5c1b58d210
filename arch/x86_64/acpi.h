/* arch/x86_64/acpi.h - the CPUs of the machine as ACPI lists them: the RSDP
 * (a copy of which GRUB's multiboot2 information carries, tags 14 and 15)
 * leads to the RSDT or XSDT, that to the MADT ("APIC"), whose entries of
 * type 0 (processor local APIC) and 9 (processor local x2APIC) name the
 * CPUs by local APIC id. Pure: every physical read goes through the caller's
 * map function, so the host tests run it on tables built in memory. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mm/types.h" /* error numbers */

#define X86_ACPI_MAX_CPUS 64

typedef struct x86_acpi_cpus {
    uint64_t lapic_base;                  /* the MADT's local APIC address (or its type 5 override) */
    unsigned ncpus;                       /* usable CPUs listed (the array keeps the first X86_ACPI_MAX_CPUS) */
    uint32_t apic_id[X86_ACPI_MAX_CPUS];  /* in MADT order */
} x86_acpi_cpus_t;

/* Returns a pointer to len bytes at physical address pa (valid until
 * x86_acpi_find_cpus returns), or NULL if they cannot be read. */
typedef const void *(*x86_acpi_map_fn)(uint64_t pa, size_t len);

/* Reads the CPUs from the RSDP copy rsdp[0, len) (ACPI 1.0: 20 bytes, the
 * RSDT; 2.0+: 36 bytes, the XSDT). Usable CPUs are the entries with the
 * Enabled flag; disabled ones (even online-capable) are left out. Checks
 * every signature, length and checksum on the way. Returns 0 with *out
 * filled, or -EINVAL (a bad RSDP, table or entry), -ENOENT (no MADT),
 * -EFAULT (a table map refused); *out is unchanged on failure. */
int x86_acpi_find_cpus(const void *rsdp, size_t len, x86_acpi_map_fn map, x86_acpi_cpus_t *out);
