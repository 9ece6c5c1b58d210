/* arch/x86_64/trap.c - the IDT and the decoding of exceptions: #PF becomes a
 * hal_fault_t for the generic fault handler, #GP (a non-canonical address,
 * among others) is reported as what it is, anything else stops the kernel.
 * From ring 3 the same paths kill the process instead (kernel/fault.c), and
 * vector 0x80, the only gate ring 3 may raise, is the system call. */
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/kstack.h"
#include "kernel/printk.h"
#include "kernel/process.h"
#include "fault_decode.h"
#include "x86.h"

extern const uint64_t x86_trap_stubs[32];
extern const uint64_t x86_trap_syscall_stub;
extern const uint64_t x86_irq_stubs[X86_IRQ_COUNT];
extern const uint64_t x86_lapic_stubs[3]; /* X86_VEC_TIMER, X86_VEC_IPI, X86_VEC_SPURIOUS */
#define X86_SYSCALL_VECTOR 0x80
extern char _stack_guard_start[], _stack_guard_end[]; /* kernel.ld */
extern ptr_t x86_exec_probe_target, x86_exec_probe_fixup;

typedef struct __attribute__((packed)) idt_entry {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, zero;
} idt_entry_t;

static idt_entry_t idt[256] __attribute__((aligned(16)));

/* An interrupt gate to handler h; dpl 3 lets ring 3 raise it with int. */
static idt_entry_t idt_gate(uint64_t h, uint8_t ist, unsigned dpl)
{
    return (idt_entry_t){ .offset_lo = (uint16_t)h, .selector = 0x08, .ist = ist,
                          .type_attr = (uint8_t)(0x8e | (dpl << 5)), .offset_mid = (uint16_t)(h >> 16),
                          .offset_hi = (uint32_t)(h >> 32), .zero = 0 };
}

static const char *const vector_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode", "device not available",
    "double fault", "coprocessor overrun", "invalid TSS", "segment not present", "stack fault",
    "general protection fault", "page fault", "reserved 15", "x87 error", "alignment check", "machine check",
    "SIMD error", "virtualization", "control protection", "reserved 22", "reserved 23", "reserved 24", "reserved 25",
    "reserved 26", "reserved 27", "hypervisor injection", "VMM communication", "security", "reserved 31",
};

void x86_idt_load(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

void arch_trap_init(void)
{
    x86_gdt_init(0);
    for (unsigned v = 0; v < 32; v++) {
        uint64_t h = x86_trap_stubs[v];
        uint8_t ist = v == 8 ? 1 : v == 2 ? 2 : v == 18 ? 3 : 0;
        idt[v] = idt_gate(h, ist, 0);
    }
    for (unsigned i = 0; i < X86_IRQ_COUNT; i++)
        idt[X86_IRQ_VECTOR + i] = idt_gate(x86_irq_stubs[i], 0, 0);
    idt[X86_SYSCALL_VECTOR] = idt_gate(x86_trap_syscall_stub, 0, 3);
    idt[X86_VEC_TIMER] = idt_gate(x86_lapic_stubs[0], 0, 0);
    idt[X86_VEC_IPI] = idt_gate(x86_lapic_stubs[1], 0, 0);
    idt[X86_VEC_SPURIOUS] = idt_gate(x86_lapic_stubs[2], 0, 0);
    x86_pic_init();
    x86_idt_load();
}

ptr_t arch_regs_ip(const void *regs) { return ((const x86_regs_t *)regs)->rip; }
void arch_regs_set_ip(void *regs, ptr_t ip) { ((x86_regs_t *)regs)->rip = ip; }

ptr_t arch_exec_probe_fixup(ptr_t fault_ip)
{
    if (x86_exec_probe_target == 0 || fault_ip != x86_exec_probe_target)
        return 0;
    return x86_exec_probe_fixup;
}

void arch_dump_regs(const void *regs)
{
    const x86_regs_t *r = regs;
    printk("  trap %lu (%s), error code 0x%lx\n", (unsigned long)r->vector,
           r->vector < 32 ? vector_names[r->vector] : "?", (unsigned long)r->error);
    printk("  rip %016lx cs %04lx rflags %016lx\n", (unsigned long)r->rip, (unsigned long)r->cs, (unsigned long)r->rflags);
    printk("  rsp %016lx ss %04lx cr2 %016lx cr3 %016lx\n", (unsigned long)r->rsp, (unsigned long)r->ss,
           (unsigned long)read_cr2(), (unsigned long)read_cr3());
    printk("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", (unsigned long)r->rax, (unsigned long)r->rbx,
           (unsigned long)r->rcx, (unsigned long)r->rdx);
    printk("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n", (unsigned long)r->rsi, (unsigned long)r->rdi,
           (unsigned long)r->rbp, (unsigned long)r->r8);
    printk("  r9  %016lx r10 %016lx r11 %016lx r12 %016lx\n", (unsigned long)r->r9, (unsigned long)r->r10,
           (unsigned long)r->r11, (unsigned long)r->r12);
    printk("  r13 %016lx r14 %016lx r15 %016lx cr0 %08lx cr4 %08lx\n", (unsigned long)r->r13, (unsigned long)r->r14,
           (unsigned long)r->r15, (unsigned long)read_cr0(), (unsigned long)read_cr4());
}

static void page_fault(x86_regs_t *r)
{
    hal_fault_t f = x86_decode_page_fault(r->error, read_cr2(), r->rip, r->rflags, x86_features.smap);
    const char *refused = x86_page_fault_refusal(&f, r->error, hal_is_user_addr(kernel_geometry, f.addr),
                                                 x86_features.smep, x86_features.smap);
    if (refused) {
        kernel_fault_refused(&f, r, refused);
        return;
    }
    if (!kernel_handle_fault(&f, r))
        kernel_fault_refused(&f, r, "user-mode fault nobody resolved (no process to signal)");
}

/* Called by traps.S with the saved frame; returns to the frame's rip. */
void x86_trap(x86_regs_t *r);
void x86_trap(x86_regs_t *r)
{
    if (r->vector >= X86_IRQ_VECTOR && r->vector < X86_IRQ_VECTOR + X86_IRQ_COUNT) {
        x86_irq(r);
        return;
    }
    switch (r->vector) {
    case X86_VEC_TIMER:
    case X86_VEC_IPI:
    case X86_VEC_SPURIOUS:
        x86_lapic_irq(r);
        return;
    case X86_SYSCALL_VECTOR:
        kernel_syscall(r);
        return;
    case 14:
        page_fault(r);
        return;
    case 13:
        /* The CPU gives no address: a non-canonical access lands here, as do
         * bad segment loads and privileged instructions. */
        kernel_trap_refused(r, r->rip, "general protection fault (non-canonical address or protection violation)");
        return;
    case 8: {
        /* On its own stack (IST): most likely the kernel stack ran into its guard page. */
        uint64_t cr2 = read_cr2();
        bool guard = cr2 >= (uint64_t)(uintptr_t)_stack_guard_start && cr2 < (uint64_t)(uintptr_t)_stack_guard_end;
        bool proc_guard = kstack_guard_hit((ptr_t)cr2);
        kernel_trap_refused(r, r->rip,
                            guard        ? "double fault: kernel stack overflow (guard page hit)"
                            : proc_guard ? "double fault: a process's kernel stack overflowed (guard page hit)"
                                         : "double fault");
        return;
    }
    default:
        kernel_trap_refused(r, r->rip, r->vector < 32 ? vector_names[r->vector] : "unknown trap");
        return;
    }
}
