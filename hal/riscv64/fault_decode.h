/* hal/riscv64/fault_decode.h - scause/stval/sepc/sstatus of a page fault
 * into the generic record (pure: host-tested in tests/unit/test_rv_fault.c). */
#pragma once

#include "hal/hal.h"
#include "riscv.h"

/* True for the three page-fault causes (instruction 12, load 13, store/AMO 15). */
static inline bool rv_is_page_fault(uint64_t scause)
{
    return scause == EXC_INSN_PAGE_FAULT || scause == EXC_LOAD_PAGE_FAULT || scause == EXC_STORE_PAGE_FAULT;
}

/* The generic record of a page fault. RISC-V does not say whether a
 * translation existed, so present is -1; sstatus.SPP tells the mode the
 * access came from (set: supervisor), and sstatus.SUM whether a supervisor
 * access had user pages open (a copy helper). */
static inline hal_fault_t rv_decode_page_fault(uint64_t scause, uint64_t stval, uint64_t sepc, uint64_t sstatus)
{
    hal_fault_t f = {
        .addr = stval,
        .ip = sepc,
        .access = scause == EXC_INSN_PAGE_FAULT    ? HAL_ACCESS_EXEC
                  : scause == EXC_STORE_PAGE_FAULT ? HAL_ACCESS_WRITE
                                                   : HAL_ACCESS_READ,
        .user_mode = !(sstatus & SSTATUS_SPP),
        .present = -1,
        .user_access = (sstatus & SSTATUS_SPP) && (sstatus & SSTATUS_SUM),
    };
    return f;
}

/* The sstatus a trap returns with. A kernel-mode trap (SPP set) that resumes
 * at another sepc than it was taken at resumes at an exception-table fixup,
 * and every fixup ends user access, so SUM is dropped there. (Under QEMU
 * before 8.1 each change of SUM flushes the whole soft TLB; restoring SUM
 * at sret for the fixup to clear it again cost two flushes per refused
 * access.) Every other trap gets its sstatus back as saved. */
static inline uint64_t rv_sstatus_on_return(uint64_t sstatus, uint64_t sepc_taken, uint64_t sepc_resume)
{
    if ((sstatus & SSTATUS_SPP) && sepc_resume != sepc_taken)
        return sstatus & ~SSTATUS_SUM;
    return sstatus;
}
