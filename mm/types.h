/* mm/types.h - the vocabulary shared by the generic layer and the HAL: the
 * public one of mm/kmm.h plus kmm's internal names (PAGE_SIZE, errno
 * values, ERR_PTR, MIN/MAX ...), which an embedding kernel never includes.
 *
 * Names follow MOS's paging module (ptr_t, pfn_t, vm_flags, vmap_type_t,
 * vmap_content_t) so code written against it ports unchanged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/kmm.h" /* the public vocabulary: ptr_t, pfn_t, vm_flags ... */

#define PAGE_SHIFT KMM_PAGE_SHIFT
#define PAGE_SIZE ((ptr_t)1 << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SIZE - 1)

#define VM_ALL_FLAGS (VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_WRITE_THROUGH | VM_CACHE_DISABLED | VM_GLOBAL)

/* Error numbers (Linux values), returned negated: 0 or -errno. */
#define EPERM 1
#define ENOENT 2
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOMEM 12
#define ERANGE 34
#define ENOTSUP 95
#define EOVERFLOW 75
_Static_assert(EPERM == KMM_EPERM && ENOENT == KMM_ENOENT && EFAULT == KMM_EFAULT && EBUSY == KMM_EBUSY &&
                   EEXIST == KMM_EEXIST && EINVAL == KMM_EINVAL && ENOMEM == KMM_ENOMEM && ERANGE == KMM_ERANGE &&
                   ENOTSUP == KMM_ENOTSUP && EOVERFLOW == KMM_EOVERFLOW,
               "mm/kmm.h's error numbers are kmm's");

/* Pointers that carry an error: ERR_PTR(-ENOMEM), IS_ERR(p), PTR_ERR(p). */
#define MAX_ERRNO 4095
static inline void *ERR_PTR(long err) { return (void *)(uintptr_t)err; }
static inline long PTR_ERR(const void *p) { return (long)(intptr_t)p; }
static inline bool IS_ERR(const void *p) { return (uintptr_t)p >= (uintptr_t)-MAX_ERRNO; }
static inline bool IS_ERR_OR_NULL(const void *p) { return !p || IS_ERR(p); }

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
