/* arch/x86_64/exit.c - leaving QEMU with a status. isa-debug-exit (port 0xf4)
 * makes QEMU exit with (value << 1) | 1: 0x10 -> 33 for success, 0x11 -> 35
 * for failure (scripts/qemu-ktap.py knows both). Without that device the
 * ACPI power-off of QEMU's chipsets is tried, then the CPU halts. */
#include "kernel/arch.h"
#include "x86.h"

#define X86_DEBUG_EXIT_PORT 0xf4
#define X86_EXIT_SUCCESS 0x10
#define X86_EXIT_FAILURE 0x11

_Noreturn void arch_halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

_Noreturn void arch_exit(int code)
{
    outl(X86_DEBUG_EXIT_PORT, code == 0 ? X86_EXIT_SUCCESS : X86_EXIT_FAILURE);
    outw(0x604, 0x2000);  /* q35 / i440fx with SeaBIOS: ACPI PM1a S5 */
    outw(0xb004, 0x2000); /* older i440fx */
    arch_halt();
}
