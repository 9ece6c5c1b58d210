/* hal/riscv64/bringup/main.c - a stand-alone riscv64 bring-up kernel: the
 * HAL's boot path (entry.S, early_paging.c, boot.c) hands it a boot_info_t
 * in place of the generic kmain, and it checks boot, console, traps, the
 * exception table, SUM and the paging-mode probe end to end, printing KTAP
 * and exiting through sifive_test with the number of failures.
 *
 * It exists to prove the HAL before the generic kernel runs on riscv64; it
 * carries the minimum of kernel services itself (printk, panic, memset). */
#include <stdarg.h>

#include "../early_paging.h"
#include "../riscv.h"
#include "../trap.h"
#include "kernel/arch.h"
#include "kernel/boot.h"
#include "kernel/printk.h"
#include "mm/platform.h"

/* ---- the kernel services the HAL expects ---- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static void puts_(const char *s)
{
    while (*s)
        arch_console_putc(*s++);
}

static void put_num(unsigned long long v, unsigned base, int width, char pad, bool neg)
{
    char buf[24];
    int n = 0;
    do
        buf[n++] = "0123456789abcdef"[v % base];
    while (v /= base);
    if (neg)
        buf[n++] = '-';
    while (width-- > n)
        arch_console_putc(pad);
    while (n)
        arch_console_putc(buf[--n]);
}

static void vprintk(const char *f, va_list ap)
{
    for (; *f; f++) {
        if (*f != '%') {
            arch_console_putc(*f);
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0, longs = 0;
        bool size = false;
        if (*f == '0')
            pad = '0', f++;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        for (; *f == 'l'; f++)
            longs++;
        if (*f == 'z')
            size = true, f++;
        switch (*f) {
        case 's': puts_(va_arg(ap, const char *)); break;
        case 'c': arch_console_putc((char)va_arg(ap, int)); break;
        case '%': arch_console_putc('%'); break;
        case 'p':
            puts_("0x");
            put_num((uintptr_t)va_arg(ap, void *), 16, 16, '0', false);
            break;
        case 'd':
        case 'i': {
            long long v = longs ? va_arg(ap, long long) : size ? (long long)va_arg(ap, long) : va_arg(ap, int);
            put_num(v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs || size ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            put_num(v, *f == 'x' ? 16 : 10, width, pad, false);
            break;
        }
        default: arch_console_putc('?'); break;
        }
    }
}

void printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
}

_Noreturn void mm_panic_at(const char *func, const char *fmt, ...)
{
    va_list ap;
    printk("\nPANIC in %s: ", func);
    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
    printk("\n");
    arch_exit(2);
}

void *mm_phys_to_virt(uint64_t paddr) { return (void *)(uintptr_t)(RV_DIRECT_MAP_BASE + paddr); }
uintptr_t mm_lock_owner_token(void) { return 1; }

static hal_fault_t last_fault;
static const hal_geometry_t *bi_geometry;
static unsigned nfaults;

/* No generic layer here: every page fault is recorded, then left to the
 * exception table. */
bool kernel_handle_fault(const hal_fault_t *f, void *regs)
{
    (void)regs;
    last_fault = *f;
    nfaults++;
    return false;
}

/* ---- the checks ---- */

