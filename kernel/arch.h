/* kernel/arch.h - the services the generic kernel asks of each arch
 * (implemented in arch/<arch>/, the test kernel's part of an arch). Nothing here knows an arch's bits. */
#pragma once

#include "hal/hal.h"

struct mm_context;

/* Writes one character on the console (blocking). */
void arch_console_putc(char c);
/* Ends the run: QEMU exits with success for code 0, failure otherwise. */
_Noreturn void arch_exit(int code);
/* Maps into the kernel context k, before kmain activates it, the device
 * memory the arch's own services use through the kernel half (aarch64: the
 * PL011 console and the GIC, at the addresses its early tables gave them);
 * x86_64 and riscv64 need none (weak default: nothing). */
void arch_map_kernel_devices(struct mm_context *k);
/* Makes instructions the kernel wrote at [start, start + len) of the
 * active address space (mapped, readable) visible to the instruction fetch
 * of every CPU, before they run: the ELF loader calls it for executable
 * segments. aarch64 cleans and invalidates the cache lines
 * (arch/aarch64/cache.h); riscv64 runs fence.i on this hart and, through
 * SBI RFENCE, on the others (arch/riscv64/smp.c); x86_64 fetches coherently
 * with stores and needs none (weak default: nothing). */
void arch_sync_icache_range(ptr_t start, size_t len);
/* Installs the trap vectors; faults reach kernel_handle_fault from then on. */
void arch_trap_init(void);
/* True if the CPU has the named feature and the kernel enabled it.
 * Protections under their generic names, which the boot tests ask for:
 *   "nx"   pages can be made non-executable (x86 EFER.NXE; riscv, aarch64: always)
 *   "smap" kernel data access to user pages faults outside the copy helpers
 *          (x86 SMAP; riscv: SUM clear outside them; aarch64: PAN set outside them)
 *   "smep" the kernel cannot execute user pages (x86 SMEP; riscv: always;
 *          aarch64: every user page is PXN)
 * and arch-specific ones: "la57", "pdpe1gb", "pge" (x86); "sv39", "sv48",
 * "sv57", "svpbmt" (riscv); "pan" (aarch64). Unknown names are false. */
bool arch_cpu_has(const char *feature);

/* Touch memory that may fault. 0 on success, -EFAULT if the access faulted
 * (the fault is resolved through the exception table, nothing else changes). */
int arch_probe_read(const volatile void *addr, uint8_t *out);
int arch_probe_write(volatile void *addr, uint8_t val);
/* Calls addr (which must hold a return instruction); 0, or -EFAULT if the
 * instruction fetch faulted. */
int arch_probe_exec(const void *addr);
/* As probe_read / probe_write with kernel access to user pages enabled for
 * that one access (STAC/CLAC on x86, SUM on riscv): the copy helpers. */
int arch_probe_user_read(const volatile void *uaddr, uint8_t *out);
int arch_probe_user_write(volatile void *uaddr, uint8_t val);
/* The byte sequence of a return instruction, to place where probe_exec calls. */
extern const uint8_t arch_ret_insn[];
extern const size_t arch_ret_insn_len;

/* The trap path's view of saved registers (regs is the arch's frame). */
ptr_t arch_regs_ip(const void *regs);
/* Resumes the interrupted code at ip instead (exception-table fixups). */
void arch_regs_set_ip(void *regs, ptr_t ip);
/* Prints the registers of the frame, one line per few registers. */
void arch_dump_regs(const void *regs);
/* When an exec probe is armed and the faulting instruction address is its
 * target, the address to resume at (which returns -EFAULT from the probe);
 * else 0. */
ptr_t arch_exec_probe_fixup(ptr_t fault_ip);

/* Copies n bytes between kernel and user memory with kernel access to user
 * pages enabled for the copy alone (STAC/CLAC, SUM). Every access is in the
 * exception table: 0, or -EFAULT at the first access that faulted (bytes
 * before it are copied). Only kernel/uaccess.c calls it, after checking the
 * user range. */
int arch_copy_user(void *dst, const void *src, size_t n);

/* ---- User mode (kernel/process.c) ----
 * A process's saved user registers (the "frame") sit at the top of its
 * kernel stack: user-mode traps save them there and return from there. */
/* The ELF e_machine of this arch's user programs (62 x86_64, 243 riscv). */
extern const uint16_t arch_elf_machine;
/* Bytes of the frame (a multiple of 16). */
extern const size_t arch_user_frame_size;
/* Fills frame so that returning from it enters user mode at ip with stack
 * sp, the timer interrupt deliverable, every other register zero. */
