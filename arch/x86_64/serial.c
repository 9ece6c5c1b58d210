/* arch/x86_64/serial.c - the console on COM1 (16550 UART, 115200 8N1). */
#include "kernel/arch.h"
#include "x86.h"

#define COM1 0x3f8

void x86_serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
    outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_put(char c)
{
    for (unsigned spins = 0; spins < 100000 && !(inb(COM1 + 5) & 0x20); spins++)
        ;
    outb(COM1, (uint8_t)c);
}

void arch_console_putc(char c)
{
    if (c == '\n')
        serial_put('\r');
    serial_put(c);
}
