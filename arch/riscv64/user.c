/* arch/riscv64/user.c - U-mode on riscv64: frames that sret to U-mode
 * (SPP clear), the system-call ABI of ecall (a7; a0..a3; result in a0), and
 * kernel stacks for the scheduler. The sscratch / tp protocol is in
 * trap_entry.S. */
#include "kernel/arch.h"
#include "kernel/kstack.h"
#include "kernel/lib/string.h"
#include "riscv.h"
#include "trap.h"

#define RV_SP 2
#define RV_A0 10
#define RV_A7 17

extern char rv_user_first_entry[];

const uint16_t arch_elf_machine = 243; /* EM_RISCV */
const size_t arch_user_frame_size = sizeof(rv_regs_t);
_Static_assert(sizeof(rv_regs_t) % 16 == 0, "the user frame keeps the kernel stack 16-byte aligned");
_Static_assert(KSTACK_SLOT_SHIFT == 15 && ((ptr_t)KSTACK_SLOTS << KSTACK_SLOT_SHIFT) == (ptr_t)1 << 28 &&
                   KSTACK_GUARD_SIZE == (ptr_t)1 << 14,
               "trap_entry.S's copy of the kernel-stack window layout");

void arch_user_frame_init(void *frame, ptr_t ip, ptr_t sp)
{
    rv_regs_t *r = frame;
    memset(r, 0, sizeof(*r));
    r->sepc = ip;
    r->x[RV_SP] = sp;
    /* U-mode, no user access for the kernel. SIE/SPIE clear: the kernel runs
     * with interrupts masked after every trap; in U-mode the timer (sie.STIE)
     * is taken whatever SIE says. */
    r->sstatus = csr_read(sstatus) & ~(SSTATUS_SPP | SSTATUS_SUM | SSTATUS_SIE | SSTATUS_SPIE);
}

void arch_user_frame_init_thread(void *frame, ptr_t entry, ptr_t stack_top, unsigned long arg)
{
    arch_user_frame_init(frame, entry, stack_top); /* ra 0: returning faults */
    ((rv_regs_t *)frame)->x[RV_A0] = arg;
}

unsigned long arch_syscall_nr(const void *frame) { return ((const rv_regs_t *)frame)->x[RV_A7]; }

unsigned long arch_syscall_arg(const void *frame, unsigned n)
{
    return n < 6 ? ((const rv_regs_t *)frame)->x[RV_A0 + n] : 0;
}

void arch_syscall_set_result(void *frame, long value) { ((rv_regs_t *)frame)->x[RV_A0] = (uint64_t)value; }

bool arch_regs_user_mode(const void *regs) { return !(((const rv_regs_t *)regs)->sstatus & SSTATUS_SPP); }

ptr_t arch_kstack_init(ptr_t kstack_top, void *frame)
{
    (void)kstack_top;
    /* What arch_switch_stack restores: ra, s0..s11 (112 bytes). */
    uint64_t *sp = (uint64_t *)frame - 14;
    memset(sp, 0, 14 * sizeof(uint64_t));
    sp[0] = (uint64_t)(uintptr_t)rv_user_first_entry; /* ra */
    sp[1] = (uint64_t)(uintptr_t)frame;               /* s0 */
    return (ptr_t)sp;
}

ptr_t arch_kstack_init_call(ptr_t kstack_top, void (*fn)(void))
{
    uint64_t *sp = (uint64_t *)(kstack_top - 112);
    memset(sp, 0, 14 * sizeof(uint64_t));
    sp[0] = (uint64_t)(uintptr_t)fn; /* ra */
    return (ptr_t)sp;
}

void arch_set_kernel_stack(ptr_t top) { (void)top; }
