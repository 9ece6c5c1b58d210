/* kernel/kstack.h - kernel stacks for processes: KSTACK_PAGES pages mapped
 * in their own window of the kernel half, each stack above an unmapped
 * guard page, so that an overflow faults instead of overwriting whatever
 * lies below. Any CPU may make or free one at any time (the slot bitmap
 * has its own leaf lock; the kernel context's lock covers the mapping). */
#pragma once

#include "mm/mm.h"

#define KSTACK_PAGES 4 /* 16 KiB */
#define KSTACK_SIZE (KSTACK_PAGES * PAGE_SIZE)
#define KSTACK_SLOTS 8192 /* stacks that can exist at once */
/* A slot is 32 KiB: 16 KiB unmapped (the guard), then the stack at its top
 * half. Powers of two, so that a trap entry can tell with shifts alone
 * whether a stack pointer has run into a guard (riscv64 trap_entry.S). */
#define KSTACK_SLOT_SHIFT 15
#define KSTACK_GUARD_SIZE ((ptr_t)1 << (KSTACK_SLOT_SHIFT - 1))

/* Start of the window of slots (set when the first stack is made; 0 before). */
extern ptr_t kstack_window_base;

typedef struct kstack {
    ptr_t base;                  /* lowest mapped address; the guard page is below */
    pfn_t frames[KSTACK_PAGES];
} kstack_t;

/* Allocates frames and a slot and maps the stack. 0, or -ENOMEM with
 * nothing kept (no slot left, no frame, no page-table page). */
int kstack_alloc(kstack_t *ks);
/* Unmaps the stack (TLB invalidated) and frees its frames and slot. Must
 * not be the stack in use. */
void kstack_free(kstack_t *ks);
static inline ptr_t kstack_top(const kstack_t *ks) { return ks->base + KSTACK_SIZE; }
/* True if addr lies in the guard page of a stack slot (for crash reports). */
bool kstack_guard_hit(ptr_t addr);
