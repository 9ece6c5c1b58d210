/* arch/aarch64/user.c - EL0 on aarch64: frames that eret to EL0t, the
 * system-call ABI of svc (x8; x0..x5; result in x0), and kernel stacks for
 * the scheduler. The stack protocol is in trap_entry.S. */
#include "cpu.h"
#include "kernel/arch.h"
#include "kernel/kstack.h"
#include "kernel/lib/string.h"
#include "trap.h"

#define A64_SWITCH_FRAME 96 /* arch_switch_stack: x19-x30 */

extern char a64_user_first_entry[];

const uint16_t arch_elf_machine = 183; /* EM_AARCH64 */
const size_t arch_user_frame_size = sizeof(a64_regs_t);
_Static_assert(KSTACK_SLOT_SHIFT == 15 && ((ptr_t)KSTACK_SLOTS << KSTACK_SLOT_SHIFT) == (ptr_t)1 << 28 &&
                   KSTACK_GUARD_SIZE == (ptr_t)1 << 14,
               "trap_entry.S's copy of the kernel-stack window layout");

void arch_user_frame_init(void *frame, ptr_t ip, ptr_t sp)
{
    a64_regs_t *r = frame;
    memset(r, 0, sizeof(*r));
    r->elr = ip;
    r->sp = sp;
    r->spsr = A64_SPSR_EL0T; /* D A I F clear: the timer reaches EL0 */
}

void arch_user_frame_init_thread(void *frame, ptr_t entry, ptr_t stack_top, unsigned long arg)
{
    arch_user_frame_init(frame, entry, stack_top); /* x30 0: returning faults */
    ((a64_regs_t *)frame)->x[0] = arg;
}

unsigned long arch_syscall_nr(const void *frame) { return ((const a64_regs_t *)frame)->x[8]; }

unsigned long arch_syscall_arg(const void *frame, unsigned n)
{
    return n < 6 ? ((const a64_regs_t *)frame)->x[n] : 0;
}

void arch_syscall_set_result(void *frame, long value) { ((a64_regs_t *)frame)->x[0] = (uint64_t)value; }

bool arch_regs_user_mode(const void *regs) { return (((const a64_regs_t *)regs)->spsr & A64_SPSR_M_MASK) == A64_SPSR_EL0T; }

ptr_t arch_kstack_init(ptr_t kstack_top, void *frame)
{
    (void)kstack_top;
    uint64_t *sp = (uint64_t *)((uint8_t *)frame - A64_SWITCH_FRAME);
    memset(sp, 0, A64_SWITCH_FRAME);
    sp[0] = (uint64_t)(uintptr_t)frame;                /* x19 */
    sp[11] = (uint64_t)(uintptr_t)a64_user_first_entry; /* x30 */
    return (ptr_t)sp;
}

ptr_t arch_kstack_init_call(ptr_t kstack_top, void (*fn)(void))
{
    uint64_t *sp = (uint64_t *)(kstack_top - A64_SWITCH_FRAME);
    memset(sp, 0, A64_SWITCH_FRAME);
    sp[11] = (uint64_t)(uintptr_t)fn; /* x30 */
    return (ptr_t)sp;
}

/* A trap from EL0 lands at SP_EL1, which is the top of the running
 * thread's kernel stack whenever EL0 runs (trap_entry.S): nothing to do. */
void arch_set_kernel_stack(ptr_t top) { (void)top; }