void arch_user_frame_init(void *frame, ptr_t ip, ptr_t sp);
/* As arch_user_frame_init for a thread: user mode enters entry as if a
 * function call entry(arg) had just been made with the stack at stack_top
 * (16-byte aligned; x86_64: rsp = stack_top - 8, the return-address slot,
 * riscv64: sp = stack_top, ra = 0), the first argument register arg. */
void arch_user_frame_init_thread(void *frame, ptr_t entry, ptr_t stack_top, unsigned long arg);
/* The call number and arguments of a system call, and its result. */
unsigned long arch_syscall_nr(const void *frame);
unsigned long arch_syscall_arg(const void *frame, unsigned n);
void arch_syscall_set_result(void *frame, long value);
/* True if the trap frame regs was saved from user mode. */
bool arch_regs_user_mode(const void *regs);
/* Prepares a fresh kernel stack (top kstack_top, frame at its top) so that
 * arch_switch_stack to the returned stack pointer returns to user mode
 * through frame. */
ptr_t arch_kstack_init(ptr_t kstack_top, void *frame);
/* As arch_kstack_init, but the switch calls fn (which must not return) on
 * that stack instead of returning to user mode (the crash tests). */
ptr_t arch_kstack_init_call(ptr_t kstack_top, void (*fn)(void));
/* Saves the callee-saved registers on the current stack, stores the stack
 * pointer in *save_sp and resumes the stack new_sp (saved the same way, or
 * made by arch_kstack_init). Returns when something switches back. */
void arch_switch_stack(ptr_t *save_sp, ptr_t new_sp);
/* Where user-mode traps of the process about to run land (x86 TSS.RSP0;
 * riscv records it in the hart's area on the way out, so does nothing here). */
void arch_set_kernel_stack(ptr_t top);

/* The preemption timer of the calling CPU: a periodic interrupt every
 * 1/hz s (riscv: a slice of time-base ticks) on that CPU alone, delivered
 * only while it runs user code or idles (arch_wait_for_interrupt; the kernel
 * otherwise runs with interrupts masked), that reaches kernel_timer_tick
 * (which counts it in smp_cpu(arch_cpu_id())->ticks). Stop masks the
 * calling CPU's timer again. */
void arch_timer_start(unsigned hz);
void arch_timer_stop(void);

/* A cycle counter for bench mode (kernel/bench.c) and its rate, calibrated
 * against a timer of known frequency by the arch on the first call (x86_64)
 * or given by the firmware (riscv64: the device tree's timebase); an arch
 * without one leaves them out (weak defaults: 0 Hz, and bench mode says
 * so). The counter must also be readable by user code (x86_64: rdtsc with
 * CR4.TSD clear; riscv64: rdtime with scounteren.TM set): meminfo reports
 * the rate to user programs (tests/user/ubench.c). */
uint64_t arch_cycles(void);
uint64_t arch_cycle_hz(void);

/* Stops the CPU for good (interrupts off). */
_Noreturn void arch_halt(void);

/* ---- Several CPUs (kernel/smp.h has the generic part) ----
 * An arch that does not start other CPUs leaves these four out (weak
 * defaults in kernel/smp.c: one CPU, id 0, IPIs and idling panic).
 * Starts up to max - 1 CPUs besides the boot CPU (id 0), as the firmware
 * lists them (ACPI MADT, device tree). For each it sets smp_cpu(id)->hwid,
 * gives it a stack of its own, its per-CPU state (arch_cpu_id), trap
 * vectors, the kernel context's root active and interrupts masked, and
 * calls entry(id), which never returns; ids are 1, 2, ... in start order.
 * Returns the number of CPUs, the boot CPU included, that were started
 * (each of them reaches entry soon after; smp_init waits for them). */
unsigned arch_smp_start(unsigned max, void (*entry)(unsigned id));
/* The calling CPU's id (0 on the boot CPU, also before arch_smp_start);
 * cheap: a per-CPU register (x86: the GDT base, riscv: tp). */
unsigned arch_cpu_id(void);
/* Sends an inter-processor interrupt to CPU id; its handler acknowledges
 * it and calls kernel_ipi(frame). A target running the kernel (interrupts masked) takes it
 * when it next unmasks; wait loops poll instead (kernel/smp.h). */
void arch_ipi_send(unsigned id);
/* A pause inside a spin loop (x86 pause, nothing elsewhere). */
void arch_cpu_relax(void);
/* Idles: unmasks interrupts, waits for one, and masks them again, without
 * losing an interrupt that arrives between the unmask and the wait. */
void arch_wait_for_interrupt(void);
