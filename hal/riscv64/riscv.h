/* hal/riscv64/riscv.h - CSR access and the constants of the privileged
 * architecture (RISC-V privileged spec 1.12) that the riscv64 HAL uses.
 * Also the fixed layout of the kernel address space on this arch. */
#pragma once

#ifdef __ASSEMBLER__
#define RV_U64(x) x
#else
#include <stdint.h>
#define RV_U64(x) x##ull
#endif

#ifndef __ASSEMBLER__
#define csr_read(csr)                                                                                                  \
    ({                                                                                                                 \
        uint64_t v_;                                                                                                   \
        __asm__ volatile("csrr %0, " #csr : "=r"(v_));                                                                 \
        v_;                                                                                                            \
    })
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_set(csr, bits) __asm__ volatile("csrs " #csr ", %0" ::"rK"((uint64_t)(bits)) : "memory")
#define csr_clear(csr, bits) __asm__ volatile("csrc " #csr ", %0" ::"rK"((uint64_t)(bits)) : "memory")

/* scounteren.TM: U-mode may read the time CSR. */
#define RV_SCOUNTEREN_TM (1ull << 1)
/* The rate of the time CSR, from the device tree's /cpus timebase-frequency
 * (arch/riscv64/boot.c; 0 if the tree has none). */
extern uint64_t rv_timebase_hz;
#endif

/* sstatus */
#define SSTATUS_SIE (RV_U64(1) << 1)
#define SSTATUS_SPIE (RV_U64(1) << 5)
#define SSTATUS_SPP (RV_U64(1) << 8) /* previous mode was supervisor */
#define SSTATUS_SUM (RV_U64(1) << 18) /* supervisor may access user pages */
#define SSTATUS_MXR (RV_U64(1) << 19)

/* satp: MODE in bits 63:60, ASID 59:44, root PPN 43:0 */
#define SATP_MODE_SHIFT 60
#define SATP_MODE_BARE RV_U64(0)
#define SATP_MODE_SV39 RV_U64(8)
#define SATP_MODE_SV48 RV_U64(9)
#define SATP_MODE_SV57 RV_U64(10)
#define SATP_PPN_MASK ((RV_U64(1) << 44) - 1)

/* scause: interrupt bit 63, else the exception code */
#define SCAUSE_INTERRUPT (RV_U64(1) << 63)
#define IRQ_S_TIMER 5
#define EXC_INSN_MISALIGNED 0
#define EXC_INSN_ACCESS 1
#define EXC_ILLEGAL_INSN 2
#define EXC_BREAKPOINT 3
#define EXC_LOAD_MISALIGNED 4
#define EXC_LOAD_ACCESS 5
#define EXC_STORE_MISALIGNED 6
#define EXC_STORE_ACCESS 7
#define EXC_ECALL_U 8
#define EXC_ECALL_S 9
#define EXC_INSN_PAGE_FAULT 12
#define EXC_LOAD_PAGE_FAULT 13
#define EXC_STORE_PAGE_FAULT 15

/* The kernel address space (see docs/porting.md). The image is linked at
 * RV_KERNEL_VIRT + (load address - RV_KERNEL_PHYS_BASE): the gigabyte at
 * 0xffffffff80000000 shows the gigabyte of RAM at 0x80000000. All RAM is
 * also visible at RV_DIRECT_MAP_BASE + physical address. */
#define RV_KERNEL_VIRT RV_U64(0xffffffff80000000)
#define RV_KERNEL_PHYS_BASE RV_U64(0x80000000)
#define RV_KERNEL_OFFSET (RV_KERNEL_VIRT - RV_KERNEL_PHYS_BASE) /* virtual - physical in the image */
#define RV_DIRECT_MAP_BASE RV_U64(0xffffffc000000000)
#define RV_DIRECT_MAP_LIMIT RV_U64(0xffffffff80000000) /* 254 GiB of physical addresses */

/* QEMU virt's sifive_test device: 0x5555 powers off with status 0,
 * 0x3333 | code << 16 with status `code`. */
#define RV_SIFIVE_TEST_PHYS RV_U64(0x100000)
#define RV_SIFIVE_TEST_PASS 0x5555u
#define RV_SIFIVE_TEST_FAIL 0x3333u

/* OpenSBI's own memory on QEMU virt when the device tree does not say. */
#define RV_OPENSBI_DEFAULT_BASE RV_U64(0x80000000)
#define RV_OPENSBI_DEFAULT_SIZE RV_U64(0x80000)

#ifndef __ASSEMBLER__
/* The satp MODE hal_mmu_activate uses (hal/riscv64/mmu.c): set once at boot
 * by the early paging code, read by the boot tests. */
void rv_mmu_set_mode(uint64_t satp_mode);
uint64_t rv_mmu_mode(void);

static inline void rv_sfence_all(void) { __asm__ volatile("sfence.vma x0, x0" ::: "memory"); }
static inline void rv_sfence_page(uintptr_t va) { __asm__ volatile("sfence.vma %0, x0" ::"r"(va) : "memory"); }
#endif
