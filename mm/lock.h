/* mm/lock.h - a spinlock on C11 atomics that records its owner, so that
 * *_locked functions can assert the caller holds it (works on the host with
 * threads and in the kernel). Not recursive. Interrupts are masked through
 * the platform's mm_irq_save / mm_irq_restore (mm/platform.h) from before
 * the first attempt until after the release; locks are released in the
 * reverse order of taking them. */
#pragma once

#include <stdatomic.h>

#include "mm/platform.h"

typedef struct spinlock {
    _Atomic uintptr_t owner; /* 0: free, else mm_lock_owner_token() of the holder */
    mm_irq_state_t irq;      /* the holder's mm_irq_save() result, restored at release */
} spinlock_t;

#define SPINLOCK_INIT { 0, 0 }

static inline void spinlock_acquire(spinlock_t *l)
{
    mm_irq_state_t irq = mm_irq_save();
    uintptr_t me = mm_lock_owner_token();
    MM_ASSERT(atomic_load_explicit(&l->owner, memory_order_relaxed) != me, "lock %p already held by this thread", (void *)l);
    for (;;) {
        uintptr_t expected = 0;
        if (atomic_compare_exchange_weak_explicit(&l->owner, &expected, me, memory_order_acquire, memory_order_relaxed)) {
            l->irq = irq;
            return;
        }
        while (atomic_load_explicit(&l->owner, memory_order_relaxed) != 0)
            mm_spin_wait();
    }
}

static inline void spinlock_release(spinlock_t *l)
{
    MM_ASSERT(atomic_load_explicit(&l->owner, memory_order_relaxed) == mm_lock_owner_token(), "releasing lock %p not held by this thread", (void *)l);
    mm_irq_state_t irq = l->irq;
    atomic_store_explicit(&l->owner, 0, memory_order_release);
    mm_irq_restore(irq);
}

/* True if the calling thread holds the lock. */
static inline bool spinlock_is_locked(spinlock_t *l)
{
    return atomic_load_explicit(&l->owner, memory_order_relaxed) == mm_lock_owner_token();
}