static unsigned ntests, nfailed;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            printk("    # %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                    \
            printk(__VA_ARGS__);                                                                                       \
            printk("\n");                                                                                              \
            ok = false;                                                                                                \
        }                                                                                                              \
    } while (0)

static void report(const char *name, bool ok)
{
    ntests++;
    if (!ok)
        nfailed++;
    printk("%s %u %s\n", ok ? "ok" : "not ok", ntests, name);
}

static uint8_t page_a[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t page_b[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t page_c[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* Unused kernel and user addresses for test mappings. */
#define TEST_KVA 0xffffffd000000000ul
#define TEST_UVA 0x0000000010000000ul
#define RET_INSN 0x00008067u /* jalr x0, 0(ra) */

static bool test_boot_info(const boot_info_t *bi)
{
    bool ok = true;
    CHECK(bi->kernel_phys_start == 0x80200000ul, "kernel at %lx", (unsigned long)bi->kernel_phys_start);
    CHECK(bi->kernel_phys_end > bi->kernel_phys_start && (bi->kernel_phys_end & PAGE_MASK) == 0, "end %lx",
          (unsigned long)bi->kernel_phys_end);
    CHECK(bi->direct_map_base == RV_DIRECT_MAP_BASE, "direct map %lx", (unsigned long)bi->direct_map_base);
    CHECK(bi->nregions >= 4, "%zu regions", bi->nregions);
    CHECK(bi->regions[0].usable && bi->regions[0].base == 0x80000000ul && bi->regions[0].size == 256ul << 20,
          "first region %lx+%lx", (unsigned long)bi->regions[0].base, (unsigned long)bi->regions[0].size);
    bool sbi = false, kernel = false;
    for (size_t i = 0; i < bi->nregions; i++) {
        const mm_region_t *r = &bi->regions[i];
        if (!r->usable && r->base <= 0x80000000ul && r->base + r->size >= 0x80080000ul)
            sbi = true;
        if (!r->usable && r->base == bi->kernel_phys_start && r->size == bi->kernel_phys_end - bi->kernel_phys_start)
            kernel = true;
    }
    CHECK(sbi, "OpenSBI's 0x80000000-0x8007ffff not reserved");
    CHECK(kernel, "kernel image not reserved");
    return ok;
}

static bool test_paging_mode(const boot_info_t *bi)
{
    bool ok = true;
    char want[24] = "riscv64-";
    const char *p = bi->cmdline, *cap = NULL;
    for (; *p; p++)
        if ((p == bi->cmdline || p[-1] == ' ') && p[0] == 'p' && p[1] == 'a' && p[2] == 'g' && p[3] == 'i' &&
            p[4] == 'n' && p[5] == 'g' && p[6] == '=')
            cap = p + 7;
    const char *mode = cap ? cap : arch_cpu_has("sv57") ? "sv57" : arch_cpu_has("sv48") ? "sv48" : "sv39";
    for (int i = 0; i < 4; i++)
        want[8 + i] = mode[i];
    const char *a = bi->geometry->name, *b = want;
    while (*a && *a == *b)
        a++, b++;
    CHECK(*a == 0 && *b == 0, "geometry %s, expected %s", bi->geometry->name, want);
    uint64_t satp_mode = csr_read(satp) >> SATP_MODE_SHIFT;
    uint64_t expect = bi->geometry->levels == 5 ? SATP_MODE_SV57 : bi->geometry->levels == 4 ? SATP_MODE_SV48 : SATP_MODE_SV39;
    CHECK(satp_mode == expect, "satp mode %lu, expected %lu", (unsigned long)satp_mode, (unsigned long)expect);
    CHECK(arch_cpu_has("sv39"), "sv39 must always work");
    CHECK(!arch_cpu_has("sv64") && !arch_cpu_has(""), "unknown modes reported");
    return ok;
}

static bool test_direct_map(void)
{
    bool ok = true;
    /* The compiler cannot see that the two addresses alias: barriers. */
    page_a[123] = 0x5a;
    __asm__ volatile("" ::: "memory");
    volatile uint8_t *dm = (volatile uint8_t *)(uintptr_t)(RV_DIRECT_MAP_BASE + RV_KVA_TO_PA(page_a));
    uint8_t got = dm[123];
    CHECK(got == 0x5a, "read %x through the direct map", got);
    dm[124] = 0xa5;
    __asm__ volatile("" ::: "memory");
    CHECK(page_a[124] == 0xa5, "write through the direct map not seen");
    return ok;
}

static bool test_probe_unmapped(void)
{
    bool ok = true;
    uint8_t v = 0;
    unsigned before = nfaults;
    int r = arch_probe_read((const void *)(uintptr_t)(RV_DIRECT_MAP_BASE + 0x40000000ul), &v);
    CHECK(r == -EFAULT, "probe_read of an unmapped address: %d", r);
    CHECK(nfaults == before + 1, "the fault did not reach the generic handler");
    CHECK(last_fault.addr == RV_DIRECT_MAP_BASE + 0x40000000ul && last_fault.access == HAL_ACCESS_READ &&
              !last_fault.user_mode && last_fault.present == -1,
          "decoded addr %lx access %d user %d present %d", (unsigned long)last_fault.addr, last_fault.access,
          last_fault.user_mode, last_fault.present);
    r = arch_probe_write((void *)(uintptr_t)(TEST_KVA - PAGE_SIZE), 1);
    CHECK(r == -EFAULT && last_fault.access == HAL_ACCESS_WRITE, "probe_write: %d access %d", r, last_fault.access);
    r = arch_probe_exec((const void *)(uintptr_t)(TEST_KVA - PAGE_SIZE));
    CHECK(r == -EFAULT && last_fault.access == HAL_ACCESS_EXEC, "probe_exec: %d access %d", r, last_fault.access);
    page_b[7] = 0x77;
    r = arch_probe_read(&page_b[7], &v);
    CHECK(r == 0 && v == 0x77, "probe_read of mapped memory: %d %x", r, v);
    return ok;
}

/* Read-only and no-exec mappings made with the codec, through rv_early_map. */
static bool test_permissions(void)
{
    bool ok = true;
    uint8_t v = 0;
    page_c[0] = 0x11;
    ((volatile uint32_t *)page_b)[0] = RET_INSN;
    CHECK(rv_early_map(TEST_KVA, RV_KVA_TO_PA(page_c), PAGE_SIZE, VM_READ) == 0, "map R");
    CHECK(rv_early_map(TEST_KVA + PAGE_SIZE, RV_KVA_TO_PA(page_b), PAGE_SIZE, VM_RX) == 0, "map RX");
    CHECK(rv_early_map(TEST_KVA, RV_KVA_TO_PA(page_c), PAGE_SIZE, VM_READ) == -EEXIST, "double map");
    int r = arch_probe_read((const void *)TEST_KVA, &v);
    CHECK(r == 0 && v == 0x11, "read of R page: %d %x", r, v);
    r = arch_probe_write((void *)TEST_KVA, 2);
    CHECK(r == -EFAULT && last_fault.addr == TEST_KVA, "write to R page: %d", r);
    CHECK(page_c[0] == 0x11, "the refused write changed memory");
    r = arch_probe_exec((const void *)TEST_KVA);
    CHECK(r == -EFAULT && last_fault.access == HAL_ACCESS_EXEC, "exec of R page: %d", r);
    r = arch_probe_exec((const void *)(TEST_KVA + PAGE_SIZE));
    CHECK(r == 0, "exec of a ret in an RX page: %d", r);
    return ok;
}

/* A user page: refused to the kernel, reachable only through the helpers
 * that set SUM, which is clear again afterwards. */
static bool test_user_access(void)
{
    bool ok = true;
    uint8_t v = 0;
    page_a[0] = 0x42;
    CHECK(rv_early_map(TEST_UVA, RV_KVA_TO_PA(page_a), PAGE_SIZE, VM_USER_RW) == 0, "map user page");
    int r = arch_probe_read((const void *)TEST_UVA, &v);
    CHECK(r == -EFAULT, "kernel read of a user page without SUM: %d", r);
    r = arch_probe_user_read((const void *)TEST_UVA, &v);
    CHECK(r == 0 && v == 0x42, "user_read: %d %x", r, v);
    CHECK(!(csr_read(sstatus) & SSTATUS_SUM), "SUM left set after user_read");
    r = arch_probe_user_write((void *)TEST_UVA, 0x43);
    CHECK(r == 0 && page_a[0] == 0x43, "user_write: %d %x", r, page_a[0]);
    CHECK(!(csr_read(sstatus) & SSTATUS_SUM), "SUM left set after user_write");
    r = arch_probe_user_read((const void *)(TEST_UVA + PAGE_SIZE), &v);
    CHECK(r == -EFAULT, "user_read of an unmapped page: %d", r);
    CHECK(!(csr_read(sstatus) & SSTATUS_SUM), "SUM left set after a faulting user_read");
    return ok;
}

/* Changing a leaf and invalidating one page shows the new frame at once. */
static bool test_tlb_invalidate(void)
{
    bool ok = true;
    ptr_t va = TEST_KVA + 4 * PAGE_SIZE;
    page_b[100] = 0xb0;
    page_c[100] = 0xc0;
    CHECK(rv_early_map(va, RV_KVA_TO_PA(page_b), PAGE_SIZE, VM_RW) == 0, "map");
    CHECK(*(volatile uint8_t *)(va + 100) == 0xb0, "first read");
    /* Find the leaf through the active tables and point it at page_c. */
    const hal_geometry_t *g = bi_geometry;
    pte_t *t = (pte_t *)(uintptr_t)(((uint64_t)hal_mmu_active_root() << PAGE_SHIFT) + RV_DIRECT_MAP_BASE);
    for (unsigned l = g->levels; l > 1; l--)
        t = (pte_t *)(uintptr_t)(((uint64_t)hal_pte_pfn(l, t[hal_level_index(l, va)]) << PAGE_SHIFT) + RV_DIRECT_MAP_BASE);
    pte_t *leaf = &t[hal_level_index(1, va)];
    CHECK(hal_pte_is_leaf(1, *leaf) && hal_pte_pfn(1, *leaf) == RV_KVA_TO_PA(page_b) >> PAGE_SHIFT, "leaf %lx",
          (unsigned long)*leaf);
    pte_t e = 0;
    CHECK(hal_pte_make_leaf(1, RV_KVA_TO_PA(page_c) >> PAGE_SHIFT, VM_RW, &e) == 0, "encode");
    *leaf = e;
    hal_tlb_invalidate(hal_mmu_active_root(), va, va + PAGE_SIZE);
    CHECK(*(volatile uint8_t *)(va + 100) == 0xc0, "stale translation after hal_tlb_invalidate");
    *leaf = 0;
    hal_tlb_invalidate_all(hal_mmu_active_root());
    uint8_t v;
    CHECK(arch_probe_read((const void *)va, &v) == -EFAULT, "cleared leaf still translates");
    return ok;
}

static bool test_reactivate(void)
{
    bool ok = true;
    pfn_t root = hal_mmu_active_root();
    CHECK(root == rv_early_root(), "active root %lx, early root %lx", (unsigned long)root,
          (unsigned long)rv_early_root());
    hal_mmu_activate(root);
    CHECK(hal_mmu_active_root() == root, "activate changed the root");
    return ok;
}

void kmain(boot_info_t *bi)
{
    bi_geometry = bi->geometry;
    printk("riscv64 bring-up: command line '%s', %zu regions\n", bi->cmdline, bi->nregions);
    for (size_t i = 0; i < bi->nregions; i++)
        printk("  %s %016lx-%016lx\n", bi->regions[i].usable ? "usable  " : "reserved",
               (unsigned long)bi->regions[i].base, (unsigned long)(bi->regions[i].base + bi->regions[i].size - 1));
    printk("KTAP version 1\n1..8\n");
    report("boot_info_describes_ram_and_reservations", test_boot_info(bi));
    report("paging_mode_is_the_widest_allowed", test_paging_mode(bi));
    report("direct_map_shows_ram", test_direct_map());
    report("probes_fault_cleanly_on_unmapped", test_probe_unmapped());
    report("read_only_and_no_exec_pages_fault", test_permissions());
    report("user_pages_only_through_sum_helpers", test_user_access());
    report("tlb_invalidate_shows_new_frame", test_tlb_invalidate());
    report("mmu_activate_keeps_root", test_reactivate());
    printk("# %u/%u passed\n", ntests - nfailed, ntests);
    arch_exit((int)nfailed);
}
