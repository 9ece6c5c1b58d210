/* arch/x86_64/pic.c - the legacy 8259 PICs, remapped to vectors 0x20-0x2f
 * so that no IRQ can look like an exception, with every IRQ masked: the
 * preemption timer is each CPU's local APIC timer (lapic.c). A spurious
 * IRQ 7 or 15 can still arrive; it is recognised and not acknowledged. */
#include "kernel/arch.h"
#include "x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_EOI 0x20
#define PIC_READ_ISR 0x0b

static void io_wait(void) { outb(0x80, 0); }

void x86_pic_init(void)
{
    outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
    io_wait();
    outb(PIC2_CMD, 0x11);
    io_wait();
    outb(PIC1_DATA, X86_IRQ_VECTOR); /* ICW2: vector base */
    io_wait();
    outb(PIC2_DATA, X86_IRQ_VECTOR + 8);
    io_wait();
    outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ 2 */
    io_wait();
    outb(PIC2_DATA, 0x02);
    io_wait();
    outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
    io_wait();
    outb(PIC2_DATA, 0x01);
    io_wait();
    outb(PIC1_DATA, 0xff); /* everything masked */
    outb(PIC2_DATA, 0xff);
}

/* True if the in-service register of the PIC at cmd has bit `bit`: a real
 * IRQ 7 / 15, not a spurious one. */
static bool in_service(uint16_t cmd, unsigned bit)
{
    outb(cmd, PIC_READ_ISR);
    return inb(cmd) & (1u << bit);
}

void x86_irq(x86_regs_t *r)
{
    unsigned irq = (unsigned)(r->vector - X86_IRQ_VECTOR);
    if (irq == 7 && !in_service(PIC1_CMD, 7))
        return; /* spurious: no acknowledgement */
    if (irq == 15 && !in_service(PIC2_CMD, 7)) {
        outb(PIC1_CMD, PIC_EOI); /* the master saw the cascade */
        return;
    }
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}
