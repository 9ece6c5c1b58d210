/* arch/x86_64/cpu.c - CPU features (found with CPUID on the boot CPU,
 * enabled in CR0, CR4 and EFER on every CPU), each CPU's GDT with its TSS,
 * and the CPU id (which GDT the CPU has loaded). */
#include "kernel/arch.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "x86.h"

x86_features_t x86_features;
/* Read by traps.S and probe.S: STAC/CLAC only exist with SMAP. */
uint8_t x86_smap_enabled;

void x86_cpu_init(void)
{
    uint32_t a, b, c, d, max_basic, max_ext;
    cpuid(0, 0, &max_basic, &b, &c, &d);
    cpuid(0x80000000u, 0, &max_ext, &b, &c, &d);
    if (max_ext >= 0x80000001u) {
        cpuid(0x80000001u, 0, &a, &b, &c, &d);
        x86_features.nx = d & (1u << 20);
        x86_features.pdpe1gb = d & (1u << 26);
    }
    cpuid(1, 0, &a, &b, &c, &d);
    x86_features.pge = d & (1u << 13);
    if (max_basic >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        x86_features.smep = b & (1u << 7);
        x86_features.smap = b & (1u << 20);
    }
    /* LA57 counts as present only when the boot code turned it on. */
    x86_features.la57 = read_cr4() & X86_CR4_LA57;
    x86_cpu_enable();
}

void x86_cpu_enable(void)
{
    if (x86_features.nx)
        wrmsr(X86_MSR_EFER, rdmsr(X86_MSR_EFER) | X86_EFER_NXE);
    write_cr0(read_cr0() | X86_CR0_WP);
    uint64_t cr4 = read_cr4();
    if (x86_features.pge)
        cr4 |= X86_CR4_PGE;
    if (x86_features.smep)
        cr4 |= X86_CR4_SMEP;
    if (x86_features.smap)
        cr4 |= X86_CR4_SMAP;
    write_cr4(cr4);
    if (x86_features.smap) {
        x86_smap_enabled = 1;
        __asm__ volatile("clac" ::: "memory");
    }
}

bool arch_cpu_has(const char *feature)
{
    static const struct {
        const char *name;
        const bool *flag;
    } table[] = {
        { "nx", &x86_features.nx },       { "smep", &x86_features.smep }, { "smap", &x86_features.smap },
        { "la57", &x86_features.la57 },   { "pdpe1gb", &x86_features.pdpe1gb }, { "pge", &x86_features.pge },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].name, feature) == 0)
            return *table[i].flag;
    return false;
}

/* ---- GDT and TSS ---- */

typedef struct __attribute__((packed)) tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} tss_t;

/* Each CPU's GDT, TSS and IST stacks (double fault, NMI, machine check:
 * their own stacks, so that a kernel stack overflow can still be reported). */
#define IST_STACK_SIZE 8192
typedef struct x86_percpu {
    uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
    tss_t tss;
    uint64_t gdt[7] __attribute__((aligned(16)));
} x86_percpu_t;
static x86_percpu_t percpu[SMP_MAX_CPUS];

void x86_tss_set_rsp0(uint64_t top) { percpu[arch_cpu_id()].tss.rsp[0] = top; }

/* Each CPU runs on the GDT inside its own x86_percpu_t (x86_gdt_init, the
 * first thing a CPU does in C), so SGDT names the CPU: a plain register read,
 * where RDPID / RDTSCP of IA32_TSC_AUX cost a helper call each under QEMU's
 * TCG (about 25 ns, several times per page fault: lock owner, active
 * context, frame cache). Before its x86_gdt_init a CPU runs on a start-up
 * GDT and counts as CPU 0 (only the boot CPU runs kernel code then). */
unsigned arch_cpu_id(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    uintptr_t off = (uintptr_t)gdtr.base - (uintptr_t)percpu[0].gdt;
    if ((uintptr_t)gdtr.base < (uintptr_t)percpu[0].gdt || off >= sizeof(percpu))
        return 0;
    return (unsigned)(off / sizeof(percpu[0]));
}

void x86_gdt_init(unsigned id)
{
    if (id >= SMP_MAX_CPUS)
        panic("x86_gdt_init: cpu %u out of range (max %u)", id, SMP_MAX_CPUS);
    x86_percpu_t *pc = &percpu[id];
    tss_t *tss = &pc->tss;
    uint64_t *gdt = pc->gdt;
    for (int i = 0; i < 3; i++)
        tss->ist[i] = (uint64_t)(uintptr_t)&pc->ist_stacks[i][IST_STACK_SIZE];
    tss->iomap_base = sizeof(*tss);

    uint64_t base = (uint64_t)(uintptr_t)tss, limit = sizeof(*tss) - 1;
    gdt[0] = 0;
    gdt[1] = 0x00209b0000000000ull; /* 0x08 kernel code, 64-bit */
    gdt[2] = 0x00cf93000000ffffull; /* 0x10 kernel data */
    gdt[3] = 0x00cff3000000ffffull; /* 0x1b user data */
    gdt[4] = 0x0020fb0000000000ull; /* 0x23 user code, 64-bit */
    gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
             (((base >> 24) & 0xff) << 56); /* 0x28 TSS, available */
    gdt[6] = base >> 32;

    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = { sizeof(pc->gdt) - 1, (uint64_t)(uintptr_t)gdt };
    __asm__ volatile("lgdt %0\n\t"
                     "pushq $0x08\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw $0x10, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%ss\n\t"
                     "movw $0x28, %%ax\n\t"
                     "ltr %%ax"
                     :
                     : "m"(gdtr)
                     : "rax", "memory");
}
