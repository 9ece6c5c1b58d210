/* arch/x86_64/user.c - user mode on x86_64: ring-3 frames (iretq through
 * the trap return path), the system-call ABI of `int $0x80`, kernel stacks
 * for the scheduler. The GDT's ring-3 segments and the TSS live in cpu.c. */
#include "kernel/arch.h"
#include "kernel/lib/string.h"
#include "x86.h"

#define X86_USER_CS 0x23 /* GDT index 4, RPL 3 */
#define X86_USER_SS 0x1b /* GDT index 3, RPL 3 */
#define X86_RFLAGS_RESERVED 0x2
#define X86_RFLAGS_IF 0x200

extern char x86_user_first_entry[];

const uint16_t arch_elf_machine = 62; /* EM_X86_64 */
const size_t arch_user_frame_size = sizeof(x86_regs_t);
_Static_assert(sizeof(x86_regs_t) % 16 == 0, "the user frame keeps the kernel stack 16-byte aligned");

void arch_user_frame_init(void *frame, ptr_t ip, ptr_t sp)
{
    x86_regs_t *r = frame;
    memset(r, 0, sizeof(*r));
    r->rip = ip;
    r->cs = X86_USER_CS;
    r->rflags = X86_RFLAGS_RESERVED | X86_RFLAGS_IF; /* the timer may end its slice */
    r->rsp = sp;
    r->ss = X86_USER_SS;
}

void arch_user_frame_init_thread(void *frame, ptr_t entry, ptr_t stack_top, unsigned long arg)
{
    arch_user_frame_init(frame, entry, stack_top - 8); /* as after a call: rsp + 8 is 16-byte aligned */
    ((x86_regs_t *)frame)->rdi = arg;
}

unsigned long arch_syscall_nr(const void *frame) { return ((const x86_regs_t *)frame)->rax; }

unsigned long arch_syscall_arg(const void *frame, unsigned n)
{
    const x86_regs_t *r = frame;
    switch (n) {
    case 0: return r->rdi;
    case 1: return r->rsi;
    case 2: return r->rdx;
    case 3: return r->r10;
    default: return 0;
    }
}

void arch_syscall_set_result(void *frame, long value) { ((x86_regs_t *)frame)->rax = (uint64_t)value; }

bool arch_regs_user_mode(const void *regs) { return (((const x86_regs_t *)regs)->cs & 3) == 3; }

ptr_t arch_kstack_init(ptr_t kstack_top, void *frame)
{
    (void)kstack_top;
    /* What arch_switch_stack pops: r15 r14 r13 r12 rbx rbp, then its return address. */
    uint64_t *sp = (uint64_t *)frame - 7;
    memset(sp, 0, 7 * sizeof(uint64_t));
    sp[4] = (uint64_t)(uintptr_t)frame;               /* rbx */
    sp[6] = (uint64_t)(uintptr_t)x86_user_first_entry; /* return address */
    return (ptr_t)sp;
}

ptr_t arch_kstack_init_call(ptr_t kstack_top, void (*fn)(void))
{
    /* Popped: six registers, then fn as the return address; fn starts with
     * rsp = top - 8, as after a call from an aligned stack. */
    uint64_t *sp = (uint64_t *)(kstack_top - 64);
    memset(sp, 0, 8 * sizeof(uint64_t));
    sp[6] = (uint64_t)(uintptr_t)fn;
    return (ptr_t)sp;
}

void arch_set_kernel_stack(ptr_t top) { x86_tss_set_rsp0(top); }
